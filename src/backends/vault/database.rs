//! The database secrets engine: its mount, connections, dynamic and static roles, credentials and leases.

use super::*;

impl Vault {
    /// Mounts the database secrets engine at `mount` unless something is mounted there.
    /// Only ever called during apply.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn ensure_database_mount(&self, mount: &str) -> Result<(), VaultError> {
        if self.is_mounted(mount).await? {
            return Ok(());
        }
        match self.call(Method::POST, &format!("sys/mounts/{mount}"), Some(&json!({"type": "database"}))).await {
            // Another resource or stack may have mounted it a moment ago.
            Err(e @ VaultError::Api { status: 400, .. }) => {
                if self.is_mounted(mount).await? {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            other => other.map(drop),
        }
    }

    /// Whether something is mounted at `mount`, asked of that mount's own entry: the token
    /// needs `read` on `sys/mounts/<mount>` alone, not on the list of every tenant's
    /// engines, and the answer does not grow with that list. A token allowed only the whole
    /// list (the policy 0.1 documented) is still served, from the list.
    pub(super) async fn is_mounted(&self, mount: &str) -> Result<bool, VaultError> {
        match self.call(Method::GET, &format!("sys/mounts/{mount}"), None).await {
            Ok(entry) => Ok(entry.is_some()),
            // "No secret engine mount at <mount>/".
            Err(VaultError::Api { status: 400, .. }) => Ok(false),
            Err(VaultError::PermissionDenied { .. }) => {
                let mounts = self.call(Method::GET, "sys/mounts", None).await?.unwrap_or_default();
                let key = format!("{mount}/");
                Ok(mounts.get(&key).is_some() || mounts["data"].get(&key).is_some())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes a database connection (`{mount}/config/{name}`); `config` holds the plugin's fields.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses, e.g. because it cannot connect with `config`.
    pub async fn write_connection(&self, mount: &str, name: &str, config: &ConnectionConfig) -> Result<(), VaultError> {
        self.connections.lock().await.remove(mount);
        let body = serde_json::to_value(config).unwrap_or_default();
        self.call(Method::POST, &format!("{mount}/config/{name}"), Some(&body)).await.map(drop)
    }

    /// Whether connection `name` exists on `mount`, from one listing per mount that serves
    /// every check for a few seconds. A name the listing lacks is confirmed with a direct
    /// read: a listing taken just before a write may be cached just after it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn connection_exists(&self, mount: &str, name: &str) -> Result<bool, VaultError> {
        if self.listed_connection(mount, name).await? {
            return Ok(true);
        }
        Ok(self.read_connection(mount, name).await?.is_some())
    }

    pub(super) async fn listed_connection(&self, mount: &str, name: &str) -> Result<bool, VaultError> {
        let mut cache = self.connections.lock().await;
        if let Some((at, names)) = cache.get(mount)
            && at.elapsed() < LISTING_TTL
        {
            return Ok(names.iter().any(|n| n == name));
        }
        let names = self.list(&format!("{mount}/config")).await?;
        let found = names.iter().any(|n| n == name);
        cache.insert(mount.to_owned(), (std::time::Instant::now(), std::sync::Arc::new(names)));
        Ok(found)
    }

    /// Creates a database connection as this provider does: the engine mounted at `mount`
    /// if it is not yet, the connection written (Vault checks it can log in), then, when
    /// `rotation` asks for it, its own password rotated, so that only Vault knows it.
    ///
    /// # Errors
    /// [`VaultError`] from whichever step Vault refused.
    pub async fn create_connection(
        &self,
        mount: &str,
        name: &str,
        config: &ConnectionConfig,
        rotation: RootRotation,
    ) -> Result<(), VaultError> {
        self.ensure_database_mount(mount).await?;
        self.write_connection(mount, name, config).await?;
        match rotation {
            RootRotation::Now => self.rotate_root(mount, name).await,
            RootRotation::NotNeeded => Ok(()),
        }
    }

    /// Lets `role` issue through connection `name` (the connection must exist): adds it to
    /// the connection's `allowed_roles` unless an entry there covers it already. Only that
    /// field is written; Vault keeps the rest, the password included.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn allow_role(&self, mount: &str, name: &str, role: &str) -> Result<(), VaultError> {
        let _one_writer = self.allowed_roles.lock().await;
        let Some(connection) = self.read_connection(mount, name).await? else { return Ok(()) };
        let mut allowed = allowed_roles(&connection);
        if allowed.iter().any(|pattern| role_allowed_by(pattern, role)) {
            return Ok(());
        }
        allowed.push(role.to_owned());
        self.write_allowed_roles(mount, name, &allowed).await
    }

    /// Takes `role` itself (not a pattern covering it) off connection `name`'s
    /// `allowed_roles`, where [`Vault::allow_role`] put it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn disallow_role(&self, mount: &str, name: &str, role: &str) -> Result<(), VaultError> {
        let _one_writer = self.allowed_roles.lock().await;
        let Some(connection) = self.read_connection(mount, name).await? else { return Ok(()) };
        let allowed = allowed_roles(&connection);
        if !allowed.iter().any(|r| r == role) {
            return Ok(());
        }
        let kept: Vec<String> = allowed.into_iter().filter(|r| r != role).collect();
        self.write_allowed_roles(mount, name, &kept).await
    }

    pub(super) async fn write_allowed_roles(
        &self,
        mount: &str,
        name: &str,
        allowed: &[String],
    ) -> Result<(), VaultError> {
        let body = json!({ "allowed_roles": allowed, "verify_connection": false });
        self.call(Method::POST, &format!("{mount}/config/{name}"), Some(&body)).await.map(drop)
    }

    /// Reads a database connection; `None` when it does not exist.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn read_connection(&self, mount: &str, name: &str) -> Result<Option<Json>, VaultError> {
        Ok(self.call(Method::GET, &format!("{mount}/config/{name}"), None).await?.map(|j| j["data"].clone()))
    }

