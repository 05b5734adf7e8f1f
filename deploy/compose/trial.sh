#!/usr/bin/env bash
# Helper of deploy/compose/compose.yaml, run inside its containers (not on the host):
#
#   trial.sh credentials   generate the tool's key and its JWK set (once; kept in the volume)
#   trial.sh lms-sim       run the simulated platform as canvas.test, registering that JWK set
#   trial.sh course-seen   publish a CourseSeen event per simulated course, every $INTERVAL s
#
# The credentials volume is mounted at $TRIAL_DIR (default /var/lib/rostersync) in every one of
# them; they all run as uid 10001, the image's rostersync user, which owns it.
set -euo pipefail

dir=${TRIAL_DIR:-/var/lib/rostersync}
client_id=${CLIENT_ID:-10000000000001}
kid=${KEY_ID:-compose-1}

credentials() {
  cd "$dir"
  if [[ -f tool-key.pem && -f tool-jwks.json ]]; then
    echo "trial: tool-key.pem and tool-jwks.json already exist in $dir"
    return 0
  fi
  rm -f tool-key.pem tool-jwks.json
  local jwk
  jwk=$(rostersync keygen --out tool-key.pem --kid "$kid")
  printf '{"keys":[%s]}\n' "$jwk" >tool-jwks.json
  echo "trial: wrote $dir/tool-key.pem and its JWK set (kid $kid)"
}

lms_sim() {
  rm -f "$dir/lms-sim-ca.pem" "$dir/lms-sim.out"
  # The listing (memberships URLs and context ids of the generated courses) goes to the log and to
  # lms-sim.out, which the healthcheck and the course-seen publisher read. exec keeps the
  # simulator as PID 1, so that `docker compose stop` reaches it.
  exec rostersync-lms-sim \
    --listen "0.0.0.0:${SIM_PORT:-8443}" --tls --ca-out "$dir/lms-sim-ca.pem" \
    --host "${SIM_HOST:-canvas.test}" \
    --courses "${SIM_COURSES:-20}" --course-size "${SIM_COURSE_SIZE:-40}" \
    --client-jwks "$client_id=$dir/tool-jwks.json" \
    --throttle "${SIM_THROTTLE:-429}" --retry-after 2 \
    > >(tee "$dir/lms-sim.out")
}

# One CourseSeen per line of the simulator's listing:
#   course 100 (41 members, context 8eae…): https://canvas.test:8443/api/lti/courses/100/names_and_roles
# as "<context key>\t<CourseSeen JSON>" for kafka-console-producer.sh.
events() {
  local issuer=${ISSUER:-https://canvas.test} now id context url
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  sed -n 's/^ *course \([0-9][0-9]*\) ([0-9]* members, context \([0-9a-f]*\)): \(https:[^ ]*\)$/\1 \2 \3/p' \
    "$dir/lms-sim.out" |
    while read -r id context url; do
      printf '%s|%s\t{"issuer":"%s","client_id":"%s","deployment_id":"1:compose","context":{"id":"%s","label":"C%s","title":"Course %s"},"context_memberships_url":"%s","seen_at":"%s","force":false}\n' \
        "$issuer" "$context" "$issuer" "$client_id" "$context" "$id" "$id" "$url" "$now"
    done
}

course_seen() {
  local producer=${KAFKA_BIN:-/opt/kafka/bin}/kafka-console-producer.sh
  local interval=${INTERVAL:-300} n
  while :; do
    n=$(events | wc -l)
    if ((n == 0)); then
      echo "trial: no courses in $dir/lms-sim.out" >&2
      exit 1
    fi
    events | "$producer" --bootstrap-server "${BOOTSTRAP:-kafka:9092}" --topic "${TOPIC:-lti.course-seen}" \
      --property parse.key=true --property $'key.separator=\t'
    echo "trial: published $n CourseSeen events to ${TOPIC:-lti.course-seen}"
    ((interval > 0)) || break
    sleep "$interval"
  done
}

case "${1:-}" in
  credentials) credentials ;;
  lms-sim) lms_sim ;;
  course-seen) course_seen ;;
  *)
    echo "usage: trial.sh credentials|lms-sim|course-seen" >&2
    exit 64
    ;;
esac
