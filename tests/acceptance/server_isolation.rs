//! Isolation the servers enforce, on every PostgreSQL the platform runs (15, 17, 18): what a
//! compromised app credential can do is what its level says and nothing more, no tenant
//! code ever runs in the provider's or Vault's sessions, and (from 16 on) a database's
//! management login can do only that database's work. Each story attacks the real server
//! and asserts the server refused.

use serde_json::json;

use crate::util::*;

/// A stack on the PostgreSQL at `port`. 15 is reached through PgBouncer like production;
/// 17 and 18 have no pooler here, so apps connect to the server itself (which checks
/// every password but the admin's).
fn stack_on(c: &Cleanup, port: u16, resources: &str) -> String {
    let stack = if port == 5432 { Stack::default().postgres(5432, "") } else { Stack::default().postgres_direct(port) };
    stack.vault(&c.mount, "token = \"root\"").main_tf(resources)
}

fn database(name: &str, settings: &str) -> String {
    format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  force_drop = true\n  {settings}\n}}\n"
    )
}

fn role(label: &str, name: &str, settings: &str) -> String {
    format!(
        "resource \"dbaas_rotated_role\" \"{label}\" {{\n  database = dbaas_shared_database.db.id\n  name = \"{name}\"\n  {settings}\n}}\n"
    )
}

/// Credentials from a Vault path: (username, password, lease id).
fn issue(path: &str) -> (String, String, String) {
    let creds = vault("GET", path, None);
    let data = &creds["data"];
    assert!(data["username"].is_string(), "Vault issued nothing at {path}: {creds}");
    let lease = creds["lease_id"].as_str().unwrap_or_default().to_owned();
    (data["username"].as_str().unwrap().to_owned(), data["password"].as_str().unwrap().to_owned(), lease)
}

