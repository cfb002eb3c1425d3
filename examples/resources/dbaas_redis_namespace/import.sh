# Import by namespace name.
terraform import dbaas_redis_namespace.cache trading

# Adopt an ACL user made by hand: it keeps its name and its apps' passwords.
terraform import dbaas_redis_namespace.legacy legacy-cache/cache-app
