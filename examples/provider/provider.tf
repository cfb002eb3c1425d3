# Everything can come from the environment (see the table below); written out here for
# a cluster named as the platform team names its services.
provider "dbaas" {
  postgres {
    host        = "pg-cluster-rw.dbaas.svc.cluster.local" # the primary: DDL and migrations
    pooled_host = "pgbouncer.dbaas.svc.cluster.local"     # what apps are given
    admin_credentials_kv_path = "postgres/root"           # admin login read from Vault KV
  }
  mysql {
    host                      = "mysql.dbaas.svc.cluster.local"
    admin_credentials_kv_path = "mysql/root"
  }
  redis {
    addresses = ["redis-0.redis.dbaas.svc.cluster.local:6379"]
  }
  vault {
    address = "https://vault.platform.svc.cluster.local:8200"
    # token from VAULT_TOKEN
  }
}
