#!/usr/bin/env bash
# Two builds side by side on this machine: REV (an earlier commit) and the working tree, in
# ROUNDS rounds of a benchmark SCRIPT, alternating (the earlier build first in each round) so
# that both see the same state of the machine. The earlier build is made from a git worktree
# into the shared target directory (the dependencies are compiled once) and copied to
# target/versus/switchboard-REV; the load tools are the working tree's for both. Each run's
# output is printed under a header naming its round and build.
# Usage: bench/versus.sh REV ROUNDS SCRIPT [ARGS...]
#   e.g. bench/versus.sh d0cf289 3 bench/ivr.sh 3000 10
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$(git rev-parse --short "$1")
rounds=$2
script=$3
shift 3
old="$PWD/target/versus/switchboard-$rev"
if [ ! -x "$old" ]; then
  tree="$PWD/target/versus/tree-$rev"
  rm -rf "$tree"
  git worktree prune
  git worktree add --detach "$tree" "$rev" >/dev/null
  (cd "$tree" && CARGO_TARGET_DIR="$PWD/../.." cargo build --release -q --bin switchboard)
  cp target/release/switchboard "$old"
  git worktree remove --force "$tree"
fi
cargo build --release -q --bin switchboard
for r in $(seq 1 "$rounds"); do
  for who in "$rev" this; do
    echo "=== round $r: $who"
    if [ "$who" = this ]; then
      SWITCHBOARD_BIN= "$script" "$@"
    else
      SWITCHBOARD_BIN="$old" "$script" "$@"
    fi
  done
done
