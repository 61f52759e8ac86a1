#!/usr/bin/env bash
# Buildroot post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT), argument: the
# board. Stages the partitions exactly as image/build.sh does and runs the
# shared image/board/genimage.cfg: output $BINARIES_DIR/ata-BOARD.img.
set -euo pipefail
BOARD=$2
IMAGE_DIR=$BR2_EXTERNAL_ATA_PATH/../image
STAGE=$BUILD_DIR/ata-stage
rm -rf "$STAGE" && mkdir -p "$STAGE"/{boot,root-a,data}
cp "$BINARIES_DIR/Image" "$STAGE/boot/Image"
cp "$BINARIES_DIR/rootfs.cpio.gz" "$STAGE/boot/initramfs"
cp "$IMAGE_DIR/board/$BOARD/config.txt" "$IMAGE_DIR/board/$BOARD/cmdline.txt" "$STAGE/boot/"
while read -r f; do cp "$BINARIES_DIR/rpi-firmware/$f" "$STAGE/boot/"; done <"$IMAGE_DIR/board/$BOARD/firmware"
while read -r f; do cp "$BINARIES_DIR/$f" "$STAGE/boot/"; done <"$IMAGE_DIR/board/$BOARD/dtbs"
cp "$STAGE/boot/initramfs" "$STAGE/root-a/"
cp "$IMAGE_DIR/board/common/ata.toml" "$STAGE/data/ata.toml"
rm -rf "$BUILD_DIR/genimage.tmp"
genimage --rootpath "$STAGE" --tmppath "$BUILD_DIR/genimage.tmp" --inputpath "$BINARIES_DIR" \
	--outputpath "$BINARIES_DIR" --config "$IMAGE_DIR/board/genimage.cfg"
mv "$BINARIES_DIR/ata.img" "$BINARIES_DIR/ata-$BOARD.img"
echo "ata: $BINARIES_DIR/ata-$BOARD.img"
