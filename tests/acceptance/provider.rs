//! The provider block: denied hosts and the schema Terraform sees.

use crate::util::{Workspace, fixture, terraforms};

#[test]
fn legacy_postgres_service_is_refused_at_validate_with_advice() {
    for tf in terraforms() {
        let ws =
            Workspace::new(tf, "denied", &fixture("denied_host.tf", &[("host", "postgresql.dbaas.svc.cluster.local")]));
        ws.init();
        let out = ws.fails(&["validate", "-no-color"]);
        assert!(out.contains("Denied host \"postgresql.dbaas.svc.cluster.local\""), "{out}");
        assert!(out.contains("pg-cluster-rw.dbaas.svc.cluster.local"), "no advice: {out}");
        assert!(out.contains("host = \"postgresql.dbaas.svc.cluster.local\""), "not pointed at the attribute: {out}");
    }
}

#[test]
fn legacy_postgres_service_from_the_environment_is_refused_at_plan() {
    // Terraform skips ValidateProviderConfig for an empty provider block, so the first
    // call that sees the environment's value is plan's.
    for tf in terraforms() {
        let ws = Workspace::new(tf, "denied_env", &fixture("endpoints_env_only.tf", &[]))
            .env("DBAAS_POSTGRES_HOST", "postgresql.dbaas");
        ws.init();
        let out = ws.fails(&["plan", "-input=false", "-no-color"]);
        assert!(out.contains("DBAAS_POSTGRES_HOST names it"), "{out}");
    }
}

#[test]
fn providers_schema_lists_every_type() {
    for tf in terraforms() {
        let ws = Workspace::new(tf, "schema", &fixture("endpoints_env_only.tf", &[]));
        ws.init();
        let schema: serde_json::Value = serde_json::from_str(&ws.ok(&["providers", "schema", "-json"])).unwrap();
        let provider = &schema["provider_schemas"]["registry.terraform.io/infra/dbaas"];
        assert!(provider["provider"]["block"]["block_types"]["postgres"].is_object(), "{provider}");
        let endpoints = &provider["data_source_schemas"]["dbaas_endpoints"]["block"]["attributes"];
        assert_eq!(endpoints["postgres"]["nested_type"]["nesting_mode"], "single");
        assert!(endpoints["postgres"].get("type").is_none(), "nested attribute also has a type");
        let password = &provider["provider"]["block"]["block_types"]["postgres"]["block"]["attributes"]["password"];
        assert_eq!(password["sensitive"], true);
    }
}

/// The provider builds Vault API paths from its mounts: one that is not a plain mount path
/// (`../sys`) is refused at validate, on its line, before any request.
#[test]
fn a_vault_mount_that_is_not_a_mount_path_is_refused_at_validate() {
    let out = validate_refuses("badmount", &database_stack("../sys"));
    assert!(out.contains("\"../sys\" is not a Vault mount path"), "{out}");
    assert!(out.contains("database_mount = \"../sys\""), "not pointed at the attribute: {out}");
}

/// Vault's connection URL and the apps' `connection_uri` are built from the hosts: one that
/// carries a port and a path (`127.0.0.1:5432/postgres?`) would point them at another
/// database. It is refused at validate, on its line.
#[test]
fn a_host_that_is_not_a_host_name_is_refused_at_validate() {
    let main = database_stack("database")
        .replace("host             = \"127.0.0.1\"", "host             = \"127.0.0.1:5432/postgres?\"");
    assert!(main.contains("127.0.0.1:5432/postgres?"), "the fixture's host line changed: {main}");
    let out = validate_refuses("badhost", &main);
    assert!(out.contains("\"127.0.0.1:5432/postgres?\" is not a host name"), "{out}");
    assert!(out.contains("host             = \"127.0.0.1:5432/postgres?\""), "not pointed at the attribute: {out}");
}

/// The shared-database fixture with Vault's database mount at `mount`.
fn database_stack(mount: &str) -> String {
    fixture("shared_database.tf", &[("mount", mount), ("name", "unused"), ("engine", "postgresql"), ("settings", "")])
}

/// `terraform validate` on `main` (on the first Terraform), which must fail; its output.
fn validate_refuses(test: &str, main: &str) -> String {
    let ws = Workspace::new(&terraforms()[0], test, main);
    ws.init();
    ws.fails(&["validate", "-no-color"])
}
