#!/usr/bin/env bash
# Runs every benchmark against the binary a release ships: static musl, release profile.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup-cross.sh"
(cd "$root" && CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked --quiet --target x86_64-unknown-linux-musl)
# The cost curve's plot; the report is complete without it.
venv="$root/.tools/venv"
"$venv/bin/python" -c 'import matplotlib' 2>/dev/null \
  || "$venv/bin/pip" install --quiet --disable-pip-version-check 'matplotlib~=3.9' \
  || echo "bench: no matplotlib, so no plot"
status=0
"$venv/bin/python" "$root/scripts/bench.py" || status=1
echo "dbaas_credentials (issue 4), against the local OpenBao and PostgreSQL:"
(cd "$root" && cargo bench --quiet --bench vault_credentials) || status=1
exit $status
