#!/usr/bin/env bash
# Client-credentials grants/s and introspections/s of the authorization server (release build,
# SQLite, audit to a file), with load from a second process (wrk) over loopback, in one run.
# Usage: scripts/bench-server.sh [SECONDS] [CONNECTIONS]. Needs wrk (Debian package `wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
connections="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
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
echo "client_credentials grants:           $grants/s (non-2xx or socket errors: $grant_errors, p99 $grant_p99 ms; goal >= 5000/s)"
echo "introspections, one token:           $intro/s (non-2xx or socket errors: $intro_errors, p99 $intro_p99 ms; goal >= 20000/s)"
echo "introspections, 5,000 tokens in turn (each verified on first use, then cached): $many/s (non-2xx or socket errors: $many_errors, p99 $many_p99 ms)"
echo "($seconds s each, $connections connections, wrk -t2 on the same 2 cores)"
