//! The `provider "dbaas"` configuration: the platform's endpoint catalog and how to log
//! in to each service. Every setting can also come from an environment variable, so a
//! stack can say just `provider "dbaas" {}`.
//!
//! A service is configured when its address is set (in the block or its environment
//! variable); nothing has a built-in host, so no endpoint is ever hardcoded.

use std::collections::BTreeMap;

use crate::duration::parse_duration;
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::types::Type;
use crate::framework::validator::{int_between, one_of, string_check};
use crate::framework::value::Value;
use crate::platform::settings::{
    AdminCredentials, MysqlConfig, PostgresConfig, ProviderConfig, RedisConfig, VaultConfig, VaultLogin, VaultPool,
};
use crate::secret::Secret;

/// The legacy PostgreSQL service: it has no endpoints, so connections to it hang.
pub const LEGACY_POSTGRES_HOST: &str = "postgresql.dbaas.svc.cluster.local";
/// Pool bound per service per provider process, unless configured.
pub const DEFAULT_MAX_CONNECTIONS: i64 = 4;

/// One setting of a block: where it comes from and what it means.
pub struct Setting {
    /// Attribute name.
    pub name: &'static str,
    /// Environment variables read when the attribute is unset, first found wins.
    pub env: &'static [&'static str],
    /// Value when neither is set.
    pub default: Option<&'static str>,
    /// Its type.
    pub kind: SettingKind,
    /// Whether it is a secret.
    pub sensitive: bool,
    /// Markdown description.
    pub description: &'static str,
}

/// The type of a setting.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// A string.
    Text,
    /// A TCP port.
    Port,
    /// A whole number of connections.
    Count,
    /// A whole number of connections, where 0 means none.
    CountOrNone,
    /// true/false.
    Flag,
    /// A list of strings (comma-separated in the environment).
    List,
    /// A duration in Vault's forms (`60s`, `5m`).
    Duration,
    /// Where a Vault engine or auth method is mounted (`database`, `team-a/db`): API paths
    /// are built from it.
    MountPath,
    /// A host name or IP address: connection URLs are built from it.
    Host,
    /// A service's base URL (`https://vault.platform.svc:8200`): API paths are appended.
    BaseUrl,
}

/// The Vault login blocks nested in `vault`, named as in the Vault provider, each with its
/// settings; the first setting is the one whose environment variable alone selects it.
pub const VAULT_LOGINS: &[(&str, &str, &[Setting])] = &[
    ("auth_login_approle", "Log in to Vault with AppRole instead of a token.", APPROLE),
    ("auth_login_jwt", "Log in to Vault with a JWT (a CI job's OIDC token, say) instead of a token.", JWT),
    (
        "auth_login_kubernetes",
        "Log in to Vault as the pod's Kubernetes service account instead of with a token.",
        KUBERNETES,
    ),
];

const APPROLE: &[Setting] = &[
    Setting {
        name: "role_id",
        env: &["DBAAS_VAULT_APPROLE_ROLE_ID"],
        default: None,
        kind: SettingKind::Text,
        sensitive: false,
        description: "The AppRole's role ID.",
    },
    Setting {
        name: "secret_id",
        env: &["DBAAS_VAULT_APPROLE_SECRET_ID"],
        default: None,
        kind: SettingKind::Text,
        sensitive: true,
        description: "A secret ID of the AppRole.",
    },
    Setting {
        name: "mount",
        env: &["DBAAS_VAULT_APPROLE_MOUNT"],
        default: Some("approle"),
        kind: SettingKind::MountPath,
        sensitive: false,
        description: "Where the AppRole auth method is mounted.",
    },
];

const JWT: &[Setting] = &[
    Setting {
        name: "role",
        env: &["DBAAS_VAULT_JWT_ROLE"],
        default: None,
        kind: SettingKind::Text,
        sensitive: false,
        description: "The JWT auth role to log in as.",
    },
    Setting {
        name: "jwt",
        env: &["DBAAS_VAULT_JWT"],
        default: None,
        kind: SettingKind::Text,
        sensitive: true,
        description: "The signed JWT.",
    },
    Setting {
        name: "mount",
        env: &["DBAAS_VAULT_JWT_MOUNT"],
        default: Some("jwt"),
        kind: SettingKind::MountPath,
        sensitive: false,
        description: "Where the JWT auth method is mounted.",
    },
];

const KUBERNETES: &[Setting] = &[
    Setting {
        name: "role",
        env: &["DBAAS_VAULT_KUBERNETES_ROLE"],
        default: None,
        kind: SettingKind::Text,
        sensitive: false,
        description: "The Kubernetes auth role to log in as.",
    },
    Setting {
        name: "jwt_file",
        env: &["DBAAS_VAULT_KUBERNETES_JWT_FILE"],
        default: Some("/var/run/secrets/kubernetes.io/serviceaccount/token"),
        kind: SettingKind::Text,
        sensitive: false,
        description: "The service-account token to log in with, read when the provider first needs Vault.",
    },
    Setting {
        name: "mount",
        env: &["DBAAS_VAULT_KUBERNETES_MOUNT"],
        default: Some("kubernetes"),
        kind: SettingKind::MountPath,
        sensitive: false,
        description: "Where the Kubernetes auth method is mounted.",
    },
];

/// The blocks of the provider configuration, each with its settings, in docs order.
pub const BLOCKS: &[(&str, &str, &[Setting])] = &[
    ("postgres", "The shared PostgreSQL cluster (CloudNativePG) and its PgBouncer.", POSTGRES),
    ("mysql", "The shared MySQL InnoDB Cluster (MariaDB 10.11 and MySQL 8 are supported).", MYSQL),
    ("redis", "The shared Redis.", REDIS),
    ("vault", "Vault (or OpenBao): the database secrets engine and the KV mount.", VAULT),
];

