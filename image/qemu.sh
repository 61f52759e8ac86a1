#!/usr/bin/env bash
# Boots an image's own kernel and initramfs under qemu-system-aarch64 -M virt
# (TCG), with the image itself as the disk so the data partition (and
# /data/ata.toml on it) is used as on a card. QEMU has no Pi firmware: this
# script chooses the slot as the firmware would, from the card's
# autoboot.txt ([all] boot_partition, or [tryboot] boot_partition when
# QEMU_TRYBOOT=1, the flag `reboot "0 tryboot"` leaves for one boot), and
# tells the system which with ata.boot_partition=N (on the Pi the firmware
# says so in the device tree).
#
#   image/qemu.sh out/ata-rpi3.img
# Environment:
#   QEMU_DISK       the writable copy of the image (default out/qemu-disk.img; made fresh each run)
#   QEMU_DISK_SIZE  its size, larger than the image to exercise first-boot growth (default 256M)
#   QEMU_DISK_REUSE =1: boot IMAGE itself, kept from an earlier boot (a reboot), no copy
#   QEMU_TRYBOOT    =1: start autoboot.txt's [tryboot] slot (one boot after reboot "0 tryboot")
#   WEB_PORT        host port forwarded to the guest's web UI on port 80 (default 18080)
#   SIM_PORT        host port forwarded to the sim board's API (loopback-only in the
#                   guest; reached through the ata.relay test hook on guest port 8082) (default 18081)
#   SIP_PORT        host UDP port forwarded to the guest's SIP port 5060 (default 15060)
#   QEMU_APPEND     extra kernel command line
#   QEMU_HOSTFWD    extra forwards, QEMU's syntax: ",hostfwd=tcp:127.0.0.1:18083-:8083"
# Quit with Ctrl-A X.
. "$(dirname "$0")/lib.sh"
need_tools qemu-system-aarch64:qemu-system-arm mcopy:mtools sfdisk:fdisk

IMG=${1:-}
[ -f "$IMG" ] || die "usage: image/qemu.sh IMAGE (build one with make image)"
DISK=${QEMU_DISK:-$OUT_DIR/qemu-disk.img}
WEB_PORT=${WEB_PORT:-18080}
SIM_PORT=${SIM_PORT:-18081}
SIP_PORT=${SIP_PORT:-15060}
BOOTDIR=$(mktemp -d)
trap 'rm -rf "$BOOTDIR"' EXIT

# part_start N: partition N's first sector.
part_start() { sfdisk -d "$IMG" | awk -F'[=,]' -v p="$1" '$1 ~ ("[^0-9]" p " *:") { gsub(/ /, "", $2); print $2 }'; }
start=$(part_start 1)
[ -n "$start" ] || die "$IMG: no partition 1"
section=all
[ "${QEMU_TRYBOOT:-}" = 1 ] && section=tryboot
slot=$(mtype -i "$IMG@@$((start * 512))" ::autoboot.txt | tr -d '\r' |
	awk -v want="$section" '/^\[/ { s = substr($0, 2, length($0) - 2) } s == want && /^boot_partition=/ { sub(/.*=/, ""); print; exit }')
[ -n "$slot" ] || die "$IMG: autoboot.txt has no [$section] boot_partition"
sstart=$(part_start "$slot")
[ -n "$sstart" ] || die "$IMG: autoboot.txt names partition $slot, which does not exist"
mcopy -n -i "$IMG@@$((sstart * 512))" ::Image ::initramfs ::cmdline.txt "$BOOTDIR/" ||
	die "$IMG: partition $slot ([$section] in autoboot.txt) holds no Image, initramfs and cmdline.txt"
if [ "${QEMU_DISK_REUSE:-}" = 1 ]; then
	DISK=$IMG
else
	cp --sparse=always "$IMG" "$DISK"
	truncate -s "${QEMU_DISK_SIZE:-256M}" "$DISK"
fi

# The board's kernel arguments (boot-time settings included), with QEMU's console.
args=$(tr ' ' '\n' <"$BOOTDIR/cmdline.txt" | grep -v '^console=' | tr '\n' ' ')

say "qemu: slot p$slot ([$section] in autoboot.txt)"
say "qemu: web UI http://127.0.0.1:$WEB_PORT  sim API http://127.0.0.1:$SIM_PORT  SIP udp 127.0.0.1:$SIP_PORT  (quit: Ctrl-A X)"
# Not exec: the trap removes the extracted kernel when QEMU exits.
qemu-system-aarch64 -M virt -cpu cortex-a53 -smp 2 -m 256 -nographic -no-reboot \
	-kernel "$BOOTDIR/Image" -initrd "$BOOTDIR/initramfs" \
	-append "console=ttyAMA0 $args ata.boot_partition=$slot ata.relay=8082:127.0.0.1:8081 ${QEMU_APPEND:-}" \
	-drive "file=$DISK,format=raw,if=none,id=d0" -device virtio-blk-device,drive=d0 \
	-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$WEB_PORT-:80,hostfwd=tcp:127.0.0.1:$SIM_PORT-:8082,hostfwd=udp:127.0.0.1:$SIP_PORT-:5060${QEMU_HOSTFWD:-}" \
	-device virtio-net-device,netdev=n0 &
qpid=$!
trap 'kill $qpid 2>/dev/null; wait $qpid; rm -rf "$BOOTDIR"' EXIT INT TERM
wait $qpid
