//! Vault (or OpenBao) over its HTTP API: KV v2, the database secrets engine, leases.
//!
//! Written over reqwest rather than vaultrs: vaultrs 0.8 types only PostgreSQL connection
//! requests (not MySQL or Redis plugin fields) and has no `sys/leases/revoke-prefix`,
//! both of which the provider needs; the endpoints used here are a dozen JSON calls.
//!
//! Here: the client, its login and the one place requests are sent; KV v2 in `kv`, the
//! database secrets engine in `database`.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value as Json, json};

use super::deadline::{Deadline, Interrupted};
use super::retry;
use crate::secret::Secret;

mod database;
mod kv;

/// What can go wrong talking to Vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// Vault could not be reached at all.
    #[error("cannot reach Vault at {address}: {source}")]
    Unreachable {
        /// The configured address.
        address: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The token lacks a permission, or is invalid.
    #[error("Vault refused {path}: permission denied (check the token's policies)")]
    PermissionDenied {
        /// The API path.
        path: String,
    },
    /// Vault refused the token itself: expired, revoked, or never valid.
    #[error(
        "Vault refused {path}: the token is expired, revoked or not valid (it may not even look itself up); log in again or give the provider a current token"
    )]
    TokenRejected {
        /// The API path.
        path: String,
    },
    /// Vault answered with an error.
    #[error("Vault {method} {path} failed with HTTP {status}: {message}")]
    Api {
        /// HTTP method.
        method: String,
        /// The API path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Vault's `errors`, joined.
        message: String,
    },
    /// A secret exists but lacks an expected field.
    #[error("Vault secret {path} has no {field:?} field")]
    MissingField {
        /// The secret's path.
        path: String,
        /// The field.
        field: &'static str,
    },
    /// No answer within the deadline.
    #[error("Vault at {address} timed out: no answer within {}s", .waited.as_secs())]
    TimedOut {
        /// The configured address.
        address: String,
        /// How long it waited.
        waited: Duration,
    },
    /// Terraform asked the provider to stop.
    #[error("stopped: Terraform asked the provider to stop")]
    Stopped,
    /// Logging in failed.
    #[error("logging in to Vault at auth/{mount} failed: {message}")]
    Login {
        /// The auth mount.
        mount: String,
        /// Why.
        message: String,
    },
}

impl VaultError {
    /// Only what certainly did not reach Vault, or what Vault says to try again: a request
    /// that timed out may have been carried out, and a 500 may have half-applied. One 500
    /// is known to have applied nothing: OpenBao's transactional storage refusing to commit
    /// a write that met another (`transaction commit failed`), which its own clients retry.
    fn is_transient(&self) -> bool {
        match self {
            VaultError::Unreachable { source, .. } => source.is_connect(),
            VaultError::Api { status, message, .. } => {
                *status == 503 || *status == 429 || (*status == 500 && message.contains("transaction commit failed"))
            }
            _ => false,
        }
    }
}

/// Whether a new connection's own password is rotated by Vault right after it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootRotation {
    /// Rotate it now: the server was sent the password itself (MySQL, Redis), which a
    /// statement or command log may have kept.
    Now,
    /// No need: the password was made for Vault alone and the server was given only its
    /// SCRAM verifier (PostgreSQL). Rotating would cost three more server connections
    /// per database (Vault keeps none idle) and prove nothing the write's check did not.
    NotNeeded,
}

/// `POST {mount}/config/:name`: a database connection.
#[derive(Debug, Serialize)]
pub struct ConnectionConfig {
    /// The plugin and its own fields.
    #[serde(flatten)]
    pub plugin: Plugin,
    /// The login Vault manages the database with.
    pub username: String,
    /// Its first password, rotated away at once.
    #[serde(serialize_with = "expose")]
    pub password: Secret,
    /// Roles that may use the connection.
    pub allowed_roles: Vec<String>,
    /// Vault logs in before it stores the connection.
    pub verify_connection: bool,
}

