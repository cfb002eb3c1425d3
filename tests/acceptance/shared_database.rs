//! `dbaas_shared_database`: a stack asks for a database and gets everything an app needs
//! but credentials. Each story applies a `.tf` fixture with a real Terraform, then looks
//! at the real PostgreSQL, MariaDB and OpenBao to prove it.

use serde_json::json;

use crate::util::*;

fn config(c: &Cleanup, name: &str, engine: &str, settings: &str) -> String {
    fixture("shared_database.tf", &[("mount", &c.mount), ("name", name), ("engine", engine), ("settings", settings)])
}

/// On PostgreSQL 15 a hand-made role goes through the issuer's functions, for revocation too
/// (the management login may not drop roles itself there).
const ISSUED_READWRITE: (&str, &str) = (
    "SELECT dbaas_vault.create_user('{{name}}', '{{password}}', '{{expiration}}', 'readwrite');",
    "SELECT dbaas_vault.drop_user('{{name}}');",
);

/// Writes a hand-made Vault role on the database's connection and issues a login from it
/// over HTTP, as an app would: (username, password).
fn issue_login(c: &Cleanup, connection: &str, (creation_sql, revocation_sql): (&str, &str)) -> (String, String) {
    let role = format!("{connection}-probe");
    let mut body = json!({"db_name": connection, "creation_statements": [creation_sql], "default_ttl": "1h"});
    if !revocation_sql.is_empty() {
        body["revocation_statements"] = json!([revocation_sql]);
    }
    vault("POST", &format!("{}/roles/{role}", c.mount), Some(&body));
    let creds = vault("GET", &format!("{}/creds/{role}", c.mount), None);
    let data = &creds["data"];
    assert!(data["username"].is_string(), "Vault issued nothing: {creds}");
    (data["username"].as_str().unwrap().to_owned(), data["password"].as_str().unwrap().to_owned())
}

#[test]
fn postgres_create_update_replace_destroy() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("pgdb");
        let name = c.prefix.clone();
        let ws = Workspace::new(
            tf,
            "pgdb",
            &config(&c, &name, "postgresql", "extensions = [\"pgcrypto\"]\n  deletion_policy = \"drop\""),
        );
        ws.init();
        ws.apply();
        ws.assert_plan_empty();

        // The catalogs say what the docs say.
        assert_eq!(
            psql("postgres", &format!("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'")),
            format!("{name}_owner")
        );
        assert_eq!(psql("postgres", &format!("SELECT has_database_privilege('public', '{name}', 'CONNECT')")), "f");
        assert_eq!(psql(&name, "SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'"), "pgcrypto");
        assert_eq!(
            psql("postgres", &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{name}_readwrite'")),
            "f"
        );
        let out = ws.outputs();
        let db = &out["database"]["value"];
        assert_eq!(db["host"], "127.0.0.1");
        assert_eq!(db["port"], 6432);
        assert_eq!(db["admin_port"], 5432);
        assert_eq!(db["connection_uri"], format!("postgresql://127.0.0.1:6432/{name}?sslmode=disable"));
        let connection = db["vault_connection"].as_str().unwrap().to_owned();
        assert_eq!(connection, format!("postgres-{name}"));

        // Only Vault knows the management login's password now.
        let conn = vault("GET", &format!("{}/config/{connection}", c.mount), None);
        assert_eq!(conn["data"]["allowed_roles"], json!([format!("{connection}-*")]));

        // A user Vault issues on a hand-written role logs in through PgBouncer (SCRAM).
        let (user, password) = issue_login(&c, &connection, ISSUED_READWRITE);
        assert_eq!(psql_pooled(&user, &password, &name, "SELECT current_database()").unwrap(), name);
        assert!(
            psql_pooled(&user, "not-the-password", &name, "SELECT 1").is_err(),
            "PgBouncer accepted a wrong password"
        );

        // In place: connection limit and extensions.
        ws.write_main(&config(
            &c,
            &name,
            "postgresql",
            "extensions = [\"citext\"]\n  connection_limit = 20\n  deletion_policy = \"drop\"",
        ));
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("will be updated in-place"), "{plan}");
        ws.apply();
        ws.assert_plan_empty();
        assert_eq!(psql("postgres", &format!("SELECT datconnlimit FROM pg_database WHERE datname = '{name}'")), "20");
        assert_eq!(
            psql(
                &name,
                "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'"
            ),
            "citext"
        );

        // PgBouncer keeps server connections to the database: replacing it needs force_drop,
        // which (like every destroy setting) must be applied before the change that uses it.
        ws.write_main(&config(
            &c,
            &name,
            "postgresql",
            "extensions = [\"citext\"]\n  connection_limit = 20\n  deletion_policy = \"drop\"\n  force_drop = true",
        ));
        ws.apply();
        // Encoding forces replacement, and the plan says so.
        ws.write_main(&config(&c, &name, "postgresql", "template = \"template0\"\n  encoding = \"SQL_ASCII\"\n  lc_collate = \"C\"\n  lc_ctype = \"C\"\n  deletion_policy = \"drop\"\n  force_drop = true"));
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("must be replaced") && plan.contains("forces replacement"), "{plan}");
        ws.apply();
        ws.assert_plan_empty();
        assert_eq!(
            psql(
                "postgres",
                &format!("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '{name}'")
            ),
            "SQL_ASCII"
        );
        assert_eq!(
            psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}'")),
            "0",
            "the old lease's user survived replacement"
        );

        ws.destroy();
        assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
        assert_eq!(
            psql(
                "postgres",
                &format!(
                    "SELECT count(*) FROM pg_roles WHERE rolname LIKE '{name}%' OR rolname LIKE 'v-%{}%'",
                    &name[..10]
                )
            ),
            "0"
        );
        assert!(
            vault("GET", &format!("{}/config/{connection}", c.mount), None)["data"].is_null(),
            "Vault connection left behind"
        );
    }
}

