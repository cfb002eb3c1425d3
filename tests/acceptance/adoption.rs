//! Adoption: a platform team brings a database made by hand under the provider. The first
//! plan after the import says every change the apply then makes, and the apply makes no
//! other; the data is untouched, and credentials of each level work on the tables that
//! were there before.

use crate::harness::{App, Apps};
use crate::util::*;

/// What the server says of schema `public` and the hand-made table: owner of the schema,
/// whether PUBLIC may create there, the table's owner, and the readwrite role's rights on it.
fn shape(name: &str) -> String {
    psql(
        name,
        &format!(
            "SELECT pg_get_userbyid(n.nspowner), has_schema_privilege('public', 'public', 'CREATE'), \
                    pg_get_userbyid(c.relowner), \
                    EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}_readwrite') \
                      AND has_table_privilege('{name}_readwrite', 'public.orders', 'SELECT, INSERT, UPDATE, DELETE') \
             FROM pg_namespace n, pg_class c WHERE n.nspname = 'public' AND c.oid = 'public.orders'::regclass"
        ),
    )
}

/// Drops a role made for the story when it ends, however it ends (its name is Vault's,
/// not the story's prefix, so `Cleanup` would not find it).
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
            .args(["-c", &format!("DROP OWNED BY \"{}\"", self.0)])
            .args(["-c", &format!("DROP ROLE IF EXISTS \"{}\"", self.0)])
            .output();
    }
}

#[test]
fn a_hand_made_database_is_imported_with_every_change_shown_at_plan() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("adoptpg");
        let name = c.prefix.clone();
        // The world before: a database and a table made by the server's admin, with rows.
        psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        psql(
            &name,
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders VALUES (1, 9.5), (2, 20)",
        );
        // As in a database that came from PostgreSQL 14 or older: anyone may create in public.
        psql(&name, "GRANT CREATE ON SCHEMA public TO PUBLIC");
        let checksum = || psql(&name, "SELECT md5(string_agg(id || ':' || total, ',' ORDER BY id)) FROM orders");
        // Users the old hand-written Vault role issued: one whose revocation failed (its
        // VALID UNTIL long past), one whose lease is live; and a hand-made login.
        let stamp = c.prefix.replace('_', "-");
        let (lost, live, admin) = (
            Role(format!("v-token-{stamp}-lost-1700000000")),
            Role(format!("v-token-{stamp}-live-1900000000")),
            Role(format!("{name}_admin_by_hand")),
        );
        for (role, until) in [(&lost, "2020-01-01"), (&live, "2099-01-01"), (&admin, "2020-01-01")] {
            psql("postgres", &format!("CREATE ROLE \"{}\" LOGIN PASSWORD 'x' VALID UNTIL '{until}'", role.0));
            psql("postgres", &format!("GRANT ALL PRIVILEGES ON DATABASE \"{name}\" TO \"{}\"", role.0));
        }
        let before_rows = checksum();
        let before = shape(&name);
        assert!(before.starts_with("pg_database_owner|t|postgres|f"), "{before}");

        let main = Stack::default().postgres(5432, "").vault(&c.mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"orders\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n}}\n\
             import {{\n  to = dbaas_shared_database.orders\n  id = \"postgresql/{name}\"\n}}\n\
             resource \"dbaas_rotated_role\" \"app\" {{\n  database = dbaas_shared_database.orders.id\n  name = \"app\"\n}}\n"
        ));
        let ws = Workspace::new(tf, "adoptpg", &main);
        ws.init();
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        let said = plan.split_whitespace().collect::<Vec<_>>().join(" ");
        for change in [
            "Apply brings an imported database to the provider's shape",
            &format!("schema public changes owner from \"pg_database_owner\" to \"{name}_owner\""),
            "PUBLIC loses CREATE on schema public",
            "1 existing table(s) and view(s) in public are granted",
            "default privileges",
            "owned by \"postgres\" keep their owner",
            "CONNECT on",
        ] {
            assert!(said.contains(change), "the plan does not say {change:?}:\n{plan}");
        }
        assert_eq!(shape(&name), before, "a plan changed nothing");

        ws.apply();
        // Exactly what the plan said: the schema changed hands, PUBLIC lost CREATE, the group
        // role got its rights; the table kept its owner and its rows.
        assert_eq!(shape(&name), format!("{name}_owner|f|postgres|t"));
        assert_eq!(checksum(), before_rows);
        ws.assert_plan_empty();

        // A readwrite credential from the new role works on the table that was there before.
        let creds = vault("GET", &format!("{}/creds/postgres-{name}-app", c.mount), None);
        let (user, password) =
            (creds["data"]["username"].as_str().unwrap(), creds["data"]["password"].as_str().unwrap());
        psql_pooled(user, password, &name, "INSERT INTO orders VALUES (3, 1)")
            .expect("readwrite inserts into the old table");
        assert_eq!(psql(&name, "SELECT count(*) FROM orders"), "3");

        // The user the old role left behind is stale; the live one and the hand-made login
        // are not, and cleaning up drops exactly it.
        ws.ok(&["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"]);
        let show = ws.show();
        let app = show["values"]["root_module"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == "dbaas_rotated_role.app")
            .cloned()
            .unwrap();
        assert_eq!(app["values"]["stale_users"], serde_json::json!([lost.0]), "{app}");
        ws.write_main(&main.replace("name = \"app\"\n", "name = \"app\"\n  cleanup_stale_users = true\n"));
        ws.apply();
        let exists = |role: &str| psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"));
        assert_eq!((exists(&lost.0), exists(&live.0), exists(&admin.0)), ("0".into(), "1".into(), "1".into()));
        ws.destroy();
        assert_eq!(
            psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")),
            "1",
            "retain keeps it"
        );
    }
}

