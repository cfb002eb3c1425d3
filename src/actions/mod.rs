//! Actions (Terraform 1.14+): day-2 operations run by `terraform apply -invoke` or a
//! resource's `action_trigger`. One file per action type.

pub mod rotate_credentials;
pub mod rotate_root;

use crate::framework::diagnostics::Diagnostics;
use crate::platform::rotation::Rotation;
use crate::provider::services::Services;

/// The rotation operations on the provider's database secrets engine, or an error saying
/// Vault is needed.
fn rotation<'a>(services: &'a Services, d: &mut Diagnostics) -> Option<Rotation<'a>> {
    let (vault, config) = services.vault_for("Rotation", d)?;
    Some(Rotation { vault, mount: &config.database_mount })
}