#[test]
fn postgres_import_and_drift() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("pgimport");
        let name = c.prefix.clone();
        let ws = Workspace::new(tf, "pgimport", &config(&c, &name, "postgresql", "extensions = [\"pgcrypto\"]"));
        ws.init();
        ws.apply();

        // Import fills the whole state: a plan right after it only takes the claim (which
        // the retaining destroy gave up).
        ws.destroy();
        ws.ok(&["import", "-no-color", "-input=false", "dbaas_shared_database.this", &format!("postgresql/{name}")]);
        assert_eq!(ws.assert_plan_takes_only_claims(), 1);
        ws.apply();
        ws.assert_plan_empty();

        // A changed connection limit and a missing extension are in-place diffs.
        psql("postgres", &format!("ALTER DATABASE \"{name}\" CONNECTION LIMIT 3"));
        psql(&name, "DROP EXTENSION pgcrypto");
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("will be updated in-place") && plan.contains("connection_limit"), "{plan}");
        ws.apply();
        ws.assert_plan_empty();
        assert_eq!(psql(&name, "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"), "1");

        // A Vault connection deleted, or a group role dropped, outside Terraform is put back.
        let connection = format!("postgres-{name}");
        vault("DELETE", &format!("{}/config/{connection}", c.mount), None);
        psql(&name, &format!("DROP OWNED BY \"{name}_readonly\""));
        psql("postgres", &format!("DROP ROLE \"{name}_readonly\""));
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("vault_connection") && plan.contains("readonly_role"), "{plan}");
        ws.apply();
        ws.assert_plan_empty();
        assert!(
            !vault("GET", &format!("{}/config/{connection}", c.mount), None)["data"].is_null(),
            "Vault connection not restored"
        );
        assert_eq!(psql(&name, &format!("SELECT has_schema_privilege('{name}_readonly', 'public', 'USAGE')")), "t");

        // A database dropped outside Terraform leaves state, and the next plan recreates it.
        psql("postgres", &format!("DROP DATABASE \"{name}\" WITH (FORCE)"));
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("will be created"), "{plan}");
        ws.apply();
        assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "1");

        // retain (the default) forgets, keeps everything, and says what it kept.
        let out = ws.destroy();
        assert!(out.contains("Database retained") && out.contains(&format!("{name}_owner")), "{out}");

        // Creating one that exists but is not in state says to import it.
        let out = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert!(out.contains("already exists") && out.contains("terraform import"), "{out}");
        ws.ok(&["import", "-no-color", "-input=false", "dbaas_shared_database.this", &format!("postgresql/{name}")]);
        let out = ws.destroy();
        assert!(out.contains("Database retained") && out.contains(&format!("{name}_owner")), "{out}");
        assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "1");
    }
}

