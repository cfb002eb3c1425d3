#!/usr/bin/env bash
# Runs every benchmark against the release build (`make bench` builds it first).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
python3 "$root/scripts/bench.py" || status=1
echo "dbaas_credentials (issue 4), against the local OpenBao and PostgreSQL:"
(cd "$root" && cargo bench --quiet --bench vault_credentials) || status=1
exit $status
