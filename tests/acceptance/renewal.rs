//! Credentials as apps' agents hold them: Vault Agent, the CSI provider and most SDKs renew
//! a lease at half its life and revoke it when done. Every credential a provider-made
//! dynamic role issues renews and revokes, on each engine and version the platform runs;
//! a role an earlier release wrote gets what renewal needs at the next apply.

use serde_json::{Value as Json, json};

use crate::redis_namespace::{RedisCleanup, namespace_name, redis, redis_session};
use crate::util::*;

/// A lease, as an app's agent holds it.
struct Lease {
    id: String,
    username: String,
    password: String,
}

fn issue(path: &str) -> Lease {
    let creds = vault("GET", path, None);
    assert!(creds["data"]["username"].is_string(), "Vault issued nothing at {path}: {creds}");
    let text = |v: &Json| v.as_str().unwrap_or_default().to_owned();
    Lease {
        id: text(&creds["lease_id"]),
        username: text(&creds["data"]["username"]),
        password: text(&creds["data"]["password"]),
    }
}

/// Renews as an agent does; Vault's answer, or its errors.
fn renew(lease: &Lease, increment: u64) -> Result<Json, Json> {
    let answer = vault("PUT", "sys/leases/renew", Some(&json!({ "lease_id": lease.id, "increment": increment })));
    if answer["errors"].is_null() && answer["lease_id"] == lease.id.as_str() { Ok(answer) } else { Err(answer) }
}

/// Revokes and waits until Vault has run the revocation.
fn revoke(lease: &Lease) {
    let answer = vault("PUT", "sys/leases/revoke", Some(&json!({ "lease_id": lease.id, "sync": true })));
    assert!(answer["errors"].is_null(), "revoking {}: {answer}", lease.id);
}

fn roles(database: &str) -> String {
    ["own", "rw", "ro"]
        .iter()
        .zip(["owner", "readwrite", "readonly"])
        .map(|(short, level)| {
            format!(
                "resource \"dbaas_rotated_role\" \"{short}\" {{\n  database = {database}.id\n  name = \"{short}\"\n  privileges = \"{level}\"\n  default_ttl = \"10m\"\n  max_ttl = \"2h\"\n}}\n"
            )
        })
        .collect()
}

/// When the PostgreSQL at `port` says `user`'s password stops working.
fn valid_until(port: u16, user: &str) -> String {
    psql_on(port, "postgres", &format!("SELECT rolvaliduntil FROM pg_roles WHERE rolname = '{user}'"))
}

fn postgres_credentials_renew_and_revoke(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let name = c.prefix.clone();
    let stack = if port == 5432 { Stack::default().postgres(5432, "") } else { Stack::default().postgres_direct(port) };
    let resources = format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
    ) + &roles("dbaas_shared_database.db");
    let ws = Workspace::new(tf, label, &stack.vault(&c.mount, "token = \"root\"").main_tf(&resources));
    ws.init();
    ws.apply();
    let login = |lease: &Lease| {
        if port == 5432 {
            psql_pooled(&lease.username, &lease.password, &name, "SELECT 1")
        } else {
            psql_as(port, &lease.username, &lease.password, &name, "SELECT 1")
        }
    };
    let check = |when: &str| {
        for short in ["own", "rw", "ro"] {
            let lease = issue(&format!("{}/creds/postgres-{name}-{short}", c.mount));
            let before = valid_until(port, &lease.username);
            let renewed =
                renew(&lease, 3600).unwrap_or_else(|e| panic!("{short} on :{port} did not renew {when}: {e}"));
            assert!(renewed["lease_duration"].as_u64() > Some(600), "{short}: {renewed}");
            let after = valid_until(port, &lease.username);
            assert!(after > before, "{short} on :{port}: VALID UNTIL stayed at {before} through a renewal {when}");
            assert_eq!(login(&lease).as_deref(), Ok("1"), "{short} cannot log in after its renewal {when}");
            revoke(&lease);
            let left = psql_on(
                port,
                "postgres",
                &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{}'", lease.username),
            );
            assert_eq!(left, "0", "{short} on :{port}: the revoked user is still there {when}");
        }
    };
    check("after create");

    if port == 5432 {
        // A database and roles an earlier release made on 15: no renew statements, and no
        // issuer function for them to call. Its users cannot renew: shown, then mended.
        psql_on(port, &name, "DROP FUNCTION dbaas_vault.renew_user(text, text)");
        for short in ["own", "rw", "ro"] {
            vault(
                "POST",
                &format!("{}/roles/postgres-{name}-{short}", c.mount),
                Some(&json!({ "renew_statements": [] })),
            );
        }
        let lease = issue(&format!("{}/creds/postgres-{name}-rw", c.mount));
        assert!(renew(&lease, 3600).is_err(), "the earlier release's roles renewed: this story would prove nothing");
        let planned = ws.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
        let shown = text(&planned);
        assert_eq!(planned.status.code(), Some(2), "roles that cannot renew plan no change:\n{shown}");
        for short in ["own", "rw", "ro"] {
            assert!(shown.contains(&format!("dbaas_rotated_role.{short} will be updated in-place")), "{shown}");
        }
        ws.apply();
        ws.assert_plan_empty();
        // A user issued before the apply renews too: Vault runs the role's statements of now.
        renew(&lease, 3600).unwrap_or_else(|e| panic!("a user issued before the apply did not renew: {e}"));
        revoke(&lease);
        check("after the upgrade");
    }
    ws.destroy();
}

