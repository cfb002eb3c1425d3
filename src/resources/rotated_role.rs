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
use serde_json::Value as Json;

use crate::backends::postgres::GroupRoles;
use crate::backends::vault::{DynamicRole, StaticRole};
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
use crate::platform::namespaces::Namespaces;
use crate::platform::naming::{self, DatabaseName, Engine, NamespaceName, RoleName};
use crate::platform::redis_acl;
use crate::platform::services::Services;
use crate::platform::settings::ProviderConfig;

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

/// `host`, `port` and database name apps use to reach what `role` issues credentials for.
pub fn endpoint_of(role: &RoleName, config: &ProviderConfig) -> (Value, Value, Value) {
    Target::of(&role.target).endpoint(config)
}

/// What the role issues credentials for, split by engine.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// A PostgreSQL database.
    Postgresql(String),
    /// A MySQL database.
    Mysql(String),
    /// A Redis namespace.
    Redis(String),
}

impl Target {
    fn of(target: &naming::Target) -> Target {
        match target {
            naming::Target::Database(d) if d.engine == Engine::Postgresql => Target::Postgresql(d.name.clone()),
            naming::Target::Database(d) => Target::Mysql(d.name.clone()),
            naming::Target::Namespace(n) => Target::Redis(n.as_str().to_owned()),
        }
    }

    /// `host`, `port` and database name apps use, from the provider configuration.
    fn endpoint(&self, config: &ProviderConfig) -> (Value, Value, Value) {
        let port = |p: u16| Value::Number(Number::Int(i64::from(p)));
        match self {
            Target::Postgresql(n) => config.postgres.as_ref().map_or((Value::Null, Value::Null, Value::Null), |p| {
                (Value::string(&p.pooled_host), port(p.pooled_port), Value::string(n))
            }),
            Target::Mysql(n) => config.mysql.as_ref().map_or((Value::Null, Value::Null, Value::Null), |m| {
                (Value::string(&m.host), port(m.port), Value::string(n))
            }),
            Target::Redis(_) => {
                let (host, p) = config.redis.as_ref().map_or(("", 6379), |r| r.primary());
                (Value::string(host), port(p), Value::Null)
            }
        }
    }
}

/// A role's configuration or plan, checked.
#[derive(Clone, Debug)]
struct Model {
    role: RoleName,
    target: Target,
    cleanup_stale_users: bool,
    static_mode: bool,
    privileges: String,
    default_ttl: String,
    max_ttl: String,
    rotation_period: String,
}

impl Model {
    fn from_value(v: &Value) -> Option<Model> {
        let text = |n: &str| v.attr(n).and_then(Value::as_str).map(str::to_owned);
        let role = RoleName::new(naming::Target::parse(&text("database")?)?, &text("name")?).ok()?;
        Some(Model {
            target: Target::of(&role.target),
            role,
            static_mode: text("mode").as_deref() == Some("static"),
            cleanup_stale_users: matches!(v.attr("cleanup_stale_users"), Some(Value::Bool(true))),
            privileges: text("privileges").unwrap_or_else(|| "readwrite".into()),
            default_ttl: text("default_ttl").unwrap_or_else(|| "24h".into()),
            max_ttl: text("max_ttl").unwrap_or_else(|| "24h".into()),
            rotation_period: text("rotation_period").unwrap_or_else(|| "24h".into()),
        })
    }

    /// The fixed login of a static role.
    fn static_username(&self) -> String {
        self.role.static_login()
    }

    fn id(&self) -> String {
        self.role.id()
    }

    fn vault_role(&self) -> String {
        self.role.vault_role()
    }

    fn connection(&self) -> String {
        self.role.target.vault_connection()
    }

