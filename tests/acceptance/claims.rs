//! Claims: one stack's mistake never reaches another's objects. A teammate copies another
//! stack's id into an `import` block; the provider refuses to change or destroy what another
//! state claims, takes an object over only when the configuration names the claim, and two
//! stacks importing one object at the same moment cannot both win.

use serde_json::Value as Json;

use crate::redis_namespace::{RedisCleanup, namespace_name, redis};
use crate::util::*;

fn database(c: &Cleanup, name: &str, engine: &str, settings: &str) -> String {
    fixture("shared_database.tf", &[("mount", &c.mount), ("name", name), ("engine", engine), ("settings", settings)])
}

fn import_block(engine: &str, name: &str) -> String {
    format!("import {{\n  to = dbaas_shared_database.this\n  id = \"{engine}/{name}\"\n}}\n")
}

/// The claim a workspace's state holds on `dbaas_shared_database.this`.
fn claim_in_state(ws: &Workspace) -> Option<String> {
    let show = ws.show();
    let resources = show["values"]["root_module"]["resources"].as_array().cloned().unwrap_or_default();
    let this = resources.iter().find(|r| r["address"] == "dbaas_shared_database.this")?;
    this["values"]["claim"].as_str().map(str::to_owned)
}

/// Rows in the probe table: proves the data is still there.
fn rows(engine: &str, name: &str) -> String {
    match engine {
        "postgresql" => psql(name, "SELECT count(*) FROM probe"),
        _ => mysql(&format!("SELECT COUNT(*) FROM `{name}`.probe")),
    }
}

fn write_probe(engine: &str, name: &str) {
    match engine {
        "postgresql" => drop(psql(name, "CREATE TABLE probe (v int); INSERT INTO probe VALUES (1), (2)")),
        _ => drop(mysql(&format!("CREATE TABLE `{name}`.probe (v int); INSERT INTO `{name}`.probe VALUES (1), (2)"))),
    }
}

/// Where the database's claim is written on the server.
fn claim_on_server(engine: &str, name: &str) -> String {
    match engine {
        "postgresql" => psql(
            "postgres",
            &format!("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{name}'"),
        ),
        _ => mysql(&format!("SELECT record FROM `dbaas-provider`.claims WHERE db = '{name}'")),
    }
}

