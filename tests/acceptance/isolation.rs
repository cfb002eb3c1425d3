//! The escape suite: a hostile or careless stack tries to reach, adopt or damage another
//! stack's data. Every story asserts the attack is refused, then looks at the real
//! services: no ACL user widened, no foreign key readable, no foreign lease revoked,
//! nothing created.

use std::process::Command;

use dbaas::platform::redis_acl::{
    CHANNEL_SCOPED_COMMANDS, KEY_SCOPED_CATEGORIES, KEY_SCOPED_COMMANDS, KEYLESS_COMMANDS, command_rules,
};
use serde_json::Value as Json;

use crate::redis_namespace::{RedisCleanup, kv_password, namespace_name, redis, redis_session};
use crate::util::*;

const PROVIDER: &str = r#"
terraform {
  required_providers {
    dbaas = { source = "infra/dbaas" }
  }
}
provider "dbaas" {
  redis {
    addresses = ["127.0.0.1:6379"]
  }
  vault {
    address        = "http://127.0.0.1:8200"
    token          = "root"
    database_mount = "MOUNT"
    kv_mount       = "secret"
  }
}
"#;

fn stack(c: &Cleanup, resources: &str) -> String {
    format!("{}\n{resources}", PROVIDER.replace("MOUNT", &c.mount))
}

fn namespace(label: &str, name: &str, settings: &str) -> String {
    format!("resource \"dbaas_redis_namespace\" \"{label}\" {{\n  name = \"{name}\"\n  {settings}\n}}\n")
}

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn redis_users() -> Vec<String> {
    redis(&["ACL", "USERS"]).lines().map(str::to_owned).collect()
}

#[test]
fn extra_rules_that_reach_outside_the_prefix_are_refused_at_validate() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isorules");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    for rule in [
        "+acl",
        "+@admin",
        "+@dangerous",
        "+flushall",
        "+config|set",
        "+keys",
        "+scan",
        "+@keyspace",
        "+@all",
        "allkeys",
        "~*",
        "+client|kill",
        "+function|flush",
        "+pubsub|channels",
        ">pw",
        "nopass",
    ] {
        let ws =
            Workspace::new(tf, "isorules", &stack(&c, &namespace("ns", &name, &format!("extra_rules = [\"{rule}\"]"))));
        ws.init();
        let out = flat(&ws.fails(&["validate", "-no-color"]));
        assert!(
            out.contains("Rule not allowed") && out.contains(&format!("\"{rule}\" is not allowed")),
            "{rule}: {out}"
        );
        // Terraform quotes the attribute's line when the diagnostic carries its path.
        assert!(
            out.contains(&format!("extra_rules = [\"{rule}\"]")),
            "the diagnostic does not point at the rule: {out}"
        );
    }
    assert!(!redis_users().iter().any(|u| u.contains(&name)), "a refused namespace created a user");
}

/// `ACL DRYRUN` with dummy arguments, Redis's answer: `OK` for a command that names no key
/// means the user may run it; "no permissions to run" means it may not.
fn dry_run(user: &str, command: &str, arity: i64) -> String {
    let mut args: Vec<String> = command.split('|').map(str::to_owned).collect();
    let wanted = usize::try_from(arity.unsigned_abs()).unwrap_or(1).max(args.len());
    while args.len() < wanted {
        args.push("not-this-namespace:x".into());
    }
    let mut cmd = vec!["ACL".to_owned(), "DRYRUN".to_owned(), user.to_owned()];
    cmd.extend(args);
    let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
    redis(&refs)
}

/// Every command of the server, subcommands as `container|sub`, with arity, key specs,
/// flags and categories.
fn command_table() -> Vec<(String, i64, bool, Vec<String>)> {
    let out = Command::new("redis-cli").args(["--json", "COMMAND"]).output().expect("redis-cli runs");
    let all: Json = serde_json::from_slice(&out.stdout).expect("COMMAND as JSON");
    let mut table = Vec::new();
    fn walk(entries: &Json, table: &mut Vec<(String, i64, bool, Vec<String>)>) {
        for e in entries.as_array().into_iter().flatten() {
            let name = e[0].as_str().unwrap_or_default().to_owned();
            let flags: Vec<&str> = e[2].as_array().into_iter().flatten().filter_map(Json::as_str).collect();
            let keyed = e[8].as_array().is_some_and(|k| !k.is_empty()) || flags.contains(&"movablekeys");
            let categories =
                e[6].as_array().into_iter().flatten().filter_map(Json::as_str).map(str::to_owned).collect();
            let subcommands = e.get(9).filter(|s| s.as_array().is_some_and(|a| !a.is_empty()));
            if let Some(subs) = subcommands {
                walk(subs, table);
            } else {
                table.push((name, e[1].as_i64().unwrap_or(1), keyed, categories));
            }
        }
    }
    walk(&all, &mut table);
    assert!(table.len() > 200, "COMMAND answered too little: {}", table.len());
    table
}

