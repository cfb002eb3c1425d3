# terraform query: every namespace on the shared Redis.
list "dbaas_redis_namespace" "all" {
  provider = dbaas
  config {}
}
