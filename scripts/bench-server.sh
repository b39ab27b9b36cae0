#!/usr/bin/env bash
# Client-credentials grants/s and introspections/s of the authorization server (release build,
# SQLite, audit to a file), and of node's oidc-provider (npm, OpenID Certified; in-memory storage)
# configured for the same flow, with load from a second process (wrk) over loopback, in one run.
# Prints both and the ratio. Usage: scripts/bench-server.sh [SECONDS] [CONNECTIONS].
# Installs what it needs: wrk (Debian package, as root), oidc-provider 9 and Node.js 22 (npm, into
# target/bench-peers/oidc-provider).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
connections="${2:-32}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
peer_dir="target/bench-peers/oidc-provider"
if [ ! -x "$peer_dir/node_modules/.bin/node" ] || [ ! -d "$peer_dir/node_modules/oidc-provider" ]; then
  mkdir -p "$peer_dir"
  npm install --prefix "$peer_dir" --no-audit --no-fund --loglevel=error oidc-provider@9 node@22 >/dev/null
fi
cp scripts/oidc-provider-peer.mjs "$peer_dir/"
cargo build --release --quiet -p palisade-runtime --features server --example authorization_server
work="$(mktemp -d)"
target/release/examples/authorization_server "$work" > "$work/server.json" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/server.json" ] && break; sleep 0.1; done
read -r issuer client_id client_secret < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["issuer"], d["client_id"], d["client_secret"])' "$work/server.json")
basic="$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"
token="$(curl -s -u "$client_id:$client_secret" -d grant_type=client_credentials "$issuer/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

# Distinct access tokens (so signatures are verified, not served from the server's cache) and an API token.
python3 - "$issuer" "$client_id" "$client_secret" "$work" <<'PY'
import base64, http.client, json, sys, urllib.parse
issuer, client_id, secret, work = sys.argv[1:]
host = urllib.parse.urlparse(issuer).netloc
auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
conn = http.client.HTTPConnection(host)
with open(f"{work}/tokens.txt", "w") as out:
    for _ in range(5000):
        conn.request("POST", "/token", "grant_type=client_credentials",
                     {"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
        out.write(json.loads(conn.getresponse().read())["access_token"] + "\n")
PY

cat > "$work/many.lua" <<'LUA'
local tokens = {}
local i = 0
init = function(args)
  for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
  i = math.random(#tokens)
end
request = function()
  i = i % #tokens + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. os.getenv("BASIC"),
  }, "token=" .. tokens[i])
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %d %.2f\n", summary.requests / (summary.duration / 1e6), errors, latency:percentile(99) / 1000))
end
LUA

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BASIC")
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %d %.2f\n", summary.requests / (summary.duration / 1e6), errors, latency:percentile(99) / 1000))
end
LUA
run() {
  BODY="$2" BASIC="$basic" wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/post.lua" "$issuer$1" | grep '^RESULT'
}
read -r _ grants grant_errors grant_p99 < <(run /token "grant_type=client_credentials")
read -r _ intro intro_errors intro_p99 < <(run /introspect "token=$token")
read -r _ many many_errors many_p99 < <(TOKENS="$work/tokens.txt" BASIC="$basic" wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/many.lua" "$issuer/introspect" | grep '^RESULT')
kill $server 2>/dev/null || true

# The peer, on the same machine right after: same client, same loads.
peer_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$peer_dir" && exec ./node_modules/.bin/node oidc-provider-peer.mjs "$peer_port" "$client_id" "$client_secret") > "$work/peer.json" 2>"$work/peer.log" &
peer=$!
trap 'kill $server $peer 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/peer.json" ] && break; sleep 0.1; done
peer_issuer="http://127.0.0.1:$peer_port"
# oidc-provider does not introspect its JWT access tokens: introspection runs on opaque ones.
peer_token="$(curl -s -u "$client_id:$client_secret" -d grant_type=client_credentials -d scope=bench -d resource=urn:bench-opaque "$peer_issuer/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
python3 - "$peer_issuer" "$client_id" "$client_secret" "$work" <<'PY'
import base64, http.client, json, sys, urllib.parse
issuer, client_id, secret, work = sys.argv[1:]
conn = http.client.HTTPConnection(urllib.parse.urlparse(issuer).netloc)
auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
with open(f"{work}/peer-tokens.txt", "w") as out:
    for _ in range(5000):
        conn.request("POST", "/token", "grant_type=client_credentials&scope=bench&resource=urn:bench-opaque",
                     {"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
        out.write(json.loads(conn.getresponse().read())["access_token"] + "\n")
PY
issuer="$peer_issuer"
read -r _ p_grants p_grant_errors p_grant_p99 < <(run /token "grant_type=client_credentials&scope=bench")
read -r _ p_intro p_intro_errors p_intro_p99 < <(run /token/introspection "token=$peer_token")
read -r _ p_many p_many_errors p_many_p99 < <(TOKENS="$work/peer-tokens.txt" BASIC="$basic" wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/many.lua" "$issuer/token/introspection" | grep '^RESULT')
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.1f}x' if b else 'n/a')" "$1" "$2"; }
echo "                                   palisade                         oidc-provider $(cd "$peer_dir" && node -p 'require("./node_modules/oidc-provider/package.json").version' 2>/dev/null || echo 9)"
printf 'client_credentials grants (JWT):   %8s/s (errors %s, p99 %s ms)   %8s/s (errors %s, p99 %s ms)   ratio %s; goal >= 5000/s\n' "$grants" "$grant_errors" "$grant_p99" "$p_grants" "$p_grant_errors" "$p_grant_p99" "$(ratio "$grants" "$p_grants")"
printf 'introspections, one token:         %8s/s (errors %s, p99 %s ms)   %8s/s (errors %s, p99 %s ms)   ratio %s; goal >= 20000/s\n' "$intro" "$intro_errors" "$intro_p99" "$p_intro" "$p_intro_errors" "$p_intro_p99" "$(ratio "$intro" "$p_intro")"
printf 'introspections, 5,000 tokens:      %8s/s (errors %s, p99 %s ms)   %8s/s (errors %s, p99 %s ms)   ratio %s\n' "$many" "$many_errors" "$many_p99" "$p_many" "$p_many_errors" "$p_many_p99" "$(ratio "$many" "$p_many")"
echo "($seconds s each, $connections connections, wrk -t2 on the same 2 cores; oidc-provider introspects opaque tokens, palisade JWTs)"
