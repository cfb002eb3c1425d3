//! What destroy does with a database: keep it for another state to import, archive it, or
//! drop it, after refusing one another state claims or clients still use.

use super::*;

/// What destroy does with a database and its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Leave it on the server, for a state to import: only its claim is given up.
    Retain,
    /// Rename it out of the way and lock it; its data stays.
    Archive,
    /// Drop it, with its group roles and Vault connection.
    Drop,
}

/// What a removal does about clients still connected to the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clients {
    /// Refuse ([`DatabaseError::InUse`]) and change nothing.
    Refuse,
    /// Disconnect them (`force_drop`).
    Disconnect,
}

/// What [`Databases::remove`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    /// Left on the server, without this state's claim.
    Retained,
    /// Renamed to this name; its data is kept.
    Archived(String),
    /// Dropped.
    Dropped,
}

impl Databases<'_> {
    /// Removes the database as `policy` says: a retained one only loses the claim `held`;
    /// an archived or dropped one is refused first when another state claims it, or (unless
    /// `clients` says to disconnect them) while clients are connected.
    ///
    /// # Errors
    /// [`DatabaseError::Claimed`]; [`DatabaseError::InUse`]; [`DatabaseError`]. Retaining
    /// fails only when the claim cannot be given up.
    pub async fn remove(
        &self,
        name: &DatabaseName,
        held: Option<&str>,
        policy: DeletionPolicy,
        clients: Clients,
    ) -> Result<Removed, DatabaseError> {
        let removal = match policy {
            DeletionPolicy::Retain => {
                if let Some(held) = held {
                    self.release_claim(name, held).await?;
                }
                return Ok(Removed::Retained);
            }
            DeletionPolicy::Archive => Removal::Archive,
            DeletionPolicy::Drop => Removal::Drop,
        };
        self.refuse_theirs(name, held).await?;
        if clients == Clients::Refuse {
            let sessions = self.sessions(name).await?;
            if sessions > 0 {
                let idle_from_pooler = self.idle_from_pooler(name).await;
                return Err(DatabaseError::InUse { sessions, idle_from_pooler });
            }
        }
        let archived_name = name.archived(&archive_stamp());
        self.decommission(name, held, removal, &archived_name, clients == Clients::Disconnect).await?;
        Ok(match removal {
            Removal::Archive => Removed::Archived(archived_name),
            Removal::Drop => Removed::Dropped,
        })
    }
}

/// The moment of an archive, in its name (UTC, to the second).
fn archive_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap_or_default()
}
