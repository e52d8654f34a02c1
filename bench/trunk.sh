#!/usr/bin/env bash
# Trunk benchmark: the same calls through a real Kamailio carrier and from extensions, side
# by side in one run. The release binary is pinned to core 0; Kamailio (tests/kamailio/
# carrier.cfg, the trunk registered with digest) and SIPp to core 1. Four loads, one after
# the other, each RATE calls per second for SECONDS, each call HOLD_MS long:
#   in, carrier     SIPp patients -> Kamailio -> the hospital's number (DID) -> the IVR
#   in, extension   SIPp as extension 1001 (digest) -> 8000 -> the IVR
#   out, carrier    SIPp as operator 1100 (digest) -> 9 + a local number -> the dial plan ->
#                   Kamailio (407, answered with the trunk's credentials) -> a SIPp phone
#   out, extension  SIPp as operator 1100 (digest) -> extension 2001 (a registered SIPp)
# Prints per load the calls completed and failed, the completed rate, and the engine's CPU per
# call (utime + stime over the load / calls completed), and Kamailio's for the carrier loads.
# Usage: bench/trunk.sh [RATE] [SECONDS] [HOLD_MS]      (defaults: 100 10 1000)
# SWITCHBOARD_BIN runs another build; ONLY=TEXT runs the loads whose name holds TEXT;
# PERF=1 records the engine with `perf record -g` into the kept scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100}
secs=${2:-10}
hold=${3:-1000}
for tool in sipp kamailio; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/test.sh installs it)"; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -q --bin switchboard
source bench/lib.sh
work=$(mktemp -d)
engine=
carrier=
trap 'stop_engine; [ -z "$carrier" ] || kill -KILL -- "-$carrier" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"; [ -z "${KEEP:-}" ] || echo "kept $work"' EXIT
port=$(free_sip_port)
kport=$(free_sip_port)
nport=$(free_sip_port)
xport=$(free_sip_port)
password=bench-trunk-secret

# The carrier, in its own process group (its workers die with it).
setsid taskset -c 1 kamailio -f tests/kamailio/carrier.cfg -DD -E -m 64 -M 8 -x tlsf -n 1 \
  -Y "$work" -P "$work/kamailio.pid" -l "udp:127.0.0.2:$kport" \
  -A "PASSWORD=\"$password\"" -A "NETWORK=\"sip:127.0.0.3:$nport\"" -A "CTL=\"unix:$work/ctl\"" \
  >/dev/null 2>"$work/kamailio.log" &
carrier=$!

python3 - "$port" "$kport" "$password" "$PWD" >"$work/switchboard.toml" <<'PY'
import sys
port, kport, password, root = sys.argv[1:]
text = open(f"{root}/config/switchboard.toml").read()
text = text.replace('dialplans = "../dialplans"', f'dialplans = "{root}/dialplans"')
text = text.replace('prompts = "../prompts"', f'prompts = "{root}/prompts"')
text += f'''
[outside]
per_extension = 0

[[trunks]]
name = "carrier-a"
address = "127.0.0.2:{kport}"
domain = "carrier.test"
numbers = "e164"
dids = {{ "+862088880000" = "8000" }}
caller_id = "+862088880000"
options_seconds = 30

[trunks.register]
user = "hospital"
password = "{password}"
expires = 600

[[outbound]]
name = "local"
patterns = ["9NXXXXXXX"]
roles = ["operator"]
strip = 1
prepend = "020"
'''
sys.stdout.write(text)
PY

SWITCHBOARD_LOG=warn taskset -c 0 "${SWITCHBOARD_BIN:-target/release/switchboard}" serve \
  --config "$work/switchboard.toml" --set "sip.listen=127.0.0.1:$port" \
  --set "store.path=$work/sb.db" --set http.listen=127.0.0.1:0 \
  --set rtp.port_range=20000-29999 --set ivr.clock_start=2026-11-23T10:00:00+08:00 \
  --set sip.qualify_seconds=3600 ${SPIN:+--set rtp.timer_spin_ms=$SPIN} 2>"$work/engine.log" &
engine=$!
for _ in $(seq 50); do
  [ "$(grep -c 'CARRIER-REG expires=600' "$work/kamailio.log" 2>/dev/null)" -ge 2 ] && break
  sleep 0.2
done
grep -q 'CARRIER-REG expires=600' "$work/kamailio.log" || { echo "the trunk did not register"; cat "$work/engine.log"; exit 1; }