const POSTGRES: &[Setting] = &[
    Setting {
        name: "host",
        env: &["DBAAS_POSTGRES_HOST"],
        default: None,
        kind: SettingKind::Host,
        sensitive: false,
        description: "The primary (e.g. `pg-cluster-rw.dbaas.svc.cluster.local`): the provider runs DDL here, and migrations should too.",
    },
    Setting {
        name: "port",
        env: &["DBAAS_POSTGRES_PORT"],
        default: Some("5432"),
        kind: SettingKind::Port,
        sensitive: false,
        description: "Port of the primary.",
    },
    Setting {
        name: "pooled_host",
        env: &["DBAAS_POSTGRES_POOLED_HOST"],
        default: None,
        kind: SettingKind::Host,
        sensitive: false,
        description: "PgBouncer (transaction pooling): the host apps are given. Defaults to `host`.",
    },
    Setting {
        name: "pooled_port",
        env: &["DBAAS_POSTGRES_POOLED_PORT"],
        default: Some("6432"),
        kind: SettingKind::Port,
        sensitive: false,
        description: "PgBouncer's port.",
    },
    Setting {
        name: "read_host",
        env: &["DBAAS_POSTGRES_READ_HOST"],
        default: None,
        kind: SettingKind::Host,
        sensitive: false,
        description: "The replicas, for reads (CloudNativePG's `-ro` service, or `-r` for any instance): given to apps beside the read-write endpoint. Unset: no read endpoint (null).",
    },
    Setting {
        name: "read_port",
        env: &["DBAAS_POSTGRES_READ_PORT"],
        default: None,
        kind: SettingKind::Port,
        sensitive: false,
        description: "Port of `read_host`. Defaults to `port`.",
    },
    Setting {
        name: "pooled_read_host",
        env: &["DBAAS_POSTGRES_POOLED_READ_HOST"],
        default: None,
        kind: SettingKind::Host,
        sensitive: false,
        description: "A read-only PgBouncer in front of the replicas, when the platform runs one: apps are given it instead of `read_host`.",
    },
    Setting {
        name: "pooled_read_port",
        env: &["DBAAS_POSTGRES_POOLED_READ_PORT"],
        default: None,
        kind: SettingKind::Port,
        sensitive: false,
        description: "Port of `pooled_read_host`. Defaults to `pooled_port`.",
    },
    Setting {
        name: "username",
        env: &["DBAAS_POSTGRES_USERNAME"],
        default: Some("postgres"),
        kind: SettingKind::Text,
        sensitive: false,
        description: "Admin login for DDL (unless `admin_credentials_kv_path` is set). On PostgreSQL 16 or later it need not be a superuser: a team's own login with `CREATEDB CREATEROLE` works, and the server then keeps each team's databases and roles from the others' logins (see the security guide). Plan warns when it is a superuser or the server is older than 16.",
    },
    Setting {
        name: "password",
        env: &["DBAAS_POSTGRES_PASSWORD"],
        default: None,
        kind: SettingKind::Text,
        sensitive: true,
        description: "Admin password (unless `admin_credentials_kv_path` is set).",
    },
    Setting {
        name: "admin_credentials_kv_path",
        env: &["DBAAS_POSTGRES_ADMIN_CREDENTIALS_KV_PATH"],
        default: None,
        kind: SettingKind::Text,
        sensitive: false,
        description: "Read the admin `username` and `password` from this Vault KV v2 secret (under the `vault` block's `kv_mount`; the platform keeps them at `postgres/root`) instead of from configuration.",
    },
    Setting {
        name: "sslmode",
        env: &["DBAAS_POSTGRES_SSLMODE", "PGSSLMODE"],
        default: Some("prefer"),
        kind: SettingKind::Text,
        sensitive: false,
        description: "libpq `sslmode`: `disable`, `allow`, `prefer`, `require`, `verify-ca` or `verify-full`.",
    },
    Setting {
        name: "database",
        env: &["DBAAS_POSTGRES_DATABASE"],
        default: Some("postgres"),
        kind: SettingKind::Text,
        sensitive: false,
        description: "Maintenance database the admin connects to.",
    },
    Setting {
        name: "max_connections",
        env: &["DBAAS_POSTGRES_MAX_CONNECTIONS"],
        default: Some("4"),
        kind: SettingKind::Count,
        sensitive: false,
        description: "Most connections one provider process opens to the primary, across all databases; shared by all resources.",
    },
    Setting {
        name: "pooler_auth_user",
        env: &["DBAAS_POSTGRES_POOLER_AUTH_USER"],
        default: Some("cnpg_pooler_pgbouncer"),
        kind: SettingKind::Text,
        sensitive: false,
        description: "PgBouncer's `auth_user` (CloudNativePG's pooler uses `cnpg_pooler_pgbouncer`). Databases revoke CONNECT from PUBLIC, so this role, when it exists, is granted CONNECT on each one; without it PgBouncer cannot look up logins.",
    },
    Setting {
        name: "pooler_admin_user",
        env: &["DBAAS_POSTGRES_POOLER_ADMIN_USER"],
        default: None,
        kind: SettingKind::Text,
        sensitive: false,
        description: "A login in PgBouncer's `admin_users`. With it, destroying a database with `deletion_policy` `drop` or `archive` counts the clients connected through PgBouncer and closes PgBouncer's idle server connections (which PostgreSQL would count as clients) first. Without it, those idle connections block the drop until PgBouncer closes them (`server_idle_timeout`), unless `force_drop` is set.",
    },
    Setting {
        name: "pooler_admin_password",
        env: &["DBAAS_POSTGRES_POOLER_ADMIN_PASSWORD"],
        default: None,
        kind: SettingKind::Text,
        sensitive: true,
        description: "Password of `pooler_admin_user`.",
    },
    Setting {
        name: "templates",
        env: &["DBAAS_POSTGRES_TEMPLATES"],
        default: None,
        kind: SettingKind::List,
        sensitive: false,
        description: "Template databases a `dbaas_shared_database` may name in `template`, beside `template0` and `template1` (which are always allowed): the platform's own templates, say one with PostGIS. Any other database is refused at plan: a template is copied whole, so naming another stack's database would copy its data. Comma-separated in the environment.",
    },
    Setting {
        name: "extensions",
        env: &["DBAAS_POSTGRES_EXTENSIONS"],
        default: None,
        kind: SettingKind::List,
        sensitive: false,
        description: "Extensions a `dbaas_shared_database` may install beyond those the server marks `trusted` (which any database owner could create anyway): say `postgis`, where the platform has vetted it. An untrusted extension runs with the server's own rights, so any other is refused at plan, on `extensions`. Comma-separated in the environment.",
    },
    Setting {
        name: "timeout",
        env: &["DBAAS_POSTGRES_TIMEOUT"],
        default: Some("60s"),
        kind: SettingKind::Duration,
        sensitive: false,
        description: "The longest one operation with PostgreSQL may take, connecting and retries included (`30s`, `2m`, ...). An operation that runs out fails with an error that says it timed out; raise this if the server is only slow.",
    },
    Setting {
        name: "lock_timeout",
        env: &["DBAAS_POSTGRES_LOCK_TIMEOUT"],
        default: Some("5m"),
        kind: SettingKind::Duration,
        sensitive: false,
        description: "`lock_timeout` of every session the provider opens: how long a statement waits for a lock another session holds (a migration, say) before failing. The platform's migrations hold theirs for at most 5 minutes. A wait is also bounded by `timeout`: raise both to wait longer.",
    },
];

