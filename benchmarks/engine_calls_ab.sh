#!/bin/bash
# A/B of benchmarks/engine_calls.py between two trees (git worktrees), for a loaded machine:
# each round runs both trees at the same time, so both see the same load, and prints the CPU per
# call inside the engine of each and their ratio B/A. Report the median of the ratios.
#
#   benchmarks/engine_calls_ab.sh A_TREE B_TREE [rounds 5] [calls 1000] [runs 3]
#
# Both trees should carry the same benchmarks/engine_calls.py (copy it, with ua_messages.py, into
# the older one).
set -eu
A=$1; B=$2; R=${3:-5}; C=${4:-1000}; N=${5:-3}
out=$(mktemp -d)
server() { sed -n 's/.*engine.*median \([0-9]*\) us.*/\1/p' "$1" | tail -1; }
for r in $(seq "$R"); do
  (cd "$A" && PYTHONPATH="$A" python3 benchmarks/engine_calls.py "$C" "$N" > "$out/a") &
  pa=$!
  (cd "$B" && PYTHONPATH="$B" python3 benchmarks/engine_calls.py "$C" "$N" > "$out/b") &
  pb=$!
  wait "$pa" "$pb"
  a=$(server "$out/a"); b=$(server "$out/b")
  echo "round $r  A $a us  B $b us  B/A $(python3 -c "print(round($b / $a, 3))")"
done
rm -r "$out"
