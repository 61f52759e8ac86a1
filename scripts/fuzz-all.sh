#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each ($1, default 5s).
set -euo pipefail
fuzztime="${1:-5s}"
cd "$(dirname "$0")/.."
n=0
while IFS= read -r file; do
	dir=$(dirname "$file")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
		echo "fuzz: $dir $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir"
		n=$((n + 1))
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sort)
echo "fuzz: $n targets ran"
