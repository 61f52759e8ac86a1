#!/usr/bin/env bash
# Installs, through apt-get, the Debian packages the tests use as independent
# peers and signal tools. Already-installed packages are left alone, so a
# second run costs nothing.
set -euo pipefail

# command -> Debian package
declare -A need=(
	[sox]=sox
	[multimon-ng]=multimon-ng
	[minimodem]=minimodem
	[espeak-ng]=espeak-ng
	[kamailio]=kamailio
	[sipp]=sip-tester
	[baresip]=baresip-core
	[tshark]=tshark
	[dumpcap]=wireshark-common
	[rtpengine]=rtpengine-daemon
	[chromium]=chromium
	[genimage]=genimage
	[mdir]=mtools
	[mkfs.vfat]=dosfstools
	[debugfs]=e2fsprogs
	[sfdisk]=fdisk
	[cpio]=cpio
	[depmod]=kmod
	[curl]=curl
	[lz4]=lz4
	[qemu-system-aarch64]=qemu-system-arm
	[npm]=npm
	[busybox]=busybox-static
)
missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
# Libraries (no command to look for): the echo canceller's benchmark builds a
# small C program against speexdsp's echo canceller to compare with.
[ -f /usr/include/speex/speex_echo.h ] || missing+=(libspeexdsp-dev)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
# Kamailio's TLS module (the SIP over TLS tests' provider).
compgen -G '/usr/lib/*/kamailio/modules/tls.so' >/dev/null || [ -f /usr/lib/kamailio/modules/tls.so ] || missing+=(kamailio-tls-modules)
if [ "${#missing[@]}" -eq 0 ]; then
	echo "test dependencies: all present"
	exit 0
fi
echo "test dependencies: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