#[test]
fn a_stack_that_imports_another_stacks_database_can_neither_change_nor_destroy_it() {
    require_services();
    let tf = &terraforms()[0];
    for engine in ["postgresql", "mysql"] {
        let c = Cleanup::new("claimsteal");
        let name = c.prefix.clone();
        let owner = Workspace::new(tf, "claimowner", &database(&c, &name, engine, "deletion_policy = \"drop\""));
        owner.init();
        owner.apply();
        let claim = claim_in_state(&owner).expect("create takes a claim");
        assert_eq!(claim.len(), 32, "{claim}");
        assert!(claim_on_server(engine, &name).contains(&claim), "the claim is written on the server");
        owner.assert_plan_empty();
        write_probe(engine, &name);

        // The copy-paste: an import block naming the other stack's database, set to drop.
        let copy =
            format!("{}{}", database(&c, &name, engine, "deletion_policy = \"drop\""), import_block(engine, &name));
        let thief = Workspace::new(tf, "claimthief", &copy);
        thief.init();
        let out = thief.fails(&["plan", "-no-color", "-input=false"]);
        assert!(out.contains("Claimed by another Terraform state") && out.contains(&claim), "{out}");
        assert!(out.contains("take_over_claim"), "the refusal names the attribute at fault: {out}");

        // Through the CLI import, the apply that would set `drop` is refused, and so is a
        // destroy; the way out the error gives, `terraform state rm`, changes nothing.
        thief.write_main(&database(&c, &name, engine, "deletion_policy = \"drop\""));
        thief.ok(&["import", "-no-color", "-input=false", "dbaas_shared_database.this", &format!("{engine}/{name}")]);
        let out = thief.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert!(out.contains("Claimed by another Terraform state"), "{out}");
        let out = thief.fails(&["destroy", "-auto-approve", "-no-color", "-input=false"]);
        assert!(out.contains("Claimed by another Terraform state") && out.contains("terraform state rm"), "{out}");
        thief.ok(&["state", "rm", "dbaas_shared_database.this"]);
        assert_eq!(rows(engine, &name), "2", "the other stack's data is still there");
        assert!(claim_on_server(engine, &name).contains(&claim), "the claim is unchanged");
        owner.assert_plan_empty();

        // Naming the claim moves the database: the thief becomes the owner, with a claim of
        // its own, and no change to the data.
        let take_over = format!("deletion_policy = \"drop\"\ntake_over_claim = \"{claim}\"");
        thief.write_main(&format!("{}{}", database(&c, &name, engine, &take_over), import_block(engine, &name)));
        thief.apply();
        let taken = claim_in_state(&thief).expect("take-over writes a claim");
        assert_ne!(taken, claim);
        assert!(claim_on_server(engine, &name).contains(&taken));
        thief.assert_plan_empty();

        // The stack that lost it gets an error at plan, never a recreate or a destroy.
        let out = owner.fails(&["plan", "-no-color", "-input=false"]);
        assert!(out.contains("Claimed by another Terraform state") && out.contains("was taken over"), "{out}");
        let out = owner.fails(&["destroy", "-auto-approve", "-no-color", "-input=false", "-refresh=false"]);
        assert!(out.contains("Claimed by another Terraform state"), "{out}");
        assert_eq!(rows(engine, &name), "2");
        owner.ok(&["state", "rm", "dbaas_shared_database.this"]);

        // The new owner may destroy it.
        thief.destroy();
        match engine {
            "postgresql" => {
                assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0")
            }
            _ => assert_eq!(
                mysql(&format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'")),
                "0"
            ),
        }
        assert_eq!(claim_on_server(engine, &name), "", "the claim went with the database");
    }
}

#[test]
fn two_stacks_importing_one_database_at_once_cannot_both_win() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("claimrace");
    let name = c.prefix.clone();
    // Made by hand, as before the provider: nobody claims it.
    psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    write_probe("postgresql", &name);
    let main = format!("{}{}", database(&c, &name, "postgresql", ""), import_block("postgresql", &name));
    let stacks: Vec<Workspace> = (0..2)
        .map(|_| {
            let ws = Workspace::new(tf, "claimrace", &main);
            ws.init();
            ws
        })
        .collect();
    let outcomes: Vec<(bool, String)> = std::thread::scope(|s| {
        let runs: Vec<_> = stacks
            .iter()
            .map(|ws| s.spawn(|| ws.run(&["apply", "-auto-approve", "-input=false", "-no-color"])))
            .collect();
        runs.into_iter()
            .map(|r| {
                let out = r.join().unwrap();
                (
                    out.status.success(),
                    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
                )
            })
            .collect()
    });
    let winners: Vec<usize> = (0..2).filter(|i| outcomes[*i].0).collect();
    assert_eq!(winners.len(), 1, "exactly one import wins: {outcomes:#?}");
    let (winner, loser) = (&stacks[winners[0]], &stacks[1 - winners[0]]);
    assert!(outcomes[1 - winners[0]].1.contains("Claimed by another Terraform state"), "{outcomes:#?}");
    let claim = claim_in_state(winner).expect("the winner holds the claim");
    assert!(claim_on_server("postgresql", &name).contains(&claim));
    winner.assert_plan_empty();
    // The loser's next plan says why, and never plans to recreate or drop it.
    let out = loser.fails(&["plan", "-no-color", "-input=false"]);
    assert!(out.contains("Claimed by another Terraform state") && out.contains(&claim), "{out}");
    assert_eq!(rows("postgresql", &name), "2");
}

/// State written before claims (schema version 0, no `claim`): the upgrade keeps every
/// value, the next plan is an in-place update that takes the claim, and then it is empty.
#[test]
fn state_from_before_claims_takes_its_claim_in_place() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("claimupgrade");
    let name = c.prefix.clone();
    let ws = Workspace::new(tf, "claimupgrade", &database(&c, &name, "postgresql", ""));
    ws.init();
    ws.apply();
    // The state as the previous release wrote it, on the server as well: no claim.
    let mut state: Json = serde_json::from_str(&ws.ok(&["state", "pull"])).unwrap();
    let instance = &mut state["resources"][0]["instances"][0];
    instance["schema_version"] = Json::from(0);
    let attributes = instance["attributes"].as_object_mut().unwrap();
    attributes.remove("claim");
    attributes.remove("take_over_claim");
    state["serial"] = Json::from(state["serial"].as_u64().unwrap() + 1);
    std::fs::write(ws.dir.join("old.tfstate"), state.to_string()).unwrap();
    ws.ok(&["state", "push", "old.tfstate"]);
    psql(
        "postgres",
        &format!(
            "COMMENT ON DATABASE \"{name}\" IS 'managed by terraform-provider-dbaas: postgresql/{name}'; DROP ROLE \"dbaas-claim:{name}\""
        ),
    );

    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.contains("will be updated in-place") && plan.contains("claim"), "{plan}");
    assert!(plan.contains("0 to add, 1 to change, 0 to destroy"), "{plan}");
    ws.apply();
    let claim = claim_in_state(&ws).expect("the apply takes the claim");
    assert!(claim_on_server("postgresql", &name).contains(&claim));
    ws.assert_plan_empty();
    ws.ok(&["state", "rm", "dbaas_shared_database.this"]);
}

