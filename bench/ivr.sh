#!/usr/bin/env bash
# IVR prompt-stream benchmark: the release binary pinned to core 0 answers CALLS calls to 8000
# and keeps them in the IVR; examples/ivr_load, pinned to core 1, places them and measures
# at the receiving side how evenly each stream's RTP arrives and how many packets are lost.
# Usage: bench/ivr.sh [CALLS] [SECONDS]      (defaults: 3000 10)
# SWITCHBOARD_BIN runs another build (an earlier one, to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-3000}
secs=${2:-10}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -q --bin switchboard --example ivr_load
source bench/lib.sh
work=$(mktemp -d)
engine=
trap 'stop_engine; [ -n "${KEEP:-}" ] || rm -rf "$work"; [ -z "${KEEP:-}" ] || echo "kept $work"' EXIT
port=$(free_sip_port)
SWITCHBOARD_LOG=warn taskset -c 0 "${SWITCHBOARD_BIN:-target/release/switchboard}" serve \
  --set "sip.listen=127.0.0.1:$port" --set "store.path=$work/sb.db" --set http.listen=127.0.0.1:0 \
  --set rtp.port_range=20000-29999 --set ivr.clock_start=2026-11-23T10:00:00+08:00 \
  2>"$work/engine.log" &
engine=$!
sleep 1
cpu0=$(awk '{print $14 + $15}' "/proc/$engine/stat")
taskset -c 1 target/release/examples/ivr_load --engine "127.0.0.1:$port" --calls "$calls" --measure "$secs" --rate 300
cpu1=$(awk '{print $14 + $15}' "/proc/$engine/stat")
echo "engine CPU            $(( (cpu1 - cpu0) ))0 ms over the run (one core)"
echo "engine peak RSS       $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$engine/status") MiB"
