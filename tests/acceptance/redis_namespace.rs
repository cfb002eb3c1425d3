//! `dbaas_redis_namespace`: an app gets a key prefix and a user that cannot see anyone
//! else's keys. Proven with `AUTH` on the real Redis (`redis-cli --user` silently falls
//! back to the default user, so it proves nothing).

use std::process::Command;

use crate::util::*;

/// Sends `commands` on one connection and returns Redis's answers, one per line.
pub(crate) fn redis_session(commands: &[String]) -> Vec<String> {
    let mut input = commands.join("\n");
    input.push('\n');
    let out = Command::new("sh")
        .arg("-c")
        .arg("redis-cli -h 127.0.0.1 -p 6379")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes())?;
            child.wait_with_output()
        })
        .expect("redis-cli runs");
    // redis-cli follows an error reply with a blank line.
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

pub(crate) fn redis(args: &[&str]) -> String {
    let out =
        Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", "6379"]).args(args).output().expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn config(c: &Cleanup, name: &str, settings: &str) -> String {
    fixture("redis_namespace.tf", &[("mount", &c.mount), ("name", name), ("settings", settings)])
}

/// Namespaces are named with hyphens (Redis user names), the cleanup prefix with underscores.
pub(crate) fn namespace_name(c: &Cleanup) -> String {
    c.prefix.replace('_', "-")
}

/// Removes what the Redis stories made: users, keys and KV secrets of this run.
pub(crate) struct RedisCleanup(pub(crate) String);

impl Drop for RedisCleanup {
    fn drop(&mut self) {
        for line in redis(&["ACL", "USERS"]).lines() {
            if line.contains(&self.0) {
                redis(&["ACL", "DELUSER", line]);
            }
        }
        for key in redis(&["--scan", "--pattern", &format!("{}*", self.0)]).lines() {
            redis(&["UNLINK", key]);
        }
        redis(&["UNLINK", &format!("__dbaas_provider:claim:{}", self.0)]);
        let _ = Command::new("curl")
            .args([
                "-sS",
                "-X",
                "DELETE",
                "-H",
                "X-Vault-Token: root",
                &format!("http://127.0.0.1:8200/v1/secret/metadata/redis/{}", self.0),
            ])
            .output();
    }
}

pub(crate) fn kv_password(name: &str) -> String {
    let secret = vault("GET", &format!("secret/data/redis/{name}"), None);
    secret["data"]["data"]["password"]
        .as_str()
        .unwrap_or_else(|| panic!("no password in Vault KV: {secret}"))
        .to_owned()
}

#[test]
fn readwrite_namespace_drift_import_purge() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("redisns");
        let name = namespace_name(&c);
        let _redis_cleanup = RedisCleanup(name.clone());
        let user = format!("dbaas-{name}");
        let ws = Workspace::new(tf, "redisns", &config(&c, &name, "purge_keys_on_destroy = true"));
        ws.init();
        ws.apply();
        ws.assert_plan_empty();
        let out = ws.outputs();
        assert_eq!(out["username"]["value"], user.as_str());
        assert_eq!(out["key_prefix"]["value"], format!("{name}:"));
        assert_eq!(out["password_path"]["value"], format!("secret/data/redis/{name}"));

        // The namespace's Vault connection exists, for dbaas_rotated_role.
        let connection = vault("GET", &format!("{}/config/redis-{name}", c.mount), None);
        assert_eq!(connection["data"]["plugin_name"], "redis-database-plugin", "{connection}");

        // The password is in Vault KV and nowhere in state.
        let password = kv_password(&name);
        assert!(!ws.show().to_string().contains(&password), "the password is in state");

        // AUTH works; inside the prefix writes work, outside is NOPERM.
        let answers = redis_session(&[
            format!("AUTH {user} {password}"),
            format!("SET {name}:k v"),
            format!("SET not-{name}:k v"),
            format!("GET {name}:k"),
        ]);
        assert_eq!(answers[0], "OK", "{answers:?}");
        assert_eq!(answers[1], "OK", "{answers:?}");
        assert!(answers[2].contains("NOPERM"), "{answers:?}");
        assert_eq!(answers[3], "v");
        assert!(!redis_session(&[format!("AUTH {user} wrong-password")])[0].starts_with("OK"));

        // Restart drift: the user vanishes; the namespace stays in state (so nobody else can
        // take the name meanwhile) and the plan repairs it; the same password works.
        redis(&["ACL", "DELUSER", &user]);
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("will be updated in-place") && plan.contains("differs on the server"), "{plan}");
        ws.apply();
        ws.assert_plan_empty();
        assert_eq!(redis_session(&[format!("AUTH {user} {password}")])[0], "OK");

        // Rules changed outside Terraform show as a change and are put back.
        redis(&["ACL", "SETUSER", &user, "allkeys"]);
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        assert!(plan.contains("will be updated in-place"), "{plan}");
        ws.apply();
        let answers = redis_session(&[format!("AUTH {user} {password}"), format!("SET not-{name}:k v")]);
        assert!(answers[1].contains("NOPERM"), "{answers:?}");

        // Import by name: the claim stays with the namespace, so the configuration names it;
        // the plan then only takes it. (purge_keys_on_destroy lives only in configuration,
        // so import takes its default.)
        let claim = ws.reimport("dbaas_redis_namespace.this", &name);
        ws.write_main(&taking_over(&config(&c, &name, ""), "dbaas_redis_namespace.this", &claim));
        assert_eq!(ws.assert_plan_takes_only_claims(), 1);
        ws.apply();
        ws.assert_plan_empty();
        ws.write_main(&config(&c, &name, "purge_keys_on_destroy = true"));
        ws.apply();

        // Destroy purges the prefix's keys (only those) and removes user and secret.
        redis(&["SET", &format!("not-{name}:survivor"), "x"]);
        let out = ws.destroy();
        assert!(out.contains("Deleted 1 key(s)"), "{out}");
        assert_eq!(redis(&["EXISTS", &format!("{name}:k")]), "0");
        assert_eq!(redis(&["EXISTS", &format!("not-{name}:survivor")]), "1", "a key outside the prefix was purged");
        redis(&["UNLINK", &format!("not-{name}:survivor")]);
        assert!(!redis(&["ACL", "USERS"]).lines().any(|u| u == user), "user left behind");
        assert!(
            vault("GET", &format!("secret/data/redis/{name}"), None)["data"].is_null(),
            "password left in Vault KV"
        );
    }
}

