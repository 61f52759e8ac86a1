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
