# Import by "<engine>/<name>".
terraform import dbaas_shared_database.trading postgresql/trading
terraform import dbaas_shared_database.ledger mysql/ledger

# Terraform 1.12 and later can also import by identity:
#   import {
#     to       = dbaas_shared_database.trading
#     identity = { engine = "postgresql", name = "trading" }
#   }