    /// Deletes a database connection.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn delete_connection(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.connections.lock().await.remove(mount);
        self.call(Method::DELETE, &format!("{mount}/config/{name}"), None).await.map(drop)
    }

    /// Rotates the connection's own password, so only Vault knows it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the database rejects the change.
    pub async fn rotate_root(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.call(Method::POST, &format!("{mount}/rotate-root/{name}"), Some(&json!({}))).await.map(drop)
    }

    /// Rotates a static role's password now.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the database rejects the change.
    pub async fn rotate_static_role(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.call(Method::POST, &format!("{mount}/rotate-role/{name}"), Some(&json!({}))).await.map(drop)
    }

    /// Writes a dynamic role.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn write_role(&self, mount: &str, name: &str, role: &DynamicRole) -> Result<(), VaultError> {
        let body = serde_json::to_value(role).unwrap_or_default();
        self.call(Method::POST, &format!("{mount}/roles/{name}"), Some(&body)).await.map(drop)
    }

    /// Reads a dynamic role; `None` when it does not exist.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn read_role(&self, mount: &str, name: &str) -> Result<Option<Json>, VaultError> {
        Ok(self.call(Method::GET, &format!("{mount}/roles/{name}"), None).await?.map(|j| j["data"].clone()))
    }

    /// Renews a lease by `increment` seconds; returns the new lease duration.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses (e.g. the lease reached its max TTL).
    pub async fn renew_lease(&self, lease_id: &str, increment: u64) -> Result<u64, VaultError> {
        let body = json!({ "lease_id": lease_id, "increment": increment });
        let reply = self.call(Method::PUT, "sys/leases/renew", Some(&body)).await?.unwrap_or_default();
        Ok(reply["lease_duration"].as_u64().unwrap_or_default())
    }

    /// Revokes one lease and waits until the credentials are gone.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the revocation fails.
    pub async fn revoke_lease(&self, lease_id: &str) -> Result<(), VaultError> {
        let body = json!({ "lease_id": lease_id, "sync": true });
        self.call(Method::PUT, "sys/leases/revoke", Some(&body)).await.map(drop)
    }

    /// Writes a static role: Vault owns `username`'s password and rotates it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses (e.g. the user does not exist).
    pub async fn write_static_role(&self, mount: &str, name: &str, role: &StaticRole) -> Result<(), VaultError> {
        let body = serde_json::to_value(role).unwrap_or_default();
        self.call(Method::POST, &format!("{mount}/static-roles/{name}"), Some(&body)).await.map(drop)
    }

    /// Reads a static role; `None` when it does not exist.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn read_static_role(&self, mount: &str, name: &str) -> Result<Option<Json>, VaultError> {
        Ok(self.call(Method::GET, &format!("{mount}/static-roles/{name}"), None).await?.map(|j| j["data"].clone()))
    }

    /// Deletes a static role (the user stays).
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn delete_static_role(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.call(Method::DELETE, &format!("{mount}/static-roles/{name}"), None).await.map(drop)
    }

    /// The current credentials of a static role, and seconds until the next rotation.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the role does not exist.
    pub async fn static_credentials(&self, mount: &str, role: &str) -> Result<(String, Secret, u64), VaultError> {
        let path = format!("{mount}/static-creds/{role}");
        let body = self.call(Method::GET, &path, None).await?.ok_or_else(|| VaultError::Api {
            method: "GET".into(),
            path: path.clone(),
            status: 404,
            message: format!("static role {role:?} does not exist"),
        })?;
        let data = &body["data"];
        let username =
            data["username"].as_str().ok_or(VaultError::MissingField { path: path.clone(), field: "username" })?;
        let password =
            data["password"].as_str().ok_or(VaultError::MissingField { path: path.clone(), field: "password" })?;
        Ok((username.to_owned(), Secret::new(password), data["ttl"].as_u64().unwrap_or_default()))
    }

    /// Deletes a dynamic role.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn delete_role(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        self.call(Method::DELETE, &format!("{mount}/roles/{name}"), None).await.map(drop)
    }

    /// Issues credentials from a dynamic role.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or the role does not exist.
    pub async fn issue_credentials(&self, mount: &str, role: &str) -> Result<IssuedCredentials, VaultError> {
        #[derive(Deserialize)]
        struct Data {
            username: String,
            password: String,
        }
        let path = format!("{mount}/creds/{role}");
        let body = self.call(Method::GET, &path, None).await?.ok_or_else(|| VaultError::Api {
            method: "GET".into(),
            path: path.clone(),
            status: 404,
            message: format!("role {role:?} does not exist"),
        })?;
        let data: Data = serde_json::from_value(body["data"].clone())
            .map_err(|_| VaultError::MissingField { path: path.clone(), field: "username" })?;
        Ok(IssuedCredentials {
            username: data.username,
            password: Secret::new(data.password),
            lease_id: body["lease_id"].as_str().unwrap_or_default().to_owned(),
            lease_duration: body["lease_duration"].as_u64().unwrap_or_default(),
            renewable: body["renewable"].as_bool().unwrap_or_default(),
        })
    }

    /// Names of the dynamic roles on a database mount.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn list_roles(&self, mount: &str) -> Result<Vec<String>, VaultError> {
        self.list(&format!("{mount}/roles")).await
    }

    /// Names of the static roles on a database mount.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn list_static_roles(&self, mount: &str) -> Result<Vec<String>, VaultError> {
        self.list(&format!("{mount}/static-roles")).await
    }

    /// The keys a LIST of `path` answers (none when the path holds nothing).
    pub(super) async fn list(&self, path: &str) -> Result<Vec<String>, VaultError> {
        let listed = self.call(Method::GET, &format!("{path}?list=true"), None).await?;
        Ok(listed
            .and_then(|j| j["data"]["keys"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect())
    }

    /// Revokes every lease issued by role `role` and waits until they are gone, so no
    /// issued user outlives it.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or a revocation fails.
    pub async fn revoke_role_leases(&self, mount: &str, role: &str) -> Result<(), VaultError> {
        // Vault treats a prefix as a path directory ("creds/x" matches "creds/x/<id>" but
        // "creds/x-" matches nothing), so leases are revoked one role at a time.
        self.revoke_prefix(&format!("{mount}/creds/{role}/")).await
    }

    /// When each live lease of `role` was issued (Unix seconds).
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn lease_issue_times(&self, mount: &str, role: &str) -> Result<Vec<i64>, VaultError> {
        let prefix = format!("{mount}/creds/{role}");
        let ids = self.list(&format!("sys/leases/lookup/{prefix}/")).await?;
        let mut times = Vec::new();
        for id in ids {
            let lease = self
                .call(Method::PUT, "sys/leases/lookup", Some(&json!({ "lease_id": format!("{prefix}/{id}") })))
                .await?;
            let issued = lease
                .as_ref()
                .and_then(|l| l["data"]["issue_time"].as_str())
                .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
            if let Some(t) = issued {
                times.push(t.unix_timestamp());
            }
        }
        Ok(times)
    }

    /// Removes connection `name`: first revokes, synchronously, every lease issued by a
    /// role whose `db_name` is `name`, so no issued user outlives it; then deletes it.
    /// Roles are told apart by `db_name`, never by their names: `redis-x-b-app` may belong
    /// to connection `redis-x-b` as well as to `redis-x`.
    ///
    /// Only roles named `<name>-...`, or named in its `allowed_roles`, are read: the
    /// provider's connections allow only those, so no other role can have issued through it. Reading every role
    /// of the mount made each destroy cost grow with the number of databases.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or a revocation fails; nothing is deleted then.
    pub async fn remove_connection(&self, mount: &str, name: &str) -> Result<(), VaultError> {
        let allowed = format!("{name}-");
        // And roles allowed by name: adopted ones that kept their names.
        let by_name: Vec<String> = match self.read_connection(mount, name).await? {
            Some(connection) => allowed_roles(&connection).into_iter().filter(|r| !r.contains('*')).collect(),
            None => Vec::new(),
        };
        let listed = self.list_roles(mount).await?;
        for role in listed.into_iter().filter(|r| r.starts_with(&allowed) || by_name.contains(r)) {
            let belongs = self.read_role(mount, &role).await?.is_some_and(|r| r["db_name"].as_str() == Some(name));
            if belongs {
                self.revoke_role_leases(mount, &role).await?;
            }
        }
        self.delete_connection(mount, name).await
    }

    /// Revokes every lease under the path `prefix` and waits until they are gone.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or a revocation fails.
    pub async fn revoke_prefix(&self, prefix: &str) -> Result<(), VaultError> {
        let path = format!("sys/leases/revoke-prefix/{}?sync=true", prefix.trim_matches('/'));
        self.call(Method::PUT, &path, Some(&json!({}))).await.map(drop)
    }
}
