#!/usr/bin/env bash
# Runs every fuzz target in the module briefly: $1 is a -fuzztime, a
# duration ("30s") or an input count ("10000x", the default).
#
# Go's fuzzing engine sometimes ends a run with "context deadline exceeded"
# when it stops while a worker is busy on a loaded machine; no input failed
# then, and none is saved under testdata/fuzz. Such a run is tried again (up
# to three times); a real failure (a saved crasher) fails at once.
set -euo pipefail
fuzztime="${1:-10000x}"
cd "$(dirname "$0")/.."
n=0
while IFS= read -r file; do
	dir=$(dirname "$file")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
		for try in 1 2 3; do
			echo "fuzz: $dir $target ($fuzztime, try $try)"
			log=$(mktemp)
			status=0
			go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "./$dir" > "$log" 2>&1 || status=$?
			cat "$log"
			if [ "$status" = 0 ]; then
				rm -f "$log"
				break
			fi
			if [ "$try" -lt 3 ] && grep -q "context deadline exceeded" "$log" && ! grep -q "Failing input written to" "$log"; then
				echo "fuzz: $target: engine deadline hiccup, no failing input: trying again"
				rm -f "$log"
				continue
			fi
			rm -f "$log"
			exit 1
		done
		n=$((n + 1))
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v node_modules | sort)
echo "fuzz: $n targets ran"
