#!/usr/bin/env bash
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT), argument: the
# board (rpi3, rpi4, rpi02w). Makes the target tree match the offline
# image's initramfs: the shared overlay is applied by BR2_ROOTFS_OVERLAY;
# this adds the board's module lists and keeps only those modules.
set -euo pipefail
TARGET=$1
BOARD=$2
IMAGE_DIR=$BR2_EXTERNAL_ATA_PATH/../image
COMMON=$IMAGE_DIR/board/common
mkdir -p "$TARGET/etc/ata"
echo "$BOARD" >"$TARGET/etc/ata/board"
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$COMMON/modules" >"$TARGET/etc/ata/modules"
cat "$COMMON/modules-rpi" "$IMAGE_DIR/board/$BOARD/modules" | sed -e 's/#.*//' -e '/^[[:space:]]*$/d' >"$TARGET/etc/ata/modules.board"
# Keep only the listed modules and their dependencies (as image/build.sh does).
for kdir in "$TARGET"/lib/modules/*; do
	[ -d "$kdir" ] || continue
	all="$BUILD_DIR/ata-modules-all/$(basename "$kdir")"
	rm -rf "$all" && mkdir -p "$(dirname "$all")" && mv "$kdir" "$all"
	PATH="$HOST_DIR/sbin:$HOST_DIR/bin:$PATH" "$IMAGE_DIR/select-modules.sh" "$all" "$kdir" \
		"$TARGET/etc/ata/modules" "$TARGET/etc/ata/modules.board"
done
