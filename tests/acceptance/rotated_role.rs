//! `dbaas_rotated_role`: apps get credentials from Vault at the level they asked for, and
//! nothing issued outlives the role.

use serde_json::json;

use crate::util::*;

fn issue(path: &str) -> (String, String, String) {
    let creds = vault("GET", path, None);
    let data = &creds["data"];
    assert!(data["username"].is_string(), "Vault issued nothing at {path}: {creds}");
    (
        data["username"].as_str().unwrap().to_owned(),
        data["password"].as_str().unwrap().to_owned(),
        creds["lease_id"].as_str().unwrap().to_owned(),
    )
}

/// The `stale_users` a role at `address` has in state (null when it is not there).
fn stale_users(ws: &Workspace, address: &str) -> serde_json::Value {
    let state = ws.show();
    state["values"]["root_module"]["resources"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["address"] == address))
        .map(|r| r["values"]["stale_users"].clone())
        .unwrap_or_default()
}

#[test]
fn postgres_privilege_levels_through_pgbouncer() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("pgrole");
        let name = c.prefix.clone();
        let ws = Workspace::new(
            tf,
            "pgrole",
            &fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "postgresql")]),
        );
        ws.init();
        ws.apply();
        ws.assert_plan_empty();
        let out = ws.outputs();
        assert_eq!(out["creds_path"]["value"], format!("{}/creds/postgres-{name}-rw", c.mount));
        assert_eq!(out["port"]["value"], 6432);
        let role = vault("GET", &format!("{}/roles/postgres-{name}-ro", c.mount), None);
        assert_eq!(role["data"]["default_ttl"], json!(3600));

        let (owner, owner_pw, owner_lease) = issue(&format!("{}/creds/postgres-{name}-own", c.mount));
        let (rw, rw_pw, _) = issue(&format!("{}/creds/postgres-{name}-rw", c.mount));
        let (ro, ro_pw, _) = issue(&format!("{}/creds/postgres-{name}-ro", c.mount));

        // owner creates a table; it belongs to the owner group role.
        psql_pooled(&owner, &owner_pw, &name, "CREATE TABLE trades (id int); INSERT INTO trades VALUES (1)").unwrap();
        assert_eq!(psql(&name, "SELECT tableowner FROM pg_tables WHERE tablename = 'trades'"), format!("{name}_owner"));
        // readwrite reads and writes, but cannot create tables.
        psql_pooled(&rw, &rw_pw, &name, "INSERT INTO trades VALUES (2)").unwrap();
        assert_eq!(psql_pooled(&rw, &rw_pw, &name, "SELECT count(*) FROM trades").unwrap(), "2");
        assert!(
            psql_pooled(&rw, &rw_pw, &name, "CREATE TABLE nope (id int)").unwrap_err().contains("permission denied")
        );
        // readonly reads only.
        assert_eq!(psql_pooled(&ro, &ro_pw, &name, "SELECT count(*) FROM trades").unwrap(), "2");
        assert!(
            psql_pooled(&ro, &ro_pw, &name, "INSERT INTO trades VALUES (3)").unwrap_err().contains("permission denied")
        );

        // Revoking the owner-level user leaves its table, owned by the group.
        vault("PUT", "sys/leases/revoke", Some(&json!({"lease_id": owner_lease, "sync": true})));
        assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{owner}'")), "0");
        assert_eq!(psql(&name, "SELECT count(*) FROM trades"), "2");

        // A role deleted in Vault is put back by the next apply.
        vault("DELETE", &format!("{}/roles/postgres-{name}-ro", c.mount), None);
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(
            plan.contains("dbaas_rotated_role.readonly will be updated in-place") && plan.contains("vault_role"),
            "{plan}"
        );
        ws.apply();
        ws.assert_plan_empty();

        // Import by id: the claim stays with the role, so the configuration names it; the
        // plan then only takes it.
        let main = fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "postgresql")]);
        let claim = ws.reimport("dbaas_rotated_role.readwrite", &format!("postgresql/{name}/rw"));
        ws.write_main(&taking_over(&main, "dbaas_rotated_role.readwrite", &claim));
        assert_eq!(ws.assert_plan_takes_only_claims(), 1);
        ws.apply();
        ws.assert_plan_empty();
        // And by identity (Terraform 1.12+).
        if version_at_least(&tf.version, 1, 12) {
            let readonly_claim = ws.claim_of("dbaas_rotated_role.readonly");
            ws.ok(&["state", "rm", "dbaas_rotated_role.readonly"]);
            let mut main = taking_over(
                &taking_over(&main, "dbaas_rotated_role.readwrite", &claim),
                "dbaas_rotated_role.readonly",
                &readonly_claim,
            );
            main.push_str(&format!(
                "import {{\n  to       = dbaas_rotated_role.readonly\n  identity = {{ mount = \"{}\", role = \"postgres-{name}-ro\" }}\n}}\n",
                c.mount
            ));
            ws.write_main(&main);
            let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
            assert!(plan.contains("1 to import, 0 to add, 1 to change, 0 to destroy"), "{plan}");
            ws.apply();
            ws.assert_plan_empty();
        }

        ws.destroy();
        for user in [&rw, &ro] {
            assert_eq!(
                psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}'")),
                "0",
                "{user} outlived the role"
            );
        }
        assert!(vault("GET", &format!("{}/roles/postgres-{name}-rw", c.mount), None)["data"].is_null());
    }
}

