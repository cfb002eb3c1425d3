//! Renders docs/ in the Terraform Registry layout from the provider's own schemas and the
//! examples/ folder, and fails when the committed docs differ. `make docs` rewrites them.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use dbaas::framework::component::Provider;
use dbaas::framework::schema::{Attribute, AttributeType, Schema};
use dbaas::framework::types::Type;
use dbaas::provider::DbaasProvider;
use dbaas::provider::config::environment_variables;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example(path: &str) -> String {
    let file = root().join("examples").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn type_label(a: &Attribute) -> String {
    match &a.kind {
        AttributeType::NestedSingle(_) => "Attributes".into(),
        AttributeType::Plain(t) => match t {
            Type::Bool => "Boolean".into(),
            Type::Number => "Number".into(),
            Type::String => "String".into(),
            Type::Dynamic => "Dynamic".into(),
            Type::List(e) => format!("List of {}", plain(e)),
            Type::Set(e) => format!("Set of {}", plain(e)),
            Type::Map(e) => format!("Map of {}", plain(e)),
            Type::Object(_) => "Object".into(),
            Type::Tuple(_) => "Tuple".into(),
        },
    }
}

fn plain(t: &Type) -> &'static str {
    match t {
        Type::Bool => "Boolean",
        Type::Number => "Number",
        Type::String => "String",
        _ => "Object",
    }
}

fn attribute_line(out: &mut String, a: &Attribute, anchor_prefix: &str) {
    let mut flags = Vec::new();
    if a.sensitive {
        flags.push("Sensitive");
    }
    if a.write_only {
        flags.push("Write-only");
    }
    let flags = if flags.is_empty() { String::new() } else { format!(", {}", flags.join(", ")) };
    let nested = match a.kind {
        AttributeType::NestedSingle(_) => format!(" (see [below for nested schema](#{anchor_prefix}--{}))", a.name),
        AttributeType::Plain(_) => String::new(),
    };
    let default = a.default.as_ref().map(|d| format!(" Default: `{}`.", show(d))).unwrap_or_default();
    writeln!(out, "- `{}` ({}{flags}) {}{default}{nested}", a.name, type_label(a), a.description).unwrap();
}