/// Functions and operators a tenant plants in its own `public`, each a better match than
/// the system catalog's for the calls a provider or Vault session makes (`format` is
/// variadic `"any"` in pg_catalog, `unnest` and array `=` are polymorphic there). Each
/// writes who called it to `public.tripwire`, then does what the real one does.
const TRAPS: &str = r#"
CREATE TABLE public.tripwire (who text, what text);
GRANT INSERT, SELECT ON public.tripwire TO PUBLIC;
CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.tripwire VALUES (current_user, 'format/2'); RETURN pg_catalog.format($1, $2); END $f$;
CREATE FUNCTION public.format(text, text, text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.tripwire VALUES (current_user, 'format/3'); RETURN pg_catalog.format($1, $2, $3); END $f$;
CREATE FUNCTION public.format(text, text, text, text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.tripwire VALUES (current_user, 'format/4'); RETURN pg_catalog.format($1, $2, $3, $4); END $f$;
CREATE FUNCTION public.format(text, text, text, text, text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.tripwire VALUES (current_user, 'format/5'); RETURN pg_catalog.format($1, $2, $3, $4, $5); END $f$;
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.tripwire VALUES (current_user, 'unnest'); RETURN QUERY SELECT pg_catalog.unnest($1); END $f$;
CREATE FUNCTION public.trip_eq(text[], text[]) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.tripwire VALUES (current_user, 'text[] = text[]'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $f$;
CREATE OPERATOR public.= (LEFTARG = text[], RIGHTARG = text[], FUNCTION = public.trip_eq);
CREATE FUNCTION public.trip_concat(text, text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.tripwire VALUES (current_user, 'text || text'); RETURN pg_catalog.textcat($1, $2); END $f$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trip_concat);
"#;

/// Who fell into the tripwire so far, as `who:what` lines.
fn tripped(port: u16, database: &str) -> String {
    psql_on(port, database, "SELECT string_agg(who || ':' || what, ', ') FROM public.tripwire")
}

fn no_tenant_code_runs_and_every_path_works(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let name = c.prefix.clone();
    let mount = c.mount.clone();
    let base = |db_settings: &str, rw_settings: &str| {
        stack_on(
            &c,
            port,
            &(database(&name, db_settings)
                + &role("owner", "own", "privileges = \"owner\"")
                + &role("readwrite", "rw", &format!("privileges = \"readwrite\"\n  {rw_settings}"))
                + &role("static", "st", "mode = \"static\"\n  rotation_period = \"1h\"")),
        )
    };
    let ws = Workspace::new(tf, label, &base("deletion_policy = \"archive\"", ""));
    ws.init();
    // The admin here is a superuser: plan says the server does not keep teams apart.
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.contains("Warning: Teams' admin logins are not kept apart by PostgreSQL here"), "{plan}");
    ws.apply();
    ws.assert_plan_empty();

    // Every privilege level does what it says, and no more, on this server.
    let (owner, owner_pw, owner_lease) = issue(&format!("{mount}/creds/postgres-{name}-own"));
    let (rw, rw_pw, _) = issue(&format!("{mount}/creds/postgres-{name}-rw"));
    let (st, st_pw, _) = issue(&format!("{mount}/static-creds/postgres-{name}-st"));
    psql_as(port, &owner, &owner_pw, &name, "CREATE TABLE trades (id int); INSERT INTO trades VALUES (1)").unwrap();
    assert_eq!(
        psql_on(port, &name, "SELECT tableowner FROM pg_tables WHERE tablename = 'trades'"),
        format!("{name}_owner")
    );
    psql_as(port, &rw, &rw_pw, &name, "INSERT INTO trades VALUES (2)").unwrap();
    psql_as(port, &st, &st_pw, &name, "INSERT INTO trades VALUES (3)").unwrap();
    let refused = psql_as(port, &rw, &rw_pw, &name, "CREATE TABLE nope (id int)").unwrap_err();
    assert!(refused.contains("permission denied"), "readwrite created a table: {refused}");
    if port != 5432 {
        // Passwords are checked here (15 trusts local logins; PgBouncer checks them there).
        assert!(psql_as(port, &rw, "wrong", &name, "SELECT 1").is_err(), "a wrong password logged in");
    }

    // The tenant plants its traps, as an owner-level credential can. The trap works: the
    // tenant's own unqualified call lands in it.
    psql_as(port, &owner, &owner_pw, &name, TRAPS).unwrap();
    psql_as(port, &owner, &owner_pw, &name, "SELECT format('%s', 'x')").unwrap();
    assert!(tripped(port, &name).contains("format/2"), "the trap does not work, so this story proves nothing");
    psql_on(port, &name, "DELETE FROM public.tripwire");
    let assert_untouched = |step: &str| {
        let who = tripped(port, &name);
        assert!(who.is_empty(), "tenant code ran during {step} (PostgreSQL on :{port}): {who}");
    };

    // A new role of each kind.
    let with_more = |db_settings: &str, rw_settings: &str| {
        base(db_settings, rw_settings)
            + &role("readonly", "ro", "privileges = \"readonly\"")
            + &role("static2", "st2", "mode = \"static\"\n  privileges = \"owner\"\n  rotation_period = \"1h\"")
    };
    ws.write_main(&with_more("deletion_policy = \"archive\"", ""));
    ws.apply();
    assert_untouched("the creation of a dynamic and a static role");

    // Extensions added, then removed.
    ws.write_main(&with_more("deletion_policy = \"archive\"\n  extensions = [\"pg_trgm\", \"citext\"]", ""));
    ws.apply();
    assert_eq!(
        psql_on(
            port,
            &name,
            "SELECT string_agg(n.nspname, ',') FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname IN ('pg_trgm', 'citext')"
        ),
        "public,public",
        "extensions belong in public"
    );
    assert_untouched("adding extensions");
    ws.write_main(&with_more("deletion_policy = \"archive\"\n  extensions = [\"pg_trgm\"]", ""));
    ws.apply();
    ws.assert_plan_empty();
    assert_untouched("removing an extension");

    // Drift repaired: CONNECT taken from the readwrite group by hand.
    psql_on(port, "postgres", &format!("REVOKE CONNECT ON DATABASE \"{name}\" FROM \"{name}_readwrite\""));
    ws.apply();
    ws.assert_plan_empty();
    assert_untouched("repairing drift");

    // Static rotation, twice over: Vault's statements on this server's version.
    let before = issue(&format!("{mount}/static-creds/postgres-{name}-st")).1;
    vault("POST", &format!("{mount}/rotate-role/postgres-{name}-st"), Some(&json!({})));
    let after = issue(&format!("{mount}/static-creds/postgres-{name}-st")).1;
    assert_ne!(before, after, "the static password did not rotate");
    psql_as(port, &st, &after, &name, "SELECT count(*) FROM trades").unwrap();
    if port != 5432 {
        assert!(psql_as(port, &st, &before, &name, "SELECT 1").is_err(), "the old static password still works");
    }
    assert_untouched("static rotation");

    // Revocation through Vault's management login, in the tenant's database.
    vault("PUT", "sys/leases/revoke", Some(&json!({"lease_id": owner_lease, "sync": true})));
    assert_eq!(psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{owner}'")), "0");
    assert_untouched("revoking an owner-level user");

    // Stale users cleaned up: one whose lease is gone, dropped by the provider.
    let (stale, _, _) = issue(&format!("{mount}/creds/postgres-{name}-rw"));
    psql_on(port, "postgres", &format!("ALTER ROLE \"{stale}\" VALID UNTIL '2000-01-01'"));
    ws.write_main(&with_more(
        "deletion_policy = \"archive\"\n  extensions = [\"pg_trgm\"]",
        "cleanup_stale_users = true",
    ));
    let out = ws.apply();
    assert!(out.contains("Stale users dropped"), "{out}");
    assert_eq!(psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{stale}'")), "0");
    assert_untouched("stale user cleanup");

    // Destroy archives: every lease revoked, the static logins dropped, the database
    // renamed with its data, and the tripwire still empty in it.
    ws.destroy();
    let archived = psql_on(
        port,
        "postgres",
        &format!("SELECT datname FROM pg_database WHERE datname LIKE '{}\\_\\_archived\\_%'", name.replace('_', "\\_")),
    );
    assert!(!archived.is_empty(), "the database was not archived");
    assert_eq!(psql_on(port, &archived, "SELECT count(*) FROM trades"), "3");
    let who = tripped(port, &archived);
    assert!(who.is_empty(), "tenant code ran during destroy (PostgreSQL on :{port}): {who}");
    for user in [&rw, &st, &format!("{name}_st2")] {
        assert_eq!(
            psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}'")),
            "0",
            "{user} outlived its role"
        );
    }
}

#[test]
fn no_tenant_code_runs_and_every_path_works_on_postgres_15() {
    no_tenant_code_runs_and_every_path_works(5432, "tenantcode15");
}

#[test]
fn no_tenant_code_runs_and_every_path_works_on_postgres_17() {
    no_tenant_code_runs_and_every_path_works(PG17, "tenantcode17");
}

#[test]
fn no_tenant_code_runs_and_every_path_works_on_postgres_18() {
    no_tenant_code_runs_and_every_path_works(PG18, "tenantcode18");
}

/// Statements a stack's Vault token may write on its own database's connection (the
/// documented per-team policy allows any role under `postgres-<db>-`), each reaching for
/// something that is not that database's: another tenant's group roles, logins and
/// management login, and the server's predefined roles.
fn reaches(other: &str) -> Vec<(&'static str, String)> {
    let login = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'";
    vec![
        ("join another tenant's owner group", format!("{login} IN ROLE \"{other}_owner\";")),
        (
            "grant itself another tenant's readonly group",
            format!("{login}; GRANT \"{other}_readonly\" TO \"{{{{name}}}}\";"),
        ),
        ("read server files", format!("{login} IN ROLE pg_read_server_files;")),
        ("run server programs", format!("{login}; GRANT pg_execute_server_program TO \"{{{{name}}}}\";")),
        ("read all data", format!("{login}; GRANT pg_read_all_data TO \"{{{{name}}}}\";")),
        ("take another tenant's static login", format!("{login}; ALTER ROLE \"{other}_st\" PASSWORD 'stolen';")),
        ("take another tenant's management login", format!("{login}; ALTER ROLE \"{other}_vault\" PASSWORD 'stolen';")),
        ("drop another tenant's static login", format!("{login}; DROP ROLE \"{other}_st\";")),
        (
            "rename another tenant's group",
            format!("{login}; ALTER ROLE \"{other}_readonly\" RENAME TO \"{other}_gone\";"),
        ),
        ("give itself CREATEDB", format!("{login} CREATEDB;")),
    ]
}

fn a_management_login_does_only_its_databases_work(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (mine, other) = (format!("{}_a", c.prefix), format!("{}_b", c.prefix));
    let db = |label: &str, name: &str| {
        format!(
            "resource \"dbaas_shared_database\" \"{label}\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
        )
    };
    let resources = db("mine", &mine)
        + &db("other", &other)
        + "resource \"dbaas_rotated_role\" \"st\" {\n  database = dbaas_shared_database.other.id\n  name = \"st\"\n  mode = \"static\"\n}\n";
    let ws = Workspace::new(tf, label, &stack_on(&c, port, &resources));
    ws.init();
    ws.apply();
    let other_roles =
        format!("'{other}_owner', '{other}_readwrite', '{other}_readonly', '{other}_st', '{other}_vault'");
    let fingerprint = || {
        psql_on(
            port,
            "postgres",
            &format!(
                "SELECT string_agg(rolname || ':' || coalesce(rolpassword, '') || ':' || rolcreatedb, ',' ORDER BY rolname) \
                 FROM pg_authid WHERE rolname IN ({other_roles})"
            ),
        )
    };
    let before = fingerprint();
    let count = format!("SELECT count(*) FROM pg_roles WHERE rolname IN ({other_roles})");
    assert_eq!(psql_on(port, "postgres", &count), "5", "{other}'s five roles: {before}");

    for (i, (attempt, creation)) in reaches(&other).into_iter().enumerate() {
        let role = format!("postgres-{mine}-reach{i}");
        vault(
            "POST",
            &format!("{}/roles/{role}", c.mount),
            Some(
                &json!({"db_name": format!("postgres-{mine}"), "creation_statements": [creation], "default_ttl": 300}),
            ),
        );
        let creds = vault("GET", &format!("{}/creds/{role}", c.mount), None);
        assert!(
            creds["data"]["username"].is_null(),
            "{mine}'s management login could {attempt} (PostgreSQL on :{port}): {creds}"
        );
    }
    assert_eq!(fingerprint(), before, "{other}'s roles changed (PostgreSQL on :{port})");
    let reached = psql_on(
        port,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member \
             WHERE r.rolname LIKE 'v-%' AND (g.rolname LIKE 'pg\\_%' OR g.rolname IN ({other_roles}))"
        ),
    );
    assert_eq!(reached, "0", "a user was left holding what is not its database's");
    ws.destroy();
}

#[test]
fn a_management_login_does_only_its_databases_work_on_postgres_17() {
    a_management_login_does_only_its_databases_work(PG17, "mgmtreach17");
}

#[test]
fn a_management_login_does_only_its_databases_work_on_postgres_18() {
    a_management_login_does_only_its_databases_work(PG18, "mgmtreach18");
}
#[test]
fn a_management_login_does_only_its_databases_work_on_postgres_15() {
    a_management_login_does_only_its_databases_work(5432, "mgmtreach15");
}

/// A PostgreSQL 15 database as the previous release left it: its management login with
/// `CREATEROLE` and no pinned search path, no issuer functions, its Vault roles writing
/// `CREATE ROLE` and dropping with an unpinned block, its static login unmarked, and a user
/// issued under those statements still live. The first plan after upgrading updates in
/// place (nothing replaced), one apply narrows the login, the next plan is empty, and the
/// user issued before is still revoked cleanly.
#[test]
fn a_postgres_15_database_from_the_previous_release_is_narrowed_in_place() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("upgrade15");
    let name = c.prefix.clone();
    let mount = c.mount.clone();
    let main = stack_on(
        &c,
        5432,
        &(database(&name, "deletion_policy = \"drop\"")
            + &role("readwrite", "rw", "privileges = \"readwrite\"")
            + &role("static", "st", "mode = \"static\"\n  rotation_period = \"1h\"")),
    );
    let ws = Workspace::new(tf, "upgrade15", &main);
    ws.init();
    ws.apply();

    // The previous release's shape, on the server and in Vault.
    let management = format!("{name}_vault");
    psql("postgres", &format!("ALTER ROLE \"{management}\" CREATEROLE; ALTER ROLE \"{management}\" RESET search_path"));
    psql(&name, "DROP SCHEMA dbaas_vault CASCADE");
    psql("postgres", &format!("COMMENT ON ROLE \"{name}_st\" IS NULL"));
    let legacy_creation = format!(
        "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE \"{name}_readwrite\";"
    );
    let legacy_revocation = format!(
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{{{{name}}}}') THEN \
         EXECUTE format('GRANT %I TO CURRENT_USER', '{{{{name}}}}'); \
         EXECUTE format('REASSIGN OWNED BY %I TO %I', '{{{{name}}}}', '{name}_owner'); \
         EXECUTE format('DROP OWNED BY %I', '{{{{name}}}}'); \
         EXECUTE format('DROP ROLE %I', '{{{{name}}}}'); \
         END IF; END $$;"
    );
    let rw_role = format!("{mount}/roles/postgres-{name}-rw");
    let mut written = vault("GET", &rw_role, None)["data"].clone();
    written["creation_statements"] = json!([legacy_creation]);
    written["revocation_statements"] = json!([legacy_revocation]);
    vault("POST", &rw_role, Some(&written));
    let st_role = format!("{mount}/static-roles/postgres-{name}-st");
    vault(
        "POST",
        &st_role,
        Some(
            &json!({"db_name": format!("postgres-{name}"), "username": format!("{name}_st"), "rotation_period": 3600, "rotation_statements": []}),
        ),
    );
    let (before_user, _, before_lease) = issue(&format!("{mount}/creds/postgres-{name}-rw"));

    // Plan: updates in place only.
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.contains("0 to add") && plan.contains("0 to destroy") && plan.contains("to change"), "{plan}");
    assert!(!plan.contains("must be replaced"), "{plan}");

    // The database's update alone (as in the seconds before Terraform reaches its roles)
    // narrows the login; its roles already issue and rotate through the issuer.
    ws.ok(&["apply", "-auto-approve", "-input=false", "-no-color", "-target=dbaas_shared_database.db"]);
    assert_eq!(psql("postgres", &format!("SELECT rolcreaterole FROM pg_roles WHERE rolname = '{management}'")), "f");
    let (between, between_pw, _) = issue(&format!("{mount}/creds/postgres-{name}-rw"));
    psql_pooled(&between, &between_pw, &name, "SELECT 1").unwrap();
    vault("POST", &format!("{mount}/rotate-role/postgres-{name}-st"), Some(&json!({})));
    let st_between = issue(&format!("{mount}/static-creds/postgres-{name}-st")).1;
    psql_pooled(&format!("{name}_st"), &st_between, &name, "SELECT 1").unwrap();

    ws.apply();
    ws.assert_plan_empty();

    // The login is narrowed, the roles go through the issuer, and everything still works.
    assert_eq!(
        psql(
            "postgres",
            &format!(
                "SELECT rolcreaterole::text || ' ' || (SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting \
                 WHERE setrole = r.oid AND setdatabase = 0) FROM pg_roles r WHERE rolname = '{management}'"
            )
        ),
        "false search_path=pg_catalog, pg_temp"
    );
    let creation = vault("GET", &rw_role, None)["data"]["creation_statements"].to_string();
    assert!(creation.contains("dbaas_vault.create_user"), "{creation}");
    let (after_user, after_pw, _) = issue(&format!("{mount}/creds/postgres-{name}-rw"));
    psql_pooled(&after_user, &after_pw, &name, "SELECT 1").unwrap();
    let st_before = issue(&format!("{mount}/static-creds/postgres-{name}-st")).1;
    vault("POST", &format!("{mount}/rotate-role/postgres-{name}-st"), Some(&json!({})));
    let st_after = issue(&format!("{mount}/static-creds/postgres-{name}-st")).1;
    assert_ne!(st_before, st_after, "static rotation stopped working");
    psql_pooled(&format!("{name}_st"), &st_after, &name, "SELECT 1").unwrap();

    // The user issued before the upgrade is still revoked, and its lease with it.
    vault("PUT", "sys/leases/revoke", Some(&json!({"lease_id": before_lease, "sync": true})));
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{before_user}'")), "0");
    ws.destroy();
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{after_user}'")), "0");
}

/// What an app's credential at each level tries beyond its level, and the server refuses.
fn beyond(level: &str, mine: &str, other: &str) -> Vec<(String, String)> {
    let mut attempts = vec![
        ("join another tenant's owner group".to_owned(), format!("GRANT \"{other}_owner\" TO CURRENT_USER")),
        ("join its own owner group".to_owned(), format!("GRANT \"{mine}_owner\" TO CURRENT_USER")),
        ("take a predefined role".to_owned(), "GRANT pg_read_server_files TO CURRENT_USER".to_owned()),
        ("read a server file".to_owned(), "SELECT pg_read_file('/etc/hostname')".to_owned()),
        ("copy from a server file".to_owned(), "COPY trades FROM '/etc/hostname'".to_owned()),
        ("run a server program".to_owned(), "COPY (SELECT 1) TO PROGRAM 'true'".to_owned()),
        ("become another tenant's owner".to_owned(), format!("SET ROLE \"{other}_owner\"")),
        ("make a role".to_owned(), "CREATE ROLE tfacc_beyond_level".to_owned()),
        ("change another tenant's group".to_owned(), format!("ALTER ROLE \"{other}_readonly\" LOGIN")),
    ];
    if level != "owner" {
        attempts.push(("become its own owner group".to_owned(), format!("SET ROLE \"{mine}_owner\"")));
        attempts.push(("create a table".to_owned(), "CREATE TABLE beyond (id int)".to_owned()));
    }
    if level == "readonly" {
        attempts.push(("write a row".to_owned(), "INSERT INTO trades VALUES (9)".to_owned()));
    }
    attempts
}

fn app_credentials_get_exactly_their_level(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (mine, other) = (format!("{}_a", c.prefix), format!("{}_b", c.prefix));
    let resources = format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{mine}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n\
         resource \"dbaas_shared_database\" \"other\" {{\n  name = \"{other}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
    ) + &role("owner", "own", "privileges = \"owner\"")
        + &role("readwrite", "rw", "privileges = \"readwrite\"")
        + &role("readonly", "ro", "privileges = \"readonly\"");
    let ws = Workspace::new(tf, label, &stack_on(&c, port, &resources));
    ws.init();
    ws.apply();
    psql_on(port, &other, "CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('theirs')");
    let mount = &c.mount;
    let (owner, owner_pw, _) = issue(&format!("{mount}/creds/postgres-{mine}-own"));
    psql_as(port, &owner, &owner_pw, &mine, "CREATE TABLE trades (id int); INSERT INTO trades VALUES (1)").unwrap();
    for (level, short) in [("owner", "own"), ("readwrite", "rw"), ("readonly", "ro")] {
        let (user, password, _) = issue(&format!("{mount}/creds/postgres-{mine}-{short}"));
        assert_eq!(psql_as(port, &user, &password, &mine, "SELECT count(*) FROM trades").unwrap(), "1", "{level}");
        let refused = psql_as(port, &user, &password, &other, "SELECT * FROM secrets");
        assert!(refused.is_err(), "{level} reached another tenant's database on :{port}: {refused:?}");
        for (attempt, sql) in beyond(level, &mine, &other) {
            let answer = psql_as(port, &user, &password, &mine, &sql);
            assert!(answer.is_err(), "{level} could {attempt} on :{port} ({sql}): {answer:?}");
        }
    }
    let roles = psql_on(port, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'tfacc_beyond_level'");
    assert_eq!(roles, "0");
    ws.destroy();
}

#[test]
fn app_credentials_get_exactly_their_level_on_postgres_15() {
    app_credentials_get_exactly_their_level(5432, "applevel15");
}

#[test]
fn app_credentials_get_exactly_their_level_on_postgres_17() {
    app_credentials_get_exactly_their_level(PG17, "applevel17");
}

#[test]
fn app_credentials_get_exactly_their_level_on_postgres_18() {
    app_credentials_get_exactly_their_level(PG18, "applevel18");
}

/// A team's own admin login as a platform on PostgreSQL 16+ would hand it out: no
/// superuser, just `CREATEDB CREATEROLE`. Named under the story's prefix.
fn team_admin(port: u16, c: &Cleanup, team: &str) -> (String, String) {
    let (login, password) = (format!("{}_{team}_admin", c.prefix), format!("pw-{team}-{}", std::process::id()));
    psql_on(port, "postgres", &format!("CREATE ROLE \"{login}\" LOGIN CREATEDB CREATEROLE PASSWORD '{password}'"));
    let_into_provider_database(port, &login);
    (login, password)
}

fn per_team_admin_logins_are_kept_apart_by_the_server(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (admin_a, password_a) = team_admin(port, &c, "a");
    let (admin_b, password_b) = team_admin(port, &c, "b");
    let name = format!("{}_db", c.prefix);
    let mount = c.mount.clone();
    let stack = |settings: &str, rw_settings: &str| {
        Stack::default().postgres_direct_as(port, &admin_a, &password_a).vault(&mount, "token = \"root\"").main_tf(
            &(database(&name, settings)
                + &role("owner", "own", "privileges = \"owner\"")
                + &role("readwrite", "rw", &format!("privileges = \"readwrite\"\n  {rw_settings}"))
                + &role("static", "st", "mode = \"static\"\n  privileges = \"owner\"")
                + &format!(
                    "resource \"dbaas_shared_database\" \"dropped\" {{\n  name = \"{name}_x\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n"
                )
                + "action \"dbaas_rotate_credentials\" \"st\" {\n  config {\n    role = dbaas_rotated_role.static.id\n  }\n}\n"
                + "action \"dbaas_rotate_root\" \"db\" {\n  config {\n    database = dbaas_shared_database.db.id\n  }\n}\n"),
        )
    };
    let ws = Workspace::new(tf, label, &stack("deletion_policy = \"archive\"\n  extensions = [\"citext\"]", ""));
    ws.init();
    // Such a login is what the server can keep apart: plan says nothing of it.
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(!plan.contains("not kept apart"), "{plan}");
    ws.apply();
    ws.assert_plan_empty();

    // Team A's stack works end to end with its own admin login.
    let (owner, owner_pw, owner_lease) = issue(&format!("{mount}/creds/postgres-{name}-own"));
    psql_as(port, &owner, &owner_pw, &name, "CREATE TABLE trades (id int); INSERT INTO trades VALUES (1)").unwrap();
    let (rw, rw_pw, _) = issue(&format!("{mount}/creds/postgres-{name}-rw"));
    psql_as(port, &rw, &rw_pw, &name, "INSERT INTO trades VALUES (2)").unwrap();
    let st_before = issue(&format!("{mount}/static-creds/postgres-{name}-st")).1;
    vault("POST", &format!("{mount}/rotate-role/postgres-{name}-st"), Some(&json!({})));
    let st_after = issue(&format!("{mount}/static-creds/postgres-{name}-st")).1;
    assert_ne!(st_before, st_after);
    psql_as(port, &format!("{name}_st"), &st_after, &name, "INSERT INTO trades VALUES (3)").unwrap();
    vault("PUT", "sys/leases/revoke", Some(&json!({"lease_id": owner_lease, "sync": true})));
    assert_eq!(psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{owner}'")), "0");
    let (stale, _, _) = issue(&format!("{mount}/creds/postgres-{name}-rw"));
    psql_on(port, "postgres", &format!("ALTER ROLE \"{stale}\" VALID UNTIL '2000-01-01'"));
    ws.write_main(&stack("deletion_policy = \"archive\"\n  extensions = [\"citext\"]", "cleanup_stale_users = true"));
    let out = ws.apply();
    assert!(out.contains("Stale users dropped"), "{out}");
    assert_eq!(psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{stale}'")), "0");

    // Actions and list resources, as team A's admin.
    let before = issue(&format!("{mount}/static-creds/postgres-{name}-st")).1;
    ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_credentials.st"]);
    assert_ne!(issue(&format!("{mount}/static-creds/postgres-{name}-st")).1, before, "rotate_credentials");
    let hash =
        || psql_on(port, "postgres", &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{name}_vault'"));
    let root_before = hash();
    ws.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.dbaas_rotate_root.db"]);
    assert_ne!(hash(), root_before, "rotate_root");
    assert!(vault("GET", &format!("{mount}/creds/postgres-{name}-rw"), None)["data"]["username"].is_string());
    std::fs::write(
        ws.dir.join("find.tfquery.hcl"),
        format!(
            "list \"dbaas_rotated_role\" \"roles\" {{\n  provider = dbaas\n  config {{\n    database = \"postgresql/{name}\"\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let found = ws.ok(&["query", "-no-color"]);
    assert_eq!(found.lines().filter(|l| l.starts_with("list.dbaas_rotated_role.roles ")).count(), 3, "{found}");
    std::fs::remove_file(ws.dir.join("find.tfquery.hcl")).unwrap();
    ws.assert_plan_empty();

    // Team B's admin login reaches none of it: the server refuses every attempt.
    let as_b = |database: &str, sql: &str| psql_as(port, &admin_b, &password_b, database, sql);
    let attempts = [
        ("postgres", format!("GRANT \"{name}_owner\" TO \"{admin_b}\"")),
        ("postgres", format!("GRANT \"{name}_readonly\" TO \"{admin_b}\"")),
        ("postgres", format!("ALTER ROLE \"{name}_st\" PASSWORD 'stolen'")),
        ("postgres", format!("ALTER ROLE \"{name}_vault\" PASSWORD 'stolen'")),
        ("postgres", format!("ALTER ROLE \"{name}_readonly\" RENAME TO \"{name}_gone\"")),
        ("postgres", format!("DROP ROLE \"{name}_st\"")),
        ("postgres", format!("ALTER DATABASE \"{name}\" RENAME TO \"{name}_gone\"")),
        ("postgres", format!("ALTER DATABASE \"{name}\" OWNER TO \"{admin_b}\"")),
        ("postgres", format!("DROP DATABASE \"{name}\"")),
        (name.as_str(), "SELECT count(*) FROM trades".to_owned()),
        ("postgres", format!("SET ROLE \"{name}_owner\"")),
    ];
    for (database, sql) in &attempts {
        let answer = as_b(database, sql);
        assert!(answer.is_err(), "team B's admin could run {sql:?} on :{port}: {answer:?}");
    }
    assert_eq!(psql_on(port, &name, "SELECT count(*) FROM trades"), "3");

    // Archive one database and drop the other, still as team A's admin.
    ws.destroy();
    let dropped = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}_x'");
    assert_eq!(psql_on(port, "postgres", &dropped), "0", "the dropped database is still there");
    let archived = psql_on(
        port,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{}\\_\\_archived\\_%'",
            name.replace('_', "\\_")
        ),
    );
    assert_eq!(archived, "1", "the database was not archived");
}

#[test]
fn per_team_admin_logins_are_kept_apart_by_the_server_on_postgres_17() {
    per_team_admin_logins_are_kept_apart_by_the_server(PG17, "teamadmin17");
}

#[test]
fn per_team_admin_logins_are_kept_apart_by_the_server_on_postgres_18() {
    per_team_admin_logins_are_kept_apart_by_the_server(PG18, "teamadmin18");
}

/// MySQL: an owner-level credential plants a logging function, a view calling it, a trigger
/// and a procedure. The provider's MySQL statements name no tenant object (grants, users,
/// `RENAME TABLE` and `DROP DATABASE` run no view, trigger or routine), and this holds them
/// to it: after creating every role kind, a static rotation, revocations, a refused archive
/// and a settings change, the tripwire is empty.
#[test]
fn no_tenant_code_runs_in_the_providers_mysql_sessions() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("mytenant");
    let name: String = c.prefix.chars().take(24).collect::<String>().trim_end_matches('_').to_owned();
    let c = Cleanup { prefix: name.clone(), mount: c.mount.clone() };
    let mount = c.mount.clone();
    let main = |policy: &str| {
        Stack::default().mysql().vault(&mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"mysql\"\n  force_drop = true\n  deletion_policy = \"{policy}\"\n}}\n{}{}{}",
            role("owner", "own", "privileges = \"owner\""),
            role("readwrite", "rw", "privileges = \"readwrite\""),
            role("static", "st", "mode = \"static\"\n  rotation_period = \"1h\""),
        ))
    };
    let ws = Workspace::new(tf, "mytenant", &main("archive"));
    ws.init();
    ws.apply();
    let (owner, owner_pw, owner_lease) = issue(&format!("{mount}/creds/mysql-{name}-own"));
    let plant = [
        format!("USE `{name}`;"),
        "CREATE TABLE tripwire (who VARCHAR(200), what VARCHAR(50));".to_owned(),
        "CREATE TABLE trades (id INT); INSERT INTO trades VALUES (1);".to_owned(),
        "DELIMITER //".to_owned(),
        "CREATE FUNCTION trip() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO tripwire VALUES (CURRENT_USER(), 'view'); RETURN 1; END //".to_owned(),
        "DELIMITER ;".to_owned(),
        "CREATE VIEW trades_v AS SELECT id, trip() AS t FROM trades;".to_owned(),
        "CREATE TRIGGER trades_t BEFORE UPDATE ON trades FOR EACH ROW INSERT INTO tripwire VALUES (CURRENT_USER(), 'trigger');".to_owned(),
        "CREATE PROCEDURE tripped() INSERT INTO tripwire VALUES (CURRENT_USER(), 'procedure');".to_owned(),
    ]
    .join("\n");
    mysql_as(&owner, &owner_pw, &plant).unwrap();
    // The traps work: reading the view as the tenant lands in the tripwire.
    mysql_as(&owner, &owner_pw, &format!("SELECT SUM(t) FROM `{name}`.trades_v")).unwrap();
    let tripped = || mysql(&format!("SELECT COUNT(*) FROM `{name}`.tripwire"));
    assert_eq!(tripped(), "1", "the trap does not work, so this story proves nothing");
    mysql(&format!("DELETE FROM `{name}`.tripwire"));

    let st_before = issue(&format!("{mount}/static-creds/mysql-{name}-st")).1;
    vault("POST", &format!("{mount}/rotate-role/mysql-{name}-st"), Some(&json!({})));
    assert_ne!(issue(&format!("{mount}/static-creds/mysql-{name}-st")).1, st_before);
    vault("PUT", "sys/leases/revoke", Some(&json!({"lease_id": owner_lease, "sync": true})));
    issue(&format!("{mount}/creds/mysql-{name}-rw"));
    ws.ok(&["apply", "-refresh-only", "-auto-approve", "-no-color", "-input=false"]);
    // Archiving refuses a database holding views, routines or triggers: destroy stops there.
    let out = ws.fails(&["destroy", "-auto-approve", "-no-color", "-input=false"]);
    assert!(out.contains("trigger") || out.contains("view"), "{out}");
    assert_eq!(
        tripped(),
        "0",
        "tenant code ran in the provider's or Vault's MySQL sessions: {}",
        mysql(&format!("SELECT * FROM `{name}`.tripwire"))
    );
    ws.write_main(&main("drop"));
    ws.apply();
    assert_eq!(tripped(), "0", "tenant code ran while changing the database's settings");
    ws.destroy();
}

/// MySQL: owner, readwrite and readonly credentials try what is beyond their level. The
/// server refuses each, or (`LOAD_FILE`, which answers NULL without the FILE privilege)
/// gives nothing.
#[test]
fn mysql_app_credentials_get_exactly_their_level() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("mylevel");
    let base: String = c.prefix.chars().take(22).collect::<String>().trim_end_matches('_').to_owned();
    let c = Cleanup { prefix: base.clone(), mount: c.mount.clone() };
    let (mine, other) = (format!("{base}_a"), format!("{base}_b"));
    let db = |label: &str, name: &str| {
        format!(
            "resource \"dbaas_shared_database\" \"{label}\" {{\n  name = \"{name}\"\n  engine = \"mysql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
        )
    };
    let resources = db("db", &mine)
        + &db("other", &other)
        + &role("owner", "own", "privileges = \"owner\"")
        + &role("readwrite", "rw", "privileges = \"readwrite\"")
        + &role("readonly", "ro", "privileges = \"readonly\"")
        + "resource \"dbaas_rotated_role\" \"other_st\" {\n  database = dbaas_shared_database.other.id\n  name = \"st\"\n  mode = \"static\"\n}\n";
    let ws = Workspace::new(
        tf,
        "mylevel",
        &Stack::default().mysql().vault(&c.mount, "token = \"root\"").main_tf(&resources),
    );
    ws.init();
    ws.apply();
    mysql(&format!("CREATE TABLE `{other}`.secrets (v TEXT); INSERT INTO `{other}`.secrets VALUES ('theirs')"));
    mysql(&format!("CREATE TABLE `{mine}`.trades (id INT); INSERT INTO `{mine}`.trades VALUES (1)"));
    let mount = &c.mount;
    for (level, short) in [("owner", "own"), ("readwrite", "rw"), ("readonly", "ro")] {
        let (user, password, _) = issue(&format!("{mount}/creds/mysql-{mine}-{short}"));
        assert_eq!(mysql_as(&user, &password, &format!("SELECT COUNT(*) FROM `{mine}`.trades")).unwrap(), "1");
        let mut attempts = vec![
            ("read another tenant's table", format!("SELECT * FROM `{other}`.secrets")),
            ("grant itself another tenant's database", format!("GRANT SELECT ON `{other}`.* TO CURRENT_USER")),
            ("create a user", "CREATE USER 'tfacc_beyond'@'%' IDENTIFIED BY 'x'".to_owned()),
            ("set another login's password", format!("SET PASSWORD FOR '{other}_st'@'%' = PASSWORD('stolen')")),
            ("read the account table", "SELECT COUNT(*) FROM mysql.user".to_owned()),
            ("load a server file into a table", format!("LOAD DATA INFILE '/etc/hostname' INTO TABLE `{mine}`.trades")),
            (
                "write a server file",
                format!("SELECT id FROM `{mine}`.trades INTO OUTFILE '/tmp/tfacc-beyond-{}'", std::process::id()),
            ),
        ];
        if level != "owner" {
            attempts.push(("create a table", format!("CREATE TABLE `{mine}`.beyond (id INT)")));
        }
        if level == "readonly" {
            attempts.push(("write a row", format!("INSERT INTO `{mine}`.trades VALUES (9)")));
        }
        for (attempt, sql) in attempts {
            let answer = mysql_as(&user, &password, &sql);
            assert!(answer.is_err(), "{level} could {attempt} ({sql}): {answer:?}");
        }
        let file = mysql_as(&user, &password, "SELECT LOAD_FILE('/etc/hostname') IS NULL").unwrap();
        assert_eq!(file, "1", "{level} read a server file with LOAD_FILE");
    }
    assert_eq!(mysql("SELECT COUNT(*) FROM mysql.user WHERE User = 'tfacc_beyond'"), "0");
    ws.destroy();
}

/// MySQL and MariaDB read `_` and `%` in a database-level grant as wildcards: a grant on
/// `x_a` also names `xxa`. Every credential the provider's roles issue (each level, dynamic
/// and static) reaches its own database and not a neighbour whose name the bare name would
/// match as a pattern; and grants an earlier release wrote bare (a Vault role's statements,
/// the management and static logins' grants) show at plan and are escaped by the next apply.
#[test]
fn mysql_grants_name_their_database_alone() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("mywild");
    let base: String = c.prefix.chars().take(20).collect::<String>().trim_end_matches('_').to_owned();
    let c = Cleanup { prefix: base.clone(), mount: c.mount.clone() };
    // `x_a` as a pattern also names `xxa`: another tenant's database, made by hand.
    let (mine, neighbour) = (format!("{base}_x_a"), format!("{base}_xxa"));
    let resources = format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{mine}\"\n  engine = \"mysql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
    ) + &role("owner", "own", "privileges = \"owner\"")
        + &role("readwrite", "rw", "privileges = \"readwrite\"")
        + &role("readonly", "ro", "privileges = \"readonly\"")
        + &role("static", "st", "mode = \"static\"");
    let ws =
        Workspace::new(tf, "mywild", &Stack::default().mysql().vault(&c.mount, "token = \"root\"").main_tf(&resources));
    ws.init();
    ws.apply();
    mysql(&format!(
        "CREATE DATABASE `{neighbour}`; CREATE TABLE `{neighbour}`.secrets (v TEXT); INSERT INTO `{neighbour}`.secrets VALUES ('theirs')"
    ));
    mysql(&format!("CREATE TABLE `{mine}`.trades (id INT); INSERT INTO `{mine}`.trades VALUES (1)"));
    let mount = &c.mount;
    let static_login = || {
        let fixed = vault("GET", &format!("{mount}/static-creds/mysql-{mine}-st"), None);
        let (user, password) = (fixed["data"]["username"].as_str(), fixed["data"]["password"].as_str());
        (user.expect("a static login").to_owned(), password.unwrap().to_owned())
    };
    let credentials = || {
        let mut all: Vec<(&str, String, String)> = ["own", "rw", "ro"]
            .into_iter()
            .map(|short| {
                let (user, password, _) = issue(&format!("{mount}/creds/mysql-{mine}-{short}"));
                (short, user, password)
            })
            .collect();
        let (user, password) = static_login();
        all.push(("st", user, password));
        all
    };
    let kept_apart = |when: &str| {
        for (short, user, password) in credentials() {
            assert_eq!(
                mysql_as(&user, &password, &format!("SELECT COUNT(*) FROM `{mine}`.trades")).unwrap(),
                "1",
                "{short} lost its own database {when}"
            );
            let reached = mysql_as(&user, &password, &format!("SELECT v FROM `{neighbour}`.secrets"));
            assert!(reached.is_err(), "{short} read {neighbour} through a grant on {mine} {when}: {reached:?}");
            let listed = mysql_as(&user, &password, "SHOW DATABASES").unwrap();
            assert!(!listed.lines().any(|d| d == neighbour), "{short} sees {neighbour} {when}");
        }
        let bare = mysql(&format!("SELECT COUNT(*) FROM mysql.db WHERE Db = '{mine}'"));
        assert_eq!(bare, "0", "a grant names {mine} as a pattern {when}");
    };
    kept_apart("after create");

    // The state an earlier release left: the logins' grants and a Vault role's statements
    // spell the database bare.
    let escaped = mine.replace('_', "\\\\_");
    for (user, host) in mysql(&format!("SELECT User, Host FROM mysql.db WHERE Db = '{escaped}'"))
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(u, h)| (u.to_owned(), h.to_owned()))
        .filter(|(u, _)| u.starts_with(&base))
    {
        let privileges = mysql(&format!(
            "SELECT GROUP_CONCAT(PRIVILEGE_TYPE) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = \"'{user}'@'{host}'\" AND TABLE_SCHEMA = '{escaped}'"
        ));
        mysql(&format!(
            "GRANT {privileges} ON `{mine}`.* TO '{user}'@'{host}'; REVOKE ALL PRIVILEGES ON `{}`.* FROM '{user}'@'{host}'",
            mine.replace('_', "\\_")
        ));
    }
    // Before 0.2 the management login itself made users: CREATE USER and the grant option
    // on *.*, SELECT on mysql.user; the roles' statements ran CREATE USER, naming the
    // database bare; no issuer knew the login, and a static role rotated with Vault's own
    // ALTER USER.
    let management = format!("'{mine}_vault'@'%'");
    mysql(&format!(
        "GRANT CREATE USER ON *.* TO {management} WITH GRANT OPTION; GRANT SELECT ON mysql.user TO {management}; \
         GRANT ALL PRIVILEGES ON `{mine}`.* TO {management} WITH GRANT OPTION; \
         REVOKE EXECUTE ON PROCEDURE `dbaas-provider`.`issue_user` FROM {management}; \
         REVOKE EXECUTE ON PROCEDURE `dbaas-provider`.`drop_user` FROM {management}; \
         REVOKE EXECUTE ON PROCEDURE `dbaas-provider`.`set_password` FROM {management}; \
         REVOKE EXECUTE ON PROCEDURE `dbaas-provider`.`set_own_password` FROM {management}; \
         DELETE FROM `dbaas-provider`.issuers WHERE db = '{mine}'; DELETE FROM `dbaas-provider`.logins WHERE db = '{mine}'"
    ));
    for (short, grants) in [("own", "ALL PRIVILEGES"), ("rw", "SELECT, INSERT, UPDATE, DELETE"), ("ro", "SELECT")] {
        let path = format!("{mount}/roles/mysql-{mine}-{short}");
        let written = vault("GET", &path, None)["data"].clone();
        let earlier = json!([
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
            format!("GRANT {grants} ON `{mine}`.* TO '{{{{name}}}}'@'%';"),
        ]);
        assert_ne!(
            Some(&earlier),
            written.get("creation_statements"),
            "the role was already as the earlier release wrote it"
        );
        vault(
            "POST",
            &path,
            Some(&json!({
                "db_name": written["db_name"],
                "creation_statements": earlier,
                "revocation_statements": ["DROP USER IF EXISTS '{{name}}'@'%';"],
                "default_ttl": written["default_ttl"],
            })),
        );
    }
    let static_path = format!("{mount}/static-roles/mysql-{mine}-st");
    let written = vault("GET", &static_path, None)["data"].clone();
    vault(
        "POST",
        &static_path,
        Some(&json!({
            "db_name": written["db_name"],
            "username": written["username"],
            "rotation_period": written["rotation_period"],
            "rotation_statements": [],
        })),
    );
    // An app holding a credential the earlier release's role issued, through the upgrade.
    let (earlier_user, earlier_password, earlier_lease) = issue(&format!("{mount}/creds/mysql-{mine}-rw"));
    let count = format!("SELECT COUNT(*) FROM `{mine}`.trades");
    assert_eq!(mysql_as(&earlier_user, &earlier_password, &count).as_deref(), Ok("1"));
    assert!(
        mysql_as(&earlier_user, &earlier_password, &format!("SELECT v FROM `{neighbour}`.secrets")).is_ok(),
        "the earlier release's statements are not reproduced: the repair below would prove nothing"
    );
    let (st_user, st_password) = static_login();
    assert!(
        mysql_as(&st_user, &st_password, &format!("SELECT v FROM `{neighbour}`.secrets")).is_ok(),
        "the earlier release's grants are not reproduced: the repair below would prove nothing"
    );

    let planned = ws.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    let shown = text(&planned);
    assert_eq!(planned.status.code(), Some(2), "the bare grants do not show at plan:\n{shown}");
    assert!(shown.contains("Database grants reach other databases"), "{shown}");
    assert!(shown.contains("dbaas_rotated_role.readwrite will be updated in-place"), "{shown}");
    ws.apply();
    ws.assert_plan_empty();
    kept_apart("after the repair");
    // The login is narrowed to the issuer: nothing beyond its database but EXECUTE there.
    let global = mysql(&format!(
        "SELECT CONCAT(Create_user_priv, Grant_priv) FROM mysql.user WHERE User = '{mine}_vault' AND Host = '%'"
    ));
    assert_eq!(global, "NN", "the management login kept CREATE USER or the grant option on *.*");
    let hashes = mysql(&format!("SELECT COUNT(*) FROM mysql.tables_priv WHERE User = '{mine}_vault' AND Db = 'mysql'"));
    assert_eq!(hashes, "0", "the management login still reads mysql.user");
    // The app's credential from before kept working, and its lease still revokes: the
    // issuer took the user on its record.
    assert_eq!(mysql_as(&earlier_user, &earlier_password, &count).as_deref(), Ok("1"), "the earlier credential broke");
    let revoked = vault("PUT", "sys/leases/revoke", Some(&json!({ "lease_id": earlier_lease, "sync": true })));
    assert!(revoked["errors"].is_null(), "an earlier user's lease does not revoke: {revoked}");
    let left = mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{earlier_user}'"));
    assert_eq!(left, "0", "its revocation left the user");
    // Vault rotates the static login and the management login's own password through it.
    let before = static_login();
    let rotated = vault("POST", &format!("{mount}/rotate-role/mysql-{mine}-st"), None);
    assert!(rotated.is_null() || rotated["errors"].is_null(), "the static login did not rotate: {rotated}");
    let after = static_login();
    assert_ne!(before.1, after.1);
    assert_eq!(mysql_as(&after.0, &after.1, &count).as_deref(), Ok("1"));
    let root = vault("POST", &format!("{mount}/rotate-root/mysql-{mine}"), None);
    assert!(root.is_null() || root["errors"].is_null(), "the management login's password did not rotate: {root}");
    let (user, password, _) = issue(&format!("{mount}/creds/mysql-{mine}-rw"));
    assert_eq!(mysql_as(&user, &password, &count).as_deref(), Ok("1"), "issuing failed after rotate-root");
    ws.destroy();
    let left = mysql(&format!("SELECT COUNT(*) FROM mysql.db WHERE Db IN ('{mine}', '{escaped}')"));
    assert_eq!(left, "0", "destroy left grants on {mine}");
}