#[test]
fn postgres_deletion_policies() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("pgdel");
        let name = c.prefix.clone();
        let ws = Workspace::new(tf, "pgdel", &config(&c, &name, "postgresql", "deletion_policy = \"drop\""));
        ws.init();
        ws.apply();

        // drop refuses while a client is connected, and changes nothing.
        let mut client = std::process::Command::new("psql")
            .args(["-X", "-h", "127.0.0.1", "-U", "postgres", "-d", &name, "-c", "SELECT pg_sleep(60)"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..50 {
            if psql(
                "postgres",
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'psql'"
                ),
            ) == "1"
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let out = ws.fails(&["destroy", "-auto-approve", "-no-color", "-input=false"]);
        assert!(out.contains("Database in use") && out.contains("force_drop"), "{out}");
        assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "1");
        let connection = format!("postgres-{name}");
        assert!(
            !vault("GET", &format!("{}/config/{connection}", c.mount), None)["data"].is_null(),
            "Vault connection removed by a refused destroy"
        );

        // force_drop disconnects it.
        ws.write_main(&config(&c, &name, "postgresql", "deletion_policy = \"drop\"\n  force_drop = true"));
        ws.apply();
        ws.destroy();
        let _ = client.wait();
        assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");

        // archive renames, locks, and keeps the data.
        ws.write_main(&config(&c, &name, "postgresql", "deletion_policy = \"archive\""));
        ws.apply();
        psql(&name, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)");
        let out = ws.destroy();
        assert!(out.contains("Database archived"), "{out}");
        let archived =
            psql("postgres", &format!("SELECT datname FROM pg_database WHERE datname LIKE '{name}\\_\\_archived\\_%'"));
        assert!(!archived.is_empty(), "no archived database");
        assert_eq!(psql(&archived, "SELECT v FROM kept"), "42");
        assert_eq!(
            psql("postgres", &format!("SELECT has_database_privilege('{name}_readwrite', '{archived}', 'CONNECT')")),
            "f"
        );
        assert!(vault("GET", &format!("{}/config/{connection}", c.mount), None)["data"].is_null());
    }
}

#[test]
fn bad_names_are_refused_at_plan_and_create_nothing() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("badname");
        for (engine, name, why) in [
            ("postgresql", "Bad-Name", "lowercase letters"),
            ("postgresql", r#"x\"; DROP DATABASE postgres; --"#, "lowercase letters"),
            ("postgresql", "template1", "reserved"),
            ("postgresql", &"a".repeat(40), "at most 36"),
            ("mysql", &"b".repeat(27), "at most 26"),
        ] {
            let ws = Workspace::new(tf, "badname", &config(&c, name, engine, ""));
            ws.init();
            let out = ws.fails(&["plan", "-no-color", "-input=false"]);
            // Terraform wraps diagnostic text; compare with white space collapsed.
            let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains("Invalid database name") && flat.contains(why), "{name}: {out}");
            assert!(out.contains("name   = ") || out.contains("name ="), "not pointed at the attribute: {out}");
        }
        // Nothing reached a server: no mount was even created.
        assert!(vault("GET", &format!("sys/mounts/{}", c.mount), None)["type"].is_null());
    }
}

#[test]
fn two_stacks_applying_at_once() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("concurrent");
    let stacks: Vec<Workspace> = (0..2)
        .map(|i| {
            let mut main = fixture("shared_database.tf", &[("mount", &c.mount), ("name", &format!("{}_{i}_0", c.prefix)), ("engine", "postgresql"), ("settings", "deletion_policy = \"drop\"")]);
            for j in 1..4 {
                main.push_str(&format!(
                    "resource \"dbaas_shared_database\" \"more{j}\" {{\n  name = \"{}_{i}_{j}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n",
                    c.prefix
                ));
            }
            let ws = Workspace::new(tf, "concurrent", &main);
            ws.init();
            ws
        })
        .collect();
    std::thread::scope(|s| {
        for ws in &stacks {
            s.spawn(|| ws.apply());
        }
    });
    let count = psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{}\\_%'", c.prefix));
    assert_eq!(count, "8");
    std::thread::scope(|s| {
        for ws in &stacks {
            s.spawn(|| ws.destroy());
        }
    });
}

