# Import by "<engine>/<database>/<name>".
terraform import dbaas_rotated_role.app postgresql/trading/app

# Terraform 1.12 and later can also import by identity: the database mount and the Vault
# role (`vault_role`), which also adopts a role whose name alone is ambiguous.
#   import {
#     to       = dbaas_rotated_role.app
#     identity = { mount = "database", role = "postgres-trading-app" }
#   }
