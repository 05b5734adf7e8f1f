#!/usr/bin/env bash
# Validates the configuration files shipped under deploy/ with the daemon itself
# (rostersyncd --check-config): the container image's default, the compose trial's and the
# Kubernetes ConfigMap's. Their key and password files are stand-ins made here: a key from
# `rostersync keygen` and dummy files, found through $CREDENTIALS_DIRECTORY as in production.
#
#   deploy/check-configs.sh ROSTERSYNCD ROSTERSYNC
#
# ctest runs it (label "integration", deploy/CMakeLists.txt) once the binaries are built.
set -euo pipefail

rostersyncd=${1:?usage: check-configs.sh ROSTERSYNCD ROSTERSYNC}
rostersync=${2:?usage: check-configs.sh ROSTERSYNCD ROSTERSYNC}
deploy=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/rostersync-check-configs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -m 0700 "$work/credentials"
"$rostersync" keygen --out "$work/credentials/tool-key.pem" >/dev/null 2>&1
printf 'not-a-password\n' >"$work/credentials/kafka-password"
: >"$work/credentials/lms-sim-ca.pem"

python3 - "$deploy/kubernetes/configmap.yaml" "$work/configmap.toml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
open(sys.argv[2], "w", encoding="utf-8").write(doc["data"]["rostersync.toml"])
PY

failed=0
for config in "$deploy/container/rostersync.toml" "$deploy/compose/rostersync.toml" "$work/configmap.toml"; do
  if CREDENTIALS_DIRECTORY="$work/credentials" "$rostersyncd" --check-config "$config"; then
    :
  else
    echo "FAILED: $config" >&2
    failed=1
  fi
done
exit "$failed"
