#!/usr/bin/env bash
# Assembles out/ata-BOARD.img from the static ata binary and Debian's arm64
# kernel, Raspberry Pi firmware and busybox (pinned in image/debian.lock).
# Needs no internet beyond Debian's archive, and none once out/cache is filled.
#
#   image/build.sh BOARD      # make image BOARD=rpi3 builds the binaries first
# Environment: VERSION, SOURCE_DATE_EPOCH, ATA_BIN, ATA_SYS_BIN, OUT_DIR, CACHE_DIR.
. "$(dirname "$0")/lib.sh"

BOARD=${1:-}
check_board "$BOARD"
ATA_BIN=${ATA_BIN:-$OUT_DIR/ata-linux-arm64}
ATA_SYS_BIN=${ATA_SYS_BIN:-$OUT_DIR/ata-sys-linux-arm64}
WORK="$OUT_DIR/image-$BOARD"
IMG="$OUT_DIR/ata-$BOARD.img"
BOARD_DIR="$IMAGE_DIR/board/$BOARD"
COMMON_DIR="$IMAGE_DIR/board/common"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO_DIR" log -1 --format=%ct 2>/dev/null || echo 0)}
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
# VERSION: what the firmware reports and the update bundle's manifest says
# (make passes its own, which is also linked into ata); SOURCE_DATE_EPOCH
# orders versions (a bundle built earlier than the running system is older).
VERSION=${VERSION:-$(git -C "$REPO_DIR" describe --always --dirty 2>/dev/null || echo dev)}

step 1/6 "host tools, board $BOARD"
need_tools genimage:genimage mcopy:mtools mkfs.vfat:dosfstools mkfs.ext4:e2fsprogs \
	cpio:cpio depmod:kmod dpkg-deb:dpkg curl:curl lz4:lz4 numfmt:coreutils
for f in "$ATA_BIN" "$ATA_SYS_BIN"; do
	[ -x "$f" ] || die "$f missing: run 'make cross' first (make image does)"
done
say "ata $(human "$(stat -c %s "$ATA_BIN")"), ata-sys $(human "$(stat -c %s "$ATA_SYS_BIN")")"

