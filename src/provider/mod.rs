//! The dbaas provider: its configuration and the one registry of every type it offers.

pub mod config;
pub mod services;

use std::sync::Arc;

use async_trait::async_trait;

use crate::actions::rotate_credentials::RotateCredentials;
use crate::actions::rotate_root::RotateRoot;
use crate::data_sources::endpoints::Endpoints;
use crate::ephemeral::credentials::Credentials;
use crate::framework::component::{
    Action, ConfigureRequest, DataSource, EphemeralResource, ListResource, Provider, Resource,
};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::schema::Schema;
use crate::framework::value::Value;
use crate::list_resources::redis_namespace::RedisNamespaces;
use crate::list_resources::rotated_role::RotatedRoles;
use crate::list_resources::shared_database::SharedDatabases;
use crate::platform::settings::ProviderConfig;
use crate::provider::services::Services;
use crate::resources::redis_namespace::RedisNamespace;
use crate::resources::rotated_role::RotatedRole;
use crate::resources::shared_database::SharedDatabase;

/// The `dbaas` provider.
#[derive(Default)]
pub struct DbaasProvider {
    services: Arc<Services>,
}

impl DbaasProvider {
    /// A provider with nothing configured yet.
    pub fn new() -> DbaasProvider {
        DbaasProvider::default()
    }
}

fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[async_trait]
impl Provider for DbaasProvider {
    fn schema(&self) -> Schema {
        config::schema()
    }

    async fn validate_config(&self, config: &Value, diagnostics: &mut Diagnostics) {
        ProviderConfig::resolve(config, &environment, diagnostics);
    }

    async fn configure(&self, request: ConfigureRequest, diagnostics: &mut Diagnostics) {
        let (config, unknown) = ProviderConfig::resolve(&request.config, &environment, diagnostics);
        if unknown {
            diagnostics.error(
                "Provider configuration not known yet",
                "Some of the dbaas provider's settings depend on values known only after apply. Set them from variables, literals or the environment.",
            );
        }
        if diagnostics.has_error() {
            return;
        }
        tracing::debug!(
            terraform_version = %request.terraform_version,
            postgres = config.postgres.is_some(),
            mysql = config.mysql.is_some(),
            redis = config.redis.is_some(),
            vault = config.vault.is_some(),
            "provider configured"
        );
        self.services.configure(config, request.stop);
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![
            Arc::new(SharedDatabase::new(self.services.clone())),
            Arc::new(RedisNamespace::new(self.services.clone())),
            Arc::new(RotatedRole::new(self.services.clone())),
        ]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![Arc::new(Endpoints::new(self.services.clone()))]
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        vec![Arc::new(Credentials::new(self.services.clone()))]
    }

    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        vec![
            Arc::new(SharedDatabases::new(self.services.clone())),
            Arc::new(RedisNamespaces::new(self.services.clone())),
            Arc::new(RotatedRoles::new(self.services.clone())),
        ]
    }

    fn actions(&self) -> Vec<Arc<dyn Action>> {
        vec![Arc::new(RotateCredentials::new(self.services.clone())), Arc::new(RotateRoot::new(self.services.clone()))]
    }

    async fn shutdown(&self) {
        self.services.shutdown().await;
    }
}
