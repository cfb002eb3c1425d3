//! `dbaas_rotated_role`: a Vault role that issues short-lived credentials for one
//! `dbaas_shared_database` or `dbaas_redis_namespace`, at one privilege level.
//!
//! ```hcl
//! resource "dbaas_rotated_role" "trading" {
//!   database    = dbaas_shared_database.trading.id   # or dbaas_redis_namespace.cache.id
//!   name        = "app"                               # Vault role postgres-trading-app
//!   privileges  = "readwrite"                         # readonly | readwrite | owner
//! }
//! # .creds_path = "database/creds/postgres-trading-app": what the app reads at start-up
//! ```
//!
//! PostgreSQL users join the database's group role (`<db>_readonly`, `_readwrite`,
//! `_owner`); an owner-level user acts as `<db>_owner` (`ALTER ROLE ... SET role`), so what
//! it creates belongs to the group and survives its revocation, which reassigns anything
//! left to `<db>_owner` before dropping the user. MySQL users get the level's grants on
//! `<db>.*`. Redis users get the namespace's key and channel patterns.
//!
//! With `mode = "static"`, the provider creates one login at the level and Vault rotates
//! its password every `rotation_period`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::duration::{format_duration, parse_duration};
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
use crate::framework::value::Value;
use crate::platform::claims::Claim;
use crate::platform::credentials::{Adoption, CredentialError, CredentialSpec, Credentials, Mode};
use crate::platform::naming::{self, RoleName, Target};
use crate::platform::privileges::Privileges;
use crate::platform::settings::ProviderConfig;
use crate::provider::services::Services;
use crate::resources::claim;

mod adoption;
mod checks;
mod model;

use adoption::*;
use checks::*;
use model::Model;

/// The `dbaas_rotated_role` resource.
pub struct RotatedRole {
    services: Arc<Services>,
}

impl RotatedRole {
    /// The resource, using `services`.
    pub fn new(services: Arc<Services>) -> RotatedRole {
        RotatedRole { services }
    }
}