# Extension 2001, for the calls between extensions: registered from the port its SIPp
# answers on.
(cd "$work" && taskset -c 1 sipp -sf "$OLDPWD/tests/sipp/register.xml" -s 2001 -au 2001 -ap demo-2001 \
  -m 1 -i 127.0.0.3 -p "$xport" -nostdin -timeout 10s "127.0.0.1:$port" >/dev/null 2>&1)

total=$((rate * secs))
perf_pid=
if [ -n "${PERF:-}" ]; then
  KEEP=1
  perf record -F 999 -g -p "$engine" -o "$work/perf.data" >/dev/null 2>&1 &
  perf_pid=$!
fi
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The carrier's CPU: every process of its group.
carrier_cpu() {
  awk -v g="$carrier" '{ split($0, a, ") "); split(a[2], f, " "); if (f[3] == g) s += f[12] + f[13] } END {print s + 0}' /proc/[0-9]*/stat 2>/dev/null
}

# run NAME SCENARIO SERVICE TARGET LOCAL_IP [SIPP ARGS...]: one load; a SIPp phone answers at
# 127.0.0.3 ($nport for the carrier's calls out, $xport for extension 2001) meanwhile.
run() {
  local name=$1 scenario=$2 service=$3 target=$4 local_ip=$5
  shift 5
  [[ "$name" == *"${ONLY:-}"* ]] || return 0
  local answer=
  if [ "$name" = "out, carrier" ] || [ "$name" = "out, extension" ]; then
    local aport=$nport
    [ "$name" = "out, extension" ] && aport=$xport
    (cd "$work" && taskset -c 1 sipp -sn uas -i 127.0.0.3 -p "$aport" -mi 127.0.0.3 -mp 40000 \
      -nostdin -timeout $((secs * 3 + 30))s -bg >/dev/null 2>&1) || true
    answer=1
    sleep 0.5
  fi
  sed "s/HOLD_MS/$hold/" "tests/sipp/$scenario" >"$work/$scenario"
  local e0 c0 e1 c1
  e0=$(cpu_of "$engine")
  c0=$(carrier_cpu)
  (cd "$work" && taskset -c 1 sipp -sf "$scenario" -s "$service" "$@" -r "$rate" -m "$total" \
    -l $((rate * (hold / 1000 + 10))) -i "$local_ip" -mi "$local_ip" -nostdin \
    -timeout $((secs * 3 + 30))s -trace_stat -stf "stat-${name// /}.csv" -fd 1 "$target" >/dev/null 2>&1) || true
  e1=$(cpu_of "$engine")
  c1=$(carrier_cpu)
  [ -z "$answer" ] || pkill -f "sipp -sn uas -i 127.0.0.3" || true
  python3 - "$work/stat-${name// /}.csv" "$name" "$rate" $((e1 - e0)) $((c1 - c0)) <<'PY'
import csv, sys
path, name, rate, engine_ticks, carrier_ticks = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rows = list(csv.reader(open(path), delimiter=';'))
head, last = rows[0], rows[-1]
col = lambda c: last[head.index(c)]
ok, failed = int(col('SuccessfulCall(C)')), int(col('FailedCall(C)'))
steady = sorted(int(r[head.index('SuccessfulCall(P)')]) for r in rows[2:] if float(r[head.index('CallRate(P)')]) > 0)
median = steady[len(steady) // 2] if steady else 0
per_call = engine_ticks * 10 / ok if ok else float('nan')
line = f"{name:<15} offered {rate}/s: {ok} completed, {failed} failed, {median} calls/s completed (median second); engine {engine_ticks * 10} ms CPU = {per_call:.2f} ms per call"
if name.endswith("carrier"):
    line += f"; Kamailio {carrier_ticks * 10} ms = {carrier_ticks * 10 / ok if ok else float('nan'):.2f} ms per call"
print(line)
PY
}

run "in, carrier" carrier_call.xml +862088880000 "127.0.0.2:$kport" 127.0.0.4
run "in, extension" dial_out.xml 8000 "127.0.0.1:$port" 127.0.0.1 \
  -au 1001 -ap demo-1001 -auth_uri "8000@127.0.0.1:$port"
run "out, carrier" dial_out.xml 922345678 "127.0.0.1:$port" 127.0.0.1 \
  -au 1100 -ap demo-1100 -auth_uri "922345678@127.0.0.1:$port"
run "out, extension" dial_out.xml 2001 "127.0.0.1:$port" 127.0.0.1 \
  -au 1100 -ap demo-1100 -auth_uri "2001@127.0.0.1:$port"
echo "engine peak RSS   $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$engine/status") MiB"
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  echo "perf report -i $work/perf.data"
fi