/// A team's Vault token writes a role on its own database's connection whose statements
/// plant, through the management login, the group role and management login of a database
/// another team is about to create, marked as the provider marks its own. On 16+ the login
/// may (CREATEROLE reaches the roles it makes); the other team's create then refuses the
/// planted roles, naming them and who holds them, rather than handing its database to the
/// planter. On 15 the issuer's functions refuse to make them at all.
fn planted_roles_are_never_adopted(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (mine, future) = (format!("{}_a", c.prefix), format!("{}_b", c.prefix));
    let ws = Workspace::new(tf, label, &stack_on(&c, port, &database(&mine, "deletion_policy = \"drop\"")));
    ws.init();
    ws.apply();
    let mark = format!("managed by terraform-provider-dbaas: postgresql/{future}");
    let plant = if port == 5432 {
        vec![format!("SELECT dbaas_vault.create_user('{future}_owner', 'planted', 'infinity', 'owner');")]
    } else {
        vec![
            format!("CREATE ROLE \"{future}_owner\" LOGIN PASSWORD 'planted';"),
            format!("COMMENT ON ROLE \"{future}_owner\" IS '{mark}';"),
            format!("CREATE ROLE \"{future}_vault\" LOGIN PASSWORD 'planted';"),
            format!("COMMENT ON ROLE \"{future}_vault\" IS '{mark}';"),
        ]
    };
    let path = format!("{}/roles/postgres-{mine}-plant", c.mount);
    vault(
        "POST",
        &path,
        Some(&json!({ "db_name": format!("postgres-{mine}"), "creation_statements": plant, "default_ttl": "5m" })),
    );
    let planted = vault("GET", &format!("{}/creds/postgres-{mine}-plant", c.mount), None);
    let exists = psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{future}_owner'"));
    if port == 5432 {
        assert!(planted["errors"].is_array(), "the issuer made a role that is no Vault user: {planted}");
        assert_eq!(exists, "0");
    } else {
        assert!(
            planted["data"]["username"].is_string(),
            "the management login could not plant (the story needs it to): {planted}"
        );
        assert_eq!(exists, "1");
    }
    let other =
        Workspace::new(tf, &format!("{label}b"), &stack_on(&c, port, &database(&future, "deletion_policy = \"drop\"")));
    other.init();
    if port == 5432 {
        other.apply();
        other.destroy();
    } else {
        let refused = other.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(refused.contains("Role already exists") && refused.contains(&format!("{future}_owner")), "{refused}");
        assert!(refused.contains(&format!("held with ADMIN by {mine}_vault")), "who holds it is not named: {refused}");
        let owner = psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{future}'"));
        assert_eq!(owner, "0", "the database was made for the planted owner");
    }
    vault("DELETE", &path, None);
    ws.destroy();
    if port != 5432 {
        // The planter's own database is gone, and its management login with it: nothing
        // records who made the planted roles any more, and they are still refused.
        assert_eq!(
            psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{mine}_vault'")),
            "0"
        );
        let refused = other.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(refused.contains("Role already exists") && refused.contains("no admin ever granted it"), "{refused}");
    }
}

