//! Creating a namespace under the lock (undoing exactly what was made when a step fails), putting it right, removing it, and the checks that guard creation.

use super::*;

/// The change a plan checks with [`Namespaces::preflight`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Creating the namespace: its users and KV secret must not exist yet.
    Create,
    /// Giving it a new prefix.
    NewPrefix,
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
        if result.is_ok()
            && let Some(store) = self.user_claim_store(spec)
        {
            // A user made before the provider that another state claims is refused.
            result = claims::take(&store, Some(&claim.id), None).await.map(drop).map_err(NamespaceError::from);
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

    pub(super) async fn provision_locked(
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
    pub(super) async fn undo(&self, spec: &NamespaceSpec, made: &Made) -> Result<(), Vec<String>> {
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

    /// What [`Namespaces::provision`] or a prefix change (`change`) would refuse,
    /// checked without the lock and without changing anything: for the plan.
    ///
    /// # Errors
    /// [`NamespaceError`].
    pub async fn preflight(&self, spec: &NamespaceSpec, change: Change) -> Result<(), NamespaceError> {
        check(spec)?;
        if change == Change::Create {
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
    /// [`Adoption::Adopting`] a user made before the provider keeps the passwords it has (its apps
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
        adoption: Adoption,
    ) -> Result<(), NamespaceError> {
        check(spec)?;
        if prior_prefix == Some(spec.key_prefix.as_str()) {
            return self.repair_unlocked(spec, given, adoption).await;
        }
        // A new prefix is checked and set under the lock, so a concurrent apply cannot
        // take an overlapping one between the check and the change.
        let lock = self.lock().await?;
        let mut result = self.check_overlap(spec).await;
        if result.is_ok() {
            result = self.repair_unlocked(spec, given, adoption).await;
        }
        let released = self.redis.unlock(LOCK_KEY, &lock).await;
        result?;
        released.map_err(NamespaceError::from)
    }

    pub(super) async fn repair_unlocked(
        &self,
        spec: &NamespaceSpec,
        given: Option<Secret>,
        adoption: Adoption,
    ) -> Result<(), NamespaceError> {
        let name = &spec.name;
        let found = if adoption == Adoption::Adopting { self.redis.get_user(0, &spec.user).await? } else { None };
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

    /// Removes the namespace: its Vault connection (revoking what it issued), its users,
    /// and its KV secret unless the secret is marked as another object's.
    ///
    /// # Errors
    /// [`NamespaceError`]; what was removed before the failure stays removed.
    pub async fn decommission(&self, spec: &NamespaceSpec, held: Option<&str>) -> Result<(), NamespaceError> {
        let name = &spec.name;
        let store = self.claim_store(name);
        claims::check(&store, held).await?;
        if let Some(user_store) = self.user_claim_store(spec) {
            claims::check(&user_store, held).await?;
        }
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
            if let Some(user_store) = self.user_claim_store(spec) {
                claims::release(&user_store, held).await?;
            }
            claims::release(&store, held).await?;
        }
        Ok(())
    }

    /// The namespace's password from Vault KV, made and stored when the secret is gone,
    /// and the digests of the passwords the user keeps beside it: those recorded, and those
    /// it `held` before the provider (recorded now).
    pub(super) async fn kv_password(
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

    /// Fails when an ACL user the namespace would create exists already, on any node.
    pub(super) async fn check_users_free(&self, spec: &NamespaceSpec) -> Result<(), NamespaceError> {
        for user in [spec.user.clone(), spec.name.management_user()] {
            if self.redis.user_exists_anywhere(&user).await? {
                return Err(NamespaceError::Taken { object: format!("Redis ACL user {user:?}") });
            }
        }
        Ok(())
    }

    pub(super) async fn lock(&self) -> Result<String, NamespaceError> {
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
    pub(super) async fn check_overlap(&self, spec: &NamespaceSpec) -> Result<(), NamespaceError> {
        let own = [spec.user.clone(), spec.name.management_user()];
        for line in self.redis.list_users().await? {
            let mut words = line.split_whitespace();
            let (Some("user"), Some(user)) = (words.next(), words.next()) else { continue };
            // The namespace's own logins and the users Vault issued for its roles carry its
            // (perhaps former) prefix: they are not another's keys.
            if own.iter().any(|o| o == user) || spec.name.owns_login(user) || spec.name.issued_for(user) {
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
    pub(super) async fn connect_vault(&self, spec: &NamespaceSpec, made: &mut Made) -> Result<(), NamespaceError> {
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
