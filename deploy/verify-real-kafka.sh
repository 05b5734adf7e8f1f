#!/usr/bin/env bash
# verify-real-kafka.sh — the checks librdkafka's mock cluster cannot make, run against a real
# Kafka cluster that the operator points it at:
#
#   1. topic creation through the Admin API: rostersyncd starts with `brokers` = that cluster and
#      creates its seven topics (names prefixed, so nothing existing is touched); kcat -L must
#      then list each of them with the configured partition count;
#   2. exactly-once (kafka.exactly_once = true): CourseSeen events for the courses of a simulated
#      platform go in, and a read_committed consumer (kcat -X isolation.level=read_committed)
#      must see every member added exactly once — no missing and no repeated change id;
#   3. fencing (FENCING=1): the platform's rosters change, passes are forced, and the owning
#      daemon is frozen (SIGSTOP) while it works; a second one in the same group takes its
#      partitions over and redoes the uncommitted work, and the zombie's transaction must be
#      fenced; the first is thawed, and the read_committed stream must then hold every change
#      exactly once. Notes on what to look for are printed at the end either way.
#
# Usage:
#   deploy/verify-real-kafka.sh [BOOTSTRAP]          (or BOOTSTRAP=host:port,host:port …)
#
# Environment:
#   BOOTSTRAP          the cluster's bootstrap servers (required, here or as the argument)
#   KAFKA_CONFIG       a librdkafka properties file (key=value lines: security.protocol, sasl.*,
#                      ssl.*) used by kcat (-F) and passed to rostersyncd as [kafka.properties]
#   REPLICATION        replication factor of the created topics (default 3; 1 for one broker)
#   PARTITIONS         partitions of the created topics (default 6)
#   PREFIX             topic and group prefix (default rsverify-<time>-)
#   COURSES, COURSE_SIZE   simulated courses and their size (default 4 and 60)
#   FENCING            1: run the fencing scenario too (default 0)
#   TIMEOUT            seconds to wait for each step (default 180)
#   KEEP               1: keep the work directory (configs, logs) for inspection
#   PRECREATED         1: the prefixed topics were created beforehand (where the daemon's ACLs
#                      have no Create): check 1 then checks that the daemon accepts them
#   ROSTERSYNCD, ROSTERSYNC, LMS_SIM   the binaries (default: build/release, then build/dev, then PATH)
#
# Needs: kcat, curl, and the three binaries (rostersync-lms-sim is built with the tests; without
# it only check 1 runs). Exit 0: every check that ran passed; 1: a check failed; 64: bad usage.
# The topics stay on the cluster; the script prints the commands that delete them.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  usage
  exit 0
fi
BOOTSTRAP=${1:-${BOOTSTRAP:-}}
if [[ -z $BOOTSTRAP ]]; then
  echo "verify-real-kafka: give the bootstrap servers: $0 host:port[,host:port…] (or BOOTSTRAP=…)" >&2
  exit 64
fi

REPLICATION=${REPLICATION:-3}
PARTITIONS=${PARTITIONS:-6}
PREFIX=${PREFIX:-rsverify-$(date +%s)-}
COURSES=${COURSES:-4}
COURSE_SIZE=${COURSE_SIZE:-60}
FENCING=${FENCING:-0}
TIMEOUT=${TIMEOUT:-180}
KEEP=${KEEP:-0}
PRECREATED=${PRECREATED:-0}
KAFKA_CONFIG=${KAFKA_CONFIG:-}

repo=$(cd "$(dirname "$0")/.." && pwd)

find_binary() { # find_binary NAME RELATIVE_PATH
  local name=$1 rel=$2 preset
  for preset in release dev; do
    if [[ -x $repo/build/$preset/$rel ]]; then
      echo "$repo/build/$preset/$rel"
      return 0
    fi
  done
  command -v "$name" || true
}
ROSTERSYNCD=${ROSTERSYNCD:-$(find_binary rostersyncd daemon/app/rostersyncd)}
ROSTERSYNC=${ROSTERSYNC:-$(find_binary rostersync daemon/app/rostersync)}
LMS_SIM=${LMS_SIM:-$(find_binary rostersync-lms-sim tests/lms_sim/rostersync-lms-sim)}

for tool in kcat curl; do
  command -v "$tool" >/dev/null || { echo "verify-real-kafka: $tool is missing (apt-get install $tool)" >&2; exit 64; }
done
[[ -x $ROSTERSYNCD ]] || { echo "verify-real-kafka: rostersyncd not found; build it or set ROSTERSYNCD" >&2; exit 64; }
[[ -z $KAFKA_CONFIG || -r $KAFKA_CONFIG ]] || { echo "verify-real-kafka: cannot read $KAFKA_CONFIG" >&2; exit 64; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rsverify.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $KEEP == 1 ]]; then
    echo "work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