#[test]
fn planted_roles_are_never_adopted_on_postgres_15() {
    planted_roles_are_never_adopted(5432, "plant15");
}

#[test]
fn planted_roles_are_never_adopted_on_postgres_17() {
    planted_roles_are_never_adopted(PG17, "plant17");
}

#[test]
fn planted_roles_are_never_adopted_on_postgres_18() {
    planted_roles_are_never_adopted(PG18, "plant18");
}

/// PgBouncer's auth user is granted CONNECT on every database. A team whose management
/// login may make roles (16+) makes a login of that name before the platform does; every
/// later plan that creates or changes a database refuses it, naming who holds it, and only
/// the platform's own login (made by a superuser) is granted anything.
fn a_squatted_pooler_auth_user_is_refused(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (mine, theirs, squatted, platform) = (
        format!("{}_a", c.prefix),
        format!("{}_b", c.prefix),
        format!("{}_pool", c.prefix),
        format!("{}_plat", c.prefix),
    );
    let ws = Workspace::new(tf, label, &stack_on(&c, port, &database(&mine, "deletion_policy = \"drop\"")));
    ws.init();
    ws.apply();
    let path = format!("{}/roles/postgres-{mine}-squat", c.mount);
    let plant = vec![format!("CREATE ROLE \"{squatted}\" LOGIN PASSWORD 'squatted';")];
    vault(
        "POST",
        &path,
        Some(&json!({ "db_name": format!("postgres-{mine}"), "creation_statements": plant, "default_ttl": "5m" })),
    );
    let planted = vault("GET", &format!("{}/creds/postgres-{mine}-squat", c.mount), None);
    assert!(planted["data"]["username"].is_string(), "the squat could not be made (the story needs it): {planted}");
    // Another team's stack, behind a PgBouncer whose auth user is the squatted name.
    let behind_pooler = |auth_user: &str| {
        Stack::default()
            .postgres_behind_pooler(port, 6432, auth_user)
            .vault(&c.mount, "token = \"root\"")
            .main_tf(&database(&theirs, "deletion_policy = \"drop\""))
    };
    let other = Workspace::new(tf, &format!("{label}b"), &behind_pooler(&squatted));
    other.init();
    let refused = other.fails(&["plan", "-input=false", "-no-color"]);
    let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(refused.contains("PgBouncer's auth_user is not the platform's"), "{refused}");
    assert!(refused.contains(&format!("held with ADMIN by {mine}_vault")), "who holds it is not named: {refused}");
    psql_on(port, "postgres", &format!("CREATE ROLE \"{platform}\" LOGIN"));
    other.write_main(&behind_pooler(&platform));
    other.apply();
    let connect = |role: &str| {
        psql_on(port, "postgres", &format!("SELECT has_database_privilege('{role}', '{theirs}', 'CONNECT')"))
    };
    assert_eq!(connect(&platform), "t", "the platform's auth user was not granted CONNECT");
    assert_eq!(connect(&squatted), "f", "the squatted login may CONNECT");
    other.destroy();
    vault("DELETE", &path, None);
    ws.destroy();
}