fn show(v: &dbaas::framework::value::Value) -> String {
    use dbaas::framework::value::Value;
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn attribute_groups(out: &mut String, attributes: &[Attribute], anchor_prefix: &str, heading: &str) {
    type Pick = fn(&Attribute) -> bool;
    let groups: [(&str, Pick); 3] =
        [("Required", |a| a.required), ("Optional", |a| a.optional), ("Read-Only", |a| a.computed && !a.optional)];
    for (title, pick) in groups {
        let picked: Vec<_> = attributes.iter().filter(|a| pick(a)).collect();
        if picked.is_empty() {
            continue;
        }
        if heading.is_empty() {
            writeln!(out, "### {title}\n").unwrap();
        } else {
            writeln!(out, "{title}:\n").unwrap();
        }
        for a in picked {
            attribute_line(out, a, anchor_prefix);
        }
        out.push('\n');
    }
    for a in attributes {
        if let AttributeType::NestedSingle(nested) = &a.kind {
            writeln!(out, "<a id=\"{anchor_prefix}--{}\"></a>\n### Nested Schema for `{}`\n", a.name, a.name).unwrap();
            attribute_groups(out, nested, &format!("{anchor_prefix}--{}", a.name), a.name);
        }
    }
}

fn schema_section(out: &mut String, schema: &Schema) {
    out.push_str("<!-- generated from the provider's schema by tests/docs.rs -->\n## Schema\n\n");
    attribute_groups(out, &schema.attributes, "nestedatt", "");
    if !schema.blocks.is_empty() {
        out.push_str("### Blocks\n\n");
        for b in &schema.blocks {
            writeln!(
                out,
                "- `{}` (Block, at most one) {} (see [below for nested schema](#nestedblock--{}))",
                b.name, b.description, b.name
            )
            .unwrap();
        }
        out.push('\n');
        for b in &schema.blocks {
            nested_block_section(out, b, "");
        }
    }
}

fn nested_block_section(out: &mut String, b: &dbaas::framework::schema::Block, parent: &str) {
    let anchor =
        format!("nestedblock--{}{}", if parent.is_empty() { String::new() } else { format!("{parent}--") }, b.name);
    let path = if parent.is_empty() { b.name.to_owned() } else { format!("{}.{}", parent.replace("--", "."), b.name) };
    writeln!(out, "<a id=\"{anchor}\"></a>\n### Nested Schema for `{path}`\n").unwrap();
    attribute_groups(out, &b.attributes, &anchor, b.name);
    if !b.blocks.is_empty() {
        out.push_str("Blocks:\n\n");
        let own = anchor.trim_start_matches("nestedblock--").to_owned();
        for inner in &b.blocks {
            writeln!(
                out,
                "- `{}` (Block, at most one) {} (see [below for nested schema](#nestedblock--{own}--{}))",
                inner.name, inner.description, inner.name
            )
            .unwrap();
        }
        out.push('\n');
        for inner in &b.blocks {
            nested_block_section(out, inner, &own);
        }
    }
}

fn front_matter(title: &str, description: &str) -> String {
    let description = description.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n");
    format!("---\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n{description}\n---\n\n")
}

fn provider_page(provider: &DbaasProvider) -> String {
    let schema = provider.schema();
    let mut out = front_matter("dbaas Provider", &schema.description);
    writeln!(out, "# dbaas Provider\n\n{}\n", schema.description).unwrap();
    out.push_str("It works with Terraform 1.8 and later; `dbaas_credentials` needs 1.10 (ephemeral resources).\n\n");
    writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example("provider/provider.tf")).unwrap();
    out.push_str("## Environment variables\n\nEach setting left out of the configuration is read from its environment variable.\n\n| variable | setting |\n|---|---|\n");
    for (var, setting) in environment_variables() {
        writeln!(out, "| `{var}` | `{setting}` |").unwrap();
    }
    out.push_str("\nA denied host written in the provider block is refused by `terraform validate`. Terraform does not ask the provider to validate an empty `provider` block, so one set only in the environment is refused by the first `plan`.\n\n");
    schema_section(&mut out, &schema);
    out
}

fn data_source_page(name: &str, schema: &Schema) -> String {
    let mut out = front_matter(&format!("{name} Data Source - dbaas"), &schema.description);
    writeln!(out, "# {name} (Data Source)\n\n{}\n", schema.description).unwrap();
    writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example(&format!("data-sources/{name}/data-source.tf")))
        .unwrap();
    schema_section(&mut out, schema);
    out
}

fn resource_page(name: &str, schema: &Schema) -> String {
    let mut out = front_matter(&format!("{name} Resource - dbaas"), &schema.description);
    writeln!(out, "# {name} (Resource)\n\n{}\n", schema.description).unwrap();
    writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example(&format!("resources/{name}/resource.tf")))
        .unwrap();
    schema_section(&mut out, schema);
    writeln!(out, "## Import\n\n```shell\n{}```", example(&format!("resources/{name}/import.sh"))).unwrap();
    out
}

fn ephemeral_page(name: &str, schema: &Schema) -> String {
    let mut out = front_matter(&format!("{name} Ephemeral Resource - dbaas"), &schema.description);
    writeln!(out, "# {name} (Ephemeral Resource)\n\n{}\n", schema.description).unwrap();
    writeln!(
        out,
        "## Example Usage\n\n```terraform\n{}```\n",
        example(&format!("ephemeral-resources/{name}/ephemeral-resource.tf"))
    )
    .unwrap();
    schema_section(&mut out, schema);
    out
}

fn list_resource_page(name: &str, schema: &Schema) -> String {
    let mut out = front_matter(&format!("{name} List Resource - dbaas"), &schema.description);
    writeln!(out, "# {name} (List Resource)\n\n{}\n", schema.description).unwrap();
    out.push_str("Needs Terraform 1.14 or later. Write the `list` block in a `.tfquery.hcl` file and run `terraform query`. With `-generate-config-out=FILE`, Terraform writes a `resource` and an `import` block for each result; they import with no change but taking the object's claim (an in-place update of `claim`, at the next apply). An object another Terraform state claims is refused at plan, naming the claim: set `take_over_claim` to it to move the object to this state (see the security guide).");
    if name == "dbaas_shared_database" {
        out.push_str(" The generated configuration leaves out the Terraform-only settings, so their defaults apply (`deletion_policy = \"retain\"` and `force_drop = false`): set them if destroy should archive or drop.");
    }
    out.push_str("\n\n");
    writeln!(
        out,
        "## Example Usage\n\n```terraform\n{}```\n",
        example(&format!("list-resources/{name}/list-resource.tfquery.hcl"))
    )
    .unwrap();
    out.push_str("<!-- generated from the provider's schema by tests/docs.rs -->\n## Schema of `config`\n\n");
    attribute_groups(&mut out, &schema.attributes, "nestedatt", "");
    out
}

