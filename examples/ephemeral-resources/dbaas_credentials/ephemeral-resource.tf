resource "dbaas_shared_database" "trading" {
  name   = "trading"
  engine = "postgresql"
}

resource "dbaas_rotated_role" "migrate" {
  database   = dbaas_shared_database.trading.id
  name       = "migrate"
  privileges = "owner"
}

# Credentials for this run only: never in plan or state, revoked when the run ends.
ephemeral "dbaas_credentials" "migrate" {
  role = dbaas_rotated_role.migrate.id
}

# Migrations are DDL: they go to the primary itself (admin_host), not through PgBouncer
# (host), whose transaction pooling breaks session state that migration tools rely on.
# What they create belongs to trading_owner, whichever issued user ran them.
resource "terraform_data" "migrations" {
  provisioner "local-exec" {
    command = "./migrate.sh"
    environment = {
      PGHOST     = ephemeral.dbaas_credentials.migrate.admin_host
      PGPORT     = ephemeral.dbaas_credentials.migrate.admin_port
      PGDATABASE = ephemeral.dbaas_credentials.migrate.database
      PGUSER     = ephemeral.dbaas_credentials.migrate.username
      PGPASSWORD = ephemeral.dbaas_credentials.migrate.password
    }
  }
}