#[test]
fn a_squatted_pooler_auth_user_is_refused_on_postgres_17() {
    a_squatted_pooler_auth_user_is_refused(PG17, "squat17");
}

#[test]
fn a_squatted_pooler_auth_user_is_refused_on_postgres_18() {
    a_squatted_pooler_auth_user_is_refused(PG18, "squat18");
}

/// An owner may grant to any role: tenant A's `owner` app grants its table to B's group
/// roles and to a user Vault issued for B, and names B's readwrite group in a row policy.
/// And it may attach settings to its database, which every session there starts with:
/// read-only, run as A's owner group, cut off when idle, refused at login (a preload
/// library that does not exist; and on 17, every transaction cut at once). None of that may keep B's destroy (which visits A's database to take those
/// grants back) from dropping B's roles or Vault from revoking B's users; A's table and
/// rows stay.
fn another_tenants_grants_never_break_a_destroy(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (a, b) = (format!("{}_a", c.prefix), format!("{}_b", c.prefix));
    let tenant = |db: &str| {
        stack_on(
            &c,
            port,
            &(database(db, "deletion_policy = \"drop\"")
                + &role("own", "own", "privileges = \"owner\"")
                + &role("app", "app", "privileges = \"readonly\"")),
        )
    };
    let ws_a = Workspace::new(tf, &format!("{label}a"), &tenant(&a));
    let ws_b = Workspace::new(tf, &format!("{label}b"), &tenant(&b));
    for ws in [&ws_a, &ws_b] {
        ws.init();
        ws.apply();
    }
    let (b_user, _, _) = issue(&format!("{}/creds/postgres-{b}-app", c.mount));
    let (owner, owner_pw, _) = issue(&format!("{}/creds/postgres-{a}-own", c.mount));
    let grants = format!(
        "CREATE TABLE shared (v text); INSERT INTO shared VALUES ('kept'); \
         GRANT SELECT ON shared TO \"{b}_readonly\", \"{b_user}\"; \
         ALTER TABLE shared ENABLE ROW LEVEL SECURITY; CREATE POLICY b_rows ON shared TO \"{b}_readwrite\" USING (true); \
         ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO \"{b}_owner\"; \
         GRANT CONNECT ON DATABASE \"{a}\" TO \"{b}_readonly\", \"{b_user}\""
    );
    psql_as(port, &owner, &owner_pw, &a, &grants).unwrap_or_else(|e| panic!("A's owner could not grant: {e}"));
    let mut settings = format!(
        "ALTER DATABASE \"{a}\" SET default_transaction_read_only = on; ALTER DATABASE \"{a}\" SET role = '{a}_owner'; \
         ALTER DATABASE \"{a}\" SET idle_session_timeout = '20ms'; \
         ALTER DATABASE \"{a}\" SET local_preload_libraries = 'no_such_library'"
    );
    if port != 5432 {
        settings.push_str(&format!("; ALTER DATABASE \"{a}\" SET transaction_timeout = '1ms'"));
    }
    psql_as(port, &owner, &owner_pw, &a, &settings).unwrap_or_else(|e| panic!("A's owner could not set: {e}"));
    let attached = psql_on(
        port,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '{a}' AND 'default_transaction_read_only=on' = ANY (s.setconfig)"
        ),
    );
    assert_eq!(attached, "1", "A's settings did not hold: this story would prove nothing");
    ws_b.destroy();
    // What A did to its own database's sessions (Vault's among them) is A's to undo; the
    // platform does it here, from outside A's database.
    psql_on(port, "postgres", &format!("ALTER DATABASE \"{a}\" RESET ALL"));
    let left = psql_on(
        port,
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{b}\\_%' OR rolname = '{b_user}'"),
    );
    assert_eq!(left, "0", "B's destroy left roles behind");
    assert_eq!(psql_on(port, &a, "SELECT v FROM shared"), "kept", "A's rows were touched");
    ws_a.destroy();
}