#[test]
fn mysql_create_update_import_destroy() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("mydb");
        let name = c.prefix.chars().take(24).collect::<String>().trim_end_matches('_').to_owned();
        let c = Cleanup { prefix: name.clone(), mount: c.mount.clone() };
        let ws = Workspace::new(
            tf,
            "mydb",
            &config(&c, &name, "mysql", "character_set = \"utf8mb4\"\n  deletion_policy = \"drop\""),
        );
        ws.init();
        ws.apply();
        ws.assert_plan_empty();
        assert_eq!(
            mysql(&format!(
                "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"
            )),
            "utf8mb4"
        );
        let connection = format!("mysql-{name}");
        assert_eq!(ws.outputs()["database"]["value"]["vault_connection"], connection);

        // A user Vault issues on a hand-written role logs in with its password, and only with it.
        // The management login holds no CREATE USER: a hand-written role on its connection
        // issues through the issuer's procedures, as the provider's own roles do.
        let (user, password) = issue_login(
            &c,
            &connection,
            (
                "CALL `dbaas-provider`.`issue_user`('{{name}}', '{{password}}', 'readonly');",
                "CALL `dbaas-provider`.`drop_user`('{{name}}');",
            ),
        );
        assert_eq!(
            mysql_as(
                &user,
                &password,
                &format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'")
            )
            .unwrap(),
            "1"
        );
        assert!(mysql_as(&user, "wrong", "SELECT 1").is_err());

        // Collation changes in place.
        ws.write_main(&config(
            &c,
            &name,
            "mysql",
            "character_set = \"utf8mb4\"\n  collation = \"utf8mb4_bin\"\n  deletion_policy = \"drop\"",
        ));
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("will be updated in-place"), "{plan}");
        ws.apply();
        ws.assert_plan_empty();

        // A retaining destroy gives the claim up; import then takes it again.
        ws.write_main(&config(
            &c,
            &name,
            "mysql",
            "character_set = \"utf8mb4\"\n  collation = \"utf8mb4_bin\"\n  deletion_policy = \"retain\"",
        ));
        ws.apply();
        ws.destroy();
        ws.ok(&["import", "-no-color", "-input=false", "dbaas_shared_database.this", &format!("mysql/{name}")]);
        assert_eq!(ws.assert_plan_takes_only_claims(), 1);
        ws.write_main(&config(
            &c,
            &name,
            "mysql",
            "character_set = \"utf8mb4\"\n  collation = \"utf8mb4_bin\"\n  deletion_policy = \"drop\"",
        ));
        ws.apply();
        ws.destroy();
        assert_eq!(
            mysql(&format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'")),
            "0"
        );
        assert_eq!(
            mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{user}' OR User = '{name}_vault'")),
            "0",
            "issued or management users left behind"
        );
    }
}

#[test]
fn import_by_identity() {
    require_services();
    // `import { identity = ... }` exists from Terraform 1.12.
    for tf in terraforms_since(1, 12, "import by identity") {
        let c = Cleanup::new("pgident");
        let name = c.prefix.clone();
        let ws = Workspace::new(tf, "pgident", &config(&c, &name, "postgresql", ""));
        ws.init();
        ws.apply();
        ws.destroy();
        let mut main = config(&c, &name, "postgresql", "");
        main.push_str(&format!(
            "import {{\n  to       = dbaas_shared_database.this\n  identity = {{ engine = \"postgresql\", name = \"{name}\" }}\n}}\n"
        ));
        ws.write_main(&main);
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("1 to import, 0 to add, 1 to change, 0 to destroy") && plan.contains("claim"), "{plan}");
        ws.apply();
        ws.assert_plan_empty();
        let state = ws.show();
        assert_eq!(state["values"]["root_module"]["resources"][0]["values"]["id"], format!("postgresql/{name}"));
    }
}

