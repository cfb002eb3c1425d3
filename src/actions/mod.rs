//! Actions (Terraform 1.14+): day-2 operations run by `terraform apply -invoke` or a
//! resource's `action_trigger`. One file per action type.

pub mod rotate_credentials;
pub mod rotate_root;

use crate::backends::vault::Vault;
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::platform::rotation::RotationError;
use crate::provider::services::Services;

/// The Vault client and database secrets mount, or an error saying Vault is needed.
fn vault<'a>(services: &'a Services, d: &mut Diagnostics) -> Option<(&'a Vault, String)> {
    let (vault, config) = services.vault_for("Rotation", d)?;
    Some((vault, config.database_mount.clone()))
}

fn rotation_error(d: &mut Diagnostics, attribute: &str, action: &str, e: &RotationError) {
    match e {
        RotationError::Vault(e) => crate::errors::vault(d, action, e),
        RotationError::NotFound(what) => d.attribute_error(
            AttributePath::root(attribute),
            "Nothing to rotate",
            format!("{what}: check the id, and that the resource was applied with Vault configured."),
        ),
    }
}
