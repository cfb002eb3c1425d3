//! `dbaas_shared_database`: a database on the shared PostgreSQL or MySQL cluster, with
//! its group roles and, when Vault is configured, its own Vault database connection.
//!
//! ```hcl
//! resource "dbaas_shared_database" "trading" {
//!   name       = "trading"
//!   engine     = "postgresql"
//!   extensions = ["pgcrypto"]
//! }
//! ```
//!
//! PostgreSQL: the database is owned by the NOLOGIN group role `<name>_owner`; the
//! `<name>_readwrite` and `<name>_readonly` group roles get CONNECT, schema USAGE and
//! default privileges for what the owner role creates, so access comes from membership
//! and nothing per table can drift. With Vault, a management login `<name>_vault` and a
//! Vault connection `postgres-<name>` (allowed roles `postgres-<name>-*`) are created.
//! Only Vault knows the login's password: PostgreSQL is sent only its SCRAM verifier (on
//! MySQL, Vault rotates it at once).
//!
//! Destroy follows `deletion_policy`: `retain` (default) forgets, `archive` renames and
//! locks, `drop` drops (refusing while clients are connected unless `force_drop`).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::errors;
use crate::framework::component::{
    ApplyResponse, Context, CreateRequest, DeleteRequest, ImportRequest, ImportResponse, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, Resource, UpdateRequest,
};
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::plan_modifier::{requires_replace, requires_replace_if, use_state_for_unknown};
use crate::framework::schema::{Attribute, IdentityAttribute, IdentitySchema, Schema};
use crate::framework::types::Type;
use crate::framework::validator::{int_between, one_of};
use crate::framework::value::{Number, Value};
use crate::platform::claims::Claim;
use crate::platform::databases::{
    Clients, DatabaseDrift, DatabaseError, DatabaseSpec, Databases, DeletionPolicy, Extensions, Made, Observed, Removed,
};
use crate::platform::naming::{DatabaseName, Engine};
use crate::platform::settings::ProviderConfig;
use crate::provider::services::Services;
use crate::resources::claim;

mod model;
mod state;

use model::*;
use state::*;

/// The `dbaas_shared_database` resource.
pub struct SharedDatabase {
    services: Arc<Services>,
}

impl SharedDatabase {
    /// The resource, using `services`.
    pub fn new(services: Arc<Services>) -> SharedDatabase {
        SharedDatabase { services }
    }
}

