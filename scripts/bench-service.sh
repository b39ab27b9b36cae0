#!/usr/bin/env bash
# Requests/s and p99 of a generated service's list (GET, a page of 50) and create (POST) endpoints
# over real HTTP with valid tokens (wrk from a second process), against the same service with the
# security stack removed, in one run; prints both and the ratio. SQLite always; PostgreSQL too when
# BENCH_DATABASE_URL names a server (a superuser's URL).
#
# The baseline keeps the handlers, the store, the audit emitter and the Cedar decision each handler
# asks for; it drops authentication (JWT verification), the tenant guard, the rate limits and the
# trace layer, and gives every request a fixed principal holding every role. Both run with rate
# limits off (one client from one address would be limited), metrics off and RUST_LOG=warn.
#
# Usage: scripts/bench-service.sh [SECONDS] [CONNECTIONS]. Installs wrk (Debian, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
connections="${2:-32}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
root="$PWD"
work="$(mktemp -d)"
bench="target/bench-service"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

cargo build --release --quiet -p palisade
cargo build --release --quiet -p palisade-runtime --features testing --example test_issuer
export CARGO_TARGET_DIR="$root/$bench/target"

# Generates the service in $bench/$1 (answers $2...), and its copy without the stack in $bench/$1-bare.
generate() {
  local name="$1"; shift
  rm -rf "$bench/$name" "$bench/$name-bare"
  mkdir -p "$bench"
  target/release/palisade new bench-svc --template service --no-git --yes --runtime-path "$root/runtime" \
    --output "$bench/$name" "$@" >/dev/null
  cp Cargo.lock "$bench/$name/"
  cp -r "$bench/$name" "$bench/$name-bare"
  python3 - "$bench/$name-bare/src/app.rs" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
old_stack = "    let stack = SecurityStack::new(parts.authenticator, parts.engine, parts.audit)"
old_apply = "    let api = stack.apply("
assert old_stack in text and old_apply in text, "the template changed: update the benchmark's patch"
text = text.replace(old_stack, "    let (engine, audit) = (parts.engine.clone(), parts.audit.clone());\n" + old_stack)
text = text.replace(old_apply, "    let _ = &stack;\n    let api = bench_unsecured(engine, audit,")
text += '''
/// Benchmark baseline: no authentication, tenant guard, rate limits or trace layer; a fixed
/// principal with every role, and the same policies.
fn bench_unsecured(
    engine: Arc<PolicyEngine>,
    audit: AuditEmitter,
    router: Router,
) -> Router {
    let principal = palisade_runtime::Principal {
        tenant: palisade_runtime::TenantId::new("acme").expect("a tenant id"),
        subject: "bench-0".into(),
        kind: palisade_runtime::PrincipalKind::User,
        roles: vec!["admin".into(), "reader".into(), "writer".into()],
        scopes: Vec::new(),
        client_id: None,
    };
    router
        .route_layer(palisade_runtime::authz::AuthzLayer::new(engine, audit))
        .route_layer(axum::middleware::from_fn(
            move |mut request: axum::extract::Request, next: axum::middleware::Next| {
                request.extensions_mut().insert(principal.clone());
                next.run(request)
            },
        ))
}
'''
open(path, "w").write(text)
PY
  (cd "$bench/$name" && cargo build --release --quiet)
  (cd "$bench/$name-bare" && cargo build --release --quiet)
}

# The issuer and 64 tokens (tenant acme, every role), one per wrk connection at most.
"$root/target/release/examples/test_issuer" bench-svc acme 64 reader writer admin > "$work/tokens.txt" &
pids+=($!)
for _ in $(seq 100); do [ "$(wc -l < "$work/tokens.txt")" -ge 65 ] && break; sleep 0.1; done
issuer="$(head -n 1 "$work/tokens.txt")"
tail -n +2 "$work/tokens.txt" > "$work/tokens"

