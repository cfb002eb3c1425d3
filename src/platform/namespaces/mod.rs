//! Redis namespaces: a key prefix and an ACL user on every node, the password in Vault KV,
//! and a Vault connection for rotated users.
//!
//! Who owns what: a namespace's ACL users are named from its name ([`NamespaceName`]);
//! its KV secret carries an owner mark in `custom_metadata`. Creating a namespace refuses
//! any user or secret that already exists (import is the only way to adopt one), and it
//! checks prefixes while holding a lock on the primary, so two stacks applying
//! overlapping namespaces at the same moment cannot both succeed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backends::password;
use crate::backends::redis::{AclUser, Redis, RedisBackendError};
use crate::backends::vault::{ConnectionConfig, Plugin, RootRotation, Vault, VaultError};
use crate::platform::claims::{self, Claim, ClaimError, ClaimStore, Held, RedisClaim, Standing, VaultClaim};
use crate::platform::naming::{self, NamespaceName};
use crate::platform::redis_acl;
use crate::platform::settings::{RedisConfig, VaultConfig};
use crate::secret::Secret;

mod lifecycle;
mod observe;

pub use lifecycle::Change;
pub use observe::{Adoption, AdoptionChanges, Drift, Observation, Recorded};

/// The lock every namespace creation and prefix change holds on the primary.
const LOCK_KEY: &str = "__dbaas_provider:namespace-lock";
/// How long a holder may keep the lock before it lapses (a crashed apply frees it).
const LOCK_TTL: Duration = Duration::from_secs(30);
/// How long to wait for another holder.
const LOCK_WAIT: Duration = Duration::from_secs(60);
/// The rules of the ACL user Vault's connection logs in as: it manages users, nothing else.
const MANAGEMENT_RULES: [&str; 3] = ["-@all", "+@connection", "+acl"];
/// The field of the KV secret holding the digests of passwords an adopted user kept.
const KEPT_HASHES: &str = "kept_password_hashes";
/// The `custom_metadata` key of the owner mark.
const MARK_KEY: &str = "managed_by";

/// A namespace as configured, checked by [`NamespaceSpec::check`].
#[derive(Clone, Debug)]
pub struct NamespaceSpec {
    /// Its name.
    pub name: NamespaceName,
    /// Its ACL user: `dbaas-<name>`, or a user made before the provider that keeps its
    /// name (and its passwords) when adopted.
    pub user: String,
    /// Prefix of every key and channel it may touch.
    pub key_prefix: String,
    /// `readwrite` or `readonly`.
    pub permissions: String,
    /// Further ACL rules, from the allow-list.
    pub extra_rules: Vec<String>,
}

/// A problem with a spec: which attribute (and list index), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecProblem {
    /// The attribute at fault.
    pub attribute: &'static str,
    /// The list element at fault, if any.
    pub index: Option<usize>,
    /// Why, in a sentence.
    pub message: String,
}

impl NamespaceSpec {
    /// Every problem with the spec: the prefix and each extra rule against the allow-list.
    pub fn check(&self) -> Vec<SpecProblem> {
        let mut problems = Vec::new();
        if let Err(message) = naming::check_acl_user(&self.user, &self.name) {
            problems.push(SpecProblem { attribute: "acl_user", index: None, message });
        }
        if let Err(message) = redis_acl::check_prefix(&self.key_prefix) {
            problems.push(SpecProblem { attribute: "key_prefix", index: None, message });
        }
        for (i, rule) in self.extra_rules.iter().enumerate() {
            if let Err(message) = redis_acl::check_extra_rule(rule, &self.key_prefix) {
                problems.push(SpecProblem { attribute: "extra_rules", index: Some(i), message });
            }
        }
        problems
    }

