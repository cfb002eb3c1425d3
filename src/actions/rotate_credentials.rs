//! `dbaas_rotate_credentials`: rotate a `dbaas_rotated_role` now. A static role's login
//! gets a new password (Vault's rotate-role); a dynamic role's every issued lease is
//! revoked, its users dropped, so apps fetch fresh credentials at their next start.
//!
//! ```hcl
//! action "dbaas_rotate_credentials" "pool" {
//!   config {
//!     role = dbaas_rotated_role.pool.id
//!   }
//! }
//! # terraform apply -invoke=action.dbaas_rotate_credentials.pool
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use crate::framework::component::{Action, Context, Progress};
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::schema::{Attribute, Schema};
use crate::framework::validator::string_check;
use crate::framework::value::Value;
use crate::platform::naming::RoleName;
use crate::platform::rotation::Rotated;
use crate::provider::services::Services;

/// The `dbaas_rotate_credentials` action.
pub struct RotateCredentials {
    services: Arc<Services>,
}

impl RotateCredentials {
    /// The action, using `services`.
    pub fn new(services: Arc<Services>) -> RotateCredentials {
        RotateCredentials { services }
    }
}

fn check_role(id: &str) -> Result<(), String> {
    RoleName::parse_id(id).map(drop).ok_or_else(|| {
        format!(
            "{id:?} is not a `dbaas_rotated_role` id (`<engine>/<database>/<name>`, e.g. `postgresql/trading/app`)."
        )
    })
}

#[async_trait]
impl Action for RotateCredentials {
    fn type_name(&self) -> &'static str {
        "dbaas_rotate_credentials"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Rotates a `dbaas_rotated_role`'s credentials now. A static role's login gets a new password from Vault (its `rotate-role` endpoint), and the action reports when Vault rotated it. A dynamic role's every issued lease is revoked and its users dropped, so apps must fetch fresh credentials: run it when credentials may have leaked.",
            vec![
                Attribute::string("role")
                    .required()
                    .validator(string_check(check_role))
                    .description("The `id` of the `dbaas_rotated_role` to rotate."),
            ],
        )
    }

    async fn invoke(&self, _ctx: &Context, config: Value, progress: &Progress, d: &mut Diagnostics) {
        let Some(role) = config.attr("role").and_then(Value::as_str).and_then(RoleName::parse_id) else {
            return d.attribute_error(
                AttributePath::root("role"),
                "Invalid role id",
                "The role id is not known or not valid.",
            );
        };
        let Some(rotation) = super::rotation(&self.services, d) else { return };
        let mount = rotation.mount;
        progress.report(format!("Rotating {} ({mount}/{})", role.id(), role.vault_role()));
        match rotation.role(&role).await {
            Ok(Rotated::Static { last_rotated }) => {
                progress.report(format!("{}: new password set by Vault; last_rotated = {last_rotated}", role.id()));
            }
            Ok(Rotated::Dynamic { revoked }) => {
                progress.report(format!(
                    "{}: revoked {revoked} lease(s); their users are dropped, and apps get fresh credentials from {mount}/creds/{}",
                    role.id(),
                    role.vault_role()
                ));
            }
            Err(e) => crate::errors::rotation(d, "role", "rotating the role", &e),
        }
    }
}
