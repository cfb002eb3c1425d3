//! `dbaas_rotate_root`: rotate the password of a database's or namespace's Vault
//! management login now (Vault's rotate-root), so only Vault knows the new one. For a
//! platform team after a suspected leak, or on a schedule through `action_trigger`.
//!
//! ```hcl
//! action "dbaas_rotate_root" "trading" {
//!   config {
//!     database = dbaas_shared_database.trading.id
//!   }
//! }
//! # terraform apply -invoke=action.dbaas_rotate_root.trading
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use crate::framework::component::{Action, Context, Progress};
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::schema::{Attribute, Schema};
use crate::framework::validator::string_check;
use crate::framework::value::Value;
use crate::platform::naming::Target;
use crate::provider::services::Services;

/// The `dbaas_rotate_root` action.
pub struct RotateRoot {
    services: Arc<Services>,
}

impl RotateRoot {
    /// The action, using `services`.
    pub fn new(services: Arc<Services>) -> RotateRoot {
        RotateRoot { services }
    }
}

#[async_trait]
impl Action for RotateRoot {
    fn type_name(&self) -> &'static str {
        "dbaas_rotate_root"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Rotates the password of the management login a database's or namespace's Vault connection uses (`<name>_vault` on PostgreSQL and MySQL, `dbaas-<name>-vault` on Redis), through Vault's `rotate-root`, so only Vault knows the new one. Credentials already issued keep working.",
            vec![
                Attribute::string("database")
                    .required()
                    .validator(string_check(Target::check_id))
                    .description("The `id` of a `dbaas_shared_database` or `dbaas_redis_namespace`."),
            ],
        )
    }

    async fn invoke(&self, _ctx: &Context, config: Value, progress: &Progress, d: &mut Diagnostics) {
        let Some(target) = config.attr("database").and_then(Value::as_str).and_then(Target::parse) else {
            return d.attribute_error(
                AttributePath::root("database"),
                "Invalid database id",
                "The id is not known or not valid.",
            );
        };
        let Some(rotation) = super::rotation(&self.services, d) else { return };
        let mount = rotation.mount;
        progress.report(format!(
            "Rotating the management login of {} ({mount}/rotate-root/{})",
            target.id(),
            target.vault_connection()
        ));
        match rotation.root(&target).await {
            Ok(()) => progress.report(format!("{}: Vault set a new password that only it knows", target.id())),
            Err(e) => crate::errors::rotation(d, "database", "rotating the management login", &e),
        }
    }
}