#[test]
fn mysql_archive_moves_the_tables_and_keeps_the_data() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("myarch");
    let name: String = c.prefix.chars().take(24).collect::<String>().trim_end_matches('_').to_owned();
    let c = Cleanup { prefix: name.clone(), mount: c.mount.clone() };
    let ws = Workspace::new(tf, "myarch", &config(&c, &name, "mysql", "deletion_policy = \"archive\""));
    ws.init();
    ws.apply();
    mysql(&format!("CREATE TABLE `{name}`.kept (v int); INSERT INTO `{name}`.kept VALUES (42)"));
    let out = ws.destroy();
    assert!(out.contains("Database archived"), "{out}");
    assert_eq!(mysql(&format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'")), "0");
    let archived = mysql(&format!(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '{name}\\\\_\\\\_archived\\\\_%'"
    ));
    assert!(!archived.is_empty(), "no archived database");
    assert_eq!(mysql(&format!("SELECT v FROM `{archived}`.kept")), "42");
    assert_eq!(
        mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{name}_vault'")),
        "0",
        "management login left behind"
    );
}

/// PgBouncer's admin password, made by `make services`.
fn pooler_admin_password() -> String {
    let dir = std::env::var("DBAAS_SERVICES_DIR").unwrap_or_else(|_| "/var/tmp/dbaas-services".into());
    let path = std::path::Path::new(&dir).join("pgbouncer_admin.password");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run `make services`", path.display()))
        .trim()
        .to_owned()
}

#[test]
fn drop_after_apps_used_pgbouncer_counts_only_real_sessions() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("pgbdrop");
    let name = c.prefix.clone();
    let mut main = config(&c, &name, "postgresql", "deletion_policy = \"drop\"").replace(
        "pooler_auth_user = \"pgbouncer_auth\"",
        "pooler_auth_user = \"pgbouncer_auth\"\n    pooler_admin_user = \"pgbouncer_admin\"",
    );
    main.push_str("resource \"dbaas_rotated_role\" \"app\" {\n  database = dbaas_shared_database.this.id\n  name     = \"app\"\n}\n");
    assert!(main.contains("pooler_admin_user"), "{main}");
    let ws = Workspace::new(tf, "pgbdrop", &main).env("DBAAS_POSTGRES_POOLER_ADMIN_PASSWORD", &pooler_admin_password());
    ws.init();
    ws.apply();

    // An app logs in through PgBouncer, runs a query and goes: PgBouncer keeps the server
    // connection, which PostgreSQL lists like a client.
    let (user, password) = issue_login(&c, &format!("postgres-{name}"), ISSUED_READWRITE);
    psql_pooled(&user, &password, &name, "SELECT 1").expect("the app logs in through PgBouncer");
    assert_ne!(
        psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND usename = '{user}'")
        ),
        "0",
        "PgBouncer kept no server connection, so this story proves nothing"
    );

    // A client still connected through PgBouncer is a real session: the drop is refused.
    let mut held = std::process::Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", "6432", "-U", &user, "-d", &name])
        .env("PGPASSWORD", &password)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql runs");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = ws.fails(&["destroy", "-auto-approve", "-no-color", "-input=false"]);
    assert!(out.contains("Database in use"), "{out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "1");

    // Once it has gone, only PgBouncer's idle connections remain: they do not count.
    drop(held.stdin.take());
    held.wait().unwrap();
    ws.destroy();
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
}

/// Vault keeps connections to every database it has a connection for. By default the
/// provider has it keep none idle, so right after credentials were issued from every
/// database Vault holds none, however many databases there are; with idle connections
/// allowed, they are few and close once their lifetime is over.
#[test]
fn vault_holds_few_connections_and_lets_them_go() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("vaultpool");
    let names: Vec<String> = (0..5).map(|i| format!("{}d{i}", c.prefix)).collect();
    let default_pool = config(&c, &names[0], "postgresql", "deletion_policy = \"drop\"");
    let with_idle = default_pool.replace(
        "database_mount = \"",
        // Long enough that, on a loaded CI machine, the last database's connection is
        // still within its lifetime when counted right after issuing (2 s was not).
        "max_idle_connections = 1\n    max_connection_lifetime = \"5s\"\n    database_mount = \"",
    );
    let ws = Workspace::new(tf, "vaultpool", &with_databases(&with_idle, &names));
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let issue_from_every_database = |idle: i64| {
        for name in &names {
            let connection = vault("GET", &format!("{}/config/postgres-{name}", c.mount), None);
            let details = &connection["data"]["connection_details"];
            assert_eq!(details["max_open_connections"], json!(2), "{connection}");
            assert_eq!(details["max_idle_connections"], json!(idle), "{connection}");
            // Credentials from every database, several times.
            for _ in 0..3 {
                issue_login(
                    &c,
                    &format!("postgres-{name}"),
                    (
                        "SELECT dbaas_vault.create_user('{{name}}', '{{password}}', '{{expiration}}', 'readonly');",
                        ISSUED_READWRITE.1,
                    ),
                );
            }
        }
    };
    issue_from_every_database(1);
    let held = || {
        let logins = names.iter().map(|n| format!("'{n}_vault'")).collect::<Vec<_>>().join(", ");
        psql("postgres", &format!("SELECT count(*) FROM pg_stat_activity WHERE usename IN ({logins})"))
            .parse::<usize>()
            .unwrap()
    };
    let kept = held();
    assert!(kept > 0 && kept <= names.len() * 2, "one idle connection per database was expected, not {kept}");
    // Once their lifetime is over, Vault closes them.
    let started = std::time::Instant::now();
    while held() > 0 {
        // Vault's pool closes expired connections every lifetime: at most two of them.
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "Vault still holds {} connections", held());
        std::thread::sleep(std::time::Duration::from_millis(250));
    }

    // The default: nothing kept idle (Vault is given -1, since it reads 0 as "as many as
    // max_open"). Connections held after issuing are only those still closing.
    ws.write_main(&with_databases(&default_pool, &names));
    ws.apply();
    ws.assert_plan_empty();
    issue_from_every_database(-1);
    let started = std::time::Instant::now();
    while held() > 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "Vault keeps {} connections idle", held());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ws.destroy();
}