#[test]
fn mysql_privilege_levels() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("myrole");
    let name: String = c.prefix.chars().take(24).collect::<String>().trim_end_matches('_').to_owned();
    let c = Cleanup { prefix: name.clone(), mount: c.mount.clone() };
    let ws = Workspace::new(
        tf,
        "myrole",
        &fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "mysql")]),
    );
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let (owner, owner_pw, _) = issue(&format!("{}/creds/mysql-{name}-own", c.mount));
    let (rw, rw_pw, _) = issue(&format!("{}/creds/mysql-{name}-rw", c.mount));
    let (ro, ro_pw, _) = issue(&format!("{}/creds/mysql-{name}-ro", c.mount));
    mysql_as(&owner, &owner_pw, &format!("CREATE TABLE `{name}`.t (id int); INSERT INTO `{name}`.t VALUES (1)"))
        .unwrap();
    mysql_as(&rw, &rw_pw, &format!("INSERT INTO `{name}`.t VALUES (2)")).unwrap();
    assert!(mysql_as(&rw, &rw_pw, &format!("CREATE TABLE `{name}`.nope (id int)")).is_err());
    assert_eq!(mysql_as(&ro, &ro_pw, &format!("SELECT COUNT(*) FROM `{name}`.t")).unwrap(), "2");
    assert!(mysql_as(&ro, &ro_pw, &format!("INSERT INTO `{name}`.t VALUES (3)")).is_err());
    ws.destroy();
    let left = mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User IN ('{owner}', '{rw}', '{ro}')"));
    assert_eq!(left, "0", "issued users outlived their roles");
}

#[test]
fn redis_roles_stay_inside_the_namespace() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("redisrole");
    let name = c.prefix.replace('_', "-");
    let main = format!(
        "{}\nresource \"dbaas_redis_namespace\" \"ns\" {{\n  name = \"{name}\"\n  purge_keys_on_destroy = true\n}}\n\
         resource \"dbaas_rotated_role\" \"cache\" {{\n  database = dbaas_redis_namespace.ns.id\n  name = \"rw\"\n}}\n",
        fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &c.prefix), ("engine", "postgresql")])
            .split("resource \"dbaas_shared_database\"")
            .next()
            .unwrap()
    );
    let ws = Workspace::new(tf, "redisrole", &main);
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let (user, password, _) = issue(&format!("{}/creds/redis-{name}-rw", c.mount));
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'AUTH {user} {password}\\nSET {name}:k v\\nSET other-{name}:k v\\n' | redis-cli -h 127.0.0.1"
        ))
        .output()
        .unwrap();
    let answers: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    assert_eq!(answers[0], "OK", "{answers:?}");
    assert_eq!(answers[1], "OK", "{answers:?}");
    assert!(answers[2].contains("NOPERM"), "{answers:?}");
    ws.destroy();
    let users = std::process::Command::new("redis-cli").args(["ACL", "USERS"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&users.stdout).contains(&user), "issued Redis user outlived the role");
}

