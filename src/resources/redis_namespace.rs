//! `dbaas_redis_namespace`: an isolated key prefix and ACL user on the shared Redis.
//!
//! ```hcl
//! resource "dbaas_redis_namespace" "cache" {
//!   name        = "trading"       # key_prefix defaults to "trading:"
//!   permissions = "readwrite"     # or "readonly"
//! }
//! ```
//!
//! The ACL user `dbaas-<name>` may touch only keys and channels under the prefix. Its
//! password comes from the operating system's RNG and is kept in Vault KV
//! (`<kv mount>/data/redis/<name>`), never in Terraform state: state holds its SHA-256, as
//! `ACL GETUSER` reports it, to notice a changed password. Without Vault, the password is
//! the write-only `password_wo`. The shared Redis keeps nothing on disk, so a user that
//! vanished in a restart is created again, with the same password from Vault KV.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use serde_json::json;

use crate::backends::password;
use crate::backends::redis::{AclUser, Redis};
use crate::errors;
use crate::framework::component::{
    ApplyResponse, Context, CreateRequest, DeleteRequest, ImportRequest, ImportResponse, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, Resource, UpdateRequest,
};
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::plan_modifier::{requires_replace, use_state_for_unknown};
use crate::framework::schema::{Attribute, IdentityAttribute, IdentitySchema, Schema};
use crate::framework::types::Type;
use crate::framework::validator::{one_of, string_check};
use crate::framework::value::{Number, Value};
use crate::platform::services::Services;
use crate::platform::settings::ProviderConfig;
use crate::secret::Secret;

/// ACL users this provider makes are named `dbaas-<name>`.
const USER_PREFIX: &str = "dbaas-";
/// The warning about Redis without an ACL file is given once per provider process.
static WARNED_NO_ACL_FILE: AtomicBool = AtomicBool::new(false);

/// The `dbaas_redis_namespace` resource.
pub struct RedisNamespace {
    services: Arc<Services>,
}

impl RedisNamespace {
    /// The resource, using `services`.
    pub fn new(services: Arc<Services>) -> RedisNamespace {
        RedisNamespace { services }
    }
}

/// A namespace's configuration or plan, checked.
#[derive(Clone, Debug)]
struct Model {
    name: String,
    key_prefix: String,
    permissions: String,
    extra_rules: Vec<String>,
    purge_keys_on_destroy: bool,
}

impl Model {
    fn from_value(v: &Value) -> Option<Model> {
        let text = |n: &str| v.attr(n).and_then(Value::as_str).map(str::to_owned);
        let name = text("name")?;
        Some(Model {
            key_prefix: text("key_prefix").unwrap_or_else(|| format!("{name}:")),
            permissions: text("permissions").unwrap_or_else(|| "readwrite".into()),
            extra_rules: match v.attr("extra_rules") {
                Some(Value::List(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            },
            purge_keys_on_destroy: matches!(v.attr("purge_keys_on_destroy"), Some(Value::Bool(true))),
            name,
        })
    }

    fn username(&self) -> String {
        format!("{USER_PREFIX}{}", self.name)
    }

    fn management_user(&self) -> String {
        format!("{USER_PREFIX}{}-vault", self.name)
    }

    fn vault_connection(&self) -> String {
        format!("redis-{}", self.name)
    }

    fn kv_path(&self) -> String {
        format!("redis/{}", self.name)
    }

    /// The ACL rules, each one argument.
    fn rules(&self) -> Vec<String> {
        let mut rules = vec![format!("~{}*", self.key_prefix), format!("&{}*", self.key_prefix)];
        rules.extend(command_rules(&self.permissions).iter().map(|r| (*r).to_owned()));
        rules.extend(self.extra_rules.iter().cloned());
        rules
    }
}

/// Command rules of a namespace (or rotated role) at `permissions`.
pub(crate) fn command_rules(permissions: &str) -> &'static [&'static str] {
    match permissions {
        "readonly" => &["+@read", "+@connection"],
        _ => &["+@all", "-@dangerous", "-@admin"],
    }
}

#[async_trait]
impl Resource for RedisNamespace {
    fn type_name(&self) -> &'static str {
        "dbaas_redis_namespace"
    }

