//! The escape matrix: every rule of the authority model (`dbaas::platform::authority`) that
//! a server enforces, tried on PostgreSQL 15, 17 and 18, MariaDB and Redis with
//! credentials got as apps and teams get them (Vault's creds and static-creds paths; a
//! team's token writing a role on its own connection, for the management login). A probe
//! succeeds exactly when the server lets it through; a cell passes when that is what the
//! model says. A rule with no probe for a server it holds on fails the matrix, so the model
//! and the test cannot drift apart. Each run prints the matrix's size and result.

use dbaas::platform::authority::{Enforcer, Holder, Object, Rule, Server, Verb, rules_on};
use serde_json::json;

use crate::redis_namespace::{RedisCleanup, namespace_name, redis_session};
use crate::util::*;

/// The outcome of one probe: whether the server let it through, and what it said.
type Outcome = Result<String, String>;

/// Runs the server's cells with `probe`, returning (cells, failures as lines).
fn walk(server: Server, mut probe: impl FnMut(&Rule) -> Option<Outcome>) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut cells = 0;
    for rule in rules_on(server).filter(|r| r.by == Enforcer::Server) {
        cells += 1;
        match probe(rule) {
            None => failures.push(format!("no probe for {:?} {:?} {:?}", rule.holder, rule.object, rule.verb)),
            Some(outcome) if outcome.is_ok() != rule.allowed => failures.push(format!(
                "{:?} {:?} {:?}: the model says {}, the server {}: {outcome:?}",
                rule.holder,
                rule.object,
                rule.verb,
                if rule.allowed { "yes" } else { "no" },
                if outcome.is_ok() { "let it through" } else { "refused" },
            )),
            Some(_) => {}
        }
    }
    (cells, failures)
}

fn report(server: &str, cells: usize, failures: &[String]) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "escape matrix on {server}: {cells} cells, {} passed, {} failed",
        cells - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "escape matrix on {server}:\n{}", failures.join("\n"));
}

fn issue(path: &str) -> (String, String) {
    let creds = vault("GET", path, None);
    let data = &creds["data"];
    assert!(data["username"].is_string(), "Vault issued nothing at {path}: {creds}");
    (data["username"].as_str().unwrap().to_owned(), data["password"].as_str().unwrap().to_owned())
}

/// Runs `statement` as the management login of the database behind `connection`, the way
/// a team's token can: a role on its own connection whose creation statement it is. Ok
/// when Vault issued (the server ran it).
fn as_management_login(mount: &str, connection: &str, n: usize, statement: &str) -> Outcome {
    let path = format!("{mount}/roles/{connection}-probe{n}");
    let written = vault(
        "POST",
        &path,
        Some(&json!({
            "db_name": connection,
            "creation_statements": [statement],
            "revocation_statements": ["SELECT 1"],
            "default_ttl": "2m",
        })),
    );
    assert!(written["errors"].is_null(), "the probe role was not written: {written}");
    let issued = vault("GET", &format!("{mount}/creds/{connection}-probe{n}"), None);
    vault("DELETE", &path, None);
    if issued["data"]["username"].is_string() { Ok("issued".into()) } else { Err(issued.to_string()) }
}

