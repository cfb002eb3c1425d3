//! Claims: which Terraform state manages an object.
//!
//! The owner mark says an object is the provider's; a claim says whose. Each resource
//! instance holds a random claim id in its state (`claim`), and the same id is written on
//! the object: in the database's comment (PostgreSQL), in the provider's registry table
//! (MySQL, whose databases carry no comment), or in a Vault KV entry (namespaces and
//! roles). Update and delete go ahead only when the two agree; an object claimed by
//! another state is refused, and only a configuration that names that claim
//! (`take_over_claim`) takes it over.
//!
//! Every store offers read and compare-and-swap, and a claim is only ever written by a
//! swap against what was just read: two states taking one object at the same moment cannot
//! both win, whatever the server (an advisory lock on PostgreSQL, a conditional `UPDATE`
//! or a key on MySQL, check-and-set on Vault KV).

use async_trait::async_trait;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use crate::backends::mysql::{Mysql, MysqlError};
use crate::backends::postgres::{ClaimRecord, Postgres, PostgresError};
use crate::backends::redis::{Redis, RedisBackendError};
use crate::backends::vault::{Vault, VaultError};
use crate::platform::naming::DatabaseName;

/// One state's claim on an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// 32 hexadecimal digits, random.
    pub id: String,
    /// When it was taken: RFC 3339, UTC.
    pub since: String,
}

impl Claim {
    /// A new claim, taken now.
    ///
    /// # Panics
    /// When the operating system's RNG fails, which leaves no safe way to go on.
    pub fn new() -> Claim {
        let mut bytes = [0u8; 16];
        SystemRandom::new().fill(&mut bytes).expect("the OS random number generator works");
        Claim { id: bytes.iter().map(|b| format!("{b:02x}")).collect(), since: now() }
    }

    /// `id`, taken again now (a state whose object lost its claim writes it back).
    pub fn renewed(id: &str) -> Claim {
        Claim { id: id.to_owned(), since: now() }
    }

    /// `claim <id> since <time>`: how the claim reads in a comment.
    pub fn to_text(&self) -> String {
        format!("claim {} since {}", self.id, self.since)
    }

    /// Parses [`Claim::to_text`] from the end of `text`; `None` when it carries none.
    pub fn from_text(text: &str) -> Option<Claim> {
        let rest = &text[text.rfind("claim ")? + "claim ".len()..];
        let (id, since) = rest.split_once(" since ")?;
        let well_formed = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then(|| Claim { id: id.to_owned(), since: since.trim().to_owned() })
    }
}

impl Default for Claim {
    fn default() -> Claim {
        Claim::new()
    }
}

fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")).unwrap_or_default()
}

/// What a store holds for one object: its claim, and what a swap compares against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The claim on the object; `None` when unclaimed.
    pub claim: Option<Claim>,
    /// The store's own version of the record (a comment's text, a KV version), for the
    /// swap; `None` when there is no record.
    pub version: Option<String>,
}

