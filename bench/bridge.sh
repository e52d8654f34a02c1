#!/usr/bin/env bash
# Bridged-call benchmark: the release binary pinned to core 0 with CALLS agents in a queue
# behind number 8100; examples/bridge_load, pinned to core 1, registers the agents, places
# CALLS patient calls, answers each agent leg, then sends RTP both ways and measures loss,
# one-way delay and added jitter at the receivers, and the engine's CPU per forwarded packet
# and memory per call.
# Usage: [SPIN_MS=5] bench/bridge.sh [CALLS] [SECONDS] [SETUP_RATE]   (defaults: 1500 10 100)
# SPIN_MS is rtp.timer_spin_ms: the engine spins that long before each 20 ms media tick.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-1500}
secs=${2:-10}
rate=${3:-100}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -q --bin switchboard --example bridge_load
work=$(mktemp -d)
trap 'kill "$engine" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; [ -z "${KEEP:-}" ] || echo "kept $work"' EXIT
mkdir -p "$work/config" "$work/dialplans"
ln -s "$PWD/prompts" "$work/prompts"
cp dialplans/*.toml "$work/dialplans/"
cat >"$work/dialplans/bench.toml" <<'TOML'
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
python3 - "$calls" config/switchboard.toml >"$work/config/switchboard.toml" <<'PY'
import sys
n = int(sys.argv[1])
text = open(sys.argv[2]).read()
out = [text]
for k in range(n):
    ext = 3000 + k
    out.append(f'\n[[extensions]]\nnumber = "{ext}"\nname = "Bench agent {ext}"\nkind = "agent"\npassword = "bench-{ext}-pass"\n')
agents = ", ".join(f'"{3000 + k}"' for k in range(n))
# The benchmark measures bridging, not overflow: calls wait however many there are.
out.append(f'\n[[queues]]\nname = "bench"\nagents = [{agents}]\nmax_waiting = 100000\nmax_wait_seconds = 3600\n')
sys.stdout.write("".join(out))
PY
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SWITCHBOARD_LOG=warn taskset -c 0 target/release/switchboard serve --config "$work/config/switchboard.toml" \
  --set "sip.listen=127.0.0.1:$port" --set "store.path=$work/sb.db" --set http.listen=127.0.0.1:0 \
  --set rtp.port_range=20000-29999 --set ivr.clock_start=2026-11-23T10:00:00+08:00 \
  --set "rtp.timer_spin_ms=${SPIN_MS:-5}" 2>"$work/engine.log" &
engine=$!
sleep 2
taskset -c 1 target/release/examples/bridge_load --engine "127.0.0.1:$port" --calls "$calls" \
  --measure "$secs" --rate "$rate" --first-agent 3000 --number 8100 --engine-pid "$engine"