    /// The one check of the model, at validate, plan and apply.
    fn check(&self, d: &mut Diagnostics) {
        if matches!(self.target, Target::Redis(_)) && self.privileges == "owner" {
            d.attribute_error(
                AttributePath::root("privileges"),
                "No owner level for Redis",
                "Redis namespaces take `readonly` or `readwrite`.",
            );
        }
        if self.static_mode
            && let Err(reason) = self.role.check_static()
        {
            d.attribute_error(AttributePath::root("name"), "Invalid static role name", reason);
        }
    }
}

/// The group roles of PostgreSQL database `db`.
fn pg_roles(db: &str) -> GroupRoles {
    DatabaseName { engine: Engine::Postgresql, name: db.to_owned() }.group_roles()
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
                    .validator(string_check(|d| naming::Target::parse(d).map(drop).ok_or_else(|| format!("{d:?} is not a `dbaas_shared_database` or `dbaas_redis_namespace` id (`postgresql/<name>`, `mysql/<name>` or `redis/<name>`)."))))
                    .plan_modifier(requires_replace())
                    .description("The `id` of a `dbaas_shared_database` or `dbaas_redis_namespace`. Changing it replaces the role."),
                Attribute::string("name")
                    .required()
                    .validator(string_check(check_role_name))
                    .plan_modifier(requires_replace())
                    .description("Role name: 1 to 24 lowercase letters, digits, `_` or `-`. The Vault role is `<connection>-<name>`, e.g. `postgres-trading-app`. Changing it replaces the role."),
                Attribute::string("mode")
                    .default(Value::string("dynamic"))
                    .validator(one_of(&["dynamic", "static"]))
                    .plan_modifier(requires_replace())
                    .description("`dynamic`: Vault creates a user per request, revoked when its lease ends. `static`: the provider creates one login (`<database>_<name>`; `dbaas-<namespace>-<name>` on Redis) and Vault rotates its password every `rotation_period`, for apps that cannot re-read credentials and poolers that need a fixed user name. Changing it replaces the role."),
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
                    "Information: users that look Vault-issued for this role's level (`v-...`, members of its group role) but whose lease is gone (their `VALID UNTIL`, which Vault sets to the lease's expiry, has passed): what is left by a failed revocation. PostgreSQL only; empty elsewhere.",
                ),
                Attribute::bool("cleanup_stale_users")
                    .default(Value::Bool(false))
                    .description("Drop `stale_users` on apply (what they own goes to the owner group role). Only such users are ever touched."),
                computed("vault_role", "The Vault role: `<connection>-<name>`."),
                computed("static_username", "The fixed login of a static role (null for dynamic)."),
                computed("creds_path", "What an app reads for credentials: `<mount>/creds/<vault_role>`, or `<mount>/static-creds/<vault_role>` for a static role."),
                computed("host", "Where apps connect (PgBouncer for PostgreSQL)."),
                Attribute::number("port").computed().description("Its port."),
                computed("database_name", "The database to connect to (null for Redis)."),
            ],
        )
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
        if let Some(model) = Model::from_value(config) {
            model.check(d);
        }
    }

    async fn modify_plan(&self, _ctx: &Context, request: &ModifyPlanRequest, response: &mut ModifyPlanResponse) {
        // Null when destroying: nothing to check.
        let Some(model) = Model::from_value(&response.plan) else { return };
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
            plan.insert("static_username".into(), login);
        }
        // Cleaning up is a change the plan shows: stale users go to none.
        let stale =
            if model.cleanup_stale_users || prior_stale.is_null() { Value::List(Vec::new()) } else { prior_stale };
        plan.insert("stale_users".into(), stale);
    }

    async fn create(&self, _ctx: &Context, request: CreateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        model.check(&mut response.diagnostics);
        if response.diagnostics.has_error() || !self.nothing_exists(&model, &mut response.diagnostics).await {
            return;
        }
        if self.write(&model, &mut response.diagnostics).await {
            response.identity = self.identity(&model);
            response.state = request.plan;
        }
    }

    async fn read(&self, _ctx: &Context, request: ReadRequest, response: &mut ReadResponse) {
        let Some(model) = Model::from_value(&request.state) else { return };
        let d = &mut response.diagnostics;
        let (Some(vault), Some(mount)) = (self.services.vault(), self.mount(d)) else { return };
        if model.static_mode {
            return self.read_static(&model, &request.state, response).await;
        }
        let role = match vault.read_role(&mount, &model.vault_role()).await {
            Ok(Some(r)) if r["db_name"].as_str() != Some(model.connection().as_str()) => {
                return d.error(
                    "Vault role belongs to another database",
                    format!(
                        "Vault role {:?} issues through connection {}, not {:?}: it is not this resource's, and the provider will not change it. Remove this role from state (`terraform state rm`), or import the right one.",
                        model.vault_role(),
                        r["db_name"],
                        model.connection()
                    ),
                );
            }
            Ok(Some(r)) => r,
            // Deleted in Vault: the next plan puts it back.
            Ok(None) => {
                response.state = Value::Null;
                return;
            }
            Err(e) => return errors::vault(d, "reading the Vault role", &e),
        };
        let Value::Object(mut state) = request.state.clone() else { return };
        let Some(config) = self.services.config(d).cloned() else { return };
        for (k, v) in derived(&model, &config) {
            state.insert(k.to_owned(), v);
        }
        // TTLs as the user wrote them while Vault agrees, so a plan never shows 24h -> 86400s.
        for (attribute, field) in [("default_ttl", "default_ttl"), ("max_ttl", "max_ttl")] {
            let written = state.get(attribute).and_then(Value::as_str).and_then(|s| parse_duration(s).ok());
            let actual = role[field].as_u64();
            if actual.is_some() && written != actual {
                state.insert(attribute.into(), Value::string(format_duration(actual.unwrap_or_default())));
            }
        }
        if let Some(expected) = self.statements(&model, d).await
            && role["creation_statements"] != Json::from(expected.creation)
        {
            state.insert("privileges".into(), Value::string("changed outside Terraform"));
        }
        let stale = self.stale_users(&model, d).await;
        state.insert("stale_users".into(), Value::List(stale.into_iter().map(Value::string).collect()));
        response.identity = self.identity(&model);
        response.state = Value::Object(state);
    }

    async fn update(&self, _ctx: &Context, request: UpdateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        model.check(&mut response.diagnostics);
        if response.diagnostics.has_error() {
            return;
        }
        if model.cleanup_stale_users && !self.cleanup(&model, &mut response.diagnostics).await {
            return;
        }
        if self.write(&model, &mut response.diagnostics).await {
            response.identity = self.identity(&model);
            response.state = request.plan;
        }
    }

    async fn delete(&self, _ctx: &Context, request: DeleteRequest, d: &mut Diagnostics) {
        let Some(model) = Model::from_value(&request.state) else { return };
        let (Some(vault), Some(mount)) = (self.services.vault(), self.mount(d)) else { return };
        if model.static_mode {
            if let Err(e) = vault.delete_static_role(&mount, &model.vault_role()).await {
                return errors::vault(d, "deleting the Vault static role", &e);
            }
            return self.drop_static_login(&model, d).await;
        }
        // Every user issued for the role goes first, synchronously; then the role.
        if let Err(e) = vault.revoke_role_leases(&mount, &model.vault_role()).await {
            return errors::vault(d, "revoking the role's leases", &e);
        }
        if let Err(e) = vault.delete_role(&mount, &model.vault_role()).await {
            errors::vault(d, "deleting the Vault role", &e);
        }
    }

    async fn import(&self, _ctx: &Context, request: ImportRequest, response: &mut ImportResponse) {
        let parsed = match &request.identity {
            Some(identity) => self.role_from_identity(identity, &mut response.diagnostics).await,
            None => RoleName::parse_id(&request.id),
        };
        let Some(role) = parsed else {
            response.diagnostics.error(
                "Invalid import id",
                format!("Expected `<engine>/<database>/<name>`, e.g. `postgresql/trading/app`; got {:?}.", request.id),
            );
            return;
        };
        let mut state = crate::framework::plan::empty_object(&self.schema());
        state.insert("database".into(), Value::string(role.target.id()));
        state.insert("name".into(), Value::string(&role.name));
        state.insert("id".into(), Value::string(role.id()));
        state.insert(
            "privileges".into(),
            Value::string(self.imported_privileges(&role, &mut response.diagnostics).await),
        );
        state.insert("default_ttl".into(), Value::string("24h"));
        state.insert("max_ttl".into(), Value::string("24h"));
        state.insert("rotation_period".into(), Value::string("24h"));
        state.insert("cleanup_stale_users".into(), Value::Bool(false));
        let is_static = match (self.services.vault(), self.mount(&mut response.diagnostics)) {
            (Some(vault), Some(mount)) => {
                matches!(vault.read_static_role(&mount, &role.vault_role()).await, Ok(Some(_)))
            }
            _ => false,
        };
        state.insert("mode".into(), Value::string(if is_static { "static" } else { "dynamic" }));
        if let Some(mount) = self.mount(&mut response.diagnostics) {
            response.identity =
                Some(Value::object([("mount", Value::string(mount)), ("role", Value::string(role.vault_role()))]));
        }
        response.state = Value::Object(state);
    }
}

