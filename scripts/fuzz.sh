#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short time each.
#
#   FUZZTIME=2m scripts/fuzz.sh            # all targets
#   FUZZTIME=30s scripts/fuzz.sh ./eventstore/...
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-20s}"
pattern="${1:-./...}"

# Packages whose tests define a fuzz target (cheap grep first, then go test -list).
mapfile -t dirs < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Z0-9_]' . 2>/dev/null |
	xargs -r -n1 dirname | sort -u)
pkgs=()
for d in "${dirs[@]}"; do
	pkg=$(go list "$d")
	if [ -n "$(go list "$pattern" | grep -Fx "$pkg")" ]; then pkgs+=("$pkg"); fi
done
if [ "${#pkgs[@]}" -eq 0 ]; then
	echo "fuzz: no fuzz targets in $pattern"
	exit 0
fi

ran=0
for pkg in "${pkgs[@]}"; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
		ran=$((ran + 1))
	done
done
echo "fuzz: $ran target(s) ran for $fuzztime each, no failure"