    fn schema(&self) -> Schema {
        let computed = |name, description: &str| Attribute::string(name).computed().description(description);
        Schema::new(
            "An isolated key prefix and ACL user on the shared Redis, applied to every node. The password lives in Vault KV, never in Terraform state; with Vault configured, a Vault connection lets `dbaas_rotated_role` issue rotated users for the namespace.",
            vec![
                Attribute::string("id").computed().plan_modifier(use_state_for_unknown()).description("`redis/<name>`: what `dbaas_rotated_role.database` takes."),
                Attribute::string("name")
                    .required()
                    .validator(string_check(check_name))
                    .plan_modifier(requires_replace())
                    .description("Namespace name: lowercase letters, digits, `_` and `-`, starting with a letter; at most 48 characters. Changing it replaces the namespace."),
                Attribute::string("key_prefix")
                    .optional_computed()
                    .validator(string_check(check_prefix))
                    .plan_modifier(use_state_for_unknown())
                    .description("Prefix of every key and channel the user may touch. Defaults to `<name>:`. No spaces, control characters or glob characters (`*?[]\\`); prefixes of two namespaces may not overlap."),
                Attribute::string("permissions")
                    .default(Value::string("readwrite"))
                    .validator(one_of(&["readwrite", "readonly"]))
                    .description("`readwrite` (`+@all -@dangerous -@admin`) or `readonly` (`+@read +@connection`)."),
                Attribute::new("extra_rules", Type::list(Type::String)).description(
                    "Further ACL rules for the rare exception, each passed to Redis as its own argument. Key (`~`, `%`) and channel (`&`) rules must stay under the prefix; `allkeys`, `allchannels`, `+@all`, password and reset rules are refused.",
                ),
                Attribute::string("password_wo").write_only().sensitive().description(
                    "The user's password when the provider has no `vault` block (Terraform 1.11+; never stored). With Vault, the provider generates one and keeps it in Vault KV, and this is ignored.",
                ),
                Attribute::bool("purge_keys_on_destroy")
                    .default(Value::Bool(false))
                    .description("On destroy, delete every key under the prefix (SCAN + UNLINK, in batches). Keys stay by default."),
                computed("username", "The ACL user: `dbaas-<name>`."),
                computed("host", "The primary's host."),
                Attribute::number("port").computed().description("The primary's port."),
                computed("password_path", "Where the password lives in Vault KV (`<kv mount>/data/redis/<name>`); null without Vault."),
                computed("vault_connection", "Name of the namespace's Vault connection (null without Vault), for `dbaas_rotated_role`."),
                computed("acl_commands", "The user's command rules as Redis reports them (Redis normalises them), to notice rules changed outside Terraform."),
                Attribute::string("password_sha256")
                    .computed()
                    .plan_modifier(use_state_for_unknown())
                    .description("SHA-256 of the password, as `ACL GETUSER` reports it: how the provider notices a changed password without storing it."),
            ],
        )
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![IdentityAttribute {
                name: "name",
                ty: Type::String,
                required_for_import: true,
                description: "Namespace name.",
            }],
        })
    }

    async fn validate_config(&self, config: &Value, d: &mut Diagnostics) {
        let Some(Value::List(rules)) = config.attr("extra_rules") else { return };
        let prefix = match (config.attr("key_prefix"), config.attr("name")) {
            (Some(Value::String(p)), _) => p.clone(),
            (Some(Value::Null) | None, Some(Value::String(n))) => format!("{n}:"),
            _ => return, // not known yet
        };
        for (i, rule) in rules.iter().enumerate() {
            if let Some(rule) = rule.as_str()
                && let Err(reason) = check_rule(rule, &prefix)
            {
                d.attribute_error(AttributePath::root("extra_rules").index(i), "Rule not allowed", reason);
            }
        }
    }

    async fn modify_plan(&self, _ctx: &Context, request: &ModifyPlanRequest, response: &mut ModifyPlanResponse) {
        let Some(mut model) = Model::from_value(&response.plan) else { return };
        // The prefix comes from the configuration, or is `<name>:`; what state says
        // (perhaps read back after a change outside Terraform) does not carry over.
        model.key_prefix = request
            .config
            .attr("key_prefix")
            .and_then(Value::as_str)
            .map_or_else(|| format!("{}:", model.name), str::to_owned);
        let Some(config) = self.services.config(&mut response.diagnostics) else { return };
        let creating = request.state.is_null();
        let prefix_changes =
            request.state.attr("key_prefix").and_then(Value::as_str) != Some(model.key_prefix.as_str());
        let Value::Object(plan) = &mut response.plan else { return };
        plan.insert("key_prefix".into(), Value::string(&model.key_prefix));
        for (k, v) in derived_attributes(&model, config) {
            plan.insert(k.to_owned(), v);
        }
        if creating || prefix_changes {
            // Checked again at apply, before anything changes; at plan a failure to ask
            // Redis (read-only credentials, say) is only a warning.
            if let Some(redis) = self.services.redis(&mut Diagnostics::default()) {
                match overlapping_namespace(&redis, &model).await {
                    Ok(Some(other)) => overlap_error(&mut response.diagnostics, &model, &other),
                    Ok(None) => {}
                    Err(e) => response.diagnostics.warning(
                        "Could not check key prefixes",
                        format!("Reading the ACL users to check that {:?} overlaps no other namespace failed: {e}. Apply checks again.", model.key_prefix),
                    ),
                }
            }
        }
    }

    async fn create(&self, _ctx: &Context, request: CreateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d).cloned() else { return };
        let Some(redis) = self.services.redis(d) else { return };
        match overlapping_namespace(&redis, &model).await {
            Ok(Some(other)) => return overlap_error(d, &model, &other),
            Ok(None) => {}
            Err(e) => return errors::redis(d, "checking that the key prefix overlaps no other namespace", &e),
        }
        let given = request.config.attr("password_wo").and_then(Value::as_str).map(Secret::new);
        let Some(password) = self.password(&model, &config, given, d).await else { return };
        if let Err(e) = redis.set_user(&model.username(), Some(&password), &model.rules()).await {
            return errors::redis(d, "creating the ACL user", &e);
        }
        if config.vault.is_some() && !self.connect_vault(&model, &config, &redis, d).await {
            return;
        }
        self.persist(&redis, d).await;
        response.identity = Some(Value::object([("name", Value::string(&model.name))]));
        let commands = reported_commands(&redis, &model, d).await;
        let mut state = request.plan.clone();
        if let Value::Object(s) = &mut state {
            s.insert("password_sha256".into(), Value::string(sha256_hex(password.expose())));
            s.insert("acl_commands".into(), commands);
        }
        response.state = state;
    }

    async fn read(&self, _ctx: &Context, request: ReadRequest, response: &mut ReadResponse) {
        let Some(model) = Model::from_value(&request.state) else { return };
        response.identity = Some(Value::object([("name", Value::string(&model.name))]));
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d).cloned() else { return };
        let Some(redis) = self.services.redis(d) else { return };
        let user = match redis.get_user(0, &model.username()).await {
            Ok(Some(u)) => u,
            // Gone, most likely in a restart (nothing is kept on disk): the next plan
            // creates it again, with the same password from Vault KV.
            Ok(None) => {
                response.state = Value::Null;
                return;
            }
            Err(e) => return errors::redis(d, "reading the ACL user", &e),
        };
        let Value::Object(mut state) = request.state.clone() else { return };
        for (k, v) in derived_attributes(&model, &config) {
            state.insert(k.to_owned(), v);
        }
        if state.get("key_prefix").is_none_or(Value::is_null) {
            // After import: learn the prefix from the user's key pattern.
            if let Some(prefix) = user.key_prefix() {
                state.insert("key_prefix".into(), Value::string(prefix));
            }
        } else if !patterns_match(&user, &model) {
            state.insert("permissions".into(), Value::string("changed outside Terraform"));
        }
        let recorded = state.get("acl_commands").and_then(Value::as_str).map(str::to_owned);
        match recorded {
            // Changed outside Terraform: show it as a change that puts the rules back.
            Some(r) if r != user.commands || !user.flags.iter().any(|f| f == "on") => {
                state.insert("permissions".into(), Value::string("changed outside Terraform"));
            }
            Some(_) => {}
            None => {
                state.insert("acl_commands".into(), Value::string(&user.commands));
            }
        }
        let known_hash = state.get("password_sha256").and_then(Value::as_str).map(str::to_owned);
        match known_hash {
            Some(h) if user.password_hashes.contains(&h) => {}
            // After import, learn the hash; otherwise the password was changed outside.
            None if user.password_hashes.len() == 1 => {
                state.insert("password_sha256".into(), Value::string(&user.password_hashes[0]));
            }
            _ => {
                state.insert("password_sha256".into(), Value::Null);
            }
        }
        for (i, address) in redis.addresses().iter().enumerate().skip(1) {
            match redis.get_user(i, &model.username()).await {
                Ok(Some(other)) if other == user => {}
                Ok(_) => d.warning(
                    "A Redis node disagrees",
                    format!("ACL user {:?} on {address} differs from the primary's (Redis does not replicate ACLs). Apply puts it right.", model.username()),
                ),
                Err(e) => d.warning("A Redis node could not be read", format!("{e}")),
            }
        }
        if let (Some(vault), Some(vc)) = (self.services.vault(), config.vault.as_ref()) {
            match vault.connection_exists(&vc.database_mount, &model.vault_connection()).await {
                Ok(true) => {}
                Ok(false) => {
                    state.insert("vault_connection".into(), Value::Null);
                }
                Err(e) => return errors::vault(d, "reading the Vault connection", &e),
            }
        }
        response.state = Value::Object(state);
    }

    async fn update(&self, _ctx: &Context, request: UpdateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d).cloned() else { return };
        let Some(redis) = self.services.redis(d) else { return };
        if request.state.attr("key_prefix").and_then(Value::as_str) != Some(model.key_prefix.as_str()) {
            match overlapping_namespace(&redis, &model).await {
                Ok(Some(other)) => return overlap_error(d, &model, &other),
                Ok(None) => {}
                Err(e) => return errors::redis(d, "checking the key prefix", &e),
            }
        }
        // The password is set again when it is at hand (Vault KV, or password_wo);
        // otherwise the user keeps the one it has.
        let given = request.config.attr("password_wo").and_then(Value::as_str).map(Secret::new);
        let password = if config.vault.is_some() || given.is_some() {
            self.password(&model, &config, given, d).await
        } else {
            None
        };
        if d.has_error() {
            return;
        }
        if let Err(e) = redis.set_user(&model.username(), password.as_ref(), &model.rules()).await {
            return errors::redis(d, "updating the ACL user", &e);
        }
        let connection_missing = request.state.attr("vault_connection").is_none_or(Value::is_null);
        if config.vault.is_some() && connection_missing && !self.connect_vault(&model, &config, &redis, d).await {
            return;
        }
        self.persist(&redis, d).await;
        response.identity = Some(Value::object([("name", Value::string(&model.name))]));
        let commands = reported_commands(&redis, &model, d).await;
        let mut state = request.plan.clone();
        if let Value::Object(s) = &mut state {
            s.insert("acl_commands".into(), commands);
        }
        if let (Value::Object(s), Some(p)) = (&mut state, &password) {
            s.insert("password_sha256".into(), Value::string(sha256_hex(p.expose())));
        } else if let (Value::Object(s), Some(prior)) = (&mut state, request.state.attr("password_sha256")) {
            s.insert("password_sha256".into(), prior.clone());
        }
        response.state = state;
    }

    async fn delete(&self, _ctx: &Context, request: DeleteRequest, d: &mut Diagnostics) {
        let Some(model) = Model::from_value(&request.state) else { return };
        let Some(config) = self.services.config(d).cloned() else { return };
        let Some(redis) = self.services.redis(d) else { return };
        if let (Some(vault), Some(vc)) = (self.services.vault(), config.vault.as_ref()) {
            let connection = model.vault_connection();
            if let Err(e) = vault.remove_connection(&vc.database_mount, &connection).await {
                return errors::vault(
                    d,
                    &format!("removing the Vault connection {connection} and revoking its leases"),
                    &e,
                );
            }
            if let Err(e) = redis.delete_user(&model.management_user()).await {
                return errors::redis(d, "deleting the management user", &e);
            }
        }
        if let Err(e) = redis.delete_user(&model.username()).await {
            return errors::redis(d, "deleting the ACL user", &e);
        }
        if let (Some(vault), Some(vc)) = (self.services.vault(), config.vault.as_ref())
            && let Err(e) = vault.kv_delete(&vc.kv_mount, &model.kv_path()).await
        {
            return errors::vault(d, "deleting the password from Vault KV", &e);
        }
        if model.purge_keys_on_destroy {
            match redis.purge(&model.key_prefix).await {
                Ok(n) => d.warning("Keys purged", format!("Deleted {n} key(s) under {:?}.", model.key_prefix)),
                Err(e) => return errors::redis(d, "deleting the namespace's keys", &e),
            }
        }
        self.persist(&redis, d).await;
    }

    async fn import(&self, _ctx: &Context, request: ImportRequest, response: &mut ImportResponse) {
        let name = match &request.identity {
            Some(identity) => identity.attr("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            None => request.id.strip_prefix("redis/").unwrap_or(&request.id).to_owned(),
        };
        if let Err(reason) = check_name(&name) {
            response.diagnostics.error("Invalid import id", format!("Expected a namespace name: {reason}"));
            return;
        }
        let mut state = crate::framework::plan::empty_object(&self.schema());
        state.insert("id".into(), Value::string(format!("redis/{name}")));
        state.insert("name".into(), Value::string(&name));
        state.insert("permissions".into(), Value::string("readwrite"));
        state.insert("purge_keys_on_destroy".into(), Value::Bool(false));
        response.identity = Some(Value::object([("name", Value::string(&name))]));
        response.state = Value::Object(state);
    }
}

