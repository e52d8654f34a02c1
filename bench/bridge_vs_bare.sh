#!/usr/bin/env bash
# The engine against its baseline, side by side: RUNS rounds of bench/bridge.sh, each round
# one engine run and one bare-relay run (BARE=1: the engine's media sockets with no engine
# behind them), alternating so that both see the same state of the machine. Prints each
# run, then the medians and the engine's cost per forwarded packet as a ratio of the bare
# relay's.
# Usage: [SPIN_MS=0] bench/bridge_vs_bare.sh [RUNS] [CALLS] [SECONDS]   (defaults: 3 1500 10)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
calls=${2:-1500}
secs=${3:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq 1 "$runs"); do
  for who in engine bare; do
    if [ "$who" = bare ]; then bare=1; else bare=; fi
    line=$(BARE=$bare SPIN_MS=${SPIN_MS:-0} bench/bridge.sh "$calls" "$secs" 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
def get(p):
    m = re.search(p, t)
    return m.group(1) if m else "nan"
print(get(r"\(lost (\d+):"), get(r"CPU while measuring: .*?\((\d+) % of its core"),
      get(r"([\d.]+) us per forwarded packet"), get(r"added jitter .*? p99 (\d+) us"))
')
    echo "$who $line" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(who, k):
    v = [float(r[k]) for r in rows if r[0] == who and r[k] != "nan"]
    return st.median(v) if v else float("nan")
print("median over %d rounds   lost  core %%  us/packet  p99 added jitter (us)" % (len(rows) // 2))
for who in ("engine", "bare"):
    print("%-22s %5.0f  %6.0f  %9.2f  %8.0f" % (who, med(who, 1), med(who, 2), med(who, 3), med(who, 4)))
pairs = [(float(a[3]), float(b[3])) for a, b in zip(rows[0::2], rows[1::2])
         if a[0] == "engine" and b[0] == "bare" and a[3] != "nan" and b[3] != "nan"]
if pairs:
    ratios = [e / b for e, b in pairs]
    print("engine / bare relay, us per packet: median %.2f (rounds: %s)"
          % (st.median(ratios), ", ".join("%.2f" % r for r in ratios)))
PY
