#!/usr/bin/env bash
# REGISTER load benchmark: the release binary pinned to core 0, SIPp pinned to core 1, every
# REGISTER going through the digest challenge (two transactions per registration).
# Usage: bench/register.sh [RATE_PER_SECOND] [SECONDS]      (defaults: 6000 10)
# Prints completed registrations per second, failures, and the engine's CPU time and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-6000}
secs=${2:-10}
command -v sipp >/dev/null || { echo "sipp is not installed (apt-get install sip-tester)"; exit 1; }
cargo build --release -q --bin switchboard
source bench/lib.sh
demo_engine
total=$((rate * secs))
(cd "$work" && taskset -c 1 sipp -sf "$OLDPWD/tests/sipp/register.xml" -s 1001 -au 1001 -ap demo-1001 \
  -r "$rate" -m "$total" -l 20000 -buff_size 4194304 -i 127.0.0.1 -nostdin -timeout $((secs * 3 + 30))s \
  -trace_stat -stf stat.csv -fd 1 "127.0.0.1:$port" >/dev/null 2>&1) || true
cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$engine/stat")
rss=$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$engine/status")
echo "stats: $work/stat.csv" >&2
python3 - "$work/stat.csv" "$rate" "$cpu" "$rss" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
col = lambda name: last[head.index(name)]
def secs(hms):
    h, m, s = hms.split(':')[:3]
    return int(h) * 3600 + int(m) * 60 + float(s)
ok, failed = int(col('SuccessfulCall(C)')), int(col('FailedCall(C)'))
# Seconds in which SIPp was creating calls: the steady state, without ramp-down.
steady = sorted(int(r[head.index('SuccessfulCall(P)')]) for r in rows[2:] if float(r[head.index('CallRate(P)')]) > 0)
median = steady[len(steady) // 2] if steady else 0
retrans = int(col('Retransmissions(C)'))
elapsed = secs(col('ElapsedTime(C)'))
print(f"offered rate         {sys.argv[2]} REGISTER/s (each through a 401 challenge)")
print(f"completed            {ok} registrations in {elapsed:.1f} s = {ok / elapsed:.0f} REGISTER/s")
print(f"steady state         {median} REGISTER/s completed (median of {len(steady)} one-second samples)")
print(f"failed               {failed}")
print(f"SIPp retransmissions {retrans}")
cpu = float(sys.argv[3])
print(f"engine CPU time      {cpu:.1f} s on its one core = {ok / cpu:.0f} REGISTER/s per CPU-second")
print(f"engine peak RSS      {float(sys.argv[4]):.0f} MiB")
PY
