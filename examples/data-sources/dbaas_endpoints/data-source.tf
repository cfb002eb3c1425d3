data "dbaas_endpoints" "this" {}

# Apps get PgBouncer; migrations get the primary.
output "app_database_host" {
  value = "${data.dbaas_endpoints.this.postgres.host}:${data.dbaas_endpoints.this.postgres.port}"
}
output "migrations_host" {
  value = "${data.dbaas_endpoints.this.postgres.admin_host}:${data.dbaas_endpoints.this.postgres.admin_port}"
}
output "creds_path_pattern" {
  value = data.dbaas_endpoints.this.vault.creds_path_pattern
}
