//! Every example in examples/ is valid Terraform for this provider's schema.

use crate::util::{Stack, Workspace, terraforms, vault};

#[test]
fn every_example_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files = Vec::new();
    for kind in ["provider", "data-sources", "resources", "ephemeral-resources", "actions", "list-resources"] {
        let dir = root.join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                files.extend(
                    std::fs::read_dir(&path)
                        .unwrap()
                        .flatten()
                        .map(|f| f.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "tf" || x == "hcl")),
                );
            } else if path.extension().is_some_and(|x| x == "tf") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 3, "examples not found: {files:?}");
    let tf = &terraforms()[0];
    for file in files {
        let body = std::fs::read_to_string(&file).unwrap();
        let header = "terraform {\n  required_providers {\n    dbaas = { source = \"infra/dbaas\" }\n  }\n}\n";
        // A query file sits beside a configuration that declares the provider.
        let query = file.to_string_lossy().ends_with(".tfquery.hcl");
        let ws = Workspace::new(tf, "example", &if query { header.to_owned() } else { format!("{header}{body}") });
        if query {
            std::fs::write(ws.dir.join("example.tfquery.hcl"), &body).unwrap();
        }
        ws.init();
        let out = ws.run(&["validate", "-no-color", "-query"]);
        assert!(out.status.success(), "{} is not valid:\n{}", file.display(), crate::util::text(&out));
    }
}

/// An example's outputs each say what they give (`# => <json>` on the `output` line), with
/// the provider configured as on the provider's page; the hosts that page names stand for
/// the local services here.
const PAGE_HOSTS: [(&str, &str); 2] = [
    ("pgbouncer.dbaas.svc.cluster.local:5432", "127.0.0.1:6432"),
    ("pg-cluster-rw.dbaas.svc.cluster.local:5432", "127.0.0.1:5432"),
];

/// `text` with every whole-word `word` (not part of a longer name made of letters, digits
/// and `_`) replaced by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_name) || after.is_some_and(is_name) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// The names an example gives databases and namespaces, and the key prefixes it sets.
fn example_names(hcl: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_named = false;
    for line in hcl.lines() {
        if line.starts_with("resource \"dbaas_shared_database\"")
            || line.starts_with("resource \"dbaas_redis_namespace\"")
        {
            in_named = true;
        } else if line.starts_with('}') {
            in_named = false;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim();
        if (in_named && key == "name") || key == "key_prefix" {
            let value = value.trim().trim_matches('"').trim_end_matches(':');
            names.push(value.to_owned());
        }
    }
    names
}

/// `(output name, what it gives)` for each output the example says the value of.
fn stated_outputs(hcl: &str) -> Vec<(String, serde_json::Value)> {
    hcl.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("output \"")?;
            let (name, rest) = rest.split_once('"')?;
            let (_, stated) = rest.split_once("# => ")?;
            let value = serde_json::from_str(stated.trim()).unwrap_or_else(|e| panic!("{line}: {e}"));
            Some((name.to_owned(), value))
        })
        .collect()
}

#[test]
fn every_example_applies_against_the_local_services_and_gives_what_its_page_says() {
    crate::util::require_services();
    // Short: a MySQL database name leaves room for `_vault` in 32 characters.
    let c = crate::util::Cleanup::new("ex");
    vault("POST", &format!("sys/mounts/{}", c.mount), Some(&serde_json::json!({ "type": "database" })));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let stack = Stack::default()
        .postgres(5432, "")
        .mysql()
        .redis("addresses = [\"127.0.0.1:6379\"]")
        .vault(&c.mount, "token = \"root\"");
    let mut checked = 0;
    let mut named = 0;
    let mut wrong = Vec::new();
    for example in [
        "resources/dbaas_shared_database/resource.tf",
        "resources/dbaas_rotated_role/resource.tf",
        "resources/dbaas_redis_namespace/resource.tf",
        "data-sources/dbaas_endpoints/data-source.tf",
        "ephemeral-resources/dbaas_credentials/ephemeral-resource.tf",
    ] {
        let page = std::fs::read_to_string(root.join(example)).unwrap();
        // The example's own names, made this run's wherever they appear (labels too).
        let names = example_names(&page);
        let first = named;
        named += names.len();
        let ours = |text: &str| {
            let mut text = text.to_owned();
            for (i, name) in names.iter().enumerate() {
                text = replace_word(&text, name, &format!("{}_{}", c.prefix, first + i));
            }
            text
        };
        let ws = Workspace::new(&terraforms()[0], "example", &stack.main_tf(&ours(&page)));
        if example.starts_with("ephemeral") {
            // What its migration runs: a table, made on whatever host the example gives it.
            let script = "#!/bin/sh\nexec psql -X -v ON_ERROR_STOP=1 -c 'CREATE TABLE migrated (id int)'\n";
            std::fs::write(ws.dir.join("migrate.sh"), script).unwrap();
            let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
            std::fs::set_permissions(ws.dir.join("migrate.sh"), mode).unwrap();
        }
        ws.init();
        ws.apply();
        ws.assert_plan_empty();
        let outputs = ws.outputs();
        for (name, stated) in stated_outputs(&page) {
            let mut wanted = ours(&stated.to_string());
            for (page_host, local) in PAGE_HOSTS {
                wanted = wanted.replace(page_host, local);
            }
            wanted = wanted.replace("\"database/", &format!("\"{}/", c.mount));
            let wanted: serde_json::Value = serde_json::from_str(&wanted).unwrap();
            if outputs[&name]["value"] != wanted {
                wrong.push(format!("{example}: output {name:?} gives {}, stated as {stated}", outputs[&name]["value"]));
            }
            checked += 1;
        }
        if example.starts_with("ephemeral") {
            // The migration reached the primary, and its table belongs to the owner role.
            let database = ours("trading");
            let owner = crate::util::psql(&database, "SELECT tableowner FROM pg_tables WHERE tablename = 'migrated'");
            if owner.trim() != format!("{database}_owner") {
                wrong.push(format!("{example}: the migration's table belongs to {owner:?}, not {database}_owner"));
            }
            checked += 1;
        }
        // Destroyed before any assertion: Redis users and KV secrets have no other cleanup.
        ws.destroy();
    }
    assert!(wrong.is_empty(), "examples that do not give what their page says:\n{}", wrong.join("\n"));
    assert!(checked >= 9, "only {checked} stated results were checked");
}