/// Drops the users a story's apps were issued that are still there (a revocation that
/// failed), so the shared server keeps nothing of the story.
fn drop_users(users: &[String]) {
    for user in users {
        let _ = std::process::Command::new("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
            .args(["-c", &format!("DROP OWNED BY \"{user}\"")])
            .args(["-c", &format!("DROP ROLE IF EXISTS \"{user}\"")])
            .output();
    }
}

/// Drops, when the story ends however it ends, the users it was issued that Vault did not,
/// and those a read that failed left behind (made before OpenBao refused to commit the
/// read; no lease holds them): Vault-named logins with privileges on the story's database.
struct DropUsers(Vec<String>, String);

impl Drop for DropUsers {
    fn drop(&mut self) {
        drop_users(&self.0);
        let left = psql(
            "postgres",
            &format!(
                "SELECT string_agg(DISTINCT r.rolname, ',') FROM pg_database d, aclexplode(d.datacl) a \
                 JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = '{}' AND r.rolname LIKE 'v-%'",
                self.1
            ),
        );
        let left: Vec<String> = left.split(',').filter(|u| !u.is_empty()).map(str::to_owned).collect();
        drop_users(&left);
    }
}

/// The platform before the provider: the database engine mounted at `mount`, and one
/// connection, `postgres`, that every hand-written role shares, logging in as the server's
/// admin.
fn shared_postgres_connection(mount: &str) {
    shared_postgres_connection_on(mount, 5432);
}

/// [`shared_postgres_connection`] to the PostgreSQL at `port`.
fn shared_postgres_connection_on(mount: &str, port: u16) {
    shared_postgres_connection_to(mount, port, "postgres");
}

/// [`shared_postgres_connection_on`] logging in to `database` (a platform with one connection
/// per database, whose statements then run there).
fn shared_postgres_connection_to(mount: &str, port: u16, database: &str) {
    shared_postgres_connection_named(mount, port, database, None);
}

/// [`shared_postgres_connection_to`] naming its users by `username_template` (Vault's
/// default, `v-…`, with `None`).
fn shared_postgres_connection_named(mount: &str, port: u16, database: &str, username_template: Option<&str>) {
    vault("POST", &format!("sys/mounts/{mount}"), Some(&serde_json::json!({ "type": "database" })));
    let mut config = serde_json::json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/{database}?sslmode=disable"),
        "username": "postgres",
        "password": "trust-auth-ignores-it",
        "allowed_roles": ["*"],
    });
    if let Some(template) = username_template {
        config["username_template"] = serde_json::Value::from(template);
    }
    let written = vault("POST", &format!("{mount}/config/postgres"), Some(&config));
    assert!(written["errors"].is_null(), "{written}");
}

/// The app's credentials from a Vault read: (user, password, lease).
fn issue(path: &str) -> (String, String, String) {
    let creds = vault("GET", path, None);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_else(|| panic!("{path}: {creds}")).to_owned();
    (text(&creds["data"]["username"]), text(&creds["data"]["password"]), text(&creds["lease_id"]))
}

