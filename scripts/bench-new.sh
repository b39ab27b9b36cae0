#!/usr/bin/env bash
# Times `palisade new` (default variant, no git) against `cp -r` of its own output, in one run,
# and prints both medians and their ratio. Usage: scripts/bench-new.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-50}"
cargo build --release --quiet --bin palisade
bin="$PWD/target/release/palisade"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" new reference --no-git --yes --output "$work/reference" 2>/dev/null

median_ns() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ns() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $((e - s)); }

new_times=(); cp_times=()
for i in $(seq "$runs"); do
  new_times+=("$(time_ns "$bin" new "p$i" --no-git --yes --output "$work/new-$i")")
  cp_times+=("$(time_ns cp -r "$work/reference" "$work/cp-$i")")
done
new_ms=$(printf '%s\n' "${new_times[@]}" | median_ns)
cp_ms=$(printf '%s\n' "${cp_times[@]}" | median_ns)
awk -v n="$new_ms" -v c="$cp_ms" -v r="$runs" 'BEGIN {
  printf "palisade new (no git): median %.2f ms over %d runs\n", n / 1e6, r
  printf "cp -r of its output:   median %.2f ms over %d runs\n", c / 1e6, r
  printf "ratio: %.2fx\n", n / c
}'
