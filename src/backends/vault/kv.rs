//! Vault KV v2: secrets, their versions and metadata, and admin credentials kept there.

use super::*;

impl Vault {
    /// Reads a KV v2 secret's data; `None` when it does not exist.
    ///
    /// # Errors
    /// [`VaultError`] when Vault is unreachable or refuses.
    pub async fn kv_read(&self, mount: &str, path: &str) -> Result<Option<BTreeMap<String, Json>>, VaultError> {
        let data = self.call(Method::GET, &format!("{mount}/data/{path}"), None).await?;
        Ok(data.and_then(|d| serde_json::from_value(d["data"]["data"].clone()).ok()))
    }

    /// A KV v2 secret's string field `field` and the secret's current version (what a
    /// check-and-set write compares against); `(None, 0)` when there is no secret.
    ///
    /// # Errors
    /// [`VaultError`] when Vault is unreachable or refuses.
    pub async fn kv_field_versioned(
        &self,
        mount: &str,
        path: &str,
        field: &str,
    ) -> Result<(Option<String>, u64), VaultError> {
        if let Some(reply) = self.call(Method::GET, &format!("{mount}/data/{path}"), None).await?
            && let Some(version) = reply["data"]["metadata"]["version"].as_u64()
        {
            return Ok((reply["data"]["data"][field].as_str().map(str::to_owned), version));
        }
        // No data: no secret, or its latest version was deleted (the version still counts).
        let metadata = self.call(Method::GET, &format!("{mount}/metadata/{path}"), None).await?;
        Ok((None, metadata.and_then(|m| m["data"]["current_version"].as_u64()).unwrap_or(0)))
    }

    /// Writes a KV v2 secret if its current version still is `version` (check-and-set);
    /// false when another writer came first.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_write_if(&self, mount: &str, path: &str, data: &Json, version: u64) -> Result<bool, VaultError> {
        let body = json!({ "options": { "cas": version }, "data": data });
        match self.call(Method::POST, &format!("{mount}/data/{path}"), Some(&body)).await {
            Err(VaultError::Api { status: 400, message, .. }) if message.contains("check-and-set") => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Reads `username` and `password` from a KV v2 secret.
    ///
    /// # Errors
    /// [`VaultError::MissingField`] when the secret lacks either, [`VaultError`] otherwise.
    pub async fn kv_credentials(&self, mount: &str, path: &str) -> Result<(String, Secret), VaultError> {
        let full = format!("{mount}/data/{path}");
        let data = self
            .kv_read(mount, path)
            .await?
            .ok_or(VaultError::MissingField { path: full.clone(), field: "username" })?;
        let field = |name: &'static str| {
            data.get(name)
                .and_then(Json::as_str)
                .map(str::to_owned)
                .ok_or(VaultError::MissingField { path: full.clone(), field: name })
        };
        Ok((field("username")?, Secret::new(field("password")?)))
    }

    /// Writes a KV v2 secret.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_write(&self, mount: &str, path: &str, data: &Json) -> Result<(), VaultError> {
        self.call(Method::POST, &format!("{mount}/data/{path}"), Some(&json!({ "data": data }))).await.map(drop)
    }

    /// Creates a KV v2 secret only if none exists at `path` (check-and-set 0), and marks it
    /// with `custom_metadata`; false when one already exists.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_create(
        &self,
        mount: &str,
        path: &str,
        data: &Json,
        custom_metadata: &BTreeMap<String, String>,
    ) -> Result<bool, VaultError> {
        let body = json!({ "options": { "cas": 0 }, "data": data });
        match self.call(Method::POST, &format!("{mount}/data/{path}"), Some(&body)).await {
            Err(VaultError::Api { status: 400, message, .. }) if message.contains("check-and-set") => return Ok(false),
            other => other?,
        };
        self.kv_set_metadata(mount, path, custom_metadata).await?;
        Ok(true)
    }

    /// Sets a KV v2 secret's `custom_metadata`.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_set_metadata(
        &self,
        mount: &str,
        path: &str,
        custom_metadata: &BTreeMap<String, String>,
    ) -> Result<(), VaultError> {
        let body = json!({ "custom_metadata": custom_metadata });
        self.call(Method::POST, &format!("{mount}/metadata/{path}"), Some(&body)).await.map(drop)
    }

    /// A KV v2 secret's `custom_metadata` (empty when it has none); `None` when no secret
    /// exists at `path`.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_metadata(&self, mount: &str, path: &str) -> Result<Option<BTreeMap<String, String>>, VaultError> {
        let Some(reply) = self.call(Method::GET, &format!("{mount}/metadata/{path}"), None).await? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_value(reply["data"]["custom_metadata"].clone()).unwrap_or_default()))
    }

    /// Deletes a KV v2 secret with all its versions.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn kv_delete(&self, mount: &str, path: &str) -> Result<(), VaultError> {
        self.call(Method::DELETE, &format!("{mount}/metadata/{path}"), None).await.map(drop)
    }
}
