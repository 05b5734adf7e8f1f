#!/usr/bin/env bash
# `promtool check metrics` on a real scrape of rostersyncd (embedded Kafka, a moment after start,
# so the pipeline's and librdkafka's metrics are there): names, help texts, units and types.
#   promtool_metrics.sh ROSTERSYNCD PROMTOOL
set -euo pipefail
rostersyncd=${1:?usage: promtool_metrics.sh ROSTERSYNCD PROMTOOL}
promtool=${2:?usage: promtool_metrics.sh ROSTERSYNCD PROMTOOL}
work=$(mktemp -d "${TMPDIR:-/tmp}/rostersync-promtool.XXXXXX")
pid=
cleanup() {
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
printf '[http]\nlisten = "127.0.0.1:0"\n[kafka]\npartitions = 2\n[kafka.properties]\n"statistics.interval.ms" = "200"\n' >"$work/rostersync.toml"
"$rostersyncd" --config "$work/rostersync.toml" 2>"$work/log" &
pid=$!
address=
for _ in $(seq 1 300); do
  address=$(grep -o 'http_address=[0-9.:]*' "$work/log" | head -1 | cut -d= -f2 || true)
  [[ -n $address ]] && break
  sleep 0.1
done
[[ -n $address ]] || { cat "$work/log" >&2; exit 1; }
# Wait until the partitions are live and librdkafka reported statistics at least once.
for _ in $(seq 1 300); do
  curl -fsS "http://$address/metrics" >"$work/metrics" 2>/dev/null || true
  grep -q '^rostersync_partitions{phase="live"} 2' "$work/metrics" &&
    grep -q '^rostersync_kafka_broker_up' "$work/metrics" && break
  sleep 0.1
done
grep -q '^rostersync_kafka_broker_up' "$work/metrics" || { echo "no librdkafka statistics in the scrape" >&2; exit 1; }
"$promtool" check metrics <"$work/metrics"
echo "promtool check metrics: $(grep -c '^# HELP' "$work/metrics") metric families, no problem"
