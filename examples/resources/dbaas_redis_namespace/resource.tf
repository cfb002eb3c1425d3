# A cache namespace for the trading service: keys and channels under "trading:".
resource "dbaas_redis_namespace" "cache" {
  name        = "trading"
  permissions = "readwrite"
}

# A read-only view of another team's prefix, with one extra command allowed.
resource "dbaas_redis_namespace" "prices" {
  name        = "prices-reader"
  key_prefix  = "prices:"
  permissions = "readonly"
  extra_rules = ["+client|setname"]
}

output "cache_user" { value = dbaas_redis_namespace.cache.username } # => "dbaas-trading"
output "cache_password_path" { value = dbaas_redis_namespace.cache.password_path } # => "secret/data/redis/trading"