/// The database plugin of a connection, with the fields only it takes.
#[derive(Debug, Serialize)]
#[serde(tag = "plugin_name")]
pub enum Plugin {
    /// `postgresql-database-plugin`.
    #[serde(rename = "postgresql-database-plugin")]
    Postgresql {
        /// With `{{username}}` and `{{password}}` placeholders.
        connection_url: String,
        /// `scram-sha-256`.
        password_authentication: &'static str,
        /// How many connections Vault keeps to the database.
        #[serde(flatten)]
        pool: SqlPool,
    },
    /// `mysql-database-plugin`.
    #[serde(rename = "mysql-database-plugin")]
    Mysql {
        /// With `{{username}}` and `{{password}}` placeholders.
        connection_url: String,
        /// How issued users are named.
        username_template: &'static str,
        /// What rotating the login's own password runs.
        root_rotation_statements: Vec<String>,
        /// How many connections Vault keeps to the database.
        #[serde(flatten)]
        pool: SqlPool,
    },
    /// `redis-database-plugin`.
    #[serde(rename = "redis-database-plugin")]
    Redis {
        /// The primary's host.
        host: String,
        /// Its port.
        port: u16,
        /// Connect with TLS.
        tls: bool,
        /// The CA to verify the server with (PEM), under TLS.
        #[serde(skip_serializing_if = "Option::is_none")]
        ca_cert: Option<String>,
    },
}

/// The connection-pool fields of Vault's SQL database plugins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SqlPool {
    /// At once.
    pub max_open_connections: u32,
    /// Idle; -1 for none (Vault reads 0 as `max_open_connections`).
    pub max_idle_connections: i64,
    /// The oldest a connection may get, in Vault's duration form (`30s`).
    pub max_connection_lifetime: String,
}

impl SqlPool {
    /// Whether a connection as Vault reports it (`data.connection_details`) has these limits.
    pub fn matches(&self, details: &Json) -> bool {
        details["max_open_connections"].as_u64() == Some(u64::from(self.max_open_connections))
            && details["max_idle_connections"].as_i64() == Some(self.max_idle_connections)
            // Vault answers in Go's form: "5m0s" for "300s".
            && details["max_connection_lifetime"].as_str().and_then(|d| crate::duration::parse_duration(d).ok())
                == crate::duration::parse_duration(&self.max_connection_lifetime).ok()
    }
}

/// `POST {mount}/roles/:name`: a dynamic role.
#[derive(Debug, Serialize)]
pub struct DynamicRole {
    /// The connection it issues through.
    pub db_name: String,
    /// Run to create a user.
    pub creation_statements: Vec<String>,
    /// Run to drop one (the plugin's default when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocation_statements: Vec<String>,
    /// Run to extend a user's lease (the plugin's default when empty). Always sent, so a
    /// role that no longer needs its own renewal loses it.
    pub renew_statements: Vec<String>,
    /// Seconds.
    pub default_ttl: u64,
    /// Seconds.
    pub max_ttl: u64,
}

/// `POST {mount}/static-roles/:name`: a static role.
#[derive(Debug, Serialize)]
pub struct StaticRole {
    /// The connection.
    pub db_name: String,
    /// The existing login whose password Vault rotates.
    pub username: String,
    /// Seconds.
    pub rotation_period: u64,
    /// What Vault runs to set a new password; empty: the plugin's own `ALTER ROLE`.
    pub rotation_statements: Vec<String>,
}

fn expose<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

/// When a login's token should be renewed: after a third of its lease.
fn logged_in(token: Secret, answer: &Json) -> LoggedIn {
    let seconds = answer["auth"]["lease_duration"].as_u64().unwrap_or(0);
    let renewable = answer["auth"]["renewable"].as_bool().unwrap_or(false);
    // A token without a lease never needs renewing (a provider process lives minutes).
    let renew_in = if seconds == 0 { Duration::from_secs(86_400) } else { Duration::from_secs(seconds / 3) };
    LoggedIn { token, renew_after: std::time::Instant::now() + renew_in, renewable }
}

/// How long a listing of connections serves existence checks in one provider process.
const LISTING_TTL: Duration = Duration::from_secs(10);

/// Connection names of one mount, and when they were listed.
type Listing = (std::time::Instant, std::sync::Arc<Vec<String>>);