cat > "$work/bench.lua" <<'LUA'
local tokens = {}
local i = 0
local method = os.getenv("METHOD")
init = function(args)
  for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
  i = math.random(#tokens)
end
request = function()
  i = i % #tokens + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[i] }
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", nil, headers, '{"title": "benchmark", "body": "a note written under load"}')
  end
  return wrk.format("GET", nil, headers)
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %d %.2f\n", summary.requests / (summary.duration / 1e6), errors, latency:percentile(99) / 1000))
end
LUA

# Runs the binary of $1 with the environment after it on a free port; waits until it is ready.
start() {
  local dir="$1"; shift
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  (cd "$dir" && env "$@" APP_PROFILE=development APP__AUTH__ISSUER="$issuer" APP__SERVER__PORT="$port" \
    APP__SERVER__METRICS_PORT=0 APP__LIMITS__PER_ADDRESS_PER_SECOND=0 APP__LIMITS__PER_CALLER_PER_SECOND=0 \
    RUST_LOG=warn "$CARGO_TARGET_DIR/release/bench-svc" > /dev/null 2>&1) &
  service=$!
  pids+=($service)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "the service in $dir did not become ready" >&2; exit 1
}

# wrk against $1 (GET or POST) on the running service; prints "rps errors p99ms".
load() {
  local url="http://127.0.0.1:$port/tenants/acme/notes"
  METHOD="$1" TOKENS="$work/tokens" wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/bench.lua" "$url" \
    | awk '/^RESULT/ {print $2, $3, $4}'
}

# Seeds 50 items (a full page), then measures list and create.
measure() {
  local token; token="$(head -n 1 "$work/tokens")"
  for n in $(seq 50); do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"title\": \"seed $n\", \"body\": \"b\"}" "http://127.0.0.1:$port/tenants/acme/notes"
  done
  list="$(load GET)"
  create="$(load POST)"
}

report() {
  local label="$1" secured="$2" bare="$3"
  read -r s_rps s_err s_p99 <<<"$secured"
  read -r b_rps b_err b_p99 <<<"$bare"
  python3 - "$label" "$s_rps" "$s_err" "$s_p99" "$b_rps" "$b_err" "$b_p99" <<'PY'
import sys
label, s_rps, s_err, s_p99, b_rps, b_err, b_p99 = sys.argv[1:]
print(f"{label:<18} secured {float(s_rps):>8.0f} req/s p99 {float(s_p99):>6.2f} ms ({s_err} errors) | "
      f"without the stack {float(b_rps):>8.0f} req/s p99 {float(b_p99):>6.2f} ms ({b_err} errors) | "
      f"ratio {float(s_rps) / float(b_rps):.2f}")
PY
}

run() {
  local name="$1"; shift
  start "$bench/$name" "$@"; measure; kill "$service"; wait "$service" 2>/dev/null || true
  local s_list="$list" s_create="$create"
  if [[ "$name" == sqlite ]]; then rm -f "$work/bench.db"*; fi
  start "$bench/$name-bare" "$@"; measure; kill "$service"; wait "$service" 2>/dev/null || true
  report "$name list (GET)" "$s_list" "$list"
  report "$name create (POST)" "$s_create" "$create"
}

echo "$(nproc) cores; $seconds s per measurement, $connections connections, wrk -t2"
generate sqlite
run sqlite DATABASE_URL="sqlite://$work/bench.db?mode=rwc"
if [[ -n "${BENCH_DATABASE_URL:-}" ]]; then
  generate postgres --define database=postgres
  for variant in postgres postgres-bare; do
    (cd "$bench/$variant" && DATABASE_NAME=bench_service sh scripts/postgres-setup.sh "$BENCH_DATABASE_URL" >/dev/null)
  done
  server="$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(f"{p.hostname}:{p.port or 5432}")' "$BENCH_DATABASE_URL")"
  run postgres DATABASE_URL="postgres://bench_svc_app:dev-password@$server/bench_service" \
    MIGRATOR_DATABASE_URL="postgres://bench_svc_migrator:dev-password@$server/bench_service"
else
  echo "PostgreSQL: skipped (set BENCH_DATABASE_URL to a superuser's URL)"
fi