/// Where one object's claim is kept.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// The error of the server behind the store.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The claim on the object now.
    async fn read(&self) -> Result<Held, Self::Error>;

    /// Writes `claim` (or, with `None`, removes it) if the record is still as `expected`
    /// was read; false when it changed in between.
    async fn swap(&self, expected: &Held, claim: Option<&Claim>) -> Result<bool, Self::Error>;

    /// Writes `claim` whatever the record says now: for an object this apply has just
    /// made. A store that can write without comparing saves the read [`stamp_new`] would
    /// otherwise make first.
    async fn stamp(&self, claim: &Claim) -> Result<(), Self::Error> {
        for _ in 0..ATTEMPTS {
            let found = self.read().await?;
            if self.swap(&found, Some(claim)).await? {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// How an object's claim stands for one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The object carries this state's claim.
    Ours,
    /// Nobody claims it (made by 0.1 or 0.2, by hand, or its claim was lost with Vault).
    Unclaimed,
    /// Another state claims it, and this one may not take it over.
    Theirs(Claim),
    /// Another state claims it, and this configuration names that claim to take it over.
    TakenOver(Claim),
}

/// Judges `found` for a state holding `held` whose configuration says `take_over`.
pub fn standing(found: Option<&Claim>, held: Option<&str>, take_over: Option<&str>) -> Standing {
    match found {
        None => Standing::Unclaimed,
        Some(c) if Some(c.id.as_str()) == held => Standing::Ours,
        Some(c) if Some(c.id.as_str()) == take_over => Standing::TakenOver(c.clone()),
        Some(c) => Standing::Theirs(c.clone()),
    }
}

/// What can go wrong taking or giving up a claim.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError<E: std::error::Error + 'static> {
    /// The server behind the store refused or could not be reached.
    #[error(transparent)]
    Store(E),
    /// Another state claims the object.
    #[error("claimed by another Terraform state since {} (claim {})", .0.since, .0.id)]
    Theirs(Claim),
}

/// How often a swap that lost a race is tried again before giving up.
const ATTEMPTS: usize = 4;

/// Takes the object for the state holding `held` (`None`: a new or imported resource):
/// unclaimed, already ours, or named by `take_over`. Returns the claim now on the object.
///
/// # Errors
/// [`ClaimError::Theirs`] when another state claims it; the store's error otherwise.
pub async fn take<S: ClaimStore>(
    store: &S,
    held: Option<&str>,
    take_over: Option<&str>,
) -> Result<Claim, ClaimError<S::Error>> {
    for _ in 0..ATTEMPTS {
        let found = store.read().await.map_err(ClaimError::Store)?;
        let claim = match standing(found.claim.as_ref(), held, take_over) {
            Standing::Ours => return Ok(found.claim.expect("ours is a claim")),
            Standing::Theirs(c) => return Err(ClaimError::Theirs(c)),
            Standing::Unclaimed | Standing::TakenOver(_) => held.map_or_else(Claim::new, Claim::renewed),
        };
        if store.swap(&found, Some(&claim)).await.map_err(ClaimError::Store)? {
            return Ok(claim);
        }
    }
    let found = store.read().await.map_err(ClaimError::Store)?;
    Err(ClaimError::Theirs(found.claim.unwrap_or_else(|| Claim { id: "(changing)".into(), since: now() })))
}

/// Writes a new claim on an object this apply has just made (whatever a record left by an
/// object of the same name said: that object is gone).
///
/// # Errors
/// The store's error.
pub async fn stamp_new<S: ClaimStore>(store: &S, claim: &Claim) -> Result<(), S::Error> {
    store.stamp(claim).await
}

/// Refuses an object another state claims; for update and delete.
///
/// # Errors
/// [`ClaimError::Theirs`]; the store's error.
pub async fn check<S: ClaimStore>(store: &S, held: Option<&str>) -> Result<Standing, ClaimError<S::Error>> {
    let found = store.read().await.map_err(ClaimError::Store)?;
    match standing(found.claim.as_ref(), held, None) {
        Standing::Theirs(c) => Err(ClaimError::Theirs(c)),
        other => Ok(other),
    }
}

/// Refuses an object another state claims, unless `take_over` names that claim: what
/// [`take`] would refuse, without writing anything.
///
/// # Errors
/// [`ClaimError::Theirs`]; the store's error.
pub async fn check_standing<S: ClaimStore>(
    store: &S,
    held: Option<&str>,
    take_over: Option<&str>,
) -> Result<Standing, ClaimError<S::Error>> {
    let found = store.read().await.map_err(ClaimError::Store)?;
    match standing(found.claim.as_ref(), held, take_over) {
        Standing::Theirs(c) => Err(ClaimError::Theirs(c)),
        other => Ok(other),
    }
}

/// Gives the claim up, if it is still `held`'s (destroy with `retain` leaves the object for
/// any state to import freely).
///
/// # Errors
/// The store's error.
pub async fn release<S: ClaimStore>(store: &S, held: &str) -> Result<(), S::Error> {
    for _ in 0..ATTEMPTS {
        let found = store.read().await?;
        if found.claim.as_ref().is_none_or(|c| c.id != held) {
            return Ok(());
        }
        if store.swap(&found, None).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// A PostgreSQL database's claim: the comment on its claim role, which no tenant can write
/// (see [`crate::backends::postgres::claim_role`]); the database's own comment for one an
/// earlier release claimed. Swapped under the database's DDL lock.
pub struct PostgresDatabaseClaim<'a> {
    /// The server.
    pub pg: &'a Postgres,
    /// The database.
    pub name: &'a DatabaseName,
}

impl PostgresDatabaseClaim<'_> {
    /// The claim `record` holds: a claim role's comment, or what follows this database's
    /// own mark in its comment.
    pub fn claim_in(&self, record: &ClaimRecord) -> Option<Claim> {
        match record {
            ClaimRecord::Role(comment) => comment.as_deref().and_then(Claim::from_text),
            ClaimRecord::Comment(comment) => {
                comment.as_deref().filter(|c| c.starts_with(&self.name.mark())).and_then(Claim::from_text)
            }
        }
    }
}

#[async_trait]
impl ClaimStore for PostgresDatabaseClaim<'_> {
    type Error = PostgresError;

    async fn read(&self) -> Result<Held, PostgresError> {
        let record = self.pg.claim_record(&self.name.name).await?;
        let claim = self.claim_in(&record);
        Ok(Held { claim, version: serde_json::to_string(&record).ok() })
    }

    async fn swap(&self, expected: &Held, claim: Option<&Claim>) -> Result<bool, PostgresError> {
        let Some(expected) = expected.version.as_deref().and_then(|v| serde_json::from_str::<ClaimRecord>(v).ok())
        else {
            return Ok(false);
        };
        let record = claim.map(Claim::to_text);
        self.pg.swap_claim(&self.name.name, Some(&expected), record.as_deref(), &self.name.mark()).await
    }

    async fn stamp(&self, claim: &Claim) -> Result<(), PostgresError> {
        let record = claim.to_text();
        self.pg.swap_claim(&self.name.name, None, Some(&record), &self.name.mark()).await.map(drop)
    }
}

