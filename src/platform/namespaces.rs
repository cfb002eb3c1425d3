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

/// What a namespace looks like on the servers.
#[derive(Debug, Default)]
pub struct Observed {
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
    /// Creates the namespace: under the lock, refuses users or a secret that exist and
    /// prefixes that overlap; then the password (new, in Vault KV; or `given`), the user on
    /// every node, and the Vault connection. After a failure, exactly what this call made is
    /// removed again; what could not be is named in [`NamespaceError::Incomplete`].
    ///
    /// # Errors
    /// [`NamespaceError`].
    pub async fn provision(
        &self,
        spec: &NamespaceSpec,
        given: Option<Secret>,
        claim: &Claim,
    ) -> Result<(), NamespaceError> {
        check(spec)?;
        let lock = self.lock().await?;
        let mut made = Made::default();
        let mut result = self.provision_locked(spec, given, &mut made).await;
        if result.is_ok() {
            result = claims::stamp_new(&self.claim_store(&spec.name), claim).await;
        }
        if let Err(cause) = result {
            result = match self.undo(spec, &made).await {
                Ok(()) => Err(cause),
                Err(left) => Err(NamespaceError::Incomplete { cause: Box::new(cause), left }),
            };
        }
        let released = self.redis.unlock(LOCK_KEY, &lock).await;
        result?;
        released.map_err(NamespaceError::from)
    }

    async fn provision_locked(
        &self,
        spec: &NamespaceSpec,
        given: Option<Secret>,
        made: &mut Made,
    ) -> Result<(), NamespaceError> {
        let name = &spec.name;
        self.check_users_free(spec).await?;
        self.check_overlap(spec).await?;
        let password = match self.vault {
            Some((vault, vc)) => {
                let password = password::generate();
                let secret = serde_json::json!({ "username": spec.user, "password": password.expose(), "key_prefix": spec.key_prefix });
                if !vault.kv_create(&vc.kv_mount, &name.kv_path(), &secret, &mark(name)).await? {
                    return Err(NamespaceError::Taken {
                        object: format!("Vault KV secret {}", name.password_path(&vc.kv_mount)),
                    });
                }
                made.kv_secret = true;
                password
            }
            None => given.ok_or_else(|| NamespaceError::NoPassword(spec.user.clone()))?,
        };
        made.user = true;
        self.redis.set_user(&spec.user, Some(&password), &[], &spec.rules()).await?;
        self.connect_vault(spec, made).await
    }

    /// Removes what a failed [`Namespaces::provision`] made; the names of what is left.
    async fn undo(&self, spec: &NamespaceSpec, made: &Made) -> Result<(), Vec<String>> {
        let name = &spec.name;
        let mut left = Vec::new();
        if let (true, Some((vault, vc))) = (made.connection, self.vault)
            && vault.remove_connection(&vc.database_mount, &name.vault_connection()).await.is_err()
        {
            left.push(format!("Vault connection {}/config/{}", vc.database_mount, name.vault_connection()));
        }
        for (made, user) in [(made.management_user, name.management_user()), (made.user, spec.user.clone())] {
            if made && self.redis.delete_user(&user).await.is_err() {
                left.push(format!("Redis ACL user {user:?}"));
            }
        }
        if let (true, Some((vault, vc))) = (made.kv_secret, self.vault)
            && vault.kv_delete(&vc.kv_mount, &name.kv_path()).await.is_err()
        {
            left.push(format!("Vault KV secret {}", name.password_path(&vc.kv_mount)));
        }
        if left.is_empty() { Ok(()) } else { Err(left) }
    }

    /// What [`Namespaces::provision`] (when `creating`) or a prefix change would refuse,
    /// checked without the lock and without changing anything: for the plan.
    ///
    /// # Errors
    /// [`NamespaceError`].
    pub async fn preflight(&self, spec: &NamespaceSpec, creating: bool) -> Result<(), NamespaceError> {
        check(spec)?;
        if creating {
            let name = &spec.name;
            self.check_users_free(spec).await?;
            if let Some((vault, vc)) = self.vault
                && vault.kv_metadata(&vc.kv_mount, &name.kv_path()).await?.is_some()
            {
                return Err(NamespaceError::Taken {
                    object: format!("Vault KV secret {}", name.password_path(&vc.kv_mount)),
                });
            }
        }
        self.check_overlap(spec).await
    }