const MYSQL: &[Setting] = &[
    Setting {
        name: "host",
        env: &["DBAAS_MYSQL_HOST"],
        default: None,
        kind: SettingKind::Host,
        sensitive: false,
        description: "The cluster's read-write endpoint (MySQL Router or primary).",
    },
    Setting {
        name: "port",
        env: &["DBAAS_MYSQL_PORT"],
        default: Some("3306"),
        kind: SettingKind::Port,
        sensitive: false,
        description: "Its port.",
    },
    Setting {
        name: "read_host",
        env: &["DBAAS_MYSQL_READ_HOST"],
        default: None,
        kind: SettingKind::Host,
        sensitive: false,
        description: "The cluster's read-only endpoint (MySQL Router's read-only port is on `host`; set this only when it is elsewhere). Defaults to `host` when `read_port` is set.",
    },
    Setting {
        name: "read_port",
        env: &["DBAAS_MYSQL_READ_PORT"],
        default: None,
        kind: SettingKind::Port,
        sensitive: false,
        description: "The read-only port (MySQL Router's, 6447 by default). Unset, with no `read_host`: no read endpoint (null).",
    },
    Setting {
        name: "username",
        env: &["DBAAS_MYSQL_USERNAME"],
        default: Some("root"),
        kind: SettingKind::Text,
        sensitive: false,
        description: "Admin login (unless `admin_credentials_kv_path` is set).",
    },
    Setting {
        name: "password",
        env: &["DBAAS_MYSQL_PASSWORD"],
        default: None,
        kind: SettingKind::Text,
        sensitive: true,
        description: "Admin password (unless `admin_credentials_kv_path` is set).",
    },
    Setting {
        name: "admin_credentials_kv_path",
        env: &["DBAAS_MYSQL_ADMIN_CREDENTIALS_KV_PATH"],
        default: None,
        kind: SettingKind::Text,
        sensitive: false,
        description: "Read the admin `username` and `password` from this Vault KV v2 secret (the platform keeps them at `mysql/root`).",
    },
    Setting {
        name: "tls",
        env: &["DBAAS_MYSQL_TLS"],
        default: Some("preferred"),
        kind: SettingKind::Text,
        sensitive: false,
        description: "`disabled`, `preferred`, `required`, `verify_ca` or `verify_identity`.",
    },
    Setting {
        name: "max_connections",
        env: &["DBAAS_MYSQL_MAX_CONNECTIONS"],
        default: Some("4"),
        kind: SettingKind::Count,
        sensitive: false,
        description: "Most connections one provider process opens; shared by all resources.",
    },
    Setting {
        name: "timeout",
        env: &["DBAAS_MYSQL_TIMEOUT"],
        default: Some("60s"),
        kind: SettingKind::Duration,
        sensitive: false,
        description: "The longest one operation with MySQL may take, connecting and retries included (`30s`, `2m`, ...). An operation that runs out fails with an error that says it timed out; raise this if the server is only slow.",
    },
];

const REDIS: &[Setting] = &[
    Setting {
        name: "addresses",
        env: &["DBAAS_REDIS_ADDRESSES"],
        default: None,
        kind: SettingKind::List,
        sensitive: false,
        description: "`host:port` of every node (primary first, then replicas; an IPv6 address in brackets, `[::1]:6379`): ACLs are not replicated, so the provider applies them to each. Comma-separated in the environment.",
    },
    Setting {
        name: "username",
        env: &["DBAAS_REDIS_USERNAME"],
        default: Some("default"),
        kind: SettingKind::Text,
        sensitive: false,
        description: "Admin ACL user.",
    },
    Setting {
        name: "password",
        env: &["DBAAS_REDIS_PASSWORD"],
        default: None,
        kind: SettingKind::Text,
        sensitive: true,
        description: "Its password.",
    },
    Setting {
        name: "tls",
        env: &["DBAAS_REDIS_TLS"],
        default: Some("false"),
        kind: SettingKind::Flag,
        sensitive: false,
        description: "Connect with TLS (the provider, and Vault's connection for each namespace). The server's certificate is verified against `ca_cert_file`, else the system's roots.",
    },
    Setting {
        name: "ca_cert_file",
        env: &["DBAAS_REDIS_CA_CERT_FILE"],
        default: None,
        kind: SettingKind::Text,
        sensitive: false,
        description: "PEM file of the CA that signed Redis's certificate, with `tls = true`. Vault's connections are given it too.",
    },
    Setting {
        name: "max_connections",
        env: &["DBAAS_REDIS_MAX_CONNECTIONS"],
        default: Some("4"),
        kind: SettingKind::Count,
        sensitive: false,
        description: "Most connections one provider process opens per node.",
    },
    Setting {
        name: "timeout",
        env: &["DBAAS_REDIS_TIMEOUT"],
        default: Some("60s"),
        kind: SettingKind::Duration,
        sensitive: false,
        description: "The longest one operation with Redis may take, connecting and retries included (`30s`, `2m`, ...). An operation that runs out fails with an error that says it timed out; raise this if the server is only slow.",
    },
];

const VAULT: &[Setting] = &[
    Setting {
        name: "address",
        env: &["VAULT_ADDR"],
        default: None,
        kind: SettingKind::BaseUrl,
        sensitive: false,
        description: "Vault's address, e.g. `https://vault.platform.svc:8200`.",
    },
    Setting {
        name: "token",
        env: &["VAULT_TOKEN"],
        default: None,
        kind: SettingKind::Text,
        sensitive: true,
        description: "Vault token.",
    },
    Setting {
        name: "namespace",
        env: &["VAULT_NAMESPACE"],
        default: None,
        kind: SettingKind::Text,
        sensitive: false,
        description: "Vault Enterprise / OpenBao namespace.",
    },
    Setting {
        name: "database_mount",
        env: &["DBAAS_VAULT_DATABASE_MOUNT"],
        default: Some("database"),
        kind: SettingKind::MountPath,
        sensitive: false,
        description: "Mount of the database secrets engine.",
    },
    Setting {
        name: "kv_mount",
        env: &["DBAAS_VAULT_KV_MOUNT"],
        default: Some("secret"),
        kind: SettingKind::MountPath,
        sensitive: false,
        description: "Mount of the KV v2 engine holding static secrets.",
    },
    Setting {
        name: "max_open_connections",
        env: &["DBAAS_VAULT_MAX_OPEN_CONNECTIONS"],
        default: Some("2"),
        kind: SettingKind::Count,
        sensitive: false,
        description: "Set on every PostgreSQL and MySQL connection the provider gives Vault: the most connections Vault opens to one database at once. Vault's own default is 4, per database.",
    },
    Setting {
        name: "max_idle_connections",
        env: &["DBAAS_VAULT_MAX_IDLE_CONNECTIONS"],
        default: Some("0"),
        kind: SettingKind::CountOrNone,
        sensitive: false,
        description: "Set on every such connection: how many of them Vault keeps idle per database (at most `max_open_connections`). 0, the default, keeps none: each operation opens its own connection and closes it after, so Vault holds connections only while it works, however many databases there are (it costs a connection set-up, a few milliseconds, per credential). Vault itself reads 0 as `max_open_connections`, so the provider writes -1 for it.",
    },
    Setting {
        name: "max_connection_lifetime",
        env: &["DBAAS_VAULT_MAX_CONNECTION_LIFETIME"],
        default: Some("30s"),
        kind: SettingKind::Duration,
        sensitive: false,
        description: "Set on every such connection: Vault closes a connection this old, idle or not. Vault's own default keeps idle connections for ever, so with many databases Vault alone could fill PostgreSQL's `max_connections`; with this bound, connections held when nobody asks for credentials fall to none.",
    },
    Setting {
        name: "timeout",
        env: &["VAULT_CLIENT_TIMEOUT"],
        default: Some("60s"),
        kind: SettingKind::Duration,
        sensitive: false,
        description: "The longest one operation with Vault may take, connecting and retries included (`30s`, `2m`, ...). An operation that runs out fails with an error that says it timed out; raise this if the server is only slow.",
    },
];

const DENIED_HOSTS_DESCRIPTION: &str = "Hosts that must never be used. Configuring one (or a shorter DNS form of one, such as `postgresql.dbaas`) is an error at validate time. Defaults to `[\"postgresql.dbaas.svc.cluster.local\"]`, the legacy PostgreSQL service, which has no endpoints. Comma-separated in `DBAAS_DENIED_HOSTS`.";

