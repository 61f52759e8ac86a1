# Shared helpers for the image scripts (sourced, not run).
# Every message starts with "image:" so a failing step is easy to find in CI logs.

set -euo pipefail

IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$IMAGE_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$REPO_DIR/out}
CACHE_DIR=${CACHE_DIR:-$OUT_DIR/cache}
LOCK_FILE=${LOCK_FILE:-$IMAGE_DIR/debian.lock}

say() { printf 'image: %s\n' "$*"; }
die() { printf 'image: error: %s\n' "$*" >&2; exit 1; }

# step N/M title: progress that `make image` shows.
step() { printf '\nimage: [%s] %s\n' "$1" "$2"; }

# need_tools cmd:debian-package ...: stop naming the package to install.
need_tools() {
	local missing=() pair
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "${pair%%:*}" >/dev/null 2>&1 ||
			missing+=("${pair%%:*} (apt-get install ${pair#*:})")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		printf 'image: error: missing host tool: %s\n' "${missing[@]}" >&2
		exit 1
	fi
	export PATH=$PATH:/usr/sbin:/sbin
}

# boards: the names `make image BOARD=` accepts (directories with a config.txt).
boards() {
	local d
	for d in "$IMAGE_DIR"/board/*/config.txt; do basename "$(dirname "$d")"; done
}

check_board() {
	local b=$1
	if [ -z "$b" ] || [ ! -f "$IMAGE_DIR/board/$b/config.txt" ]; then
		die "unknown BOARD '${b}': choose one of: $(boards | tr '\n' ' ')"
	fi
}

human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

# lock_field PACKAGE COLUMN: a column of a package's line in the lock file
# (1 package, 2 version, 3 sha256, 4 size, 5 archive, 6 pool path).
lock_field() {
	awk -v p="$1" -v c="$2" '$1 == p { print $c; found = 1 } END { exit !found }' "$LOCK_FILE" ||
		die "$LOCK_FILE: no entry for $1"
}

# kernel_package: the linux-image-*-arm64 line of the lock file.
kernel_package() { awk '$1 ~ /^linux-image-.*-arm64$/ { print $1 }' "$LOCK_FILE"; }

# unpacked_dir PACKAGE: where fetch.sh unpacked it (dpkg -x, nothing installed).
unpacked_dir() { echo "$CACHE_DIR/unpacked/$1_$(lock_field "$1" 2)"; }

# stage_card STAGE BOARD KERNEL INITRAMFS FWDIR DTBDIR VERSION BUILT: the
# partitions' files as board/genimage.cfg takes them (shared with
# buildroot/board/post-image.sh): STAGE/slot is slot A, a complete Pi boot
# partition; STAGE/boot is p1: the firmware (the Pi 3's boot ROM reads
# bootcode.bin from p1 only), autoboot.txt choosing the slot, a config.txt
# (the Pi 3 firmware wants one there) and slot A's manifest; STAGE/data
# the data partition's files.
stage_card() {
	local stage=$1 board=$2 kernel=$3 initramfs=$4 fwdir=$5 dtbdir=$6 version=$7 built=$8
	local bd="$IMAGE_DIR/board/$board" f
	mkdir -p "$stage"/{boot,slot,data}
	cp "$kernel" "$stage/slot/Image"
	cp "$initramfs" "$stage/slot/initramfs"
	cp "$bd/config.txt" "$bd/cmdline.txt" "$stage/slot/"
	while read -r f; do cp "$fwdir/$f" "$stage/slot/"; done <"$bd/firmware"
	while read -r f; do cp "$dtbdir/$f" "$stage/slot/"; done <"$bd/dtbs"
	while read -r f; do cp "$fwdir/$f" "$stage/boot/"; done <"$bd/firmware"
	# The same text update.Autoboot.Format writes at each commit.
	cat >"$stage/boot/autoboot.txt" <<-'AUTOBOOT'
	# Slot selection, read by the Raspberry Pi firmware (written by the
	# firmware's updater: change it only to pick a slot by hand).
	# [all]: the committed slot; [tryboot]: the slot reboot "0 tryboot" starts once.
	[all]
	tryboot_a_b=1
	boot_partition=2
	[tryboot]
	boot_partition=3
	AUTOBOOT
	printf '%s\n' "# The firmware's settings are each slot's config.txt; autoboot.txt picks the slot." >"$stage/boot/config.txt"
	slot_manifest "$stage/slot" "$board" "$version" "$built" >"$stage/boot/slot-2.json"
	cp "$IMAGE_DIR/board/common/ata.toml" "$stage/data/ata.toml"
}

# slot_manifest DIR BOARD VERSION BUILT: the manifest (update.Manifest, without the
# image hash: the slot image is made after it) of the slot files in DIR.
slot_manifest() {
	local dir=$1 sep='' f
	printf '{\n  "format": 1,\n  "board": "%s",\n  "version": "%s",\n  "built": %s,\n  "files": [' "$2" "$3" "$4"
	for f in $(cd "$dir" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); do
		printf '%s\n    {"name": "%s", "size": %s, "sha256": "%s"}' "$sep" "$f" "$(stat -c %s "$dir/$f")" "$(sha256sum "$dir/$f" | cut -d' ' -f1)"
		sep=,
	done
	printf '\n  ]\n}\n'
}
