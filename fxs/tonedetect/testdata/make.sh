#!/bin/sh
# Makes speech.wav: about 10 s of espeak-ng speech in three voices (a low
# male, a high female, German), 8 kHz mono 16-bit, peaks at -3 dBFS.
# Run from this directory; needs espeak-ng and sox (Debian packages).
set -e
espeak-ng -v en-us -p 40 -s 170 -w a.wav "Hello, this is a test of the line. Ooh, aah, eee, mmm.."
espeak-ng -v en+f3 -p 80 -s 170 -w b.wav "Seven singing sailors whistle a happy tune, la la la.."
espeak-ng -v de -p 60 -s 170 -w c.wav "Guten Tag, bitte sprechen Sie nach dem Signalton."
sox a.wav b.wav c.wav -r 8000 -c 1 -b 16 -e signed speech.wav gain -n -3
rm a.wav b.wav c.wav
