//! `dbaas_endpoints`: modules read the catalog instead of hardcoding hosts.

use serde_json::json;

use crate::util::{Workspace, fixture, terraforms};

#[test]
fn catalog_from_config_and_environment() {
    for tf in terraforms() {
        let ws = Workspace::new(
            tf,
            "endpoints",
            &fixture(
                "endpoints.tf",
                &[
                    ("admin_host", "pg-cluster-rw.dbaas.svc.cluster.local"),
                    ("pooled_host", "pgbouncer.dbaas.svc.cluster.local"),
                ],
            ),
        )
        .env("DBAAS_REDIS_ADDRESSES", "redis-0.cache:6380,redis-1.cache:6380")
        .env("VAULT_ADDR", "http://vault.platform:8200")
        .env("VAULT_TOKEN", "not-used-by-this-test");
        ws.init();
        ws.ok(&["validate", "-no-color"]);
        ws.apply();

        let out = ws.outputs();
        assert_eq!(
            out["postgres"]["value"],
            json!({
                "host": "pgbouncer.dbaas.svc.cluster.local", "port": 6432,
                "admin_host": "pg-cluster-rw.dbaas.svc.cluster.local", "admin_port": 5432,
                // No replicas named: no read endpoints.
                "read_host": null, "read_port": null, "pooled_read_host": null, "pooled_read_port": null,
                "sslmode": "disable"
            })
        );
        assert_eq!(out["mysql"]["value"], json!(null), "mysql is not configured");
        assert_eq!(
            out["redis"]["value"],
            json!({"host": "redis-0.cache", "port": 6380, "addresses": ["redis-0.cache:6380", "redis-1.cache:6380"], "tls": false})
        );
        assert_eq!(out["vault"]["value"]["address"], "http://vault.platform:8200");
        assert_eq!(out["vault"]["value"]["creds_path_pattern"], "database/creds/<role>");

        ws.assert_plan_empty();
        let state = ws.show();
        let resources = &state["values"]["root_module"]["resources"];
        assert_eq!(resources[0]["address"], "data.dbaas_endpoints.this");
        let state_text = state.to_string();
        assert!(!state_text.contains("not-used-by-this-test"), "the Vault token leaked into state");
        ws.destroy();
    }
}

#[test]
fn hosts_that_do_not_answer_do_not_matter_to_plan() {
    // Port 1 on loopback refuses every connection: a provider that dialled at configure
    // or plan time would fail here.
    for tf in terraforms() {
        let ws = Workspace::new(tf, "lazy", &fixture("endpoints_env_only.tf", &[]))
            .env("DBAAS_POSTGRES_HOST", "127.0.0.1")
            .env("DBAAS_POSTGRES_PORT", "1")
            .env("DBAAS_MYSQL_HOST", "127.0.0.1")
            .env("DBAAS_MYSQL_PORT", "1")
            .env("DBAAS_REDIS_ADDRESSES", "127.0.0.1:1")
            .env("VAULT_ADDR", "http://127.0.0.1:1");
        ws.init();
        ws.ok(&["validate", "-no-color"]);
        let plan = ws.ok(&["plan", "-input=false", "-no-color"]);
        let flat = plan.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("admin_port = 1"), "{plan}");
    }
}