#[test]
fn hand_made_vault_roles_are_adopted_keeping_their_paths_and_no_app_notices() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("adoptvr");
        let (name, mount) = (c.prefix.clone(), c.mount.clone());
        psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        psql(
            &name,
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders VALUES (1, 9.5), (2, 20); \
             GRANT SELECT ON orders TO PUBLIC",
        );
        let checksum = || psql(&name, "SELECT md5(string_agg(id || ':' || total, ',' ORDER BY id)) FROM orders");
        let rows_at_start = checksum();
        // The world before: one shared connection logging in as the server's admin, and a
        // hand-written role per app; one keeps the provider's form of name, one does not.
        shared_postgres_connection(&mount);
        let (orders_role, legacy_role) = (format!("postgres-{name}-role"), format!("legacy-{name}"));
        for role in [&orders_role, &legacy_role] {
            vault(
                "POST",
                &format!("{mount}/roles/{role}"),
                Some(&serde_json::json!({
                    "db_name": "postgres",
                    "creation_statements": [
                        "CREATE USER \"{{name}}\" WITH PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                        format!("GRANT ALL PRIVILEGES ON DATABASE \"{name}\" TO \"{{{{name}}}}\";"),
                    ],
                    "default_ttl": "20s",
                    "max_ttl": "24h",
                })),
            );
        }
        let path = |role: &str| format!("{mount}/creds/{role}");
        // Each app holds a session with a credential from before: one through PgBouncer.
        let (orders_user, orders_password, orders_lease) = issue(&path(&orders_role));
        let (legacy_user, legacy_password, _) = issue(&path(&legacy_role));
        let _ = (orders_password, legacy_password);
        let app = |label: &str, role: &str, port| {
            App::postgres(label, &path(role), port, &name, "SELECT count(*) FROM orders")
        };
        let running = Apps::start(
            &format!("adoption on Terraform {}", tf.version),
            vec![app("orders", &orders_role, 6432), app("legacy", &legacy_role, 5432)],
        );

        let main = Stack::default().postgres(5432, "").vault(&mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"orders\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n}}\n\
             import {{\n  to = dbaas_shared_database.orders\n  id = \"postgresql/{name}\"\n}}\n\
             resource \"dbaas_rotated_role\" \"orders\" {{\n  database = dbaas_shared_database.orders.id\n  name = \"role\"\n  privileges = \"readwrite\"\n}}\n\
             import {{\n  to = dbaas_rotated_role.orders\n  id = \"{orders_role}\"\n}}\n\
             resource \"dbaas_rotated_role\" \"legacy\" {{\n  database = dbaas_shared_database.orders.id\n  name = \"legacy\"\n  vault_role = \"{legacy_role}\"\n  privileges = \"readonly\"\n}}\n\
             import {{\n  to = dbaas_rotated_role.legacy\n  id = \"{legacy_role}\"\n}}\n"
        ));
        let ws = Workspace::new(tf, "adoptvr", &main);
        ws.init();
        // `terraform query` finds both hand-made roles, by the database their statements name.
        if version_at_least(&tf.version, 1, 14) {
            running.step("query");
            let query = ws.dir.join("find.tfquery.hcl");
            std::fs::write(
                &query,
                format!("list \"dbaas_rotated_role\" \"roles\" {{\n  provider = dbaas\n  config {{\n    database = \"postgresql/{name}\"\n  }}\n}}\n"),
            )
            .unwrap();
            let found = ws.ok(&["query", "-no-color"]);
            let listed: Vec<&str> = found.lines().filter(|l| l.starts_with("list.dbaas_rotated_role.roles ")).collect();
            assert_eq!(listed.len(), 2, "{found}");
            assert!(listed.iter().any(|l| l.ends_with(&format!("postgresql/{name}/role"))), "{found}");
            std::fs::remove_file(query).unwrap();
        }
        running.step("import and plan");
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(!plan.contains("must be replaced") && plan.contains("0 to add, 3 to change, 0 to destroy"), "{plan}");
        let diagnostics = ws.plan_diagnostics();
        for (address, role, user) in [
            ("dbaas_rotated_role.orders", &orders_role, &orders_user),
            ("dbaas_rotated_role.legacy", &legacy_role, &legacy_user),
        ] {
            let (_, _, detail) = diagnostics
                .iter()
                .find(|(a, summary, _)| a == address && summary == "Apply moves a Vault role made before the provider")
                .unwrap_or_else(|| panic!("no warning on {address}: {diagnostics:?}"));
            for said in [
                format!("Vault role \"{role}\" issues through connection \"postgres\""),
                format!("moves it onto \"postgres-{name}\""),
                format!("apps keep reading {mount}/creds/{role}"),
                user.clone(),
            ] {
                assert!(detail.contains(&said), "{address}'s warning does not say {said:?}: {detail}");
            }
        }

        running.step("apply");
        ws.apply();
        for role in [&orders_role, &legacy_role] {
            let found = vault("GET", &format!("{mount}/roles/{role}"), None);
            assert_eq!(
                found["data"]["db_name"],
                format!("postgres-{name}"),
                "{role} moved onto the database's own connection"
            );
        }
        running.step("plan after apply");
        ws.assert_plan_empty();
        // The apps' credentials from before the move live 20 s: each renews through the
        // database's own connection now, as an app's agent would at half-life.
        running.step("renewing after the move");
        std::thread::sleep(std::time::Duration::from_secs(12));

        // Each level does what it says on the table that was there before.
        let (user, password, _) = issue(&path(&orders_role));
        psql_pooled(&user, &password, &name, "INSERT INTO orders VALUES (3, 1); DELETE FROM orders WHERE id = 3")
            .expect("readwrite writes the old table");
        let (user, password, _) = issue(&path(&legacy_role));
        assert_eq!(psql_as(5432, &user, &password, &name, "SELECT count(*) FROM orders").as_deref(), Ok("2"));
        let refused = psql_as(5432, &user, &password, &name, "DELETE FROM orders").expect_err("readonly cannot write");
        assert!(refused.contains("permission denied"), "{refused}");

        // The stack stops managing all of it: apps go on as before.
        running.step("removed");
        let removed = "removed {\n  from = dbaas_rotated_role.orders\n  lifecycle {\n    destroy = false\n  }\n}\n\
                       removed {\n  from = dbaas_rotated_role.legacy\n  lifecycle {\n    destroy = false\n  }\n}\n\
                       removed {\n  from = dbaas_shared_database.orders\n  lifecycle {\n    destroy = false\n  }\n}\n";
        ws.write_main(&(Stack::default().postgres(5432, "").vault(&mount, "token = \"root\"").main_tf(removed)));
        ws.apply();
        std::thread::sleep(std::time::Duration::from_secs(1));
        let report = running.stop();
        let issued_to_apps: Vec<String> = report.issued.iter().map(|(_, user)| user.clone()).collect();
        let _dropped = DropUsers(issued_to_apps.clone(), name.clone());
        assert_eq!(report.failed(), 0, "an app noticed:\n{}", report.table());
        assert_eq!(report.lost_renewals(), 0, "a renewal was lost:\n{}", report.table());
        let renewed_after = report.steps.iter().find(|s| s.name == "renewing after the move").map_or(0, |s| s.renewals);
        assert!(renewed_after >= 2, "the apps' credentials did not renew after the move:\n{}", report.table());
        // The one answer a client tries again: OpenBao's to a read that raced the move's
        // write of its role or connection. Anything else would be a fault of the move.
        assert!(
            report.retried_reads.iter().all(|e| e.contains("transaction commit failed")),
            "a read failed for another reason: {:?}",
            report.retried_reads
        );
        assert!(report.steps.iter().all(|s| s.queries > 0), "every step saw queries:\n{}", report.table());

        // A credential issued before the move is revoked through Vault: user and lease go.
        let revoked =
            vault("PUT", "sys/leases/revoke", Some(&serde_json::json!({ "lease_id": orders_lease, "sync": true })));
        assert!(revoked["errors"].is_null(), "{revoked}");
        let exists = |role: &str| psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"));
        assert_eq!(exists(&orders_user), "0", "Vault dropped the user it issued before the move");
        let lookup = vault("PUT", "sys/leases/lookup", Some(&serde_json::json!({ "lease_id": orders_lease })));
        assert!(lookup["data"].is_null(), "the lease is gone: {lookup}");
        // Every credential the apps were issued, before, during and after the move, is
        // revoked through Vault: none is left on the server.
        for role in [&orders_role, &legacy_role] {
            let revoked = vault("PUT", &format!("sys/leases/revoke-prefix/{mount}/creds/{role}?sync=true"), None);
            assert!(revoked["errors"].is_null(), "{revoked}");
        }
        let issued = [issued_to_apps, vec![orders_user.clone(), legacy_user.clone()]].concat();
        let left: Vec<&String> = issued.iter().filter(|u| exists(u) != "0").collect();
        assert!(left.is_empty(), "{} of {} users are left after revocation: {left:?}", left.len(), issued.len());
        assert_eq!(checksum(), rows_at_start);
        drop_users(&[orders_user, legacy_user]);
    }
}

