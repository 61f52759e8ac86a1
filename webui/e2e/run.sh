#!/usr/bin/env bash
# Browser tests of the web UI: headless Chromium driven by playwright-core
# against webui-demo (the web UI on a fake backend). Screenshots of every
# page go to $SCREENSHOT_DIR (default: webui/e2e/out/screenshots).
#
#   webui/e2e/run.sh            # from anywhere
#   SCREENSHOT_DIR=out/screenshots webui/e2e/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
	echo "install chromium: apt-get install -y --no-install-recommends chromium" >&2
	exit 1
fi
command -v npm >/dev/null || { echo "install Node.js 20 and npm" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/webui-demo" ./webui/cmd/webui-demo)
export WEBUI_DEMO="$tmp/webui-demo"
export SCREENSHOT_DIR="$(mkdir -p "${SCREENSHOT_DIR:-$here/out/screenshots}" && cd "${SCREENSHOT_DIR:-$here/out/screenshots}" && pwd)"

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
node --test --test-concurrency=1 tests/
echo "screenshots: $SCREENSHOT_DIR"
