# A PostgreSQL database for the trading service: apps connect through PgBouncer,
# migrations go to the primary, credentials come from dbaas_rotated_role. Each output
# says (`# =>`) what it gives with the provider configured as on the provider's page.
resource "dbaas_shared_database" "trading" {
  name       = "trading"
  engine     = "postgresql"
  extensions = ["pgcrypto"]

  # Destroying this resource renames the database instead of dropping it.
  deletion_policy = "archive"
}

# A MySQL database with a binary collation.
resource "dbaas_shared_database" "ledger" {
  name          = "ledger"
  engine        = "mysql"
  character_set = "utf8mb4"
  collation     = "utf8mb4_bin"
}

output "trading_app_endpoint" { # => "pgbouncer.dbaas.svc.cluster.local:5432"
  value = "${dbaas_shared_database.trading.host}:${dbaas_shared_database.trading.port}"
}
output "trading_migrations_endpoint" { # => "pg-cluster-rw.dbaas.svc.cluster.local:5432"
  value = "${dbaas_shared_database.trading.admin_host}:${dbaas_shared_database.trading.admin_port}"
}
