//! `terraform query` (Terraform 1.14+): a platform team finds the databases, namespaces
//! and roles that exist, whichever stack made them or by hand, and turns what it finds
//! into configuration that imports it; what another state claims moves only by naming
//! the claim.

use crate::redis_namespace::{RedisCleanup, namespace_name};
use crate::util::*;

fn stack(c: &Cleanup) -> Stack {
    Stack::default().postgres(5432, "").redis("addresses = [\"127.0.0.1:6379\"]").vault(&c.mount, "token = \"root\"")
}

/// Another team's stack: a database with a dynamic and a static role, a namespace with a role.
fn owned_stack(c: &Cleanup, database: &str, namespace: &str) -> String {
    stack(c).main_tf(&format!(
        r#"
resource "dbaas_shared_database" "db" {{
  name            = "{database}"
  engine          = "postgresql"
  deletion_policy = "drop"
  force_drop      = true
}}
resource "dbaas_rotated_role" "app" {{
  database   = dbaas_shared_database.db.id
  name       = "app"
  privileges = "readonly"
  default_ttl = "1h"
}}
resource "dbaas_rotated_role" "edited" {{
  database   = dbaas_shared_database.db.id
  name       = "edited"
  privileges = "readonly"
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

fn list_block(kind: &str, name: &str, config: &str, extra: &str) -> String {
    format!("list \"{kind}\" \"{name}\" {{\n  provider = dbaas\n  {extra}\n  config {{\n    {config}\n  }}\n}}\n")
}

#[test]
fn query_lists_what_exists_and_its_generated_config_takes_it_over_by_naming_claims() {
    require_services();
    let c = Cleanup::new("query");
    let (database, by_hand) = (format!("{}_a", c.prefix), format!("{}_h", c.prefix));
    let namespace = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(namespace.clone());
    let owner = Workspace::new(&terraforms()[0], "query_owner", &owned_stack(&c, &database, &namespace));
    owner.init();
    owner.apply();
    // One role's statements edited by hand: it reads as changed outside Terraform.
    crate::rotated_role::edit_statements_by_hand(&c.mount, &format!("postgres-{database}-edited"));
    psql("postgres", &format!("CREATE DATABASE \"{by_hand}\""));

    let mut holder = owner;
    for tf in terraforms_since(1, 14, "`terraform query`") {
        // What exists: the other stack's database and the hand-made one, the namespace,
        // and the roles of each, none of them in this workspace's state.
        let finder = Workspace::new(tf, "query_find", &stack(&c).main_tf(""));
        std::fs::write(
            finder.dir.join("find.tfquery.hcl"),
            [
                list_block(
                    "dbaas_shared_database",
                    "dbs",
                    &format!("engine = \"postgresql\"\n    name_prefix = \"{}\"", c.prefix),
                    "",
                ),
                list_block(
                    "dbaas_shared_database",
                    "first",
                    &format!("engine = \"postgresql\"\n    name_prefix = \"{}\"", c.prefix),
                    "limit = 1",
                ),
                list_block("dbaas_redis_namespace", "namespaces", &format!("name_prefix = \"{namespace}\""), ""),
                list_block("dbaas_rotated_role", "db_roles", &format!("database = \"postgresql/{database}\""), ""),
                list_block("dbaas_rotated_role", "cache_roles", &format!("database = \"redis/{namespace}\""), ""),
            ]
            .concat(),
        )
        .unwrap();
        finder.init();
        let found = finder.ok(&["query", "-no-color"]);
        let listed = |block: &str| -> Vec<String> {
            found
                .lines()
                .filter(|l| l.starts_with(&format!("list.{block} ")))
                .map(|l| l.split_whitespace().last().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(
            listed("dbaas_shared_database.dbs"),
            [format!("postgresql/{database}"), format!("postgresql/{by_hand}")],
            "{found}"
        );
        assert_eq!(listed("dbaas_shared_database.first").len(), 1, "limit = 1:\n{found}");
        assert_eq!(listed("dbaas_redis_namespace.namespaces"), [format!("redis/{namespace}")], "{found}");
        assert_eq!(
            listed("dbaas_rotated_role.db_roles"),
            [
                format!("postgresql/{database}/app"),
                format!("postgresql/{database}/edited"),
                format!("postgresql/{database}/pool")
            ],
            "{found}"
        );
        assert_eq!(listed("dbaas_rotated_role.cache_roles"), [format!("redis/{namespace}/app")], "{found}");

        // The other stack's objects, turned into configuration: it imports with no change.
        let adopter = Workspace::new(tf, "query_adopt", &stack(&c).main_tf(""));
        std::fs::write(
            adopter.dir.join("adopt.tfquery.hcl"),
            [
                list_block(
                    "dbaas_shared_database",
                    "db",
                    &format!("engine = \"postgresql\"\n    name_prefix = \"{database}\""),
                    "",
                ),
                list_block("dbaas_redis_namespace", "cache", &format!("name_prefix = \"{namespace}\""), ""),
                list_block("dbaas_rotated_role", "db_roles", &format!("database = \"postgresql/{database}\""), ""),
                list_block("dbaas_rotated_role", "cache_roles", &format!("database = \"redis/{namespace}\""), ""),
            ]
            .concat(),
        )
        .unwrap();
        adopter.init();
        adopter.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
        let generated = std::fs::read_to_string(adopter.dir.join("generated.tf")).unwrap();
        assert!(generated.contains("privileges") && generated.contains("\"readonly\""), "{generated}");
        assert!(generated.contains("mode") && generated.contains("\"static\""), "{generated}");
        // The role edited by hand gets a level, never a mark validation refuses.
        assert!(!generated.contains("changed outside Terraform"), "{generated}");
        // Another state claims each of them: the plan refuses all six, each error naming
        // its claim; the team moves them over by naming those claims, as the errors say.
        let claims = adopter.refused_claims();
        assert_eq!(claims.len(), 6, "one refusal per object: {claims:?}");
        adopter.write_main(&format!("{}\n{}", stack(&c).main_tf(""), taking_over(&generated, &claims)));
        std::fs::remove_file(adopter.dir.join("generated.tf")).unwrap();
        adopter.ok(&["validate", "-no-color"]);
        let plan = adopter.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("Plan: 6 to import, 0 to add, 6 to change, 0 to destroy."), "{plan}");
        adopter.apply();
        adopter.assert_plan_empty();
        // The stack they came from may no longer change them; it lets go of them.
        let out = holder.fails(&["plan", "-no-color", "-input=false"]);
        assert!(out.contains("Claimed by another Terraform state"), "{out}");
        for address in holder.ok(&["state", "list"]).lines() {
            holder.ok(&["state", "rm", address]);
        }
        holder = adopter;
    }

    holder.write_main(&holder_with_drop(&std::fs::read_to_string(holder.dir.join("main.tf")).unwrap()));
    holder.apply();
    // Generated configuration names ids, not references: the roles go first by hand.
    let roles: Vec<String> = holder
        .ok(&["state", "list"])
        .lines()
        .filter(|a| a.starts_with("dbaas_rotated_role."))
        .map(|a| format!("-target={a}"))
        .collect();
    let mut args = vec!["destroy", "-auto-approve", "-input=false", "-no-color"];
    args.extend(roles.iter().map(String::as_str));
    holder.ok(&args);
    holder.destroy();
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{database}'")), "0");
}

/// `generated` with `take_over_claim` set in each resource the claims name.
fn taking_over(generated: &str, claims: &[(String, String)]) -> String {
    let mut out = String::new();
    for line in generated.lines().filter(|l| !l.trim_start().starts_with("take_over_claim")) {
        out.push_str(line);
        out.push('\n');
        if let Some(header) = line.strip_prefix("resource \"")
            && let Some((kind, rest)) = header.split_once("\" \"")
            && let Some(name) = rest.strip_suffix("\" {")
            && let Some((_, claim)) = claims.iter().find(|(address, _)| *address == format!("{kind}.{name}"))
        {
            out.push_str(&format!("  take_over_claim = \"{claim}\"\n"));
        }
    }
    out
}

/// The adopted database set to be dropped on destroy, for the story's own cleanup.
fn holder_with_drop(main: &str) -> String {
    let mut out = String::new();
    for line in main.lines().filter(|l| !l.trim_start().starts_with("deletion_policy")) {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("resource \"dbaas_shared_database\"") {
            out.push_str("  deletion_policy = \"drop\"\n  force_drop = true\n");
        }
    }
    out
}

#[test]
fn a_role_list_names_only_roles_on_the_configured_server() {
    require_services();
    let tf = terraforms_since(1, 14, "`terraform query`").into_iter().next().expect("a Terraform with query");
    let c = Cleanup::new("qserver");
    let name = c.prefix.clone();
    vault("POST", &format!("sys/mounts/{}", c.mount), Some(&serde_json::json!({ "type": "database" })));
    // Two servers on one mount, each with a role made before the provider for a database
    // of the same name: a platform moving from PostgreSQL 15 to 17, say.
    for port in [5432, 5417] {
        let written = vault(
            "POST",
            &format!("{}/config/shared{port}", c.mount),
            Some(&serde_json::json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/postgres?sslmode=disable"),
                "username": "postgres",
                "password": "trust-auth-ignores-it",
                "allowed_roles": ["*"],
            })),
        );
        assert!(written["errors"].is_null(), "{written}");
        vault(
            "POST",
            &format!("{}/roles/legacy{port}", c.mount),
            Some(&serde_json::json!({
                "db_name": format!("shared{port}"),
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                    format!("GRANT CONNECT ON DATABASE \"{name}\" TO \"{{{{name}}}}\";"),
                ],
            })),
        );
    }
    for (port, listed) in [(5432, "legacy5432"), (5417, "legacy5417")] {
        let stack = Stack::default().postgres(port, "").vault(&c.mount, "token = \"root\"");
        let ws = Workspace::new(tf, &format!("qserver{port}"), &stack.main_tf(""));
        std::fs::write(
            ws.dir.join("find.tfquery.hcl"),
            list_block("dbaas_rotated_role", "roles", &format!("database = \"postgresql/{name}\""), ""),
        )
        .unwrap();
        ws.init();
        let found = ws.ok(&["query", "-no-color"]);
        let roles: Vec<&str> = found.lines().filter(|l| l.starts_with("list.dbaas_rotated_role.roles ")).collect();
        assert_eq!(roles.len(), 1, "the role on :{port} alone:\n{found}");
        assert!(roles[0].contains(listed), "the role on :{port} alone:\n{found}");
    }
}
