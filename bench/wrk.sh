#!/usr/bin/env bash
# Accept throughput and latency with a lean load generator (wrk, C) instead
# of the Rust one in benches/throughput/main.rs, which takes ~20% of a core on a
# 2-core machine. Same workload: signed ~9.6 KB GitHub pushes, 32 keep-alive
# connections, every request a new X-GitHub-Delivery, durable store beside
# `--store :memory:` in the same run.
#
#   apt-get install wrk        # Debian's package
#   bash bench/wrk.sh          # needs tests/fixtures and python3
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -f tests/fixtures/github/push.1.json ] || { echo "tests/fixtures is missing" >&2; exit 1; }
# HOOKBRIDGE_BIN: a binary already built (e.g. target/profiling/hookbridge)
if [ -n "${HOOKBRIDGE_BIN:-}" ]; then
  bin=$HOOKBRIDGE_BIN
else
  cargo build --release --locked --bin hookbridge >&2
  bin=target/release/hookbridge
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
secret=bench-secret
duration=${DURATION:-10s}

python3 - "$work" "$secret" <<'EOF'
import hashlib, hmac, json, sys
work, secret = sys.argv[1], sys.argv[2].encode()
d = json.load(open("tests/fixtures/github/push.1.json"))
first = d["commits"][0]
while len(json.dumps(d)) < 9100:
    d["commits"].append(dict(first))
body = json.dumps(d).encode()
open(f"{work}/body.json", "wb").write(body)
sig = hmac.new(secret, body, hashlib.sha256).hexdigest()
open(f"{work}/push.lua", "w").write(f'''
wrk.method = "POST"
wrk.body = io.open("{work}/body.json"):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-Hub-Signature-256"] = "sha256={sig}"
local n = 0
request = function()
  n = n + 1
  wrk.headers["X-GitHub-Delivery"] = "wrk-" .. n .. "-" .. math.random(1, 1e9)
  return wrk.format()
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.0f %.2f %.2f %.2f\\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
''')
print(len(body), file=sys.stderr)
EOF

# Slack stand-in: nothing listens there, so workers back off quietly.
cat > "$work/bridge.toml" <<EOF
[store]
path = "$work/hb.db"
[sources.github]
kind = "github"
secret = "$secret"
[sinks.slack]
kind = "slack"
token = "xoxb-bench"
api_base = "http://127.0.0.1:9/api/"
[[routes]]
events = ["push"]
to = ["slack:#bench"]
EOF

run() { # label, extra serve args...
  local label=$1; shift
  rm -f "$work"/hb.db*
  RUST_LOG=warn "$bin" serve --config "$work/bridge.toml" --listen 127.0.0.1:18787 "$@" 2>/dev/null &
  local pid=$!
  for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/18787) 2>/dev/null && break; sleep 0.1; done
  wrk -t1 -c32 -d2s -s "$work/push.lua" http://127.0.0.1:18787/hooks/github >/dev/null   # warm-up
  local r; r=$(wrk -t1 -c32 -d"$duration" -s "$work/push.lua" http://127.0.0.1:18787/hooks/github | grep RESULT)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$label $r"
}
d=$(run durable); m=$(run memory --store :memory:)
read -r _ _ dn de drps dp50 dp99 dmax <<<"$d"
read -r _ _ mn me mrps mp50 mp99 mmax <<<"$m"
ratio=$(python3 -c "print(f'{$drps/$mrps:.2f}')")
cat <<EOF
| store | requests | non-2xx/errors | deliveries/s | p50 | p99 | max |
|---|---|---|---|---|---|---|
| durable (WAL, synchronous=FULL) | $dn | $de | $drps | $dp50 ms | $dp99 ms | $dmax ms |
| \`--store :memory:\` (reference) | $mn | $me | $mrps | $mp50 ms | $mp99 ms | $mmax ms |

durable / memory: $ratio (wrk -t1 -c32 -d$duration, 2 cores shared by wrk and the service)
EOF