impl RedisNamespace {
    /// The namespace's password: the one in Vault KV if there is one (so an app keeps
    /// working when its user is created again), else a new one; without Vault, `password_wo`.
    async fn password(
        &self,
        model: &Model,
        config: &ProviderConfig,
        given: Option<Secret>,
        d: &mut Diagnostics,
    ) -> Option<Secret> {
        let (Some(vault), Some(vc)) = (self.services.vault(), config.vault.as_ref()) else {
            if given.is_none() {
                d.attribute_error(
                    AttributePath::root("password_wo"),
                    "No password for the namespace",
                    "The provider has no `vault` block, so it has nowhere to keep a generated password. Add a `vault` block (or set VAULT_ADDR and VAULT_TOKEN), or set `password_wo` (Terraform 1.11+).",
                );
            }
            return given;
        };
        if given.is_some() {
            d.attribute_warning(
                AttributePath::root("password_wo"),
                "password_wo ignored",
                "With Vault configured, the provider generates the password and keeps it in Vault KV.",
            );
        }
        match vault.kv_read(&vc.kv_mount, &model.kv_path()).await {
            Ok(Some(data)) => {
                if let Some(p) = data.get("password").and_then(|p| p.as_str()) {
                    return Some(Secret::new(p));
                }
            }
            Ok(None) => {}
            Err(e) => {
                errors::vault(d, "reading the namespace's password from Vault KV", &e);
                return None;
            }
        }
        let password = password::generate();
        let secret =
            json!({ "username": model.username(), "password": password.expose(), "key_prefix": model.key_prefix });
        if let Err(e) = vault.kv_write(&vc.kv_mount, &model.kv_path(), &secret).await {
            errors::vault(d, "writing the namespace's password to Vault KV", &e);
            return None;
        }
        Some(password)
    }

