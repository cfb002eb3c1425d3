data "dbaas_endpoints" "this" {}

# Apps get PgBouncer; migrations get the primary.
output "app_database_host" { # => "pgbouncer.dbaas.svc.cluster.local:5432"
  value = "${data.dbaas_endpoints.this.postgres.host}:${data.dbaas_endpoints.this.postgres.port}"
}
output "migrations_host" { # => "pg-cluster-rw.dbaas.svc.cluster.local:5432"
  value = "${data.dbaas_endpoints.this.postgres.admin_host}:${data.dbaas_endpoints.this.postgres.admin_port}"
}
output "creds_path_pattern" { # => "database/creds/<role>"
  value = data.dbaas_endpoints.this.vault.creds_path_pattern
}

# Readers get the replicas: the read-only PgBouncer when the platform runs one, else the
# `-ro` service; null when the platform configures neither.
output "reports_database_host" {
  value = try(
    "${coalesce(data.dbaas_endpoints.this.postgres.pooled_read_host, data.dbaas_endpoints.this.postgres.read_host)}:${coalesce(data.dbaas_endpoints.this.postgres.pooled_read_port, data.dbaas_endpoints.this.postgres.read_port)}",
    null
  )
}
