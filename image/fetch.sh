#!/usr/bin/env bash
# Downloads the Debian packages pinned in image/debian.lock into the cache
# (out/cache), checks each one's SHA-256 and unpacks it with dpkg -x.
# Nothing is installed on the host. A file already cached and verified is
# not fetched again, so a second run works offline.
#
#   image/fetch.sh            # every package in the lock file
# Environment: DEBIAN_MIRROR (default http://deb.debian.org), CACHE_DIR.
. "$(dirname "$0")/lib.sh"
need_tools curl:curl sha256sum:coreutils dpkg-deb:dpkg

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org}
SNAPSHOT=$(awk '$1 == "#" && $2 == "snapshot:" { print $3 }' "$LOCK_FILE")
mkdir -p "$CACHE_DIR/unpacked"

verify() { # file sha256 -> 0 when it matches
	[ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

while read -r pkg version sha size archive pool; do
	case "$pkg" in '' | \#*) continue ;; esac
	file="$CACHE_DIR/$(basename "$pool")"
	if verify "$file" "$sha"; then
		say "cached   $pkg $version ($(human "$size"))"
	else
		say "download $pkg $version ($(human "$size")) from $MIRROR/$archive/$pool"
		rm -f "$file.part"
		if ! curl -fsSL --retry 3 -o "$file.part" "$MIRROR/$archive/$pool"; then
			# The mirror drops superseded versions at each point release;
			# snapshot.debian.org keeps them forever.
			[ -n "$SNAPSHOT" ] || die "download failed: $MIRROR/$archive/$pool"
			url="https://snapshot.debian.org/archive/$archive/$SNAPSHOT/$pool"
			say "         not on the mirror; trying $url"
			curl -fsSL --retry 3 -o "$file.part" "$url" || die "download failed: $pool (mirror and snapshot)"
		fi
		got=$(sha256sum "$file.part" | cut -d' ' -f1)
		if [ "$got" != "$sha" ]; then
			rm -f "$file.part"
			die "SHA-256 mismatch for $(basename "$file"): lock file says $sha, download is $got (stopping; check $LOCK_FILE or the mirror)"
		fi
		mv "$file.part" "$file"
	fi
	dest="$CACHE_DIR/unpacked/${pkg}_$version"
	if [ ! -f "$dest/.unpacked" ]; then
		say "unpack   $(basename "$file")"
		rm -rf "$dest"
		mkdir -p "$dest"
		dpkg-deb -x "$file" "$dest"
		touch "$dest/.unpacked"
	fi
done <"$LOCK_FILE"