    /// A management ACL user for Vault, and the Vault connection `redis-<name>` using it,
    /// whose password is then rotated so only Vault knows it.
    async fn connect_vault(&self, model: &Model, config: &ProviderConfig, redis: &Redis, d: &mut Diagnostics) -> bool {
        let (Some(vault), Some(vc), Some(rc)) = (self.services.vault(), config.vault.as_ref(), config.redis.as_ref())
        else {
            return false;
        };
        let mount = &vc.database_mount;
        let password = password::generate();
        let rules = ["-@all", "+@connection", "+acl"].map(str::to_owned);
        if let Err(e) = redis.set_user(&model.management_user(), Some(&password), &rules).await {
            errors::redis(d, "creating the management user for Vault", &e);
            return false;
        }
        let (host, port) = rc.primary();
        let connection = model.vault_connection();
        let body = json!({
            "plugin_name": "redis-database-plugin",
            "host": host,
            "port": port,
            "username": model.management_user(),
            "password": password.expose(),
            "tls": false,
            "allowed_roles": [format!("{connection}-*")],
            "verify_connection": true,
        });
        if let Err(e) = vault.create_connection(mount, &connection, &body).await {
            errors::vault(d, &format!("creating the Vault connection {connection} on {mount}"), &e);
            return false;
        }
        true
    }