#[test]
fn a_hand_made_mysql_role_is_adopted_and_its_leftover_users_are_found() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("adoptmy");
        let name: String = c.prefix.chars().take(24).collect::<String>().trim_end_matches('_').to_owned();
        let c = Cleanup { prefix: name.clone(), mount: c.mount.clone() };
        let mount = c.mount.clone();
        mysql(&format!(
            "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.orders (id int PRIMARY KEY, total decimal(9,2)); \
             INSERT INTO `{name}`.orders VALUES (1, 9.5), (2, 20)"
        ));
        let checksum = || mysql(&format!("SELECT MD5(GROUP_CONCAT(id, ':', total ORDER BY id)) FROM `{name}`.orders"));
        let rows_at_start = checksum();
        // The world before: a shared connection as root, a hand-written role.
        vault("POST", &format!("sys/mounts/{mount}"), Some(&serde_json::json!({ "type": "database" })));
        vault(
            "POST",
            &format!("{mount}/config/mysql"),
            Some(&serde_json::json!({
                "plugin_name": "mysql-database-plugin",
                "connection_url": "root@tcp(127.0.0.1:3306)/",
                "allowed_roles": ["*"],
            })),
        );
        let role = format!("mysql-{name}-role");
        vault(
            "POST",
            &format!("{mount}/roles/{role}"),
            Some(&serde_json::json!({
                "db_name": "mysql",
                "creation_statements": [
                    "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
                    format!("GRANT SELECT, INSERT, UPDATE, DELETE ON `{name}`.* TO '{{{{name}}}}'@'%';"),
                ],
                "default_ttl": "1h",
                "max_ttl": "24h",
            })),
        );
        let path = format!("{mount}/creds/{role}");
        // A user left by a failed revocation: as Vault names and grants it, with no lease;
        // and, seconds later, a live one.
        let lost = format!("v-token-mysql-{}-lost", &c.mount[c.mount.len() - 6..]);
        mysql(&format!(
            "CREATE USER '{lost}'@'%' IDENTIFIED BY 'x'; GRANT SELECT, INSERT, UPDATE, DELETE ON `{name}`.* TO '{lost}'@'%'"
        ));
        std::thread::sleep(std::time::Duration::from_secs(4));
        let (live, live_password, live_lease) = issue(&path);
        let _users = DropMysqlUsers(vec![lost.clone(), live.clone()]);
        let count = format!("SELECT COUNT(*) FROM `{name}`.orders");
        assert_eq!(mysql_as(&live, &live_password, &count).as_deref(), Ok("2"));

        let main = Stack::default().mysql().vault(&mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"orders\" {{\n  name = \"{name}\"\n  engine = \"mysql\"\n}}\n\
             import {{\n  to = dbaas_shared_database.orders\n  id = \"mysql/{name}\"\n}}\n\
             resource \"dbaas_rotated_role\" \"orders\" {{\n  database = dbaas_shared_database.orders.id\n  name = \"role\"\n  privileges = \"readwrite\"\n}}\n\
             import {{\n  to = dbaas_rotated_role.orders\n  id = \"{role}\"\n}}\n"
        ));
        let ws = Workspace::new(tf, "adoptmy", &main);
        ws.init();
        let diagnostics = ws.plan_diagnostics();
        let (_, _, detail) = diagnostics
            .iter()
            .find(|(a, s, _)| {
                a == "dbaas_rotated_role.orders" && s == "Apply moves a Vault role made before the provider"
            })
            .unwrap_or_else(|| panic!("no warning of the move: {diagnostics:?}"));
        assert!(detail.contains(&format!("moves it onto \"mysql-{name}\"")) && detail.contains(&live), "{detail}");
        ws.apply();
        assert_eq!(vault("GET", &format!("{mount}/roles/{role}"), None)["data"]["db_name"], format!("mysql-{name}"));
        ws.assert_plan_empty();
        // The app's open credential and a new one from the same path both work.
        assert_eq!(mysql_as(&live, &live_password, &count).as_deref(), Ok("2"));
        let (fresh, fresh_password, fresh_lease) = issue(&path);
        let _fresh = DropMysqlUsers(vec![fresh.clone()]);
        mysql_as(&fresh, &fresh_password, &format!("INSERT INTO `{name}`.orders VALUES (3, 1)")).expect("readwrite");
        mysql_as(&fresh, &fresh_password, &format!("DELETE FROM `{name}`.orders WHERE id = 3")).expect("readwrite");

        // The user the old role left behind is stale; the live ones are not.
        ws.ok(&["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"]);
        let stale = ws.show()["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["address"] == "dbaas_rotated_role.orders").cloned())
            .map(|r| r["values"]["stale_users"].clone())
            .unwrap_or_default();
        assert_eq!(stale, serde_json::json!([lost]), "only the lost user is stale");
        ws.write_main(&main.replace("name = \"role\"\n", "name = \"role\"\n  cleanup_stale_users = true\n"));
        ws.apply();
        let exists = |user: &str| mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{user}'"));
        assert_eq!((exists(&lost), exists(&live), exists(&fresh)), ("0".into(), "1".into(), "1".into()));

        // Issued before the move, revoked after it: Vault drops the user.
        for lease in [&live_lease, &fresh_lease] {
            let revoked =
                vault("PUT", "sys/leases/revoke", Some(&serde_json::json!({ "lease_id": lease, "sync": true })));
            assert!(revoked["errors"].is_null(), "{revoked}");
        }
        assert_eq!((exists(&live), exists(&fresh)), ("0".into(), "0".into()));
        assert_eq!(checksum(), rows_at_start);

        // The stack stops managing it: the path keeps issuing.
        let removed = "removed {\n  from = dbaas_rotated_role.orders\n  lifecycle {\n    destroy = false\n  }\n}\n\
                       removed {\n  from = dbaas_shared_database.orders\n  lifecycle {\n    destroy = false\n  }\n}\n";
        ws.write_main(&Stack::default().mysql().vault(&mount, "token = \"root\"").main_tf(removed));
        ws.apply();
        let (after, after_password, _) = issue(&path);
        let _after = DropMysqlUsers(vec![after.clone()]);
        assert_eq!(mysql_as(&after, &after_password, &count).as_deref(), Ok("2"));
    }
}

/// Drops, when the story ends however it ends, the MySQL users it was issued.
struct DropMysqlUsers(Vec<String>);

impl Drop for DropMysqlUsers {
    fn drop(&mut self) {
        for user in &self.0 {
            let _ = mysql_as("root", "", &format!("DROP USER IF EXISTS '{user}'@'%'"));
        }
    }
}

/// An app's open Redis session: `redis-cli` fed line by line, so the session is the same
/// connection from start to end.
struct RedisApp {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
}