fn postgres_matrix(port: u16, major: u32, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (mine, other) = (format!("{}_a", c.prefix), format!("{}_b", c.prefix));
    let stack = if port == 5432 { Stack::default().postgres(5432, "") } else { Stack::default().postgres_direct(port) };
    let database = |label: &str, name: &str| {
        format!(
            "resource \"dbaas_shared_database\" \"{label}\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
        )
    };
    let role = |short: &str, settings: &str| {
        format!(
            "resource \"dbaas_rotated_role\" \"{short}\" {{\n  database = dbaas_shared_database.mine.id\n  name = \"{short}\"\n  {settings}\n}}\n"
        )
    };
    let resources = database("mine", &mine)
        + &database("other", &other)
        + &role("own", "privileges = \"owner\"")
        + &role("rw", "privileges = \"readwrite\"")
        + &role("ro", "privileges = \"readonly\"")
        + &role("st", "mode = \"static\"");
    let ws = Workspace::new(tf, label, &stack.vault(&c.mount, "token = \"root\"").main_tf(&resources));
    ws.init();
    ws.apply();
    let mount = &c.mount;
    let credentials = |holder: Holder| match holder {
        Holder::AppOwner => issue(&format!("{mount}/creds/postgres-{mine}-own")),
        Holder::AppReadwrite => issue(&format!("{mount}/creds/postgres-{mine}-rw")),
        Holder::AppReadonly => issue(&format!("{mount}/creds/postgres-{mine}-ro")),
        Holder::StaticLogin => issue(&format!("{mount}/static-creds/postgres-{mine}-st")),
        Holder::ManagementLogin => unreachable!("driven through Vault"),
    };
    // Apps reach 15 through PgBouncer, which checks passwords; 17 and 18 are reached directly.
    let run = |user: &str, password: &str, database: &str, sql: &str| {
        if port == 5432 {
            psql_pooled(user, password, database, sql)
        } else {
            psql_as(port, user, password, database, sql)
        }
    };
    // The app's own migration makes its table, as the owner group (default privileges
    // give the other levels theirs).
    let (owner, owner_password) = credentials(Holder::AppOwner);
    run(&owner, &owner_password, &mine, "CREATE TABLE trades (id int); INSERT INTO trades VALUES (1)")
        .unwrap_or_else(|e| panic!("the owner app could not make its table: {e}"));
    let mut n = 0;
    let (cells, failures) = walk(Server::Postgres(major), |rule| {
        n += 1;
        let claim_role = format!("dbaas-claim:{mine}");
        if rule.holder == Holder::ManagementLogin {
            let statement = match (rule.object, rule.verb) {
                (Object::OwnData, Verb::Read) => "SELECT count(*) FROM public.trades".to_owned(),
                // The login's password is Vault's alone: ask the server whether it may.
                // (A constant 1 / 0 would be folded at plan time, so the divisor is not one.)
                (Object::OtherTenantData, Verb::Connect) => {
                    format!("SELECT 1 / (CASE WHEN has_database_privilege('{other}', 'CONNECT') THEN 1 ELSE 0 END)")
                }
                (Object::ProviderLocks, Verb::Connect) => {
                    "SELECT 1 / (CASE WHEN has_database_privilege('dbaas-provider', 'CONNECT') THEN 1 ELSE 0 END)"
                        .to_owned()
                }
                (Object::OtherTenantRoles, Verb::Assume) => format!("SET LOCAL ROLE \"{other}_owner\""),
                (Object::PredefinedRoles, Verb::Assume) => "SET LOCAL ROLE pg_read_server_files".to_owned(),
                (Object::NewRole, Verb::Create) => format!("CREATE ROLE \"{}_new{n}\" NOLOGIN", c.prefix),
                (Object::Claims, Verb::Alter) => {
                    format!("COMMENT ON ROLE \"{claim_role}\" IS 'claim forged since 2026-01-01T00:00:00Z'")
                }
                _ => return None,
            };
            return Some(as_management_login(mount, &format!("postgres-{mine}"), n, &statement));
        }
        let (user, password) = credentials(rule.holder);
        let (database, sql) = match (rule.object, rule.verb) {
            (Object::OwnData, Verb::Read) => (mine.clone(), "SELECT count(*) FROM trades".to_owned()),
            (Object::OwnData, Verb::Write) => (mine.clone(), "INSERT INTO trades VALUES (2)".to_owned()),
            (Object::OwnData, Verb::Create) => (mine.clone(), format!("CREATE TABLE probe{n} (id int)")),
            (Object::OtherTenantData, Verb::Connect) => (other.clone(), "SELECT 1".to_owned()),
            (Object::ServerDatabases, Verb::Connect) => ("postgres".to_owned(), "SELECT 1".to_owned()),
            // PUBLIC may connect to `postgres` on these servers: the provider locks in its own.
            (Object::ProviderLocks, Verb::Connect) => ("dbaas-provider".to_owned(), "SELECT 1".to_owned()),
            (Object::ServerDatabases, Verb::Create) => {
                ("postgres".to_owned(), format!("CREATE TABLE public.\"{}_probe{n}\" (id int)", c.prefix))
            }
            (Object::OtherTenantRoles, Verb::Assume) => (mine.clone(), format!("SET ROLE \"{other}_owner\"")),
            (Object::OtherTenantRoles, Verb::Alter) => {
                (mine.clone(), format!("ALTER ROLE \"{other}_vault\" PASSWORD 'stolen'"))
            }
            (Object::PredefinedRoles, Verb::Assume) => (mine.clone(), "SET ROLE pg_read_server_files".to_owned()),
            (Object::NewRole, Verb::Create) => (mine.clone(), format!("CREATE ROLE \"{}_new{n}\" LOGIN", c.prefix)),
            (Object::ServerFiles, Verb::Read) => (mine.clone(), "SELECT pg_read_file('/etc/hostname')".to_owned()),
            (Object::Claims, Verb::Alter) => {
                (mine.clone(), format!("COMMENT ON ROLE \"{claim_role}\" IS 'claim forged since 2026-01-01T00:00:00Z'"))
            }
            _ => return None,
        };
        Some(run(&user, &password, &database, &sql))
    });
    ws.destroy();
    report(&format!("PostgreSQL {major}"), cells, &failures);
}