    /// Saves ACLs where the server has an ACL file; warns once where it has none.
    async fn persist(&self, redis: &Redis, d: &mut Diagnostics) {
        match redis.save_acls().await {
            Ok(without_file) if !without_file.is_empty() && !WARNED_NO_ACL_FILE.swap(true, Ordering::Relaxed) => d.warning(
                "Redis keeps ACL users in memory only",
                format!(
                    "{} has no ACL file, so its users vanish when it restarts. The provider notices on the next refresh and creates them again with the same password.",
                    without_file.join(", ")
                ),
            ),
            Ok(_) => {}
            Err(e) => errors::redis(d, "saving the ACL file", &e),
        }
    }
}

fn derived_attributes(model: &Model, config: &ProviderConfig) -> Vec<(&'static str, Value)> {
    let (host, port) = config.redis.as_ref().map_or(("", 6379), |r| r.primary());
    let vault = config.vault.as_ref();
    vec![
        ("id", Value::string(format!("redis/{}", model.name))),
        ("username", Value::string(model.username())),
        ("host", Value::string(host)),
        ("port", Value::Number(Number::Int(i64::from(port)))),
        ("password_path", Value::opt_string(vault.map(|v| format!("{}/data/{}", v.kv_mount, model.kv_path())))),
        ("vault_connection", Value::opt_string(vault.map(|_| model.vault_connection()))),
    ]
}

