//! The service clients one provider process shares, built lazily from the configuration.
//! On the resource side of the platform: a service that is not configured, or whose admin
//! credentials cannot be read, becomes a diagnostic here, so the platform never sees one.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::backends::deadline::Deadline;
use crate::backends::mysql::{Mysql, MysqlEndpoint};
use crate::backends::pgbouncer::{PgBouncer, PgBouncerEndpoint};
use crate::backends::postgres::{Postgres, PostgresEndpoint};
use crate::backends::redis::{Redis, RedisEndpoint};
use crate::backends::vault::Vault;
use crate::framework::diagnostics::Diagnostics;
use crate::platform::credentials::{Credentials, Store};
use crate::platform::databases::{Databases, Server};
use crate::platform::namespaces::Namespaces;
use crate::platform::naming::{Engine, Target};
use crate::platform::settings::{AdminCredentials, ProviderConfig, VaultConfig};
use crate::secret::Secret;

/// What every resource of one provider process shares: the resolved configuration and
/// the service clients, each built the first time a resource needs it (never at
/// configure time: Terraform starts the provider 3-4 times per run, and validate or a
/// plan of new resources must not touch the network).
#[derive(Default)]
pub struct Services {
    config: OnceLock<ProviderConfig>,
    stop: OnceLock<CancellationToken>,
    vault: OnceLock<Option<Vault>>,
    postgres: tokio::sync::OnceCell<Arc<Postgres>>,
    pgbouncer: OnceLock<Option<Arc<PgBouncer>>>,
    mysql: tokio::sync::OnceCell<Arc<Mysql>>,
    redis: OnceLock<Arc<Redis>>,
}

impl Services {
    /// Takes the resolved configuration for the rest of the process's life, and the stop
    /// signal every client's calls end on.
    pub fn configure(&self, config: ProviderConfig, stop: CancellationToken) {
        let _ = self.config.set(config);
        let _ = self.stop.set(stop);
    }

    /// The deadline of one operation with a service whose `timeout` is `timeout`.
    fn deadline(&self, service: &'static str, timeout: std::time::Duration) -> Deadline {
        Deadline { timeout, stop: self.stop.get().cloned().unwrap_or_default(), service, trips: Default::default() }
    }

    /// The configuration, or an error diagnostic when Terraform has not configured the
    /// provider (or configured it with values unknown until apply).
    pub fn config(&self, diagnostics: &mut Diagnostics) -> Option<&ProviderConfig> {
        let config = self.config.get();
        if config.is_none() {
            diagnostics.error(
                "Provider not configured",
                "The dbaas provider's configuration is not available: it may depend on values known only after apply. Configure it from variables or the environment.",
            );
        }
        config
    }

    /// Revokes what the process holds that outlives it: a Vault login's token.
    pub async fn shutdown(&self) {
        if let Some(Some(vault)) = self.vault.get() {
            vault.logout().await;
        }
    }

    /// The Vault client and its configuration, or an error saying that `what` needs the
    /// provider's `vault` block.
    pub fn vault_for(&self, what: &str, diagnostics: &mut Diagnostics) -> Option<(&Vault, &VaultConfig)> {
        let config = self.config(diagnostics)?.vault.as_ref();
        match (self.vault(), config) {
            (Some(vault), Some(config)) => Some((vault, config)),
            _ => {
                diagnostics.error(
                    "Vault is not configured",
                    format!("{what} needs the provider's `vault` block (or VAULT_ADDR and VAULT_TOKEN)."),
                );
                None
            }
        }
    }

    /// The Vault client, or `None` when no Vault is configured.
    pub fn vault(&self) -> Option<&Vault> {
        self.vault
            .get_or_init(|| {
                let v = self.config.get()?.vault.as_ref()?;
                Some(Vault::with_login(
                    &v.address,
                    v.token.clone(),
                    v.login.clone(),
                    v.namespace.clone(),
                    self.deadline("vault", v.timeout),
                ))
            })
            .as_ref()
    }

