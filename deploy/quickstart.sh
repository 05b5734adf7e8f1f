#!/usr/bin/env bash
# Quick start: the real job on one machine.
#
#   1. installs dependencies (apt) and builds rostersyncd, rostersync and the simulated platform;
#   2. starts the simulated platform (HTTPS, a CA of its own) with a few courses on two hosts;
#   3. starts rostersyncd on embedded Kafka (deploy/quickstart.toml.in plus the platform's details);
#   4. publishes a CourseSeen per course (`rostersync seen`) and shows the membership changes as
#      they are published (`rostersync tail`);
#   5. changes a roster on the platform and shows the events that change produces;
#   6. keeps everything running until Ctrl-C (the daemon's log is in $work/rostersyncd.log).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# QUICKSTART_PRESET=dev reuses a dev (ASan) build instead of building the release preset.
preset=${QUICKSTART_PRESET:-release}
bash .ci/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target rostersyncd rostersync rostersync-lms-sim

bin=$root/build/$preset
daemon=$bin/daemon/app/rostersyncd
cli=$bin/daemon/app/rostersync
sim=$bin/tests/lms_sim/rostersync-lms-sim

work=$(mktemp -d /tmp/rostersync-quickstart.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tool's key, registered with the platform by its JWK set.
"$cli" keygen --out "$work/tool-key.pem" --kid quickstart >"$work/keygen.out"
jwk=$(grep -o '{"kty".*}' "$work/keygen.out")
printf '{"keys":[%s]}\n' "$jwk" >"$work/jwks.json"

# The platform: two hosts, four courses, Canvas's throttle.
"$sim" --tls --ca-out "$work/ca.pem" --host school.test --host college.test --courses 4 --course-size 30 \
  --client-jwks "10000000000001=$work/jwks.json" >"$work/sim.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^ready' "$work/sim.out" && break; sleep 0.1; done
port=$(grep -o 'listening on https://127.0.0.1:[0-9]*' "$work/sim.out" | grep -o '[0-9]*$')

sed "s|@WORK@|$work|g; s|@PORT@|$port|g" deploy/quickstart.toml.in >"$work/rostersync.toml"
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/admin.token")
"$daemon" --check-config "$work/rostersync.toml"
"$daemon" --config "$work/rostersync.toml" 2>"$work/rostersyncd.log" &
pids+=($!)
daemon_pid=$!

url=http://127.0.0.1:9464
for _ in $(seq 1 300); do
  curl -fsS "$url/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "rostersyncd exited during start-up:" >&2
    cat "$work/rostersyncd.log" >&2
    exit 1
  fi
  sleep 0.2
done
bootstrap=$(grep -o 'bootstrap=[0-9.:]*' "$work/rostersyncd.log" | head -1 | cut -d= -f2)
# The embedded cluster's partitions are assigned a few seconds after start (the first group join).
for _ in $(seq 1 300); do
  curl -fsS "$url/metrics" 2>/dev/null | grep -q '^rostersync_partitions{phase="live"} 4' && break
  sleep 0.2
done

cat <<MSG

  rostersyncd is ready (pid $daemon_pid), on embedded Kafka at $bootstrap.
    status:    $url/   (open it in a browser: budgets, passes, held and parked contexts, partitions)
    metrics:   $url/metrics          health: $url/healthz   readiness: $url/readyz
    admin:     $cli status --config $work/rostersync.toml
    log:       $work/rostersyncd.log

  Publishing a CourseSeen for each course; the membership changes follow as they are published.

MSG

"$cli" tail --brokers "$bootstrap" --from-beginning &
pids+=($!)

i=0
while read -r id _ context; do
  host=school.test
  ((i % 2)) && host=college.test
  i=$((i + 1))
  "$cli" seen --config "$work/rostersync.toml" --brokers "$bootstrap" --platform canvas \
    --context-id "$context" --label "COURSE-$id" \
    --memberships-url "https://$host:$port/api/lti/courses/$id/names_and_roles" >/dev/null
done < <(sed -n 's/^  course \([0-9]*\) (\([0-9]*\) members,.* context \([0-9a-f]*\)).*/\1 \2 \3/p' "$work/sim.out")

published() {
  curl -fsS "$url/metrics" 2>/dev/null |
    awk '/^rostersync_changes_published_total/ { n += $2 } END { print n + 0 }'
}
passes() {
  curl -fsS "$url/metrics" 2>/dev/null |
    awk '/^rostersync_sync_passes_total/ { n += $2 } END { print n + 0 }'
}
# Every course's first pass (the simulator's member counts include Canvas's hidden test student).
for _ in $(seq 1 300); do (($(passes) >= i)) && break; sleep 0.2; done
sleep 1  # let tail print the last lines before the next banner

first=$(sed -n 's/^  course \([0-9]*\) .*/\1/p' "$work/sim.out" | head -1)
context=$(sed -n "s/^  course $first ([0-9]* members,.* context \([0-9a-f]*\)).*/\1/p" "$work/sim.out")
cat <<MSG

  $(published) members added. Now course $first changes on the platform: two join, one leaves,
  one changes role. A new CourseSeen (a launch) makes the daemon look; the removal is published
  after a second, confirming pass.

MSG
before=$(published)
changes=$(curl -fsS --cacert "$work/ca.pem" --resolve "school.test:$port:127.0.0.1" \
  -X POST -H 'Content-Type: application/json' -d '{"joins": 2, "drops": 1, "role_changes": 1}' \
  "https://school.test:$port/_sim/courses/$first/churn" | grep -o '"type"' | wc -l)
"$cli" seen --config "$work/rostersync.toml" --brokers "$bootstrap" --platform canvas \
  --context-id "$context" --label "COURSE-$first" --force \
  --memberships-url "https://school.test:$port/api/lti/courses/$first/names_and_roles" >/dev/null
for _ in $(seq 1 300); do (($(published) >= before + changes)) && break; sleep 0.2; done
sleep 1

cat <<MSG

  Done: $(published) changes published. Everything keeps running — try
    $cli status --config $work/rostersync.toml
    $cli tail --brokers $bootstrap --from-beginning --count 5 --verbose
    curl -s $url/metrics | grep rostersync_
  Ctrl-C stops it all.

MSG
wait "$daemon_pid"