/// The provider block's schema.
pub fn schema() -> Schema {
    let blocks = BLOCKS
        .iter()
        .map(|(name, description, settings)| {
            let block = Block::single(name, *description, settings.iter().map(attribute).collect());
            if *name != "vault" {
                return block;
            }
            block.with_blocks(
                VAULT_LOGINS
                    .iter()
                    .map(|(login, text, settings)| {
                        Block::single(login, *text, settings.iter().map(attribute).collect())
                    })
                    .collect(),
            )
        })
        .collect();
    Schema::new(
        "Gives a stack databases, rotated credentials and Redis namespaces on the platform's shared services. Every setting can come from the environment instead.",
        vec![Attribute::new("denied_hosts", Type::list(Type::String)).description(DENIED_HOSTS_DESCRIPTION)],
    )
    .with_blocks(blocks)
}

fn attribute(s: &Setting) -> Attribute {
    let env = s.env.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(" or ");
    let default = s.default.map(|d| format!(" Default: `{d}`.")).unwrap_or_default();
    let mut a = match s.kind {
        SettingKind::Text
        | SettingKind::Duration
        | SettingKind::MountPath
        | SettingKind::Host
        | SettingKind::BaseUrl => Attribute::string(s.name),
        SettingKind::Port | SettingKind::Count | SettingKind::CountOrNone => Attribute::number(s.name),
        SettingKind::Flag => Attribute::bool(s.name),
        SettingKind::List => Attribute::new(s.name, Type::list(Type::String)),
    }
    .description(format!("{} Environment: {env}.{default}", s.description));
    if s.sensitive {
        a = a.sensitive();
    }
    match (s.kind, allowed_values(s)) {
        (SettingKind::Port, _) => a.validator(int_between(1, 65535)),
        (SettingKind::Count, _) => a.validator(int_between(1, 100)),
        (SettingKind::CountOrNone, _) => a.validator(int_between(0, 100)),
        (SettingKind::Duration, _) => a.validator(string_check(check_setting_duration)),
        (SettingKind::MountPath, _) => a.validator(string_check(check_mount_path)),
        (SettingKind::Host, _) => a.validator(string_check(check_host)),
        (SettingKind::BaseUrl, _) => a.validator(string_check(check_base_url)),
        (_, Some(values)) => a.validator(one_of(values)),
        _ => a,
    }
}

/// What a mount path may be, for diagnostics.
const MOUNT_PATH: &str = "a Vault mount path: letters, digits, `-`, `_` and `.`, in segments joined by `/`";

/// A Vault mount path, from an allow-list: the provider builds API paths from it, so `..`,
/// `?`, `#`, `%` or white space would reach some other path than the mount's. Leading and
/// trailing `/` are left out of the check: resolving the setting drops them, as it did
/// before the check existed.
fn check_mount_path(text: &str) -> Result<(), String> {
    let trimmed = text.trim_matches('/');
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if trimmed.split('/').all(segment_ok) { Ok(()) } else { Err(format!("{text:?} is not {MOUNT_PATH}.")) }
}

/// What a host may be, for diagnostics.
const HOST: &str =
    "a host name (letters, digits, `-` and `_` in labels joined by `.`) or an IP address, with no port, user or path";

/// A host, from an allow-list: a name or an IP address. Connection URLs for Vault and for
/// apps are built from it, so `host:5432/postgres?` or `user@host` would point them at
/// another database or server than the one named; and the denied-hosts check must see the
/// name itself.
fn check_host(text: &str) -> Result<(), String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    };
    if text.parse::<std::net::IpAddr>().is_ok() || (name.len() <= 253 && name.split('.').all(label_ok)) {
        Ok(())
    } else {
        Err(format!("{text:?} is not {HOST}."))
    }
}

/// What a base URL may be, for diagnostics.
const BASE_URL: &str = "an http or https URL with a host and, at most, a port and a path: no user, query or fragment";

/// A base URL that API paths are appended to, from an allow-list: a user part would put
/// credentials where logs and error messages show the address, and a query or fragment
/// would swallow every path appended after it.
fn check_base_url(text: &str) -> Result<(), String> {
    let ok = reqwest::Url::parse(text).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|h| !h.is_empty())
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
    });
    if ok { Ok(()) } else { Err(format!("{text:?} is not {BASE_URL}.")) }
}

/// A Redis node's address: `host`, `host:port`, `[v6]` or `[v6]:port`, the host passing
/// [`check_host`] and the port from 1 to 65535. Read leniently, `redis-0:63799x` became
/// port 6379 and an unbracketed IPv6 address lost its last group to the port.
fn check_address(text: &str) -> Result<(), String> {
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|p| p > 0);
    let ok = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                v6.parse::<std::net::Ipv6Addr>().is_ok()
                    && (tail.is_empty() || tail.strip_prefix(':').is_some_and(port_ok))
            }
            None => false,
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => check_host(host).is_ok() && port_ok(port),
            None => check_host(text).is_ok(),
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a Redis address: `host:port`, with {HOST} as the host (an IPv6 address in brackets)."
        ))
    }
}

/// The values a text setting may take, when it is one of a few: the one list both the
/// attribute's validator and the environment check use, so a typo in the environment
/// (`verify_full` for `verify-full`) cannot quietly downgrade TLS.
fn allowed_values(s: &Setting) -> Option<&'static [&'static str]> {
    match (s.kind, s.name) {
        (SettingKind::Text, "sslmode") => Some(&["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
        (SettingKind::Text, "tls") => Some(&["disabled", "preferred", "required", "verify_ca", "verify_identity"]),
        _ => None,
    }
}

/// Where a setting's value came from, so an error can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The attribute at this path.
    Config(AttributePath),
    /// This environment variable.
    Env(&'static str),
    /// The built-in default.
    Default,
}

/// A resolved setting.
#[derive(Clone, Debug)]
struct Resolved {
    text: Vec<String>,
    source: Source,
}

/// Reads settings of one block from configuration, then the environment, then defaults.
struct BlockReader<'a> {
    base: AttributePath,
    config: Option<&'a Value>,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// True when some configured value is not known yet (validate during plan).
    unknown: bool,
}

impl BlockReader<'_> {
    fn get(&mut self, settings: &[Setting], name: &str, diagnostics: &mut Diagnostics) -> Option<Resolved> {
        let setting = settings.iter().find(|s| s.name == name).expect("setting is in its block's table");
        let path = self.base.attribute(name);
        match self.config.and_then(|c| c.attr(name)) {
            Some(v) if !v.is_wholly_known() => {
                self.unknown = true;
                return None;
            }
            Some(Value::Null) | None => {}
            Some(v) => {
                let text = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Number(n) => vec![n.to_string()],
                    Value::Bool(b) => vec![b.to_string()],
                    Value::List(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
                    _ => Vec::new(),
                };
                return Some(Resolved { text, source: Source::Config(path) });
            }
        }
        for var in setting.env {
            if let Some(value) = (self.env)(var).filter(|v| !v.trim().is_empty()) {
                let text = if setting.kind == SettingKind::List {
                    value.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
                } else {
                    vec![value]
                };
                let resolved = Resolved { text, source: Source::Env(var) };
                check_env_value(setting, &resolved, diagnostics);
                return Some(resolved);
            }
        }
        setting.default.map(|d| Resolved { text: vec![d.to_owned()], source: Source::Default })
    }

    fn text(&mut self, settings: &[Setting], name: &str, d: &mut Diagnostics) -> Option<String> {
        self.get(settings, name, d).and_then(|r| r.text.into_iter().next())
    }

    fn duration(&mut self, settings: &[Setting], name: &str, d: &mut Diagnostics) -> std::time::Duration {
        let seconds = self.text(settings, name, d).and_then(|t| parse_duration(&t).ok()).unwrap_or(60);
        std::time::Duration::from_secs(seconds)
    }

    fn number(&mut self, settings: &[Setting], name: &str, d: &mut Diagnostics) -> u32 {
        self.text(settings, name, d).and_then(|t| t.parse().ok()).unwrap_or(0)
    }
}