/// Another namespace whose prefix overlaps `model`'s, from the users this provider made.
async fn overlapping_namespace(
    redis: &Redis,
    model: &Model,
) -> Result<Option<(String, String)>, crate::backends::redis::RedisBackendError> {
    for line in redis.list_users().await? {
        let mut words = line.split_whitespace();
        let (Some("user"), Some(user)) = (words.next(), words.next()) else { continue };
        if !user.starts_with(USER_PREFIX) || user == model.username() || user == model.management_user() {
            continue;
        }
        for pattern in words.filter_map(|w| w.strip_prefix('~')) {
            let other = pattern.trim_end_matches('*');
            // `~*` is no namespace's prefix but a user widened outside Terraform, which its
            // own next apply puts right.
            if other.is_empty() {
                continue;
            }
            if other.starts_with(&model.key_prefix) || model.key_prefix.starts_with(other) {
                return Ok(Some((user.to_owned(), other.to_owned())));
            }
        }
    }
    Ok(None)
}

fn overlap_error(d: &mut Diagnostics, model: &Model, (user, other): &(String, String)) {
    d.attribute_error(
        AttributePath::root("key_prefix"),
        "Key prefix overlaps another namespace",
        format!(
            "{:?} overlaps {other:?}, the prefix of {user:?}: each could read the other's keys. Choose a prefix that neither starts nor is started by another namespace's.",
            model.key_prefix
        ),
    );
}