impl RotatedRole {
    /// Refuses to create a role whose Vault role (dynamic or static) or static login exists
    /// already: it belongs to another stack, or to nobody's state. Import adopts.
    async fn nothing_exists(&self, model: &Model, d: &mut Diagnostics) -> bool {
        let (Some(vault), Some(mount)) = (self.services.vault(), self.mount(d)) else { return false };
        let role = model.vault_role();
        let dynamic = vault.read_role(&mount, &role).await;
        let found = match dynamic {
            Ok(Some(_)) => Some(format!("Vault role {mount}/roles/{role}")),
            Ok(None) => match vault.read_static_role(&mount, &role).await {
                Ok(Some(_)) => Some(format!("Vault static role {mount}/static-roles/{role}")),
                Ok(None) => None,
                Err(e) => {
                    errors::vault(d, "checking that the role is new", &e);
                    return false;
                }
            },
            Err(e) => {
                errors::vault(d, "checking that the role is new", &e);
                return false;
            }
        };
        let found = match found {
            Some(f) => Some(f),
            None if model.static_mode => self.existing_login(model, d).await,
            None => None,
        };
        if d.has_error() {
            return false;
        }
        if let Some(object) = found {
            d.attribute_error(
                AttributePath::root("name"),
                "Role already exists",
                format!(
                    "{object} already exists and is not in this state: another stack (or a person) made it, and nothing was changed. Choose another name; or, if it is this stack's, import it: `terraform import <address> {}`.",
                    model.id()
                ),
            );
            return false;
        }
        true
    }

