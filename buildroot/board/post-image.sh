#!/usr/bin/env bash
# Buildroot post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT), argument: the
# board. Stages the partitions exactly as image/build.sh does and runs the
# shared image/board/genimage.cfg: output $BINARIES_DIR/ata-BOARD.img.
set -euo pipefail
BOARD=$2
IMAGE_DIR=$BR2_EXTERNAL_ATA_PATH/../image
STAGE=$BUILD_DIR/ata-stage
. "$IMAGE_DIR/lib.sh" # stage_card: the same partition contents as image/build.sh
VERSION=${VERSION:-$(git -C "$IMAGE_DIR/.." describe --always --dirty 2>/dev/null || echo dev)}
rm -rf "$STAGE"
stage_card "$STAGE" "$BOARD" "$BINARIES_DIR/Image" "$BINARIES_DIR/rootfs.cpio.gz" "$BINARIES_DIR/rpi-firmware" \
	"$BINARIES_DIR" "$VERSION" "${SOURCE_DATE_EPOCH:-$(date +%s)}"
rm -rf "$BUILD_DIR/genimage.tmp"
genimage --rootpath "$STAGE" --tmppath "$BUILD_DIR/genimage.tmp" --inputpath "$BINARIES_DIR" \
	--outputpath "$BINARIES_DIR" --config "$IMAGE_DIR/board/genimage.cfg"
mv "$BINARIES_DIR/ata.img" "$BINARIES_DIR/ata-$BOARD.img"
echo "ata: $BINARIES_DIR/ata-$BOARD.img"
