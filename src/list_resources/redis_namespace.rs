//! `list "dbaas_redis_namespace"`: the namespaces on the shared Redis, found by their ACL
//! users, whichever stack made them.
//!
//! ```hcl
//! list "dbaas_redis_namespace" "all" {
//!   provider = dbaas
//!   config {
//!     name_prefix = "cache"
//!   }
//! }
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use crate::errors;
use crate::framework::component::{Context, ListRequest, ListResource, ListResponse, Listed};
use crate::framework::schema::{Attribute, Schema};
use crate::framework::value::Value;
use crate::platform::inventory;
use crate::provider::services::Services;

/// The `dbaas_redis_namespace` list resource.
pub struct RedisNamespaces {
    services: Arc<Services>,
}

impl RedisNamespaces {
    /// The list resource, using `services`.
    pub fn new(services: Arc<Services>) -> RedisNamespaces {
        RedisNamespaces { services }
    }
}

#[async_trait]
impl ListResource for RedisNamespaces {
    fn type_name(&self) -> &'static str {
        "dbaas_redis_namespace"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Lists the namespaces on the shared Redis: every ACL user named `dbaas-<namespace>` on the primary (management users and static logins are not namespaces). Each result's identity imports it.",
            vec![Attribute::string("name_prefix").description("Only namespaces whose names start with this.")],
        )
    }

    async fn list(&self, _ctx: &Context, request: ListRequest, response: &mut ListResponse) {
        let d = &mut response.diagnostics;
        let prefix = request.config.attr("name_prefix").and_then(Value::as_str).unwrap_or_default();
        let Some(redis) = self.services.redis(d) else { return };
        let found = match inventory::namespaces(&redis, prefix).await {
            Ok(found) => found,
            Err(e) => return errors::redis(d, "listing namespaces", &e),
        };
        response.found = found
            .into_iter()
            .take(request.limit)
            .map(|ns| Listed { identity: Value::object([("name", Value::string(ns.as_str()))]), display_name: ns.id() })
            .collect();
    }
}