#[test]
fn ephemeral_credentials_work_during_the_run_and_vanish_after() {
    require_services();
    // Ephemeral resources need Terraform 1.10.
    for tf in terraforms_since(1, 10, "ephemeral resources") {
        let c = Cleanup::new("pgeph");
        let name = c.prefix.clone();
        let marker = std::env::temp_dir().join(format!("{name}.marker"));
        let mut main = fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "postgresql")]);
        main.push_str(&format!(
            r#"
ephemeral "dbaas_credentials" "migrate" {{
  role = dbaas_rotated_role.readwrite.id
}}

# Uses the credentials during the run: logs in through PgBouncer and records who it was.
resource "terraform_data" "migration" {{
  provisioner "local-exec" {{
    command = "psql -X -At -h ${{ephemeral.dbaas_credentials.migrate.host}} -p ${{ephemeral.dbaas_credentials.migrate.port}} -U \"$PGUSER\" -d ${{ephemeral.dbaas_credentials.migrate.database}} -c 'SELECT current_user' > {marker} && printf '%s\\n' \"$PGPASSWORD\" >> {marker} && echo ${{ephemeral.dbaas_credentials.migrate.admin_host}}:${{ephemeral.dbaas_credentials.migrate.admin_port}} >> {marker}"
    environment = {{
      PGUSER     = ephemeral.dbaas_credentials.migrate.username
      PGPASSWORD = ephemeral.dbaas_credentials.migrate.password
    }}
  }}
}}
"#,
            marker = marker.display()
        ));
        let ws = Workspace::new(tf, "pgeph", &main);
        ws.init();
        // From empty state, in one saved plan, as the docs example runs: the credentials
        // are opened once the role exists.
        ws.ok(&["plan", "-input=false", "-no-color", "-out=run.tfplan"]);
        ws.ok(&["apply", "-input=false", "-no-color", "run.tfplan"]);

        // It worked during the run: the provisioner logged in as an issued user.
        // The test records the password too, only to prove it is nowhere in state or plan.
        let recorded = std::fs::read_to_string(&marker).expect("the provisioner ran");
        let _ = std::fs::remove_file(&marker);
        let mut lines = recorded.lines();
        let (user, password) =
            (lines.next().unwrap_or_default().to_owned(), lines.next().unwrap_or_default().to_owned());
        assert!(password.len() >= 16, "no password recorded: {recorded:?}");
        // Migrations get the primary itself beside PgBouncer's endpoint.
        assert_eq!(lines.next(), Some("127.0.0.1:5432"), "direct endpoint: {recorded:?}");
        assert!(user.starts_with("v-"), "logged in as {user:?}");
        // And it is gone after the run: Close revoked the lease.
        assert_eq!(
            psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}'")),
            "0",
            "the issued user outlived the run"
        );

        // No trace of the credentials in state or the saved plan (JSON or the file itself).
        let state = std::fs::read_to_string(ws.dir.join("terraform.tfstate")).unwrap();
        let plan_json = ws.ok(&["show", "-json", "run.tfplan"]);
        let plan_file = String::from_utf8_lossy(&std::fs::read(ws.dir.join("run.tfplan")).unwrap()).into_owned();
        for (what, text) in [("state", &state), ("plan", &plan_json), ("plan file", &plan_file)] {
            assert!(!text.contains(&password), "the password is in the {what}");
            assert!(!text.contains(&user), "the issued username is in the {what}");
        }
        ws.destroy();
    }
}

