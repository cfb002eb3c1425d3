# Import by "<engine>/<database>/<name>".
terraform import dbaas_rotated_role.app postgresql/trading/app