fn action_page(name: &str, schema: &Schema) -> String {
    let mut out = front_matter(&format!("{name} Action - dbaas"), &schema.description);
    writeln!(out, "# {name} (Action)\n\n{}\n", schema.description).unwrap();
    out.push_str("Needs Terraform 1.14 or later. Run it with `terraform apply -invoke=action.<type>.<name>`, or from a resource's `lifecycle { action_trigger { ... } }`.\n\n");
    writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example(&format!("actions/{name}/action.tf"))).unwrap();
    out.push_str("<!-- generated from the provider's schema by tests/docs.rs -->\n## Schema of `config`\n\n");
    attribute_groups(&mut out, &schema.attributes, "nestedatt", "");
    out
}

fn pages() -> Vec<(PathBuf, String)> {
    let provider = DbaasProvider::new();
    let mut pages = vec![(PathBuf::from("docs/index.md"), provider_page(&provider))];
    for ds in provider.data_sources() {
        let name = ds.type_name();
        pages.push((
            PathBuf::from(format!("docs/data-sources/{}.md", name.trim_start_matches("dbaas_"))),
            data_source_page(name, &ds.schema()),
        ));
    }
    for r in provider.resources() {
        let name = r.type_name();
        pages.push((
            PathBuf::from(format!("docs/resources/{}.md", name.trim_start_matches("dbaas_"))),
            resource_page(name, &r.schema()),
        ));
    }
    for e in provider.ephemeral_resources() {
        let name = e.type_name();
        pages.push((
            PathBuf::from(format!("docs/ephemeral-resources/{}.md", name.trim_start_matches("dbaas_"))),
            ephemeral_page(name, &e.schema()),
        ));
    }
    for l in provider.list_resources() {
        let name = l.type_name();
        pages.push((
            PathBuf::from(format!("docs/list-resources/{}.md", name.trim_start_matches("dbaas_"))),
            list_resource_page(name, &l.schema()),
        ));
    }
    for a in provider.actions() {
        let name = a.type_name();
        pages.push((
            PathBuf::from(format!("docs/actions/{}.md", name.trim_start_matches("dbaas_"))),
            action_page(name, &a.schema()),
        ));
    }
    for guide in std::fs::read_dir(root().join("templates/guides")).unwrap() {
        let path = guide.unwrap().path();
        // The security guide's authority table is rendered from the model in code, so the
        // guide cannot say what the code does not.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("{{ authority_table }}", dbaas::platform::authority::render_markdown().trim_end());
        pages.push((Path::new("docs/guides").join(path.file_name().unwrap()), text));
    }
    pages
}