/// Environment values get the same checks validators give attributes.
fn check_env_value(setting: &Setting, resolved: &Resolved, diagnostics: &mut Diagnostics) {
    let Source::Env(var) = resolved.source else { return };
    let value = resolved.text.first().map(String::as_str).unwrap_or_default();
    if let Some(values) = allowed_values(setting)
        && !values.contains(&value)
    {
        let expected = values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ");
        diagnostics.error(format!("Invalid {var}"), format!("{var} is {value:?}; it must be one of {expected}."));
        return;
    }
    let problem = match setting.kind {
        SettingKind::Port => value.parse::<u16>().ok().filter(|p| *p > 0).is_none().then_some("a port from 1 to 65535"),
        SettingKind::Count => value
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .is_none()
            .then_some("a whole number from 1 to 100"),
        SettingKind::CountOrNone => {
            value.parse::<u32>().ok().filter(|n| *n <= 100).is_none().then_some("a whole number from 0 to 100")
        }
        SettingKind::Flag => (!matches!(value, "true" | "false" | "1" | "0")).then_some("true or false"),
        SettingKind::Duration => {
            check_setting_duration(value).is_err().then_some("a duration such as `60s` or `5m`, at most `596h`")
        }
        SettingKind::MountPath => check_mount_path(value).is_err().then_some(MOUNT_PATH),
        SettingKind::Host => check_host(value).is_err().then_some(HOST),
        SettingKind::BaseUrl => check_base_url(value).is_err().then_some(BASE_URL),
        _ => None,
    };
    if let Some(expected) = problem {
        diagnostics.error(format!("Invalid {var}"), format!("{var} is {value:?}; it must be {expected}."));
    }
}

impl ProviderConfig {
    /// Resolves `config` (the provider block; may hold unknowns during validate) against
    /// the environment `env`. Returns the configuration and whether any value was unknown.
    pub fn resolve(
        config: &Value,
        env: &dyn Fn(&str) -> Option<String>,
        diagnostics: &mut Diagnostics,
    ) -> (ProviderConfig, bool) {
        let mut unknown = false;
        let reader = |block: &'static str| BlockReader {
            base: AttributePath::root(block),
            config: config.attr(block).filter(|v| !v.is_null()),
            env,
            unknown: false,
        };
        let mut out = ProviderConfig::default();
        let mut hosts: Vec<(String, Source)> = Vec::new();

        let mut r = reader("postgres");
        if let Some(host) = r.get(POSTGRES, "host", diagnostics) {
            let host_text = host.text.first().cloned().unwrap_or_default();
            hosts.push((host_text.clone(), host.source.clone()));
            let pooled = r.get(POSTGRES, "pooled_host", diagnostics);
            if let Some(p) = &pooled {
                hosts.push((p.text.first().cloned().unwrap_or_default(), p.source.clone()));
            }
            // Hosts apps are given are checked against denied_hosts like the others.
            let mut optional_host = |r: &mut BlockReader, name: &str, d: &mut Diagnostics| {
                let found = r.get(POSTGRES, name, d)?;
                let host = found.text.first().cloned()?;
                hosts.push((host.clone(), found.source));
                Some(host)
            };
            let read_host = optional_host(&mut r, "read_host", diagnostics);
            let pooled_read_host = optional_host(&mut r, "pooled_read_host", diagnostics);
            // Each setting is read once: a bad environment value gets one diagnostic.
            let port = r.number(POSTGRES, "port", diagnostics) as u16;
            let pooled_port = r.number(POSTGRES, "pooled_port", diagnostics) as u16;
            let port_or = |r: &mut BlockReader, name: &str, fallback: u16, d: &mut Diagnostics| {
                r.get(POSTGRES, name, d).and_then(|p| p.text.first()?.parse::<u16>().ok()).unwrap_or(fallback)
            };
            let read_port = port_or(&mut r, "read_port", port, diagnostics);
            let pooled_read_port = port_or(&mut r, "pooled_read_port", pooled_port, diagnostics);
            out.postgres = Some(PostgresConfig {
                read: read_host.map(|h| (h, read_port)),
                pooled_read: pooled_read_host.map(|h| (h, pooled_read_port)),
                pooled_host: pooled.and_then(|p| p.text.into_iter().next()).unwrap_or_else(|| host_text.clone()),
                host: host_text,
                port,
                pooled_port,
                admin: admin_credentials(&mut r, POSTGRES, diagnostics),
                sslmode: r.text(POSTGRES, "sslmode", diagnostics).unwrap_or_default(),
                database: r.text(POSTGRES, "database", diagnostics).unwrap_or_default(),
                max_connections: r.number(POSTGRES, "max_connections", diagnostics),
                pooler_auth_user: r.text(POSTGRES, "pooler_auth_user", diagnostics).filter(|u| !u.is_empty()),
                pooler_admin: r
                    .text(POSTGRES, "pooler_admin_user", diagnostics)
                    .filter(|u| !u.is_empty())
                    .map(|user| (user, r.text(POSTGRES, "pooler_admin_password", diagnostics).map(Secret::new))),
                templates: r.get(POSTGRES, "templates", diagnostics).map(|t| t.text).unwrap_or_default(),
                extensions: r.get(POSTGRES, "extensions", diagnostics).map(|t| t.text).unwrap_or_default(),
                timeout: r.duration(POSTGRES, "timeout", diagnostics),
                lock_timeout: r.duration(POSTGRES, "lock_timeout", diagnostics),
            });
        }
        unknown |= r.unknown;

        let mut r = reader("mysql");
        if let Some(host) = r.get(MYSQL, "host", diagnostics) {
            let host_text = host.text.first().cloned().unwrap_or_default();
            hosts.push((host_text.clone(), host.source));
            let read_host = r.get(MYSQL, "read_host", diagnostics).and_then(|found| {
                let host = found.text.first().cloned()?;
                hosts.push((host.clone(), found.source));
                Some(host)
            });
            let read_port = r.get(MYSQL, "read_port", diagnostics).and_then(|p| p.text.first()?.parse::<u16>().ok());
            let port = r.number(MYSQL, "port", diagnostics) as u16;
            let read = match (read_host, read_port) {
                (None, None) => None,
                (h, p) => Some((h.unwrap_or_else(|| host_text.clone()), p.unwrap_or(port))),
            };
            out.mysql = Some(MysqlConfig {
                read,
                host: host_text,
                port,
                admin: admin_credentials(&mut r, MYSQL, diagnostics),
                tls: r.text(MYSQL, "tls", diagnostics).unwrap_or_default(),
                max_connections: r.number(MYSQL, "max_connections", diagnostics),
                timeout: r.duration(MYSQL, "timeout", diagnostics),
            });
        }
        unknown |= r.unknown;

