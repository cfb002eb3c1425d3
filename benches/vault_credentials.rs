//! Issue 100 credentials from one role through the provider's Vault client, and 100
//! through a bare HTTP GET of the same path, interleaved in one run; report both medians
//! and their ratio (target: at most 1.2). Uses the local OpenBao and PostgreSQL
//! (`make services`) and removes everything it made.

use std::time::{Duration, Instant};

use dbaas::backends::vault::Vault;
use dbaas::secret::Secret;
use serde_json::json;

const ADDRESS: &str = "http://127.0.0.1:8200";
const SAMPLES: usize = 100;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mount = format!("bench-creds-{}", std::process::id());
    let role = "bench";
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let request = http.request(method, format!("{ADDRESS}/v1/{path}")).header("X-Vault-Token", "root");
        async move {
            let request = match body {
                Some(b) => request.json(&b),
                None => request,
            };
            let response = request.send().await.expect("OpenBao answers (run `make services`)");
            assert!(response.status().is_success(), "{path}: {}", response.text().await.unwrap_or_default());
        }
    };
    call(reqwest::Method::POST, format!("sys/mounts/{mount}"), Some(json!({"type": "database"}))).await;
    call(
        reqwest::Method::POST,
        format!("{mount}/config/bench"),
        Some(json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable",
            "username": "postgres",
            "password": "unused-with-trust",
            "allowed_roles": [role],
        })),
    )
    .await;
    call(
        reqwest::Method::POST,
        format!("{mount}/roles/{role}"),
        Some(json!({
            "db_name": "bench",
            "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
            "default_ttl": "1h",
        })),
    )
    .await;

    let client = Vault::new(ADDRESS, Some(Secret::new("root")), None, Default::default());
    let path = format!("{ADDRESS}/v1/{mount}/creds/{role}");
    // Warm both paths (connections, the plugin's pool).
    client.issue_credentials(&mount, role).await.unwrap();
    http.get(&path).header("X-Vault-Token", "root").send().await.unwrap();

    let (mut provider, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let creds = client.issue_credentials(&mount, role).await.unwrap();
        provider.push(t.elapsed());
        assert!(!creds.username.is_empty());

        let t = Instant::now();
        let response = http.get(&path).header("X-Vault-Token", "root").send().await.unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        bare.push(t.elapsed());
        assert!(body["data"]["username"].is_string());
    }
    let (p, b) = (median(provider), median(bare));
    let ratio = p.as_secs_f64() / b.as_secs_f64();
    println!("  credentials via the provider's client  {:7.2} ms (median of {SAMPLES})", p.as_secs_f64() * 1000.0);
    println!(
        "  credentials via a bare HTTP GET        {:7.2} ms (median of {SAMPLES}, interleaved)",
        b.as_secs_f64() * 1000.0
    );
    println!("  ratio                                  {ratio:7.2}   (target <= 1.2)");

    // Revoke what was issued (every user it created), then remove the mount.
    call(reqwest::Method::PUT, format!("sys/leases/revoke-prefix/{mount}/creds/{role}?sync=true"), Some(json!({})))
        .await;
    call(reqwest::Method::DELETE, format!("sys/mounts/{mount}"), None).await;
    if ratio > 1.2 {
        eprintln!("target missed: credentials ratio");
        std::process::exit(1);
    }
}