#[test]
fn another_tenants_grants_never_break_a_destroy_on_postgres_15() {
    another_tenants_grants_never_break_a_destroy(5432, "grants15");
}

#[test]
fn another_tenants_grants_never_break_a_destroy_on_postgres_17() {
    another_tenants_grants_never_break_a_destroy(PG17, "grants17");
}

/// What both template stories start from: tenant A's database with an `app` role, a
/// credential of it, and a template of the story's own (PUBLIC keeps CONNECT on it, as on
/// `template1`), standing in for `template1`, where a story's session would make every other
/// story's CREATE DATABASE fail meanwhile.
struct TemplateStory {
    c: Cleanup,
    ws: Workspace,
    port: u16,
    label: String,
    b: String,
    template: String,
    user: String,
    password: String,
}

impl TemplateStory {
    fn new(port: u16, label: &str) -> TemplateStory {
        require_services();
        let c = Cleanup::new(label);
        let (a, b, template) = (format!("{}_a", c.prefix), format!("{}_b", c.prefix), format!("{}_t", c.prefix));
        let ws = Workspace::new(
            &terraforms()[0],
            label,
            &stack_on(&c, port, &(database(&a, "deletion_policy = \"drop\"") + &role("app", "app", ""))),
        );
        ws.init();
        ws.apply();
        psql_on(port, "postgres", &format!("CREATE DATABASE \"{template}\" IS_TEMPLATE true"));
        let (user, password, _) = issue(&format!("{}/creds/postgres-{a}-app", c.mount));
        TemplateStory { c, ws, port, label: label.to_owned(), b, template, user, password }
    }