#[async_trait]
impl Resource for RotatedRole {
    fn type_name(&self) -> &'static str {
        "dbaas_rotated_role"
    }

    fn schema(&self) -> Schema {
        let computed = |name, description: &str| Attribute::string(name).computed().description(description);
        Schema::new(
            "A Vault role issuing short-lived credentials (rotated every 24 h by default) for a `dbaas_shared_database` or `dbaas_redis_namespace`, at one privilege level. Apps read `creds_path` at start-up; nothing long-lived is ever handed out.",
            vec![
                Attribute::string("id").computed().plan_modifier(use_state_for_unknown()).description("`<database id>/<name>`, also the import id; what `dbaas_credentials.role` takes."),
                Attribute::string("database")
                    .required()
                    .validator(string_check(naming::Target::check_id))
                    .plan_modifier(requires_replace())
                    .description("The `id` of a `dbaas_shared_database` or `dbaas_redis_namespace`. Changing it replaces the role."),
                Attribute::string("name")
                    .required()
                    .validator(string_check(check_role_name))
                    .description(format!(
                        "Role name: 1 to 24 lowercase letters, digits, `_` or `-`. The Vault role is `<connection>-<name>`, e.g. `postgres-trading-app`, unless `vault_role` names it. A static role on a PostgreSQL or MySQL database may not be named {} or end in one of them after `_` (its login `<database>_<name>` would be another database's group role or management login). Changing it replaces the role when the Vault role's name changes with it.",
                        naming::ROLE_SUFFIXES.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                    )),
                Attribute::string("mode")
                    .default(Value::string("dynamic"))
                    .validator(one_of(&["dynamic", "static"]))
                    .plan_modifier(requires_replace())
                    .description({
                        let (sql_login, redis_login) = RoleName::static_login_patterns();
                        format!("`dynamic`: Vault creates a user per request, revoked when its lease ends. `static`: the provider creates one login (`{sql_login}`; `{redis_login}` on Redis) and Vault rotates its password every `rotation_period`, for apps that cannot re-read credentials and poolers that need a fixed user name. Changing it replaces the role.")
                    }),
                Attribute::string("privileges")
                    .default(Value::string("readwrite"))
                    .validator(one_of(&["readonly", "readwrite", "owner"]))
                    .description("`readonly`, `readwrite` (read and write tables, not create them), or `owner` (also create and alter them; what it creates belongs to the owner group role). Redis namespaces take `readonly` or `readwrite`. Changed in place; users already issued keep theirs until they expire."),
                Attribute::string("default_ttl")
                    .default(Value::string("24h"))
                    .validator(string_check(check_duration))
                    .description("How long issued credentials last unless renewed: Vault's forms (`24h`, `90m`, `86400`). Changed in place."),
                Attribute::string("max_ttl")
                    .default(Value::string("24h"))
                    .validator(string_check(check_duration))
                    .description("The longest issued credentials can be renewed to. Changed in place."),
                Attribute::string("rotation_period")
                    .default(Value::string("24h"))
                    .validator(string_check(check_duration))
                    .description("With `mode = \"static\"`: how often Vault rotates the login's password. Changed in place."),
                Attribute::new("stale_users", Type::list(Type::String)).computed().description(
                    "Information: users that look Vault-issued (`v-...`) for this role's level (members of its group role) or for the database by a hand-written Vault role from before the provider (privileges granted on the database itself), but whose lease is gone (their `VALID UNTIL`, which Vault sets to the lease's expiry, has passed): what is left by a failed revocation. On MySQL and Redis: users whose names say Vault issued them for this role (MySQL: the connection's username template; Redis: the plugin's own `V_<display>_<ROLE>_<random>_<time>`, recognised only when not cut at 100 characters) that no live lease holds, by issue time; a user issued within 2 s of a live lease is never listed. On MySQL also users a hand-written Vault role issued before the provider (`v-...`, Vault's default username templates, holding privileges on this database alone) whose password was set more than 2 s from every live lease of the roles that issue for the database (on its connection, or whose statements name it). Empty for static roles.",
                ),
                Attribute::bool("drop_imported_login")
                    .default(Value::Bool(false))
                    .description(format!("With `mode = \"static\"` on PostgreSQL or MySQL and an imported login (`static_login_origin = \"{LOGIN_IMPORTED}\"`: made by hand, or by another state): destroy (or a replacement) drops that login too. By default it removes only the Vault static role, and the login stays with the password Vault last gave it; the plan says which. A login this state created goes with its role either way, and so does every Redis static login (its key patterns are the namespace's, which another stack may later take).")),
                Attribute::bool("cleanup_stale_users")
                    .default(Value::Bool(false))
                    .description("Drop `stale_users` on apply (what they own goes to the owner group role). Only such users are ever touched."),
                Attribute::string("vault_role")
                    .optional_computed()
                    .validator(string_check(naming::check_vault_role_name))
                    .description("The Vault role: `<connection>-<name>` unless set. Set it, or import the role by this name, to keep a Vault role made before the provider under its own name, and with it the path its apps read (`postgres-myapp-role`, say): the role then moves onto the database's own connection, and the users it issued before stay revocable. A name of the provider's form must be this database's (`<connection>-…`). Changing it replaces the role."),
                computed("static_username", "The fixed login of a static role (null for dynamic)."),
                computed("creds_path", "What an app reads for credentials: `<mount>/creds/<vault_role>`, or `<mount>/static-creds/<vault_role>` for a static role."),
                computed("host", "Where apps connect (PgBouncer for PostgreSQL)."),
                Attribute::number("port").computed().description("Its port."),
                computed("database_name", "The database to connect to (null for Redis)."),
                Attribute::string("static_login_origin").computed().description(format!("Where a static role's login came from: `{LOGIN_CREATED}` (this state's create made it) or `{LOGIN_IMPORTED}` (it existed when the role was imported, made by hand or by another state; the server keeps no proof of which that a tenant could not write). Null for dynamic roles, and for static roles imported before this attribute existed (destroy then drops the login, as it did).")),
                computed("vault_statements", &format!("Whether the statements Vault runs for this role are the ones the provider writes for `privileges` (`{AS_PRIVILEGES_SAYS}`) or were `{CHANGED_OUTSIDE}` (edited by hand, or a role made before the provider): the next apply writes them again, and the plan shows it here.")),
            ]
            .into_iter()
            .chain(claim::attributes("the Vault role"))
            .collect(),
        )
        .with_version(3)
    }

    /// Version 1 kept `changed outside Terraform` in `privileges` itself, which generated
    /// configuration then carried into a value validation refuses: it moves to
    /// `vault_statements`, and `privileges` reads the level that state stood for. Version
    /// 3 added `drop_imported_login`.
    async fn upgrade_state(&self, version: i64, prior: Value, d: &mut Diagnostics) -> Option<Value> {
        let prior =
            if version == 0 { claim::upgrade_from_before_claims("dbaas_rotated_role", 0, prior, d)? } else { prior };
        if version > 2 {
            d.error("Unsupported state version", format!("dbaas_rotated_role has no schema version {version}."));
            return None;
        }
        let Value::Object(mut state) = prior else { return Some(prior) };
        if version <= 1 {
            let privileges = state.get("privileges").and_then(Value::as_str).map(str::to_owned);
            let changed = privileges.as_deref() == Some(CHANGED_OUTSIDE);
            if changed {
                state.insert("privileges".into(), Value::string(Privileges::of(CHANGED_OUTSIDE).as_str()));
            }
            state.insert(
                "vault_statements".into(),
                Value::string(if changed { CHANGED_OUTSIDE } else { AS_PRIVILEGES_SAYS }),
            );
        }
        // Version 3's opt-in, at its default: the plan then shows no change.
        state.insert("drop_imported_login".into(), Value::Bool(false));
        Some(Value::Object(state))
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![
                IdentityAttribute {
                    name: "mount",
                    ty: Type::String,
                    required_for_import: false,
                    description: "Database secrets engine mount.",
                },
                IdentityAttribute {
                    name: "role",
                    ty: Type::String,
                    required_for_import: true,
                    description: "Vault role name.",
                },
            ],
        })
    }

    async fn validate_config(&self, config: &Value, d: &mut Diagnostics) {
        check_rotation_period_set(config, d);
        match Model::from_value(config) {
            Some(model) => model.check(d),
            // The database is not known yet: the durations can be checked already.
            None => check_durations(config, d),
        }
    }

    async fn modify_plan(&self, _ctx: &Context, request: &ModifyPlanRequest, response: &mut ModifyPlanResponse) {
        // Null when destroying: what happens to an imported static login is said.
        let Some(mut model) = Model::from_value(&response.plan) else {
            removal_warning(&request.state, &mut response.diagnostics);
            return;
        };
        // The plan carries the prior `vault_role` forward; a renamed role's Vault role
        // follows its new name unless the role keeps a name of its own.
        if let Ok(role) = RoleName::new(model.role.target.clone(), &model.role.name) {
            model.role = with_vault_role(role, kept_vault_role(request).as_deref());
        }
        check_rotation_period_set(&request.config, &mut response.diagnostics);
        model.check(&mut response.diagnostics);
        let Some(config) = self.services.config(&mut response.diagnostics) else { return };
        let prior_stale = request.state.attr("stale_users").cloned().unwrap_or(Value::Null);
        // A static login keeps the name it was created with (0.1 named Redis ones
        // `dbaas-<namespace>-<role>`).
        let prior_login = request.state.attr("static_username").filter(|v| !v.is_null()).cloned();
        let Value::Object(plan) = &mut response.plan else { return };
        for (k, v) in derived(&model, config) {
            plan.insert(k.to_owned(), v);
        }
        if let (true, Some(login)) = (model.static_mode, prior_login) {
            model.static_username = login.as_str().map(str::to_owned);
            plan.insert("static_username".into(), login);
        }
        // `id` becomes known when the role exists: what refers to it (`dbaas_credentials`,
        // say) then waits for the role within the same apply, instead of asking Vault
        // for a role that is not there yet.
        if request.state.is_null() {
            plan.insert("id".into(), Value::unknown());
        }
        // Known in every plan: who made the login does not change with the role.
        let origin = match request.state.attr("static_login_origin") {
            _ if request.state.is_null() && model.static_mode => Value::string(LOGIN_CREATED),
            Some(prior) if !request.state.is_null() => prior.clone(),
            _ => Value::Null,
        };
        plan.insert("static_login_origin".into(), origin);
        // Cleaning up is a change the plan shows: stale users go to none.
        let stale =
            if model.cleanup_stale_users || prior_stale.is_null() { Value::List(Vec::new()) } else { prior_stale };
        plan.insert("stale_users".into(), stale);
        let prior_vault_role = request.state.attr("vault_role").and_then(Value::as_str);
        let replacing = prior_vault_role.is_some_and(|prior| prior != model.role.vault_role());
        if replacing {
            response.requires_replace.push(AttributePath::root("vault_role"));
        }
        // `mode` and `database` replace the role too (their own plan modifiers say so).
        let replaced = replacing
            || ["mode", "database"].iter().any(|a| {
                !request.state.is_null()
                    && request.state.attr(a).and_then(Value::as_str) != response.plan.attr(a).and_then(Value::as_str)
            });
        if replaced {
            removal_warning(&request.state, &mut response.diagnostics);
        }
        let creating = request.state.is_null() || replacing;
        let unclaimed = claim::held(&request.state).is_none();
        let changed_outside = request.state.attr("vault_statements").and_then(Value::as_str) == Some(CHANGED_OUTSIDE);
        // Most plans ask the servers nothing.
        if !(creating || unclaimed || changed_outside) {
            return;
        }
        let Some(credentials) =
            self.services.credentials(&model.role.target, "dbaas_rotated_role", &mut Diagnostics::default()).await
        else {
            return;
        };
        let d = &mut response.diagnostics;
        if creating {
            // A Vault role made by hand is imported, never overwritten: said now, not at
            // apply. Vault unreachable is the apply's to report.
            if let Err(e @ CredentialError::Taken { .. }) = credentials.check_vault_role_free(&model.role).await {
                errors::credentials(d, "planning the role", &model.role, &e);
            }
            return;
        }
        // An imported or upgraded role takes its claim at the next apply: one another state
        // holds is refused now, unless the configuration names it.
        if unclaimed {
            match credentials.claim_standing(&model.role, None, model.take_over.as_deref()).await {
                Ok(standing) => claim::check_at_plan(d, &model.what(), &standing),
                Err(e) => errors::credentials(d, "reading the role's claim", &model.role, &e),
            }
        }
        // A role made before the provider shows its statements as changed; what the apply
        // does to it besides is said here.
        if changed_outside {
            match credentials.adoption(&model.spec()).await {
                Ok(Some(adoption)) if !adoption.blocked.is_empty() => errors::credentials(
                    d,
                    "planning the move of the role",
                    &model.role,
                    &CredentialError::Unrevocable { blocked: adoption.blocked },
                ),
                Ok(Some(adoption)) => match adoption.less_than_before(&model.spec()) {
                    Some(e) => errors::credentials(d, "planning the move of the role", &model.role, &e),
                    None => adoption_warning(d, &model, config, &adoption),
                },
                Ok(None) => {}
                Err(e) => errors::credentials(d, "reading the role", &model.role, &e),
            }
        }
    }

    async fn create(&self, _ctx: &Context, request: CreateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        let d = &mut response.diagnostics;
        check_rotation_period_set(&request.config, d);
        model.check(d);
        let Some(credentials) = self.services.credentials(&model.role.target, "dbaas_rotated_role", d).await else {
            return;
        };
        if d.has_error() {
            return;
        }
        let claim = Claim::new();
        match credentials.provision(&model.spec(), &claim).await {
            Ok(()) => {}
            // Kept in state, tainted: destroy (or the next apply) removes the login.
            Err(e @ CredentialError::Incomplete { .. }) => {
                errors::credentials(d, "creating the role", &model.role, &e);
                response.state = with_id(request.plan, &model);
                return;
            }
            Err(e) => return errors::credentials(d, "creating the role", &model.role, &e),
        }
        response.identity = self.identity(&model);
        response.state = with_claim(with_id(request.plan, &model), &claim);
    }

    async fn read(&self, _ctx: &Context, request: ReadRequest, response: &mut ReadResponse) {
        let Some(model) = Model::from_value(&request.state) else { return };
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d).cloned() else { return };
        let Some(credentials) = self.services.credentials(&model.role.target, "dbaas_rotated_role", d).await else {
            return;
        };
        let spec = model.spec();
        let observed = match credentials.inspect(&spec).await {
            Ok(Some(o)) => o,
            // Gone from Vault (deleted, or Vault restored from an older backup). A role this
            // state claimed stays in state, `vault_role` unknown, so the next plan puts it
            // back in place and a static role keeps its own login; one it never claimed
            // (imported, not applied since) is planned afresh.
            Ok(None) => {
                response.state = match (&request.state, model.claim.is_some()) {
                    (Value::Object(state), true) => {
                        let mut state = state.clone();
                        state.insert("vault_role".into(), Value::Null);
                        Value::Object(state)
                    }
                    _ => Value::Null,
                };
                return;
            }
            Err(e) => return errors::credentials(d, "reading the role", &model.role, &e),
        };
        let Value::Object(mut state) = request.state.clone() else { return };
        for (k, v) in derived(&model, &config) {
            state.insert(k.to_owned(), v);
        }
        // Durations as the user wrote them while Vault agrees, so a plan never shows
        // 24h -> 86400s.
        let durations = [
            ("default_ttl", observed.default_ttl),
            ("max_ttl", observed.max_ttl),
            ("rotation_period", observed.rotation_period),
        ];
        for (attribute, actual) in durations {
            let applies = (attribute == "rotation_period") == model.static_mode;
            let written = state.get(attribute).and_then(Value::as_str).and_then(|s| parse_duration(s).ok());
            if let (true, Some(actual)) = (applies, actual)
                && written != Some(actual)
            {
                state.insert(attribute.into(), Value::string(format_duration(actual)));
            }
        }
        if !observed.statements_match {
            state.insert("vault_statements".into(), Value::string(CHANGED_OUTSIDE));
        }
        let stale = credentials.stale_users(&spec).await.unwrap_or_else(|e| {
            errors::credentials(d, "looking for stale users", &model.role, &e);
            Vec::new()
        });
        state.insert("stale_users".into(), Value::List(stale.into_iter().map(Value::string).collect()));
        response.identity = self.identity(&model);
        let mut state = Value::Object(state);
        claim::refresh(d, &model.what(), &mut state, observed.claim.as_ref());
        response.state = state;
    }

    async fn update(&self, _ctx: &Context, request: UpdateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        let d = &mut response.diagnostics;
        check_rotation_period_set(&request.config, d);
        model.check(d);
        let Some(credentials) = self.services.credentials(&model.role.target, "dbaas_rotated_role", d).await else {
            return;
        };
        if d.has_error() {
            return;
        }
        let spec = model.spec();
        let held = claim::held(&request.state);
        let claim = match credentials.take_claim(&model.role, held.as_deref(), model.take_over.as_deref()).await {
            Ok(claim) => claim,
            Err(e) => return errors::credentials(d, "updating the role", &model.role, &e),
        };
        if model.cleanup_stale_users {
            match credentials.drop_stale_users(&spec).await {
                Ok(dropped) if dropped.is_empty() => {}
                Ok(dropped) => d.warning(
                    "Stale users dropped",
                    format!("Dropped {} user(s) whose Vault lease was gone: {}.", dropped.len(), dropped.join(", ")),
                ),
                Err(e) => {
                    response.state = with_claim(request.state.clone(), &claim);
                    return errors::credentials(d, "dropping stale users", &model.role, &e);
                }
            }
        }
        if let Err(e) = credentials.write(&spec).await {
            response.state = with_claim(request.state.clone(), &claim);
            return errors::credentials(d, "updating the role", &model.role, &e);
        }
        response.identity = self.identity(&model);
        response.state = with_claim(request.plan, &claim);
    }

    async fn delete(&self, _ctx: &Context, request: DeleteRequest, d: &mut Diagnostics) {
        let Some(model) = Model::from_value(&request.state) else { return };
        let Some(credentials) = self.services.credentials(&model.role.target, "dbaas_rotated_role", d).await else {
            return;
        };
        let keep_login = keeps_login(&request.state);
        if let Err(e) = credentials.decommission(&model.spec(), model.claim.as_deref(), keep_login).await {
            errors::credentials(d, "removing the role", &model.role, &e);
        }
    }

    async fn import(&self, _ctx: &Context, request: ImportRequest, response: &mut ImportResponse) {
        let d = &mut response.diagnostics;
        // An id without `/` is a Vault role's name: a role made before the provider is
        // imported by the name its apps know.
        let parsed = match &request.identity {
            Some(identity) => self.role_from_identity(identity, d).await,
            None if !request.id.contains('/') => {
                self.role_from_identity(&Value::object([("role", Value::string(&request.id))]), d).await
            }
            None => RoleName::parse_id(&request.id),
        };
        // A static role on a shared connection says nothing of its database but its login:
        // where that login works.
        let parsed = match parsed {
            None if !d.has_error() && request.identity.is_none() && !request.id.contains('/') => {
                self.static_role_made_before(&request.id, d).await
            }
            parsed => parsed,
        };
        let Some(role) = parsed else {
            if !d.has_error() {
                d.error(
                    "Invalid import id",
                    format!("Expected `<engine>/<database>/<name>`, e.g. `postgresql/trading/app`, or the name of a Vault role on the provider's mount whose statements name one database, e.g. `postgres-trading-role`; got {:?}.", request.id),
                );
            }
            return;
        };
        let Some(credentials) = self.services.credentials(&role.target, "dbaas_rotated_role", d).await else { return };
        // What the role really is: static or dynamic, and the level it grants.
        let (is_static, privileges) = match credentials.imported(&role).await {
            Ok(found) => found,
            Err(e) => return errors::credentials(d, "reading the role to import", &role, &e),
        };
        let login = if is_static {
            match credentials.vault.read_static_role(credentials.mount, &role.vault_role()).await {
                Ok(found) => found.and_then(|f| f["username"].as_str().map(str::to_owned)),
                Err(e) => return errors::vault(d, "reading the static role to import", &e),
            }
        } else {
            None
        };
        let origin = if login.is_some() { Value::string(LOGIN_IMPORTED) } else { Value::Null };
        let mut state = crate::framework::plan::empty_object(&self.schema());
        state.insert("static_login_origin".into(), origin);
        state.insert("drop_imported_login".into(), Value::Bool(false));
        if let Some(login) = login {
            state.insert("static_username".into(), Value::string(login));
        }
        state.insert("database".into(), Value::string(role.target.id()));
        state.insert("name".into(), Value::string(&role.name));
        state.insert("id".into(), Value::string(role.id()));
        state.insert("vault_role".into(), Value::string(role.vault_role()));
        state.insert("privileges".into(), Value::string(privileges.as_str()));
        state.insert("default_ttl".into(), Value::string("24h"));
        state.insert("max_ttl".into(), Value::string("24h"));
        state.insert("rotation_period".into(), Value::string("24h"));
        state.insert("cleanup_stale_users".into(), Value::Bool(false));
        state.insert("mode".into(), Value::string(if is_static { "static" } else { "dynamic" }));
        response.identity = Some(Value::object([
            ("mount", Value::string(credentials.mount)),
            ("role", Value::string(role.vault_role())),
        ]));
        response.state = Value::Object(state);
    }
}