        let mut r = reader("redis");
        if let Some(addresses) = r.get(REDIS, "addresses", diagnostics).filter(|a| !a.text.is_empty()) {
            for (i, a) in addresses.text.iter().enumerate() {
                let source = match &addresses.source {
                    Source::Config(p) => Source::Config(p.index(i)),
                    other => other.clone(),
                };
                if let Err(reason) = check_address(a) {
                    match &source {
                        Source::Config(path) => {
                            diagnostics.attribute_error(path.clone(), "Invalid Redis address", reason);
                        }
                        Source::Env(var) => diagnostics.error(format!("Invalid {var}"), format!("{var}: {reason}")),
                        Source::Default => diagnostics.error("Invalid Redis address", reason),
                    }
                }
                hosts.push((host_of(a), source));
            }
            out.redis = Some(RedisConfig {
                addresses: addresses.text,
                username: r.text(REDIS, "username", diagnostics).unwrap_or_default(),
                password: r.text(REDIS, "password", diagnostics).map(Secret::new),
                tls: matches!(r.text(REDIS, "tls", diagnostics).as_deref(), Some("true" | "1")),
                max_connections: r.number(REDIS, "max_connections", diagnostics),
                timeout: r.duration(REDIS, "timeout", diagnostics),
                ca_cert_file: r.text(REDIS, "ca_cert_file", diagnostics).filter(|f| !f.is_empty()),
            });
        }
        unknown |= r.unknown;

        let mut r = reader("vault");
        if let Some(address) = r.get(VAULT, "address", diagnostics) {
            let address_text = address.text.first().cloned().unwrap_or_default();
            hosts.push((host_of(&address_text), address.source));
            out.vault = Some(VaultConfig {
                address: address_text.trim_end_matches('/').to_owned(),
                token: r.text(VAULT, "token", diagnostics).map(Secret::new),
                namespace: r.text(VAULT, "namespace", diagnostics),
                database_mount: r
                    .text(VAULT, "database_mount", diagnostics)
                    .unwrap_or_default()
                    .trim_matches('/')
                    .to_owned(),
                kv_mount: r.text(VAULT, "kv_mount", diagnostics).unwrap_or_default().trim_matches('/').to_owned(),
                timeout: r.duration(VAULT, "timeout", diagnostics),
                login: vault_login(r.config, env, &mut unknown, diagnostics),
                pool: VaultPool {
                    max_open_connections: r.number(VAULT, "max_open_connections", diagnostics),
                    max_idle_connections: r.number(VAULT, "max_idle_connections", diagnostics),
                    max_connection_lifetime: r.duration(VAULT, "max_connection_lifetime", diagnostics),
                },
            });
        }
        unknown |= r.unknown;

        let denied = denied_hosts(config, env, &mut unknown);
        for (host, source) in &hosts {
            check_denied(host, source, &denied, diagnostics);
        }
        for (block, needs_vault) in [
            ("postgres", out.postgres.as_ref().is_some_and(|p| matches!(p.admin, AdminCredentials::VaultKv(_)))),
            ("mysql", out.mysql.as_ref().is_some_and(|m| matches!(m.admin, AdminCredentials::VaultKv(_)))),
        ] {
            if needs_vault && out.vault.is_none() {
                diagnostics.attribute_error(
                    AttributePath::root(block).attribute("admin_credentials_kv_path"),
                    "Vault is not configured",
                    "admin_credentials_kv_path reads the admin credentials from Vault KV, but no Vault address is set. Add a `vault` block (or set VAULT_ADDR and VAULT_TOKEN), or give username and password directly.",
                );
            }
        }
        (out, unknown)
    }
}

/// The Vault login to use instead of a token: the first login block present, else the
/// first whose selecting environment variable is set.
fn vault_login(
    vault: Option<&Value>,
    env: &dyn Fn(&str) -> Option<String>,
    unknown: &mut bool,
    d: &mut Diagnostics,
) -> Option<VaultLogin> {
    let present = |name: &str| vault.and_then(|v| v.attr(name)).is_some_and(|b| !b.is_null());
    let chosen = VAULT_LOGINS
        .iter()
        .find(|(name, ..)| present(name))
        .or_else(|| VAULT_LOGINS.iter().find(|(_, _, settings)| settings[0].env.iter().any(|e| env(e).is_some())))?;
    let (name, _, settings) = chosen;
    let mut r = BlockReader {
        base: AttributePath::root("vault").attribute(name),
        config: vault.and_then(|v| v.attr(name)).filter(|b| !b.is_null()),
        env,
        unknown: false,
    };
    let required = |r: &mut BlockReader<'_>, setting: &str, d: &mut Diagnostics| {
        let value = r.text(settings, setting, d).filter(|v| !v.is_empty());
        if value.is_none() && !r.unknown {
            let var = settings.iter().find(|s| s.name == setting).map_or("", |s| s.env[0]);
            d.attribute_error(
                AttributePath::root("vault").attribute(name).attribute(setting),
                "Missing Vault login setting",
                format!("`{name}` needs `{setting}` (or {var})."),
            );
        }
        value.unwrap_or_default()
    };
    let mount = r.text(settings, "mount", d).unwrap_or_default().trim_matches('/').to_owned();
    let login = match *name {
        "auth_login_approle" => VaultLogin::AppRole {
            mount,
            role_id: required(&mut r, "role_id", d),
            secret_id: Secret::new(required(&mut r, "secret_id", d)),
        },
        "auth_login_jwt" => {
            VaultLogin::Jwt { mount, role: required(&mut r, "role", d), jwt: Secret::new(required(&mut r, "jwt", d)) }
        }
        _ => VaultLogin::Kubernetes {
            mount,
            role: required(&mut r, "role", d),
            jwt_file: r.text(settings, "jwt_file", d).unwrap_or_default(),
        },
    };
    *unknown |= r.unknown;
    Some(login)
}

fn admin_credentials(r: &mut BlockReader<'_>, settings: &[Setting], d: &mut Diagnostics) -> AdminCredentials {
    match r.text(settings, "admin_credentials_kv_path", d) {
        Some(path) => AdminCredentials::VaultKv(path.trim_matches('/').to_owned()),
        None => AdminCredentials::Given {
            username: r.text(settings, "username", d).unwrap_or_default(),
            password: r.text(settings, "password", d).map(Secret::new),
        },
    }
}

fn denied_hosts(config: &Value, env: &dyn Fn(&str) -> Option<String>, unknown: &mut bool) -> Vec<String> {
    match config.attr("denied_hosts") {
        Some(v) if !v.is_wholly_known() => {
            *unknown = true;
            Vec::new()
        }
        Some(Value::List(items)) => items.iter().filter_map(|i| i.as_str().map(normalise_host)).collect(),
        _ => match env("DBAAS_DENIED_HOSTS") {
            Some(list) => list.split(',').map(normalise_host).filter(|h| !h.is_empty()).collect(),
            None => vec![LEGACY_POSTGRES_HOST.to_owned()],
        },
    }
}

/// The longest duration setting: PostgreSQL takes `timeout` and `lock_timeout` as
/// `statement_timeout` and `lock_timeout` in milliseconds, which stop at 2^31 - 1 (just over
/// 596 hours); past that the server refused the session, and the error said it could not
/// connect. Every other timeout and lifetime stays under the same bound.
const LONGEST_SETTING_DURATION: u64 = (i32::MAX as u64) / 1000;