    /// Tenant B's stack, initialised: its database `b` is made from the template.
    fn other_stack(&self) -> Workspace {
        let templates = format!("templates = [\"{}\"]", self.template);
        let stack = if self.port == 5432 {
            Stack::default().postgres(5432, &templates)
        } else {
            Stack::default().postgres_direct_with(self.port, &templates)
        };
        let resources = database(&self.b, &format!("deletion_policy = \"drop\"\n  template = \"{}\"", self.template));
        let other = Workspace::new(
            &terraforms()[0],
            &format!("{}b", self.label),
            &stack.vault(&self.c.mount, "token = \"root\"").main_tf(&resources),
        );
        other.init();
        other
    }

    /// Drops the template (an app's defaults there would keep Vault from dropping it), then
    /// A's stack.
    fn finish(self) {
        psql_on(self.port, "postgres", &format!("ALTER DATABASE \"{}\" IS_TEMPLATE false", self.template));
        psql_on(self.port, "postgres", &format!("DROP DATABASE \"{}\"", self.template));
        self.ws.destroy();
    }
}

/// Any login may set its own default privileges in a template it may connect to (PUBLIC
/// keeps CONNECT on `template1`; `ALTER DEFAULT PRIVILEGES` for oneself needs no privilege),
/// and every database made from it copies them. A new database must not read that as a
/// login working in it that needs CONNECT of its own: tenant A's app is not granted CONNECT
/// on B's new database. The story's own template stands in for `template1`: a session on
/// `template1` would make every other story's CREATE DATABASE fail meanwhile.
fn template_default_privileges_grant_no_connect(port: u16, label: &str) {
    let story = TemplateStory::new(port, label);
    let (port, b, template) = (story.port, story.b.clone(), story.template.clone());
    let (user, password) = (story.user.clone(), story.password.clone());
    let set = "ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC";
    // Straight to the server: PgBouncer would keep a server connection on the template, and
    // CREATE DATABASE refuses a template anyone is connected to.
    psql_as(port, &user, &password, &template, set)
        .unwrap_or_else(|e| panic!("the app could not set its defaults in the template (the story needs it): {e}"));
    let other = story.other_stack();
    other.apply();
    let connect = psql_on(port, "postgres", &format!("SELECT has_database_privilege('{user}', '{b}', 'CONNECT')"));
    assert_eq!(connect, "f", "A's app was granted CONNECT on B's new database");
    other.destroy();
    story.finish();
}

/// CREATE DATABASE copies its template only when no one else is connected to it, and any
/// login may connect to `template1` (PUBLIC's CONNECT). Tenant A's app opens a session on the
/// template and keeps it; B's create must still succeed (the session is ended), not fail
/// with "source database is being accessed by other users", as every create on the server
/// would. The story's own template, with PUBLIC's CONNECT as `template1` has it, stands in
/// for `template1`: holding a session there would stop other stories' creates meanwhile.
fn a_session_on_the_template_never_stops_a_create(port: u16, label: &str) {
    let story = TemplateStory::new(port, label);
    let (port, template) = (story.port, story.template.clone());
    let (user, password) = (story.user.clone(), story.password.clone());
    let mut holder = std::process::Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", &user, "-d", &template])
        .args(["-c", "SELECT pg_sleep(300)"])
        .env("PGPASSWORD", &password)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql runs");
    let held =
        || psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{template}'"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while held() != "1" {
        assert!(std::time::Instant::now() < deadline, "the app's session on the template never opened");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let other = story.other_stack();
    let created = other.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(created.status.success(), "a session on the template stopped B's create:\n{}", text(&created));
    assert_eq!(held(), "0", "the app's session on the template is still there");
    other.destroy();
    story.finish();
}

#[test]
fn a_session_on_the_template_never_stops_a_create_on_postgres_15() {
    a_session_on_the_template_never_stops_a_create(5432, "tmplheld15");
}

#[test]
fn a_session_on_the_template_never_stops_a_create_on_postgres_17() {
    a_session_on_the_template_never_stops_a_create(PG17, "tmplheld17");
}

#[test]
fn template_default_privileges_grant_no_connect_on_postgres_15() {
    template_default_privileges_grant_no_connect(5432, "tmpldef15");
}

#[test]
fn template_default_privileges_grant_no_connect_on_postgres_17() {
    template_default_privileges_grant_no_connect(PG17, "tmpldef17");
}

/// Two provider configurations, one for PostgreSQL 15 and one for 17, share a Vault mount,
/// and each stack asks for a database of the same name. The second is warned of at plan
/// and refused at apply, naming both servers, and the first's Vault connection still reaches the first's server:
/// it was never overwritten.
#[test]
fn two_servers_on_one_mount_never_share_a_connection() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("twosrv");
    let name = c.prefix.clone();
    let first = Workspace::new(tf, "twosrv15", &stack_on(&c, 5432, &database(&name, "deletion_policy = \"drop\"")));
    first.init();
    first.apply();
    let connection = format!("{}/config/postgres-{name}", c.mount);
    let url = || vault("GET", &connection, None)["data"]["connection_details"]["connection_url"].clone();
    let before = url();
    assert!(before.as_str().is_some_and(|u| u.contains("127.0.0.1:5432")), "{before}");
    let second = Workspace::new(tf, "twosrv17", &stack_on(&c, PG17, &database(&name, "deletion_policy = \"drop\"")));
    second.init();
    // At plan a warning (an error there would also block planning this stack's destroy);
    // apply refuses before anything changes.
    let planned = text(&second.run(&["plan", "-input=false", "-no-color"]));
    let planned = planned.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(planned.contains("Vault connection already exists for another server"), "{planned}");
    assert!(planned.contains("127.0.0.1:5432") && planned.contains(&format!("127.0.0.1:{PG17}")), "{planned}");
    let refused = second.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(refused.contains("Vault connection already exists for another server"), "{refused}");
    assert_eq!(url(), before, "the first server's connection was rewritten");
    let made = psql_on(PG17, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"));
    assert_eq!(made, "0", "the second database was made though its connection was refused");
    first.destroy();
}