    /// Admin credentials, from configuration or Vault KV.
    async fn admin_credentials(
        &self,
        admin: &AdminCredentials,
        d: &mut Diagnostics,
    ) -> Option<(String, Option<Secret>)> {
        match admin {
            AdminCredentials::Given { username, password } => Some((username.clone(), password.clone())),
            AdminCredentials::VaultKv(path) => {
                let (vault, mount) = (self.vault()?, self.config.get()?.vault.as_ref()?.kv_mount.clone());
                match vault.kv_credentials(&mount, path).await {
                    Ok((u, p)) => Some((u, Some(p))),
                    Err(e) => {
                        crate::errors::vault(d, &format!("reading admin credentials from {mount}/{path}"), &e);
                        None
                    }
                }
            }
        }
    }

    /// The PostgreSQL admin client, or an error diagnostic when PostgreSQL is not configured.
    pub async fn postgres(&self, d: &mut Diagnostics) -> Option<Arc<Postgres>> {
        let config = self.config(d)?;
        let Some(pg) = config.postgres.as_ref() else {
            d.error(
                "PostgreSQL is not configured",
                "Add a `postgres` block to the provider (or set DBAAS_POSTGRES_HOST).",
            );
            return None;
        };
        if let Some(p) = self.postgres.get() {
            return Some(p.clone());
        }
        let (username, password) = self.admin_credentials(&pg.admin, d).await?;
        let client = self
            .postgres
            .get_or_init(|| async {
                Arc::new(Postgres::new(PostgresEndpoint {
                    host: pg.host.clone(),
                    port: pg.port,
                    username,
                    password,
                    sslmode: pg.sslmode.clone(),
                    database: pg.database.clone(),
                    max_connections: pg.max_connections,
                    pooler_auth_user: pg.pooler_auth_user.clone(),
                    pooler_host: Some(pg.pooled_host.clone()),
                    deadline: self.deadline("postgres", pg.timeout),
                    lock_timeout: pg.lock_timeout,
                }))
            })
            .await;
        Some(client.clone())
    }

    /// PgBouncer's admin console, when the `postgres` block names an admin login for it.
    pub fn pgbouncer(&self) -> Option<Arc<PgBouncer>> {
        self.pgbouncer
            .get_or_init(|| {
                let pg = self.config.get()?.postgres.as_ref()?;
                let (username, password) = pg.pooler_admin.clone()?;
                Some(Arc::new(PgBouncer::new(PgBouncerEndpoint {
                    host: pg.pooled_host.clone(),
                    port: pg.pooled_port,
                    username,
                    password,
                    sslmode: pg.sslmode.clone(),
                    deadline: self.deadline("pgbouncer", pg.timeout),
                })))
            })
            .clone()
    }

    /// The Redis admin client, or an error diagnostic when Redis is not configured.
    pub fn redis(&self, d: &mut Diagnostics) -> Option<Arc<Redis>> {
        let config = self.config(d)?;
        let Some(r) = config.redis.as_ref() else {
            d.error("Redis is not configured", "Add a `redis` block to the provider (or set DBAAS_REDIS_ADDRESSES).");
            return None;
        };
        if let Some(client) = self.redis.get() {
            return Some(client.clone());
        }
        let tls = if r.tls {
            // redis-rs asks rustls for the process's provider; this binary compiles two.
            let _ = rustls::crypto::ring::default_provider().install_default();
            match &r.ca_cert_file {
                None => Some(None),
                Some(file) => match std::fs::read(file) {
                    Ok(pem) => Some(Some(pem)),
                    Err(e) => {
                        d.attribute_error(
                            crate::framework::diagnostics::AttributePath::root("redis").attribute("ca_cert_file"),
                            "Cannot read Redis's CA certificate",
                            format!("{file}: {e}."),
                        );
                        return None;
                    }
                },
            }
        } else {
            None
        };
        let client = self.redis.get_or_init(|| {
            Arc::new(Redis::new(RedisEndpoint {
                addresses: r.addresses.clone(),
                username: r.username.clone(),
                password: r.password.clone(),
                deadline: self.deadline("redis", r.timeout),
                tls,
            }))
        });
        Some(client.clone())
    }

