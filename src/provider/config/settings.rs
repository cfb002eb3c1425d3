//! Every setting of the provider block, per service: its attribute, environment variable,
//! kind, default and description. The schema, the docs and the resolution all read these tables.

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

pub(super) const APPROLE: &[Setting] = &[
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

pub(super) const JWT: &[Setting] = &[
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

pub(super) const KUBERNETES: &[Setting] = &[
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

pub(super) const POSTGRES: &[Setting] = &[
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
        description: "PgBouncer's `auth_user` (CloudNativePG's pooler uses `cnpg_pooler_pgbouncer`). Databases revoke CONNECT from PUBLIC, so this role is granted CONNECT on each one; without it PgBouncer cannot look up logins. It must exist and be the platform's (a plain login nobody but the platform's admin holds with ADMIN, no user Vault issues): otherwise a plan that creates or changes a database is an error. Not used when `pooled_host`/`pooled_port` are the server itself (no PgBouncer), or when set to `\"\"`.",
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

pub(super) const MYSQL: &[Setting] = &[
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

pub(super) const REDIS: &[Setting] = &[
    Setting {
        name: "addresses",
        env: &["DBAAS_REDIS_ADDRESSES"],
        default: None,
        kind: SettingKind::List,
        sensitive: false,
        description: "`host:port` of every node (primary first, then replicas; an IPv6 address in brackets, `[::1]:6379`), the port always written out: ACLs are not replicated, so the provider applies them to each. Comma-separated in the environment.",
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

pub(super) const VAULT: &[Setting] = &[
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

pub(super) const DENIED_HOSTS_DESCRIPTION: &str = "Hosts that must never be used. Configuring one (or a shorter DNS form of one, such as `postgresql.dbaas`) is an error at validate time. Defaults to `[\"postgresql.dbaas.svc.cluster.local\"]`, the legacy PostgreSQL service, which has no endpoints. Comma-separated in `DBAAS_DENIED_HOSTS`.";