impl RedisApp {
    fn open(user: &str, password: &str) -> RedisApp {
        use std::process::{Command, Stdio};
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli runs");
        let input = child.stdin.take().expect("piped");
        let output = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut app = RedisApp { child, input, output };
        assert_eq!(app.send(&format!("AUTH {user} {password}")), "OK");
        app
    }

    /// One command, one line of answer.
    fn send(&mut self, command: &str) -> String {
        use std::io::{BufRead, Write};
        writeln!(self.input, "{command}").expect("the session is open");
        self.input.flush().expect("the session is open");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("an answer");
        line.trim().to_owned()
    }
}

impl Drop for RedisApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_hand_made_redis_user_is_adopted_and_its_apps_keep_their_passwords() {
    use crate::redis_namespace::{RedisCleanup, kv_password, namespace_name, redis, redis_session};
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("adoptrd");
        let name = namespace_name(&c);
        let _redis_cleanup = RedisCleanup(name.clone());
        // The world before: a user named for its app, two passwords its instances hold,
        // wide rules on its prefix, and a key.
        let (first, second) = (format!("first-{}", c.mount), format!("second-{}", c.mount));
        redis(&["ACL", "SETUSER", &name, "on", &format!(">{first}"), &format!(">{second}")]);
        redis(&["ACL", "SETUSER", &name, &format!("~{name}:*"), &format!("&{name}:*"), "+@all", "-@dangerous"]);
        redis(&["SET", &format!("{name}:orders"), "42"]);
        let mut held = RedisApp::open(&name, &first);
        let session = held.send("CLIENT ID");
        let logs_in = |password: &str| {
            let answers = redis_session(&[format!("AUTH {name} {password}"), format!("GET {name}:orders")]);
            answers == ["OK", "42"]
        };
        assert!(logs_in(&first) && logs_in(&second));

        let stack = Stack::default().redis("addresses = [\"127.0.0.1:6379\"]").vault(&c.mount, "token = \"root\"");
        let main = stack.clone().main_tf(&format!(
            "resource \"dbaas_redis_namespace\" \"cache\" {{\n  name = \"{name}\"\n  acl_user = \"{name}\"\n}}\n\
             import {{\n  to = dbaas_redis_namespace.cache\n  id = \"{name}\"\n}}\n"
        ));
        let ws = Workspace::new(tf, "adoptrd", &main);
        ws.init();
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("1 to import, 0 to add, 1 to change, 0 to destroy"), "{plan}");
        let diagnostics = ws.plan_diagnostics();
        let (_, _, detail) = diagnostics
            .iter()
            .find(|(_, summary, _)| summary == "Apply brings an ACL user made before the provider into the namespace")
            .unwrap_or_else(|| panic!("no adoption warning: {diagnostics:?}"));
        for said in [
            format!("ACL user {name:?} keeps its name"),
            "+@all".to_owned(),
            format!("~{name}:*"),
            "keeps its 2 password(s)".to_owned(),
            format!("secret/data/redis/{name}"),
        ] {
            assert!(detail.contains(&said), "the warning does not say {said:?}: {detail}");
        }
        assert!(logs_in(&first), "the plan changed nothing");

        ws.apply();
        ws.assert_plan_empty();
        // Both passwords work, and the one in Vault KV; the open session is the same one;
        // the rules are the namespace's now.
        assert!(logs_in(&first) && logs_in(&second), "an app's password stopped working");
        assert!(logs_in(&kv_password(&name)));
        assert_eq!(held.send(&format!("GET {name}:orders")), "42");
        assert_eq!(held.send("CLIENT ID"), session, "the app's session is the one it opened");
        let keys = redis_session(&[format!("AUTH {name} {first}"), "KEYS *".into()]);
        assert!(keys[1].contains("NOPERM"), "the namespace's rules apply: {keys:?}");
        drop(held);

        // Redis restarts (no persistence): the next apply brings back every password.
        redis(&["ACL", "DELUSER", &name]);
        ws.apply();
        ws.assert_plan_empty();
        assert!(logs_in(&first) && logs_in(&second), "a restart lost an app's password");

        // The stack stops managing it: the user and its passwords stay.
        ws.write_main(
            &stack.main_tf(
                "removed {\n  from = dbaas_redis_namespace.cache\n  lifecycle {\n    destroy = false\n  }\n}\n",
            ),
        );
        ws.apply();
        assert!(logs_in(&first), "removing it from the stack touched the user");
        vault("DELETE", &format!("secret/metadata/dbaas/claims/redis/{name}"), None);
    }
}