    /// The static login, when an account of that name exists already.
    async fn existing_login(&self, model: &Model, d: &mut Diagnostics) -> Option<String> {
        let login = model.static_username();
        let exists = match &model.target {
            Target::Postgresql(_) => match self.services.postgres(d).await?.catalog().await {
                Ok(c) => c.roles.contains(&login),
                Err(e) => {
                    errors::postgres(d, "checking that the static login is new", &e);
                    return None;
                }
            },
            Target::Mysql(_) => match self.services.mysql(d).await?.login_exists(&login).await {
                Ok(found) => found,
                Err(e) => {
                    errors::mysql(d, "checking that the static login is new", &e);
                    return None;
                }
            },
            Target::Redis(_) => match self.services.redis(d)?.user_exists_anywhere(&login).await {
                Ok(found) => found,
                Err(e) => {
                    errors::redis(d, "checking that the static login is new", &e);
                    return None;
                }
            },
        };
        exists.then(|| format!("login {login:?}"))
    }

    fn mount(&self, d: &mut Diagnostics) -> Option<String> {
        let vault = self.services.config(d)?.vault.as_ref();
        if vault.is_none() {
            d.error(
                "Vault is not configured",
                "dbaas_rotated_role needs the provider's `vault` block (or VAULT_ADDR and VAULT_TOKEN).",
            );
        }
        vault.map(|v| v.database_mount.clone())
    }

