resource "dbaas_shared_database" "trading" {
  name   = "trading"
  engine = "postgresql"
}

# The app reads database/creds/postgres-trading-app at start-up; Vault issues a user
# in the trading_readwrite group, valid for 24 hours.
resource "dbaas_rotated_role" "app" {
  database   = dbaas_shared_database.trading.id
  name       = "app"
  privileges = "readwrite"
}

# Migrations create tables: owner level. What they create belongs to trading_owner.
resource "dbaas_rotated_role" "migrate" {
  database    = dbaas_shared_database.trading.id
  name        = "migrate"
  privileges  = "owner"
  default_ttl = "1h"
  max_ttl     = "4h"
}

output "app_creds_path" { value = dbaas_rotated_role.app.creds_path } # => "database/creds/postgres-trading-app"
