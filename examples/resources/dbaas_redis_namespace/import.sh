# Import by namespace name.
terraform import dbaas_redis_namespace.cache trading
