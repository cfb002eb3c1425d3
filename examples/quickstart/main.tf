# The quickstart `make demo` applies: the provider pointed at the services
# scripts/services.sh runs on this machine, a database with a readwrite role, and a
# Redis namespace. scripts/demo.sh then logs in through PgBouncer as an app would.
terraform {
  required_providers {
    dbaas = { source = "infra/dbaas" }
  }
}

variable "name" {
  description = "Names the database and the namespace (a lowercase letter, then lowercase letters, digits and `_`)."
  type        = string
  default     = "demo"
}

provider "dbaas" {
  postgres {
    host        = "127.0.0.1"
    port        = 5432
    pooled_host = "127.0.0.1"
    pooled_port = 6432
    sslmode     = "disable"
    # PgBouncer looks logins up as this role (CloudNativePG's is cnpg_pooler_pgbouncer).
    pooler_auth_user = "pgbouncer_auth"
    # PgBouncer's console login, so destroy can close its idle connections; the password
    # comes from DBAAS_POSTGRES_POOLER_ADMIN_PASSWORD.
    pooler_admin_user = "pgbouncer_admin"
  }
  mysql {
    host = "127.0.0.1"
    tls  = "disabled"
  }
  redis {
    addresses = ["127.0.0.1:6379"]
  }
  vault {
    address = "http://127.0.0.1:8200"
    token   = "root" # the local OpenBao dev server's token
  }
}

data "dbaas_endpoints" "this" {}

resource "dbaas_shared_database" "app" {
  name            = var.name
  engine          = "postgresql"
  deletion_policy = "drop"
}

resource "dbaas_rotated_role" "app" {
  database   = dbaas_shared_database.app.id
  name       = "app"
  privileges = "readwrite"
}

resource "dbaas_redis_namespace" "cache" {
  name = var.name # `_` is allowed in namespace names too
}

output "postgres" { value = data.dbaas_endpoints.this.postgres }
output "creds_path" { value = dbaas_rotated_role.app.creds_path }
output "database" {
  value = {
    host = dbaas_shared_database.app.host
    port = dbaas_shared_database.app.port
    name = dbaas_shared_database.app.name
  }
}
output "redis_password_path" { value = dbaas_redis_namespace.cache.password_path }