/// How the client logs in when it is given no token, named as in the Vault provider.
#[derive(Clone, Debug)]
pub enum Login {
    /// `auth/<mount>/login` with a role ID and a secret ID.
    AppRole {
        /// Auth mount.
        mount: String,
        /// Role ID.
        role_id: String,
        /// Secret ID.
        secret_id: Secret,
    },
    /// `auth/<mount>/login` with a role and a signed JWT.
    Jwt {
        /// Auth mount.
        mount: String,
        /// Role.
        role: String,
        /// The JWT.
        jwt: Secret,
    },
    /// `auth/<mount>/login` with a role and the service-account token from a file.
    Kubernetes {
        /// Auth mount.
        mount: String,
        /// Role.
        role: String,
        /// The token file.
        jwt_file: String,
    },
}

/// A token from a login, and when to renew it.
struct LoggedIn {
    token: Secret,
    renew_after: std::time::Instant,
    renewable: bool,
}

/// A Vault client for one address, with a token or a login.
pub struct Vault {
    http: reqwest::Client,
    deadline: Deadline,
    address: String,
    token: Option<Secret>,
    login: Option<Login>,
    logged_in: tokio::sync::Mutex<Option<LoggedIn>>,
    namespace: Option<String>,
    /// Connection names per mount, so a refresh of many databases lists once.
    connections: tokio::sync::Mutex<BTreeMap<String, Listing>>,
    /// Held across the read and the write of a connection's `allowed_roles`: Terraform
    /// applies a stack's roles at once, and two keeping their own names on one connection
    /// would each write the list it read, without the other's role (Vault has no
    /// check-and-set on connections).
    allowed_roles: tokio::sync::Mutex<()>,
}

/// Dynamic credentials issued by a role.
#[derive(Debug, Clone)]
pub struct IssuedCredentials {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// The lease, for renewal and revocation.
    pub lease_id: String,
    /// Seconds the lease lasts.
    pub lease_duration: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
}

impl Vault {
    /// A client; it connects on the first call.
    pub fn new(address: &str, token: Option<Secret>, namespace: Option<String>, deadline: Deadline) -> Vault {
        Vault::with_login(address, token, None, namespace, deadline)
    }