    fn identity(&self, model: &Model) -> Option<Value> {
        let mount = self.services.config(&mut Diagnostics::default())?.vault.as_ref()?.database_mount.clone();
        Some(Value::object([("mount", Value::string(mount)), ("role", Value::string(model.vault_role()))]))
    }

    /// (target, name) of the role an import identity names: a Vault role name alone is
    /// ambiguous (`redis-a-b-c`), so its `db_name` in Vault says which connection it uses.
    async fn role_from_identity(&self, identity: &Value, d: &mut Diagnostics) -> Option<RoleName> {
        let role = identity.attr("role").and_then(Value::as_str)?.to_owned();
        let vault = self.services.vault()?;
        let mount = match identity.attr("mount").and_then(Value::as_str) {
            Some(m) => m.to_owned(),
            None => self.mount(d)?,
        };
        let found = match vault.read_role(&mount, &role).await {
            Ok(Some(r)) => Some(r),
            Ok(None) => vault.read_static_role(&mount, &role).await.ok().flatten(),
            Err(e) => {
                errors::vault(d, "reading the role to import", &e);
                return None;
            }
        }?;
        let connection = found["db_name"].as_str()?;
        let name = role.strip_prefix(&format!("{connection}-"))?.to_owned();
        let (kind, database) = connection.split_once('-')?;
        let engine = match kind {
            "postgres" => "postgresql",
            other => other,
        };
        RoleName::new(naming::Target::parse(&format!("{engine}/{database}"))?, &name).ok()
    }

    /// Which privilege level an existing role's statements give, for import.
    async fn imported_privileges(&self, role: &RoleName, d: &mut Diagnostics) -> String {
        for level in ["readonly", "readwrite", "owner"] {
            let model = Model {
                target: Target::of(&role.target),
                role: role.clone(),
                static_mode: false,
                cleanup_stale_users: false,
                privileges: level.into(),
                default_ttl: "24h".into(),
                max_ttl: "24h".into(),
                rotation_period: "24h".into(),
            };
            let (Some(vault), Some(mount)) = (self.services.vault(), self.mount(d)) else { break };
            if let (Ok(Some(role)), Some(expected)) =
                (vault.read_role(&mount, &model.vault_role()).await, self.statements(&model, d).await)
                && role["creation_statements"] == Json::from(expected.creation)
            {
                return level.into();
            }
        }
        "readwrite".into()
    }

    /// Writes the Vault role, after checking that the database's connection exists.
    async fn write(&self, model: &Model, d: &mut Diagnostics) -> bool {
        let (Some(vault), Some(mount)) = (self.services.vault(), self.mount(d)) else { return false };
        match vault.connection_exists(&mount, &model.connection()).await {
            Ok(true) => {}
            Ok(false) => {
                d.attribute_error(
                    AttributePath::root("database"),
                    "The database has no Vault connection",
                    format!(
                        "Vault has no connection {:?} on mount {mount:?}. The database or namespace resource creates it when the provider has a `vault` block; apply it first (reference its `id`, so Terraform orders them).",
                        model.connection()
                    ),
                );
                return false;
            }
            Err(e) => {
                errors::vault(d, "looking up the database's Vault connection", &e);
                return false;
            }
        }
        if model.static_mode {
            return self.write_static(model, &mount, d).await;
        }
        let Some(statements) = self.statements(model, d).await else { return false };
        let body = DynamicRole {
            db_name: model.connection(),
            creation_statements: statements.creation,
            revocation_statements: statements.revocation,
            default_ttl: parse_duration(&model.default_ttl).unwrap_or(86_400),
            max_ttl: parse_duration(&model.max_ttl).unwrap_or(86_400),
        };
        if let Err(e) = vault.write_role(&mount, &model.vault_role(), &body).await {
            errors::vault(d, &format!("writing the Vault role {}", model.vault_role()), &e);
            return false;
        }
        true
    }