/// The MySQL issuer's procedures take names and passwords exactly, whatever a team's token
/// passes them through a role on its own connection: a name differing from an issued
/// user's by case erases no record (so the user's revocation still drops it), a name with
/// a final newline or an upper-case `V` is no name Vault issues, and no password shorter
/// than Vault's (an empty one least of all) is set on any login.
#[test]
fn the_mysql_issuer_takes_names_and_passwords_exactly() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("myexact");
    let name = c.prefix.clone();
    let resources = format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"mysql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
    ) + &role("readonly", "ro", "privileges = \"readonly\"")
        + &role("static", "st", "mode = \"static\"");
    let ws = Workspace::new(
        tf,
        "myexact",
        &Stack::default().mysql().vault(&c.mount, "token = \"root\"").main_tf(&resources),
    );
    ws.init();
    ws.apply();
    let mount = &c.mount;
    let (user, password, lease) = issue(&format!("{mount}/creds/mysql-{name}-ro"));
    let mut n = 0;
    let mut run = |statement: &str| {
        n += 1;
        let path = format!("{mount}/roles/mysql-{name}-probe{n}");
        let body = json!({ "db_name": format!("mysql-{name}"), "creation_statements": [statement], "revocation_statements": ["SELECT 1"], "default_ttl": "2m" });
        vault("POST", &path, Some(&body));
        let issued = vault("GET", &format!("{mount}/creds/mysql-{name}-probe{n}"), None);
        vault("DELETE", &path, None);
        issued["data"]["username"].is_string()
    };
    let exists = |account: &str| mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{account}'")) == "1";
    let flipped: String = user
        .chars()
        .map(|ch| if ch.is_ascii_lowercase() { ch.to_ascii_uppercase() } else { ch.to_ascii_lowercase() })
        .collect();
    assert_ne!(flipped, user);
    run(&format!("CALL `dbaas-provider`.`drop_user`('{flipped}')"));
    assert!(exists(&user), "a case variant dropped the user");
    for (what, statement) in [
        ("a final newline", "CALL `dbaas-provider`.`issue_user`('v12345678_1234567890_abcdefgh\\n', 'Long-enough-password-1', 'readonly')".to_owned()),
        ("an upper-case V", "CALL `dbaas-provider`.`issue_user`('V12345678_1234567890_abcdefgh', 'Long-enough-password-1', 'readonly')".to_owned()),
        ("an empty password", "CALL `dbaas-provider`.`issue_user`('{{name}}', '', 'readonly')".to_owned()),
        ("a short password", "CALL `dbaas-provider`.`issue_user`('{{name}}', 'short', 'readonly')".to_owned()),
        ("no own password", "CALL `dbaas-provider`.`set_own_password`('')".to_owned()),
        ("no static password", format!("CALL `dbaas-provider`.`set_password`('{name}_st', '')")),
    ] {
        assert!(!run(&statement), "the issuer took {what}");
    }
    let upper = mysql(
        "SELECT COUNT(*) FROM mysql.user WHERE BINARY User LIKE 'V12345678%' OR User LIKE 'v12345678_1234567890_abcdefgh_%'",
    );
    assert_eq!(upper, "0", "an account outside Vault's names was made");
    // The management login's password is still Vault's: issuing works.
    let (again, _, _) = issue(&format!("{mount}/creds/mysql-{name}-ro"));
    assert!(exists(&again));
    // The user whose record a case variant tried to erase goes with its lease.
    assert_eq!(mysql_as(&user, &password, "SELECT 1").as_deref(), Ok("1"));
    let revoked = vault("PUT", "sys/leases/revoke", Some(&json!({ "lease_id": lease, "sync": true })));
    assert!(revoked["errors"].is_null(), "{revoked}");
    assert!(!exists(&user), "its revocation left the user");
    ws.destroy();
}

/// The first key of the provider's DDL locks (`"dbdd"`); the second is `hashtext` of the
/// database or server-wide role they keep. Named here as an attacker reads them off
/// `pg_locks` while an apply runs.
const DDL_LOCK_CLASS: i32 = 0x6462_6464;

/// Advisory locks belong to the database they are taken in, and any login may connect to
/// `postgres` (PUBLIC's CONNECT): tenant A's app, with the credential Vault gave it, holds
/// there every key the provider's locks use for B's database and for the server-wide
/// roles, for as long as it likes. B's create, role and destroy must not wait on it (the
/// provider gets three seconds of `lock_timeout` here: before, its apply failed when they
/// ran out). The app cannot reach where the provider locks instead.
fn a_tenant_holding_lock_keys_never_stops_an_apply(port: u16, label: &str) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(label);
    let (a, b) = (format!("{}_a", c.prefix), format!("{}_b", c.prefix));
    let first = Workspace::new(
        tf,
        label,
        &stack_on(&c, port, &(database(&a, "deletion_policy = \"drop\"") + &role("app", "app", ""))),
    );
    first.init();
    first.apply();
    let (user, password, _) = issue(&format!("{}/creds/postgres-{a}-app", c.mount));
    let keys: Vec<String> = [b.as_str(), "dbaas-provider", "dbaas-claim:", "dbaas-issuer", &format!("{b}_vault")]
        .iter()
        .map(|k| format!("pg_advisory_lock({DDL_LOCK_CLASS}, hashtext('{k}'))"))
        .collect();
    let mut holder = std::process::Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", &user, "-d", "postgres"])
        .args(["-c", &format!("SELECT {}", keys.join(", ")), "-c", "SELECT pg_sleep(300)"])
        .env("PGPASSWORD", &password)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql runs");
    let held = || {
        psql_on(
            port,
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND a.usename = '{user}'"
            ),
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while held() != keys.len().to_string() {
        assert!(std::time::Instant::now() < deadline, "the app never took the keys");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let resources = database(&b, "deletion_policy = \"drop\"") + &role("app", "app", "");
    let provider = if port == 5432 {
        Stack::default().postgres(5432, "lock_timeout = \"3s\"")
    } else {
        Stack::default().postgres_direct_with(port, "lock_timeout = \"3s\"")
    };
    let other =
        Workspace::new(tf, &format!("{label}b"), &provider.vault(&c.mount, "token = \"root\"").main_tf(&resources));
    other.init();
    let created = other.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let destroyed =
        created.status.success().then(|| other.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]));
    let still_held = held();
    let reached = psql_as(port, &user, &password, "dbaas-provider", "SELECT 1");
    let _ = holder.kill();
    let _ = holder.wait();
    // Its server process sleeps on, keys held, until it next writes to the client: end it.
    psql_on(
        port,
        "postgres",
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{user}'"),
    );
    assert!(created.status.success(), "an app holding lock keys in postgres stopped B's create:\n{}", text(&created));
    let destroyed = destroyed.expect("B was made");
    assert!(
        destroyed.status.success(),
        "an app holding lock keys in postgres stopped B's destroy:\n{}",
        text(&destroyed)
    );
    assert_eq!(
        still_held,
        keys.len().to_string(),
        "the app's keys were let go before B's apply ended: the story proves nothing"
    );
    let refused = reached.expect_err("an app connected to the database the provider locks in");
    assert!(refused.contains("permission denied for database"), "{refused}");
    first.destroy();
}

#[test]
fn a_tenant_holding_lock_keys_never_stops_an_apply_on_postgres_15() {
    a_tenant_holding_lock_keys_never_stops_an_apply(5432, "lockkeys15");
}

#[test]
fn a_tenant_holding_lock_keys_never_stops_an_apply_on_postgres_17() {
    a_tenant_holding_lock_keys_never_stops_an_apply(PG17, "lockkeys17");
}

/// A platform with one admin login per team lets each into the provider's database (the
/// security guide's setup). A login it left out is told so at plan, with the statement
/// that lets it in, and nothing is made.
#[test]
fn a_team_admin_kept_out_of_the_providers_database_is_told_how_to_get_in() {
    require_services();
    let c = Cleanup::new("lockdbout");
    let (login, password) = (format!("{}_admin", c.prefix), format!("pw-out-{}", std::process::id()));
    psql_on(PG17, "postgres", &format!("CREATE ROLE \"{login}\" LOGIN CREATEDB CREATEROLE PASSWORD '{password}'"));
    make_provider_database(PG17);
    let name = format!("{}_db", c.prefix);
    let ws = Workspace::new(
        &terraforms()[0],
        "lockdbout",
        &Stack::default()
            .postgres_direct_as(PG17, &login, &password)
            .vault(&c.mount, "token = \"root\"")
            .main_tf(&database(&name, "deletion_policy = \"drop\"")),
    );
    ws.init();
    let refused = ws.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let refused = refused.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(refused.contains("No database for the provider's locks"), "{refused}");
    assert!(refused.contains(&format!("GRANT CONNECT ON DATABASE \"dbaas-provider\" TO \"{login}\"")), "{refused}");
    assert_eq!(psql_on(PG17, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
}

/// A team's token can make any login a member of its own database's group roles (its
/// management login holds ADMIN on them): here PgBouncer's auth user. The destroy of that
/// database takes back what its own roles and users hold elsewhere, and nothing of a login
/// merely added to its groups: before, it ran `DROP OWNED BY pgbouncer_auth` in every
/// database, taking its CONNECT on every other stack's database, and with it every login
/// through PgBouncer.
#[test]
fn a_destroy_never_takes_back_what_a_login_added_to_its_groups_holds_elsewhere() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("dropown");
    let (a, b) = (format!("{}_a", c.prefix), format!("{}_b", c.prefix));
    let first = Workspace::new(
        tf,
        "dropowna",
        &stack_on(&c, 5432, &(database(&a, "deletion_policy = \"drop\"") + &role("app", "app", ""))),
    );
    first.init();
    first.apply();
    let second = Workspace::new(tf, "dropownb", &stack_on(&c, 5432, &database(&b, "deletion_policy = \"drop\"")));
    second.init();
    second.apply();
    // B's token, through a Vault role on B's own connection.
    let probe = format!("{}/roles/postgres-{b}-probe", c.mount);
    let written = vault(
        "POST",
        &probe,
        Some(&json!({
            "db_name": format!("postgres-{b}"),
            "creation_statements": [format!("GRANT \"{b}_readonly\" TO pgbouncer_auth")],
            "revocation_statements": ["SELECT 1"],
            "default_ttl": "2m",
        })),
    );
    assert!(written["errors"].is_null(), "{written}");
    vault("GET", &format!("{}/creds/postgres-{b}-probe", c.mount), None);
    vault("DELETE", &probe, None);
    let member = format!("SELECT pg_has_role('pgbouncer_auth', '{b}_readonly', 'MEMBER')");
    assert_eq!(psql("postgres", &member), "t", "the token could not add the auth user: the story proves nothing");

    second.destroy();
    let connect = format!("SELECT has_database_privilege('pgbouncer_auth', '{a}', 'CONNECT')");
    assert_eq!(psql("postgres", &connect), "t", "B's destroy took the auth user's CONNECT on A's database");
    let (user, password, _) = issue(&format!("{}/creds/postgres-{a}-app", c.mount));
    assert_eq!(
        psql_pooled(&user, &password, &a, "SELECT 1").as_deref(),
        Ok("1"),
        "A's app cannot log in through PgBouncer"
    );
    first.destroy();
}
