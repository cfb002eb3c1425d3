//! Actions (Terraform 1.14+): day-2 operations run by `terraform apply -invoke` or a
//! resource's `action_trigger`. One file per action type.

pub mod rotate_credentials;
pub mod rotate_root;

use crate::backends::vault::Vault;
use crate::framework::diagnostics::Diagnostics;
use crate::provider::services::Services;

/// The Vault client and database secrets mount, or an error saying Vault is needed.
fn vault<'a>(services: &'a Services, d: &mut Diagnostics) -> Option<(&'a Vault, String)> {
    let (vault, config) = services.vault_for("Rotation", d)?;
    Some((vault, config.database_mount.clone()))
}