fn check_setting_duration(text: &str) -> Result<(), String> {
    let seconds = parse_duration(text)?;
    if seconds > LONGEST_SETTING_DURATION {
        return Err(format!(
            "{text:?} is longer than PostgreSQL accepts for a timeout ({LONGEST_SETTING_DURATION} s, about 596h)."
        ));
    }
    Ok(())
}

fn normalise_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host part of `host:port`, `[v6]:port` or a URL.
fn host_of(address: &str) -> String {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default().to_owned();
    }
    authority.split(':').next().unwrap_or_default().to_owned()
}

fn check_denied(host: &str, source: &Source, denied: &[String], diagnostics: &mut Diagnostics) {
    let host = normalise_host(host);
    if host.is_empty() {
        return;
    }
    // "postgresql.dbaas" resolves to the same service as its fully qualified name.
    let Some(hit) = denied.iter().find(|d| **d == host || d.starts_with(&format!("{host}."))) else { return };
    let advice = if hit == LEGACY_POSTGRES_HOST {
        "It is the legacy PostgreSQL service and has no endpoints: connections to it hang or fail. Use the primary `pg-cluster-rw.dbaas.svc.cluster.local` for `postgres.host` (DDL and migrations) and the PgBouncer service for `postgres.pooled_host` (apps); `data.dbaas_endpoints` gives modules both."
    } else {
        "It is listed in `denied_hosts`. Use the endpoints the platform team publishes; `data.dbaas_endpoints` gives modules the current ones."
    };
    let summary = format!("Denied host {host:?}");
    match source {
        Source::Config(path) => diagnostics.attribute_error(path.clone(), summary, advice),
        Source::Env(var) => diagnostics.error(summary, format!("{var} names it. {advice}")),
        Source::Default => diagnostics.error(summary, advice),
    }
}