/// A migration job that fails: its provisioner uses the ephemeral credentials and exits
/// non-zero, so the run ends in an error. Whether or not Terraform closes them then, the
/// user they issued must not outlive the run by more than the lease's 5 minutes: its lease
/// is that short from the start (Vault's lookup and, on PostgreSQL, the login's VALID
/// UNTIL say so), though the role's own TTL is the default day.
#[test]
fn an_ephemeral_credential_of_a_failed_run_lasts_minutes_not_the_roles_ttl() {
    require_services();
    for tf in terraforms_since(1, 10, "ephemeral resources") {
        let c = Cleanup::new("pgephfail");
        let name = c.prefix.clone();
        let marker = std::env::temp_dir().join(format!("{name}.marker"));
        let mut main = fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "postgresql")]);
        main.push_str(&format!(
            r#"
ephemeral "dbaas_credentials" "migrate" {{
  role = dbaas_rotated_role.readwrite.id
}}

# A migration that fails half way, after logging in.
resource "terraform_data" "migration" {{
  provisioner "local-exec" {{
    command = "psql -X -At -h ${{ephemeral.dbaas_credentials.migrate.host}} -p ${{ephemeral.dbaas_credentials.migrate.port}} -U \"$PGUSER\" -d ${{ephemeral.dbaas_credentials.migrate.database}} -c 'SELECT current_user' > {marker} && echo \"$LEASE\" >> {marker} && exit 3"
    environment = {{
      PGUSER     = ephemeral.dbaas_credentials.migrate.username
      PGPASSWORD = ephemeral.dbaas_credentials.migrate.password
      LEASE      = ephemeral.dbaas_credentials.migrate.lease_id
    }}
  }}
}}
"#,
            marker = marker.display()
        ));
        let ws = Workspace::new(tf, "pgephfail", &main);
        ws.init();
        let failed = ws.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        assert!(!failed.status.success(), "the migration was supposed to fail");
        let recorded = std::fs::read_to_string(&marker).expect("the provisioner ran");
        let _ = std::fs::remove_file(&marker);
        let mut lines = recorded.lines();
        let (user, lease) = (lines.next().unwrap_or_default().to_owned(), lines.next().unwrap_or_default().to_owned());
        assert!(user.starts_with("v-"), "logged in as {user:?}");
        let looked_up = vault("PUT", "sys/leases/lookup", Some(&json!({ "lease_id": lease })));
        if let Some(ttl) = looked_up["data"]["ttl"].as_u64() {
            assert!(ttl <= 300, "the lease of a failed run's credentials lasts {ttl} s");
        } else {
            assert!(looked_up["errors"].is_array(), "Vault knows nothing of the lease: {looked_up}");
        }
        let within = psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_roles WHERE rolname = '{user}' AND rolvaliduntil > now() + interval '330 seconds'"
            ),
        );
        assert_eq!(within, "0", "the failed run's login is valid for longer than its lease");
        ws.destroy();
    }
}

#[test]
fn static_roles_rotate_and_their_login_goes_with_them() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("pgstatic");
    let name = c.prefix.clone();
    let mut main = fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "postgresql")]);
    main.push_str(
        "resource \"dbaas_rotated_role\" \"pooler\" {\n  database = dbaas_shared_database.db.id\n  name = \"pool\"\n  mode = \"static\"\n  rotation_period = \"1h\"\n}\n\
         output \"static_path\" { value = dbaas_rotated_role.pooler.creds_path }\n\
         output \"static_user\" { value = dbaas_rotated_role.pooler.static_username }\n",
    );
    let ws = Workspace::new(tf, "pgstatic", &main);
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let out = ws.outputs();
    let login = format!("{name}_pool");
    assert_eq!(out["static_user"]["value"], login.as_str());
    let path = out["static_path"]["value"].as_str().unwrap().to_owned();
    assert_eq!(path, format!("{}/static-creds/postgres-{name}-pool", c.mount));

    let read = || {
        let creds = vault("GET", &path, None);
        assert_eq!(creds["data"]["username"], login.as_str(), "{creds}");
        creds["data"]["password"].as_str().unwrap().to_owned()
    };
    let before = read();
    psql_pooled(&login, &before, &name, "SELECT 1").unwrap();

    // Rotation: the old password stops working, the new one works.
    vault("POST", &format!("{}/rotate-role/postgres-{name}-pool", c.mount), Some(&json!({})));
    let after = read();
    assert_ne!(before, after);
    // PgBouncer may reuse a server connection; what matters is that it checks the password.
    assert!(psql_pooled(&login, &before, &name, "SELECT 1").is_err(), "the old password still works");
    psql_pooled(&login, &after, &name, "SELECT 1").unwrap();

    // A changed rotation period is an in-place update.
    ws.write_main(&main.replace("rotation_period = \"1h\"", "rotation_period = \"2h\""));
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.contains("will be updated in-place"), "{plan}");
    ws.apply();
    ws.assert_plan_empty();
    let role = vault("GET", &format!("{}/static-roles/postgres-{name}-pool", c.mount), None);
    assert_eq!(role["data"]["rotation_period"], json!(7200));

    // Import reads the level back from the login's memberships: a readonly static role
    // imports as readonly, so the plan after it is empty.
    let with_reader = main.replace("rotation_period = \"1h\"", "rotation_period = \"2h\"")
        + "resource \"dbaas_rotated_role\" \"reader\" {\n  database = dbaas_shared_database.db.id\n  name = \"reader\"\n  mode = \"static\"\n  privileges = \"readonly\"\n}\n";
    ws.write_main(&with_reader);
    ws.apply();
    let claim = ws.reimport("dbaas_rotated_role.reader", &format!("postgresql/{name}/reader"));
    ws.write_main(&taking_over(&with_reader, "dbaas_rotated_role.reader", &claim));
    assert_eq!(ws.assert_plan_takes_only_claims(), 1);
    ws.apply();
    ws.assert_plan_empty();

    // The reimported login counts as imported (the server keeps no proof a tenant could not
    // write that this provider made it): destroy would keep it; this stack opts in to
    // dropping it, and the plan of the destroy says so.
    let dropping = taking_over(&with_reader, "dbaas_rotated_role.reader", &claim)
        .replace("privileges = \"readonly\"\n", "privileges = \"readonly\"\n  drop_imported_login = true\n");
    ws.write_main(&dropping);
    ws.apply();
    let plan = ws.ok(&["plan", "-destroy", "-no-color", "-input=false"]);
    let flat = plan.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("Removing the role drops its imported login"), "{plan}");
    ws.destroy();
    assert_eq!(
        psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname IN ('{login}', '{name}_reader')")),
        "0",
        "the static login outlived its role"
    );
}