/// A MySQL database's claim: a row of the provider's registry table.
pub struct MysqlDatabaseClaim<'a> {
    /// The server.
    pub my: &'a Mysql,
    /// The database.
    pub name: &'a DatabaseName,
}

#[async_trait]
impl ClaimStore for MysqlDatabaseClaim<'_> {
    type Error = MysqlError;

    async fn read(&self) -> Result<Held, MysqlError> {
        let record = self.my.registry_record(&self.name.name).await?;
        Ok(Held { claim: record.as_deref().and_then(Claim::from_text), version: record })
    }

    async fn swap(&self, expected: &Held, claim: Option<&Claim>) -> Result<bool, MysqlError> {
        let record = claim.map(Claim::to_text);
        self.my.swap_registry_record(&self.name.name, expected.version.as_deref(), record.as_deref()).await
    }
}

/// A claim kept in Vault KV (namespaces and roles): check-and-set on the secret's version.
pub struct VaultClaim<'a> {
    /// Vault.
    pub vault: &'a Vault,
    /// The KV v2 mount.
    pub kv_mount: &'a str,
    /// The secret's path ([`crate::platform::naming`] makes it).
    pub path: String,
}

#[async_trait]
impl ClaimStore for VaultClaim<'_> {
    type Error = VaultError;

    async fn read(&self) -> Result<Held, VaultError> {
        let (text, version) = self.vault.kv_field_versioned(self.kv_mount, &self.path, "claim").await?;
        Ok(Held { claim: text.as_deref().and_then(Claim::from_text), version: Some(version.to_string()) })
    }

    async fn swap(&self, expected: &Held, claim: Option<&Claim>) -> Result<bool, VaultError> {
        let version = expected.version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
        match claim {
            Some(c) => {
                let data = json!({ "claim": c.to_text() });
                self.vault.kv_write_if(self.kv_mount, &self.path, &data, version).await
            }
            None => self.vault.kv_delete(self.kv_mount, &self.path).await.map(|()| true),
        }
    }
}

/// A claim kept on the Redis primary, under the provider's own prefix: for namespaces
/// without Vault. Redis keeps nothing on disk, so a restart loses it, as it loses the ACL
/// users; the owner's next apply writes both back.
pub struct RedisClaim<'a> {
    /// Redis.
    pub redis: &'a Redis,
    /// The key ([`crate::platform::naming`] makes it).
    pub key: String,
}

#[async_trait]
impl ClaimStore for RedisClaim<'_> {
    type Error = RedisBackendError;

    async fn read(&self) -> Result<Held, RedisBackendError> {
        let text = self.redis.get_string(&self.key).await?;
        Ok(Held { claim: text.as_deref().and_then(Claim::from_text), version: text })
    }

    async fn swap(&self, expected: &Held, claim: Option<&Claim>) -> Result<bool, RedisBackendError> {
        let text = claim.map(Claim::to_text);
        self.redis.swap_string(&self.key, expected.version.as_deref(), text.as_deref()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_reads_back_from_the_end_of_a_comment() {
        let claim = Claim::new();
        let comment = format!("managed by terraform-provider-dbaas: postgresql/x; {}", claim.to_text());
        assert_eq!(Claim::from_text(&comment), Some(claim));
        assert_eq!(Claim::from_text("managed by terraform-provider-dbaas: postgresql/x"), None);
        assert_eq!(Claim::from_text("claim short since now"), None, "an id is 32 hex digits");
    }

    #[test]
    fn only_the_named_claim_is_taken_over() {
        let theirs = Claim::new();
        assert_eq!(standing(None, Some("a"), None), Standing::Unclaimed);
        assert_eq!(standing(Some(&theirs), Some(&theirs.id), None), Standing::Ours);
        assert_eq!(standing(Some(&theirs), None, None), Standing::Theirs(theirs.clone()));
        assert_eq!(standing(Some(&theirs), None, Some("another")), Standing::Theirs(theirs.clone()));
        assert_eq!(standing(Some(&theirs), None, Some(&theirs.id)), Standing::TakenOver(theirs.clone()));
    }
}