impl RotatedRole {
    fn identity(&self, model: &Model) -> Option<Value> {
        let mount = self.services.config(&mut Diagnostics::default())?.vault.as_ref()?.database_mount.clone();
        Some(Value::object([("mount", Value::string(mount)), ("role", Value::string(model.role.vault_role()))]))
    }
}

/// What `vault_statements` reads in state when Vault's statements are not the provider's
/// for `privileges` (edited by hand, or a role made before the provider): the next plan
/// puts them right.
const CHANGED_OUTSIDE: &str = "changed outside Terraform";

/// What `vault_statements` reads when Vault runs the statements the provider writes.
const AS_PRIVILEGES_SAYS: &str = "as privileges says";

/// `static_login_origin` of a login this state's create made.
const LOGIN_CREATED: &str = "created";

/// `static_login_origin` of a login that existed when its role was imported.
const LOGIN_IMPORTED: &str = "imported";

/// Whether removing the role in `state` (destroy or replacement) leaves its static login
/// on the server: an imported one on PostgreSQL or MySQL, unless the configuration opted
/// in to dropping it. A Redis login always goes: its key patterns are the namespace's, and
/// a namespace of the same name made later by another stack would hand it that stack's
/// keys.
fn keeps_login(state: &Value) -> bool {
    state.attr("mode").and_then(Value::as_str) == Some("static")
        && state.attr("static_login_origin").and_then(Value::as_str) == Some(LOGIN_IMPORTED)
        && !matches!(state.attr("drop_imported_login"), Some(Value::Bool(true)))
        && !state.attr("database").and_then(Value::as_str).is_some_and(|id| id.starts_with("redis/"))
}