/// The names of every environment variable the provider reads, with their attribute, for docs.
pub fn environment_variables() -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for (block, _, settings) in BLOCKS {
        for s in *settings {
            for e in s.env {
                out.insert(*e, format!("{block}.{}", s.name));
            }
        }
    }
    for (login, _, settings) in VAULT_LOGINS {
        for s in *settings {
            for e in s.env {
                out.insert(*e, format!("vault.{login}.{}", s.name));
            }
        }
    }
    out.insert("DBAAS_DENIED_HOSTS", "denied_hosts".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    fn block(name: &str, attrs: Vec<(&str, Value)>) -> Value {
        Value::object([(name, Value::object(attrs))])
    }

    /// `check` passes every one of `good` and refuses every one of `bad`.
    fn assert_allow_list(check: fn(&str) -> Result<(), String>, good: &[&str], bad: &[&str]) {
        for value in good {
            assert!(check(value).is_ok(), "{value} was refused");
        }
        for value in bad {
            assert!(check(value).is_err(), "{value} passed");
        }
    }

    /// Resolves an empty provider block against `env` and `var=value` (which comes first,
    /// so it wins over a `var` in `env`); the value must be refused, naming `var` and it.
    fn assert_env_refused(env: &[(&'static str, &'static str)], var: &'static str, value: &'static str) {
        let pairs: &'static [(&str, &str)] = Box::leak([&[(var, value)], env].concat().into_boxed_slice());
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(&Value::object([]), &env_of(pairs), &mut d);
        assert!(
            d.0.iter().any(|x| x.summary == format!("Invalid {var}") && x.detail.contains(value)),
            "{var}={value}: {d:?}"
        );
    }

    #[test]
    fn everything_can_come_from_the_environment() {
        let env = env_of(&[
            ("DBAAS_POSTGRES_HOST", "pg-cluster-rw.dbaas.svc.cluster.local"),
            ("DBAAS_POSTGRES_POOLED_HOST", "pgbouncer.dbaas.svc.cluster.local"),
            ("DBAAS_REDIS_ADDRESSES", "redis-0:6379, redis-1:6379"),
            ("VAULT_ADDR", "http://127.0.0.1:8200/"),
            ("VAULT_TOKEN", "root"),
        ]);
        let mut d = Diagnostics::default();
        let (c, unknown) = ProviderConfig::resolve(&Value::object([]), &env, &mut d);
        assert!(d.is_empty(), "{d:?}");
        assert!(!unknown);
        let pg = c.postgres.unwrap();
        assert_eq!(
            (pg.host.as_str(), pg.port, pg.pooled_host.as_str(), pg.pooled_port),
            ("pg-cluster-rw.dbaas.svc.cluster.local", 5432, "pgbouncer.dbaas.svc.cluster.local", 6432)
        );
        assert_eq!(c.redis.unwrap().addresses, ["redis-0:6379", "redis-1:6379"]);
        let vault = c.vault.unwrap();
        assert_eq!(vault.address, "http://127.0.0.1:8200");
        assert_eq!(vault.database_mount, "database");
        assert!(c.mysql.is_none(), "no host, no service");
    }

    #[test]
    fn configuration_wins_over_the_environment() {
        let env = env_of(&[("DBAAS_MYSQL_HOST", "from-env"), ("DBAAS_MYSQL_PORT", "3307")]);
        let config = block("mysql", vec![("host", Value::string("from-config"))]);
        let mut d = Diagnostics::default();
        let (c, _) = ProviderConfig::resolve(&config, &env, &mut d);
        let m = c.mysql.unwrap();
        assert_eq!((m.host.as_str(), m.port), ("from-config", 3307));
    }

    #[test]
    fn the_legacy_service_is_refused_with_advice_and_a_path() {
        for host in ["postgresql.dbaas.svc.cluster.local", "postgresql.dbaas", "POSTGRESQL.dbaas.svc.cluster.local."] {
            let config = block("postgres", vec![("host", Value::string(host))]);
            let mut d = Diagnostics::default();
            ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
            assert!(d.has_error(), "{host} accepted");
            let diag = &d.0[0];
            assert_eq!(diag.attribute, Some(AttributePath::root("postgres").attribute("host")));
            assert!(diag.detail.contains("pg-cluster-rw.dbaas.svc.cluster.local"), "{}", diag.detail);
        }
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(
            &Value::object([]),
            &env_of(&[("DBAAS_POSTGRES_POOLED_HOST", "postgresql.dbaas.svc"), ("DBAAS_POSTGRES_HOST", "pg")]),
            &mut d,
        );
        assert!(d.0.iter().any(|x| x.detail.starts_with("DBAAS_POSTGRES_POOLED_HOST names it")), "{d:?}");
    }

    #[test]
    fn user_denied_hosts_replace_the_default_and_cover_every_service() {
        let config = Value::object([
            ("denied_hosts", Value::List(vec![Value::string("old-redis.cache.svc.cluster.local")])),
            (
                "redis",
                Value::object([(
                    "addresses",
                    Value::List(vec![Value::string("ok:6379"), Value::string("old-redis.cache:6379")]),
                )]),
            ),
        ]);
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].attribute, Some(AttributePath::root("redis").attribute("addresses").index(1)));
    }

    #[test]
    fn bad_environment_values_are_named() {
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(
            &Value::object([]),
            &env_of(&[("DBAAS_POSTGRES_HOST", "pg"), ("DBAAS_POSTGRES_PORT", "http")]),
            &mut d,
        );
        assert!(d.0.iter().any(|x| x.summary == "Invalid DBAAS_POSTGRES_PORT"), "{d:?}");
    }

    #[test]
    fn tls_modes_from_the_environment_are_checked_like_configuration() {
        for (var, value) in [
            ("DBAAS_POSTGRES_SSLMODE", "verify_full"),
            ("PGSSLMODE", "verify_full"),
            ("DBAAS_POSTGRES_SSLMODE", "VERIFY-FULL"),
            ("DBAAS_MYSQL_TLS", "require"),
        ] {
            assert_env_refused(&[("DBAAS_POSTGRES_HOST", "pg"), ("DBAAS_MYSQL_HOST", "my")], var, value);
        }
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(
            &Value::object([]),
            &env_of(&[
                ("DBAAS_POSTGRES_HOST", "pg"),
                ("PGSSLMODE", "verify-full"),
                ("DBAAS_MYSQL_HOST", "m"),
                ("DBAAS_MYSQL_TLS", "required"),
            ]),
            &mut d,
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn mount_paths_come_from_an_allow_list() {
        assert_allow_list(
            check_mount_path,
            &["database", "team-a/db", "kv_v2.prod", "database/", "/approle"],
            &["", "/", "a//b", "../sys", "db/../../sys", ".", "db?list=true", "db#x", "d b", "db%2F..", "dätabase"],
        );
    }

    #[test]
    fn mount_paths_from_the_environment_are_checked_like_configuration() {
        for (var, value) in [
            ("DBAAS_VAULT_DATABASE_MOUNT", "../sys"),
            ("DBAAS_VAULT_KV_MOUNT", "secret?list=true"),
            ("DBAAS_VAULT_APPROLE_MOUNT", "app role"),
        ] {
            let login = [("DBAAS_VAULT_APPROLE_ROLE_ID", "role"), ("DBAAS_VAULT_APPROLE_SECRET_ID", "secret")];
            assert_env_refused(&[("VAULT_ADDR", "http://127.0.0.1:8200"), login[0], login[1]], var, value);
        }
    }

    #[test]
    fn hosts_come_from_an_allow_list() {
        assert_allow_list(
            check_host,
            &[
                "pg-cluster-rw.dbaas.svc.cluster.local",
                "pg-cluster-rw.dbaas.svc.cluster.local.",
                "127.0.0.1",
                "::1",
                "db_1.internal",
                "localhost",
            ],
            &[
                "",
                ".",
                "pg:5432",
                "pg:5432/postgres?",
                "user@pg",
                "pg/other",
                "http://pg",
                "[::1]",
                "pg..local",
                "-pg",
                "pg host",
                "pg%2F",
            ],
        );
    }

    #[test]
    fn hosts_from_the_environment_are_checked_like_configuration() {
        for (var, value) in [
            ("DBAAS_POSTGRES_HOST", "pg:5432/postgres?"),
            ("DBAAS_POSTGRES_POOLED_HOST", "user@pgbouncer"),
            ("DBAAS_MYSQL_HOST", "my/sql"),
        ] {
            assert_env_refused(&[("DBAAS_POSTGRES_HOST", "pg"), ("DBAAS_MYSQL_HOST", "my")], var, value);
        }
    }

    #[test]
    fn redis_addresses_come_from_an_allow_list() {
        assert_allow_list(
            check_address,
            &["redis-0:6379", "redis-0", "redis.cache.svc.cluster.local:6380", "10.0.0.5:6379", "[::1]:6379", "[::1]"],
            &[
                "",
                "redis-0:63799x",
                "redis-0:0",
                "redis-0:",
                "::1:6379",
                "[::1]6379",
                "[redis]:6379",
                "user@redis:6379",
                "redis:6379/1",
            ],
        );
        let config =
            block("redis", vec![("addresses", Value::List(vec![Value::string("ok:6379"), Value::string("r:6379x")]))]);
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(d.0[0].attribute, Some(AttributePath::root("redis").attribute("addresses").index(1)));
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(
            &Value::object([]),
            &env_of(&[("DBAAS_REDIS_ADDRESSES", "redis-0:6379, redis-1:63790x")]),
            &mut d,
        );
        assert!(
            d.0.iter().any(|x| x.summary == "Invalid DBAAS_REDIS_ADDRESSES" && x.detail.contains("\"redis-1:63790x\"")),
            "{d:?}"
        );
    }

    #[test]
    fn vault_addresses_come_from_an_allow_list() {
        assert_allow_list(
            check_base_url,
            &[
                "http://127.0.0.1:8200",
                "https://vault.platform.svc:8200/",
                "https://[::1]:8200",
                "https://vault/prefix",
            ],
            &[
                "",
                "vault:8200",
                "ftp://vault",
                "https://user:pw@vault",
                "https://vault?x=1",
                "https://vault#v1",
                "http://",
            ],
        );
        assert_env_refused(&[], "VAULT_ADDR", "https://vault:8200?ns=a");
    }

    #[test]
    fn unknown_values_are_reported_not_guessed() {
        let config = block("postgres", vec![("host", Value::unknown())]);
        let mut d = Diagnostics::default();
        let (c, unknown) = ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
        assert!(unknown);
        assert!(c.postgres.is_none());
    }

    #[test]
    fn a_vault_login_comes_from_its_block_or_its_environment() {
        let mut d = Diagnostics::default();
        let env = env_of(&[
            ("VAULT_ADDR", "http://vault:8200"),
            ("DBAAS_VAULT_JWT_ROLE", "ci"),
            ("DBAAS_VAULT_JWT", "a.b.c"),
        ]);
        let (config, _) = ProviderConfig::resolve(&Value::Null, &env, &mut d);
        assert!(!d.has_error(), "{d:?}");
        match config.vault.unwrap().login {
            Some(VaultLogin::Jwt { mount, role, jwt }) => {
                assert_eq!((mount.as_str(), role.as_str(), jwt.expose()), ("jwt", "ci", "a.b.c"));
            }
            other => panic!("{other:?}"),
        }
        // A block without what it needs is an error on the missing setting.
        let config = Value::object([(
            "vault",
            Value::object([("auth_login_approle", Value::object([("role_id", Value::string("r"))]))]),
        )]);
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(&config, &env_of(&[("VAULT_ADDR", "http://vault:8200")]), &mut d);
        assert!(format!("{d:?}").contains("secret_id"), "{d:?}");
    }

    #[test]
    fn kv_credentials_need_vault() {
        let config = block(
            "postgres",
            vec![("host", Value::string("pg")), ("admin_credentials_kv_path", Value::string("postgres/root"))],
        );
        let mut d = Diagnostics::default();
        let (c, _) = ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
        assert!(matches!(c.postgres.unwrap().admin, AdminCredentials::VaultKv(ref p) if p == "postgres/root"));
        assert_eq!(d.0[0].attribute, Some(AttributePath::root("postgres").attribute("admin_credentials_kv_path")));
    }

    #[test]
    fn host_parts() {
        assert_eq!(host_of("https://vault.svc:8200/v1"), "vault.svc");
        assert_eq!(host_of("[::1]:6379"), "::1");
        assert_eq!(host_of("redis-0:6379"), "redis-0");
        assert_eq!(host_of("user@host:1"), "host");
    }
}