/// Each session on the primary is a backend process forked, loaded and torn down: a create
/// opens as few as it can on the new database. The provider: one (privileges, extensions
/// installed and read back on it). Vault: one, its check that it can log in; no rotate-root,
/// which opened three more, since PostgreSQL only ever gets the password's verifier.
#[test]
fn a_create_opens_two_sessions_on_the_new_database() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("sessions");
    let names: Vec<String> = (0..3).map(|i| format!("{}d{i}", c.prefix)).collect();
    let main = config(&c, &names[0], "postgresql", "deletion_policy = \"drop\"");
    let ws = Workspace::new(tf, "sessions", &with_databases(&main, &names));
    ws.init();
    ws.apply();
    // pg_stat_database counts a session when it has ended; Vault keeps none idle.
    let sessions = || {
        let list = names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
        psql("postgres", &format!("SELECT coalesce(sum(sessions), 0) FROM pg_stat_database WHERE datname IN ({list})"))
            .parse::<usize>()
            .unwrap()
    };
    let started = std::time::Instant::now();
    let mut seen = sessions();
    while seen < 2 * names.len() && started.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        seen = sessions();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let seen = sessions();
    ws.destroy();
    assert_eq!(seen, 2 * names.len(), "sessions opened on {} new databases", names.len());
}

/// `main` with the story's other databases appended.
fn with_databases(main: &str, names: &[String]) -> String {
    let mut main = main.to_owned();
    for (i, name) in names.iter().enumerate().skip(1) {
        main.push_str(&format!(
            "resource \"dbaas_shared_database\" \"d{i}\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n"
        ));
    }
    main
}

/// Every database grants PgBouncer's auth user CONNECT, so one that does not exist is an
/// error at plan (whoever made a role of that name first would be granted it), not a
/// warning; and nothing is made at apply either.
#[test]
fn plan_refuses_a_pgbouncer_auth_user_that_does_not_exist() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("pgbauth");
    let name = c.prefix.clone();
    let good = config(&c, &name, "postgresql", "");
    let ws = Workspace::new(tf, "pgbauth", &good);
    ws.init();
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(!plan.contains("auth_user does not exist"), "{plan}");
    // Left unset, it defaults to CloudNativePG's role, which this server does not have.
    ws.write_main(&good.replace("pooler_auth_user = \"pgbouncer_auth\"", ""));
    let plan = ws.fails(&["plan", "-no-color", "-input=false"]);
    assert!(plan.contains("PgBouncer's auth_user does not exist") && plan.contains("cnpg_pooler_pgbouncer"), "{plan}");
    let applied = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    assert!(applied.contains("PgBouncer's auth_user does not exist"), "{applied}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
}

