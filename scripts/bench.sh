#!/usr/bin/env bash
# Runs the Go benchmarks, prints a table and writes BENCHMARKS.md with the
# machine they ran on.
#
#   BENCHTIME=2s COUNT=3 BENCH=Append BENCH_PKGS=./eventstore/... scripts/bench.sh
#
# Environment (all optional):
#   BENCHTIME   go test -benchtime (default 1s)
#   COUNT       go test -count (default 1)
#   BENCH       go test -bench regexp (default .)
#   BENCH_PKGS  packages (default ./...)
#   BENCH_OUT   report file (default BENCHMARKS.md)
#   BENCH_RAW   report from this existing raw output instead of running (e.g. a
#               run with one package re-run on a quiet machine spliced in)
#   BENCH_NOTE  a line added under the machine table (say what BENCH_RAW holds)
set -euo pipefail
cd "$(dirname "$0")/.."

benchtime="${BENCHTIME:-1s}"
count="${COUNT:-1}"
bench="${BENCH:-.}"
pkgs="${BENCH_PKGS:-./...}"
out="${BENCH_OUT:-BENCHMARKS.md}"

mkdir -p .bench
raw=.bench/raw.txt
# shellcheck disable=SC2206 # BENCH_PKGS may name several packages
cmd=(go test -run '^$' -bench "$bench" -benchmem -benchtime="$benchtime" -count="$count" -timeout 60m $pkgs)
echo "+ ${cmd[*]}" >&2

if [ -n "${BENCH_RAW:-}" ]; then
	[ "$BENCH_RAW" = "$raw" ] || cp "$BENCH_RAW" "$raw"
	echo "bench: reporting from $BENCH_RAW (not running)" >&2
else
	set +e
	"${cmd[@]}" 2>&1 | tee "$raw"
	status=${PIPESTATUS[0]}
	set -e
	if [ "$status" -ne 0 ]; then
		echo "bench: go test failed (exit $status); $out not written, output in $raw" >&2
		exit "$status"
	fi
fi

# Markdown tables: each figure beside the ceiling measured in the same run,
# then every result (internal/benchreport).
table=$(go run ./internal/benchreport <"$raw")
echo
echo "$table"

cpu=$( (lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1) || true)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -1)
mem_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
mem=$(awk -v k="$mem_kib" 'BEGIN { printf "%.1f GiB", k / 1048576 }')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi

{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` (scripts/bench.sh); rerun it to refresh this file. Numbers"
	echo "come from one run on the machine below: compare them only with runs on the same machine."
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| CPU | ${cpu:-unknown} |"
	echo "| cores (nproc) | $(nproc 2>/dev/null || echo unknown) |"
	echo "| memory | $mem |"
	echo "| Go | $(go version | sed 's/^go version //') |"
	echo "| OS | $(uname -sr) |"
	echo "| commit | $commit |"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
	echo "| command | \`${cmd[*]}\` |"
	echo
	if [ -n "${BENCH_NOTE:-}" ]; then
		echo "$BENCH_NOTE"
		echo
	fi
	echo "$table"
	echo
	echo "## Raw output"
	echo
	echo '```text'
	cat "$raw"
	echo '```'
} >"$out"
echo >&2
echo "bench: wrote $out" >&2