failures=0
pass() { printf '  PASS  %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*"; failures=$((failures + 1)); }
step() { printf '\n== %s\n' "$*"; }

kcat_() { # kcat with the cluster and its properties
  if [[ -n $KAFKA_CONFIG ]]; then
    kcat -b "$BOOTSTRAP" -F "$KAFKA_CONFIG" "$@"
  else
    kcat -b "$BOOTSTRAP" "$@"
  fi
}

declare -A topic=(
  [course_seen]="${PREFIX}lti.course-seen"
  [course_seen_dlq]="${PREFIX}lti.course-seen.dlq"
  [membership_changes]="${PREFIX}lti.membership-changes"
  [memberships]="${PREFIX}rostersync.memberships"
  [contexts]="${PREFIX}rostersync.contexts"
  [checkpoints]="${PREFIX}rostersync.checkpoints"
  [sync_requests]="${PREFIX}rostersync.sync-requests"
)
group="${PREFIX}rostersync"

# ---- 0. the cluster answers ----
step "cluster $BOOTSTRAP"
if kcat_ -L -m 15 >"$work/metadata-before.txt" 2>&1; then
  pass "metadata: $(grep -c '^ *broker ' "$work/metadata-before.txt" || true) brokers"
else
  cat "$work/metadata-before.txt" >&2
  fail "kcat -L cannot reach $BOOTSTRAP"
  exit 1
fi
existing=$(grep -c "^ *topic \"${PREFIX}" "$work/metadata-before.txt" || true)
if ((existing > 0)) && [[ $PRECREATED != 1 ]]; then
  echo "verify-real-kafka: $existing topics with prefix $PREFIX exist already; choose another PREFIX" >&2
  echo "(or set PRECREATED=1 if they were created for this run)" >&2
  exit 64
fi

# ---- the simulated platform and the tool's key (for check 2) ----
sim_port=""
if [[ -x $LMS_SIM && -x $ROSTERSYNC ]]; then
  (cd "$work" && "$ROSTERSYNC" keygen --out tool-key.pem --kid verify-1 >tool-jwk.json 2>/dev/null)
  printf '{"keys":[%s]}\n' "$(cat "$work/tool-jwk.json")" >"$work/tool-jwks.json"
  "$LMS_SIM" --listen 127.0.0.1:0 --tls --ca-out "$work/lms-sim-ca.pem" --host canvas.test \
    --courses "$COURSES" --course-size "$COURSE_SIZE" --throttle off \
    --client-jwks "10000000000001=$work/tool-jwks.json" >"$work/lms-sim.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -qx ready "$work/lms-sim.out" && break
    sleep 0.1
  done
  grep -qx ready "$work/lms-sim.out" || { cat "$work/lms-sim.out" >&2; echo "lms-sim did not start" >&2; exit 1; }
  sim_port=$(sed -n 's|^lms-sim listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$work/lms-sim.out")
else
  echo "note: rostersync-lms-sim or rostersync not found: only the topic-creation check runs"
fi

# ---- the configuration ----
write_config() { # write_config FILE
  {
    echo "[kafka]"
    echo "brokers = \"$BOOTSTRAP\""
    echo "group_id = \"$group\""
    echo "partitions = $PARTITIONS"
    echo "replication_factor = $REPLICATION"
    echo "exactly_once = true"
    echo
    echo "[kafka.topics]"
    local k
    for k in course_seen course_seen_dlq membership_changes memberships contexts checkpoints sync_requests; do
      echo "$k = \"${topic[$k]}\""
    done
    if [[ -n $KAFKA_CONFIG ]]; then
      echo
      echo "[kafka.properties]"
      local key value
      while IFS='=' read -r key value; do
        [[ -z $key || $key == \#* ]] && continue
        printf '"%s" = "%s"\n' "$key" "${value//\"/\\\"}"
      done <"$KAFKA_CONFIG"
    fi
    echo
    echo "[sync]"
    echo 'min_interval = "1s"'
    echo 'resync_interval = "1h"'
    echo
    echo "[http]"
    echo 'listen = "127.0.0.1:0"'
    if [[ -n $sim_port ]]; then
      echo
      echo "[http.resolve]"
      echo "\"canvas.test:$sim_port\" = \"127.0.0.1:$sim_port\""
      echo
      echo "[[platforms]]"
      echo 'name = "lms-sim"'
      echo 'issuer = "https://canvas.test"'
      echo 'client_id = "10000000000001"'
      echo "token_url = \"https://canvas.test:$sim_port/login/oauth2/token\""
      echo 'private_key_file = "tool-key.pem"'
      echo 'key_id = "verify-1"'
      echo 'allowed_hosts = ["canvas.test"]'
      echo 'ca_file = "lms-sim-ca.pem"'
    fi
    echo
    echo "[daemon]"
    echo 'shutdown_grace = "10s"'
  } >"$1"
}
write_config "$work/rostersync.toml"
"$ROSTERSYNCD" --check-config "$work/rostersync.toml"

start_daemon() { # start_daemon NAME — starts rostersyncd, waits for "ready", sets $daemon_pid
  local name=$1 url
  "$ROSTERSYNCD" --config "$work/rostersync.toml" >"$work/$name.log" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
  for _ in $(seq 1 $((TIMEOUT * 5))); do
    url=$(grep -o 'metrics_url=[^ ]*' "$work/$name.log" | head -n 1 | cut -d= -f2 || true)
    [[ -n $url ]] && break
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
      cat "$work/$name.log" >&2
      fail "$name exited during start-up (log above)"
      exit 1
    fi
    sleep 0.2
  done
  if [[ -z $url ]]; then
    tail -n 30 "$work/$name.log" >&2
    fail "$name not ready within ${TIMEOUT}s"
    exit 1
  fi
  curl -fsS "${url%/metrics}/readyz" >/dev/null && pass "$name ready (${url%/metrics})"
  daemon_url=${url%/metrics}
}

# ---- 1. topic creation through the Admin API ----
step "1. topic creation (Admin API CreateTopics)"
start_daemon rostersyncd-1
first_pid=$daemon_pid
first_url=$daemon_url
kcat_ -L -m 15 >"$work/metadata-after.txt" 2>&1 || true
for k in "${!topic[@]}"; do
  t=${topic[$k]}
  n=$(sed -n "s/^ *topic \"$t\" with \([0-9]*\) partitions:.*/\1/p" "$work/metadata-after.txt")
  if [[ -z $n ]]; then
    fail "topic $t ($k) does not exist"
  elif [[ $n != "$PARTITIONS" ]]; then
    fail "topic $t has $n partitions, expected $PARTITIONS"
  else
    pass "topic $t: $n partitions"
  fi
done
if command -v kafka-configs.sh >/dev/null; then
  for k in memberships contexts checkpoints; do
    policy=$(kafka-configs.sh --bootstrap-server "${BOOTSTRAP%%,*}" ${KAFKA_CONFIG:+--command-config "$KAFKA_CONFIG"} \
      --entity-type topics --entity-name "${topic[$k]}" --describe --all 2>/dev/null |
      sed -n 's/.*cleanup.policy=\([a-z,]*\).*/\1/p' | head -n 1 || true)
    if [[ $policy == *compact* ]]; then pass "${topic[$k]}: cleanup.policy=$policy"; else fail "${topic[$k]}: cleanup.policy=${policy:-?}, expected compact"; fi
  done
else
  echo "  note  kafka-configs.sh not on PATH: check cleanup.policy=compact of ${topic[memberships]}, ${topic[contexts]} and ${topic[checkpoints]} by hand"
fi

# ---- 2. exactly-once, seen by a read_committed consumer ----
read_committed_ids() { # the change ids (CloudEvents header ce_id) in the change stream, read_committed
  kcat_ -C -t "${topic[membership_changes]}" -X isolation.level=read_committed -o beginning -e -q \
    -f '%h\n' 2>/dev/null | grep -o 'ce_id=[^,]*' | cut -d= -f2- || true
}

if [[ -n $sim_port ]] && ((failures > 0)); then
  echo "note: check 2 needs the topics of check 1; skipped"
elif [[ -n $sim_port ]]; then
  step "2. exactly-once: every member added once, read_committed"
  expected=0
  while read -r id members context url; do
    expected=$((expected + members))
    printf 'https://canvas.test|%s\t{"issuer":"https://canvas.test","client_id":"10000000000001","context":{"id":"%s","label":"C%s","title":"Course %s"},"context_memberships_url":"%s","seen_at":"%s","force":false}\n' \
      "$context" "$context" "$id" "$id" "$url" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done < <(sed -n 's/^ *course \([0-9]*\) (\([0-9]*\) members, context \([0-9a-f]*\)): \(https:[^ ]*\)$/\1 \2 \3 \4/p' "$work/lms-sim.out") \
    >"$work/course-seen.txt"
  kcat_ -P -t "${topic[course_seen]}" -K $'\t' <"$work/course-seen.txt"
  pass "produced $(wc -l <"$work/course-seen.txt") CourseSeen events ($expected members expected)"

  got=0
  for _ in $(seq 1 $((TIMEOUT / 2))); do
    got=$(read_committed_ids | wc -l)
    ((got >= expected)) && break
    sleep 2
  done
  read_committed_ids >"$work/ids.txt"
  got=$(wc -l <"$work/ids.txt")
  unique=$(sort -u "$work/ids.txt" | wc -l)
  if ((got == expected && unique == expected)); then
    pass "read_committed: $got changes, all ids distinct"
  else
    fail "read_committed: $got changes ($unique distinct ids), expected $expected"
  fi
  uncommitted=$(kcat_ -C -t "${topic[membership_changes]}" -X isolation.level=read_uncommitted -o beginning -e -q \
    -f '%s\n' 2>/dev/null | wc -l || true)
  echo "  info  read_uncommitted sees $uncommitted records (aborted transactions' records show up only there)"

  # ---- 3. fencing ----
  if [[ $FENCING == 1 ]]; then
    step "3. fencing: the owner frozen mid-work, a new owner, the old one thawed"
    # New members and role changes on every course (both show in one pass), forced passes, and
    # the owner frozen a moment later, likely inside a transaction.
    more=0
    while read -r id; do
      answer=$(curl -fsS --cacert "$work/lms-sim-ca.pem" --resolve "canvas.test:$sim_port:127.0.0.1" \
        -X POST -H 'Content-Type: application/json' -d '{"joins": 5, "role_changes": 2}' \
        "https://canvas.test:$sim_port/_sim/courses/$id/churn")
      more=$((more + $(grep -o '"user_id"' <<<"$answer" | wc -l)))
    done < <(sed -n 's/^ *course \([0-9][0-9]*\) (.*/\1/p' "$work/lms-sim.out")
    sed 's/"force":false/"force":true/' "$work/course-seen.txt" | kcat_ -P -t "${topic[course_seen]}" -K $'\t'
    sleep 1
    kill -STOP "$first_pid"
    echo "  info  $more changes made on the platform; rostersyncd-1 (pid $first_pid) frozen"
    start_daemon rostersyncd-2
    # The group hands rostersyncd-1's partitions to rostersyncd-2 once its session times out
    # (session.timeout.ms, 45 s by default); uncommitted work is redone by the new owner.
    sleep 60
    kill -CONT "$first_pid"
    echo "  info  rostersyncd-1 thawed: its transactional producer must find itself fenced"
    want=$((expected + more))
    for _ in $(seq 1 $((TIMEOUT / 2))); do
      total=$(read_committed_ids | wc -l)
      ((total >= want)) && break
      sleep 2
    done
    sleep 5 # anything the zombie still manages to write would show now
    read_committed_ids >"$work/ids-after.txt"
    total=$(wc -l <"$work/ids-after.txt")
    unique=$(sort -u "$work/ids-after.txt" | wc -l)
    if ((total == want && unique == want)); then
      pass "read_committed after the takeover: $total changes, all ids distinct"
    else
      fail "read_committed after the takeover: $total changes ($unique distinct ids), expected $want"
    fi
    if grep -qiE 'fenc|generation|zombie' "$work/rostersyncd-1.log"; then
      pass "rostersyncd-1 logged its fencing: $(grep -iE 'fenc|generation|zombie' "$work/rostersyncd-1.log" | head -n 1)"
    else
      echo "  note  rostersyncd-1 logged nothing about fencing (it had no transaction open when frozen)"
    fi
  fi
fi

step "metrics of rostersyncd-1"
curl -fsS "$first_url/metrics" 2>/dev/null |
  grep -E '^rostersync_(ready|changes_published_total|delivery_failures_total|producing_stopped|kafka_broker_up)' || true

cat <<NOTES

== notes
- Fencing: with kafka.exactly_once the daemon produces in transactions that carry the consumed
  offsets with the consumer group's metadata (transactions v2, KIP-447). Once the group has
  moved a partition to a new owner, a zombie's offset commit is rejected (stale generation, or a
  fenced producer epoch when the transactional.id is reused) and its transaction aborts, so
  read_committed consumers never see its writes; the zombie logs the error and rejoins.
  Without exactly_once there is no fencing: a frozen owner's late writes are folded in like any
  other, and a change may repeat, with the same id (README, the delivery promise).
- Run with FENCING=1 to exercise it, and KEEP=1 to read the daemons' logs afterwards.
- ACLs: this run needs what deploy/RUNBOOK.md lists (plus Create and Describe on the prefixed
  topics, and TransactionalId Write/Describe for exactly_once).
- Delete the topics of this run:
NOTES
for k in "${!topic[@]}"; do
  echo "    kafka-topics.sh --bootstrap-server ${BOOTSTRAP%%,*} --delete --topic ${topic[$k]}"
done

if ((failures > 0)); then
  printf '\n%d check(s) failed\n' "$failures"
  exit 1
fi
printf '\nall checks passed\n'