#[test]
fn a_static_role_vault_refuses_leaves_no_login_behind() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("pgstaticfail");
    let name = c.prefix.clone();
    let main = fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "postgresql")]);
    let ws = Workspace::new(tf, "pgstaticfail", &main);
    ws.init();
    ws.apply();

    // A token that may do everything but write static roles: the login is made, then
    // Vault refuses the static role.
    let policy = format!(
        "path \"*\" {{ capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }}\n\
         path \"{}/static-roles/*\" {{ capabilities = [\"read\", \"list\"] }}\n",
        c.mount
    );
    vault("PUT", &format!("sys/policies/acl/{}", c.mount), Some(&json!({ "policy": policy })));
    let token = vault("POST", "auth/token/create", Some(&json!({ "policies": [c.mount], "ttl": "10m" })));
    let token = token["auth"]["client_token"].as_str().expect("a token").to_owned();
    let with_static = main.clone()
        + "resource \"dbaas_rotated_role\" \"pooler\" {\n  database = dbaas_shared_database.db.id\n  name = \"pool\"\n  mode = \"static\"\n}\n";
    ws.write_main(&with_static.replace("token          = \"root\"", &format!("token          = \"{token}\"")));
    let out = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    assert!(out.contains("permission denied") || out.contains("Vault permission denied"), "{out}");
    assert_eq!(
        psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{name}_pool'")),
        "0",
        "the login made before the refusal was left behind"
    );

    // With the right token, one apply creates it.
    ws.write_main(&with_static);
    ws.apply();
    ws.assert_plan_empty();
    ws.destroy();
    vault("DELETE", &format!("sys/policies/acl/{}", c.mount), None);
}

#[test]
fn stale_users_are_reported_and_cleaned_up_on_request() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("pgstale");
    let name = c.prefix.clone();
    let main = fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "postgresql")]);
    let ws = Workspace::new(tf, "pgstale", &main);
    ws.init();
    ws.apply();

    // A Vault-issued user whose lease is gone but who was never dropped (here: its
    // VALID UNTIL moved into the past), and a login of someone else's in the same group.
    let (stale, _, _) = issue(&format!("{}/creds/postgres-{name}-rw", c.mount));
    psql("postgres", &format!("ALTER ROLE \"{stale}\" VALID UNTIL '2000-01-01'"));
    let human = format!("{name}_human");
    psql("postgres", &format!("CREATE ROLE \"{human}\" LOGIN VALID UNTIL '2000-01-01' IN ROLE \"{name}_readwrite\""));

    ws.ok(&["apply", "-refresh-only", "-auto-approve", "-no-color", "-input=false"]);
    assert_eq!(stale_users(&ws, "dbaas_rotated_role.readwrite"), json!([stale]), "stale_users");

    // Opting in drops them on apply; the other login is not ours and stays.
    ws.write_main(
        &main.replace("  privileges = \"readwrite\"\n", "  privileges = \"readwrite\"\n  cleanup_stale_users = true\n"),
    );
    let out = ws.apply();
    assert!(out.contains("Stale users dropped"), "{out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{stale}'")), "0");
    assert_eq!(
        psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{human}'")),
        "1",
        "a user we did not issue was dropped"
    );
    ws.assert_plan_empty();
    ws.destroy();
}

