# terraform query: every PostgreSQL database whose name starts with "trading", whether a
# stack made it, another stack did, or someone did by hand.
# terraform query -generate-config-out=imported.tf writes resource and import blocks
# that import with no change.
list "dbaas_shared_database" "trading" {
  provider = dbaas
  config {
    engine      = "postgresql"
    name_prefix = "trading"
  }
}