    /// Puts the namespace right (the caller has taken the claim first): the prefix checked
    /// under the lock when it changes, the
    /// user on every node with the rules and the password (from Vault KV, else `given`;
    /// without either, a user that exists keeps its password), the Vault connection.
    ///
    /// `adopting` a user made before the provider keeps the passwords it has (its apps
    /// hold them) beside the one in Vault KV, and records their digests there, so a Redis
    /// restart brings them back too.
    ///
    /// # Errors
    /// [`NamespaceError`].
    pub async fn repair(
        &self,
        spec: &NamespaceSpec,
        prior_prefix: Option<&str>,
        given: Option<Secret>,
        adopting: bool,
    ) -> Result<(), NamespaceError> {
        check(spec)?;
        if prior_prefix == Some(spec.key_prefix.as_str()) {
            return self.repair_unlocked(spec, given, adopting).await;
        }
        // A new prefix is checked and set under the lock, so a concurrent apply cannot
        // take an overlapping one between the check and the change.
        let lock = self.lock().await?;
        let mut result = self.check_overlap(spec).await;
        if result.is_ok() {
            result = self.repair_unlocked(spec, given, adopting).await;
        }
        let released = self.redis.unlock(LOCK_KEY, &lock).await;
        result?;
        released.map_err(NamespaceError::from)
    }

    /// Takes the namespace's claim for the state holding `held` (see [`claims::take`]):
    /// before an update changes anything.
    ///
    /// # Errors
    /// [`NamespaceError::Claimed`] when another state holds it; [`NamespaceError`].
    pub async fn take_claim(
        &self,
        name: &NamespaceName,
        held: Option<&str>,
        take_over: Option<&str>,
    ) -> Result<Claim, NamespaceError> {
        Ok(claims::take(&self.claim_store(name), held, take_over).await?)
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
        name: &NamespaceName,
        held: Option<&str>,
        take_over: Option<&str>,
    ) -> Result<Standing, NamespaceError> {
        let found = self.claim_store(name).read().await?;
        Ok(claims::standing(found.claim.as_ref(), held, take_over))
    }

    async fn repair_unlocked(
        &self,
        spec: &NamespaceSpec,
        given: Option<Secret>,
        adopting: bool,
    ) -> Result<(), NamespaceError> {
        let name = &spec.name;
        let found = if adopting { self.redis.get_user(0, &spec.user).await? } else { None };
        let held = found.map(|u| u.password_hashes).unwrap_or_default();
        let (password, kept) = match self.vault {
            Some(_) => {
                let (password, kept) = self.kv_password(spec, &held).await?;
                (Some(password), kept)
            }
            // Without Vault there is nowhere to keep the digests: given a password, the
            // user still keeps the ones it has.
            None => (given, held),
        };
        if password.is_none() {
            for i in 0..self.redis.addresses().len() {
                if self.redis.get_user(i, &spec.user).await?.is_none() {
                    return Err(NamespaceError::NoPassword(spec.user.clone()));
                }
            }
        }
        self.redis.set_user(&spec.user, password.as_ref(), &kept, &spec.rules()).await?;
        // A management user lost in a restart (or changed by hand) gets a new password
        // that Vault's connection is given and rotates, like a new one.
        if let Some((vault, vc)) = self.vault
            && (!vault.connection_exists(&vc.database_mount, &name.vault_connection()).await?
                || !self.management_user_ok(name).await?)
        {
            self.connect_vault(spec, &mut Made::default()).await?;
        }
        Ok(())
    }

