#!/usr/bin/env bash
# Writes an image to an SD card, refusing anything that is not a whole,
# removable, unmounted disk (a typo in DEV must not overwrite a system disk).
#
#   image/flash.sh out/ata-rpi3.img /dev/sdX      # make flash BOARD=rpi3 DEV=/dev/sdX
. "$(dirname "$0")/lib.sh"
need_tools lsblk:util-linux dd:coreutils

IMG=${1:-}
DEV=${2:-}
[ -f "$IMG" ] || die "no image '$IMG': run make image BOARD=... first"
[ -n "$DEV" ] || die "usage: make flash BOARD=rpi3 DEV=/dev/sdX (removable disks: $(lsblk -dno NAME,RM,SIZE | awk '$2 == 1 { printf "/dev/%s (%s) ", $1, $3 }'))"
[ -b "$DEV" ] || die "$DEV is not a block device"
name=$(basename "$(readlink -f "$DEV")")
[ "$(lsblk -dno TYPE "$DEV")" = disk ] || die "$DEV is not a whole disk (give /dev/sdX, not a partition)"
[ "$(cat "/sys/block/$name/removable" 2>/dev/null)" = 1 ] ||
	[ "$(lsblk -dno HOTPLUG "$DEV" 2>/dev/null | tr -d ' ')" = 1 ] ||
	die "$DEV is not removable: refusing to overwrite it"
if lsblk -no MOUNTPOINT "$DEV" | grep -q .; then
	die "$DEV has mounted partitions ($(lsblk -no MOUNTPOINT "$DEV" | grep . | tr '\n' ' ')): unmount them first"
fi
size=$(stat -c %s "$IMG")
devsize=$(lsblk -bdno SIZE "$DEV")
[ "$devsize" -ge "$size" ] || die "$DEV ($(human "$devsize")) is smaller than $IMG ($(human "$size"))"
say "writing $IMG ($(human "$size")) to $DEV ($(lsblk -dno MODEL,SIZE "$DEV" | xargs))"
dd if="$IMG" of="$DEV" bs=4M conv=fsync status=progress
sync
say "done: the data partition grows to fill the card on first boot"