    /// A client that logs in with `login` (when given) on its first call, renews the token
    /// while it is used, and revokes it in [`Vault::logout`].
    pub fn with_login(
        address: &str,
        token: Option<Secret>,
        login: Option<Login>,
        namespace: Option<String>,
        deadline: Deadline,
    ) -> Vault {
        let http = reqwest::Client::builder()
            .timeout(deadline.timeout)
            .connect_timeout(deadline.timeout.min(Duration::from_secs(5)))
            // Loading the system's root certificates costs milliseconds at every provider
            // start; a plain-HTTP address (a dev server) never needs them.
            .tls_built_in_root_certs(address.starts_with("https://"))
            .build()
            .expect("a TLS backend is compiled in");
        Vault {
            http,
            deadline,
            address: address.trim_end_matches('/').to_owned(),
            token,
            login,
            logged_in: tokio::sync::Mutex::new(None),
            namespace,
            connections: tokio::sync::Mutex::new(BTreeMap::new()),
            allowed_roles: tokio::sync::Mutex::new(()),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Json>) -> Result<Option<Json>, VaultError> {
        let attempts = retry::transient(|| self.call_once(method.clone(), path, body), VaultError::is_transient);
        match self.deadline.run(attempts).await {
            Ok(result) => result,
            Err(Interrupted::TimedOut(waited)) => Err(VaultError::TimedOut { address: self.address.clone(), waited }),
            Err(Interrupted::Stopped) => Err(VaultError::Stopped),
        }
    }

    async fn call_once(&self, method: Method, path: &str, body: Option<&Json>) -> Result<Option<Json>, VaultError> {
        let token = self.current_token().await?;
        self.send(method, path, body, token.as_ref()).await
    }

    /// The token to send: the given one, or the login's (logging in, or renewing, first).
    async fn current_token(&self) -> Result<Option<Secret>, VaultError> {
        let Some(login) = &self.login else { return Ok(self.token.clone()) };
        let mut held = self.logged_in.lock().await;
        if let Some(h) = held.as_ref() {
            if std::time::Instant::now() < h.renew_after {
                return Ok(Some(h.token.clone()));
            }
            if h.renewable
                && let Ok(Some(renewed)) =
                    self.send(Method::POST, "auth/token/renew-self", Some(&json!({})), Some(&h.token)).await
            {
                let token = h.token.clone();
                *held = Some(logged_in(token.clone(), &renewed));
                return Ok(Some(token));
            }
        }
        let (mount, body) = match login {
            Login::AppRole { mount, role_id, secret_id } => {
                (mount, json!({ "role_id": role_id, "secret_id": secret_id.expose() }))
            }
            Login::Jwt { mount, role, jwt } => (mount, json!({ "role": role, "jwt": jwt.expose() })),
            Login::Kubernetes { mount, role, jwt_file } => {
                let jwt = std::fs::read_to_string(jwt_file).map_err(|e| VaultError::Login {
                    mount: mount.clone(),
                    message: format!("cannot read the service-account token {jwt_file}: {e}"),
                })?;
                (mount, json!({ "role": role, "jwt": jwt.trim() }))
            }
        };
        let answer = self
            .send(Method::POST, &format!("auth/{mount}/login"), Some(&body), None)
            .await
            .map_err(|e| VaultError::Login { mount: mount.clone(), message: e.to_string() })?;
        let Some(token) = answer.as_ref().and_then(|a| a["auth"]["client_token"].as_str()).map(Secret::new) else {
            return Err(VaultError::Login { mount: mount.clone(), message: "Vault returned no token".into() });
        };
        *held = Some(logged_in(token.clone(), answer.as_ref().unwrap_or(&Json::Null)));
        Ok(Some(token))
    }

    /// Revokes the token a login got, if any: the provider is exiting.
    pub async fn logout(&self) {
        let held = self.logged_in.lock().await.take();
        if let Some(h) = held {
            let _ = self.send(Method::POST, "auth/token/revoke-self", Some(&json!({})), Some(&h.token)).await;
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
        token: Option<&Secret>,
    ) -> Result<Option<Json>, VaultError> {
        let url = format!("{}/v1/{}", self.address, path.trim_start_matches('/'));
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token.expose());
        }
        if let Some(ns) = &self.namespace {
            request = request.header("X-Vault-Namespace", ns);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|source| {
            if source.is_timeout() {
                // The client's own bound is the deadline's.
                VaultError::TimedOut { address: self.address.clone(), waited: self.deadline.timeout }
            } else {
                VaultError::Unreachable { address: self.address.clone(), source }
            }
        })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let text = response.text().await.unwrap_or_default();
        if status == StatusCode::FORBIDDEN {
            // Vault answers an expired or revoked token as it answers a missing policy. A
            // valid token may always look itself up: if even that is refused, it is the token.
            let own = "auth/token/lookup-self";
            if path != own
                && let Some(token) = token
                && let Err(VaultError::PermissionDenied { .. }) =
                    Box::pin(self.send(Method::GET, own, None, Some(token))).await
            {
                return Err(VaultError::TokenRejected { path: path.to_owned() });
            }
            return Err(VaultError::PermissionDenied { path: path.to_owned() });
        }
        if !status.is_success() {
            let message = serde_json::from_str::<Json>(&text)
                .ok()
                .and_then(|j| {
                    j["errors"].as_array().map(|e| e.iter().filter_map(Json::as_str).collect::<Vec<_>>().join("; "))
                })
                .unwrap_or(text);
            return Err(VaultError::Api {
                method: method.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        if text.trim().is_empty() {
            return Ok(Some(Json::Null));
        }
        Ok(Some(serde_json::from_str(&text).unwrap_or(Json::Null)))
    }
}

/// The `allowed_roles` of a connection as [`Vault::read_connection`] returns it.
pub fn allowed_roles(connection: &Json) -> Vec<String> {
    connection["allowed_roles"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_owned)).collect()
}

/// Whether an `allowed_roles` entry lets `role` use the connection: Vault's own rule, a
/// name or a glob with `*` (here only trailing, as the provider writes them).
fn role_allowed_by(pattern: &str, role: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => role.starts_with(prefix),
        None => pattern == role,
    }
}
