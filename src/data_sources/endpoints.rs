//! `dbaas_endpoints`: the platform's endpoint catalog, so that modules never hardcode a
//! host. Reads only the provider configuration: it opens no connection.
//!
//! ```hcl
//! data "dbaas_endpoints" "this" {}
//! output "postgres" { value = data.dbaas_endpoints.this.postgres }   # pooled host/port for apps
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use crate::framework::component::{Context, DataSource};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::schema::{Attribute, Schema};
use crate::framework::types::Type;
use crate::framework::value::Value;
use crate::platform::naming;
use crate::platform::settings::ProviderConfig;
use crate::provider::services::Services;

/// The `dbaas_endpoints` data source.
pub struct Endpoints {
    services: Arc<Services>,
}

impl Endpoints {
    /// The data source, reading `services`' configuration.
    pub fn new(services: Arc<Services>) -> Endpoints {
        Endpoints { services }
    }
}

#[async_trait]
impl DataSource for Endpoints {
    fn type_name(&self) -> &'static str {
        "dbaas_endpoints"
    }

    fn schema(&self) -> Schema {
        let text = |name, description: &str| Attribute::string(name).computed().description(description);
        let number = |name, description: &str| Attribute::number(name).computed().description(description);
        Schema::new(
            "The platform's endpoint catalog, from the provider configuration. A service that is not configured is `null`. Nothing here is secret, and reading it opens no connection.\n\nWhich endpoint for whom: apps connect to `postgres.host` (PgBouncer, transaction pooling); migrations and DDL to `postgres.admin_host` (the primary's read-write service, `-rw`); readers that may lag a moment to `postgres.pooled_read_host`, else `postgres.read_host` (the replicas, `-ro`), with `readonly` credentials, which work there because roles are cluster-wide; on MySQL, writers to `mysql.host` and readers to `mysql.read_host`. In a failover the read-write service follows the new primary: apps reconnect to the same endpoint, sessions open on the old primary end, and credentials Vault issues keep working, since its connections name the service, not a server.",
            vec![
                Attribute::nested(
                    "postgres",
                    vec![
                        text("host", "PgBouncer: what apps connect to."),
                        number("port", "PgBouncer's port."),
                        text("admin_host", "The primary: for migrations and DDL."),
                        number("admin_port", "The primary's port."),
                        text("read_host", "The replicas, for reads (the `-ro` service); null when not configured."),
                        number("read_port", "Their port."),
                        text(
                            "pooled_read_host",
                            "A read-only PgBouncer in front of the replicas; null when there is none.",
                        ),
                        number("pooled_read_port", "Its port."),
                        text("sslmode", "libpq `sslmode` to use."),
                    ],
                )
                .computed()
                .description("The shared PostgreSQL cluster: pooled endpoint for apps, direct endpoint for DDL."),
                Attribute::nested(
                    "mysql",
                    vec![
                        text("host", "Read-write endpoint."),
                        number("port", "Its port."),
                        text(
                            "read_host",
                            "Read-only endpoint (MySQL Router's read-only port); null when not configured.",
                        ),
                        number("read_port", "Its port."),
                        text("tls", "TLS mode to use."),
                    ],
                )
                .computed()
                .description("The shared MySQL cluster."),
                Attribute::nested(
                    "redis",
                    vec![
                        text("host", "The primary's host."),
                        number("port", "The primary's port."),
                        Attribute::new("addresses", Type::list(Type::String))
                            .computed()
                            .description("`host:port` of every node, primary first."),
                        Attribute::bool("tls").computed().description("Whether to connect with TLS."),
                    ],
                )
                .computed()
                .description("The shared Redis."),
                Attribute::nested(
                    "vault",
                    vec![
                        text("address", "Vault's address."),
                        text("namespace", "Vault namespace, if any."),
                        text("database_mount", "Mount of the database secrets engine."),
                        text("kv_mount", "Mount of the KV v2 engine."),
                        text(
                            "creds_path_pattern",
                            "Where apps read dynamic credentials: `<database_mount>/creds/<role>`.",
                        ),
                        text(
                            "static_creds_path_pattern",
                            "Where apps read static-role credentials: `<database_mount>/static-creds/<role>`.",
                        ),
                    ],
                )
                .computed()
                .description("Vault, where apps read their credentials."),
            ],
        )
    }

    async fn read(&self, _ctx: &Context, _config: Value, diagnostics: &mut Diagnostics) -> Value {
        match self.services.config(diagnostics) {
            Some(config) => catalog(config),
            None => Value::Null,
        }
    }
}

/// An optional endpoint's host, or null.
fn host_of(endpoint: &Option<(String, u16)>) -> Value {
    endpoint.as_ref().map_or(Value::Null, |(h, _)| Value::string(h))
}

/// An optional endpoint's port, or null.
fn port_of(endpoint: &Option<(String, u16)>) -> Value {
    endpoint.as_ref().map_or(Value::Null, |(_, p)| Value::int(i64::from(*p)))
}

fn catalog(c: &ProviderConfig) -> Value {
    let postgres = c.postgres.as_ref().map_or(Value::Null, |p| {
        Value::object([
            ("host", Value::string(&p.pooled_host)),
            ("port", Value::int(i64::from(p.pooled_port))),
            ("admin_host", Value::string(&p.host)),
            ("admin_port", Value::int(i64::from(p.port))),
            ("read_host", host_of(&p.read)),
            ("read_port", port_of(&p.read)),
            ("pooled_read_host", host_of(&p.pooled_read)),
            ("pooled_read_port", port_of(&p.pooled_read)),
            ("sslmode", Value::string(&p.sslmode)),
        ])
    });
    let mysql = c.mysql.as_ref().map_or(Value::Null, |m| {
        Value::object([
            ("host", Value::string(&m.host)),
            ("port", Value::int(i64::from(m.port))),
            ("read_host", host_of(&m.read)),
            ("read_port", port_of(&m.read)),
            ("tls", Value::string(&m.tls)),
        ])
    });
    let redis = c.redis.as_ref().map_or(Value::Null, |r| {
        let (host, port) = r.primary();
        Value::object([
            ("host", Value::string(host)),
            ("port", Value::int(i64::from(port))),
            ("addresses", Value::List(r.addresses.iter().map(Value::string).collect())),
            ("tls", Value::Bool(r.tls)),
        ])
    });
    let vault = c.vault.as_ref().map_or(Value::Null, |v| {
        Value::object([
            ("address", Value::string(&v.address)),
            ("namespace", Value::opt_string(v.namespace.clone())),
            ("database_mount", Value::string(&v.database_mount)),
            ("kv_mount", Value::string(&v.kv_mount)),
            (
                "creds_path_pattern",
                Value::string(naming::creds_path(&v.database_mount, naming::Issuing::Dynamic, "<role>")),
            ),
            (
                "static_creds_path_pattern",
                Value::string(naming::creds_path(&v.database_mount, naming::Issuing::Static, "<role>")),
            ),
        ])
    });
    Value::object([("postgres", postgres), ("mysql", mysql), ("redis", redis), ("vault", vault)])
}