#[test]
fn namespace_users_run_only_key_scoped_commands() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isocmds");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let (rw, ro) = (format!("{name}-rw"), format!("{name}-ro"));
    let ws = Workspace::new(
        tf,
        "isocmds",
        &stack(&c, &(namespace("rw", &rw, "") + &namespace("ro", &ro, "permissions = \"readonly\""))),
    );
    ws.init();
    ws.apply();
    let table = command_table();

    // The allow-lists hold what they say, on this server.
    let dangerous = |cats: &[String]| cats.iter().any(|c| c == "@admin" || c == "@dangerous");
    for listed in KEY_SCOPED_COMMANDS {
        let (_, _, keyed, cats) =
            table.iter().find(|(n, ..)| n == listed).unwrap_or_else(|| panic!("{listed} unknown"));
        assert!(*keyed && !dangerous(cats), "{listed} is listed as key-scoped but is not");
    }
    for category in KEY_SCOPED_CATEGORIES {
        for (command, _, keyed, cats) in table.iter().filter(|(_, _, _, cats)| cats.contains(&format!("@{category}"))) {
            let help = command.ends_with("|help");
            assert!((*keyed && !dangerous(cats)) || help, "+@{category} would grant {command}, which names no key");
        }
    }

    // Ask Redis what each user may run: of the commands that name no key, only the
    // keyless allow-list, channel commands (checked against `&` patterns) and help texts;
    // of those that do, nothing @admin or @dangerous (SORT's BY/GET, RESTORE, MIGRATE).
    for user in [format!("dbaas-{rw}"), format!("dbaas-{ro}")] {
        for (command, arity, keyed, cats) in &table {
            let answer = dry_run(&user, command, *arity);
            if !keyed && answer == "OK" {
                let allowed = KEYLESS_COMMANDS.contains(&command.as_str())
                    || CHANNEL_SCOPED_COMMANDS.contains(&command.as_str())
                    || command.ends_with("|help");
                assert!(allowed, "{user} may run {command:?}, which names no key");
            }
            if *keyed && dangerous(cats) {
                assert!(answer.contains("no permissions to run"), "{user} may run {command:?}: {answer}");
            }
        }
    }

    // And in a real session: the commands that see the whole server are refused.
    let password = kv_password(&rw);
    redis(&["SET", "tfacc-isolation-foreign-key", "secret"]);
    let answers = redis_session(&[
        format!("AUTH dbaas-{rw} {password}"),
        "KEYS *".into(),
        "SCAN 0".into(),
        "RANDOMKEY".into(),
        "CLIENT LIST".into(),
        "FUNCTION FLUSH".into(),
        "PUBSUB CHANNELS".into(),
        "ACL SETUSER x on".into(),
        "GET tfacc-isolation-foreign-key".into(),
        // Broadcast tracking would name every key written under the prefix, anyone's.
        "CLIENT TRACKING ON BCAST PREFIX tfacc-isolation-".into(),
        "CLIENT NO-EVICT on".into(),
        "OBJECT ENCODING tfacc-isolation-foreign-key".into(),
        "MIGRATE 127.0.0.1 1 tfacc-isolation-foreign-key 0 100".into(),
        format!("SORT {rw}:list BY tfacc-isolation-* GET tfacc-isolation-*"),
        "EVAL \"return redis.call('GET', KEYS[1])\" 1 tfacc-isolation-foreign-key".into(),
        "EVAL \"return redis.call('GET', 'tfacc-isolation-foreign-key')\" 0".into(),
        format!("SET {rw}:mine 1"),
    ]);
    redis(&["UNLINK", "tfacc-isolation-foreign-key"]);
    assert_eq!(answers[0], "OK", "{answers:?}");
    let last = answers.len() - 1;
    for (i, answer) in answers[1..last].iter().enumerate() {
        let refused = answer.contains("NOPERM") || answer.contains("can't access at least one of the keys");
        assert!(refused, "command {} was not refused: {answers:?}", i + 1);
        assert!(!answer.contains("secret"), "command {} read the foreign key: {answers:?}", i + 1);
    }
    assert_eq!(answers[last], "OK", "{answers:?}");
    // DEBUG is refused to every remote client by the server's own setting; the ACL
    // refuses it too.
    let debug = dry_run(&format!("dbaas-{rw}"), "debug", 3);
    assert!(debug.contains("no permissions to run"), "DEBUG: {debug}");
    // Readonly users never had CLIENT KILL (0.1 gave them +@connection).
    assert!(!command_rules("readonly").iter().any(|r| r == "+@connection"));
    ws.destroy();
}