fn namespace_stack(c: &Cleanup, namespace: &str, extra: &str) -> String {
    Stack::default().redis("addresses = [\"127.0.0.1:6379\"]").vault(&c.mount, "token = \"root\"").main_tf(&format!(
        r#"
resource "dbaas_redis_namespace" "cache" {{
  name = "{namespace}"
  {extra}
}}
resource "dbaas_rotated_role" "app" {{
  database = dbaas_redis_namespace.cache.id
  name     = "app"
  {extra}
}}
"#
    ))
}

/// The namespace and its role, with their claims in Vault KV, move only by naming them.
#[test]
fn a_namespace_and_its_role_move_to_another_state_only_by_naming_their_claims() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("claimns");
    let namespace = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(namespace.clone());
    let owner = Workspace::new(tf, "claimns_owner", &namespace_stack(&c, &namespace, ""));
    owner.init();
    owner.apply();
    owner.assert_plan_empty();
    let role_claim = vault("GET", &format!("secret/data/dbaas/claims/{}/redis-{namespace}-app", c.mount), None);
    assert!(role_claim["data"]["data"]["claim"].as_str().is_some_and(|c| c.starts_with("claim ")), "{role_claim}");
    // An app holds a credential from the role.
    let issued = vault("GET", &format!("{}/creds/redis-{namespace}-app", c.mount), None);
    let app_user = issued["data"]["username"].as_str().expect("Vault issues").to_owned();

    let imports = format!(
        "import {{\n  to = dbaas_redis_namespace.cache\n  id = \"redis/{namespace}\"\n}}\nimport {{\n  to = dbaas_rotated_role.app\n  id = \"redis/{namespace}/app\"\n}}\n"
    );
    let thief = Workspace::new(tf, "claimns_thief", &format!("{}{imports}", namespace_stack(&c, &namespace, "")));
    thief.init();
    // Each plan refuses what it reaches (the role waits for its namespace); the team names
    // each claim the errors give, as they say, until the plan goes through.
    let mut main = namespace_stack(&c, &namespace, "");
    let mut taken = Vec::new();
    for _ in 0..2 {
        for (address, claim) in thief.refused_claims() {
            main = taking_over(&main, &address, &claim);
            taken.push(address);
        }
        thief.write_main(&format!("{main}{imports}"));
    }
    taken.sort();
    assert_eq!(taken, ["dbaas_redis_namespace.cache", "dbaas_rotated_role.app"]);

    // Naming both claims moves both; nothing else changes, and the app's user stays.
    thief.apply();
    thief.assert_plan_empty();
    assert!(redis(&["ACL", "USERS"]).lines().any(|u| u == app_user), "the app's credential survives the move");

    let out = owner.fails(&["plan", "-no-color", "-input=false"]);
    assert!(out.contains("Claimed by another Terraform state") && out.contains("was taken over"), "{out}");
    let out = owner.fails(&["destroy", "-auto-approve", "-no-color", "-input=false", "-refresh=false"]);
    assert!(out.contains("Claimed by another Terraform state"), "{out}");
    assert!(
        redis(&["ACL", "USERS"]).lines().any(|u| u == format!("dbaas-{namespace}")),
        "the namespace is still there"
    );
    owner.ok(&["state", "rm", "dbaas_rotated_role.app", "dbaas_redis_namespace.cache"]);

    // The new holder destroys them, and their claims go with them.
    thief.destroy();
    let gone = vault("GET", &format!("secret/metadata/dbaas/claims/{}/redis-{namespace}-app", c.mount), None);
    assert!(gone["data"].is_null(), "the role's claim is removed with it: {gone}");
    let gone = vault("GET", &format!("secret/metadata/dbaas/claims/redis/{namespace}"), None);
    assert!(gone["data"].is_null(), "the namespace's claim is removed with it: {gone}");
}

