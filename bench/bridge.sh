#!/usr/bin/env bash
# Bridged-call benchmark: the release binary pinned to core 0 with CALLS agents in a queue
# behind number 8100; examples/bridge_load, pinned to core 1, registers the agents, places
# CALLS patient calls, answers each agent leg, then sends RTP both ways and measures loss,
# one-way delay and added jitter at the receivers, and the engine's CPU per forwarded packet
# and memory per call.
# Usage: [SPIN_MS=5] [BARE=1] bench/bridge.sh [CALLS] [SECONDS] [SETUP_RATE]   (defaults: 1500 10 100)
# SPIN_MS is rtp.timer_spin_ms: the engine spins that long before each 20 ms media tick.
# BARE=1 runs the baseline instead of the engine: examples/bare_relay, the engine's media
# sockets with no engine behind them, joining the same streams with no signalling.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
calls=${1:-1500}
secs=${2:-10}
rate=${3:-100}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -q --bin switchboard --example bridge_load --example bare_relay
if [ -n "${BARE:-}" ]; then
  engine=
  ready=$(mktemp -u)
  mkfifo "$ready"
  trap 'stop_engine; rm -f "$ready"' EXIT
  taskset -c 0 target/release/examples/bare_relay --listen 127.0.0.1 --ports 20000-29999 --pairs "$calls" >"$ready" &
  engine=$!
  # Its one line of output says every port is bound; it exits with the reason if not.
  read -r -t 30 line <"$ready" || { echo "bare_relay did not start" >&2; exit 1; }
  echo "$line"
  taskset -c 1 target/release/examples/bridge_load --engine 127.0.0.1:5060 --calls "$calls" \
    --measure "$secs" --bare-relay 20000 --engine-pid "$engine"
  exit
fi
bench_setup "$calls" <<'TOML'
# The benchmark's number: straight into the bench queue.
[flow]
name = "bench"
numbers = ["8100"]
start = "queue"

[[node]]
id = "queue"
kind = "queue"
queue = "bench"
prompts = ["transferring"]
TOML
bench_engine --set rtp.port_range=20000-29999 --set "rtp.timer_spin_ms=${SPIN_MS:-5}"
taskset -c 1 target/release/examples/bridge_load --engine "127.0.0.1:$port" --calls "$calls" \
  --measure "$secs" --rate "$rate" --first-agent 3000 --number 8100 --engine-pid "$engine"
