#!/usr/bin/env bash
# make demo: applies examples/quickstart against the local services, then does what an app
# does — fetches fresh credentials from Vault and runs a query through PgBouncer — and
# prints what happened. Destroys the stack afterwards unless KEEP=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
terraform=${TERRAFORM:-$root/.tools/bin/terraform}
dir=$root/examples/quickstart
services=${DBAAS_SERVICES_DIR:-/var/tmp/dbaas-services}
export DBAAS_POSTGRES_POOLER_ADMIN_PASSWORD
DBAAS_POSTGRES_POOLER_ADMIN_PASSWORD=$(cat "$services/pgbouncer_admin.password")
tf() { (cd "$dir" && env -u TF_CLI_CONFIG_FILE "$terraform" "$@"); }
say() { printf '\n== %s\n' "$*"; }

cleanup() { if [ "${KEEP:-0}" != 1 ]; then say "destroying the stack (KEEP=1 keeps it)"; tf destroy -auto-approve -input=false -no-color >/dev/null; fi; }
rm -rf "$dir/.terraform" "$dir/.terraform.lock.hcl"
tf init -input=false -no-color >/dev/null
say "terraform apply"
tf apply -auto-approve -input=false -no-color | grep -E '^(dbaas_|Apply complete)' || true
trap cleanup EXIT

creds_path=$(tf output -raw creds_path)
host=$(tf output -json database | python3 -c 'import json,sys; print(json.load(sys.stdin)["host"])')
port=$(tf output -json database | python3 -c 'import json,sys; print(json.load(sys.stdin)["port"])')
db=$(tf output -json database | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')

say "an app reads $creds_path from Vault at start-up"
creds=$(curl -fsS -H "X-Vault-Token: root" "http://127.0.0.1:8200/v1/$creds_path")
user=$(printf '%s' "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["username"])')
password=$(printf '%s' "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["password"])')
lease=$(printf '%s' "$creds" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["lease_id"], d["lease_duration"], "s")')
echo "issued login $user (lease $lease)"

say "and connects through PgBouncer ($host:$port, database $db)"
PGPASSWORD=$password psql -X -h "$host" -p "$port" -U "$user" -d "$db" -v ON_ERROR_STOP=1 \
  -c "SELECT current_user AS logged_in_as, current_database() AS database, pg_has_role(current_user, '${db}_readwrite', 'member') AS readwrite, has_database_privilege('public', current_database(), 'CONNECT') AS public_may_connect"

say "the credentials expire with their lease; revoking it now drops the login"
curl -fsS -X PUT -H "X-Vault-Token: root" -d "{\"lease_id\": \"${lease%% *}\"}" http://127.0.0.1:8200/v1/sys/leases/revoke >/dev/null
sleep 1
if PGPASSWORD=$password psql -X -h "$host" -p "$port" -U "$user" -d "$db" -c "SELECT 1" >/dev/null 2>&1; then
  echo "the revoked login still works"; exit 1
else
  echo "the revoked login is refused, as it should be"
fi
