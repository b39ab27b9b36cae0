#!/usr/bin/env bash
# Times `palisade upgrade` (service 0.1.0 -> newest) on a generated project with 1,000 extra user
# files, each run on a fresh copy of the same committed project; `git status` on the same tree is
# timed in the same run for scale. Prints medians and their ratio. Usage: scripts/bench-upgrade.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
cargo build --release --quiet --bin palisade
bin="$PWD/target/release/palisade"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CI=true
"$bin" new bench --template-version 0.1.0 --yes --output "$work/reference" 2>/dev/null
mkdir -p "$work/reference/src/extra"
for i in $(seq 1000); do
  printf '//! User module %d.\npub fn f%d() -> u32 { %d }\n' "$i" "$i" "$i" > "$work/reference/src/extra/m$i.rs"
done
sed -i 's|^uuid = |hex = "0.4" # ours\nuuid = |' "$work/reference/Cargo.toml"
git -C "$work/reference" add -A
git -C "$work/reference" -c user.name=bench -c user.email=bench@localhost commit -qm "1,000 user files"

median_ns() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# A run counts only if the command succeeded (an upgrade that fails at once would look fast).
time_ns() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; e=$(date +%s%N); echo $((e - s)); }

upgrade_times=(); status_times=()
for i in $(seq "$runs"); do
  cp -a "$work/reference" "$work/run-$i"
  status_times+=("$(time_ns git -C "$work/run-$i" status --porcelain)")
  upgrade_times+=("$(time_ns "$bin" upgrade -C "$work/run-$i")")
done
"$bin" upgrade -C "$work/reference" --dry-run >/dev/null 2>"$work/summary" || true
head -1 "$work/summary"
up=$(printf '%s\n' "${upgrade_times[@]}" | median_ns)
st=$(printf '%s\n' "${status_times[@]}" | median_ns)
awk -v u="$up" -v s="$st" -v r="$runs" 'BEGIN {
  printf "palisade upgrade, 1,000 extra files: median %.1f ms over %d runs (goal < 1000 ms)\n", u / 1e6, r
  printf "git status on the same tree:         median %.1f ms\n", s / 1e6
  printf "ratio: %.1fx\n", u / s
}'