#[test]
fn overlapping_prefixes_in_one_apply_create_only_one() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isooverlap");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let (a, b) = (format!("{name}-a"), format!("{name}-b"));
    let resources = namespace("a", &a, &format!("key_prefix = \"{a}:\""))
        + &namespace("b", &b, &format!("key_prefix = \"{a}:sub:\""));
    let ws = Workspace::new(tf, "isooverlap", &stack(&c, &resources));
    ws.init();
    let out = flat(&ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Key prefix overlaps another namespace"), "{out}");
    let users = redis_users();
    let made = [&a, &b].into_iter().filter(|n| users.contains(&format!("dbaas-{n}"))).count();
    assert_eq!(made, 1, "exactly one of two overlapping namespaces may exist: {users:?}");
    ws.destroy();
    assert!(!redis_users().iter().any(|u| u.contains(&name)), "destroy left a user");
}

#[test]
fn two_stacks_applying_overlapping_namespaces_at_once_exactly_one_succeeds() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isorace");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let prefixes = [format!("{name}:"), format!("{name}:sub:")];
    let stacks: Vec<Workspace> = (0..2)
        .map(|i| {
            let ns = namespace("ns", &format!("{name}-{i}"), &format!("key_prefix = \"{}\"", prefixes[i]));
            let ws = Workspace::new(tf, "isorace", &stack(&c, &ns));
            ws.init();
            ws
        })
        .collect();
    let outcomes: Vec<bool> = std::thread::scope(|s| {
        let runs: Vec<_> = stacks
            .iter()
            .map(|ws| {
                s.spawn(move || ws.run(&["apply", "-auto-approve", "-no-color", "-input=false"]).status.success())
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "exactly one stack may win: {outcomes:?}");
    let users = redis_users();
    let made = (0..2).filter(|i| users.contains(&format!("dbaas-{name}-{i}"))).count();
    assert_eq!(made, 1, "{users:?}");
    for ws in &stacks {
        ws.destroy();
    }
}

#[test]
fn a_second_stack_cannot_adopt_a_namespace_by_name() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isoadopt");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let first = Workspace::new(tf, "isoadopt", &stack(&c, &namespace("ns", &name, "")));
    first.init();
    first.apply();
    let password = kv_password(&name);
    let user_before = redis(&["ACL", "GETUSER", &format!("dbaas-{name}")]);

    let second = Workspace::new(tf, "isoadopt", &stack(&c, &namespace("ns", &name, "")));
    second.init();
    let out = flat(&second.ok(&["plan", "-no-color", "-input=false"]));
    assert!(out.contains("Warning: Namespace already exists") && out.contains("terraform import"), "{out}");
    let out = flat(&second.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Namespace already exists"), "{out}");

    // Even while the first stack's user is gone (a Redis restart), the name stays taken:
    // its password secret in Vault KV is marked as that namespace's.
    redis(&["ACL", "DELUSER", &format!("dbaas-{name}")]);
    let out = flat(&second.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Namespace already exists"), "{out}");
    assert_eq!(kv_password(&name), password, "the second stack changed the first's password");
    second.destroy();

    // The first stack repairs its user with its own password, untouched.
    first.apply();
    first.assert_plan_empty();
    assert_eq!(redis(&["ACL", "GETUSER", &format!("dbaas-{name}")]), user_before);
    assert_eq!(redis_session(&[format!("AUTH dbaas-{name} {password}")])[0], "OK");
    first.destroy();
}

#[test]
fn destroying_namespace_x_leaves_the_leases_of_x_b() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isolease");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let x_b = format!("{name}-b");
    let role = |label: &str, ns_label: &str, role: &str| {
        format!(
            "resource \"dbaas_rotated_role\" \"{label}\" {{\n  database = dbaas_redis_namespace.{ns_label}.id\n  name = \"{role}\"\n  privileges = \"readonly\"\n}}\n"
        )
    };
    let stack_x = Workspace::new(tf, "isolease", &stack(&c, &(namespace("x", &name, "") + &role("r", "x", "app"))));
    let stack_xb = Workspace::new(tf, "isolease", &stack(&c, &(namespace("xb", &x_b, "") + &role("r", "xb", "app"))));
    stack_x.init();
    stack_xb.init();
    stack_x.apply();
    stack_xb.apply();

    // A role on x named so that its Vault role would be x-b's is refused, untouched.
    let xb_role = format!("{}/roles/redis-{x_b}-app", c.mount);
    let before = vault("GET", &xb_role, None)["data"].clone();
    stack_x.write_main(&stack(&c, &(namespace("x", &name, "") + &role("r", "x", "app") + &role("b", "x", "b-app"))));
    let out = flat(&stack_x.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Role already exists"), "{out}");
    assert_eq!(vault("GET", &xb_role, None)["data"], before, "x's stack changed x-b's role");
    stack_x.write_main(&stack(&c, &(namespace("x", &name, "") + &role("r", "x", "app"))));

    // x-b's issued user outlives the destruction of x.
    let creds = vault("GET", &format!("{}/creds/redis-{x_b}-app", c.mount), None);
    let (user, password) = (creds["data"]["username"].as_str().unwrap(), creds["data"]["password"].as_str().unwrap());
    let lease = creds["lease_id"].as_str().unwrap().to_owned();
    stack_x.destroy();
    let lookup = vault("PUT", "sys/leases/lookup", Some(&serde_json::json!({ "lease_id": lease })));
    assert_eq!(lookup["data"]["id"], lease.as_str(), "x-b's lease was revoked with x: {lookup}");
    assert_eq!(redis_session(&[format!("AUTH {user} {password}")])[0], "OK", "x-b's issued user is gone");
    stack_xb.destroy();
}

#[test]
fn tls_typos_in_the_environment_are_refused() {
    require_services();
    let tf = &terraforms()[0];
    let main = r#"
terraform {
  required_providers {
    dbaas = { source = "infra/dbaas" }
  }
}
provider "dbaas" {}
data "dbaas_endpoints" "this" {}
output "endpoints" { value = data.dbaas_endpoints.this }
"#;
    for (var, value) in
        [("DBAAS_POSTGRES_SSLMODE", "verify_full"), ("PGSSLMODE", "verify_full"), ("DBAAS_MYSQL_TLS", "require")]
    {
        let ws = Workspace::new(tf, "isotls", main)
            .env("DBAAS_POSTGRES_HOST", "127.0.0.1")
            .env("DBAAS_MYSQL_HOST", "127.0.0.1")
            .env(var, value);
        ws.init();
        let out = flat(&ws.fails(&["plan", "-no-color", "-input=false"]));
        assert!(out.contains(&format!("Invalid {var}")) && out.contains(value), "{var}={value}: {out}");
        assert!(!out.contains("Changes to Outputs"), "the bad value was published: {out}");
    }
}

#[test]
fn pg_names_are_refused_before_anything_changes() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isopg");
    let head = r#"
terraform {
  required_providers {
    dbaas = { source = "infra/dbaas" }
  }
}
provider "dbaas" {
  postgres {
    host    = "127.0.0.1"
    sslmode = "disable"
  }
}
"#;
    let name = format!("pg_{}", c.prefix);
    // Known at validate.
    let ws = Workspace::new(
        tf,
        "isopg",
        &format!(
            "{head}resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n}}\n"
        ),
    );
    ws.init();
    let out = flat(&ws.fails(&["validate", "-no-color"]));
    assert!(out.contains("Invalid database name") && out.contains("pg_"), "{out}");
    // Known only at apply: refused there, before anything is created.
    ws.write_main(&format!(
        "{head}resource \"terraform_data\" \"n\" {{\n  input = \"{name}\"\n}}\nresource \"dbaas_shared_database\" \"db\" {{\n  name = terraform_data.n.output\n  engine = \"postgresql\"\n}}\n"
    ));
    let out = flat(&ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Invalid database name") && out.contains("pg_"), "{out}");
    let like = name.replace('_', "\\_");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{like}%'")), "0");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{like}%'")), "0");
}

#[test]
fn state_holds_no_password_hash_and_0_1_state_upgrades_in_place() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isohash");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let ws = Workspace::new(tf, "isohash", &stack(&c, &namespace("ns", &name, "")));
    ws.init();
    ws.apply();
    let state_path = ws.dir.join("terraform.tfstate");
    let mut state: Json = serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let password = kv_password(&name);
    let text = state.to_string();
    assert!(!text.contains("password_sha256") && !text.contains(&password), "state keeps the password or its hash");

    // State as provider 0.1 wrote it: schema 0, with the hash; the plan after upgrading
    // changes it in place (to today's rules), never replaces it, and one apply converges.
    let instance = &mut state["resources"][0]["instances"][0];
    instance["schema_version"] = Json::from(0);
    let attributes = instance["attributes"].as_object_mut().unwrap();
    attributes.remove("password_wo_version");
    let hash = sha256_hex(&password);
    attributes.insert("password_sha256".into(), Json::from(hash));
    std::fs::write(&state_path, state.to_string()).unwrap();
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.contains("will be updated in-place") && !plan.contains("must be replaced"), "{plan}");
    ws.apply();
    ws.assert_plan_empty();
    assert!(!std::fs::read_to_string(&state_path).unwrap().contains("password_sha256"));
    ws.destroy();
}

/// SHA-256 hex through `sha256sum`, as 0.1 stored it.
fn sha256_hex(text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// The HCL policy in docs/guides/security.md, for a database mount named `mount`.
fn documented_policy(mount: &str) -> String {
    let guide =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guides/security.md"))
            .expect("docs/guides/security.md");
    let start = guide.find("```hcl").expect("the guide has an HCL policy") + "```hcl".len();
    let end = start + guide[start..].find("```").expect("the policy block ends");
    guide[start..end]
        .replace("database/", &format!("{mount}/"))
        .replace("\"sys/mounts/database\"", &format!("\"sys/mounts/{mount}\""))
}

#[test]
fn a_full_story_runs_with_the_documented_smallest_vault_policy() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isopolicy");
    let name = c.prefix.clone();
    // The same name on MySQL, cut to MySQL's limit.
    let my: String = name.chars().take(26).collect::<String>().trim_end_matches('_').to_owned();
    let ns = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(ns.clone());
    // The platform mounts the engine; the token only uses it.
    vault("POST", &format!("sys/mounts/{}", c.mount), Some(&serde_json::json!({ "type": "database" })));
    vault(
        "PUT",
        &format!("sys/policies/acl/{}", c.mount),
        Some(&serde_json::json!({ "policy": documented_policy(&c.mount) })),
    );
    let token = vault("POST", "auth/token/create", Some(&serde_json::json!({ "policies": [c.mount], "ttl": "30m" })));
    let token = token["auth"]["client_token"].as_str().expect("a token").to_owned();
    let main = format!(
        r#"
terraform {{
  required_providers {{
    dbaas = {{ source = "infra/dbaas" }}
  }}
}}
provider "dbaas" {{
  postgres {{
    host             = "127.0.0.1"
    pooled_port      = 6432
    sslmode          = "disable"
    pooler_auth_user = "pgbouncer_auth"
  }}
  mysql {{
    host = "127.0.0.1"
    tls  = "disabled"
  }}
  redis {{
    addresses = ["127.0.0.1:6379"]
  }}
  vault {{
    address        = "http://127.0.0.1:8200"
    token          = "{token}"
    database_mount = "{mount}"
    kv_mount       = "secret"
  }}
}}
resource "dbaas_shared_database" "my" {{
  name            = "{my}"
  engine          = "mysql"
  deletion_policy = "drop"
}}
resource "dbaas_rotated_role" "my" {{
  database = dbaas_shared_database.my.id
  name     = "app"
}}
resource "dbaas_rotated_role" "pool" {{
  database = dbaas_shared_database.db.id
  name     = "pool"
  mode     = "static"
}}
resource "dbaas_shared_database" "db" {{
  name            = "{name}"
  engine          = "postgresql"
  deletion_policy = "drop"
  # PgBouncer keeps idle server connections after the login above (issue 10 #8).
  force_drop      = true
}}
resource "dbaas_rotated_role" "app" {{
  database = dbaas_shared_database.db.id
  name     = "app"
}}
resource "dbaas_redis_namespace" "cache" {{
  name = "{ns}"
}}
resource "dbaas_rotated_role" "cache" {{
  database   = dbaas_redis_namespace.cache.id
  name       = "app"
  privileges = "readonly"
}}
# A migration's credentials, for the run only.
ephemeral "dbaas_credentials" "migrate" {{
  role = dbaas_rotated_role.app.id
}}
resource "terraform_data" "migration" {{
  provisioner "local-exec" {{
    command     = "test -n \"$PGUSER\""
    environment = {{ PGUSER = ephemeral.dbaas_credentials.migrate.username }}
  }}
}}
action "dbaas_rotate_credentials" "pool" {{
  config {{
    role = dbaas_rotated_role.pool.id
  }}
}}
action "dbaas_rotate_credentials" "app" {{
  config {{
    role = dbaas_rotated_role.app.id
  }}
}}
action "dbaas_rotate_root" "db" {{
  config {{
    database = dbaas_shared_database.db.id
  }}
}}
action "dbaas_rotate_root" "cache" {{
  config {{
    database = dbaas_redis_namespace.cache.id
  }}
}}
"#,
        mount = c.mount
    );
    let ws = Workspace::new(tf, "isopolicy", &main);
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    // Actions, and `terraform query` over every type, with the same token.
    for action in [
        "dbaas_rotate_credentials.pool",
        "dbaas_rotate_credentials.app",
        "dbaas_rotate_root.db",
        "dbaas_rotate_root.cache",
    ] {
        ws.ok(&["apply", "-auto-approve", "-no-color", &format!("-invoke=action.{action}")]);
    }
    std::fs::write(
        ws.dir.join("find.tfquery.hcl"),
        format!(
            "list \"dbaas_shared_database\" \"dbs\" {{\n  provider = dbaas\n  config {{\n    engine = \"postgresql\"\n    name_prefix = \"{name}\"\n  }}\n}}\n\
             list \"dbaas_redis_namespace\" \"namespaces\" {{\n  provider = dbaas\n  config {{\n    name_prefix = \"{ns}\"\n  }}\n}}\n\
             list \"dbaas_rotated_role\" \"roles\" {{\n  provider = dbaas\n  config {{\n    database = \"postgresql/{name}\"\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let found = ws.ok(&["query", "-no-color"]);
    for listed in [format!("postgresql/{name}"), format!("redis/{ns}"), format!("postgresql/{name}/pool")] {
        assert!(found.contains(&listed), "query did not list {listed}:\n{found}");
    }
    std::fs::remove_file(ws.dir.join("find.tfquery.hcl")).unwrap();
    // What the policy let it make works: credentials log in through PgBouncer.
    let creds = vault("GET", &format!("{}/creds/postgres-{name}-app", c.mount), None);
    let (user, password) = (creds["data"]["username"].as_str().unwrap(), creds["data"]["password"].as_str().unwrap());
    assert_eq!(psql_pooled(user, password, &name, "SELECT 1").unwrap(), "1");
    // With credentials issued on MySQL and Redis, a plan looks up their leases (stale
    // users): the policy must allow that too.
    for path in [format!("creds/mysql-{my}-app"), format!("creds/redis-{ns}-app")] {
        let issued = vault("GET", &format!("{}/{path}", c.mount), None);
        assert!(issued["data"]["username"].is_string(), "{path}: {issued}");
    }
    ws.assert_plan_empty();
    ws.destroy();
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
    assert!(!redis_users().iter().any(|u| u.contains(&ns)), "destroy left a Redis user");
    assert!(vault("GET", &format!("secret/data/redis/{ns}"), None)["data"].is_null(), "destroy left the KV secret");
    let listed = vault("LIST", &format!("{}/config", c.mount), None);
    assert!(listed["data"]["keys"].as_array().is_none_or(|k| k.is_empty()), "destroy left a connection: {listed}");
    vault("DELETE", &format!("sys/policies/acl/{}", c.mount), None);
}

/// 0.1 documented `read` on `sys/mounts`, the list of every engine, to find the database
/// mount. The provider now asks for its mount's own entry, and tokens holding the old
/// policy keep working: denied that entry, it reads the list as before.
#[test]
fn a_token_holding_the_older_mounts_policy_still_creates() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isooldpol");
    let name = c.prefix.clone();
    vault("POST", &format!("sys/mounts/{}", c.mount), Some(&serde_json::json!({ "type": "database" })));
    let own_entry = format!("path \"sys/mounts/{}\"", c.mount);
    let policy = documented_policy(&c.mount);
    assert!(policy.contains(&own_entry), "the documented policy reads the mount's own entry: {policy}");
    let older = policy.replace(&own_entry, "path \"sys/mounts\"");
    vault("PUT", &format!("sys/policies/acl/{}", c.mount), Some(&serde_json::json!({ "policy": older })));
    let token = vault("POST", "auth/token/create", Some(&serde_json::json!({ "policies": [c.mount], "ttl": "30m" })));
    let token = token["auth"]["client_token"].as_str().expect("a token").to_owned();
    let denied = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", &format!("X-Vault-Token: {token}")])
        .arg(format!("http://127.0.0.1:8200/v1/sys/mounts/{}", c.mount))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&denied.stdout), "403", "the older policy must not reach the mount's entry");

    let main = database_stack(&c, &name, "postgresql")
        .replace("token          = \"root\"", &format!("token          = \"{token}\""));
    assert!(main.contains(&token), "the stack uses the token");
    let ws = Workspace::new(tf, "isooldpol", &main);
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let connection = vault("GET", &format!("{}/config/postgres-{name}", c.mount), None);
    assert_eq!(connection["data"]["plugin_name"], "postgresql-database-plugin", "{connection}");
    ws.destroy();
    vault("DELETE", &format!("sys/policies/acl/{}", c.mount), None);
}

