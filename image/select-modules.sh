#!/usr/bin/env bash
# Copies the kernel modules named in LIST files (one a line, # comments)
# and everything modules.dep says they need from SRC to DST, then runs
# depmod on DST. Used by image/build.sh and by Buildroot's post-build
# script, so both routes carry the same modules.
#
#   image/select-modules.sh SRC_MODULES_DIR DST_MODULES_DIR LIST...
#   (SRC_MODULES_DIR: .../lib/modules/KVER with a modules.dep)
set -euo pipefail
src=$1 dst=$2
shift 2
kver=$(basename "$src")
[ -f "$src/modules.dep" ] || { echo "select-modules: $src/modules.dep missing (run depmod)" >&2; exit 1; }
mkdir -p "$dst"
count=0
for m in $(cat "$@" | sed -e 's/#.*//'); do
	pat="/${m//[-_]/[-_]}\.ko(\.[gx]z|\.zst)?:"
	line=$(grep -E "$pat" "$src/modules.dep" || true)
	if [ -z "$line" ]; then
		# Built into this kernel: nothing to load.
		grep -qE "/${m//[-_]/[-_]}\.ko$" "$src/modules.builtin" 2>/dev/null && continue
		echo "select-modules: kernel module $m is not in $src" >&2
		exit 1
	fi
	for f in ${line/:/}; do
		[ -f "$dst/$f" ] && continue
		mkdir -p "$dst/$(dirname "$f")"
		cp "$src/$f" "$dst/$f"
		count=$((count + 1))
	done
done
cp "$src"/modules.{order,builtin,builtin.modinfo} "$dst/" 2>/dev/null || true
base=$(cd "$dst/../../.." && pwd)
PATH=$PATH:/usr/sbin:/sbin depmod -b "$base" "$kver"
echo "$count module files ($(du -sh "$dst" | cut -f1))"