#[test]
fn escape_matrix_on_postgres_15() {
    postgres_matrix(5432, 15, "escapes15");
}

#[test]
fn escape_matrix_on_postgres_17() {
    postgres_matrix(PG17, 17, "escapes17");
}

#[test]
fn escape_matrix_on_postgres_18() {
    postgres_matrix(PG18, 18, "escapes18");
}

#[test]
fn escape_matrix_on_mysql() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("escapesmy");
    let base: String = c.prefix.chars().take(20).collect::<String>().trim_end_matches('_').to_owned();
    let c = Cleanup { prefix: base.clone(), mount: c.mount.clone() };
    // `x_a` as a bare grant pattern would also name `xxa`, made by hand as another tenant's.
    let (mine, other, neighbour) = (format!("{base}_x_a"), format!("{base}_b"), format!("{base}_xxa"));
    let database = |label: &str, name: &str| {
        format!(
            "resource \"dbaas_shared_database\" \"{label}\" {{\n  name = \"{name}\"\n  engine = \"mysql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
        )
    };
    let role = |short: &str, settings: &str| {
        format!(
            "resource \"dbaas_rotated_role\" \"{short}\" {{\n  database = dbaas_shared_database.mine.id\n  name = \"{short}\"\n  {settings}\n}}\n"
        )
    };
    let resources = database("mine", &mine)
        + &database("other", &other)
        + &role("own", "privileges = \"owner\"")
        + &role("rw", "privileges = \"readwrite\"")
        + &role("ro", "privileges = \"readonly\"")
        + &role("st", "mode = \"static\"")
        + &role("theirs", "privileges = \"readonly\"")
            .replace("dbaas_shared_database.mine", "dbaas_shared_database.other")
        + &role("theirst", "mode = \"static\"").replace("dbaas_shared_database.mine", "dbaas_shared_database.other");
    let ws = Workspace::new(
        tf,
        "escapesmy",
        &Stack::default().mysql().vault(&c.mount, "token = \"root\"").main_tf(&resources),
    );
    ws.init();
    ws.apply();
    mysql(&format!("CREATE TABLE `{mine}`.trades (id INT); INSERT INTO `{mine}`.trades VALUES (1)"));
    mysql(&format!("CREATE TABLE `{other}`.secrets (v TEXT); INSERT INTO `{other}`.secrets VALUES ('theirs')"));
    mysql(&format!("CREATE DATABASE `{neighbour}`; CREATE TABLE `{neighbour}`.secrets (v TEXT)"));
    let mount = &c.mount;
    // Another tenant's user, issued as its app gets it: what the management login must not drop.
    let (victim, _) = issue(&format!("{mount}/creds/mysql-{other}-theirs"));
    let exists = |user: &str| mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{user}'")) == "1";
    let mut n = 0;
    let (cells, failures) = walk(Server::Mysql, |rule| {
        n += 1;
        if rule.holder == Holder::ManagementLogin {
            // A team's token writes a role on its own connection: each statement runs as
            // `<mine>_vault`. Several ways at one cell: any let through is an escape.
            let connection = format!("mysql-{mine}");
            let mut attempt = |statement: &str| {
                n += 1;
                as_management_login(mount, &connection, n, statement)
            };
            let any = |outcomes: Vec<Outcome>| {
                outcomes.iter().find(|o| o.is_ok()).cloned().unwrap_or_else(|| outcomes[0].clone())
            };
            return Some(match (rule.object, rule.verb) {
                (Object::OtherTenantData, Verb::Read) => any(vec![
                    attempt(&format!("SELECT v FROM `{other}`.secrets")),
                    attempt(&format!(
                        "CALL `dbaas-provider`.`issue_user`('{{{{name}}}}', '{{{{password}}}}', 'readonly'); GRANT SELECT ON `{other}`.* TO '{{{{name}}}}'@'%'"
                    )),
                ]),
                (Object::ServerDatabases, Verb::Read) => attempt("SELECT COUNT(*) FROM mysql.user"),
                (Object::OtherTenantRoles, Verb::Alter) => {
                    let dropped = attempt(&format!("CALL `dbaas-provider`.`drop_user`('{victim}')")).and_then(|_| {
                        if exists(&victim) { Err("the issuer left it".to_owned()) } else { Ok("dropped".to_owned()) }
                    });
                    any(vec![
                        attempt(&format!("ALTER USER '{other}_vault'@'%' IDENTIFIED BY 'stolen'")),
                        attempt(&format!("CALL `dbaas-provider`.`set_password`('{other}_theirst', 'stolen')")),
                        dropped,
                    ])
                }
                (Object::NewRole, Verb::Create) => attempt(&format!("CREATE USER '{base}_new'@'%' IDENTIFIED BY 'x'")),
                (Object::FutureDatabaseRole, Verb::Create) => {
                    attempt(&format!("CALL `dbaas-provider`.`issue_user`('{base}_future_vault', 'planted', 'owner')"))
                }
                (Object::Claims, Verb::Alter) => any(vec![
                    attempt("DELETE FROM `dbaas-provider`.claims"),
                    attempt(&format!(
                        "INSERT INTO `dbaas-provider`.logins (login, db, kind) VALUES ('{victim}', '{mine}', 'issued')"
                    )),
                    attempt(&format!("UPDATE `dbaas-provider`.issuers SET db = '{other}' WHERE db = '{mine}'")),
                ]),
                _ => return None,
            });
        }
        let (user, password) = match rule.holder {
            Holder::AppOwner => issue(&format!("{mount}/creds/mysql-{mine}-own")),
            Holder::AppReadwrite => issue(&format!("{mount}/creds/mysql-{mine}-rw")),
            Holder::AppReadonly => issue(&format!("{mount}/creds/mysql-{mine}-ro")),
            Holder::StaticLogin => issue(&format!("{mount}/static-creds/mysql-{mine}-st")),
            Holder::ManagementLogin => unreachable!("driven through Vault"),
        };
        let sql = match (rule.object, rule.verb) {
            (Object::OwnData, Verb::Read) => format!("SELECT COUNT(*) FROM `{mine}`.trades"),
            (Object::OwnData, Verb::Write) => format!("INSERT INTO `{mine}`.trades VALUES (2)"),
            (Object::OwnData, Verb::Create) => format!("CREATE TABLE `{mine}`.probe{n} (id INT)"),
            (Object::OtherTenantData, Verb::Read) => format!("SELECT v FROM `{other}`.secrets"),
            (Object::WildcardNeighbour, Verb::Read) => format!("SELECT v FROM `{neighbour}`.secrets"),
            (Object::WildcardNeighbour, Verb::Write) => format!("INSERT INTO `{neighbour}`.secrets VALUES ('mine')"),
            (Object::ServerDatabases, Verb::Read) => "SELECT COUNT(*) FROM mysql.user".to_owned(),
            (Object::OtherTenantRoles, Verb::Alter) => format!("ALTER USER '{other}_vault'@'%' IDENTIFIED BY 'stolen'"),
            (Object::NewRole, Verb::Create) => format!("CREATE USER '{base}_new{n}'@'%' IDENTIFIED BY 'x'"),
            // LOAD_FILE answers NULL without the FILE privilege: a second row makes that an error.
            (Object::ServerFiles, Verb::Read) => {
                "SELECT IF(LOAD_FILE('/etc/hostname') IS NULL, (SELECT 1 UNION SELECT 2), 1)".to_owned()
            }
            (Object::Claims, Verb::Alter) => "DELETE FROM `dbaas-provider`.claims".to_owned(),
            _ => return None,
        };
        Some(mysql_as(&user, &password, &sql))
    });
    // The management login's calls above were made under its own name: the issuer took
    // its database from that, so its own users still come and go.
    let (own, _) = issue(&format!("{mount}/creds/mysql-{mine}-ro"));
    // Before the destroy: an escape may have broken another tenant's connection, and so it.
    report("MariaDB", cells, &failures);
    ws.destroy();
    for user in [&victim, &own] {
        assert!(!exists(user), "{user} outlived its database's destroy");
    }
}

