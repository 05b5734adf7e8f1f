#!/usr/bin/env bash
# Quick start: install dependencies, build rostersyncd, and run it on embedded defaults
# (deploy/quickstart.toml) in the foreground. Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target rostersyncd

config=deploy/quickstart.toml
./build/release/daemon/app/rostersyncd --check-config "$config"

./build/release/daemon/app/rostersyncd --config "$config" &
pid=$!
# Ctrl-C reaches the daemon directly (same process group); forwarding it again would count as a
# second signal and force the stop. A TERM sent to this script alone is passed on.
trap ':' INT
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM

url=http://127.0.0.1:9464
for _ in $(seq 1 150); do
  if curl -fsS "$url/readyz" >/dev/null 2>&1; then
    cat <<MSG

  rostersyncd is ready (pid $pid).
    metrics:    $url/metrics
    health:     $url/healthz   readiness: $url/readyz
    reload:     kill -HUP $pid   (re-reads $config)
    stop:       press Ctrl-C, or kill -TERM $pid

MSG
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "rostersyncd exited during start-up; its log is above." >&2
    wait "$pid" || exit $?
  fi
  sleep 0.2
done

# Ctrl-C interrupts the first wait (the trap forwards SIGTERM); the second collects the exit code.
set +e
wait "$pid"
rc=$?
if ((rc > 128)); then
  wait "$pid"
  rc=$?
fi
exit "$rc"