/// The platform's real failure on MySQL: Vault cannot drop a user when its lease ends (its
/// management login lost the privilege for a moment), the lease is force-revoked, and the
/// user stays. `stale_users` lists exactly it; `cleanup_stale_users` drops exactly it.
#[test]
fn mysql_users_left_by_a_failed_revocation_are_listed_and_cleaned_up() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("mystale");
    let name = c.prefix.clone();
    let main = fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "mysql")]);
    let ws = Workspace::new(tf, "mystale", &main);
    ws.init();
    ws.apply();
    let role = format!("mysql-{name}-ro");
    let issue = || vault("GET", &format!("{}/creds/{role}", c.mount), None);
    // Seconds apart: Vault does not say which user a lease is for, so users issued in the
    // same moment as a live one are never called stale (they are told apart by time).
    let kept = issue();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let lost = issue();
    let user_of = |creds: &serde_json::Value| creds["data"]["username"].as_str().expect("issued").to_owned();
    let (kept_user, lost_user) = (user_of(&kept), user_of(&lost));

    // The management login loses the issuer's drop_user, and its open sessions end, so
    // Vault's revocation fails; the lease is then forced out and the user stays.
    let management = format!("'{name}_vault'@'%'");
    mysql(&format!("REVOKE EXECUTE ON PROCEDURE `dbaas-provider`.`drop_user` FROM {management}"));
    for id in mysql(&format!("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{name}_vault'")).lines() {
        let _ = mysql_as("root", "", &format!("KILL {id}"));
    }
    let lease = lost["lease_id"].as_str().expect("a lease").to_owned();
    let refused = vault("PUT", "sys/leases/revoke", Some(&json!({ "lease_id": lease, "sync": true })));
    assert!(refused["errors"].is_array(), "the revocation was supposed to fail: {refused}");
    vault("PUT", &format!("sys/leases/revoke-force/{lease}"), None);
    mysql(&format!("GRANT EXECUTE ON PROCEDURE `dbaas-provider`.`drop_user` TO {management}"));
    // Sessions keep the global privileges they logged in with: Vault's must log in again.
    for id in mysql(&format!("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{name}_vault'")).lines() {
        let _ = mysql_as("root", "", &format!("KILL {id}"));
    }
    assert_eq!(
        mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{lost_user}'")),
        "1",
        "the user should be left behind"
    );

    // Plan lists exactly the user whose lease is gone.
    ws.apply();
    assert_eq!(stale_users(&ws, "dbaas_rotated_role.readonly"), json!([lost_user]), "stale_users");

    // Cleaning up drops it, and only it.
    ws.write_main(&main.replace("default_ttl = \"1h\"", "default_ttl = \"1h\"\n  cleanup_stale_users = true"));
    ws.apply();
    ws.assert_plan_empty();
    assert_eq!(
        mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{lost_user}'")),
        "0",
        "stale user not dropped"
    );
    assert_eq!(
        mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{kept_user}'")),
        "1",
        "a live user was dropped"
    );
    ws.destroy();
}