#[test]
fn escape_matrix_on_redis() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("escapesrd");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let (mine, other) = (format!("{name}-a"), format!("{name}-b"));
    let resources = format!(
        "resource \"dbaas_redis_namespace\" \"mine\" {{\n  name = \"{mine}\"\n}}\n\
         resource \"dbaas_redis_namespace\" \"other\" {{\n  name = \"{other}\"\n}}\n\
         resource \"dbaas_rotated_role\" \"rw\" {{\n  database = dbaas_redis_namespace.mine.id\n  name = \"rw\"\n}}\n\
         resource \"dbaas_rotated_role\" \"ro\" {{\n  database = dbaas_redis_namespace.mine.id\n  name = \"ro\"\n  privileges = \"readonly\"\n}}\n"
    );
    let ws = Workspace::new(
        tf,
        "escapesrd",
        &Stack::default()
            .redis("addresses = [\"127.0.0.1:6379\"]")
            .vault(&c.mount, "token = \"root\"")
            .main_tf(&resources),
    );
    ws.init();
    ws.apply();
    let mount = &c.mount;
    let (cells, failures) = walk(Server::Redis, |rule| {
        let (user, password) = match rule.holder {
            Holder::AppReadwrite => issue(&format!("{mount}/creds/redis-{mine}-rw")),
            Holder::AppReadonly => issue(&format!("{mount}/creds/redis-{mine}-ro")),
            _ => return None,
        };
        let command = match (rule.object, rule.verb) {
            (Object::OwnData, Verb::Write) => format!("SET {mine}:k v"),
            (Object::OtherTenantData, Verb::Read) => format!("GET {other}:k"),
            (Object::Claims, Verb::Alter) => format!("SET __dbaas_provider:claim:{mine} forged"),
            (Object::ServerWideCommands, Verb::Run) => "KEYS *".to_owned(),
            _ => return None,
        };
        let answers = redis_session(&[format!("AUTH {user} {password}"), command]);
        assert_eq!(answers.first().map(String::as_str), Some("OK"), "{user} could not log in: {answers:?}");
        let answer = answers.get(1).cloned().unwrap_or_default();
        Some(if answer.starts_with("NOPERM") || answer.starts_with("ERR") { Err(answer) } else { Ok(answer) })
    });
    ws.destroy();
    report("Redis", cells, &failures);
}
