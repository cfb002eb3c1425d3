//! Credentials issued for one use (a Terraform run's ephemeral credentials): issued from a
//! role's Vault role, dynamic or static; renewed while in use; revoked at the end.

use crate::backends::vault::{IssuedCredentials, Vault, VaultError};
use crate::platform::naming::RoleName;

/// What can go wrong issuing, renewing or revoking.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// Vault refused or could not be reached.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Vault has no such role, dynamic or static: the role was not created yet, or the id
    /// was written by hand.
    #[error("Vault has no role {role:?} on mount {mount:?}, dynamic or static")]
    NoRole {
        /// The Vault role.
        role: String,
        /// The database secrets engine's mount.
        mount: String,
    },
}

/// Issues, renews and revokes credentials on one database secrets engine.
pub struct Leases<'a> {
    /// Vault.
    pub vault: &'a Vault,
    /// The database secrets engine's mount.
    pub mount: &'a str,
}

impl Leases<'_> {
    /// New credentials from `role`: a new user with its own lease for a dynamic role; the
    /// current login and password (no lease: nothing to renew or revoke) for a static one.
    ///
    /// # Errors
    /// [`LeaseError::NoRole`] when Vault has no such role; [`LeaseError::Vault`].
    pub async fn issue(&self, role: &RoleName) -> Result<IssuedCredentials, LeaseError> {
        let name = role.vault_role();
        if self.vault.read_role(self.mount, &name).await?.is_some() {
            return Ok(self.vault.issue_credentials(self.mount, &name).await?);
        }
        if self.vault.read_static_role(self.mount, &name).await?.is_none() {
            return Err(LeaseError::NoRole { role: name, mount: self.mount.to_owned() });
        }
        let (username, password, ttl) = self.vault.static_credentials(self.mount, &name).await?;
        Ok(IssuedCredentials { username, password, lease_id: String::new(), lease_duration: ttl, renewable: false })
    }

    /// Renews `lease_id` by `increment` seconds; the seconds it lasts now.
    ///
    /// # Errors
    /// [`LeaseError::Vault`].
    pub async fn renew(&self, lease_id: &str, increment: u64) -> Result<u64, LeaseError> {
        Ok(self.vault.renew_lease(lease_id, increment).await?)
    }

    /// Revokes `lease_id`, dropping the user it issued; a static role's credentials (no
    /// lease) stay.
    ///
    /// # Errors
    /// [`LeaseError::Vault`].
    pub async fn revoke(&self, lease_id: &str) -> Result<(), LeaseError> {
        if lease_id.is_empty() {
            return Ok(());
        }
        Ok(self.vault.revoke_lease(lease_id).await?)
    }
}