/// `plpgsql` is in every database from its template. Listed in `extensions`, it used to
/// make the apply fail with "inconsistent result" and taint the resource, so every later
/// apply dropped and recreated the database. Now it applies, plans empty, is never
/// replaced, and taking it out of the list drops nothing.
#[test]
fn default_extensions_in_the_list_plan_empty_and_are_never_dropped() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("plpgsql");
    let name = c.prefix.clone();
    let main = |listed: &str| {
        config(&c, &name, "postgresql", &format!("deletion_policy = \"drop\"\n  extensions = [{listed}]"))
    };
    let ws = Workspace::new(tf, "plpgsql", &main("\"plpgsql\", \"citext\""));
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let oid = || psql("postgres", &format!("SELECT oid FROM pg_database WHERE datname = '{name}'"));
    let first = oid();
    psql(&name, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)");
    ws.write_main(&main("\"citext\""));
    ws.apply();
    ws.assert_plan_empty();
    assert_eq!(oid(), first, "the database was replaced");
    assert_eq!(psql(&name, "SELECT count(*) FROM kept"), "1");
    assert_eq!(psql(&name, "SELECT count(*) FROM pg_extension WHERE extname = 'plpgsql'"), "1", "plpgsql was dropped");
    ws.destroy();
}

/// A template database the story made, made an ordinary database again when the story
/// ends (however it ends), so its cleanup can drop it.
struct TemplateDatabase(String);

impl Drop for TemplateDatabase {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"])
            .arg(format!("ALTER DATABASE \"{}\" IS_TEMPLATE false", self.0))
            .output();
    }
}

/// A template is copied whole into the new database: naming another stack's database
/// copied its rows (and the new stack's roles were granted on them). Only `template0`,
/// `template1` and the templates the platform names in `postgres.templates` are allowed,
/// refused at plan on the attribute, before anything is made.
#[test]
fn a_template_must_be_one_the_platform_offers() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("template");
    let (theirs, mine) = (format!("{}_theirs", c.prefix), format!("{}_mine", c.prefix));
    let template = TemplateDatabase(format!("{}_tpl", c.prefix));
    psql("postgres", &format!("CREATE DATABASE \"{theirs}\""));
    psql(&theirs, "CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('theirs')");
    psql("postgres", &format!("CREATE DATABASE \"{}\" IS_TEMPLATE true", template.0));
    let stack = |templates: &str, from: &str| {
        Stack::default().postgres(5432, templates).vault(&c.mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{mine}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  template = \"{from}\"\n}}\n"
        ))
    };
    let ws = Workspace::new(tf, "template", &stack("", &theirs));
    ws.init();
    let out = ws.fails(&["plan", "-no-color", "-input=false"]);
    assert!(out.contains("Template not allowed") && out.contains("postgres.templates"), "{out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{mine}'")), "0");

    // The platform's own template, once it names it, and template0 always.
    ws.write_main(&stack(&format!("templates = [\"{}\"]", template.0), &template.0));
    ws.apply();
    ws.assert_plan_empty();
    ws.write_main(&stack("", "template0"));
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.contains("must be replaced"), "{plan}");
    ws.destroy();
}

/// Without `pooler_admin_user`, a destroy right after an app used the database through
/// PgBouncer finds PgBouncer's idle server connection. The message says that is what the
/// client is, names the setting that lets the provider close it, and gives the command
/// that finishes the destroy; following it (`force_drop`, `apply -target`, destroy) ends
/// with everything gone and nothing recreated.
#[test]
fn a_destroy_blocked_by_pgbouncers_idle_connection_says_so() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("pgbidle");
    let name = c.prefix.clone();
    let mut main = config(&c, &name, "postgresql", "deletion_policy = \"drop\"");
    main.push_str("resource \"dbaas_rotated_role\" \"app\" {\n  database = dbaas_shared_database.this.id\n  name     = \"app\"\n}\n");
    let ws = Workspace::new(tf, "pgbidle", &main);
    ws.init();
    ws.apply();
    let (user, password) = issue_login(&c, &format!("postgres-{name}"), ISSUED_READWRITE);
    psql_pooled(&user, &password, &name, "SELECT 1").expect("the app logs in through PgBouncer");
    let kept = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND usename = '{user}'");
    assert_ne!(psql("postgres", &kept), "0", "PgBouncer kept no server connection, so this story proves nothing");

    let out = ws.fails(&["destroy", "-auto-approve", "-no-color", "-input=false"]);
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("Database in use") && flat.contains("come from PgBouncer's address"), "{out}");
    assert!(flat.contains("postgres.pooler_admin_user") && flat.contains("terraform apply -target="), "{out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "1");

    // As the message says: force_drop, recorded with a targeted apply, then destroy.
    ws.write_main(&main.replace("deletion_policy = \"drop\"", "deletion_policy = \"drop\"\n  force_drop = true"));
    let out = ws.ok(&["apply", "-auto-approve", "-no-color", "-input=false", "-target=dbaas_shared_database.this"]);
    assert!(out.contains("0 added") && out.contains("0 destroyed"), "{out}");
    ws.destroy();
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
}

