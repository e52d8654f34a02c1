#!/usr/bin/env bash
# Full-path call benchmark: the release binary pinned to core 0; examples/call_load, pinned
# to core 1, registers AGENTS agents and places calls at RATE per second for SECONDS to
# number 8100, whose flow is the main line's shape: a menu that plays the greeting, digit 2
# (sent as RFC 4733) into a queue of all the agents. Each agent answers at once; caller and
# agent exchange RTP through the engine for HOLD_MS, then the caller hangs up. Prints calls
# completed and failed (with reasons), set-up and queue-to-agent times, engine CPU.
# Usage: bench/calls.sh [RATE] [SECONDS] [HOLD_MS] [AGENTS]   (defaults: 1000 10 200 2000)
# Agents have no wrap-up here (acd.wrap_up_seconds=0): each takes the next call at once.
# STORE_CORE=1 moves the engine's other threads (call-record writer, SQLite, API) to core 1,
# leaving core 0 to the main thread (SIP, media, ACD); by default all share core 0.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rate=${1:-1000}
secs=${2:-10}
hold=${3:-200}
agents=${4:-2000}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -q --bin switchboard --example call_load
full_path_setup "$agents"
bench_engine --set rtp.port_range=20000-40000 --set acd.wrap_up_seconds=0 --set "rtp.timer_spin_ms=${SPIN_MS:-0}"
if [ -n "${STORE_CORE:-}" ]; then
  # The call-record writer, SQLite's worker and the API thread move off the engine's core.
  for t in /proc/$engine/task/*; do
    tid=${t##*/}
    [ "$tid" = "$engine" ] || taskset -p -c "$STORE_CORE" "$tid" >/dev/null
  done
fi
taskset -c 1 target/release/examples/call_load --engine "127.0.0.1:$port" --rate "$rate" \
  --duration "$secs" --hold "$hold" --agents "$agents" --first-agent 3000 --number 8100 \
  --engine-pid "$engine"
