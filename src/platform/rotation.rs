//! Rotating now, outside any resource's lifecycle: what the `dbaas_rotate_credentials` and
//! `dbaas_rotate_root` actions run. Only Vault is asked; Vault changes the database.
//! Each target is confirmed by its `db_name` before anything changes, so a name can
//! never reach a role or connection of another database.

use crate::backends::vault::{Vault, VaultError};

use super::credentials::Credentials;
use super::naming::{RoleName, Target};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// Vault refused or could not be reached.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Nothing of that name issues credentials for that database.
    #[error("{0} does not exist in Vault")]
    NotFound(String),
}

/// What rotating a role did.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotated {
    /// A static role's login got a new password; when Vault says it rotated it.
    Static {
        /// Vault's `last_vault_rotation`, RFC 3339.
        last_rotated: String,
    },
    /// A dynamic role's issued users were revoked: how many leases there were.
    Dynamic {
        /// Leases revoked (each one a user dropped on the server).
        revoked: usize,
    },
}

/// Rotation on one database secrets engine.
pub struct Rotation<'a> {
    /// Vault.
    pub vault: &'a Vault,
    /// The database secrets engine's mount.
    pub mount: &'a str,
}

impl Rotation<'_> {
    /// Rotates `role` now: a static role's password is changed by Vault, a dynamic role's
    /// every issued lease is revoked (its users dropped), so apps fetch fresh credentials.
    ///
    /// # Errors
    /// [`RotationError`]; [`RotationError::NotFound`] when the role is not `role` in Vault.
    pub async fn role(&self, role: &RoleName) -> Result<Rotated, RotationError> {
        let (vault, mount) = (self.vault, self.mount);
        let name = role.vault_role();
        if Credentials::role_of(vault, mount, &name).await?.as_ref() != Some(role) {
            return Err(RotationError::NotFound(format!("Role {mount}/{name} of {}", role.target.id())));
        }
        if vault.read_static_role(mount, &name).await?.is_some() {
            vault.rotate_static_role(mount, &name).await?;
            let read = vault.read_static_role(mount, &name).await?.unwrap_or_default();
            let last_rotated = read["last_vault_rotation"].as_str().unwrap_or_default().to_owned();
            return Ok(Rotated::Static { last_rotated });
        }
        let revoked = vault.lease_issue_times(mount, &name).await?.len();
        vault.revoke_role_leases(mount, &name).await?;
        Ok(Rotated::Dynamic { revoked })
    }

    /// Rotates the password of `target`'s management login (the one its Vault connection
    /// logs in with), so only Vault knows the new one.
    ///
    /// # Errors
    /// [`RotationError`]; [`RotationError::NotFound`] when the target has no Vault connection.
    pub async fn root(&self, target: &Target) -> Result<(), RotationError> {
        let (vault, mount) = (self.vault, self.mount);
        let connection = target.vault_connection();
        if !vault.connection_exists(mount, &connection).await? {
            return Err(RotationError::NotFound(format!("Connection {mount}/config/{connection} of {}", target.id())));
        }
        vault.rotate_root(mount, &connection).await?;
        Ok(())
    }
}