#[test]
fn a_hand_made_static_role_is_adopted_keeping_its_login_and_password() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("adoptst");
        let (name, mount) = (c.prefix.clone(), c.mount.clone());
        let (login, wide) = (format!("{name}_app_user"), format!("{name}_wide_user"));
        psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        psql(
            "postgres",
            &format!(
                "CREATE ROLE \"{login}\" LOGIN PASSWORD 'before'; CREATE ROLE \"{wide}\" LOGIN CREATEDB PASSWORD 'before'"
            ),
        );
        psql(
            &name,
            &format!(
                "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1), (2); \
                 GRANT SELECT, INSERT ON orders TO \"{login}\"; GRANT SELECT ON orders TO \"{wide}\""
            ),
        );
        // The world before: a shared connection as the server's admin, a hand-made static
        // role per login (creating it rotates the password), an app holding a session.
        shared_postgres_connection(&mount);
        let (role, wide_role) = (format!("legacy-{name}-static"), format!("legacy-{name}-wide"));
        for (vault_role, user) in [(&role, &login), (&wide_role, &wide)] {
            vault(
                "POST",
                &format!("{mount}/static-roles/{vault_role}"),
                Some(&serde_json::json!({ "db_name": "postgres", "username": user, "rotation_period": "1h" })),
            );
        }
        let password = || {
            let creds = vault("GET", &format!("{mount}/static-creds/{role}"), None);
            creds["data"]["password"].as_str().unwrap_or_else(|| panic!("{creds}")).to_owned()
        };
        let issued = password();
        let running = Apps::start(
            &format!("static adoption on Terraform {}", tf.version),
            vec![App::postgres(
                "app",
                &format!("{mount}/static-creds/{role}"),
                5432,
                &name,
                "SELECT count(*) FROM orders",
            )],
        );

        let stack = Stack::default().postgres(5432, "").vault(&mount, "token = \"root\"");
        let database = format!(
            "resource \"dbaas_shared_database\" \"orders\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n}}\n\
             import {{\n  to = dbaas_shared_database.orders\n  id = \"postgresql/{name}\"\n}}\n"
        );
        let static_role = |resource: &str, vault_role: &str| {
            format!(
                "resource \"dbaas_rotated_role\" \"{resource}\" {{\n  database = dbaas_shared_database.orders.id\n  name = \"{resource}\"\n  mode = \"static\"\n  rotation_period = \"1h\"\n  vault_role = \"{vault_role}\"\n  privileges = \"readwrite\"\n}}\n\
                 import {{\n  to = dbaas_rotated_role.{resource}\n  id = \"{vault_role}\"\n}}\n"
            )
        };
        // A login that reaches beyond its database is refused, naming what reaches.
        let refused = Workspace::new(
            tf,
            "adoptst",
            &stack.clone().main_tf(&(database.clone() + &static_role("wide", &wide_role))),
        );
        refused.init();
        let out = refused.fails(&["plan", "-no-color", "-input=false"]);
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("The static login reaches beyond its database") && flat.contains("has role attributes"),
            "{out}"
        );

        let ws =
            Workspace::new(tf, "adoptst", &stack.clone().main_tf(&(database.clone() + &static_role("app", &role))));
        ws.init();
        running.step("import and plan");
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(!plan.contains("must be replaced") && plan.contains("0 to add, 2 to change, 0 to destroy"), "{plan}");
        let diagnostics = ws.plan_diagnostics();
        let (_, _, detail) = diagnostics
            .iter()
            .find(|(a, summary, _)| {
                a == "dbaas_rotated_role.app" && summary == "Apply moves a Vault role made before the provider"
            })
            .unwrap_or_else(|| panic!("no warning: {diagnostics:?}"));
        for said in
            [format!("rotates login {login:?}"), format!("{mount}/static-creds/{role}"), "does not change".into()]
        {
            assert!(detail.contains(&said), "the warning does not say {said:?}: {detail}");
        }
        // The database's plan says the login keeps connecting when PUBLIC no longer may.
        let (_, _, detail) = diagnostics
            .iter()
            .find(|(_, summary, _)| summary == "Apply brings an imported database to the provider's shape")
            .unwrap_or_else(|| panic!("no database warning: {diagnostics:?}"));
        let listed = detail.split("connect only because PUBLIC may (").nth(1).and_then(|rest| rest.split(')').next());
        assert!(listed.is_some_and(|logins| logins.split(", ").any(|l| l == login)), "{detail}");

        running.step("apply");
        ws.apply();
        let found = vault("GET", &format!("{mount}/static-roles/{role}"), None);
        assert_eq!(found["data"]["db_name"], format!("postgres-{name}"), "{found}");
        assert_eq!(found["data"]["username"], login.as_str());
        assert_eq!(password(), issued, "the move kept the password");
        running.step("plan after apply");
        ws.assert_plan_empty();

        std::thread::sleep(std::time::Duration::from_secs(1));
        let report = running.stop();
        assert_eq!(report.failed(), 0, "an app noticed:\n{}", report.table());
        // Vault rotates it through the database's own connection (through the issuer's
        // functions on PostgreSQL 15, which take the login as marked); the new one works.
        let rotated = vault("POST", &format!("{mount}/rotate-role/{role}"), None);
        assert!(rotated["errors"].is_null(), "{rotated}");
        let now = password();
        assert_ne!(now, issued);
        assert_eq!(psql_as(5432, &login, &now, &name, "SELECT count(*) FROM orders").as_deref(), Ok("2"));

        // Destroying the role removes the Vault static role alone: the login was imported,
        // and the plan says it stays.
        let origin = ws.show()["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["address"] == "dbaas_rotated_role.app"))
            .map(|r| r["values"]["static_login_origin"].clone())
            .unwrap_or_default();
        assert_eq!(origin, "imported");
        let out = ws.ok(&["plan", "-destroy", "-target=dbaas_rotated_role.app", "-no-color", "-input=false"]);
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("Removing the role keeps its imported login") && flat.contains(&format!("{login:?}")),
            "{out}"
        );
        ws.ok(&["destroy", "-auto-approve", "-target=dbaas_rotated_role.app", "-no-color", "-input=false"]);
        assert!(
            vault("GET", &format!("{mount}/static-roles/{role}"), None)["data"].is_null(),
            "the Vault role is gone"
        );
        assert_eq!(
            psql_as(5432, &login, &now, &name, "SELECT count(*) FROM orders").as_deref(),
            Ok("2"),
            "the login stays, with the password Vault last gave it"
        );
        ws.write_main(
            &stack.main_tf(
                "removed {\n  from = dbaas_shared_database.orders\n  lifecycle {\n    destroy = false\n  }\n}\n",
            ),
        );
        ws.apply();
        vault("DELETE", &format!("{mount}/static-roles/{wide_role}"), None);
    }
}

