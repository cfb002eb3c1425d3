//! `list "dbaas_rotated_role"`: the Vault roles, dynamic and static, that issue
//! credentials for one database or namespace, whichever stack made them.
//!
//! ```hcl
//! list "dbaas_rotated_role" "trading" {
//!   provider = dbaas
//!   config {
//!     database = "postgresql/trading"
//!   }
//! }
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use crate::errors;
use crate::framework::component::{Context, ListRequest, ListResource, ListResponse, Listed};
use crate::framework::diagnostics::AttributePath;
use crate::framework::schema::{Attribute, Schema};
use crate::framework::validator::string_check;
use crate::framework::value::Value;
use crate::platform::inventory;
use crate::platform::naming::Target;
use crate::provider::services::Services;

/// The `dbaas_rotated_role` list resource.
pub struct RotatedRoles {
    services: Arc<Services>,
}

impl RotatedRoles {
    /// The list resource, using `services`.
    pub fn new(services: Arc<Services>) -> RotatedRoles {
        RotatedRoles { services }
    }
}

#[async_trait]
impl ListResource for RotatedRoles {
    fn type_name(&self) -> &'static str {
        "dbaas_rotated_role"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Lists the Vault roles that issue credentials for one database or namespace: every dynamic or static role on the database secrets mount whose connection (`db_name`) is that database's on the server this provider configuration names (another configuration may share the mount), or a role made before the provider whose statements name that database alone. Each result's identity imports it.",
            vec![
                Attribute::string("database")
                    .required()
                    .validator(string_check(Target::check_id))
                    .description("The `id` of a `dbaas_shared_database` or `dbaas_redis_namespace`: `postgresql/<name>`, `mysql/<name>` or `redis/<name>`."),
            ],
        )
    }

    async fn list(&self, _ctx: &Context, request: ListRequest, response: &mut ListResponse) {
        let d = &mut response.diagnostics;
        let Some(id) = request.config.attr("database").and_then(Value::as_str) else { return };
        let Some(target) = Target::parse(id) else {
            if let Err(reason) = Target::check_id(id) {
                d.attribute_error(AttributePath::root("database"), "Invalid database id", reason);
            }
            return;
        };
        let Some((vault, config)) = self.services.vault_for("Listing dbaas_rotated_role", d) else { return };
        let mount = config.database_mount.clone();
        // Only this configuration's server: another may share the mount.
        let server = self.services.config(d).and_then(|c| c.connection_server(&target));
        let found = match inventory::roles(vault, &mount, &target, server.as_deref()).await {
            Ok(found) => found,
            Err(e) => return errors::vault(d, "listing roles", &e),
        };
        response.found = found
            .into_iter()
            .take(request.limit)
            .map(|role| Listed {
                identity: Value::object([("mount", Value::string(&mount)), ("role", Value::string(role.vault_role()))]),
                display_name: role.id(),
            })
            .collect();
    }
}
