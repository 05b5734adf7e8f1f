#!/usr/bin/env bash
# The end-to-end benchmark in one command (benchmarks/README.md):
#
#   benchmarks/e2e/run.sh [--quick] [--build-dir DIR] [--out DIR] [-- harness options…]
#
# Builds rostersyncd, the mock Kafka cluster, the simulated platform, naive_driver and the harness
# with the `release` preset (or in an existing build folder given with --build-dir), runs every
# scenario (bulk, throttle, restart, scale-out), writes DIR/<scenario>.json (default
# benchmarks/results) and plots DIR/<scenario>.png with gnuplot. Needs valgrind for the
# instruction counts and gnuplot for the plots (both in .ci/setup.sh); --quick shrinks every
# scenario (about 8 minutes on 2 cores). Options after `--` go to the harness
# (rostersync_e2e_bench --help), e.g. `-- --scenario throttle --throttle-seconds 120`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build=""
out="$root/benchmarks/results"
harness_args=()
while (($#)); do
  case "$1" in
    --quick) harness_args+=(--quick) ;;
    --build-dir) build="$2"; shift ;;
    --out) out="$2"; shift ;;
    --) shift; harness_args+=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done

targets=(rostersyncd rostersync rostersync-kafka-mock rostersync-lms-sim rostersync_naive_driver rostersync_e2e_bench)
if [[ -z "$build" ]]; then
  build="$root/build/release"
  [[ -f "$build/CMakeCache.txt" ]] || cmake --preset release -S "$root" >/dev/null
fi
cmake --build "$build" -j2 --target "${targets[@]}"

mkdir -p "$out"
if ! command -v valgrind >/dev/null; then
  echo "run.sh: valgrind not found: no instruction counts (bash .ci/setup.sh installs it)" >&2
  harness_args+=(--no-callgrind)
fi
# Plot whatever was measured even when a run was invalid (exit 2); exit with the harness's status.
status=0
# On a shared machine, other builds would stretch the timings: as root, the harness (and the
# daemons, simulator and mock cluster it starts) runs at a higher priority.
priority=()
if [[ $(id -u) == 0 ]]; then priority=(nice -n -15); fi
"${priority[@]}" "$build/benchmarks/rostersync_e2e_bench" --out "$out" "${harness_args[@]}" || status=$?

if command -v gnuplot >/dev/null; then
  for s in bulk throttle restart scaleout; do
    if [[ -f "$out/$s.json" ]]; then
      gnuplot -e "dir='$out'" "$here/plot_$s.gp" && echo "plot: $out/$s.png"
    fi
  done
else
  echo "run.sh: gnuplot not found: no plots (bash .ci/setup.sh installs gnuplot-nox)" >&2
fi
exit "$status"
