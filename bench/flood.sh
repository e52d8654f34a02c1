#!/usr/bin/env bash
# Flood benchmark: unauthenticated INVITEs at RATE per second for SECONDS (examples/flood_load)
# while SIPp registers phone 1001 through the digest challenge at NOMINAL per second, the
# release binary pinned to core 0 and both load tools to core 1.
# Usage: bench/flood.sh [RATE] [SECONDS] [NOMINAL]      (defaults: 20000 10 50)
# Prints the flood's answers, the engine's CPU and memory, and how many of the nominal
# registrations succeeded. SWITCHBOARD_BIN runs another build (an earlier one, to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20000}
secs=${2:-10}
nominal=${3:-50}
command -v sipp >/dev/null || { echo "sipp is not installed (apt-get install sip-tester)"; exit 1; }
cargo build --release -q --bin switchboard --example flood_load
source bench/lib.sh
demo_engine
total=$((nominal * secs))
(cd "$work" && taskset -c 1 sipp -sf "$OLDPWD/tests/sipp/register.xml" -s 1001 -au 1001 -ap demo-1001 \
  -r "$nominal" -m "$total" -l 1000 -i 127.0.0.1 -nostdin -timeout $((secs * 3 + 30))s \
  -trace_stat -stf stat.csv -fd 1 "127.0.0.1:$port" >/dev/null 2>&1) &
sipp=$!
taskset -c 1 target/release/examples/flood_load "127.0.0.1:$port" "$engine" "$rate" "$secs"
wait "$sipp" || true
python3 - "$work/stat.csv" "$total" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
col = lambda name: int(last[head.index(name)])
ok, failed = col('SuccessfulCall(C)'), col('FailedCall(C)')
print(f"nominal registrations {ok} of {sys.argv[2]} succeeded, {failed} failed, {col('Retransmissions(C)')} retransmissions")
PY