/// The user's command rules as the primary reports them after a change.
async fn reported_commands(redis: &Redis, model: &Model, d: &mut Diagnostics) -> Value {
    match redis.get_user(0, &model.username()).await {
        Ok(Some(u)) => Value::string(u.commands),
        Ok(None) => Value::Null,
        Err(e) => {
            errors::redis(d, "reading the ACL user back", &e);
            Value::Null
        }
    }
}

/// Whether the user's key and channel patterns are exactly the ones the provider sets.
fn patterns_match(user: &AclUser, model: &Model) -> bool {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<std::collections::BTreeSet<_>>();
    let rules = model.rules();
    let wanted = |first: &[char]| {
        rules.iter().filter(|r| r.starts_with(first)).cloned().collect::<std::collections::BTreeSet<_>>()
    };
    words(&user.keys) == wanted(&['~', '%']) && words(&user.channels) == wanted(&['&'])
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn check_name(name: &str) -> Result<(), String> {
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || name.len() > 48
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(format!("{name:?} must be 1 to 48 lowercase letters, digits, `_` or `-`, starting with a letter."));
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 128 {
        return Err(format!("key_prefix must be 1 to 128 characters; {:?} has {}.", prefix, prefix.len()));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '*' | '?' | '[' | ']' | '\\' | '"' | '\''))
    {
        return Err(format!(
            "key_prefix {prefix:?} contains {c:?}: spaces, control characters, quotes and glob characters (`*?[]\\`) would let the pattern reach keys outside the prefix."
        ));
    }
    Ok(())
}

/// Checks one extra rule: it must not widen access beyond the prefix, change passwords or
/// reset the user.
fn check_rule(rule: &str, prefix: &str) -> Result<(), String> {
    let lower = rule.to_ascii_lowercase();
    let refuse = |why: &str| Err(format!("{rule:?}: {why}"));
    if rule.is_empty() || rule.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("a rule is one word, without spaces or control characters.");
    }
    if matches!(
        lower.as_str(),
        "allkeys"
            | "allchannels"
            | "allcommands"
            | "+@all"
            | "resetkeys"
            | "resetchannels"
            | "reset"
            | "resetpass"
            | "nopass"
            | "on"
            | "off"
            | "clearselectors"
    ) || lower.starts_with(['>', '<', '#', '!', '('])
    {
        return refuse(
            "widens access beyond the namespace, or changes the user's password or state, which the provider manages.",
        );
    }
    let pattern = if let Some(p) = rule.strip_prefix('~') {
        Some(p)
    } else if rule.starts_with('%') {
        rule.split_once('~').map(|(_, p)| p)
    } else {
        rule.strip_prefix('&')
    };
    if let Some(p) = pattern
        && (!p.starts_with(prefix) || p[..prefix.len()].contains(['*', '?', '[']))
    {
        return refuse(&format!("key and channel patterns must start with the namespace's prefix {prefix:?}."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(check_prefix("app:").is_ok());
        for bad in ["", "a b", "a*", "a?", "a[b]", "a\\", "a\u{7}", &"x".repeat(129)] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rules_stay_inside_the_prefix() {
        assert!(check_rule("+client|setname", "app:").is_ok());
        assert!(check_rule("~app:cache:*", "app:").is_ok());
        assert!(check_rule("%R~app:*", "app:").is_ok());
        for bad in
            ["~*", "allkeys", "+@all", "~other:*", "%RW~*", "&*", ">secret", "nopass", "reset", "~app *", "~*app:"]
        {
            assert!(check_rule(bad, "app:").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn readwrite_and_readonly_rules() {
        let m = Model {
            name: "t".into(),
            key_prefix: "t:".into(),
            permissions: "readonly".into(),
            extra_rules: vec![],
            purge_keys_on_destroy: false,
        };
        assert_eq!(m.rules(), ["~t:*", "&t:*", "+@read", "+@connection"]);
    }
}