/// The first apply after an import takes the claim before it changes anything; when a later
/// step fails, the claim is in state all the same, so the stack is not locked out of its own
/// database by a claim no state holds.
#[test]
fn a_failed_apply_after_import_keeps_the_claim_it_took() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("claimfail");
    let name = c.prefix.clone();
    psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    let main = |extensions: &str| {
        Stack::default().postgres(5432, "extensions = [\"no_such_extension\"]").vault(&c.mount, "token = \"root\"").main_tf(
            &format!(
                "resource \"dbaas_shared_database\" \"this\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  extensions = [{extensions}]\n}}\n\
                 import {{\n  to = dbaas_shared_database.this\n  id = \"postgresql/{name}\"\n}}\n"
            ),
        )
    };
    // The platform allows an extension the server does not have: the update fails late.
    let ws = Workspace::new(tf, "claimfail", &main("\"no_such_extension\""));
    ws.init();
    let out = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    assert!(out.contains("no_such_extension"), "{out}");
    let claim = claim_in_state(&ws).expect("the claim taken is in state");
    assert!(claim_on_server("postgresql", &name).contains(&claim));
    ws.write_main(&main(""));
    ws.apply();
    ws.assert_plan_empty();
    assert_eq!(claim_in_state(&ws), Some(claim), "the same claim throughout");
}

/// A tenant's `owner` credentials act as its database's owner, and an owner may rewrite
/// the database's comment: erasing a claim kept there let another state import the
/// database, take the claim and drop it. The claim is the comment on a role no tenant may
/// comment on, so an erased or forged database comment decides nothing; and a database an
/// earlier release claimed (its comment alone holds the claim) gets that role at the first
/// claim this release writes on the server, before any tenant is asked.
#[test]
fn a_tenant_cannot_erase_or_forge_its_databases_claim() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("claimerase");
    let (name, legacy, next) = (format!("{}_a", c.prefix), format!("{}_l", c.prefix), format!("{}_n", c.prefix));
    let role = |label: &str| {
        format!(
            "resource \"dbaas_rotated_role\" \"{label}\" {{\n  database = dbaas_shared_database.{label}.id\n  name = \"own\"\n  privileges = \"owner\"\n}}\n"
        )
    };
    // Its apps log in through PgBouncer, whose idle server connections a drop must end.
    let main = database(&c, &name, "postgresql", "deletion_policy = \"drop\"\n  force_drop = true")
        + &role("this")
        + &format!(
            "resource \"dbaas_shared_database\" \"legacy\" {{\n  name = \"{legacy}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n"
        )
        + &role("legacy");
    let owner = Workspace::new(tf, "claimerasea", &main);
    owner.init();
    owner.apply();
    // The tenant's owner app erases the claim from its database's comment and tries to
    // forge the claim role's; another stack imports the database.
    let attack = |db: &String, label: &str| {
        let (user, password) = {
            let creds = vault("GET", &format!("{}/creds/postgres-{db}-own", c.mount), None);
            (
                creds["data"]["username"].as_str().unwrap().to_owned(),
                creds["data"]["password"].as_str().unwrap().to_owned(),
            )
        };
        // The tenant's owner app erases the claim from its database's comment; another
        // stack imports the database.
        let erased = format!("COMMENT ON DATABASE \"{db}\" IS 'managed by terraform-provider-dbaas: postgresql/{db}'");
        psql_pooled(&user, &password, db, &erased)
            .unwrap_or_else(|e| panic!("the owner app may comment its database: {e}"));
        let planted = psql_pooled(
            &user,
            &password,
            db,
            &format!("COMMENT ON ROLE \"dbaas-claim:{db}\" IS 'claim forged since 2026-01-01T00:00:00Z'"),
        );
        assert!(planted.is_err(), "the owner app wrote the claim role's comment: {planted:?}");
        let thief = Workspace::new(
            tf,
            "claimeraset",
            &(database(&c, db, "postgresql", "deletion_policy = \"drop\"") + &import_block("postgresql", db)),
        );
        thief.init();
        let refused = thief.refused_claims();
        assert_eq!(refused.len(), 1, "the other stack's plan was not refused for {db}: {refused:?}");
        assert_eq!(refused[0].1, owner.claim_of(&format!("dbaas_shared_database.{label}")));
        let refused = thief.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        assert!(refused.contains("Claimed by another Terraform state"), "{refused}");
    };
    attack(&name, "this");
    // The earlier release's shape for `legacy`: its claim in its comment alone.
    psql("postgres", &format!("DROP ROLE \"dbaas-claim:{legacy}\""));
    // Any claim this release writes on the server (a third database here) moves it.
    let third = Workspace::new(tf, "claimerasen", &database(&c, &next, "postgresql", "deletion_policy = \"drop\""));
    third.init();
    third.apply();
    let moved = psql(
        "postgres",
        &format!("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'dbaas-claim:{legacy}'"),
    );
    assert!(moved.starts_with("claim "), "the earlier release's claim was not moved to its role: {moved:?}");
    owner.assert_plan_empty();

    attack(&legacy, "legacy");
    owner.assert_plan_empty();
    third.destroy();
    owner.destroy();
    assert_eq!(
        psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'dbaas-claim:{}%'", c.prefix)),
        "0",
        "destroy left claim roles"
    );
}
