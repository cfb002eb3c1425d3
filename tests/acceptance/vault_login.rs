//! Logging in to Vault without a static token, as CI jobs and pods do: AppRole; a JWT
//! signed with a key the test makes (a CI job's OIDC token stands in the same place); and
//! Kubernetes, with OpenBao's kubernetes auth pointed at a TokenReview stand-in the test
//! serves over HTTPS (the real Kubernetes API is the one part not exercised). Against the
//! real OpenBao: the stack applies and destroys with the login's token, and no token of
//! the login outlives the provider processes.

use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value as Json, json};

use crate::util::*;

/// A policy that lets the provider do everything it does, for the login's tokens.
fn policy(c: &Cleanup) -> String {
    let name = format!("{}-login", c.mount);
    let hcl = "path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }";
    vault("PUT", &format!("sys/policies/acl/{name}"), Some(&json!({ "policy": hcl })));
    name
}

fn stack(c: &Cleanup, name: &str, login: &str) -> String {
    Stack::default().postgres(5432, "").vault(&c.mount, login).main_tf(&format!(
        r#"
resource "dbaas_shared_database" "db" {{
  name            = "{name}"
  engine          = "postgresql"
  deletion_policy = "drop"
}}
resource "dbaas_rotated_role" "app" {{
  database = dbaas_shared_database.db.id
  name     = "app"
}}
"#
    ))
}

/// Tokens that the auth mount `mount` issued and that are still valid.
fn live_tokens_of(mount: &str) -> usize {
    let listed = vault("LIST", "auth/token/accessors", None);
    let accessors: Vec<String> = listed["data"]["keys"]
        .as_array()
        .map(|keys| keys.iter().filter_map(Json::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    accessors
        .iter()
        .filter(|accessor| {
            let token = vault("POST", "auth/token/lookup-accessor", Some(&json!({ "accessor": accessor })));
            token["data"]["path"].as_str().is_some_and(|p| p.starts_with(&format!("auth/{mount}/")))
        })
        .count()
}

/// Apply, an empty plan, destroy: every provider process logs in, and revokes its token on
/// the way out.
fn story(c: &Cleanup, test: &str, auth_mount: &str, login: &str) {
    let tf = &terraforms()[0];
    let name = format!("{}{}", c.prefix, &test[test.len() - 1..]);
    let ws = Workspace::new(tf, test, &stack(c, &name, login));
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let issued = vault("GET", &format!("{}/creds/postgres-{name}-app", c.mount), None);
    assert!(issued["data"]["username"].is_string(), "the role the login made issues nothing: {issued}");
    ws.destroy();
    assert_eq!(psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
    assert_eq!(live_tokens_of(auth_mount), 0, "a login token outlived its provider process");
}

#[test]
fn approle_login() {
    require_services();
    let c = Cleanup::new("loginapprole");
    let auth_mount = format!("{}-approle", c.mount);
    let policy = policy(&c);
    vault("POST", &format!("sys/auth/{auth_mount}"), Some(&json!({ "type": "approle" })));
    vault(
        "POST",
        &format!("auth/{auth_mount}/role/ci"),
        Some(&json!({ "token_policies": [policy], "token_ttl": "1h", "secret_id_num_uses": 0 })),
    );
    let role_id = vault("GET", &format!("auth/{auth_mount}/role/ci/role-id"), None)["data"]["role_id"]
        .as_str()
        .expect("a role ID")
        .to_owned();
    let secret_id =
        vault("POST", &format!("auth/{auth_mount}/role/ci/secret-id"), Some(&json!({})))["data"]["secret_id"]
            .as_str()
            .expect("a secret ID")
            .to_owned();
    let login = format!(
        "auth_login_approle {{\n      mount     = \"{auth_mount}\"\n      role_id   = \"{role_id}\"\n      secret_id = \"{secret_id}\"\n    }}"
    );
    story(&c, "loginapprole1", &auth_mount, &login);
    vault("DELETE", &format!("sys/auth/{auth_mount}"), None);
    vault("DELETE", &format!("sys/policies/acl/{policy}"), None);
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn jwt_login_with_a_key_the_test_makes() {
    require_services();
    let c = Cleanup::new("loginjwt");
    let auth_mount = format!("{}-jwt", c.mount);
    let policy = policy(&c);
    // An Ed25519 key: the public half goes to Vault as PEM, the private half signs.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("a key");
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("a key pair");
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(key.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    vault("POST", &format!("sys/auth/{auth_mount}"), Some(&json!({ "type": "jwt" })));
    vault("POST", &format!("auth/{auth_mount}/config"), Some(&json!({ "jwt_validation_pubkeys": [pem] })));
    vault(
        "POST",
        &format!("auth/{auth_mount}/role/ci"),
        Some(&json!({
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["dbaas-acceptance"],
            "token_policies": [policy], "token_ttl": "1h",
        })),
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = b64(json!({ "alg": "EdDSA", "typ": "JWT" }).to_string().as_bytes());
    let claims =
        b64(json!({ "sub": "ci-job", "aud": "dbaas-acceptance", "iat": now, "nbf": now - 5, "exp": now + 600 })
            .to_string()
            .as_bytes());
    let signed = format!("{header}.{claims}");
    let jwt = format!("{signed}.{}", b64(key.sign(signed.as_bytes()).as_ref()));
    let login = format!(
        "auth_login_jwt {{\n      mount = \"{auth_mount}\"\n      role  = \"ci\"\n      jwt   = \"{jwt}\"\n    }}"
    );
    story(&c, "loginjwt1", &auth_mount, &login);

    // A JWT for another audience is refused, and the error says the login failed.
    let tf = &terraforms()[0];
    let bad_claims =
        b64(json!({ "sub": "x", "aud": "someone-else", "iat": now, "exp": now + 600 }).to_string().as_bytes());
    let bad_signed = format!("{header}.{bad_claims}");
    let bad = format!("{bad_signed}.{}", b64(key.sign(bad_signed.as_bytes()).as_ref()));
    let ws = Workspace::new(tf, "loginjwtbad", &stack(&c, &format!("{}x", c.prefix), &login.replace(&jwt, &bad)));
    ws.init();
    let out = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    assert!(out.contains("Vault login failed"), "{out}");

    vault("DELETE", &format!("sys/auth/{auth_mount}"), None);
    vault("DELETE", &format!("sys/policies/acl/{policy}"), None);
}

/// A stand-in for the Kubernetes API's TokenReview endpoint, over HTTPS with a certificate
/// from `dir` (openssl-made): it vouches for exactly one token, as the service account
/// `ns/sa`. The real Kubernetes API is the one part not exercised.
fn token_review_server(dir: &std::path::Path, token: String) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join("server.pem")).unwrap().collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, token) = (config.clone(), token.clone());
            std::thread::spawn(move || {
                let mut conn = rustls::ServerConnection::new(config).unwrap();
                let mut stream = stream;
                let mut tls = rustls::Stream::new(&mut conn, &mut stream);
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then Content-Length bytes of body.
                let body = loop {
                    let Ok(n) = tls.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break request[end + 4..end + 4 + length].to_vec();
                        }
                    }
                };
                let review: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
                let authenticated = review["spec"]["token"].as_str() == Some(token.as_str());
                let answer = json!({
                    "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                    "status": {
                        "authenticated": authenticated,
                        "user": { "username": "system:serviceaccount:ns:sa", "uid": "uid-1", "groups": ["system:serviceaccounts"] }
                    }
                })
                .to_string();
                let _ = write!(
                    tls,
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = tls.flush();
            });
        }
    });
    port
}