#[test]
fn attribute_checks_run_at_apply_for_values_known_only_then() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isolate");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    // `--` is refused in namespace names; the value comes from another resource, so
    // validate and plan cannot see it.
    let bad = format!("{name}--x");
    let resources = format!(
        "resource \"terraform_data\" \"n\" {{\n  input = \"{bad}\"\n}}\nresource \"dbaas_redis_namespace\" \"ns\" {{\n  name = terraform_data.n.output\n}}\n"
    );
    let ws = Workspace::new(tf, "isolate", &stack(&c, &resources));
    ws.init();
    let out = flat(&ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("with no `--`") && !out.contains("null object"), "{out}");
    assert!(!redis_users().iter().any(|u| u.contains(&name)), "an invalid namespace created a user");
    let state = ws.ok(&["state", "list"]);
    assert!(!state.contains("dbaas_redis_namespace"), "{state}");
    // Now that the value is known, the plan refuses it too; fixed, the stack destroys.
    let out = flat(&ws.fails(&["plan", "-no-color", "-input=false"]));
    assert!(out.contains("with no `--`"), "{out}");
    ws.write_main(&stack(&c, &format!("resource \"terraform_data\" \"n\" {{\n  input = \"{bad}\"\n}}\n")));
    ws.destroy();
}

fn database_stack(c: &Cleanup, name: &str, engine: &str) -> String {
    fixture(
        "shared_database.tf",
        &[("mount", &c.mount), ("name", name), ("engine", engine), ("settings", "deletion_policy = \"drop\"")],
    )
}

