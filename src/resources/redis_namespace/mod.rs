//! `dbaas_redis_namespace`: an isolated key prefix and ACL user on the shared Redis.
//!
//! ```hcl
//! resource "dbaas_redis_namespace" "cache" {
//!   name        = "trading"       # key_prefix defaults to "trading:"
//!   permissions = "readwrite"     # or "readonly"
//! }
//! ```
//!
//! The ACL user `dbaas-<name>` may run only commands that name their keys or channels, and
//! only under the prefix (`crate::platform::redis_acl`). Its password comes from the
//! operating system's RNG and is kept in Vault KV (`<kv mount>/data/redis/<name>`, marked
//! as this namespace's), never in Terraform state. Without Vault, the password is the
//! write-only `password_wo`, applied again when `password_wo_version` changes. The shared
//! Redis keeps nothing on disk: a user that vanished in a restart shows as drift, and the
//! next apply creates it again with the same password from Vault KV.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::errors;
use crate::framework::component::{
    ApplyResponse, Context, CreateRequest, DeleteRequest, ImportRequest, ImportResponse, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, Resource, UpdateRequest,
};
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::plan_modifier::{requires_replace, use_state_for_unknown};
use crate::framework::schema::{Attribute, IdentityAttribute, IdentitySchema, Schema};
use crate::framework::types::Type;
use crate::framework::validator::{int_between, one_of, string_check};
use crate::framework::value::Value;
use crate::platform::claims::Claim;
use crate::platform::namespaces::{
    Adoption, AdoptionChanges, Change, Drift, NamespaceError, NamespaceSpec, Namespaces, Recorded,
};
use crate::platform::naming::NamespaceName;
use crate::platform::settings::ProviderConfig;
use crate::provider::services::Services;
use crate::resources::claim;
use crate::secret::Secret;

mod model;
mod state;

use model::*;
use state::*;