/// The same failure on Redis: the management user loses `ACL` for a moment, so Vault's
/// revocation (`ACL DELUSER`) fails, the lease is force-revoked, and the user stays.
/// `stale_users` lists exactly it; `cleanup_stale_users` deletes exactly it.
#[test]
fn redis_users_left_by_a_failed_revocation_are_listed_and_cleaned_up() {
    use crate::redis_namespace::{RedisCleanup, namespace_name, redis};
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("rstale");
    let namespace = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(namespace.clone());
    let main = |cleanup: bool| {
        Stack::default().redis("addresses = [\"127.0.0.1:6379\"]").vault(&c.mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_redis_namespace\" \"cache\" {{\n  name = \"{namespace}\"\n}}\nresource \"dbaas_rotated_role\" \"app\" {{\n  database    = dbaas_redis_namespace.cache.id\n  name        = \"app\"\n  default_ttl = \"1h\"\n  cleanup_stale_users = {cleanup}\n}}\n"
        ))
    };
    let ws = Workspace::new(tf, "rstale", &main(false));
    ws.init();
    ws.apply();
    let issue = || vault("GET", &format!("{}/creds/redis-{namespace}-app", c.mount), None);
    let kept = issue();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let lost = issue();
    let user_of = |creds: &serde_json::Value| creds["data"]["username"].as_str().expect("issued").to_owned();
    let (kept_user, lost_user) = (user_of(&kept), user_of(&lost));

    // The management user loses ACL, so the revocation fails; the lease is forced out.
    let management = format!("dbaas-{namespace}-vault");
    let rules = redis(&["ACL", "LIST"])
        .lines()
        .find(|l| l.starts_with(&format!("user {management} ")))
        .expect("management user")
        .to_owned();
    redis(&["ACL", "SETUSER", &management, "-acl"]);
    let lease = lost["lease_id"].as_str().expect("a lease").to_owned();
    let refused = vault("PUT", "sys/leases/revoke", Some(&json!({ "lease_id": lease, "sync": true })));
    assert!(refused["errors"].is_array(), "the revocation was supposed to fail: {refused}");
    vault("PUT", &format!("sys/leases/revoke-force/{lease}"), None);
    let mut restore = vec!["ACL", "SETUSER", management.as_str(), "reset"];
    restore.extend(rules.split_whitespace().skip(2));
    redis(&restore);
    assert!(redis(&["ACL", "USERS"]).lines().any(|u| u == lost_user), "the user should be left behind");

    // Plan lists exactly the user whose lease is gone.
    ws.apply();
    assert_eq!(stale_users(&ws, "dbaas_rotated_role.app"), json!([lost_user]), "stale_users");

    // Cleaning up deletes it, and only it.
    ws.write_main(&main(true));
    ws.apply();
    ws.assert_plan_empty();
    let users = redis(&["ACL", "USERS"]);
    assert!(!users.lines().any(|u| u == lost_user), "stale user not deleted");
    assert!(users.lines().any(|u| u == kept_user), "a live user was deleted");
    ws.destroy();
}

/// Values the servers would refuse or quietly change later are refused at validate, on the
/// attribute: a static rotation period under Vault's 5 s, a `default_ttl` past `max_ttl`,
/// a PostgreSQL timeout past what the server takes. Vault's own minimum is accepted.
#[test]
fn values_the_servers_would_refuse_are_refused_at_validate() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("ranges");
    let name = c.prefix.clone();
    let main = |postgres_extra: &str, role: &str| {
        Stack::default().postgres(5432, postgres_extra).vault(&c.mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n\
             resource \"dbaas_rotated_role\" \"r\" {{\n  database = dbaas_shared_database.db.id\n  name = \"r\"\n  {role}\n}}\n"
        ))
    };
    let ws = Workspace::new(tf, "ranges", &main("", "mode = \"static\"\n  rotation_period = \"1s\""));
    ws.init();
    let flat = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let out = flat(ws.fails(&["validate", "-no-color"]));
    assert!(out.contains("Rotation period too short") && out.contains("rotation_period"), "{out}");
    ws.write_main(&main("", "default_ttl = \"48h\"\n  max_ttl = \"1h\""));
    let out = flat(ws.fails(&["validate", "-no-color"]));
    assert!(out.contains("default_ttl longer than max_ttl") && out.contains("default_ttl = \"48h\""), "{out}");
    ws.write_main(&main("", "rotation_period = \"1h\""));
    let out = flat(ws.fails(&["validate", "-no-color"]));
    assert!(out.contains("rotation_period needs a static role"), "{out}");
    // A Vault role name of the provider's form must be this database's.
    ws.write_main(&Stack::default().postgres(5432, "").vault(&c.mount, "token = \"root\"").main_tf(&format!(
        "resource \"dbaas_rotated_role\" \"r\" {{\n  database = \"postgresql/{name}\"\n  name = \"r\"\n  vault_role = \"postgres-elsewhere-r\"\n}}\n"
    )));
    let out = flat(ws.fails(&["validate", "-no-color"]));
    assert!(out.contains("Invalid Vault role name") && out.contains("another database's"), "{out}");
    ws.write_main(&main("lock_timeout = \"999999h\"", ""));
    let out = flat(ws.fails(&["validate", "-no-color"]));
    assert!(out.contains("lock_timeout") && out.contains("596h"), "{out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");

    // Vault's shortest period is fine.
    ws.write_main(&main("", "mode = \"static\"\n  rotation_period = \"5s\""));
    ws.apply();
    ws.assert_plan_empty();
    ws.destroy();
}