step 2/6 "Debian packages ($LOCK_FILE)"
"$IMAGE_DIR/fetch.sh"
KPKG=$(kernel_package)
KVER=${KPKG#linux-image-}
KDIR=$(unpacked_dir "$KPKG")
FWDIR=$(unpacked_dir raspi-firmware)/usr/lib/raspi-firmware
BBDIR=$(unpacked_dir busybox-static)
say "kernel $KVER"

step 3/6 "initramfs: busybox, kernel modules, ata"
rm -rf "$WORK"
RD="$WORK/initramfs"
mkdir -p "$RD"/{bin,sbin,usr/bin,usr/sbin,etc/ata,lib/modules,proc,sys,dev,run,tmp,data,root}
cp -a "$COMMON_DIR/overlay/." "$RD/"
install -m 0755 "$BBDIR/bin/busybox" "$RD/bin/busybox"
# Applet links made here, not by `busybox --install -s` at every boot. The
# arm64 binary lists its applets here only through qemu-user; without it,
# the list kept in board/common/busybox-applets (same busybox version).
APPLETS=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$COMMON_DIR/busybox-applets")
if command -v qemu-aarch64-static >/dev/null &&
	listed=$(qemu-aarch64-static "$BBDIR/bin/busybox" --list-full | grep -vx linuxrc | LC_ALL=C sort) &&
	[ -n "$listed" ]; then
	[ "$listed" = "$APPLETS" ] || say "warning: busybox applets differ from board/common/busybox-applets: update it"
	APPLETS=$listed
fi
for a in $APPLETS; do
	[ -e "$RD/$a" ] || [ -L "$RD/$a" ] || ln -s /bin/busybox "$RD/$a"
done
say "busybox: $(echo "$APPLETS" | wc -l) applet links"
install -m 0755 "$ATA_BIN" "$RD/usr/bin/ata"
install -m 0755 "$ATA_SYS_BIN" "$RD/usr/sbin/ata-sys"
echo "$BOARD" >"$RD/etc/ata/board"
echo "$VERSION" >"$RD/etc/ata/version"
# The CA bundle TLS lines and HTTPS provisioning verify against (Go reads
# /etc/ssl/certs/ca-certificates.crt): Debian's Mozilla roots, concatenated
# as update-ca-certificates would.
CADIR=$(unpacked_dir ca-certificates)/usr/share/ca-certificates/mozilla
mkdir -p "$RD/etc/ssl/certs"
cat "$CADIR"/*.crt >"$RD/etc/ssl/certs/ca-certificates.crt"
ncerts=$(grep -c 'BEGIN CERTIFICATE' "$RD/etc/ssl/certs/ca-certificates.crt")
[ "$ncerts" -ge 100 ] || die "CA bundle: only $ncerts certificates in $CADIR"
say "CA bundle: $ncerts certificates (ca-certificates $(lock_field ca-certificates 2))"
modlist() { cat "$@" | sed -e 's/#.*//' -e '/^[[:space:]]*$/d'; }
modlist "$COMMON_DIR/modules" >"$RD/etc/ata/modules"
modlist "$COMMON_DIR/modules-rpi" "$BOARD_DIR/modules" >"$RD/etc/ata/modules.board"

# Modules: the listed ones and what modules.dep says they need, nothing else.
[ -f "$KDIR/lib/modules/$KVER/modules.dep" ] || depmod -b "$KDIR" "$KVER"
say "$("$IMAGE_DIR/select-modules.sh" "$KDIR/lib/modules/$KVER" "$RD/lib/modules/$KVER" "$RD"/etc/ata/modules*) for $(cat "$RD"/etc/ata/modules* | wc -l) listed modules"

find "$RD" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
# lz4 (legacy frame, the one the kernel's CONFIG_RD_LZ4 reads): a third larger
# than gzip -9 but unpacked in a fraction of the time (QEMU TCG: 0.2 s, not 1.3 s).
(cd "$RD" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | lz4 -l -12 -q >"$WORK/initramfs.lz4"
say "initramfs (lz4) $(human "$(stat -c %s "$WORK/initramfs.lz4")") ($(du -sh --apparent-size "$RD" | cut -f1) unpacked)"

step 4/6 "partition contents (boot, slot A, data)"
STAGE="$WORK/stage"
stage_card "$STAGE" "$BOARD" "$KDIR/boot/vmlinuz-$KVER" "$WORK/initramfs.lz4" "$FWDIR" \
	"$KDIR/usr/lib/linux-image-$KVER/broadcom" "$VERSION" "$SOURCE_DATE_EPOCH"
cat >"$STAGE/data/README" <<'DATA'
This is the ATA's data partition (ext4, label ata-data), mounted at /data.
  ata.toml       the firmware's configuration (absent: the embedded default)
  network.conf   mode=dhcp|static, address=IP/PREFIX, gateway=, dns=, ntp=, iface=
  data/          the call log (calls.jsonl)
  update/        firmware update state: pending.json (an update on its trial boot), result.json
DATA
for f in "$STAGE"/slot/*; do say "  slot/$(basename "$f")  $(human "$(stat -c %s "$f")")"; done
say "  boot/: $(cd "$STAGE/boot" && echo *)"
find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

step 5/6 "genimage ($IMAGE_DIR/board/genimage.cfg)"
rm -rf "$WORK/genimage-tmp" "$WORK/images"
mkdir -p "$WORK/images"
genimage --rootpath "$STAGE" --tmppath "$WORK/genimage-tmp" --inputpath "$WORK/images" \
	--outputpath "$WORK/images" --config "$IMAGE_DIR/board/genimage.cfg" >"$WORK/genimage.log" 2>&1 ||
	{ cat "$WORK/genimage.log" >&2; die "genimage failed"; }
mv "$WORK/images/ata.img" "$IMG"

step 6/6 "done"
say "$IMG  $(human "$(stat -c %s "$IMG")")"
sfdisk -l "$IMG" 2>/dev/null | sed -n '/^Device/,$p' | sed 's/^/image:   /' || true
