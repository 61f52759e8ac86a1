#!/usr/bin/env bash
# Regenerates image/debian.lock from Debian bookworm's current arm64 archive:
# the kernel that linux-image-arm64 points to, raspi-firmware,
# busybox-static and ca-certificates, each with version, SHA-256, size and pool path. Uses a
# private apt state directory: the host's apt setup is not touched.
#
#   image/lock.sh             # then review `git diff image/debian.lock`
. "$(dirname "$0")/lib.sh"
need_tools apt-get:apt apt-cache:apt

SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org}
work="$CACHE_DIR/apt"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR/debian $SUITE main non-free-firmware" >"$work/sources.list"
apt_opts=(-o APT::Architecture=arm64 -o APT::Architectures=arm64
	-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
	-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null)
say "apt-get update ($SUITE arm64, private lists in $work)"
apt-get "${apt_opts[@]}" -qq update

kernel=$(apt-cache "${apt_opts[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-/ { print $2; exit }')
[ -n "$kernel" ] || die "linux-image-arm64 has no linux-image-* dependency"

tmp=$(mktemp)
{
	echo "# Debian packages the offline image build (image/build.sh) uses, pinned."
	echo "# Regenerate with image/lock.sh. Columns: package version sha256 size archive pool-path."
	echo "# snapshot: $(date -u +%Y%m%dT%H%M%SZ)"
	for pkg in "$kernel" raspi-firmware busybox-static ca-certificates; do
		apt-cache "${apt_opts[@]}" show "$pkg" | awk -v p="$pkg" '
			/^Version:/ { v = $2 } /^SHA256:/ { s = $2 } /^Size:/ { z = $2 } /^Filename:/ { f = $2 }
			/^$/ { if (v != "") { print p, v, s, z, "debian", f; exit } }
	done
} >"$tmp"
[ "$(grep -vc '^#' "$tmp")" -eq 4 ] || { cat "$tmp"; die "could not resolve all four packages"; }
mv "$tmp" "$LOCK_FILE"
say "wrote $LOCK_FILE:"
cat "$LOCK_FILE"
