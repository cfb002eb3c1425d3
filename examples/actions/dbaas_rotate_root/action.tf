resource "dbaas_shared_database" "trading" {
  name   = "trading"
  engine = "postgresql"
}

# terraform apply -invoke=action.dbaas_rotate_root.trading
action "dbaas_rotate_root" "trading" {
  config {
    database = dbaas_shared_database.trading.id
  }
}

# Rotate the management login whenever the database's settings change.
resource "terraform_data" "trading_settings" {
  input = dbaas_shared_database.trading.connection_limit
  lifecycle {
    action_trigger {
      events  = [after_create, after_update]
      actions = [action.dbaas_rotate_root.trading]
    }
  }
}