#[test]
fn docs_are_current() {
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (path, text) in pages() {
        let file = root().join(&path);
        if update {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &text).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(stale.is_empty(), "docs are out of date: {stale:?}; run `make docs`");
}

#[test]
fn every_type_has_an_example() {
    let provider = DbaasProvider::new();
    for ds in provider.data_sources() {
        example(&format!("data-sources/{}/data-source.tf", ds.type_name()));
    }
    for r in provider.resources() {
        example(&format!("resources/{}/resource.tf", r.type_name()));
        example(&format!("resources/{}/import.sh", r.type_name()));
    }
    for e in provider.ephemeral_resources() {
        example(&format!("ephemeral-resources/{}/ephemeral-resource.tf", e.type_name()));
    }
    for l in provider.list_resources() {
        example(&format!("list-resources/{}/list-resource.tfquery.hcl", l.type_name()));
    }
    for a in provider.actions() {
        example(&format!("actions/{}/action.tf", a.type_name()));
    }
}

/// Every `.md` under `dir`.
fn markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            markdown(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// What the docs say a static login is called is what `naming` makes: the Redis form once
/// read `dbaas-<namespace>-<name>` in one page while the provider made
/// `dbaas-<namespace>--<name>`.
#[test]
fn static_login_names_in_the_docs_are_the_ones_naming_makes() {
    let (sql_login, redis_login) = dbaas::platform::naming::RoleName::static_login_patterns();
    let mut pages = vec![root().join("README.md")];
    for dir in ["docs", "templates"] {
        markdown(&root().join(dir), &mut pages);
    }
    // The role's placeholder is `<name>` or `<role>` depending on the sentence.
    let same = |written: &str, made: &str| written.replace("<role>", "<name>") == made;
    let mut wrong = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for (at, _) in text.match_indices("dbaas-<namespace>-") {
            let written: String =
                text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-<>_".contains(*c)).collect();
            // The namespace's own management user is `dbaas-<namespace>-vault`, not a login.
            if written.ends_with("-vault") || same(&written, &redis_login) {
                continue;
            }
            wrong.push(format!("{}: {written} (the provider makes {redis_login})", page.display()));
        }
        for (at, _) in text.match_indices("<database>_<") {
            let written: String =
                text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "<>_".contains(*c)).collect();
            if !same(&written, &sql_login) {
                wrong.push(format!("{}: {written} (the provider makes {sql_login})", page.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "static login names the docs get wrong: {wrong:#?}");
}

/// The paths the docs write with placeholders (where apps read credentials, where a
/// namespace's password lives, over the API and in the CLI) have the shapes `naming` makes.
#[test]
fn credential_and_password_paths_in_the_docs_have_the_shapes_naming_makes() {
    use dbaas::platform::naming::{Issuing, NamespaceName, creds_path};
    let name = NamespaceName::new("placeholder").unwrap();
    let placeholders = |made: String| made.replace("placeholder", "<name>");
    // (what marks the path, the mount placeholder, the path naming makes)
    let shapes = [
        ("/creds/<", "<mount>", creds_path("<mount>", Issuing::Dynamic, "<role>")),
        ("/static-creds/<", "<mount>", creds_path("<mount>", Issuing::Static, "<role>")),
        ("/data/redis/<", "<kv mount>", placeholders(name.password_path("<kv mount>"))),
        ("/redis/<", "<kv mount>", placeholders(format!("<kv mount>/{}", name.kv_path()))),
    ];
    // How pages name the same placeholder.
    let normal = |written: &str| {
        written
            .replace("<database_mount>", "<mount>")
            .replace("<vault_role>", "<role>")
            .replace("<vault role>", "<role>")
            .replace("<kv_mount>", "<kv mount>")
            .replace("<namespace>", "<name>")
    };
    let mut pages = vec![root().join("README.md")];
    for dir in ["docs", "templates"] {
        markdown(&root().join(dir), &mut pages);
    }
    let (mut wrong, mut seen) = (Vec::new(), 0);
    for page in pages {
        let text = normal(&std::fs::read_to_string(&page).unwrap());
        for (marker, mount, made) in &shapes {
            for (at, _) in text.match_indices(marker) {
                if *marker == "/redis/<" && text[..at].ends_with("/data") {
                    continue;
                }
                // The mount: a placeholder, or a mount's name (`database`, `secret`).
                let written_mount = if text[..at].ends_with('>') {
                    &text[text[..at].rfind('<').unwrap_or(at)..at]
                } else {
                    let word = text[..at].trim_end_matches(|c: char| c.is_ascii_alphanumeric() || "_-".contains(c));
                    if text[word.len()..at].is_empty() { "" } else { mount }
                };
                let rest = &text[at..];
                let path = &rest[..rest[marker.len()..].find('>').map_or(rest.len(), |e| marker.len() + e + 1)];
                let written = format!("{written_mount}{path}");
                seen += 1;
                if &written != made {
                    wrong.push(format!("{}: {written} (the provider makes {made})", page.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "paths the docs get wrong: {wrong:#?}");
    assert!(seen >= 8, "only {seen} paths found: the docs' wording changed, and this check with it");
}