/// A platform unlike the guide's example, adopted while its apps run: one Vault connection
/// per database, its tables in a schema of their own (`sales`, nothing in `public`), reached
/// through a group role it made by hand (`<db>_orders_rw`), and its Vault role's statements
/// make each user a member of that group and let it create in `public` (its migrations). At
/// first the group also reaches a second database: a user that is its member cannot be
/// handed to the management login (which could then act as it there), so the plan stops and
/// names the group, and nothing changes; so does a grant of a server function
/// (`pg_ls_dir`) to it. Its users connect through PUBLIC, which the adoption revokes: they
/// get CONNECT of their own. Once the platform confines the group, the plan
/// stops again: `readwrite` would not let the users issued after create in `public`. At the
/// level that does (`owner`), the plan lists the live
/// users, the move carries the group over (the level's group joins it), and no query of the
/// apps fails: the users issued before renew through the new connection, those issued
/// after read `sales` as the old ones did, and every one is revoked at the end.
fn a_platform_unlike_the_guides_is_adopted_and_no_app_notices(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (name, mount) = (c.prefix.clone(), c.mount.clone());
    let (group, elsewhere) = (format!("{name}_orders_rw"), format!("{name}_x"));
    psql_on(port, "postgres", &format!("CREATE DATABASE \"{name}\""));
    psql_on(port, "postgres", &format!("CREATE DATABASE \"{elsewhere}\""));
    psql_on(
        port,
        "postgres",
        &format!("CREATE ROLE \"{group}\" NOLOGIN; GRANT CONNECT ON DATABASE \"{elsewhere}\" TO \"{group}\""),
    );
    psql_on(
        port,
        &name,
        &format!(
            "CREATE SCHEMA sales; CREATE TABLE sales.orders (id int, total numeric); INSERT INTO sales.orders VALUES (1, 9.5); \
             GRANT USAGE ON SCHEMA sales TO \"{group}\"; GRANT SELECT, INSERT, UPDATE, DELETE ON sales.orders TO \"{group}\"; \
             GRANT EXECUTE ON FUNCTION pg_ls_dir(text) TO \"{group}\""
        ),
    );
    // On 17 the platform names its users itself, not Vault's `v-…`.
    let template = format!("{name}_u_{{{{random 12 | lowercase}}}}");
    shared_postgres_connection_named(&mount, port, &name, (port != 5432).then_some(template.as_str()));
    let role = format!("postgres-{name}-role");
    vault(
        "POST",
        &format!("{mount}/roles/{role}"),
        Some(&serde_json::json!({
            "db_name": "postgres",
            "creation_statements": [
                format!(
                    "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE \"{group}\";"
                ),
                // Its apps run their migrations in `public` (PUBLIC may not, from 15 on).
                "GRANT CREATE ON SCHEMA public TO \"{{name}}\";".to_owned(),
            ],
            "default_ttl": "20s",
            "max_ttl": "24h",
        })),
    );
    let path = format!("{mount}/creds/{role}");
    let pooled = if port == 5432 { 6432 } else { port };
    let query = "INSERT INTO sales.orders VALUES (2, 1); SELECT count(*) FROM sales.orders";
    let running = Apps::start(
        label,
        vec![App::postgres("orders", &path, pooled, &name, query), App::postgres("reports", &path, port, &name, query)],
    );
    let _dropped = DropUsersOn(port, name.clone());
    let provider =
        if port == 5432 { Stack::default().postgres(5432, "") } else { Stack::default().postgres_direct(port) };
    let main = |level: &str| {
        provider.clone().vault(&mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"orders\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n}}\n\
             import {{\n  to = dbaas_shared_database.orders\n  id = \"postgresql/{name}\"\n}}\n\
             resource \"dbaas_rotated_role\" \"orders\" {{\n  database = dbaas_shared_database.orders.id\n  name = \"role\"\n  privileges = \"{level}\"\n}}\n\
             import {{\n  to = dbaas_rotated_role.orders\n  id = \"postgresql/{name}/role\"\n}}\n"
        ))
    };
    let ws = Workspace::new(tf, label, &main("readwrite"));
    ws.init();

    // The group reaches another database: the plan stops, naming it, and changes nothing.
    running.step("plan stops");
    let refused = ws.fails(&["plan", "-no-color", "-input=false"]);
    let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(refused.contains("The role's users join roles that reach beyond the database"), "{refused}");
    assert!(
        refused.contains(&format!("makes each user a member of {group}, and it is not the database's own")),
        "{refused}"
    );
    assert_eq!(vault("GET", &format!("{mount}/roles/{role}"), None)["data"]["db_name"], "postgres");

    // The platform confines the group. Its users may create in `public`, which `readwrite`
    // would not give the users issued after: the plan stops again, naming it.
    running.step("platform confines the group");
    psql_on(port, "postgres", &format!("REVOKE CONNECT ON DATABASE \"{elsewhere}\" FROM \"{group}\""));
    // Its grant in the database on a function of the server's reaches past it too.
    let refused = ws.fails(&["plan", "-no-color", "-input=false"]);
    let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(refused.contains("The role's users join roles that reach beyond the database"), "{refused}");
    psql_on(port, &name, &format!("REVOKE EXECUTE ON FUNCTION pg_ls_dir(text) FROM \"{group}\""));
    let refused = ws.fails(&["plan", "-no-color", "-input=false"]);
    let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(refused.contains("Users issued after the move would get less than those before"), "{refused}");
    assert!(refused.contains("CREATE on schema public"), "{refused}");
    assert_eq!(vault("GET", &format!("{mount}/roles/{role}"), None)["data"]["db_name"], "postgres");

    // The level that has it. A tenant elsewhere grants a live user something in another
    // database: that user is named, not left out of the plan (and then not handed over).
    ws.write_main(&main("owner"));
    let live = psql_on(
        port,
        "postgres",
        &format!(
            "SELECT min(r.rolname) FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid \
             JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = '{group}' AND r.rolcanlogin"
        ),
    );
    psql_on(port, "postgres", &format!("GRANT CONNECT ON DATABASE \"{elsewhere}\" TO \"{live}\""));
    let refused = ws.fails(&["plan", "-no-color", "-input=false"]);
    let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(refused.contains("Moving the role would leave users Vault cannot revoke"), "{refused}");
    assert!(refused.contains(&format!("privileges or objects in database {elsewhere}")), "{refused}");
    psql_on(port, "postgres", &format!("REVOKE CONNECT ON DATABASE \"{elsewhere}\" FROM \"{live}\""));
    running.step("import and plan");
    let diagnostics = ws.plan_diagnostics();
    let (_, _, detail) = diagnostics
        .iter()
        .find(|(a, summary, _)| {
            a == "dbaas_rotated_role.orders" && summary == "Apply moves a Vault role made before the provider"
        })
        .unwrap_or_else(|| panic!("no warning of the move: {diagnostics:?}"));
    let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!detail.contains("No user it issued before is left"), "live users were not found: {detail}");
    assert!(detail.contains(&format!("They are members of \"{group}\"")), "{detail}");

    running.step("apply");
    ws.apply();
    assert_eq!(vault("GET", &format!("{mount}/roles/{role}"), None)["data"]["db_name"], format!("postgres-{name}"));
    assert_eq!(
        psql_on(port, "postgres", &format!("SELECT pg_has_role('{name}_owner', '{group}', 'MEMBER')")),
        "t",
        "the level's group did not join the platform's group"
    );
    // Users the hand-written role issued while the apply ran (between PUBLIC losing
    // CONNECT and the role's move) connect through the group (CI once saw two fail).
    assert_eq!(
        psql_on(port, "postgres", &format!("SELECT has_database_privilege('{group}', '{name}', 'CONNECT')")),
        "t",
        "the platform's group was not given CONNECT when PUBLIC lost it"
    );
    running.step("plan after apply");
    ws.assert_plan_empty();
    // The credentials from before the move live 20 s: they renew through the new connection.
    running.step("renewing after the move");
    std::thread::sleep(std::time::Duration::from_secs(12));
    let report = running.stop();
    assert_eq!(report.failed(), 0, "an app noticed:\n{}", report.table());
    assert_eq!(report.lost_renewals(), 0, "a renewal was lost:\n{}", report.table());
    assert!(report.renewals() >= 2, "the credentials from before did not renew:\n{}", report.table());

    // Every user the apps were issued, before and after the move, is revoked through Vault.
    let revoked = vault("PUT", &format!("sys/leases/revoke-prefix/{mount}/creds/{role}?sync=true"), None);
    assert!(revoked["errors"].is_null(), "{revoked}");
    let left = report.left_on_servers();
    assert!(left.is_empty(), "users outlived their revocation: {left:?}");
    psql_on(port, "postgres", &format!("DROP DATABASE \"{elsewhere}\""));
    ws.write_main(&provider_removed(port, &mount));
    ws.apply();
}