    /// Stale users of a dynamic PostgreSQL role's level; none elsewhere.
    async fn stale_users(&self, model: &Model, d: &mut Diagnostics) -> Vec<String> {
        let Target::Postgresql(db) = &model.target else { return Vec::new() };
        if model.static_mode {
            return Vec::new();
        }
        let Some(pg) = self.services.postgres(d).await else { return Vec::new() };
        let roles = pg_roles(db);
        let group = roles.for_level(&model.privileges);
        pg.expired_vault_users(group).await.unwrap_or_else(|e| {
            errors::postgres(d, "looking for stale users", &e);
            Vec::new()
        })
    }

    /// Drops the stale users found now (not those the plan saw: only what is still stale).
    async fn cleanup(&self, model: &Model, d: &mut Diagnostics) -> bool {
        let Target::Postgresql(db) = &model.target else { return true };
        let stale = self.stale_users(model, d).await;
        if stale.is_empty() {
            return !d.has_error();
        }
        let Some(pg) = self.services.postgres(d).await else { return false };
        let owner = pg_roles(db).owner;
        for user in &stale {
            if let Err(e) = pg.drop_login(db, user, &owner).await {
                errors::postgres(d, &format!("dropping stale user {user}"), &e);
                return false;
            }
        }
        d.warning(
            "Stale users dropped",
            format!("Dropped {} user(s) whose Vault lease was gone: {}.", stale.len(), stale.join(", ")),
        );
        true
    }

    /// Creates the static login at the role's level, then the Vault static role, which
    /// rotates its password at once: from then on only Vault knows it.
    async fn write_static(&self, model: &Model, mount: &str, d: &mut Diagnostics) -> bool {
        let login = model.static_username();
        let first_password = crate::backends::password::generate();
        let created = match &model.target {
            Target::Postgresql(db) => {
                let Some(pg) = self.services.postgres(d).await else { return false };
                let roles = pg_roles(db);
                let group = roles.for_level(&model.privileges);
                let act_as = (model.privileges == "owner").then_some(roles.owner.as_str());
                pg.ensure_login(&login, &first_password, group, act_as)
                    .await
                    .map_err(|e| errors::postgres(d, "creating the static login", &e))
            }
            Target::Mysql(db) => {
                let Some(my) = self.services.mysql(d).await else { return false };
                my.ensure_login(db, &login, &first_password, mysql_grants(&model.privileges))
                    .await
                    .map_err(|e| errors::mysql(d, "creating the static login", &e))
            }
            Target::Redis(ns) => {
                let (Some(redis), Some(rules)) =
                    (self.services.redis(d), self.redis_rules(ns, &model.privileges, d).await)
                else {
                    return false;
                };
                redis
                    .set_user(&login, Some(&first_password), &rules)
                    .await
                    .map_err(|e| errors::redis(d, "creating the static login", &e))
            }
        };
        if created.is_err() {
            return false;
        }
        let Some(vault) = self.services.vault() else { return false };
        let body = StaticRole {
            db_name: model.connection(),
            username: login,
            rotation_period: parse_duration(&model.rotation_period).unwrap_or(86_400),
        };
        if let Err(e) = vault.write_static_role(mount, &model.vault_role(), &body).await {
            errors::vault(d, &format!("writing the Vault static role {}", model.vault_role()), &e);
            return false;
        }
        true
    }

