#!/usr/bin/env bash
# Call records under SIPp load: the release binary pinned to core 0, SIPp to core 1, placing
# short calls (digest challenge, answer, HOLD_MS in the IVR, BYE) at RATE per second for
# SECONDS. Prints the calls completed per second, the call set-up time SIPp measured
# (INVITE with credentials to 200 OK), and the records the store committed per second.
# Usage: bench/records.sh [RATE_PER_SECOND] [SECONDS] [HOLD_MS]      (defaults: 500 10 0)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-500}
secs=${2:-10}
hold=${3:-0}
command -v sipp >/dev/null || { echo "sipp is not installed (apt-get install sip-tester)"; exit 1; }
cargo build --release -q --bin switchboard
source bench/lib.sh
demo_engine --set rtp.port_range=20000-40000 --set rtp.timer_spin_ms=0
sed "s/HOLD_MS/$hold/" tests/sipp/short_call.xml >"$work/short_call.xml"
total=$((rate * secs))
start=$(date +%s.%N)
(cd "$work" && taskset -c 1 sipp -sf short_call.xml -s 8000 -au 1001 -ap demo-1001 \
  -auth_uri "8000@127.0.0.1:$port" -r "$rate" -m "$total" -l 20000 -buff_size 4194304 \
  -i 127.0.0.1 -mi 127.0.0.1 -mp 50000 -nostdin -timeout $((secs * 3 + 30))s \
  -trace_stat -stf stat.csv -fd 1 "127.0.0.1:$port" >/dev/null 2>&1) || true
cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$engine/stat")
kill -TERM "$engine"
wait "$engine" || true
end=$(date +%s.%N)
records=$(target/release/switchboard report daily --by total --format json \
  --set "store.path=$work/sb.db" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["calls"])')
python3 - "$work/stat.csv" "$rate" "$cpu" "$records" "$start" "$end" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
col = lambda name: last[head.index(name)]
def secs(hms):
    # SIPp writes HH:MM:SS, or HH:MM:SS:microseconds for response times.
    parts = hms.split(':')
    frac = int(parts[3]) / 1e6 if len(parts) > 3 else 0.0
    return int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2]) + frac
ok, failed = int(col('SuccessfulCall(C)')), int(col('FailedCall(C)'))
elapsed = secs(col('ElapsedTime(C)'))
# ResponseTime1: the INVITE with credentials to its 200 OK, per period and overall.
rt = [r[head.index('ResponseTime1(P)')] for r in rows[2:] if float(r[head.index('CallRate(P)')]) > 0]
rts = sorted(secs(x) * 1000 for x in rt)
median = rts[len(rts) // 2] if rts else float('nan')
print(f"offered {sys.argv[2]} calls/s: {ok} completed, {failed} failed in {elapsed:.1f} s ({ok / elapsed:.0f} calls/s)")
print(f"call set-up (INVITE with credentials to 200 OK), median of per-second averages: {median:.2f} ms; overall {secs(col('ResponseTime1(C)')) * 1000:.2f} ms")
print(f"records in the store after shutdown: {sys.argv[4]} ({int(sys.argv[4]) / elapsed:.0f} per second of load); engine CPU {float(sys.argv[3]):.1f} s")
PY