#[test]
fn readonly_namespace_cannot_write() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("redisro");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let ws = Workspace::new(tf, "redisro", &config(&c, &name, "permissions = \"readonly\""));
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    redis(&["SET", &format!("{name}:seeded"), "1"]);
    let password = kv_password(&name);
    let answers = redis_session(&[
        format!("AUTH dbaas-{name} {password}"),
        format!("GET {name}:seeded"),
        format!("SET {name}:k v"),
    ]);
    assert_eq!(answers[0], "OK");
    assert_eq!(answers[1], "1");
    assert!(answers[2].contains("NOPERM"), "{answers:?}");
    ws.destroy();
    // Keys stay unless purge_keys_on_destroy.
    assert_eq!(redis(&["EXISTS", &format!("{name}:seeded")]), "1");
}

#[test]
fn bad_prefixes_and_rules_are_refused_and_create_nothing() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("redisbad");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    for (settings, why) in [
        ("key_prefix = \"app *\"", "glob characters"),
        ("key_prefix = \"*\"", "glob characters"),
        ("extra_rules = [\"~*\"]", "must start with the namespace's prefix"),
        ("extra_rules = [\"allkeys\"]", "\"allkeys\" is not allowed"),
        ("extra_rules = [\"+@all\"]", "\"+@all\" is not allowed"),
        ("acl_user = \"default\"", "acl_user cannot be \"default\""),
        ("acl_user = \"dbaas-another\"", "is of the provider's form"),
    ] {
        let ws = Workspace::new(tf, "redisbad", &config(&c, &name, settings));
        ws.init();
        let out = ws.fails(&["plan", "-no-color", "-input=false"]);
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(why), "{settings}: {out}");
    }
    assert!(!redis(&["ACL", "USERS"]).contains(&name), "a refused namespace created a user");

    // Overlapping prefixes: the plan warns, naming the first; apply refuses the second.
    let first = Workspace::new(tf, "redisbad", &config(&c, &name, &format!("key_prefix = \"{name}:\"")));
    first.init();
    first.apply();
    let second_name = format!("{name}-sub");
    let second = Workspace::new(tf, "redisbad", &config(&c, &second_name, &format!("key_prefix = \"{name}:sub:\"")));
    second.init();
    let out = second.ok(&["plan", "-no-color", "-input=false"]);
    assert!(out.contains("Warning: Key prefix overlaps another namespace") && out.contains(&name), "{out}");
    let out = second.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    assert!(out.contains("Error: Key prefix overlaps another namespace"), "{out}");
    assert!(!redis(&["ACL", "USERS"]).lines().any(|u| u == format!("dbaas-{second_name}")));
    first.destroy();

    // A user made by hand keeps its keys too: a prefix overlapping its pattern is refused.
    let hand_made = format!("{name}-hand");
    redis(&["ACL", "SETUSER", &hand_made, "on", "nopass", &format!("~{hand_made}:*"), "+get"]);
    let third = Workspace::new(
        tf,
        "redisbad",
        &config(&c, &format!("{name}-third"), &format!("key_prefix = \"{hand_made}:x:\"")),
    );
    third.init();
    let out = third.ok(&["plan", "-no-color", "-input=false"]);
    assert!(out.contains("Warning: Key prefix overlaps another namespace") && out.contains(&hand_made), "{out}");
}