    async fn read_static(&self, model: &Model, prior: &Value, response: &mut ReadResponse) {
        let d = &mut response.diagnostics;
        let (Some(vault), Some(mount)) = (self.services.vault(), self.mount(d)) else { return };
        let role = match vault.read_static_role(&mount, &model.vault_role()).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                response.state = Value::Null;
                return;
            }
            Err(e) => return errors::vault(d, "reading the Vault static role", &e),
        };
        let Value::Object(mut state) = prior.clone() else { return };
        let Some(config) = self.services.config(d).cloned() else { return };
        for (k, v) in derived(model, &config) {
            state.insert(k.to_owned(), v);
        }
        state.insert("stale_users".into(), Value::List(Vec::new()));
        let written = parse_duration(&model.rotation_period).ok();
        if let Some(actual) = role["rotation_period"].as_u64()
            && written != Some(actual)
        {
            state.insert("rotation_period".into(), Value::string(format_duration(actual)));
        }
        response.identity = self.identity(model);
        response.state = Value::Object(state);
    }

    async fn drop_static_login(&self, model: &Model, d: &mut Diagnostics) {
        let login = model.static_username();
        match &model.target {
            Target::Postgresql(db) => {
                if let Some(pg) = self.services.postgres(d).await
                    && let Err(e) = pg.drop_login(db, &login, &pg_roles(db).owner).await
                {
                    errors::postgres(d, "dropping the static login", &e);
                }
            }
            Target::Mysql(_) => {
                if let Some(my) = self.services.mysql(d).await
                    && let Err(e) = my.drop_login(&login).await
                {
                    errors::mysql(d, "dropping the static login", &e);
                }
            }
            Target::Redis(_) => {
                if let Some(redis) = self.services.redis(d)
                    && let Err(e) = redis.delete_user(&login).await
                {
                    errors::redis(d, "deleting the static login", &e);
                }
            }
        }
    }

    /// The ACL rules of a Redis role at `privileges`: the namespace's patterns and
    /// commands. The prefix comes from the namespace's KV secret, which outlives a Redis
    /// restart, or else from its ACL user.
    async fn redis_rules(&self, ns: &str, privileges: &str, d: &mut Diagnostics) -> Option<Vec<String>> {
        let redis = self.services.redis(d)?;
        let config = self.services.config(d)?.clone();
        let name = NamespaceName::new(ns).ok()?;
        let namespaces = Namespaces {
            redis: &redis,
            redis_config: config.redis.as_ref()?,
            vault: self.services.vault().zip(config.vault.as_ref()),
        };
        let prefix = match namespaces.recorded_prefix(&name).await {
            Ok(p) => p,
            Err(e) => {
                d.error("Cannot read the namespace", format!("Reading the key prefix of namespace {ns:?}: {e}"));
                return None;
            }
        };
        let Some(prefix) = prefix else {
            d.attribute_error(
                AttributePath::root("database"),
                "Redis namespace not found",
                format!("Namespace {ns:?} has neither a password secret in Vault KV nor an ACL user; apply the namespace first."),
            );
            return None;
        };
        let mut rules = redis_acl::pattern_rules(&prefix);
        rules.extend(redis_acl::command_rules(privileges));
        Some(rules)
    }

    /// Creation and revocation statements for the role's engine and privilege level.
    async fn statements(&self, model: &Model, d: &mut Diagnostics) -> Option<Statements> {
        Some(match &model.target {
            Target::Postgresql(db) => {
                let roles = pg_roles(db);
                let group = roles.for_level(&model.privileges);
                let mut creation = vec![format!(
                    "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE {};",
                    pg_ident(group)
                )];
                if model.privileges == "owner" {
                    // Objects it creates belong to the owner group, so they outlive it.
                    creation.push(format!("ALTER ROLE \"{{{{name}}}}\" SET role = {};", pg_literal(&roles.owner)));
                }
                Statements {
                    creation,
                    // One block, so a user already gone (dropped as stale, say) does not make
                    // the revocation fail. The management login created the user but is no
                    // member of it; REASSIGN and DROP OWNED need that membership.
                    revocation: vec![format!(
                        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{{{{name}}}}') THEN \
                         EXECUTE format('GRANT %I TO CURRENT_USER', '{{{{name}}}}'); \
                         EXECUTE format('REASSIGN OWNED BY %I TO %I', '{{{{name}}}}', {owner}); \
                         EXECUTE format('DROP OWNED BY %I', '{{{{name}}}}'); \
                         EXECUTE format('DROP ROLE %I', '{{{{name}}}}'); \
                         END IF; END $$;",
                        owner = pg_literal(&roles.owner)
                    )],
                }
            }
            Target::Mysql(db) => {
                let grants = mysql_grants(&model.privileges);
                Statements {
                    creation: vec![
                        "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';".to_owned(),
                        format!(
                            "GRANT {grants} ON {}.* TO '{{{{name}}}}'@'%';",
                            crate::backends::mysql::quote_identifier(db)
                        ),
                    ],
                    revocation: vec!["DROP USER IF EXISTS '{{name}}'@'%';".to_owned()],
                }
            }
            Target::Redis(ns) => {
                let rules = self.redis_rules(ns, &model.privileges, d).await?;
                // The redis plugin reads creation_statements[0] as a JSON array of rules.
                Statements { creation: vec![Json::from(rules).to_string()], revocation: Vec::new() }
            }
        })
    }
}

