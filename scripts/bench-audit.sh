#!/usr/bin/env bash
# The offline verification of a tenant's audit export: `palisade audit verify` over a synthetic
# export of N entries (default 1,000,000; CloudEvents envelopes of about 600 bytes, a signed
# checkpoint every 10,000), whole-process wall time and peak memory (GNU time), three runs.
# Then the ingest throughput and the query latency (below). Usage: [BENCH_DATABASE_URL=postgres://...] scripts/bench-audit.sh [ENTRIES].
set -euo pipefail
cd "$(dirname "$0")/.."
entries="${1:-1000000}"
work="$(mktemp -d /tmp/palisade-bench-audit.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet -p palisade
cargo build --release --quiet -p palisade-audit --example export
key="$(target/release/examples/export "$work/export.jsonl" "$entries")"
printf 'export: %s entries, %s MiB\n' "$entries" "$(( $(stat -c %s "$work/export.jsonl") / 1048576 ))"
cat "$work/export.jsonl" >/dev/null
for run in 1 2 3; do
  /usr/bin/time -f "run $run: %e s wall, %M KiB peak" target/release/palisade audit verify "$work/export.jsonl" --key "$key"
done

# Ingest: a service shipping entries to the control plane over loopback HTTP (ControlPlaneSink,
# spool, batches of 1,000), the control plane appending them to the tenant's hash chain; both in
# one process on this machine's cores. SQLite always; PostgreSQL when BENCH_DATABASE_URL is set.
cargo build --release --quiet -p palisade-runtime --features server --example audit_ingest
for run in 1 2 3; do
  rm -rf "$work/ingest" && mkdir "$work/ingest"
  target/release/examples/audit_ingest "$work/ingest" 200000
done
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  for run in 1 2 3; do
    rm -rf "$work/ingest" && mkdir "$work/ingest"
    target/release/examples/audit_ingest "$work/ingest" 200000 "$BENCH_DATABASE_URL"
  done
fi

# Query: `GET /audit` pages (limit 100) over loopback HTTP as a platform auditor, ten filter kinds
# over QUERY_ENTRIES entries (default 10,000,000) across 100 tenants in PostgreSQL, 200 queries
# per kind; p50, p99 and max per kind. The entries are filled once into the database
# palisade_bench_query (kept, so a second run skips the fill; drop it to start over).
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  cargo build --release --quiet -p palisade-runtime --features server --example audit_query
  psql "$BENCH_DATABASE_URL" -qc "CREATE DATABASE palisade_bench_query" 2>/dev/null || true
  rm -rf "$work/query" && mkdir "$work/query"
  target/release/examples/audit_query "$work/query" "${BENCH_DATABASE_URL%/*}/palisade_bench_query" \
    "${QUERY_ENTRIES:-10000000}" 100 200
  psql "${BENCH_DATABASE_URL%/*}/palisade_bench_query" -qAtc \
    "SELECT 'store: ' || pg_size_pretty(pg_total_relation_size('palisade_audit_log')) || ' (indexes ' || pg_size_pretty(pg_indexes_size('palisade_audit_log')) || ')'"
fi