    /// The Redis namespace operations, or an error diagnostic when Redis is not configured.
    pub fn namespaces(&self, d: &mut Diagnostics) -> Option<Namespaces<'_>> {
        self.redis(d)?;
        let config = self.config.get()?;
        Some(Namespaces {
            redis: self.redis.get()?,
            redis_config: config.redis.as_ref()?,
            vault: self.vault().zip(config.vault.as_ref()),
        })
    }

    /// The database operations on `engine`'s server, or an error diagnostic when that server
    /// is not configured or its admin credentials cannot be read.
    pub async fn databases(&self, engine: Engine, d: &mut Diagnostics) -> Option<Databases<'_>> {
        let config = self.config(d)?;
        let server = match engine {
            Engine::Postgresql => {
                self.postgres(d).await?;
                Server::Postgres(self.postgres.get()?, config.postgres.as_ref()?)
            }
            Engine::Mysql => {
                self.mysql(d).await?;
                Server::Mysql(self.mysql.get()?, config.mysql.as_ref()?)
            }
        };
        let pooler = match engine {
            Engine::Postgresql => {
                self.pgbouncer();
                self.pgbouncer.get().and_then(Option::as_deref)
            }
            Engine::Mysql => None,
        };
        Some(Databases { server, vault: self.vault().zip(config.vault.as_ref()), pooler })
    }

    /// The credential operations for roles on `target`, or an error diagnostic when its
    /// server or Vault is not configured (`what` names who needs Vault).
    pub async fn credentials(&self, target: &Target, what: &str, d: &mut Diagnostics) -> Option<Credentials<'_>> {
        let store = match target {
            Target::Database(db) if db.engine == Engine::Postgresql => return self.postgres_credentials(what, d).await,
            Target::Database(_) => {
                self.mysql(d).await?;
                Store::Mysql(self.mysql.get()?)
            }
            Target::Namespace(_) => Store::Redis(self.namespaces(d)?),
        };
        self.credentials_in(store, what, d)
    }

    /// The credential operations on the shared PostgreSQL, whatever the database: to find
    /// what a role made before the provider stands for.
    pub async fn postgres_credentials(&self, what: &str, d: &mut Diagnostics) -> Option<Credentials<'_>> {
        self.postgres(d).await?;
        self.credentials_in(Store::Postgres(self.postgres.get()?), what, d)
    }

    fn credentials_in<'s>(&'s self, store: Store<'s>, what: &str, d: &mut Diagnostics) -> Option<Credentials<'s>> {
        let (vault, vault_config) = self.vault_for(what, d)?;
        Some(Credentials { store, vault, mount: &vault_config.database_mount, kv_mount: &vault_config.kv_mount })
    }

    /// The MySQL admin client, or an error diagnostic when MySQL is not configured.
    pub async fn mysql(&self, d: &mut Diagnostics) -> Option<Arc<Mysql>> {
        let config = self.config(d)?;
        let Some(my) = config.mysql.as_ref() else {
            d.error("MySQL is not configured", "Add a `mysql` block to the provider (or set DBAAS_MYSQL_HOST).");
            return None;
        };
        if let Some(m) = self.mysql.get() {
            return Some(m.clone());
        }
        let (username, password) = self.admin_credentials(&my.admin, d).await?;
        let client = self
            .mysql
            .get_or_init(|| async {
                Arc::new(Mysql::new(MysqlEndpoint {
                    host: my.host.clone(),
                    port: my.port,
                    username,
                    password,
                    tls: my.tls.clone(),
                    max_connections: my.max_connections,
                    deadline: self.deadline("mysql", my.timeout),
                }))
            })
            .await;
        Some(client.clone())
    }
}