/// What Vault runs to create and to drop a user of the role.
struct Statements {
    creation: Vec<String>,
    revocation: Vec<String>,
}

fn mysql_grants(privileges: &str) -> &'static str {
    match privileges {
        "readonly" => "SELECT",
        "owner" => "ALL PRIVILEGES",
        _ => "SELECT, INSERT, UPDATE, DELETE",
    }
}

fn derived(model: &Model, config: &ProviderConfig) -> Vec<(&'static str, Value)> {
    let (host, port, database) = model.target.endpoint(config);
    let mount = config.vault.as_ref().map_or_else(|| "database".to_owned(), |v| v.database_mount.clone());
    vec![
        ("id", Value::string(model.id())),
        ("vault_role", Value::string(model.vault_role())),
        ("static_username", if model.static_mode { Value::string(model.static_username()) } else { Value::Null }),
        (
            "creds_path",
            Value::string(format!(
                "{mount}/{}/{}",
                if model.static_mode { "static-creds" } else { "creds" },
                model.vault_role()
            )),
        ),
        ("host", host),
        ("port", port),
        ("database_name", database),
    ]
}

/// A PostgreSQL identifier, quoted (names here are validated, but quoting is not optional).
fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal.
fn pg_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn check_role_name(name: &str) -> Result<(), String> {
    // The target does not matter for the characters of the name.
    let any = naming::Target::parse("redis/x").expect("a valid id");
    RoleName::new(any, name).map(drop)
}

fn check_duration(text: &str) -> Result<(), String> {
    parse_duration(text).map(drop)
}

/// A duration as people write it: the largest whole unit (`24h`, `90m`, `45s`).
pub fn format_duration(seconds: u64) -> String {
    match seconds {
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Seconds in a Vault duration: plain seconds (`86400`) or units `s`, `m`, `h`, `d`,
/// possibly combined (`1h30m`).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad =
        || format!("{text:?} is not a duration: use seconds (`86400`) or units s, m, h, d (`24h`, `90m`, `1h30m`).");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = total.checked_add(n.checked_mul(unit).ok_or_else(bad)?).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_vaults_forms() {
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("86400"), Ok(86_400));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(format_duration(86_400), "24h");
        assert_eq!(format_duration(5_400), "90m");
        assert_eq!(format_duration(45), "45s");
        for bad in ["", "h", "24x", "1.5h", "-1h", "0s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