    /// Reads the namespace back from every node and Vault.
    ///
    /// # Errors
    /// [`NamespaceError`] when a service cannot be asked or the KV secret is another's.
    pub async fn inspect(&self, spec: &NamespaceSpec) -> Result<Observed, NamespaceError> {
        let name = &spec.name;
        let user = self.redis.get_user(0, &spec.user).await?;
        let claim = self.claim_store(name).read().await?.claim;
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

    /// Removes the namespace: its Vault connection (revoking what it issued), its users,
    /// and its KV secret unless the secret is marked as another object's.
    ///
    /// # Errors
    /// [`NamespaceError`]; what was removed before the failure stays removed.
    pub async fn decommission(&self, spec: &NamespaceSpec, held: Option<&str>) -> Result<(), NamespaceError> {
        let name = &spec.name;
        let store = self.claim_store(name);
        claims::check(&store, held).await?;
        if let Some((vault, vc)) = self.vault {
            self.claimed(name).await?;
            if vault.connection_exists(&vc.database_mount, &name.vault_connection()).await? {
                vault.remove_connection(&vc.database_mount, &name.vault_connection()).await?;
            }
            self.redis.delete_user(&name.management_user()).await?;
        }
        self.redis.delete_user(&spec.user).await?;
        if let Some((vault, vc)) = self.vault {
            vault.kv_delete(&vc.kv_mount, &name.kv_path()).await?;
        }
        if let Some(held) = held {
            claims::release(&store, held).await?;
        }
        Ok(())
    }

    /// The namespace's password from Vault KV, made and stored when the secret is gone,
    /// and the digests of the passwords the user keeps beside it: those recorded, and those
    /// it `held` before the provider (recorded now).
    async fn kv_password(
        &self,
        spec: &NamespaceSpec,
        held: &[String],
    ) -> Result<(Secret, Vec<String>), NamespaceError> {
        let Some((vault, vc)) = self.vault else { return Err(NamespaceError::NoPassword(spec.user.clone())) };
        let name = &spec.name;
        let marked = self.claimed(name).await?;
        let data = vault.kv_read(&vc.kv_mount, &name.kv_path()).await?;
        let existing = data.as_ref().and_then(password_of);
        let mut kept = data.as_ref().map(kept_hashes).unwrap_or_default();
        let own = existing.as_ref().map(|p| sha256_hex(p.expose()));
        let new_held: Vec<&String> = held.iter().filter(|h| Some(*h) != own.as_ref() && !kept.contains(h)).collect();
        if let (Some(p), true) = (&existing, new_held.is_empty()) {
            // 0.1 wrote no mark: the namespace is in this state, so the secret is its own.
            if !marked {
                vault.kv_set_metadata(&vc.kv_mount, &name.kv_path(), &mark(name)).await?;
            }
            return Ok((p.clone(), kept));
        }
        kept.extend(new_held.into_iter().cloned());
        let password = existing.unwrap_or_else(password::generate);
        let secret = serde_json::json!({
            "username": spec.user,
            "password": password.expose(),
            "key_prefix": spec.key_prefix,
            KEPT_HASHES: kept,
        });
        vault.kv_write(&vc.kv_mount, &name.kv_path(), &secret).await?;
        vault.kv_set_metadata(&vc.kv_mount, &name.kv_path(), &mark(name)).await?;
        Ok((password, kept))
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

    /// Fails when an ACL user the namespace would create exists already, on any node.
    async fn check_users_free(&self, spec: &NamespaceSpec) -> Result<(), NamespaceError> {
        for user in [spec.user.clone(), spec.name.management_user()] {
            if self.redis.user_exists_anywhere(&user).await? {
                return Err(NamespaceError::Taken { object: format!("Redis ACL user {user:?}") });
            }
        }
        Ok(())
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

    async fn lock(&self) -> Result<String, NamespaceError> {
        let token = password::generate().expose().to_owned();
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        while !self.redis.try_lock(LOCK_KEY, &token, LOCK_TTL).await? {
            if started.elapsed() > LOCK_WAIT {
                return Err(NamespaceError::LockTimedOut(LOCK_WAIT));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
        Ok(token)
    }

    /// Fails when another user has a key pattern overlapping the prefix: another
    /// namespace's, or one made by hand (adopted or not, its keys are its app's).
    async fn check_overlap(&self, spec: &NamespaceSpec) -> Result<(), NamespaceError> {
        let own = [spec.user.clone(), spec.name.management_user()];
        for line in self.redis.list_users().await? {
            let mut words = line.split_whitespace();
            let (Some("user"), Some(user)) = (words.next(), words.next()) else { continue };
            if own.iter().any(|o| o == user) || spec.name.owns_login(user) {
                continue;
            }
            for pattern in words.filter_map(|w| w.strip_prefix('~')) {
                let other = pattern.trim_end_matches('*');
                // `~*` is no namespace's prefix but a user widened outside Terraform, which
                // its own next apply puts right.
                if !other.is_empty() && redis_acl::prefixes_overlap(&spec.key_prefix, other) {
                    return Err(NamespaceError::Overlap {
                        prefix: spec.key_prefix.clone(),
                        other_user: user.to_owned(),
                        other_prefix: other.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// A management ACL user for Vault, and the Vault connection using it, whose password
    /// is then rotated so only Vault knows it.
    async fn connect_vault(&self, spec: &NamespaceSpec, made: &mut Made) -> Result<(), NamespaceError> {
        let Some((vault, vc)) = self.vault else { return Ok(()) };
        let name = &spec.name;
        let password = password::generate();
        let rules = MANAGEMENT_RULES.map(str::to_owned);
        made.management_user = true;
        self.redis.set_user(&name.management_user(), Some(&password), &[], &rules).await?;
        let (host, port) = self.redis_config.primary();
        let config = ConnectionConfig {
            plugin: Plugin::Redis {
                host: host.to_owned(),
                port,
                tls: self.redis_config.tls,
                ca_cert: match (&self.redis_config.ca_cert_file, self.redis_config.tls) {
                    (Some(file), true) => std::fs::read_to_string(file).ok(),
                    _ => None,
                },
            },
            username: name.management_user(),
            password,
            allowed_roles: vec![format!("{}-*", name.vault_connection())],
            verify_connection: true,
        };
        made.connection = true;
        vault.create_connection(&vc.database_mount, &name.vault_connection(), &config, RootRotation::Now).await?;
        Ok(())
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
