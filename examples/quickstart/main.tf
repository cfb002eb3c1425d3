# The quickstart `make demo` applies: the provider pointed at the services
# scripts/services.sh runs on this machine, and the catalog it gives a stack.
terraform {
  required_providers {
    dbaas = { source = "infra/dbaas" }
  }
}

provider "dbaas" {
  postgres {
    host        = "127.0.0.1"
    port        = 5432
    pooled_host = "127.0.0.1"
    pooled_port = 6432
    sslmode     = "disable"
  }
  mysql {
    host = "127.0.0.1"
    tls  = "disabled"
  }
  redis {
    addresses = ["127.0.0.1:6379"]
  }
  vault {
    address = "http://127.0.0.1:8200"
    token   = "root" # the local OpenBao dev server's token
  }
}

data "dbaas_endpoints" "this" {}

output "postgres" { value = data.dbaas_endpoints.this.postgres }
output "mysql" { value = data.dbaas_endpoints.this.mysql }
output "redis" { value = data.dbaas_endpoints.this.redis }
output "vault" { value = data.dbaas_endpoints.this.vault }