/// The plan of a destroy or a replacement says what happens to an imported static login.
fn removal_warning(state: &Value, d: &mut Diagnostics) {
    let origin = state.attr("static_login_origin").and_then(Value::as_str);
    let (Some(login), Some(LOGIN_IMPORTED)) = (state.attr("static_username").and_then(Value::as_str), origin) else {
        return;
    };
    let role = state.attr("vault_role").and_then(Value::as_str).unwrap_or_default();
    if keeps_login(state) {
        d.warning(
            "Removing the role keeps its imported login",
            format!("Destroying or replacing this role removes the Vault static role {role:?}; its login {login:?} was imported (made by hand or by another state) and stays on the server, with the password Vault last gave it (no one rotates it any more). Set `drop_imported_login = true` and apply first to drop it too."),
        );
    } else {
        d.warning(
            "Removing the role drops its imported login",
            format!("Destroying or replacing this role removes the Vault static role {role:?} and drops its login {login:?}, which was imported (made by hand or by another state): whatever still connects as it loses access."),
        );
    }
}

/// `state` with `claim` set.
fn with_claim(state: Value, claim: &Claim) -> Value {
    let Value::Object(mut state) = state else { return state };
    state.insert("claim".into(), Value::string(&claim.id));
    Value::Object(state)
}

/// The plan of a create, with the `id` it left unknown.
fn with_id(plan: Value, model: &Model) -> Value {
    let Value::Object(mut state) = plan else { return plan };
    state.insert("id".into(), Value::string(model.role.id()));
    Value::Object(state)
}

fn derived(model: &Model, config: &ProviderConfig) -> Vec<(&'static str, Value)> {
    let (host, port, database) = super::app_endpoint_values(&model.role, config);
    let mount = config.vault.as_ref().map_or_else(|| "database".to_owned(), |v| v.database_mount.clone());
    let vault_role = model.role.vault_role();
    vec![
        ("id", Value::string(model.role.id())),
        ("vault_role", Value::string(&vault_role)),
        ("static_username", if model.static_mode { Value::string(model.spec().login()) } else { Value::Null }),
        (
            "creds_path",
            Value::string(model.role.creds_path(
                &mount,
                if model.static_mode { naming::Issuing::Static } else { naming::Issuing::Dynamic },
            )),
        ),
        ("host", host),
        ("port", port),
        ("database_name", database),
        ("vault_statements", Value::string(AS_PRIVILEGES_SAYS)),
    ]
}