/// An extension the server does not mark trusted runs with the server's own rights
/// (`file_fdw` reads its files, `dblink` reaches other databases): a stack may install one
/// only where the platform names it in `postgres.extensions`; refused at plan, on the
/// attribute, before anything is made; trusted ones need no naming.
#[test]
fn an_untrusted_extension_needs_the_platforms_say_so() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("untrusted");
    let name = c.prefix.clone();
    let stack = |allowed: &str, extensions: &str| {
        Stack::default().postgres(5432, allowed).vault(&c.mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  extensions = [{extensions}]\n}}\n"
        ))
    };
    let ws = Workspace::new(tf, "untrusted", &stack("", "\"file_fdw\", \"citext\""));
    ws.init();
    let out = ws.fails(&["plan", "-no-color", "-input=false"]);
    assert!(
        out.contains("Extension not allowed") && out.contains("\"file_fdw\"") && out.contains("postgres.extensions"),
        "{out}"
    );
    assert!(!out.contains("\"citext\" is"), "citext is trusted: {out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");

    // Trusted ones alone go through; an untrusted one added later is refused at plan too.
    ws.write_main(&stack("", "\"citext\""));
    ws.apply();
    ws.write_main(&stack("", "\"citext\", \"dblink\""));
    let out = ws.fails(&["plan", "-no-color", "-input=false"]);
    assert!(out.contains("Extension not allowed") && out.contains("\"dblink\""), "{out}");

    // Once the platform names it, it is installed.
    ws.write_main(&stack("extensions = [\"dblink\"]", "\"citext\", \"dblink\""));
    ws.apply();
    ws.assert_plan_empty();
    assert_eq!(
        psql(&name, "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'"),
        "citext,dblink"
    );
    ws.destroy();
}

/// Drops a MySQL account when the story ends, however it ends.
struct MysqlAccount(String);

impl Drop for MysqlAccount {
    fn drop(&mut self) {
        let _ = mysql_as("root", "", &format!("DROP USER IF EXISTS '{}'@'%'", self.0));
    }
}

/// MySQL keeps privileges on a database's name after `DROP DATABASE`, and they apply again
/// to a new database of that name. A user Vault issued whose lease was lost (Vault restored
/// from a backup) would read whatever the next stack of that name keeps: dropping the
/// database drops the accounts its connection made, and takes the privileges of others.
#[test]
fn a_dropped_mysql_database_leaves_no_privileges_on_its_name() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("mygrants");
    let name: String = c.prefix.chars().take(24).collect::<String>().trim_end_matches('_').to_owned();
    let c = Cleanup { prefix: name.clone(), mount: c.mount.clone() };
    let ws = Workspace::new(tf, "mygrants", &config(&c, &name, "mysql", "deletion_policy = \"drop\""));
    ws.init();
    ws.apply();
    // A user shaped as Vault issues them, whose lease is gone, and a hand-made account.
    let stale = MysqlAccount(format!("v{:08x}_{}_{}", std::process::id(), 1_700_000_000, "Ab3dEf7h"));
    let hand_made = format!("{name}h");
    for user in [&stale.0, &hand_made] {
        mysql(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'; GRANT SELECT, INSERT ON `{name}`.* TO '{user}'@'%'"
        ));
    }
    ws.destroy();

    let grants_on_name = format!("SELECT COUNT(*) FROM mysql.db WHERE Db = '{name}'");
    assert_eq!(mysql(&grants_on_name), "0", "privileges outlived the database");
    assert_eq!(
        mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{}'", stale.0)),
        "0",
        "the lease-less user is gone"
    );
    assert_eq!(
        mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{hand_made}'")),
        "1",
        "a hand-made account stays"
    );

    // A new database of the same name: neither can read it.
    ws.apply();
    mysql(&format!("CREATE TABLE `{name}`.secrets (v text); INSERT INTO `{name}`.secrets VALUES ('new')"));
    let read = mysql_as(&hand_made, &format!("pw-{hand_made}"), &format!("SELECT v FROM `{name}`.secrets"));
    assert!(read.is_err(), "the old grant reached the new database: {read:?}");
    ws.destroy();
}