/// Appends a statement to the creation statements of Vault role `role` on `mount`, as a
/// platform engineer editing it by hand would: the provider's statements no longer.
pub(crate) fn edit_statements_by_hand(mount: &str, role: &str) {
    let found = vault("GET", &format!("{mount}/roles/{role}"), None);
    let mut statements: Vec<serde_json::Value> =
        found["data"]["creation_statements"].as_array().cloned().unwrap_or_default();
    statements.push(json!("SELECT 1;"));
    vault(
        "POST",
        &format!("{mount}/roles/{role}"),
        Some(&json!({"db_name": found["data"]["db_name"], "creation_statements": statements})),
    );
}

#[test]
fn statements_edited_by_hand_show_apart_from_privileges_and_state_from_before_upgrades_in_place() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("stmtdrift");
    let name = c.prefix.clone();
    let ws = Workspace::new(
        tf,
        "stmtdrift",
        &fixture("rotated_role.tf", &[("mount", &c.mount), ("name", &name), ("engine", "postgresql")]),
    );
    ws.init();
    ws.apply();
    let role = format!("postgres-{name}-ro");
    let values = |ws: &Workspace| {
        let state = ws.show();
        state["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["address"] == "dbaas_rotated_role.readonly"))
            .map(|r| r["values"].clone())
            .unwrap_or_default()
    };
    assert_eq!(values(&ws)["vault_statements"], "as privileges says");

    // Edited by hand: the level stays a level; the statements show as changed, and go back.
    edit_statements_by_hand(&c.mount, &role);
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(
        plan.contains("vault_statements") && plan.contains("\"changed outside Terraform\" -> \"as privileges says\""),
        "{plan}"
    );
    assert!(plan.contains("0 to add, 1 to change, 0 to destroy"), "{plan}");
    ws.ok(&["refresh", "-no-color", "-input=false"]);
    assert_eq!(values(&ws)["privileges"], "readonly");
    assert_eq!(values(&ws)["vault_statements"], "changed outside Terraform");
    ws.apply();
    ws.assert_plan_empty();

    // State as schema version 1 wrote it for such a role: the mark in `privileges`.
    edit_statements_by_hand(&c.mount, &role);
    let mut state: serde_json::Value = serde_json::from_str(&ws.ok(&["state", "pull"])).unwrap();
    let resource = state["resources"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["type"] == "dbaas_rotated_role" && r["name"] == "readonly")
        .unwrap();
    let instance = &mut resource["instances"][0];
    instance["schema_version"] = json!(1);
    let attributes = instance["attributes"].as_object_mut().unwrap();
    for added_since in ["vault_statements", "static_login_origin", "drop_imported_login"] {
        attributes.remove(added_since);
    }
    attributes.insert("privileges".into(), json!("changed outside Terraform"));
    state["serial"] = json!(state["serial"].as_u64().unwrap() + 1);
    std::fs::write(ws.dir.join("v1.tfstate"), state.to_string()).unwrap();
    ws.ok(&["state", "push", "v1.tfstate"]);

    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(
        plan.contains("will be updated in-place") && plan.contains("0 to add, 1 to change, 0 to destroy"),
        "{plan}"
    );
    assert!(!plan.contains("must be replaced"), "{plan}");
    assert!(plan.contains("\"readwrite\" -> \"readonly\""), "the level v1 stood for, then the configured one:\n{plan}");
    ws.apply();
    ws.assert_plan_empty();
    assert_eq!(values(&ws)["privileges"], "readonly");
    let statements =
        vault("GET", &format!("{}/roles/{role}", c.mount), None)["data"]["creation_statements"].to_string();
    assert!(!statements.contains("SELECT 1;"), "the apply wrote the provider's statements: {statements}");
    ws.destroy();
}
