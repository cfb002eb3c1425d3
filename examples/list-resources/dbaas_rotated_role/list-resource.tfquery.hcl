# terraform query: every Vault role (dynamic or static) issuing credentials for the
# trading database, with the whole object of each.
list "dbaas_rotated_role" "trading" {
  provider         = dbaas
  include_resource = true
  config {
    database = "postgresql/trading"
  }
}