#[test]
fn a_database_never_takes_over_roles_logins_or_connections_it_did_not_make() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isomark");
    let name = c.prefix.clone();

    // A login someone made by hand, named like the owner role: adopting it would make it
    // the owner of the new database.
    psql("postgres", &format!("CREATE ROLE \"{name}_owner\" LOGIN PASSWORD 'hand-made'"));
    let ws = Workspace::new(tf, "isomark", &database_stack(&c, &name, "postgresql"));
    ws.init();
    let out = flat(&ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Role already exists") && out.contains(&format!("{name}_owner")), "{out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
    assert_eq!(
        psql("postgres", &format!("SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname LIKE '{name}%'")),
        format!("{name}_owner"),
        "nothing else was created"
    );
    assert_eq!(
        psql(
            "postgres",
            &format!(
                "SELECT rolcanlogin, shobj_description(oid, 'pg_authid') IS NULL FROM pg_roles WHERE rolname = '{name}_owner'"
            )
        ),
        "t|t",
        "the hand-made role is untouched"
    );

    // Once it is gone, the database and every role carry the owner mark.
    psql("postgres", &format!("DROP ROLE \"{name}_owner\""));
    ws.apply();
    let mark = format!("managed by terraform-provider-dbaas: postgresql/{name}");
    let comment = psql(
        "postgres",
        &format!("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{name}'"),
    );
    assert!(
        comment.starts_with(&format!("{mark}; claim ")),
        "the database carries the mark and this state's claim: {comment}"
    );
    assert_eq!(
        psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_roles WHERE rolname LIKE '{name}\\_%' AND shobj_description(oid, 'pg_authid') = '{mark}'"
            )
        ),
        "4",
        "owner, readwrite, readonly and the management login are marked"
    );
    ws.destroy();

    // MySQL accounts carry no mark: an account that exists is someone else's.
    let my_name = format!("{name}m");
    mysql(&format!("CREATE USER '{my_name}_vault'@'%' IDENTIFIED BY 'hand-made'"));
    let ws = Workspace::new(tf, "isomarkmy", &database_stack(&c, &my_name, "mysql"));
    ws.init();
    let out = flat(&ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Login already exists") && out.contains(&format!("{my_name}_vault")), "{out}");
    assert_eq!(
        mysql(&format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{my_name}'")),
        "0"
    );
    assert_eq!(
        mysql_as(&format!("{my_name}_vault"), "hand-made", "SELECT 1").as_deref(),
        Ok("1"),
        "its password is untouched"
    );

    // A Vault connection of the name, made by someone else, is not overwritten.
    let pg_name = format!("{name}v");
    let connection = format!("postgres-{pg_name}");
    vault("POST", &format!("sys/mounts/{}", c.mount), Some(&serde_json::json!({"type": "database"})));
    vault(
        "POST",
        &format!("{}/config/{connection}", c.mount),
        Some(&serde_json::json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable",
            "username": "postgres", "password": "x", "verify_connection": false, "allowed_roles": ["*"],
        })),
    );
    let ws = Workspace::new(tf, "isomarkvault", &database_stack(&c, &pg_name, "postgresql"));
    ws.init();
    let plan = flat(&ws.ok(&["plan", "-no-color", "-input=false"]));
    assert!(plan.contains("Vault connection already exists") && plan.contains("Apply will refuse it"), "{plan}");
    let out = flat(&ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Vault connection already exists"), "{out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{pg_name}'")), "0");
    let kept = vault("GET", &format!("{}/config/{connection}", c.mount), None);
    assert_eq!(kept["data"]["connection_details"]["username"], "postgres", "the connection is untouched: {kept}");
}

/// Vault answers a revoked or expired token with the same "permission denied" as a missing
/// policy; the provider tells them apart (a valid token may always look itself up), so the
/// error names the token, not the policies.
#[test]
fn a_revoked_token_is_named_as_the_cause() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("isotoken");
    let name = c.prefix.clone();
    let token = vault("POST", "auth/token/create", Some(&serde_json::json!({ "policies": ["default"], "ttl": "10m" })));
    let token = token["auth"]["client_token"].as_str().expect("a token").to_owned();
    vault("POST", "auth/token/revoke", Some(&serde_json::json!({ "token": token })));
    let main = Stack::default().postgres(5432, "").vault(&c.mount, &format!("token = \"{token}\"")).main_tf(&format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n"
    ));
    let ws = Workspace::new(tf, "isotoken", &main);
    ws.init();
    let out = flat(&ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]));
    assert!(out.contains("Vault token expired or revoked") && out.contains("vault.token"), "{out}");
    assert!(!out.contains("check the token's policies"), "{out}");
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
}