fn provider_removed(port: u16, mount: &str) -> String {
    let provider =
        if port == 5432 { Stack::default().postgres(5432, "") } else { Stack::default().postgres_direct(port) };
    provider.vault(mount, "token = \"root\"").main_tf(
        "removed {\n  from = dbaas_rotated_role.orders\n  lifecycle {\n    destroy = false\n  }\n}\n\
         removed {\n  from = dbaas_shared_database.orders\n  lifecycle {\n    destroy = false\n  }\n}\n",
    )
}

/// Drops, however the story ends, the Vault-named logins left in its database on `port`
/// (an assertion that failed before the revocation).
struct DropUsersOn(u16, String);

impl Drop for DropUsersOn {
    fn drop(&mut self) {
        let users = run_psql(
            &self.0.to_string(),
            "postgres",
            None,
            "postgres",
            &format!(
                "SELECT string_agg(r.rolname, ',') FROM pg_roles r WHERE r.rolcanlogin AND EXISTS \
                 (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid \
                  AND g.rolname IN ('{0}_orders_rw', '{0}_readwrite', '{0}_owner'))",
                self.1
            ),
        )
        .unwrap_or_default();
        for user in users.split(',').filter(|u| !u.is_empty()) {
            let _ =
                run_psql(&self.0.to_string(), "postgres", None, "postgres", &format!("DROP ROLE IF EXISTS \"{user}\""));
        }
    }
}

#[test]
fn a_platform_unlike_the_guides_is_adopted_and_no_app_notices_on_postgres_15() {
    a_platform_unlike_the_guides_is_adopted_and_no_app_notices(5432, "adoptvar15");
}

#[test]
fn a_platform_unlike_the_guides_is_adopted_and_no_app_notices_on_postgres_17() {
    a_platform_unlike_the_guides_is_adopted_and_no_app_notices(PG17, "adoptvar17");
}

/// A user made before the provider whose keys live under a prefix unlike the namespace's
/// name (`~legacy-<name>:cache:*`), imported with no `key_prefix` in the configuration: the
/// plan keeps the prefix its rules had at import (a `<name>:` would lock its app out of its
/// keys), the apply changes nothing the app uses, and later plans stay empty.
#[test]
fn a_hand_made_redis_users_prefix_is_kept_when_the_configuration_names_none() {
    use crate::redis_namespace::{RedisCleanup, namespace_name, redis, redis_session};
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("adoptrp");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let (user, prefix, password) =
        (format!("legacy-{name}"), format!("legacy-{name}:cache:"), format!("pw-{}", c.mount));
    let key = format!("{prefix}orders");
    redis(&["ACL", "SETUSER", &user, "on", &format!(">{password}"), &format!("~{prefix}*"), &format!("&{prefix}*")]);
    redis(&["ACL", "SETUSER", &user, "+@all", "-@dangerous"]);
    redis(&["SET", &key, "42"]);
    let reads = || redis_session(&[format!("AUTH {user} {password}"), format!("GET {key}")]) == ["OK", "42"];
    assert!(reads(), "the hand-made user cannot read its key");

    let stack = Stack::default().redis("addresses = [\"127.0.0.1:6379\"]").vault(&c.mount, "token = \"root\"");
    let ws = Workspace::new(
        tf,
        "adoptrp",
        &stack.clone().main_tf(&format!(
            "resource \"dbaas_redis_namespace\" \"cache\" {{\n  name = \"{name}\"\n  acl_user = \"{user}\"\n}}\n\
             import {{\n  to = dbaas_redis_namespace.cache\n  id = \"{name}/{user}\"\n}}\n"
        )),
    );
    ws.init();
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    let flat = plan.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&format!("key_prefix = \"{prefix}\"")), "the plan does not keep the prefix:\n{plan}");
    assert!(!flat.contains(&format!("\"{name}:\"")), "the plan moves the prefix to the namespace's name:\n{plan}");
    ws.apply();
    ws.assert_plan_empty();
    assert!(reads(), "the app lost its keys");
    let rules = redis(&["ACL", "GETUSER", &user]);
    assert!(rules.contains(&format!("~{prefix}*")), "{rules}");

    ws.write_main(
        &stack.main_tf("removed {\n  from = dbaas_redis_namespace.cache\n  lifecycle {\n    destroy = false\n  }\n}\n"),
    );
    ws.apply();
    redis(&["UNLINK", &key]);
    let hex: String = user.bytes().map(|b| format!("{b:02x}")).collect();
    for claim in [format!("redis/{name}"), format!("redis-user/{hex}")] {
        vault("DELETE", &format!("secret/metadata/dbaas/claims/{claim}"), None);
    }
}