#[test]
fn kubernetes_login_against_a_token_review_stand_in() {
    require_services();
    let c = Cleanup::new("loginkube");
    let auth_mount = format!("{}-kube", c.mount);
    let policy = policy(&c);
    let dir = std::env::temp_dir().join(format!("tfacc-kube-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    crate::chaos::tls_files(&dir);
    // The pod's service-account token: a JWT with Kubernetes' claims, signed (ES256).
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = b64(json!({ "alg": "ES256", "typ": "JWT" }).to_string().as_bytes());
    let claims = b64(json!({
        "iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:ns:sa",
        "kubernetes.io/serviceaccount/namespace": "ns",
        "kubernetes.io/serviceaccount/service-account.name": "sa",
        "kubernetes.io/serviceaccount/service-account.uid": "uid-1",
        "iat": now, "exp": now + 600,
    })
    .to_string()
    .as_bytes());
    let signed = format!("{header}.{claims}");
    let jwt = format!("{signed}.{}", b64(key.sign(&rng, signed.as_bytes()).unwrap().as_ref()));
    let jwt_file = dir.join("token");
    std::fs::write(&jwt_file, &jwt).unwrap();
    let port = token_review_server(&dir, jwt.clone());

    vault("POST", &format!("sys/auth/{auth_mount}"), Some(&json!({ "type": "kubernetes" })));
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    vault(
        "POST",
        &format!("auth/{auth_mount}/config"),
        Some(&json!({
            "kubernetes_host": format!("https://127.0.0.1:{port}"), "kubernetes_ca_cert": ca,
            "token_reviewer_jwt": "reviewer", "disable_local_ca_jwt": true,
        })),
    );
    vault(
        "POST",
        &format!("auth/{auth_mount}/role/app"),
        Some(&json!({
            "bound_service_account_names": ["sa"], "bound_service_account_namespaces": ["ns"],
            "token_policies": [policy], "token_ttl": "1h",
        })),
    );
    let login = format!(
        "auth_login_kubernetes {{\n      mount    = \"{auth_mount}\"\n      role     = \"app\"\n      jwt_file = \"{}\"\n    }}",
        jwt_file.display()
    );
    story(&c, "loginkube1", &auth_mount, &login);
    vault("DELETE", &format!("sys/auth/{auth_mount}"), None);
    vault("DELETE", &format!("sys/policies/acl/{policy}"), None);
    let _ = std::fs::remove_dir_all(&dir);
}
