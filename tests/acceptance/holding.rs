//! Credentials held as apps hold them, through a stack's life: apps (the `harness`) read
//! their credentials from Vault, keep sessions open, query every 100 to 500 ms and renew at
//! half-life while the stack is applied unchanged, updated, its static role rotated and
//! its management logins' passwords rotated. No query may fail, no renewal be lost, and
//! after the destroy no user issued to them may be left.

use crate::harness::{App, Apps};
use crate::redis_namespace::{RedisCleanup, namespace_name};
use crate::util::*;

/// Dynamic credentials live 30 s here, so the apps renew every 15 s of the story.
const TTL: &str = "default_ttl = \"30s\"\n  max_ttl = \"1h\"";

fn stack(c: &Cleanup, port: u16, others: bool, updated: bool) -> String {
    let pg = &c.prefix;
    let mut resources = format!(
        r#"
resource "dbaas_shared_database" "pg" {{
  name            = "{pg}"
  engine          = "postgresql"
  deletion_policy = "drop"
  force_drop      = true
  {limit}
}}
resource "dbaas_rotated_role" "pool" {{
  database   = dbaas_shared_database.pg.id
  name       = "pool"
  mode       = "static"
  privileges = "owner"
}}
resource "dbaas_rotated_role" "app" {{
  database = dbaas_shared_database.pg.id
  name     = "app"
  {TTL}
}}
action "dbaas_rotate_credentials" "pool" {{
  config {{
    role = dbaas_rotated_role.pool.id
  }}
}}
action "dbaas_rotate_root" "pg" {{
  config {{
    database = dbaas_shared_database.pg.id
  }}
}}
"#,
        limit = if updated { "connection_limit = 50" } else { "" },
    );
    if updated {
        resources += "resource \"dbaas_rotated_role\" \"late\" {\n  database = dbaas_shared_database.pg.id\n  name = \"late\"\n}\n";
    }
    if others {
        let namespace = namespace_name(c);
        let my = mysql_name(c);
        resources += &format!(
            r#"
resource "dbaas_shared_database" "my" {{
  name            = "{my}"
  engine          = "mysql"
  deletion_policy = "drop"
}}
resource "dbaas_rotated_role" "myapp" {{
  database = dbaas_shared_database.my.id
  name     = "app"
  {TTL}
}}
resource "dbaas_redis_namespace" "cache" {{
  name = "{namespace}"
}}
resource "dbaas_rotated_role" "cacheapp" {{
  database = dbaas_redis_namespace.cache.id
  name     = "app"
  {TTL}
}}
action "dbaas_rotate_root" "my" {{
  config {{
    database = dbaas_shared_database.my.id
  }}
}}
action "dbaas_rotate_root" "cache" {{
  config {{
    database = dbaas_redis_namespace.cache.id
  }}
}}
"#
        );
    }
    let provider =
        if port == 5432 { Stack::default().postgres(5432, "") } else { Stack::default().postgres_direct(port) };
    let provider = if others { provider.mysql().redis("addresses = [\"127.0.0.1:6379\"]") } else { provider };
    provider.vault(&c.mount, "token = \"root\"").main_tf(&resources)
}

/// The MySQL database's name: MySQL names have at most 26 characters here, fewer than a
/// story's prefix may take with `_my`.
fn mysql_name(c: &Cleanup) -> String {
    format!("{}_my", c.prefix.chars().take(20).collect::<String>().trim_end_matches('_'))
}

/// PostgreSQL at `port` (through PgBouncer on 15, as the platform runs it), and with
/// `others` MariaDB and Redis beside it.
fn apps_never_notice(port: u16, others: bool, label: &str) {
    require_services();
    let tf = terraforms_since(1, 14, "actions")[0];
    let c = Cleanup::new(label);
    // The MySQL database's name is shorter than the prefix: its own cleanup.
    let _mysql_cleanup = Cleanup { prefix: mysql_name(&c).trim_end_matches("_my").to_owned(), mount: c.mount.clone() };
    let namespace = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(namespace.clone());
    let pg = c.prefix.clone();
    let ws = Workspace::new(tf, label, &stack(&c, port, others, false));
    ws.init();
    ws.apply();

    // The app's own migration, as the owner static login: the table every app reads.
    let pooled = if port == 5432 { 6432 } else { port };
    let owner = vault("GET", &format!("{}/static-creds/postgres-{pg}-pool", c.mount), None);
    let (login, password) = (
        owner["data"]["username"].as_str().expect("static login"),
        owner["data"]["password"].as_str().expect("password"),
    );
    psql_as(pooled, login, password, &pg, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)")
        .unwrap_or_else(|e| panic!("the owner's migration: {e}"));
    let mut apps = vec![
        App::postgres(
            "pg-app",
            &format!("{}/creds/postgres-{pg}-app", c.mount),
            pooled,
            &pg,
            "INSERT INTO orders VALUES (2); SELECT count(*) FROM orders",
        ),
        App::postgres(
            "pg-pool",
            &format!("{}/static-creds/postgres-{pg}-pool", c.mount),
            pooled,
            &pg,
            "SELECT count(*) FROM orders",
        ),
    ];
    if others {
        let my = mysql_name(&c);
        mysql(&format!("CREATE TABLE `{my}`.orders (id int); INSERT INTO `{my}`.orders VALUES (1)"));
        apps.push(App::mysql(
            "mysql-app",
            &format!("{}/creds/mysql-{my}-app", c.mount),
            &my,
            "SELECT COUNT(*) FROM orders",
        ));
        apps.push(App::redis(
            "redis-app",
            &format!("{}/creds/redis-{namespace}-app", c.mount),
            &format!("{namespace}:probe"),
        ));
    }
    let running = Apps::start(label, apps);

    running.step("apply, no change");
    ws.apply();
    running.step("update in place, add a role");
    ws.write_main(&stack(&c, port, others, true));
    ws.apply();
    running.step("rotate the static role");
    ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_credentials.pool"]);
    running.step("rotate the root");
    ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_root.pg"]);
    if others {
        ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_root.my"]);
        ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_root.cache"]);
    }
    // Every dynamic credential renews at least once: half of its 30 s.
    running.step("renewing");
    std::thread::sleep(std::time::Duration::from_secs(20));
    let report = running.stop();
    ws.assert_plan_empty();
    ws.destroy();

    let dynamic = if others { 3 } else { 1 };
    assert_eq!(report.failed(), 0, "the apps noticed:\n{}", report.table());
    assert_eq!(report.lost_renewals(), 0, "renewals were lost:\n{}", report.table());
    assert!(report.renewals() >= dynamic, "fewer renewals than dynamic apps:\n{}", report.table());
    assert!(report.queries() > 50, "the apps hardly ran:\n{}", report.table());
    let left = report.left_on_servers();
    assert!(left.is_empty(), "users issued to the apps outlived the destroy: {left:?}");
}

#[test]
fn apps_never_notice_a_stacks_life_on_postgres_15_mariadb_and_redis() {
    apps_never_notice(5432, true, "holding15");
}

#[test]
fn apps_never_notice_a_stacks_life_on_postgres_17() {
    apps_never_notice(PG17, false, "holding17");
}

#[test]
fn apps_never_notice_a_stacks_life_on_postgres_18() {
    apps_never_notice(PG18, false, "holding18");
}
