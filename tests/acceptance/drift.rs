//! Drift: a person changes something the provider manages, on the real services. Each
//! story makes one change by hand, then asserts that plan shows it, that one apply puts it
//! back, that the next plan is empty, and that the server is as the provider set it.

use serde_json::json;

use crate::harness::{App, Apps};
use crate::redis_namespace::{RedisCleanup, kv_password, redis};
use crate::util::*;

fn stack(c: &Cleanup, database: &str, namespace: &str) -> String {
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
resource "dbaas_redis_namespace" "cache" {{
  name = "{namespace}"
}}
resource "dbaas_rotated_role" "cache" {{
  database = dbaas_redis_namespace.cache.id
  name     = "app"
}}
"#
        ))
}

/// Plan shows a change, one apply puts it right, the next plan is empty.
fn repaired(ws: &Workspace, what: &str) {
    let out = ws.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
    assert_eq!(out.status.code(), Some(2), "{what}: the plan does not show it:\n{}", text(&out));
    ws.apply();
    ws.assert_plan_empty();
}

/// The user a Redis AUTH logs in as, or the error.
fn redis_auth(user: &str, password: &str) -> String {
    redis(&["AUTH", user, password])
}

#[test]
fn changes_made_by_hand_show_in_plan_and_one_apply_puts_them_back() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("drift");
    let database = c.prefix.clone();
    let namespace = c.prefix.replace('_', "-");
    let _redis_cleanup = RedisCleanup(namespace.clone());
    let ws = Workspace::new(tf, "drift", &stack(&c, &database, &namespace));
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    // Apps hold credentials throughout: the static login through PgBouncer, a Redis user.
    // Only the change that locks logins out by hand may fail them; no repair may.
    let running = Apps::start(
        "drift",
        vec![
            App::postgres(
                "pool",
                &format!("{}/static-creds/postgres-{database}-pool", c.mount),
                6432,
                &database,
                "SELECT 1",
            ),
            App::redis("cache", &format!("{}/creds/redis-{namespace}-app", c.mount), &format!("{namespace}:probe")),
        ],
    );

    // CONNECT revoked from the readwrite group role: new credentials could not connect.
    running.step("CONNECT revoked by hand");
    psql("postgres", &format!("REVOKE CONNECT ON DATABASE \"{database}\" FROM \"{database}_readwrite\""));
    repaired(&ws, "CONNECT revoked");
    running.step("the rest, each repaired");
    assert_eq!(
        psql("postgres", &format!("SELECT has_database_privilege('{database}_readwrite', '{database}', 'CONNECT')")),
        "t"
    );

    // CONNECT given to PUBLIC: anyone could connect.
    psql("postgres", &format!("GRANT CONNECT ON DATABASE \"{database}\" TO PUBLIC"));
    repaired(&ws, "CONNECT to PUBLIC");
    assert_eq!(psql("postgres", &format!("SELECT has_database_privilege('public', '{database}', 'CONNECT')")), "f");

    // Extra privileges for the static login: the owner group role on top of readwrite.
    // Putting it right keeps the password Vault rotated: apps using it keep working.
    let login = format!("{database}_pool");
    let creds = vault("GET", &format!("{}/static-creds/postgres-{database}-pool", c.mount), None);
    let password = creds["data"]["password"].as_str().expect("static credentials").to_owned();
    psql("postgres", &format!("GRANT \"{database}_owner\" TO \"{login}\""));
    repaired(&ws, "static login widened");
    assert_eq!(
        psql(
            "postgres",
            &format!(
                "SELECT string_agg(g.rolname, ',') FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = '{login}'"
            )
        ),
        format!("{database}_readwrite")
    );
    psql_pooled(&login, &password, &database, "SELECT 1").expect("the rotated password still works after the repair");

    // An extra password on the namespace user.
    let user = format!("dbaas-{namespace}");
    redis(&["ACL", "SETUSER", &user, ">an-extra-password"]);
    repaired(&ws, "extra password");
    assert!(redis_auth(&user, "an-extra-password").contains("WRONGPASS"), "the extra password still works");
    assert_eq!(redis_auth(&user, &kv_password(&namespace)), "OK");

    // The user Vault's connection logs in as, widened to every key and command.
    let management = format!("dbaas-{namespace}-vault");
    redis(&["ACL", "SETUSER", &management, "allkeys", "+@all"]);
    repaired(&ws, "management user widened");
    let rules = redis(&["ACL", "GETUSER", &management]);
    assert!(!rules.contains("+@all") && !rules.contains("~*"), "{rules}");
    let issued = vault("GET", &format!("{}/creds/redis-{namespace}-app", c.mount), None);
    assert!(issued["data"]["username"].is_string(), "Vault cannot issue after the repair: {issued}");

    // The namespace's password secret deleted from Vault KV.
    vault("DELETE", &format!("secret/metadata/redis/{namespace}"), None);
    repaired(&ws, "KV secret deleted");
    let password = kv_password(&namespace);
    assert_eq!(redis_auth(&user, &password), "OK", "the user does not have the new secret's password");
    let meta = vault("GET", &format!("secret/metadata/redis/{namespace}"), None);
    assert_eq!(
        meta["data"]["custom_metadata"]["managed_by"],
        json!(format!("managed by terraform-provider-dbaas: redis/{namespace}"))
    );
    let report = running.stop();
    let broken: Vec<_> = report.steps.iter().filter(|s| s.failed > 0 && s.name != "CONNECT revoked by hand").collect();
    assert!(broken.is_empty(), "a repair failed the apps:\n{}", report.table());
    assert_eq!(report.lost_renewals(), 0, "{}", report.table());

    ws.destroy();
    let left = report.left_on_servers();
    assert!(left.is_empty(), "users issued to the apps outlived the destroy: {left:?}");
}