/// The warning about Redis without an ACL file is given once per provider process.
static WARNED_NO_ACL_FILE: AtomicBool = AtomicBool::new(false);
/// What `permissions` reads as when the server differs from what the provider set, so
/// the plan shows a change that puts it back.
const DRIFTED: &str = "differs on the server";
/// What `acl_commands` reads as in state written by 0.1, whose rules were wider: the first
/// plan shows the change to today's rules.
const RULES_OF_0_1: &str = "rules of provider 0.1";
/// What `acl_commands` reads as after a user made before the provider is imported: the
/// first apply gives it the namespace's rules, which the plan's warning lists.
const RULES_BEFORE: &str = "rules made before the provider";

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
                    .validator(string_check(|n| NamespaceName::new(n).map(drop)))
                    .plan_modifier(requires_replace())
                    .description("Namespace name: lowercase letters, digits, `_` and `-` (no `--`, not ending in `-` or `-vault`), starting with a letter; at most 48 characters. Changing it replaces the namespace."),
                Attribute::string("acl_user")
                    .optional_computed()
                    .plan_modifier(use_state_for_unknown())
                    .plan_modifier(requires_replace())
                    .description("The namespace's ACL user. Defaults to `dbaas-<name>`. Name a user made before the provider to adopt it by import (`<name>/<user>`): it keeps its name and the passwords its apps hold, beside a new one in Vault KV. 1 to 128 letters, digits, `.`, `_`, `-`, `:` or `@`; not `default`, nor another namespace's `dbaas-...` user. Changing it replaces the namespace."),
                Attribute::string("key_prefix")
                    .optional_computed()
                    .plan_modifier(use_state_for_unknown())
                    .description("Prefix of every key and channel the user may touch. Defaults to `<name>:`; for a user made before the provider (`acl_user`), to the prefix its key patterns had when it was imported (`~legacy:cache:*` gives `legacy:cache:`). No spaces, control characters, quotes or glob characters (`*?[]\\`); it may not overlap another namespace's prefix (one starting with the other) nor `__dbaas_provider:`, which the provider keeps for itself."),
                Attribute::string("permissions")
                    .default(Value::string("readwrite"))
                    .validator(one_of(&["readwrite", "readonly"]))
                    .description("`readwrite` (read and write commands, transactions, pub/sub and scripts) or `readonly` (read commands). Either way only commands that name their keys or channels, plus a fixed list of connection commands; never `KEYS`, `SCAN`, `FLUSHALL`, `ACL`, `CONFIG`, `CLIENT KILL`, `FUNCTION` or `PUBSUB CHANNELS`, which reach the whole server."),
                Attribute::new("extra_rules", Type::list(Type::String)).description(
                    "Further ACL rules, each passed to Redis as its own argument, from an allow-list: `-<command>` or `-@<category>` (taking away); `+<command>` for a command that names its keys or channels; `+@string`, `+@hash`, `+@bitmap`, `+@geo`, `+@stream` or `+@blocking`; key patterns `~`, `%R~`, `%W~`, `%RW~` and channel patterns `&` under the prefix. Anything else (`+@admin`, `+acl`, `+keys`, `allkeys`, passwords, ...) is refused, and the error names the rule.",
                ),
                Attribute::string("password_wo").write_only().sensitive().description(
                    "The user's password when the provider has no `vault` block (Terraform 1.11+; never stored). With Vault, the provider generates one and keeps it in Vault KV, and this is ignored.",
                ),
                Attribute::number("password_wo_version")
                    .validator(int_between(0, i64::MAX))
                    .description("Change it to apply a new `password_wo`: Terraform keeps no trace of write-only values, so this number is how a plan sees that the password changed."),
                Attribute::bool("purge_keys_on_destroy")
                    .default(Value::Bool(false))
                    .description("On destroy, delete every key under the prefix (SCAN + UNLINK, in batches). Keys stay by default."),
                computed("username", "The ACL user: `acl_user`."),
                computed("host", "The primary's host."),
                Attribute::number("port").computed().description("The primary's port."),
                computed("password_path", "Where the password lives in Vault KV, as an API path (`<kv mount>/data/redis/<name>`, for `GET /v1/<password_path>`); the `vault kv get` CLI takes it without `data/` (`vault kv get <kv mount>/redis/<name>`). Null without Vault."),
                computed("vault_connection", "Name of the namespace's Vault connection (null without Vault), for `dbaas_rotated_role`."),
                computed("acl_commands", "The user's command rules as Redis reports them (Redis normalises them), to notice rules changed outside Terraform."),
            ]
            .into_iter()
            .chain(claim::attributes("the namespace"))
            .collect(),
        )
        .with_version(3)
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
        if let Some(model) = Model::from_value(config) {
            model.check(d);
        }
    }

    async fn modify_plan(&self, _ctx: &Context, request: &ModifyPlanRequest, response: &mut ModifyPlanResponse) {
        // Null when destroying: nothing to check.
        let Some(name) = response.plan.attr("name").and_then(Value::as_str).and_then(|n| NamespaceName::new(n).ok())
        else {
            return;
        };
        // The prefix comes from the configuration, or is `<name>:`; what state says
        // (perhaps read back after a change outside Terraform) does not carry over. But a
        // user made before the provider keeps the prefix its rules had when it was imported
        // (read then, and kept in state since): its apps' keys are there.
        let prefix = match request.config.attr("key_prefix") {
            Some(Value::String(p)) => p.clone(),
            Some(v) if v.is_unknown() => return,
            _ => match (
                request.state.attr("name").and_then(Value::as_str),
                request.state.attr("acl_user").and_then(Value::as_str),
                request.state.attr("key_prefix").and_then(Value::as_str),
            ) {
                (Some(prior), Some(user), Some(kept)) if prior == name.as_str() && user != name.user() => {
                    kept.to_owned()
                }
                _ => name.default_prefix(),
            },
        };
        // `acl_user` as configured; else the one in state, unless the name changes with a
        // replacement; else the provider's.
        let acl_user = match request.config.attr("acl_user") {
            Some(Value::String(u)) => u.clone(),
            Some(v) if v.is_unknown() => return,
            _ => match (request.state.attr("name").and_then(Value::as_str), request.state.attr("acl_user")) {
                (Some(prior), Some(Value::String(u))) if prior == name.as_str() => u.clone(),
                _ => name.user(),
            },
        };
        if let Value::Object(plan) = &mut response.plan {
            plan.insert("key_prefix".into(), Value::string(prefix));
            plan.insert("acl_user".into(), Value::string(acl_user));
        }
        let Some(model) = Model::from_value(&response.plan) else { return };
        model.check(&mut response.diagnostics);
        let Some(config) = self.services.config(&mut response.diagnostics) else { return };
        let Value::Object(plan) = &mut response.plan else { return };
        for (k, v) in derived_attributes(&model, config) {
            plan.insert(k.to_owned(), v);
        }
        if response.diagnostics.has_error() {
            return;
        }
        // Refused at plan when it can be seen already; apply checks again under the lock.
        let creating = request.state.is_null();
        let Some(namespaces) = self.services.namespaces(&mut Diagnostics::default()) else { return };
        if !creating && claim::held(&request.state).is_none() {
            let standing = namespaces.claim_standing(&model.spec, None, model.take_over.as_deref()).await;
            match standing {
                Ok(standing) => claim::check_at_plan(&mut response.diagnostics, &model.what(), &standing),
                Err(e) => {
                    errors::namespace(&mut response.diagnostics, "reading the namespace's claim", &model.spec, &e)
                }
            }
        }
        if adoption(&request.state) == Adoption::Adopting {
            match namespaces.adoption_changes(&model.spec).await {
                Ok(Some(changes)) => response.diagnostics.warning(
                    "Apply brings an ACL user made before the provider into the namespace",
                    adoption_warning(&model, &changes, config),
                ),
                Ok(None) => {}
                Err(e) => {
                    errors::namespace(&mut response.diagnostics, "reading the ACL user to adopt", &model.spec, &e)
                }
            }
        }
        let prior_prefix = request.state.attr("key_prefix").and_then(Value::as_str);
        let change = match prior_prefix {
            _ if creating => Some(Change::Create),
            Some(prior) if prior == model.spec.key_prefix => None,
            _ => Some(Change::NewPrefix),
        };
        if let Some(change) = change
            && let Err(e) = namespaces.preflight(&model.spec, change).await
        {
            errors::namespace_at_plan(&mut response.diagnostics, &model.spec, &e);
        }
    }

    async fn create(&self, _ctx: &Context, request: CreateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        let d = &mut response.diagnostics;
        model.check(d);
        let Some(config) = self.services.config(d) else { return };
        let Some(namespaces) = self.services.namespaces(d) else { return };
        if d.has_error() {
            return;
        }
        let given = write_only_password(&request.config, config, d);
        let claim = Claim::new();
        if let Err(e) = namespaces.provision(&model.spec, given, &claim).await {
            return errors::namespace(d, "creating the namespace", &model.spec, &e);
        }
        persist(&namespaces, &model, d).await;
        response.identity = Some(model.identity());
        response.state = with_reported_commands(with_claim(request.plan, &claim), &namespaces, &model, d).await;
    }

    async fn read(&self, _ctx: &Context, request: ReadRequest, response: &mut ReadResponse) {
        let Some(model) = Model::from_value(&request.state) else { return };
        response.identity = Some(model.identity());
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d) else { return };
        let Some(namespaces) = self.services.namespaces(d) else { return };
        let recorded = Recorded {
            key_prefix: request.state.attr("key_prefix").and_then(Value::as_str),
            commands: request.state.attr("acl_commands").and_then(Value::as_str),
            adoption: adoption(&request.state),
        };
        let observed = match namespaces.observe(&model.spec, recorded).await {
            Ok(o) => o,
            Err(e) => return errors::namespace(d, "reading the namespace", &model.spec, &e),
        };
        let Value::Object(mut state) = request.state.clone() else { return };
        for (k, v) in derived_attributes(&model, config) {
            state.insert(k.to_owned(), v);
        }
        // After import: the prefix and rules as the user has them.
        if recorded.key_prefix.is_none()
            && let Some(prefix) = &observed.key_prefix
        {
            state.insert("key_prefix".into(), Value::string(prefix));
        }
        if recorded.commands.is_none()
            && let Some(commands) = &observed.commands
        {
            state.insert("acl_commands".into(), Value::string(commands));
        }
        let in_user: Vec<String> = observed.drift.iter().filter(|d| d.in_user()).map(ToString::to_string).collect();
        if recorded.adoption == Adoption::Adopting || !in_user.is_empty() {
            // The next plan shows a change that puts the user right.
            state.insert("permissions".into(), Value::string(DRIFTED));
        }
        if !in_user.is_empty() {
            d.warning(
                "Redis namespace differs on the server",
                format!("Namespace {:?}: {}. Apply puts it right.", model.spec.name.as_str(), in_user.join("; ")),
            );
        }
        for drift in &observed.drift {
            if let Drift::ManagementUser(_) = drift {
                d.warning(
                    "Redis namespace differs on the server",
                    format!(
                        "Namespace {:?}: {drift}. Apply gives it a new password and hands that to Vault.",
                        model.spec.name.as_str()
                    ),
                );
            }
            if let Drift::ManagementUser(_) | Drift::VaultConnection = drift {
                // The next plan shows a change that puts the link to Vault back.
                state.insert("vault_connection".into(), Value::Null);
            }
        }
        let mut state = Value::Object(state);
        claim::refresh(d, &model.what(), &mut state, observed.claim.as_ref());
        response.state = state;
    }

    async fn update(&self, _ctx: &Context, request: UpdateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        let d = &mut response.diagnostics;
        model.check(d);
        let Some(config) = self.services.config(d) else { return };
        let Some(namespaces) = self.services.namespaces(d) else { return };
        if d.has_error() {
            return;
        }
        let given = write_only_password(&request.config, config, d);
        let prior_prefix = request.state.attr("key_prefix").and_then(Value::as_str);
        let held = claim::held(&request.state);
        // The claim first, before anything changes; kept in state even when what follows fails.
        let claim = match namespaces.take_claim(&model.spec, held.as_deref(), model.take_over.as_deref()).await {
            Ok(claim) => claim,
            Err(e) => return errors::namespace(d, "updating the namespace", &model.spec, &e),
        };
        if let Err(e) = namespaces.repair(&model.spec, prior_prefix, given, adoption(&request.state)).await {
            response.state = with_claim(request.state.clone(), &claim);
            return errors::namespace(d, "updating the namespace", &model.spec, &e);
        }
        persist(&namespaces, &model, d).await;
        response.identity = Some(model.identity());
        response.state = with_reported_commands(with_claim(request.plan, &claim), &namespaces, &model, d).await;
    }

    async fn delete(&self, _ctx: &Context, request: DeleteRequest, d: &mut Diagnostics) {
        let Some(model) = Model::from_value(&request.state) else { return };
        let Some(namespaces) = self.services.namespaces(d) else { return };
        if let Err(e) = namespaces.decommission(&model.spec, model.claim.as_deref()).await {
            return errors::namespace(d, "removing the namespace", &model.spec, &e);
        }
        if model.purge_keys_on_destroy {
            match namespaces.purge_keys(&model.spec).await {
                Ok(n) => d.warning("Keys purged", format!("Deleted {n} key(s) under {:?}.", model.spec.key_prefix)),
                Err(e) => return errors::namespace(d, "deleting the namespace's keys", &model.spec, &e),
            }
        }
        persist(&namespaces, &model, d).await;
    }

    /// `redis/<name>` or `<name>`: the namespace, or, when it has no `dbaas-<name>` user but
    /// an ACL user `<name>` exists, that user adopted; `<name>/<user>`: ACL user `<user>`
    /// adopted as namespace `<name>` (any user name the provider takes).
    async fn import(&self, _ctx: &Context, request: ImportRequest, response: &mut ImportResponse) {
        let (name, named_user) = match &request.identity {
            Some(identity) => (identity.attr("name").and_then(Value::as_str).unwrap_or_default().to_owned(), None),
            None => {
                let id = request.id.strip_prefix("redis/").unwrap_or(&request.id);
                match id.split_once('/') {
                    Some((name, user)) => (name.to_owned(), Some(user.to_owned())),
                    None => (id.to_owned(), None),
                }
            }
        };
        let name = match NamespaceName::new(&name) {
            Ok(n) => n,
            Err(reason) => {
                response.diagnostics.error(
                    "Invalid import id",
                    format!("Expected `<name>` or `<name>/<ACL user>`, with a namespace name: {reason}"),
                );
                return;
            }
        };
        let user = match named_user {
            Some(user) => Some(user),
            None => self.made_before(&name, &mut response.diagnostics).await,
        };
        if let Some(user) = &user
            && let Err(reason) = crate::platform::naming::check_acl_user(user, &name)
        {
            response.diagnostics.error("Invalid import id", reason);
            return;
        }
        let mut state = crate::framework::plan::empty_object(&self.schema());
        state.insert("id".into(), Value::string(name.id()));
        state.insert("name".into(), Value::string(name.as_str()));
        state.insert("permissions".into(), Value::string("readwrite"));
        state.insert("purge_keys_on_destroy".into(), Value::Bool(false));
        state.insert("acl_user".into(), Value::string(user.as_deref().map_or_else(|| name.user(), str::to_owned)));
        if user.is_some_and(|u| u != name.user()) {
            state.insert("acl_commands".into(), Value::string(RULES_BEFORE));
        }
        response.identity = Some(Value::object([("name", Value::string(name.as_str()))]));
        response.state = Value::Object(state);
    }

    async fn upgrade_state(&self, version: i64, prior: Value, d: &mut Diagnostics) -> Option<Value> {
        let Value::Object(mut state) = prior else { return Some(prior) };
        if let Some(name) = state.get("name").and_then(Value::as_str).and_then(|n| NamespaceName::new(n).ok())
            && state.get("acl_user").is_none_or(Value::is_null)
        {
            state.insert("acl_user".into(), Value::string(name.user()));
        }
        match version {
            // 0.1 kept an unsalted SHA-256 of the password (dropped with the attribute) and
            // gave users wider rules: the plan after upgrading shows the change to today's.
            0 => {
                if state.get("acl_commands").is_some_and(|c| !c.is_null()) {
                    state.insert("acl_commands".into(), Value::string(RULES_OF_0_1));
                }
                Some(Value::Object(state))
            }
            // 0.2 took no claims: `claim` stays null, and the next apply takes it.
            1 => Some(Value::Object(state)),
            // Before 0.4 every namespace's user was `dbaas-<name>`.
            2 => Some(Value::Object(state)),
            _ => {
                d.error("Unsupported state version", format!("dbaas_redis_namespace has no schema version {version}."));
                None
            }
        }
    }
}

impl RedisNamespace {
    /// The ACL user `<name>` to adopt on import (see [`Namespaces::user_to_adopt`]); `None`
    /// when Redis cannot be asked (read then says what is missing).
    ///
    /// [`Namespaces::user_to_adopt`]: crate::platform::namespaces::Namespaces::user_to_adopt
    async fn made_before(&self, name: &NamespaceName, d: &mut Diagnostics) -> Option<String> {
        let namespaces = self.services.namespaces(&mut Diagnostics::default())?;
        match namespaces.user_to_adopt(name).await {
            Ok(user) => user,
            Err(NamespaceError::Redis(e)) => {
                errors::redis(d, "looking for the ACL user to import", &e);
                None
            }
            Err(e) => {
                d.error("Cannot look for the ACL user to import", e.to_string());
                None
            }
        }
    }
}
