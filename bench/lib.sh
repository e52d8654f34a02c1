# Shared by the benchmarks; source it from the repository root after `set -euo pipefail`.

# stop_engine: stops $engine at once and waits for it. The first signal begins the graceful
# stop (new calls refused, calls in progress given shutdown.grace_seconds); the second ends
# it, so an engine left with thousands of calls does not go on using the core under the
# next run.
stop_engine() {
  [ -n "${engine:-}" ] || return 0
  kill "$engine" 2>/dev/null || return 0
  sleep 0.2
  kill "$engine" 2>/dev/null || true
  wait "$engine" 2>/dev/null || true
}

# free_sip_port: a free UDP port for the engine's SIP, below the ephemeral range (32768 and
# up) where the load tools bind thousands of media ports: an ephemeral pick once landed on
# one of them.
free_sip_port() {
  python3 - <<'PY'
import random, socket
for _ in range(1000):
    p = random.randrange(15000, 20000)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", p))
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break
PY
}

# bench_setup AGENTS < FLOW: a scratch directory ($work) with the shipped dialplans and
# prompts, the flow on standard input as dialplans/bench.toml (number 8100), and the demo
# configuration plus AGENTS bench agents 3000, 3001, ... (password bench-EXT-pass), all in a
# queue "bench" that never overflows (the benchmarks measure calls, not overflow); $port is
# a free SIP port. Removes $work and stops $engine on exit (KEEP=1 keeps $work).
bench_setup() {
  work=$(mktemp -d)
  engine=
  trap 'stop_engine; [ -n "${KEEP:-}" ] || rm -rf "$work"; [ -z "${KEEP:-}" ] || echo "kept $work"' EXIT
  mkdir -p "$work/config" "$work/dialplans"
  ln -s "$PWD/prompts" "$work/prompts"
  cp dialplans/*.toml "$work/dialplans/"
  cat >"$work/dialplans/bench.toml"
  python3 - "$1" config/switchboard.toml >"$work/config/switchboard.toml" <<'PY'
import sys
n = int(sys.argv[1])
out = [open(sys.argv[2]).read()]
for k in range(n):
    ext = 3000 + k
    out.append(f'\n[[extensions]]\nnumber = "{ext}"\nname = "Bench agent {ext}"\nkind = "agent"\npassword = "bench-{ext}-pass"\n')
agents = ", ".join(f'"{3000 + k}"' for k in range(n))
out.append(f'\n[[queues]]\nname = "bench"\nagents = [{agents}]\nmax_waiting = 100000\nmax_wait_seconds = 3600\n')
sys.stdout.write("".join(out))
PY
  port=$(free_sip_port)
}

# full_path_setup AGENTS: bench_setup with the full call path's flow: number 8100, a menu
# that plays the greeting, digit 2 (RFC 4733) into the queue of all the agents.
full_path_setup() {
  bench_setup "$1" <<'TOML'
# The benchmark's number: the greeting as a menu (digits barge in), 2 into the bench queue.
[flow]
name = "bench"
numbers = ["8100"]
start = "menu"

[[node]]
id = "menu"
kind = "menu"
prompts = ["greeting"]
choices = { "2" = "queue" }
timeout_ms = 6000
retries = 1
on_failure = "bye"

[[node]]
id = "queue"
kind = "queue"
queue = "bench"
prompts = ["transferring"]

[[node]]
id = "bye"
kind = "hangup"
TOML
}

# bench_engine [--set KEY=VALUE ...]: the release engine on that configuration, pinned to
# core 0, inside opening hours; sets $engine and gives it two seconds to start.
# SWITCHBOARD_BIN runs another build instead (a copy of an earlier one, to compare two
# versions in alternating runs).
bench_engine() {
  SWITCHBOARD_LOG=warn taskset -c 0 "${SWITCHBOARD_BIN:-target/release/switchboard}" serve --config "$work/config/switchboard.toml" \
    --set "sip.listen=127.0.0.1:$port" --set "store.path=$work/sb.db" --set http.listen=127.0.0.1:0 \
    --set ivr.clock_start=2026-11-23T10:00:00+08:00 "$@" 2>"$work/engine.log" &
  engine=$!
  sleep 2
}

# demo_engine [--set KEY=VALUE ...]: a scratch directory ($work, removed on exit unless
# KEEP=1) and the release engine on the embedded demo configuration, pinned to core 0 at a
# free SIP port ($port), its store in $work; sets $engine (stopped on exit) and gives it a
# second to start. SWITCHBOARD_BIN runs another build instead.
demo_engine() {
  work=$(mktemp -d)
  trap 'stop_engine; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
  port=$(free_sip_port)
  SWITCHBOARD_LOG=warn taskset -c 0 "${SWITCHBOARD_BIN:-target/release/switchboard}" serve \
    --set "sip.listen=127.0.0.1:$port" --set "store.path=$work/sb.db" --set http.listen=127.0.0.1:0 \
    "$@" 2>"$work/engine.log" &
  engine=$!
  sleep 1
}