#[test]
fn postgres_15_credentials_renew_and_revoke() {
    postgres_credentials_renew_and_revoke(5432, "renew15");
}

#[test]
fn postgres_17_credentials_renew_and_revoke() {
    postgres_credentials_renew_and_revoke(PG17, "renew17");
}

#[test]
fn postgres_18_credentials_renew_and_revoke() {
    postgres_credentials_renew_and_revoke(PG18, "renew18");
}

/// MySQL users and Redis ACL users carry no expiry: renewal only extends the lease, and
/// revocation drops the user.
#[test]
fn mysql_and_redis_credentials_renew_and_revoke() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("renewmy");
    let name: String = c.prefix.chars().take(24).collect::<String>().trim_end_matches('_').to_owned();
    let c = Cleanup { prefix: name.clone(), mount: c.mount.clone() };
    let namespace = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(namespace.clone());
    let resources = format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"mysql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n\
         resource \"dbaas_redis_namespace\" \"cache\" {{\n  name = \"{namespace}\"\n}}\n\
         resource \"dbaas_rotated_role\" \"cache\" {{\n  database = dbaas_redis_namespace.cache.id\n  name = \"app\"\n  default_ttl = \"10m\"\n}}\n"
    ) + &roles("dbaas_shared_database.db");
    let ws = Workspace::new(
        tf,
        "renewmy",
        &Stack::default()
            .mysql()
            .redis("addresses = [\"127.0.0.1:6379\"]")
            .vault(&c.mount, "token = \"root\"")
            .main_tf(&resources),
    );
    ws.init();
    ws.apply();
    for short in ["own", "rw", "ro"] {
        let lease = issue(&format!("{}/creds/mysql-{name}-{short}", c.mount));
        renew(&lease, 3600).unwrap_or_else(|e| panic!("MySQL {short} did not renew: {e}"));
        assert_eq!(mysql_as(&lease.username, &lease.password, "SELECT 1").as_deref(), Ok("1"), "{short}");
        revoke(&lease);
        let left = mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{}'", lease.username));
        assert_eq!(left, "0", "MySQL {short}: the revoked user is still there");
    }
    let lease = issue(&format!("{}/creds/redis-{namespace}-app", c.mount));
    renew(&lease, 3600).unwrap_or_else(|e| panic!("Redis did not renew: {e}"));
    let auth = redis_session(&[format!("AUTH {} {}", lease.username, lease.password)]);
    assert_eq!(auth, ["OK"], "the renewed Redis user cannot log in");
    revoke(&lease);
    assert!(!redis(&["ACL", "USERS"]).lines().any(|u| u == lease.username), "Redis kept the revoked user");
    ws.destroy();
}
