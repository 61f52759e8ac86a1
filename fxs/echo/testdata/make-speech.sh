#!/bin/sh
# Regenerates the speech fixtures of the echo canceller's tests: 8 kHz
# G.711 mu-law, headerless (decoded by the tests). far.ul is the far end
# (what the earpiece plays), near.ul the person at the phone (double talk).
# Needs espeak-ng and sox.
set -eu
cd "$(dirname "$0")"
espeak-ng -v en-us -s 150 -w /tmp/far.wav "The quick brown fox jumps over the lazy dog. \
Please call me back when you get this message, my number is five five five, one two three four. \
We will meet at the station at half past seven, and bring the tickets with you."
espeak-ng -v en+f3 -s 160 -w /tmp/near.wav "Hello, can you hear me? I think the line is very noisy today. \
Let me call you again later."
sox /tmp/far.wav -r 8000 -e mu-law -t raw far.ul
sox /tmp/near.wav -r 8000 -e mu-law -t raw near.ul
rm -f /tmp/far.wav /tmp/near.wav
