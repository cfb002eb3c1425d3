//! Vault (or OpenBao) over its HTTP API: KV v2, the database secrets engine, leases.
//!
//! Written over reqwest rather than vaultrs: vaultrs 0.8 types only PostgreSQL connection
//! requests (not MySQL or Redis plugin fields) and has no `sys/leases/revoke-prefix`,
//! both of which the provider needs; the endpoints used here are a dozen JSON calls.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value as Json, json};

use super::deadline::{Deadline, Interrupted};
use super::retry;
use crate::secret::Secret;

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
    /// that timed out may have been carried out, and a 500 may have half-applied.
    fn is_transient(&self) -> bool {
        match self {
            VaultError::Unreachable { source, .. } => source.is_connect(),
            VaultError::Api { status, .. } => *status == 503 || *status == 429,
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

    /// Reads a KV v2 secret's data; `None` when it does not exist.
    ///
    /// # Errors
    /// [`VaultError`] when Vault is unreachable or refuses.
    pub async fn kv_read(&self, mount: &str, path: &str) -> Result<Option<BTreeMap<String, Json>>, VaultError> {
        let data = self.call(Method::GET, &format!("{mount}/data/{path}"), None).await?;
        Ok(data.and_then(|d| serde_json::from_value(d["data"]["data"].clone()).ok()))
    }

    /// A KV v2 secret's string field `field` and the secret's current version (what a
    /// check-and-set write compares against); `(None, 0)` when there is no secret.
    ///
    /// # Errors
    /// [`VaultError`] when Vault is unreachable or refuses.
    pub async fn kv_field_versioned(
        &self,
        mount: &str,
        path: &str,
        field: &str,
    ) -> Result<(Option<String>, u64), VaultError> {
        if let Some(reply) = self.call(Method::GET, &format!("{mount}/data/{path}"), None).await?
            && let Some(version) = reply["data"]["metadata"]["version"].as_u64()
        {
            return Ok((reply["data"]["data"][field].as_str().map(str::to_owned), version));
        }
        // No data: no secret, or its latest version was deleted (the version still counts).
        let metadata = self.call(Method::GET, &format!("{mount}/metadata/{path}"), None).await?;
        Ok((None, metadata.and_then(|m| m["data"]["current_version"].as_u64()).unwrap_or(0)))
    }

    /// Writes a KV v2 secret if its current version still is `version` (check-and-set);
    /// false when another writer came first.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_write_if(&self, mount: &str, path: &str, data: &Json, version: u64) -> Result<bool, VaultError> {
        let body = json!({ "options": { "cas": version }, "data": data });
        match self.call(Method::POST, &format!("{mount}/data/{path}"), Some(&body)).await {
            Err(VaultError::Api { status: 400, message, .. }) if message.contains("check-and-set") => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Reads `username` and `password` from a KV v2 secret.
    ///
    /// # Errors
    /// [`VaultError::MissingField`] when the secret lacks either, [`VaultError`] otherwise.
    pub async fn kv_credentials(&self, mount: &str, path: &str) -> Result<(String, Secret), VaultError> {
        let full = format!("{mount}/data/{path}");
        let data = self
            .kv_read(mount, path)
            .await?
            .ok_or(VaultError::MissingField { path: full.clone(), field: "username" })?;
        let field = |name: &'static str| {
            data.get(name)
                .and_then(Json::as_str)
                .map(str::to_owned)
                .ok_or(VaultError::MissingField { path: full.clone(), field: name })
        };
        Ok((field("username")?, Secret::new(field("password")?)))
    }

    /// Writes a KV v2 secret.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_write(&self, mount: &str, path: &str, data: &Json) -> Result<(), VaultError> {
        self.call(Method::POST, &format!("{mount}/data/{path}"), Some(&json!({ "data": data }))).await.map(drop)
    }

    /// Creates a KV v2 secret only if none exists at `path` (check-and-set 0), and marks it
    /// with `custom_metadata`; false when one already exists.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_create(
        &self,
        mount: &str,
        path: &str,
        data: &Json,
        custom_metadata: &BTreeMap<String, String>,
    ) -> Result<bool, VaultError> {
        let body = json!({ "options": { "cas": 0 }, "data": data });
        match self.call(Method::POST, &format!("{mount}/data/{path}"), Some(&body)).await {
            Err(VaultError::Api { status: 400, message, .. }) if message.contains("check-and-set") => return Ok(false),
            other => other?,
        };
        self.kv_set_metadata(mount, path, custom_metadata).await?;
        Ok(true)
    }

    /// Sets a KV v2 secret's `custom_metadata`.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_set_metadata(
        &self,
        mount: &str,
        path: &str,
        custom_metadata: &BTreeMap<String, String>,
    ) -> Result<(), VaultError> {
        let body = json!({ "custom_metadata": custom_metadata });
        self.call(Method::POST, &format!("{mount}/metadata/{path}"), Some(&body)).await.map(drop)
    }

    /// A KV v2 secret's `custom_metadata` (empty when it has none); `None` when no secret
    /// exists at `path`.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_metadata(&self, mount: &str, path: &str) -> Result<Option<BTreeMap<String, String>>, VaultError> {
        let Some(reply) = self.call(Method::GET, &format!("{mount}/metadata/{path}"), None).await? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_value(reply["data"]["custom_metadata"].clone()).unwrap_or_default()))
    }

    /// Deletes a KV v2 secret with all its versions.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_delete(&self, mount: &str, path: &str) -> Result<(), VaultError> {
        self.call(Method::DELETE, &format!("{mount}/metadata/{path}"), None).await.map(drop)
    }

    /// Mounts the database secrets engine at `mount` unless something is mounted there.
    /// Only ever called during apply.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn ensure_database_mount(&self, mount: &str) -> Result<(), VaultError> {
        if self.is_mounted(mount).await? {
            return Ok(());
        }
        match self.call(Method::POST, &format!("sys/mounts/{mount}"), Some(&json!({"type": "database"}))).await {
            // Another resource or stack may have mounted it a moment ago.
            Err(e @ VaultError::Api { status: 400, .. }) => {
                if self.is_mounted(mount).await? {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            other => other.map(drop),
        }
    }

    /// Whether something is mounted at `mount`, asked of that mount's own entry: the token
    /// needs `read` on `sys/mounts/<mount>` alone, not on the list of every tenant's
    /// engines, and the answer does not grow with that list. A token allowed only the whole
    /// list (the policy 0.1 documented) is still served, from the list.
    async fn is_mounted(&self, mount: &str) -> Result<bool, VaultError> {
        match self.call(Method::GET, &format!("sys/mounts/{mount}"), None).await {
            Ok(entry) => Ok(entry.is_some()),
            // "No secret engine mount at <mount>/".
            Err(VaultError::Api { status: 400, .. }) => Ok(false),
            Err(VaultError::PermissionDenied { .. }) => {
                let mounts = self.call(Method::GET, "sys/mounts", None).await?.unwrap_or_default();
                let key = format!("{mount}/");
                Ok(mounts.get(&key).is_some() || mounts["data"].get(&key).is_some())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes a database connection (`{mount}/config/{name}`); `config` holds the plugin's fields.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses, e.g. because it cannot connect with `config`.
    pub async fn write_connection(&self, mount: &str, name: &str, config: &ConnectionConfig) -> Result<(), VaultError> {
        self.connections.lock().await.remove(mount);
        let body = serde_json::to_value(config).unwrap_or_default();
        self.call(Method::POST, &format!("{mount}/config/{name}"), Some(&body)).await.map(drop)
    }

    /// Whether connection `name` exists on `mount`, from one listing per mount that serves
    /// every check for a few seconds. A name the listing lacks is confirmed with a direct
    /// read: a listing taken just before a write may be cached just after it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn connection_exists(&self, mount: &str, name: &str) -> Result<bool, VaultError> {
        if self.listed_connection(mount, name).await? {
            return Ok(true);
        }
        Ok(self.read_connection(mount, name).await?.is_some())
    }

    async fn listed_connection(&self, mount: &str, name: &str) -> Result<bool, VaultError> {
        let mut cache = self.connections.lock().await;
        if let Some((at, names)) = cache.get(mount)
            && at.elapsed() < LISTING_TTL
        {
            return Ok(names.iter().any(|n| n == name));
        }
        let names = self.list(&format!("{mount}/config")).await?;
        let found = names.iter().any(|n| n == name);
        cache.insert(mount.to_owned(), (std::time::Instant::now(), std::sync::Arc::new(names)));
        Ok(found)
    }

    /// Creates a database connection as this provider does: the engine mounted at `mount`
    /// if it is not yet, the connection written (Vault checks it can log in), then, when
    /// `rotation` asks for it, its own password rotated, so that only Vault knows it.
    ///
    /// # Errors
    /// [`VaultError`] from whichever step Vault refused.
    pub async fn create_connection(
        &self,
        mount: &str,
        name: &str,
        config: &ConnectionConfig,
        rotation: RootRotation,
    ) -> Result<(), VaultError> {
        self.ensure_database_mount(mount).await?;
        self.write_connection(mount, name, config).await?;
        match rotation {
            RootRotation::Now => self.rotate_root(mount, name).await,
            RootRotation::NotNeeded => Ok(()),
        }
    }

    /// Lets `role` issue through connection `name` (the connection must exist): adds it to
    /// the connection's `allowed_roles` unless an entry there covers it already. Only that
    /// field is written; Vault keeps the rest, the password included.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn allow_role(&self, mount: &str, name: &str, role: &str) -> Result<(), VaultError> {
        let _one_writer = self.allowed_roles.lock().await;
        let Some(connection) = self.read_connection(mount, name).await? else { return Ok(()) };
        let mut allowed = allowed_roles(&connection);
        if allowed.iter().any(|pattern| role_allowed_by(pattern, role)) {
            return Ok(());
        }
        allowed.push(role.to_owned());
        self.write_allowed_roles(mount, name, &allowed).await
    }

    /// Takes `role` itself (not a pattern covering it) off connection `name`'s
    /// `allowed_roles`, where [`Vault::allow_role`] put it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn disallow_role(&self, mount: &str, name: &str, role: &str) -> Result<(), VaultError> {
        let _one_writer = self.allowed_roles.lock().await;
        let Some(connection) = self.read_connection(mount, name).await? else { return Ok(()) };
        let allowed = allowed_roles(&connection);
        if !allowed.iter().any(|r| r == role) {
            return Ok(());
        }
        let kept: Vec<String> = allowed.into_iter().filter(|r| r != role).collect();
        self.write_allowed_roles(mount, name, &kept).await
    }

    async fn write_allowed_roles(&self, mount: &str, name: &str, allowed: &[String]) -> Result<(), VaultError> {
        let body = json!({ "allowed_roles": allowed, "verify_connection": false });
        self.call(Method::POST, &format!("{mount}/config/{name}"), Some(&body)).await.map(drop)
    }

    /// Reads a database connection; `None` when it does not exist.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn read_connection(&self, mount: &str, name: &str) -> Result<Option<Json>, VaultError> {
        Ok(self.call(Method::GET, &format!("{mount}/config/{name}"), None).await?.map(|j| j["data"].clone()))
    }

    /// Deletes a database connection.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn delete_connection(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.connections.lock().await.remove(mount);
        self.call(Method::DELETE, &format!("{mount}/config/{name}"), None).await.map(drop)
    }

    /// Rotates the connection's own password, so only Vault knows it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the database rejects the change.
    pub async fn rotate_root(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.call(Method::POST, &format!("{mount}/rotate-root/{name}"), Some(&json!({}))).await.map(drop)
    }

    /// Rotates a static role's password now.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the database rejects the change.
    pub async fn rotate_static_role(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.call(Method::POST, &format!("{mount}/rotate-role/{name}"), Some(&json!({}))).await.map(drop)
    }

    /// Writes a dynamic role.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn write_role(&self, mount: &str, name: &str, role: &DynamicRole) -> Result<(), VaultError> {
        let body = serde_json::to_value(role).unwrap_or_default();
        self.call(Method::POST, &format!("{mount}/roles/{name}"), Some(&body)).await.map(drop)
    }

    /// Reads a dynamic role; `None` when it does not exist.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn read_role(&self, mount: &str, name: &str) -> Result<Option<Json>, VaultError> {
        Ok(self.call(Method::GET, &format!("{mount}/roles/{name}"), None).await?.map(|j| j["data"].clone()))
    }

    /// Renews a lease by `increment` seconds; returns the new lease duration.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses (e.g. the lease reached its max TTL).
    pub async fn renew_lease(&self, lease_id: &str, increment: u64) -> Result<u64, VaultError> {
        let body = json!({ "lease_id": lease_id, "increment": increment });
        let reply = self.call(Method::PUT, "sys/leases/renew", Some(&body)).await?.unwrap_or_default();
        Ok(reply["lease_duration"].as_u64().unwrap_or_default())
    }

    /// Revokes one lease and waits until the credentials are gone.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the revocation fails.
    pub async fn revoke_lease(&self, lease_id: &str) -> Result<(), VaultError> {
        let body = json!({ "lease_id": lease_id, "sync": true });
        self.call(Method::PUT, "sys/leases/revoke", Some(&body)).await.map(drop)
    }

    /// Writes a static role: Vault owns `username`'s password and rotates it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses (e.g. the user does not exist).
    pub async fn write_static_role(&self, mount: &str, name: &str, role: &StaticRole) -> Result<(), VaultError> {
        let body = serde_json::to_value(role).unwrap_or_default();
        self.call(Method::POST, &format!("{mount}/static-roles/{name}"), Some(&body)).await.map(drop)
    }

    /// Reads a static role; `None` when it does not exist.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn read_static_role(&self, mount: &str, name: &str) -> Result<Option<Json>, VaultError> {
        Ok(self.call(Method::GET, &format!("{mount}/static-roles/{name}"), None).await?.map(|j| j["data"].clone()))
    }

    /// Deletes a static role (the user stays).
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn delete_static_role(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.call(Method::DELETE, &format!("{mount}/static-roles/{name}"), None).await.map(drop)
    }

    /// The current credentials of a static role, and seconds until the next rotation.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the role does not exist.
    pub async fn static_credentials(&self, mount: &str, role: &str) -> Result<(String, Secret, u64), VaultError> {
        let path = format!("{mount}/static-creds/{role}");
        let body = self.call(Method::GET, &path, None).await?.ok_or_else(|| VaultError::Api {
            method: "GET".into(),
            path: path.clone(),
            status: 404,
            message: format!("static role {role:?} does not exist"),
        })?;
        let data = &body["data"];
        let username =
            data["username"].as_str().ok_or(VaultError::MissingField { path: path.clone(), field: "username" })?;
        let password =
            data["password"].as_str().ok_or(VaultError::MissingField { path: path.clone(), field: "password" })?;
        Ok((username.to_owned(), Secret::new(password), data["ttl"].as_u64().unwrap_or_default()))
    }

    /// Deletes a dynamic role.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn delete_role(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.call(Method::DELETE, &format!("{mount}/roles/{name}"), None).await.map(drop)
    }

    /// Issues credentials from a dynamic role.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the role does not exist.
    pub async fn issue_credentials(&self, mount: &str, role: &str) -> Result<IssuedCredentials, VaultError> {
        #[derive(Deserialize)]
        struct Data {
            username: String,
            password: String,
        }
        let path = format!("{mount}/creds/{role}");
        let body = self.call(Method::GET, &path, None).await?.ok_or_else(|| VaultError::Api {
            method: "GET".into(),
            path: path.clone(),
            status: 404,
            message: format!("role {role:?} does not exist"),
        })?;
        let data: Data = serde_json::from_value(body["data"].clone())
            .map_err(|_| VaultError::MissingField { path: path.clone(), field: "username" })?;
        Ok(IssuedCredentials {
            username: data.username,
            password: Secret::new(data.password),
            lease_id: body["lease_id"].as_str().unwrap_or_default().to_owned(),
            lease_duration: body["lease_duration"].as_u64().unwrap_or_default(),
            renewable: body["renewable"].as_bool().unwrap_or_default(),
        })
    }

    /// Names of the dynamic roles on a database mount.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn list_roles(&self, mount: &str) -> Result<Vec<String>, VaultError> {
        self.list(&format!("{mount}/roles")).await
    }

    /// Names of the static roles on a database mount.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn list_static_roles(&self, mount: &str) -> Result<Vec<String>, VaultError> {
        self.list(&format!("{mount}/static-roles")).await
    }

    /// The keys a LIST of `path` answers (none when the path holds nothing).
    async fn list(&self, path: &str) -> Result<Vec<String>, VaultError> {
        let listed = self.call(Method::GET, &format!("{path}?list=true"), None).await?;
        Ok(listed
            .and_then(|j| j["data"]["keys"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect())
    }

    /// Revokes every lease issued by role `role` and waits until they are gone, so no
    /// issued user outlives it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or a revocation fails.
    pub async fn revoke_role_leases(&self, mount: &str, role: &str) -> Result<(), VaultError> {
        // Vault treats a prefix as a path directory ("creds/x" matches "creds/x/<id>" but
        // "creds/x-" matches nothing), so leases are revoked one role at a time.
        self.revoke_prefix(&format!("{mount}/creds/{role}/")).await
    }

    /// When each live lease of `role` was issued (Unix seconds).
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn lease_issue_times(&self, mount: &str, role: &str) -> Result<Vec<i64>, VaultError> {
        let prefix = format!("{mount}/creds/{role}");
        let ids = self.list(&format!("sys/leases/lookup/{prefix}/")).await?;
        let mut times = Vec::new();
        for id in ids {
            let lease = self
                .call(Method::PUT, "sys/leases/lookup", Some(&json!({ "lease_id": format!("{prefix}/{id}") })))
                .await?;
            let issued = lease
                .as_ref()
                .and_then(|l| l["data"]["issue_time"].as_str())
                .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
            if let Some(t) = issued {
                times.push(t.unix_timestamp());
            }
        }
        Ok(times)
    }

    /// Removes connection `name`: first revokes, synchronously, every lease issued by a
    /// role whose `db_name` is `name`, so no issued user outlives it; then deletes it.
    /// Roles are told apart by `db_name`, never by their names: `redis-x-b-app` may belong
    /// to connection `redis-x-b` as well as to `redis-x`.
    ///
    /// Only roles named `<name>-...`, or named in its `allowed_roles`, are read: the
    /// provider's connections allow only those, so no other role can have issued through it. Reading every role
    /// of the mount made each destroy cost grow with the number of databases.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or a revocation fails; nothing is deleted then.
    pub async fn remove_connection(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        let allowed = format!("{name}-");
        // And roles allowed by name: adopted ones that kept their names.
        let by_name: Vec<String> = match self.read_connection(mount, name).await? {
            Some(connection) => allowed_roles(&connection).into_iter().filter(|r| !r.contains('*')).collect(),
            None => Vec::new(),
        };
        let listed = self.list_roles(mount).await?;
        for role in listed.into_iter().filter(|r| r.starts_with(&allowed) || by_name.contains(r)) {
            let belongs = self.read_role(mount, &role).await?.is_some_and(|r| r["db_name"].as_str() == Some(name));
            if belongs {
                self.revoke_role_leases(mount, &role).await?;
            }
        }
        self.delete_connection(mount, name).await
    }

    /// Revokes every lease under the path `prefix` and waits until they are gone.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or a revocation fails.
    pub async fn revoke_prefix(&self, prefix: &str) -> Result<(), VaultError> {
        let path = format!("sys/leases/revoke-prefix/{}?sync=true", prefix.trim_matches('/'));
        self.call(Method::PUT, &path, Some(&json!({}))).await.map(drop)
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