#[test]
fn without_vault_the_write_only_password_is_used_and_never_stored() {
    require_services();
    // Write-only attributes and ephemeral variables need Terraform 1.11.
    for tf in terraforms_since(1, 11, "write-only attributes") {
        let c = Cleanup::new("redisnovault");
        let name = namespace_name(&c);
        let _redis_cleanup = RedisCleanup(name.clone());
        // A second, real Redis standing in for a replica: ACLs are not replicated, so
        // the provider must apply them to every node.
        let node = OwnRedis::start(None);
        let addresses = format!("\"127.0.0.1:6379\", \"127.0.0.1:{}\"", node.port);
        let main = |settings: &str| {
            fixture(
                "redis_namespace_no_vault.tf",
                &[("addresses", &addresses), ("name", &name), ("settings", settings)],
            )
        };

        // Without Vault and without password_wo, the error says what to do.
        let ws = Workspace::new(tf, "redisnovault", &main(""));
        ws.init();
        let out = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false", "-var", "password=unused"]);
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("No password for the namespace") && flat.contains("password_wo"), "{out}");

        let secret = "Write-only-password-for-tests-1";
        ws.write_main(&main("password_wo = var.password"));
        ws.ok(&["apply", "-auto-approve", "-no-color", "-input=false", "-var", &format!("password={secret}")]);
        let state = std::fs::read_to_string(ws.dir.join("terraform.tfstate")).unwrap();
        assert!(!state.contains(secret), "the write-only password is in state");

        // The user exists, with that password, on both nodes.
        let user = format!("dbaas-{name}");
        assert_eq!(redis_session(&[format!("AUTH {user} {secret}")])[0], "OK");
        assert_eq!(node.cli(&["AUTH", &user, secret]), "OK", "the rules did not reach the second node");

        // A node that lost the user is reported, and one apply puts it back there.
        node.cli(&["ACL", "DELUSER", &user]);
        let out = ws.ok(&["plan", "-no-color", "-input=false", "-var", &format!("password={secret}")]);
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("differs on the server") && flat.contains(&node.port.to_string()), "{out}");
        ws.ok(&["apply", "-auto-approve", "-no-color", "-input=false", "-var", &format!("password={secret}")]);
        assert_eq!(node.cli(&["AUTH", &user, secret]), "OK", "the lost user was not restored on the second node");
        ws.ok(&["destroy", "-auto-approve", "-no-color", "-input=false", "-var", &format!("password={secret}")]);
        assert!(!redis(&["ACL", "USERS"]).lines().any(|u| u == user));
    }
}

/// State the previous release wrote (schema version 2, no `acl_user`): the upgrade gives
/// it the user every namespace had then, `dbaas-<name>`, and the next plan is empty.
#[test]
fn state_from_before_acl_user_plans_empty() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("redisv2");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let ws = Workspace::new(tf, "redisv2", &config(&c, &name, ""));
    ws.init();
    ws.apply();
    let mut state: serde_json::Value = serde_json::from_str(&ws.ok(&["state", "pull"])).unwrap();
    let instance = &mut state["resources"][0]["instances"][0];
    assert_eq!(instance["schema_version"], 3, "{instance}");
    instance["schema_version"] = 2.into();
    instance["attributes"].as_object_mut().unwrap().remove("acl_user");
    state["serial"] = (state["serial"].as_u64().unwrap() + 1).into();
    std::fs::write(ws.dir.join("old.tfstate"), state.to_string()).unwrap();
    ws.ok(&["state", "push", "old.tfstate"]);
    ws.assert_plan_empty();
    ws.ok(&["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"]);
    let state: serde_json::Value = serde_json::from_str(&ws.ok(&["show", "-json"])).unwrap();
    let attributes = &state["values"]["root_module"]["resources"][0]["values"];
    assert_eq!(attributes["acl_user"], format!("dbaas-{name}"), "{attributes}");
    ws.destroy();
}

/// Rules Redis stores in another form (`%RW~p` as `~p`, a pattern given twice once) are no
/// change at the next plan: before, every plan showed one.
#[test]
fn rules_redis_rewrites_plan_empty_after_apply() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("rulesnorm");
    let name = namespace_name(&c);
    let _redis_cleanup = RedisCleanup(name.clone());
    let rules = format!("extra_rules = [\"%RW~{name}:x*\", \"~{name}:*\", \"%R~{name}:y*\", \"%RW~{name}:x*\"]");
    let ws = Workspace::new(tf, "rulesnorm", &config(&c, &name, &rules));
    ws.init();
    ws.apply();
    let user = redis(&["ACL", "GETUSER", &format!("dbaas-{name}")]);
    assert!(user.contains(&format!("~{name}:x*")) && !user.contains("%RW~"), "Redis rewrote the rule: {user}");
    ws.assert_plan_empty();
    ws.destroy();
}