    /// The ACL rules of the namespace user, each one argument.
    pub fn rules(&self) -> Vec<String> {
        let mut rules = redis_acl::pattern_rules(&self.key_prefix);
        rules.extend(redis_acl::command_rules(&self.permissions));
        rules.extend(self.extra_rules.iter().cloned());
        rules
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceError {
    /// Redis refused or could not be reached.
    #[error(transparent)]
    Redis(#[from] RedisBackendError),
    /// Vault refused or could not be reached.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The spec breaks a rule (checked again at apply).
    #[error("{}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(" "))]
    Invalid(Vec<SpecProblem>),
    /// Something the namespace would create already exists.
    #[error("{object} already exists and is not in this state")]
    Taken {
        /// What exists.
        object: String,
    },
    /// Another namespace's prefix overlaps.
    #[error("{prefix:?} overlaps {other_prefix:?}, the prefix of {other_user:?}")]
    Overlap {
        /// This namespace's prefix.
        prefix: String,
        /// The other user.
        other_user: String,
        /// Its prefix.
        other_prefix: String,
    },
    /// Another apply held the namespace lock too long.
    #[error("timed out after {}s waiting for the namespace lock {LOCK_KEY:?} on the primary (another apply holds it)", .0.as_secs())]
    LockTimedOut(Duration),
    /// The KV secret is marked as another object's.
    #[error("the Vault KV secret {path} is marked {mark:?}, not as this namespace's")]
    NotOurs {
        /// The secret.
        path: String,
        /// Its mark.
        mark: String,
    },
    /// A step failed, and undoing what came before it failed too.
    #[error("{cause}; these were made before the failure and could not be removed: {}", left.join(", "))]
    Incomplete {
        /// The first failure.
        cause: Box<NamespaceError>,
        /// What is left on the servers.
        left: Vec<String>,
    },
    /// No password is known to create a user with.
    #[error("no password for the ACL user {0}")]
    NoPassword(String),
    /// Another Terraform state claims the namespace.
    #[error("the namespace is claimed by another Terraform state since {} (claim {})", .0.since, .0.id)]
    Claimed(Claim),
}

impl From<ClaimError<NamespaceError>> for NamespaceError {
    fn from(e: ClaimError<NamespaceError>) -> NamespaceError {
        match e {
            ClaimError::Store(e) => e,
            ClaimError::Theirs(claim) => NamespaceError::Claimed(claim),
        }
    }
}

/// Where a namespace's claim is kept: Vault KV, or without Vault the Redis primary.
enum NamespaceClaim<'a> {
    Vault(VaultClaim<'a>),
    Redis(RedisClaim<'a>),
}

#[async_trait::async_trait]
impl ClaimStore for NamespaceClaim<'_> {
    type Error = NamespaceError;

    async fn read(&self) -> Result<Held, NamespaceError> {
        Ok(match self {
            NamespaceClaim::Vault(store) => store.read().await?,
            NamespaceClaim::Redis(store) => store.read().await?,
        })
    }

    async fn swap(&self, expected: &Held, claim: Option<&Claim>) -> Result<bool, NamespaceError> {
        Ok(match self {
            NamespaceClaim::Vault(store) => store.swap(expected, claim).await?,
            NamespaceClaim::Redis(store) => store.swap(expected, claim).await?,
        })
    }
}

/// What a namespace looks like on the servers, before it is judged ([`Observation`]).
#[derive(Debug, Default)]
struct Observed {
    /// The user on the primary; `None` when it is gone there.
    pub user: Option<AclUser>,
    /// Nodes where the user is missing or differs from the primary's.
    pub nodes_astray: Vec<String>,
    /// Whether the user has exactly one password, the one in Vault KV (or, without Vault, one).
    pub password_ok: bool,
    /// Whether the Vault connection exists (false without Vault).
    pub vault_connection: bool,
    /// Whether the ACL user Vault's connection logs in as exists on every node with
    /// exactly its rules (false without Vault): a restart loses it, a person may widen it.
    pub management_user_ok: bool,
    /// The claim on the namespace; `None` when unclaimed.
    pub claim: Option<Claim>,
}

/// The namespace operations, over the clients of one provider process.
pub struct Namespaces<'a> {
    /// Redis.
    pub redis: &'a Redis,
    /// The Redis configuration (for the Vault connection's host).
    pub redis_config: &'a RedisConfig,
    /// Vault and its configuration, when Vault is configured.
    pub vault: Option<(&'a Vault, &'a VaultConfig)>,
}

impl Namespaces<'_> {
    /// Takes the namespace's claim for the state holding `held` (see [`claims::take`]):
    /// before an update changes anything.
    ///
    /// # Errors
    /// [`NamespaceError::Claimed`] when another state holds it; [`NamespaceError`].
    pub async fn take_claim(
        &self,
        spec: &NamespaceSpec,
        held: Option<&str>,
        take_over: Option<&str>,
    ) -> Result<Claim, NamespaceError> {
        // The user first: a state that may not have it takes nothing.
        let user_store = self.user_claim_store(spec);
        if let Some(store) = &user_store {
            claims::check_standing(store, held, take_over).await?;
        }
        let claim = claims::take(&self.claim_store(&spec.name), held, take_over).await?;
        if let Some(store) = &user_store {
            claims::take(store, Some(&claim.id), take_over).await?;
        }
        Ok(claim)
    }

    /// Where the claim on the namespace's ACL user is kept, when it is one made before the
    /// provider (`acl_user`); `None` for the namespace's own `dbaas-<name>`, which no other
    /// namespace may name.
    fn user_claim_store<'s>(&'s self, spec: &NamespaceSpec) -> Option<NamespaceClaim<'s>> {
        if spec.user == spec.name.user() {
            return None;
        }
        Some(match self.vault {
            Some((vault, vc)) => NamespaceClaim::Vault(VaultClaim {
                vault,
                kv_mount: &vc.kv_mount,
                path: naming::acl_user_claim_path(&spec.user),
            }),
            None => {
                NamespaceClaim::Redis(RedisClaim { redis: self.redis, key: naming::acl_user_claim_key(&spec.user) })
            }
        })
    }

    /// The namespace's claim as a state must hold it: the namespace's, when its ACL user
    /// (one made before the provider) carries the same; the user's, when another state
    /// holds that; none while the user is not claimed yet (a namespace from before user
    /// claims), so the plan takes it.
    async fn read_claim(&self, spec: &NamespaceSpec) -> Result<Option<Claim>, NamespaceError> {
        let claim = self.claim_store(&spec.name).read().await?.claim;
        let Some(store) = self.user_claim_store(spec) else { return Ok(claim) };
        let user_claim = store.read().await?.claim;
        Ok(match (claim, user_claim) {
            (Some(ours), Some(user)) if ours.id == user.id => Some(ours),
            (_, Some(theirs)) => Some(theirs),
            (_, None) => None,
        })
    }

    /// Where the namespace's claim is kept.
    fn claim_store<'s>(&'s self, name: &NamespaceName) -> NamespaceClaim<'s> {
        match self.vault {
            Some((vault, vc)) => {
                NamespaceClaim::Vault(VaultClaim { vault, kv_mount: &vc.kv_mount, path: name.claim_path() })
            }
            None => NamespaceClaim::Redis(RedisClaim { redis: self.redis, key: name.claim_key() }),
        }
    }

    /// How the namespace's claim stands for the state holding `held`, whose configuration
    /// says `take_over`.
    ///
    /// # Errors
    /// [`NamespaceError`] when the claim cannot be read.
    pub async fn claim_standing(
        &self,
        spec: &NamespaceSpec,
        held: Option<&str>,
        take_over: Option<&str>,
    ) -> Result<Standing, NamespaceError> {
        let found = self.claim_store(&spec.name).read().await?;
        let standing = claims::standing(found.claim.as_ref(), held, take_over);
        let Some(store) = self.user_claim_store(spec) else { return Ok(standing) };
        // Another state's claim on the ACL user stands whatever the namespace's name.
        let user = store.read().await?;
        Ok(
            match claims::standing(user.claim.as_ref(), held.or(found.claim.as_ref().map(|c| c.id.as_str())), take_over)
            {
                theirs @ Standing::Theirs(_) => theirs,
                _ => standing,
            },
        )
    }

    /// Reads the namespace back from every node and Vault.
    ///
    /// # Errors
    /// [`NamespaceError`] when a service cannot be asked or the KV secret is another's.
    async fn inspect(&self, spec: &NamespaceSpec) -> Result<Observed, NamespaceError> {
        let name = &spec.name;
        let user = self.redis.get_user(0, &spec.user).await?;
        let claim = self.read_claim(spec).await?;
        let mut observed = Observed { user: user.clone(), claim, ..Observed::default() };
        for (i, address) in self.redis.addresses().iter().enumerate() {
            let astray = match (&user, i) {
                (None, _) => true,
                (Some(_), 0) => false,
                (Some(primary), _) => !self.redis.get_user(i, &spec.user).await?.is_some_and(|u| u.same_as(primary)),
            };
            if astray {
                observed.nodes_astray.push(address.clone());
            }
        }
        let Some(user) = user else { return Ok(observed) };
        observed.password_ok = match self.vault {
            Some((vault, vc)) => {
                self.claimed(name).await?;
                match vault.kv_read(&vc.kv_mount, &name.kv_path()).await? {
                    Some(data) => password_of(&data).is_some_and(|p| {
                        let mut wanted = kept_hashes(&data);
                        wanted.push(sha256_hex(p.expose()));
                        wanted.sort_unstable();
                        let mut found = user.password_hashes.clone();
                        found.sort_unstable();
                        found == wanted
                    }),
                    None => false,
                }
            }
            None => user.password_hashes.len() == 1,
        };
        if let Some((vault, vc)) = self.vault {
            observed.vault_connection = vault.connection_exists(&vc.database_mount, &name.vault_connection()).await?;
            observed.management_user_ok = self.management_user_ok(name).await?;
        }
        Ok(observed)
    }

    /// Whether the management user is on every node with exactly [`MANAGEMENT_RULES`].
    async fn management_user_ok(&self, name: &NamespaceName) -> Result<bool, NamespaceError> {
        for i in 0..self.redis.addresses().len() {
            let Some(user) = self.redis.get_user(i, &name.management_user()).await? else { return Ok(false) };
            let as_set = crate::backends::redis::same_rules(&user.commands, &MANAGEMENT_RULES.join(" "))
                && user.keys.is_empty()
                && user.channels.is_empty()
                && user.flags.iter().any(|f| f == "on");
            if !as_set {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Fails when the KV secret carries another object's mark; whether it carries this
    /// namespace's.
    async fn claimed(&self, name: &NamespaceName) -> Result<bool, NamespaceError> {
        let Some((vault, vc)) = self.vault else { return Ok(false) };
        match vault.kv_metadata(&vc.kv_mount, &name.kv_path()).await?.and_then(|mut m| m.remove(MARK_KEY)) {
            Some(found) if found == name.mark() => Ok(true),
            Some(found) => Err(NamespaceError::NotOurs { path: name.password_path(&vc.kv_mount), mark: found }),
            None => Ok(false),
        }
    }

    /// The key prefix recorded with a namespace's password, for users issued for it: it
    /// survives a Redis restart, unlike the ACL user.
    ///
    /// # Errors
    /// [`NamespaceError`] when Vault cannot be asked or the secret is another's.
    pub async fn recorded_prefix(&self, name: &NamespaceName) -> Result<Option<String>, NamespaceError> {
        let Some((vault, vc)) = self.vault else { return Ok(None) };
        self.claimed(name).await?;
        if let Some(prefix) = vault
            .kv_read(&vc.kv_mount, &name.kv_path())
            .await?
            .and_then(|d| d.get("key_prefix").and_then(|p| p.as_str()).map(str::to_owned))
        {
            return Ok(Some(prefix));
        }
        Ok(self.redis.get_user(0, &name.user()).await?.and_then(|u| u.key_prefix().map(str::to_owned)))
    }
}

/// What a provision made so far, so a failure undoes exactly that.
#[derive(Default)]
struct Made {
    kv_secret: bool,
    user: bool,
    management_user: bool,
    connection: bool,
}

fn check(spec: &NamespaceSpec) -> Result<(), NamespaceError> {
    let problems = spec.check();
    if problems.is_empty() { Ok(()) } else { Err(NamespaceError::Invalid(problems)) }
}

fn mark(name: &NamespaceName) -> BTreeMap<String, String> {
    BTreeMap::from([(MARK_KEY.to_owned(), name.mark())])
}

/// The digests of passwords a user made before the provider kept, in its KV secret.
fn kept_hashes(data: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
    data.get(KEPT_HASHES)
        .and_then(|h| h.as_array())
        .map(|a| a.iter().filter_map(|h| h.as_str()).filter(|h| is_sha256_hex(h)).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether `text` is what Redis takes after `#`: 64 lowercase hex digits.
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn password_of(data: &BTreeMap<String, serde_json::Value>) -> Option<Secret> {
    data.get("password").and_then(|p| p.as_str()).map(Secret::new)
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_digests_are_read_back_only_when_redis_would_take_them() {
        let good = sha256_hex("the app's password");
        assert!(is_sha256_hex(&good));
        let data = BTreeMap::from([(
            KEPT_HASHES.to_owned(),
            serde_json::json!([good, "not hex", "ABCDEF".repeat(11)[..64].to_owned(), 42]),
        )]);
        assert_eq!(kept_hashes(&data), vec![good], "only 64 lowercase hex digits, which `#<digest>` takes");
        assert!(kept_hashes(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_namespace_user_may_be_one_made_before_the_provider() {
        let name = NamespaceName::new("cache").unwrap();
        let spec = |user: &str| NamespaceSpec {
            name: name.clone(),
            user: user.to_owned(),
            key_prefix: "cache:".to_owned(),
            permissions: "readwrite".to_owned(),
            extra_rules: Vec::new(),
        };
        assert!(spec("cache-app").check().is_empty());
        assert!(spec(&name.user()).check().is_empty());
        let refused = spec("dbaas-other").check();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].attribute, "acl_user");
    }
}
