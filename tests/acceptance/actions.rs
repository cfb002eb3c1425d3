//! Actions (Terraform 1.14+): rotating now, from `terraform apply -invoke` and from a
//! resource's `action_trigger`. Each story checks the real server: the password changed,
//! the issued user gone.

use crate::redis_namespace::{RedisCleanup, namespace_name, redis};
use crate::util::*;

fn stack(c: &Cleanup, database: &str, namespace: &str, generation: u32) -> String {
    Stack::default()
        .postgres(5432, "")
        .redis("addresses = [\"127.0.0.1:6379\"]")
        .vault(&c.mount, "token = \"root\"")
        .main_tf(&format!(
            r#"
resource "dbaas_shared_database" "db" {{
  name            = "{database}"
  engine          = "postgresql"
  deletion_policy = "drop"
  force_drop      = true
}}
resource "dbaas_rotated_role" "pool" {{
  database = dbaas_shared_database.db.id
  name     = "pool"
  mode     = "static"
}}
resource "dbaas_rotated_role" "app" {{
  database = dbaas_shared_database.db.id
  name     = "app"
}}
resource "dbaas_redis_namespace" "cache" {{
  name = "{namespace}"
}}

action "dbaas_rotate_credentials" "pool" {{
  config {{
    role = dbaas_rotated_role.pool.id
  }}
}}
action "dbaas_rotate_credentials" "app" {{
  config {{
    role = dbaas_rotated_role.app.id
  }}
}}
action "dbaas_rotate_root" "db" {{
  config {{
    database = dbaas_shared_database.db.id
  }}
}}
action "dbaas_rotate_root" "cache" {{
  config {{
    database = dbaas_redis_namespace.cache.id
  }}
}}

# A rotation on demand: bump the generation and apply.
resource "terraform_data" "rotation" {{
  input = {generation}
  lifecycle {{
    action_trigger {{
      events  = [after_update]
      actions = [action.dbaas_rotate_credentials.pool]
    }}
  }}
}}
"#
        ))
}

fn static_password(c: &Cleanup, database: &str) -> String {
    let creds = vault("GET", &format!("{}/static-creds/postgres-{database}-pool", c.mount), None);
    creds["data"]["password"].as_str().expect("static credentials").to_owned()
}

fn management_password_hash(database: &str) -> String {
    psql("postgres", &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{database}_vault'"))
}

#[test]
fn actions_rotate_now_from_invoke_and_from_a_trigger() {
    require_services();
    let c = Cleanup::new("actions");
    let database = c.prefix.clone();
    let namespace = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(namespace.clone());
    for tf in terraforms_since(1, 14, "actions") {
        let ws = Workspace::new(tf, "actions", &stack(&c, &database, &namespace, 1));
        ws.init();
        ws.apply();
        ws.assert_plan_empty();

        // A static role: a new password, which logs in; the old one no longer does.
        let before = static_password(&c, &database);
        let out = ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_credentials.pool"]);
        assert!(out.contains("new password set by Vault; last_rotated = 20"), "{out}");
        let after = static_password(&c, &database);
        assert_ne!(before, after, "the password did not change:\n{out}");
        let login = format!("{database}_pool");
        assert_eq!(psql_pooled(&login, &after, &database, "SELECT current_user").as_deref(), Ok(login.as_str()));
        assert!(psql_pooled(&login, &before, &database, "SELECT 1").is_err(), "the old password still logs in");

        // A dynamic role: the user Vault issued is dropped.
        let issued = vault("GET", &format!("{}/creds/postgres-{database}-app", c.mount), None);
        let user = issued["data"]["username"].as_str().expect("issued credentials").to_owned();
        assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}'")), "1");
        let out = ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_credentials.app"]);
        assert!(out.contains("revoked 1 lease(s)"), "{out}");
        assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}'")), "0", "{out}");

        // Root: the management login's password changes on PostgreSQL and on Redis.
        let hash = management_password_hash(&database);
        ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_root.db"]);
        assert_ne!(management_password_hash(&database), hash, "the management login's password did not change");
        let redis_user = format!("dbaas-{namespace}-vault");
        let redis_hash = redis(&["ACL", "GETUSER", &redis_user]);
        ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_root.cache"]);
        assert_ne!(
            redis(&["ACL", "GETUSER", &redis_user]),
            redis_hash,
            "the Redis management user's password did not change"
        );
        // Vault still manages both: new credentials are issued.
        let issued = vault("GET", &format!("{}/creds/postgres-{database}-app", c.mount), None);
        assert!(issued["data"]["username"].is_string(), "{issued}");
        ws.assert_plan_empty();

        // From a trigger: an update of terraform_data rotates the static role.
        let before = static_password(&c, &database);
        ws.write_main(&stack(&c, &database, &namespace, 2));
        let out = ws.apply();
        assert!(out.contains("new password set by Vault"), "{out}");
        assert_ne!(static_password(&c, &database), before, "the trigger did not rotate:\n{out}");

        ws.destroy();
    }
}
