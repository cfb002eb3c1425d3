resource "dbaas_shared_database" "trading" {
  name   = "trading"
  engine = "postgresql"
}

resource "dbaas_rotated_role" "pool" {
  database = dbaas_shared_database.trading.id
  name     = "pool"
  mode     = "static"
}

# terraform apply -invoke=action.dbaas_rotate_credentials.pool
action "dbaas_rotate_credentials" "pool" {
  config {
    role = dbaas_rotated_role.pool.id
  }
}

# Or on demand from the configuration: change rotation_generation and apply.
variable "rotation_generation" {
  type    = number
  default = 1
}

resource "terraform_data" "rotation" {
  input = var.rotation_generation
  lifecycle {
    action_trigger {
      events  = [after_update]
      actions = [action.dbaas_rotate_credentials.pool]
    }
  }
}
