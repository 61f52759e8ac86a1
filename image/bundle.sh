#!/usr/bin/env bash
# Packs the slot image of the last `make image BOARD=...` (out/image-BOARD)
# into a signed update bundle: out/ata-BOARD-VERSION.update (see update/).
#
#   image/bundle.sh BOARD     # make update BOARD=rpi3 builds the image first
# Environment: KEYS (the key directory, default keys/), VERSION and
# SOURCE_DATE_EPOCH (as build.sh had them), OUT_DIR, ATA_BUNDLE (the
# ata-bundle tool; default: go run ./update/cmd/ata-bundle).
. "$(dirname "$0")/lib.sh"

BOARD=${1:-}
check_board "$BOARD"
KEYS=${KEYS:-$REPO_DIR/keys}
WORK="$OUT_DIR/image-$BOARD"
SLOT="$WORK/images/slot.vfat"
[ -f "$KEYS/update.key" ] || die "no update signing key $KEYS/update.key: make one with 'make keys' (once; keep keys/ safe and out of git: boxes built with its update.pub accept only what it signs)"
[ -f "$SLOT" ] || die "$SLOT missing: run 'make image BOARD=$BOARD' first (make update does)"
VERSION=$(cat "$WORK/initramfs/etc/ata/version")
BUILT=$(awk -F'[:,]' '/"built"/ { gsub(/ /, "", $2); print $2 }' "$WORK/stage/boot/slot-2.json")
OUT="$OUT_DIR/ata-$BOARD-$VERSION.update"
if [ -n "${ATA_BUNDLE:-}" ]; then
	bundle() { "$ATA_BUNDLE" "$@"; }
else
	bundle() { (cd "$REPO_DIR" && go run ./update/cmd/ata-bundle "$@"); }
fi
bundle build -key "$KEYS/update.key" -board "$BOARD" -version "$VERSION" -built "$BUILT" \
	-image "$SLOT" -files "$WORK/stage/slot" -o "$OUT"
say "$OUT  $(human "$(stat -c %s "$OUT")") (slot image $(human "$(stat -c %s "$SLOT")"))"
