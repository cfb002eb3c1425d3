//! `list "dbaas_shared_database"`: the databases on one engine's shared server, whether a
//! stack made them, another stack did, or someone did by hand.
//!
//! ```hcl
//! list "dbaas_shared_database" "all" {
//!   provider = dbaas
//!   config {
//!     engine      = "postgresql"
//!     name_prefix = "trading"
//!   }
//! }
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use crate::errors;
use crate::framework::component::{Context, ListRequest, ListResource, ListResponse, Listed};
use crate::framework::schema::{Attribute, Schema};
use crate::framework::validator::one_of;
use crate::framework::value::Value;
use crate::platform::inventory;
use crate::platform::naming::Engine;
use crate::provider::services::Services;

/// The `dbaas_shared_database` list resource.
pub struct SharedDatabases {
    services: Arc<Services>,
}

impl SharedDatabases {
    /// The list resource, using `services`.
    pub fn new(services: Arc<Services>) -> SharedDatabases {
        SharedDatabases { services }
    }
}

#[async_trait]
impl ListResource for SharedDatabases {
    fn type_name(&self) -> &'static str {
        "dbaas_shared_database"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Lists the databases on the shared PostgreSQL or MySQL server that `dbaas_shared_database` could manage: every database whose name the resource accepts, except archives (`<name>__archived_<timestamp>`). Each result's identity imports it.",
            vec![
                Attribute::string("engine")
                    .required()
                    .validator(one_of(&["postgresql", "mysql"]))
                    .description("`postgresql` or `mysql`."),
                Attribute::string("name_prefix").description("Only databases whose names start with this."),
            ],
        )
    }

    async fn list(&self, _ctx: &Context, request: ListRequest, response: &mut ListResponse) {
        let d = &mut response.diagnostics;
        let Some(engine) = request.config.attr("engine").and_then(Value::as_str).and_then(Engine::parse) else {
            return;
        };
        let prefix = request.config.attr("name_prefix").and_then(Value::as_str).unwrap_or_default();
        let found = match engine {
            Engine::Postgresql => {
                let Some(pg) = self.services.postgres(d).await else { return };
                match inventory::postgres_databases(&pg, prefix).await {
                    Ok(found) => found,
                    Err(e) => return errors::postgres(d, "listing databases", &e),
                }
            }
            Engine::Mysql => {
                let Some(my) = self.services.mysql(d).await else { return };
                match inventory::mysql_databases(&my, prefix).await {
                    Ok(found) => found,
                    Err(e) => return errors::mysql(d, "listing databases", &e),
                }
            }
        };
        response.found = found
            .into_iter()
            .take(request.limit)
            .map(|db| Listed {
                identity: Value::object([
                    ("engine", Value::string(db.engine.as_str())),
                    ("name", Value::string(&db.name)),
                ]),
                display_name: db.id(),
            })
            .collect();
    }
}