#[async_trait]
impl Resource for SharedDatabase {
    fn type_name(&self) -> &'static str {
        "dbaas_shared_database"
    }

    fn schema(&self) -> Schema {
        let computed = |name, description: &str| Attribute::string(name).computed().description(description);
        Schema::new(
            "A database on the shared PostgreSQL or MySQL cluster, with its group roles and (when the provider has a `vault` block) its own Vault database connection, ready for `dbaas_rotated_role`. Apps get everything but credentials from its attributes.",
            vec![
                Attribute::string("id").computed().plan_modifier(use_state_for_unknown()).description("`<engine>/<name>`, also the import id."),
                Attribute::string("name")
                    .required()
                    .plan_modifier(requires_replace())
                    .description(format!("Database name: lowercase letters, digits and `_`, starting with a letter or `_`; at most {} characters on PostgreSQL (not starting with `pg_`, which PostgreSQL reserves), {} on MySQL. Changing it replaces the database.", Engine::Postgresql.max_name_len(), Engine::Mysql.max_name_len())),
                Attribute::string("engine")
                    .required()
                    .validator(one_of(&["postgresql", "mysql"]))
                    .plan_modifier(requires_replace())
                    .description("`postgresql` or `mysql`. Changing it replaces the database."),
                Attribute::new("extensions", Type::set(Type::String))
                    .optional_computed()
                    .plan_modifier(use_state_for_unknown())
                    .description("PostgreSQL extensions to install; added and dropped in place (never with CASCADE). Left unset, installed extensions are not managed."),
                Attribute::number("connection_limit")
                    .optional_computed()
                    .validator(int_between(-1, 100_000))
                    .description("PostgreSQL connection limit, `-1` for none (the default). Changed in place."),
                Attribute::string("encoding").optional_computed().plan_modifier(use_state_for_unknown()).plan_modifier(requires_replace()).description("PostgreSQL encoding (default: the template's, normally `UTF8`). Changing it replaces the database."),
                Attribute::string("lc_collate").optional_computed().plan_modifier(use_state_for_unknown()).plan_modifier(requires_replace()).description("PostgreSQL LC_COLLATE (default: the template's). Changing it replaces the database."),
                Attribute::string("lc_ctype").optional_computed().plan_modifier(use_state_for_unknown()).plan_modifier(requires_replace()).description("PostgreSQL LC_CTYPE (default: the template's). Changing it replaces the database."),
                Attribute::string("template")
                    .plan_modifier(requires_replace_if(|r| !r.state.is_null()))
                    .description("PostgreSQL template database (default `template1`). Changing it replaces the database; PostgreSQL does not record it, so an imported database keeps whatever is set here."),
                Attribute::string("character_set").optional_computed().plan_modifier(use_state_for_unknown()).description("MySQL default character set (default: the server's). Changed in place; affects new tables."),
                Attribute::string("collation").optional_computed().plan_modifier(use_state_for_unknown()).description("MySQL default collation (default: the server's). Changed in place; affects new tables."),
                Attribute::string("deletion_policy")
                    .default(Value::string("retain"))
                    .validator(one_of(&["retain", "archive", "drop"]))
                    .description("What destroy does: `retain` removes it from state only (database, roles and Vault connection stay, with a warning naming them); `archive` renames it to `<name>__archived_<UTC timestamp>`, revokes CONNECT and removes the Vault connection; `drop` drops it."),
                Attribute::bool("force_drop")
                    .default(Value::Bool(false))
                    .description("With `archive` or `drop`: disconnect connected clients instead of failing (`DROP DATABASE ... WITH (FORCE)` on PostgreSQL)."),
                computed("host", "Where apps connect: PgBouncer for PostgreSQL, the cluster endpoint for MySQL."),
                Attribute::number("port").computed().description("Port apps connect to."),
                computed("admin_host", "The primary, for migrations and DDL."),
                Attribute::number("admin_port").computed().description("The primary's port."),
                computed("read_host", "Where apps read from replicas: the read-only PgBouncer or the replicas (`postgres.pooled_read_host`, `read_host`), MySQL's read-only endpoint; null when the platform configures none. `readonly` credentials work there (roles are cluster-wide)."),
                Attribute::number("read_port").computed().description("Its port; null with `read_host`."),
                computed("connection_uri", "Connection URI for apps, without credentials."),
                computed("owner_role", "PostgreSQL group role owning the database and its objects."),
                computed("readwrite_role", "PostgreSQL group role that reads and writes tables."),
                computed("readonly_role", "PostgreSQL group role that reads tables."),
                computed("vault_connection", "Name of this database's Vault connection (null without Vault), for `dbaas_rotated_role`."),
            ]
            .into_iter()
            .chain(claim::attributes("the database"))
            .collect(),
        )
        .with_version(1)
    }

    async fn upgrade_state(&self, version: i64, prior: Value, d: &mut Diagnostics) -> Option<Value> {
        claim::upgrade_from_before_claims("dbaas_shared_database", version, prior, d)
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![
                IdentityAttribute {
                    name: "engine",
                    ty: Type::String,
                    required_for_import: true,
                    description: "`postgresql` or `mysql`.",
                },
                IdentityAttribute {
                    name: "name",
                    ty: Type::String,
                    required_for_import: true,
                    description: "Database name.",
                },
            ],
        })
    }

    async fn validate_config(&self, config: &Value, d: &mut Diagnostics) {
        let engine = config.attr("engine").and_then(Value::as_str).and_then(Engine::parse);
        if let Some(model) = Model::from_value(config) {
            model.check(d);
        }
        let (foreign, other) = match engine {
            Some(Engine::Mysql) => (ATTRIBUTES_POSTGRES_ONLY, "PostgreSQL"),
            Some(Engine::Postgresql) => (ATTRIBUTES_MYSQL_ONLY, "MySQL"),
            None => return,
        };
        for attr in foreign {
            if config.attr(attr).is_some_and(|v| !v.is_null()) {
                d.attribute_error(
                    AttributePath::root(attr),
                    "Attribute not supported by this engine",
                    format!("`{attr}` applies to {other} databases only."),
                );
            }
        }
    }

    async fn modify_plan(&self, _ctx: &Context, request: &ModifyPlanRequest, response: &mut ModifyPlanResponse) {
        // Null when destroying: nothing to check.
        let Some(model) = Model::from_value(&response.plan) else { return };
        model.check(&mut response.diagnostics);
        let Some(config) = self.services.config(&mut response.diagnostics) else { return };
        if request.state.is_null() || request.state.attr("template") != response.plan.attr("template") {
            model.check_template(config, &mut response.diagnostics);
        }
        let Value::Object(plan) = &mut response.plan else { return };
        // Endpoints and names follow from the provider configuration: known at plan time.
        for (k, v) in derived_attributes(&model.database, config) {
            plan.insert(k.to_owned(), v);
        }
        plan.insert("id".into(), Value::string(model.database.id()));
        if model.database.engine == Engine::Postgresql {
            if request.config.attr("connection_limit").is_none_or(Value::is_null) {
                plan.insert("connection_limit".into(), Value::int(-1));
            }
            for attr in ATTRIBUTES_MYSQL_ONLY {
                plan.insert((*attr).into(), Value::Null);
            }
        } else {
            for attr in ATTRIBUTES_POSTGRES_ONLY {
                plan.insert((*attr).into(), Value::Null);
            }
        }
        // Extensions added come from the allow-list: at plan, and again at apply.
        if model.database.engine == Engine::Postgresql
            && !response.diagnostics.has_error()
            && let Some(databases) = self.services.databases(model.database.engine, &mut Diagnostics::default()).await
        {
            let added = model.extensions_added(Model::from_value(&request.state).as_ref());
            match databases.refused_extensions(&added).await {
                Ok(None) => {}
                Ok(Some(reason)) => response.diagnostics.attribute_error(
                    AttributePath::root("extensions"),
                    "Extension not allowed",
                    reason,
                ),
                Err(e) => errors::database(&mut response.diagnostics, "checking the extensions", &model.database, &e),
            }
        }
        // An imported or upgraded database takes its claim at the next apply: one another
        // state holds is refused now, unless the configuration names it.
        if !request.state.is_null()
            && claim::held(&request.state).is_none()
            && !response.diagnostics.has_error()
            && let Some(databases) = self.services.databases(model.database.engine, &mut Diagnostics::default()).await
        {
            match databases.claim_standing(&model.database, None, model.take_over.as_deref()).await {
                Ok(standing) => claim::check_at_plan(&mut response.diagnostics, &model.what(), &standing),
                Err(e) => {
                    errors::database(&mut response.diagnostics, "reading the database's claim", &model.database, &e)
                }
            }
            // What the first apply after an import changes that no attribute shows.
            match databases.adoption_changes(&model.database).await {
                Ok(changes) if changes.is_empty() => {}
                Ok(changes) => response.diagnostics.warning(
                    "Apply brings an imported database to the provider's shape",
                    format!(
                        "Besides the attribute changes above, the next apply changes database {:?}: {}.",
                        model.database.name,
                        changes.join("; ")
                    ),
                ),
                Err(e) => errors::database(
                    &mut response.diagnostics,
                    "reading the database's privileges",
                    &model.database,
                    &e,
                ),
            }
        }
        // A name someone else holds shows at plan; apply refuses it before making anything.
        if request.state.is_null()
            && !response.diagnostics.has_error()
            && let Some(databases) = self.services.databases(model.database.engine, &mut Diagnostics::default()).await
        {
            if let Err(e) = databases.preflight(&model.database).await {
                errors::database_at_plan(&mut response.diagnostics, &model.database, &e);
            }
            if let Ok(Some(facts)) = databases.server_facts().await
                && !facts.separates_teams()
            {
                let why = if facts.superuser {
                    "The provider's PostgreSQL admin login is a superuser: it, and whoever holds it, reaches every team's databases and roles."
                } else {
                    "This PostgreSQL is older than 16, where CREATEROLE reaches every role on the server: an admin login holding it reaches every team's roles."
                };
                response.diagnostics.warning(
                    "Teams' admin logins are not kept apart by PostgreSQL here",
                    format!("{why} Stacks stay apart through their Vault policies and this provider's checks, not through the server. On PostgreSQL 16 or later, give each team its own login with CREATEDB CREATEROLE and no superuser: the server then refuses one team's login everything another team's login made. (Apps' credentials and Vault's management logins are kept to their own database by the server either way.)"),
                );
            }
        }
        // Every create and update grants the pooler's auth user CONNECT: it must be the
        // platform's, at plan and again at apply.
        if model.database.engine == Engine::Postgresql
            && response.plan != request.state
            && !response.diagnostics.has_error()
            && let Some(databases) = self.services.databases(model.database.engine, &mut Diagnostics::default()).await
            && let Err(e) = databases.check_pooler_auth_user().await
        {
            match e {
                DatabaseError::PoolerAuthUser { .. } => {
                    errors::database(&mut response.diagnostics, "planning the database", &model.database, &e);
                }
                // A server that does not answer fails the apply, which checks again.
                other => response.diagnostics.warning(
                    "Could not check PgBouncer's auth_user",
                    format!("Checking `postgres.pooler_auth_user` failed: {other}. Apply checks again."),
                ),
            }
        }
    }

    async fn create(&self, _ctx: &Context, request: CreateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        let d = &mut response.diagnostics;
        model.check(d);
        let Some(config) = self.services.config(d).cloned() else { return };
        model.check_template(&config, d);
        let Some(databases) = self.services.databases(model.database.engine, d).await else { return };
        if d.has_error() {
            return;
        }
        if let Some(reason) = refused_extensions(&databases, &model, None, d).await {
            return d.attribute_error(AttributePath::root("extensions"), "Extension not allowed", reason);
        }
        if let Err(e) = databases.check_pooler_auth_user().await {
            return errors::database(d, "creating the database", &model.database, &e);
        }
        let claim = Claim::new();
        let provisioned = match databases.provision(&model.database, &model.spec, &claim).await {
            Ok(provisioned) => provisioned,
            Err(DatabaseError::Incomplete { cause, left, named }) => {
                // What could not be removed goes into state, tainted, with a record of
                // what it is, so destroy or the next apply removes exactly that.
                let e = DatabaseError::Incomplete { cause, left: left.clone(), named };
                errors::database(d, "creating the database", &model.database, &e);
                response.state = incomplete_state(&with_claim(&request.plan, &claim), &model, &config);
                response.private = serde_json::to_vec(&left).ok();
                return;
            }
            Err(e) => return errors::database(d, "creating the database", &model.database, &e),
        };
        response.identity = Some(model.identity());
        self.read_back(&model, with_claim(&request.plan, &claim), provisioned.extensions, &config, response).await;
    }

    async fn read(&self, _ctx: &Context, request: ReadRequest, response: &mut ReadResponse) {
        let Some(model) = Model::from_value(&request.state) else { return };
        response.identity = Some(model.identity());
        self.refresh(&model, response).await;
    }

    async fn update(&self, _ctx: &Context, request: UpdateRequest, response: &mut ApplyResponse) {
        let (Some(plan), Some(prior)) = (Model::from_value(&request.plan), Model::from_value(&request.state)) else {
            return;
        };
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d).cloned() else { return };
        let Some(databases) = self.services.databases(plan.database.engine, d).await else { return };
        if let Some(reason) = refused_extensions(&databases, &plan, Some(&prior), d).await {
            return d.attribute_error(AttributePath::root("extensions"), "Extension not allowed", reason);
        }
        if let Err(e) = databases.check_pooler_auth_user().await {
            return errors::database(d, "updating the database", &plan.database, &e);
        }
        // The claim first, before anything changes; kept in state even when what follows fails.
        let claim = match databases.take_claim(&plan.database, prior.claim.as_deref(), plan.take_over.as_deref()).await
        {
            Ok(claim) => claim,
            Err(e) => return errors::database(d, "updating the database", &plan.database, &e),
        };
        if let Err(e) = databases.reconcile(&plan.database, &plan.spec, &prior.spec).await {
            response.state = with_claim(&request.state, &claim);
            return errors::database(d, "updating the database", &plan.database, &e);
        }
        response.identity = Some(plan.identity());
        self.read_back(&plan, with_claim(&request.plan, &claim), None, &config, response).await;
    }

    async fn delete(&self, _ctx: &Context, request: DeleteRequest, d: &mut Diagnostics) {
        let Some(model) = Model::from_value(&request.state) else { return };
        let Some(config) = self.services.config(d) else { return };
        let name = &model.database;
        if request.private.is_empty() && model.deletion_policy == DeletionPolicy::Retain && model.claim.is_none() {
            // Nothing to ask the server: the database stays as it is.
            return retained(&model, config, d);
        }
        let Some(databases) = self.services.databases(name.engine, d).await else { return };
        // A create that failed half-way left exactly these; nobody was ever given access.
        if let Ok(mut made) = serde_json::from_slice::<Made>(&request.private)
            && !made.is_empty()
        {
            if let Err(e) = databases.undo(name, &mut made).await {
                errors::database(d, "removing what a failed create left", name, &e);
            }
            return;
        }
        let clients = if model.force_drop { Clients::Disconnect } else { Clients::Refuse };
        match databases.remove(name, model.claim.as_deref(), model.deletion_policy, clients).await {
            Ok(Removed::Retained) => retained(&model, config, d),
            Err(e) if model.deletion_policy == DeletionPolicy::Retain => {
                // The database stays for any state to import, but with this state's claim.
                let held = model.claim.as_deref().unwrap_or_default();
                d.warning(
                    "Claim not released",
                    format!("Database {:?} still carries this state's claim {held}: {e}. A state importing it will need `take_over_claim = \"{held}\"`.", name.name),
                );
                retained(&model, config, d);
            }
            Ok(Removed::Archived(archived_name)) => {
                let kept = match name.engine {
                    Engine::Postgresql => "nobody can connect to it. Its data and group roles are kept",
                    Engine::Mysql => "its data is kept",
                };
                d.warning("Database archived", format!("{:?} was renamed to {archived_name:?}; {kept}.", name.name));
            }
            Ok(Removed::Dropped) => {}
            Err(e) => errors::database(d, "removing the database", name, &e),
        }
    }

    async fn import(&self, _ctx: &Context, request: ImportRequest, response: &mut ImportResponse) {
        let (engine, name) = match &request.identity {
            Some(identity) => (
                identity.attr("engine").and_then(Value::as_str).unwrap_or_default().to_owned(),
                identity.attr("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            ),
            None => match request.id.split_once('/') {
                Some((e, n)) => (e.to_owned(), n.to_owned()),
                None => (String::new(), String::new()),
            },
        };
        let Some(engine) = Engine::parse(&engine).filter(|_| !name.is_empty()) else {
            response.diagnostics.error(
                "Invalid import id",
                format!("Expected `postgresql/<name>` or `mysql/<name>`, got {:?}.", request.id),
            );
            return;
        };
        let mut state = crate::framework::plan::empty_object(&self.schema());
        state.insert("id".into(), Value::string(format!("{}/{name}", engine.as_str())));
        state.insert("name".into(), Value::string(&name));
        state.insert("engine".into(), Value::string(engine.as_str()));
        state.insert("deletion_policy".into(), Value::string("retain"));
        state.insert("force_drop".into(), Value::Bool(false));
        response.identity =
            Some(Value::object([("engine", Value::string(engine.as_str())), ("name", Value::string(&name))]));
        response.state = Value::Object(state);
    }
}

impl SharedDatabase {
    /// Reads the database back into `response.state`; null when it no longer exists.
    /// The state after a create or update that went through: `planned` as the server now
    /// reads. When reading back fails (the server went away in between: a failover, say),
    /// the change stands: `planned` with what it did not know left null goes into state,
    /// with a warning, and the next refresh reads the rest.
    async fn read_back(
        &self,
        model: &Model,
        planned: Value,
        extensions: Option<BTreeSet<String>>,
        config: &ProviderConfig,
        response: &mut ApplyResponse,
    ) {
        let mut read = ReadResponse { state: planned.clone(), ..Default::default() };
        self.refresh_knowing(model, &mut read, extensions).await;
        if !read.diagnostics.has_error() {
            response.diagnostics.extend(read.diagnostics);
            response.state = read.state;
            return;
        }
        let why: Vec<String> = read.diagnostics.0.iter().map(|e| format!("{}: {}", e.summary, e.detail)).collect();
        response.diagnostics.warning(
            "Database changed, not read back",
            format!(
                "Database {:?} was changed as planned, but reading it back failed: {} It is in state; the next plan reads it again.",
                model.database.name,
                why.join(" ")
            ),
        );
        response.state = incomplete_state(&planned, model, config);
    }

    async fn refresh(&self, model: &Model, response: &mut ReadResponse) {
        self.refresh_knowing(model, response, None).await;
    }

    /// [`Self::refresh`], with the installed extensions already known (`Some`) from the
    /// create that just installed them.
    async fn refresh_knowing(&self, model: &Model, response: &mut ReadResponse, extensions: Option<BTreeSet<String>>) {
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d).cloned() else { return };
        let Value::Object(mut state) = response.state.clone() else { return };
        let Some(databases) = self.services.databases(model.database.engine, d).await else { return };
        // Extensions: after import, all that are installed; otherwise those this resource
        // manages that are still there. An empty managed set needs no look.
        let managed_some = model.database.engine == Engine::Postgresql
            && !matches!(state.get("extensions"), Some(Value::Set(s)) if s.is_empty());
        let read = if managed_some && extensions.is_none() { Extensions::Read } else { Extensions::Skip };
        let observed = match databases.inspect(&model.database, read).await {
            Ok(Some(o)) if managed_some && extensions.is_some() => Observed { extensions, ..o },
            Ok(Some(o)) => o,
            Ok(None) => {
                response.state = Value::Null;
                return;
            }
            Err(e) => return errors::database(d, "reading the database", &model.database, &e),
        };
        for (k, v) in derived_attributes(&model.database, &config) {
            state.insert(k.to_owned(), v);
        }
        let text = |t: Option<String>| t.map_or(Value::Null, Value::string);
        match model.database.engine {
            Engine::Postgresql => {
                state.insert("connection_limit".into(), Value::int(i64::from(observed.connection_limit.unwrap_or(-1))));
                state.insert("encoding".into(), text(observed.encoding.clone()));
                state.insert("lc_collate".into(), text(observed.lc_collate.clone()));
                state.insert("lc_ctype".into(), text(observed.lc_ctype.clone()));
                if let Some(shown) = observed.extensions_shown(model.spec.extensions.as_ref()) {
                    state.insert("extensions".into(), Value::Set(shown.into_iter().map(Value::string).collect()));
                }
            }
            Engine::Mysql => {
                state.insert("character_set".into(), text(observed.character_set.clone()));
                state.insert("collation".into(), text(observed.collation.clone()));
            }
        }
        // Each drift shows as a change that puts it back.
        for drift in databases.drift(&observed) {
            match &drift {
                DatabaseDrift::GroupRoleMissing(level) => {
                    state.insert(format!("{}_role", level.as_str()), Value::Null);
                }
                DatabaseDrift::Connect { granted_to } => {
                    // New credentials could not connect, or anyone could.
                    state.insert("readwrite_role".into(), Value::Null);
                    state.insert("readonly_role".into(), Value::Null);
                    d.warning(
                        "Database privileges changed outside Terraform",
                        format!("CONNECT on {:?} is not as the provider set it: its readwrite and readonly roles must have it, and PUBLIC must not (it is granted to {}). Apply puts it back.", model.database.name, granted_to.join(", ")),
                    );
                }
                DatabaseDrift::VaultConnection => {
                    state.insert("vault_connection".into(), Value::Null);
                }
                DatabaseDrift::WildcardGrants { .. } => {
                    state.insert("vault_connection".into(), Value::Null);
                    d.warning(
                        "Database grants reach other databases",
                        format!("On {:?}, {drift}. Apply gives each the same privileges on this database alone, then revokes the pattern.", model.database.name),
                    );
                }
            }
        }
        state.insert("id".into(), Value::string(model.database.id()));
        let mut state = Value::Object(state);
        claim::refresh(d, &model.what(), &mut state, observed.claim.as_ref());
        response.state = state;
    }
}

/// Why the extensions `model` adds to `prior`'s are refused, if they are (a failure to ask
/// the server is a diagnostic, and refuses too).
async fn refused_extensions(
    databases: &Databases<'_>,
    model: &Model,
    prior: Option<&Model>,
    d: &mut Diagnostics,
) -> Option<String> {
    match databases.refused_extensions(&model.extensions_added(prior)).await {
        Ok(refused) => refused,
        Err(e) => {
            errors::database(d, "checking the extensions", &model.database, &e);
            Some("the server could not be asked which extensions it trusts".into())
        }
    }
}