/// A hand-made ACL user one state adopted (`acl_user`) belongs to that state, whatever
/// namespace name another state imports it under: the other's plan and apply are refused
/// as another state's claim, and its password never reaches the user.
#[test]
fn an_adopted_redis_user_is_refused_to_every_other_state() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("readopt");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let legacy = format!("{name}-legacy");
    redis(&["ACL", "SETUSER", &legacy, "on", ">legacy-password", &format!("~{legacy}:*"), "+@all", "-@dangerous"]);
    redis(&["SET", &format!("{legacy}:orders"), "theirs"]);
    let adopting = |namespace: &str| adopting_by_import(namespace, &legacy);
    let owner = Workspace::new(tf, "readoptb", &stack(&c, &adopting(&format!("{name}-b"))));
    owner.init();
    owner.apply();
    owner.assert_plan_empty();
    let held = kv_password(&format!("{name}-b"));

    let thief = Workspace::new(tf, "readopta", &stack(&c, &adopting(&format!("{name}-evil"))));
    thief.init();
    let refused = flat(&thief.fails(&["plan", "-input=false", "-no-color"]));
    assert!(refused.contains("Claimed by another Terraform state"), "{refused}");
    let refused = flat(&thief.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]));
    assert!(refused.contains("Claimed by another Terraform state"), "{refused}");
    let evil_secret = vault("GET", &format!("secret/data/redis/{name}-evil"), None);
    assert!(evil_secret["data"].is_null(), "the other state wrote a password for the user: {evil_secret}");
    let logs_in = |password: &str| {
        redis_session(&[format!("AUTH {legacy} {password}"), format!("GET {legacy}:orders")]) == ["OK", "theirs"]
    };
    assert!(logs_in("legacy-password") && logs_in(&held), "the owning state's passwords stopped working");
    owner.assert_plan_empty();
    owner.destroy();
}

/// A namespace that adopts `user` by import, keeping its prefix.
fn adopting_by_import(namespace: &str, user: &str) -> String {
    format!(
        "resource \"dbaas_redis_namespace\" \"cache\" {{\n  name = \"{namespace}\"\n  acl_user = \"{user}\"\n  key_prefix = \"{user}:\"\n}}\n\
         import {{\n  to = dbaas_redis_namespace.cache\n  id = \"{namespace}/{user}\"\n}}\n"
    )
}
