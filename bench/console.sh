#!/usr/bin/env bash
# Console benchmark: what 100 wallboards watching live cost the engine's core while it runs
# 1,000 calls per second. The release binary is pinned to core 0 (all its threads: the
# engine's loop, the API and consoles' thread, the call-record writer); examples/call_load
# and the simulated wallboards (bench/sse_clients.py: one supervisor's session, N SSE
# connections to /console/live/wallboard, everything read) on core 1. Runs alternate, each on
# a fresh engine: calls alone, then calls with N wallboards connected from two seconds
# before the calls start until after they end. Prints per run the engine process's CPU, its
# main thread's and the API thread's, and what the wallboards received; then the medians of
# each mode and what the wallboards added, as a share of the engine's core over the load.
# Usage: bench/console.sh [RATE] [SECONDS] [CLIENTS] [RUNS] [AGENTS]   (defaults: 1000 10 100 3 400)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rate=${1:-1000}
secs=${2:-10}
clients=${3:-100}
runs=${4:-3}
agents=${5:-400}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -q --bin switchboard --example call_load
full_path_setup "$agents"

# ticks TID: utime + stime of the engine's thread TID (the process when TID is the pid).
ticks() {
  awk '{ print $14 + $15 }' "/proc/$engine/task/$1/stat" 2>/dev/null || echo 0
}

api_thread() {
  for t in /proc/$engine/task/*; do
    [ "$(cat "$t/comm")" = "sb-api" ] && { echo "${t##*/}"; return; }
  done
}

hz=$(getconf CLK_TCK)
# secs A B: (B - A) ticks in seconds.
secs_of() { awk -v a="$1" -v b="$2" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }'; }
for run in $(seq 1 "$runs"); do
  for mode in calls wallboards; do
    hport=$(free_sip_port)
    bench_engine --set rtp.port_range=20000-40000 --set acd.wrap_up_seconds=0 --set rtp.timer_spin_ms=0 \
      --set "http.listen=127.0.0.1:$hport"
    clients_pid=
    if [ "$mode" = wallboards ]; then
      taskset -c 1 python3 bench/sse_clients.py "127.0.0.1:$hport" supervisor demo-supervisor \
        "$clients" $((secs + 4)) >"$work/sse.txt" 2>&1 &
      clients_pid=$!
      sleep 2
    fi
    api=$(api_thread)
    t0=$(date +%s.%N)
    p0=$(awk '{ print $14 + $15 }' "/proc/$engine/stat"); m0=$(ticks "$engine"); a0=$(ticks "$api")
    taskset -c 1 target/release/examples/call_load --engine "127.0.0.1:$port" --rate "$rate" \
      --duration "$secs" --hold 200 --agents "$agents" --first-agent 3000 --number 8100 >"$work/load.txt" 2>&1 || true
    p1=$(awk '{ print $14 + $15 }' "/proc/$engine/stat"); m1=$(ticks "$engine"); a1=$(ticks "$api")
    t1=$(date +%s.%N)
    echo "$mode $(secs_of "$p0" "$p1") $(secs_of "$m0" "$m1") $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" >>"$work/runs.txt"
    [ -z "$clients_pid" ] || wait "$clients_pid" || true
    completed=$(grep -m1 '^completed' "$work/load.txt" | awk '{ print $2 }')
    placed=$(grep -m1 '^calls' "$work/load.txt" | awk '{ print $2 }')
    printf '%s run %d %-10s calls %s/%s; over the load: process %s s, main thread %s s, API thread %s s; %s\n' \
      "$(date +%T)" "$run" "$mode" "$completed" "$placed" \
      "$(secs_of "$p0" "$p1")" "$(secs_of "$m0" "$m1")" "$(secs_of "$a0" "$a1")" \
      "$( [ "$mode" = wallboards ] && cat "$work/sse.txt" || echo "no wallboards")"
    stop_engine
    engine=
  done
done

# Medians per mode; the wallboards' cost = (process CPU with - without) / the load's length.
python3 - "$work/runs.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    mode, proc, main, wall = line.split()
    runs.setdefault(mode, []).append((float(proc), float(main), float(wall)))
med = {m: [statistics.median(r[i] for r in rs) for i in range(3)] for m, rs in runs.items()}
c, w = med["calls"], med["wallboards"]
print(f"median over {len(runs['calls'])} runs each: calls alone process {c[0]:.2f} s (main thread {c[1]:.2f} s) "
      f"in {c[2]:.1f} s; with wallboards {w[0]:.2f} s ({w[1]:.2f} s) in {w[2]:.1f} s")
print(f"the wallboards added {w[0] - c[0]:+.2f} s of the engine's core ({100 * (w[0] - c[0]) / c[2]:+.1f} % of the core "
      f"over the load; main thread {100 * (w[1] - c[1]) / c[2]:+.1f} %)")
PY
