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
//! Vault connection `postgres-<name>` (allowed roles `postgres-<name>-*`) are created
//! and the login's password rotated, so only Vault knows it.
//!
//! Destroy follows `deletion_policy`: `retain` (default) forgets, `archive` renames and
//! locks, `drop` drops (refusing while clients are connected unless `force_drop`).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::backends::password;
use crate::backends::postgres::NewDatabase;
use crate::backends::vault::{ConnectionConfig, Plugin};
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
use crate::platform::naming::{DatabaseName, Engine};
use crate::platform::services::Services;
use crate::platform::settings::ProviderConfig;

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

/// What to do with the database on destroy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeletionPolicy {
    Retain,
    Archive,
    Drop,
}

/// The configuration (or plan) of one database, checked.
#[derive(Clone, Debug)]
struct Model {
    name: String,
    engine: Engine,
    extensions: Option<BTreeSet<String>>,
    connection_limit: Option<i32>,
    encoding: Option<String>,
    lc_collate: Option<String>,
    lc_ctype: Option<String>,
    template: Option<String>,
    character_set: Option<String>,
    collation: Option<String>,
    deletion_policy: DeletionPolicy,
    force_drop: bool,
}

impl Model {
    /// Reads a plan or state value; `None` when name or engine are missing or unknown.
    fn from_value(v: &Value) -> Option<Model> {
        let text = |n: &str| v.attr(n).and_then(Value::as_str).map(str::to_owned);
        Some(Model {
            name: text("name")?,
            engine: Engine::parse(&text("engine")?)?,
            extensions: match v.attr("extensions") {
                Some(Value::Set(items)) => Some(items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()),
                _ => None,
            },
            connection_limit: match v.attr("connection_limit") {
                Some(Value::Number(n)) => n.as_i64().and_then(|i| i32::try_from(i).ok()),
                _ => None,
            },
            encoding: text("encoding"),
            lc_collate: text("lc_collate"),
            lc_ctype: text("lc_ctype"),
            template: text("template"),
            character_set: text("character_set"),
            collation: text("collation"),
            deletion_policy: match text("deletion_policy").as_deref() {
                Some("archive") => DeletionPolicy::Archive,
                Some("drop") => DeletionPolicy::Drop,
                _ => DeletionPolicy::Retain,
            },
            force_drop: matches!(v.attr("force_drop"), Some(Value::Bool(true))),
        })
    }

    fn database(&self) -> DatabaseName {
        DatabaseName { engine: self.engine, name: self.name.clone() }
    }

    fn id(&self) -> String {
        self.database().id()
    }

    fn vault_connection(&self) -> String {
        self.database().vault_connection()
    }

    /// The one check of the model, at validate, plan and apply.
    fn check(&self, d: &mut Diagnostics) {
        if let Err(reason) = DatabaseName::new(self.engine, &self.name) {
            d.attribute_error(AttributePath::root("name"), "Invalid database name", reason);
        }
    }
}

const ATTRIBUTES_POSTGRES_ONLY: &[&str] =
    &["extensions", "connection_limit", "encoding", "lc_collate", "lc_ctype", "template"];
const ATTRIBUTES_MYSQL_ONLY: &[&str] = &["character_set", "collation"];

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
                computed("connection_uri", "Connection URI for apps, without credentials."),
                computed("owner_role", "PostgreSQL group role owning the database and its objects."),
                computed("readwrite_role", "PostgreSQL group role that reads and writes tables."),
                computed("readonly_role", "PostgreSQL group role that reads tables."),
                computed("vault_connection", "Name of this database's Vault connection (null without Vault), for `dbaas_rotated_role`."),
            ],
        )
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
        let Value::Object(plan) = &mut response.plan else { return };
        // Endpoints and names follow from the provider configuration: known at plan time.
        for (k, v) in derived_attributes(&model, config) {
            plan.insert(k.to_owned(), v);
        }
        plan.insert("id".into(), Value::string(model.id()));
        if model.engine == Engine::Postgresql {
            if request.config.attr("connection_limit").is_none_or(Value::is_null) {
                plan.insert("connection_limit".into(), Value::int(-1));
            }
        } else {
            for attr in ATTRIBUTES_POSTGRES_ONLY {
                plan.insert((*attr).into(), Value::Null);
            }
        }
        if model.engine == Engine::Postgresql {
            for attr in ATTRIBUTES_MYSQL_ONLY {
                plan.insert((*attr).into(), Value::Null);
            }
        }
    }

    async fn create(&self, _ctx: &Context, request: CreateRequest, response: &mut ApplyResponse) {
        let Some(model) = Model::from_value(&request.plan) else { return };
        let d = &mut response.diagnostics;
        model.check(d);
        if d.has_error() {
            return;
        }
        let Some(config) = self.services.config(d).cloned() else { return };
        let created = match model.engine {
            Engine::Postgresql => self.create_postgres(&model, d).await,
            Engine::Mysql => self.create_mysql(&model, d).await,
        };
        if !created {
            return;
        }
        if config.vault.is_some() && !self.connect_vault(&model, &config, d).await {
            // Leave nothing half made: the database was created seconds ago by this call.
            self.undo_create(&model).await;
            return;
        }
        response.identity = Some(identity(&model));
        let mut read = ReadResponse { state: request.plan.clone(), ..Default::default() };
        self.refresh(&model, &mut read).await;
        response.diagnostics.extend(read.diagnostics);
        response.state = read.state;
    }

    async fn read(&self, _ctx: &Context, request: ReadRequest, response: &mut ReadResponse) {
        let Some(model) = Model::from_value(&request.state) else { return };
        response.identity = Some(identity(&model));
        self.refresh(&model, response).await;
    }

    async fn update(&self, _ctx: &Context, request: UpdateRequest, response: &mut ApplyResponse) {
        let (Some(plan), Some(prior)) = (Model::from_value(&request.plan), Model::from_value(&request.state)) else {
            return;
        };
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d).cloned() else { return };
        match plan.engine {
            Engine::Postgresql => {
                let Some(pg) = self.services.postgres(d).await else { return };
                if let Err(e) = pg.create_group_roles_and_privileges(&plan.name, &plan.database().group_roles()).await {
                    return errors::postgres(d, "restoring the database's group roles and privileges", &e);
                }
                if plan.connection_limit != prior.connection_limit
                    && let Some(limit) = plan.connection_limit
                    && let Err(e) = pg.set_connection_limit(&plan.name, limit).await
                {
                    return errors::postgres(d, "changing the connection limit", &e);
                }
                if let Some(wanted) = &plan.extensions {
                    let installed = match pg.extensions(&plan.name).await {
                        Ok(i) => i,
                        Err(e) => return errors::postgres(d, "reading extensions", &e),
                    };
                    let add: Vec<String> = wanted.difference(&installed).cloned().collect();
                    // Only extensions this resource managed are ever dropped.
                    let managed = prior.extensions.clone().unwrap_or_default();
                    let remove: Vec<String> =
                        managed.difference(wanted).filter(|e| installed.contains(*e)).cloned().collect();
                    if let Err(e) = pg.change_extensions(&plan.name, &add, &remove).await {
                        return errors::postgres(d, "changing extensions", &e);
                    }
                }
            }
            Engine::Mysql => {
                let Some(my) = self.services.mysql(d).await else { return };
                if (plan.character_set != prior.character_set || plan.collation != prior.collation)
                    && let Err(e) =
                        my.alter_database(&plan.name, plan.character_set.as_deref(), plan.collation.as_deref()).await
                {
                    return errors::mysql(d, "changing the character set or collation", &e);
                }
            }
        }
        if config.vault.is_some() && !self.vault_connection_exists(&plan, &config, d).await && !d.has_error() {
            self.connect_vault(&plan, &config, d).await;
        }
        if d.has_error() {
            return;
        }
        response.identity = Some(identity(&plan));
        let mut read = ReadResponse { state: request.plan.clone(), ..Default::default() };
        self.refresh(&plan, &mut read).await;
        response.diagnostics.extend(read.diagnostics);
        response.state = read.state;
    }

    async fn delete(&self, _ctx: &Context, request: DeleteRequest, d: &mut Diagnostics) {
        let Some(model) = Model::from_value(&request.state) else { return };
        let Some(config) = self.services.config(d).cloned() else { return };
        if model.deletion_policy == DeletionPolicy::Retain {
            let mut kept = vec![format!("database {:?}", model.name)];
            if model.engine == Engine::Postgresql {
                let r = model.database().group_roles();
                kept.push(format!("roles {:?}, {:?}, {:?} and {:?}", r.owner, r.readwrite, r.readonly, r.management));
            }
            if config.vault.is_some() {
                kept.push(format!("Vault connection {:?}", model.vault_connection()));
            }
            d.warning(
                "Database retained",
                format!(
                    "deletion_policy is \"retain\": {} stay on the server and were only removed from Terraform state. Import it to manage it again, or set deletion_policy to \"archive\" or \"drop\" before destroying.",
                    kept.join(", ")
                ),
            );
            return;
        }
        if !model.force_drop && !self.check_no_clients(&model, d).await {
            return;
        }
        if config.vault.is_some() && !self.disconnect_vault(&model, &config, d).await {
            return;
        }
        let archived_name = model.database().archived(&archive_stamp());
        match model.engine {
            Engine::Postgresql => {
                let Some(pg) = self.services.postgres(d).await else { return };
                let result = match model.deletion_policy {
                    DeletionPolicy::Archive => {
                        pg.archive_database(
                            &model.name,
                            &archived_name,
                            &model.database().group_roles(),
                            model.force_drop,
                        )
                        .await
                    }
                    _ => pg.drop_database(&model.name, &model.database().group_roles(), model.force_drop).await,
                };
                if let Err(e) = result {
                    errors::postgres(d, "removing the database", &e);
                } else if model.deletion_policy == DeletionPolicy::Archive {
                    d.warning("Database archived", format!("{:?} was renamed to {archived_name:?}; nobody can connect to it. Its data and group roles are kept.", model.name));
                }
            }
            Engine::Mysql => {
                let Some(my) = self.services.mysql(d).await else { return };
                let management = model.database().mysql_management_login();
                let result = match model.deletion_policy {
                    DeletionPolicy::Archive => {
                        my.archive_database(&model.name, &archived_name, &management, model.force_drop).await
                    }
                    _ => my.drop_database(&model.name, &management, model.force_drop).await,
                };
                if let Err(e) = result {
                    errors::mysql(d, "removing the database", &e);
                } else if model.deletion_policy == DeletionPolicy::Archive {
                    d.warning(
                        "Database archived",
                        format!("{:?} was moved to {archived_name:?}. Its data is kept.", model.name),
                    );
                }
            }
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
    async fn create_postgres(&self, model: &Model, d: &mut Diagnostics) -> bool {
        let Some(pg) = self.services.postgres(d).await else { return false };
        let spec = NewDatabase {
            name: model.name.clone(),
            encoding: model.encoding.clone(),
            lc_collate: model.lc_collate.clone(),
            lc_ctype: model.lc_ctype.clone(),
            template: model.template.clone(),
            connection_limit: model.connection_limit.unwrap_or(-1),
            roles: model.database().group_roles(),
        };
        if let Err(e) = pg.create_database(&spec).await {
            errors::postgres(d, "creating the database", &e);
            return false;
        }
        if let Some(extensions) = &model.extensions {
            let add: Vec<String> = extensions.iter().cloned().collect();
            if let Err(e) = pg.change_extensions(&model.name, &add, &[]).await {
                errors::postgres(d, "installing extensions", &e);
                self.undo_create(model).await;
                return false;
            }
        }
        true
    }

    async fn create_mysql(&self, model: &Model, d: &mut Diagnostics) -> bool {
        let Some(my) = self.services.mysql(d).await else { return false };
        if let Err(e) =
            my.create_database(&model.name, model.character_set.as_deref(), model.collation.as_deref()).await
        {
            errors::mysql(d, "creating the database", &e);
            return false;
        }
        true
    }

    /// Drops what `create` made, after a later step failed.
    async fn undo_create(&self, model: &Model) {
        let mut ignored = Diagnostics::default();
        match model.engine {
            Engine::Postgresql => {
                if let Some(pg) = self.services.postgres(&mut ignored).await {
                    let _ = pg.drop_database(&model.name, &model.database().group_roles(), true).await;
                }
            }
            Engine::Mysql => {
                if let Some(my) = self.services.mysql(&mut ignored).await {
                    let _ = my.drop_database(&model.name, &model.database().mysql_management_login(), true).await;
                }
            }
        }
    }

    /// Creates the management login and the Vault connection using it, then rotates the
    /// login's password so only Vault knows it.
    async fn connect_vault(&self, model: &Model, config: &ProviderConfig, d: &mut Diagnostics) -> bool {
        let (Some(vault), Some(vault_config)) = (self.services.vault(), config.vault.as_ref()) else { return false };
        let mount = &vault_config.database_mount;
        let password = password::generate();
        let connection = model.vault_connection();
        let (plugin, login) = match model.engine {
            Engine::Postgresql => {
                let (Some(pg_config), Some(pg)) = (config.postgres.as_ref(), self.services.postgres(d).await) else {
                    return false;
                };
                let login = match pg.ensure_management_login(&model.database().group_roles(), &password).await {
                    Ok(l) => l,
                    Err(e) => {
                        errors::postgres(d, "creating the management login for Vault", &e);
                        return false;
                    }
                };
                let connection_url = format!(
                    "postgresql://{{{{username}}}}:{{{{password}}}}@{}:{}/{}?sslmode={}",
                    pg_config.host, pg_config.port, model.name, pg_config.sslmode
                );
                (Plugin::Postgresql { connection_url, password_authentication: "scram-sha-256" }, login)
            }
            Engine::Mysql => {
                let (Some(my_config), Some(my)) = (config.mysql.as_ref(), self.services.mysql(d).await) else {
                    return false;
                };
                let login = match my
                    .ensure_management_login(&model.name, &model.database().mysql_management_login(), &password)
                    .await
                {
                    Ok(l) => l,
                    Err(e) => {
                        errors::mysql(d, "creating the management login for Vault", &e);
                        return false;
                    }
                };
                let connection_url =
                    format!("{{{{username}}}}:{{{{password}}}}@tcp({}:{})/", my_config.host, my_config.port);
                (Plugin::Mysql { connection_url }, login)
            }
        };
        let body = ConnectionConfig {
            plugin,
            username: login,
            password,
            allowed_roles: vec![format!("{connection}-*")],
            verify_connection: true,
        };
        if let Err(e) = vault.create_connection(mount, &connection, &body).await {
            errors::vault(d, &format!("creating the Vault connection {connection} on {mount}"), &e);
            return false;
        }
        true
    }

    async fn vault_connection_exists(&self, model: &Model, config: &ProviderConfig, d: &mut Diagnostics) -> bool {
        let (Some(vault), Some(vc)) = (self.services.vault(), config.vault.as_ref()) else { return false };
        match vault.connection_exists(&vc.database_mount, &model.vault_connection()).await {
            Ok(found) => found,
            Err(e) => {
                errors::vault(d, "reading the Vault connection", &e);
                false
            }
        }
    }

    /// Revokes every lease issued through the connection, synchronously, so no issued user
    /// is left in the database; then removes the connection.
    async fn disconnect_vault(&self, model: &Model, config: &ProviderConfig, d: &mut Diagnostics) -> bool {
        let (Some(vault), Some(vc)) = (self.services.vault(), config.vault.as_ref()) else { return true };
        let connection = model.vault_connection();
        if let Err(e) = vault.remove_connection(&vc.database_mount, &connection).await {
            errors::vault(d, &format!("removing the Vault connection {connection} and revoking its leases"), &e);
            return false;
        }
        true
    }

    /// Refuses (before anything changes) to archive or drop a database with clients.
    async fn check_no_clients(&self, model: &Model, d: &mut Diagnostics) -> bool {
        let sessions = match model.engine {
            Engine::Postgresql => match self.services.postgres(d).await {
                Some(pg) => pg
                    .sessions(&model.name, &model.database().group_roles())
                    .await
                    .map_err(|e| errors::postgres(d, "counting connected clients", &e)),
                None => return false,
            },
            Engine::Mysql => match self.services.mysql(d).await {
                Some(my) => my
                    .session_count(&model.name, &model.database().mysql_management_login())
                    .await
                    .map_err(|e| errors::mysql(d, "counting connected clients", &e)),
                None => return false,
            },
        };
        match sessions {
            Ok(0) => true,
            Ok(n) => {
                d.attribute_error(
                    AttributePath::root("force_drop"),
                    "Database in use",
                    format!("{n} client(s) are connected to {:?}, so it was left as it is. Stop them, or set `force_drop = true` (and apply) to disconnect them.", model.name),
                );
                false
            }
            Err(()) => false,
        }
    }

    /// Reads the database back into `response.state`; null when it no longer exists.
    async fn refresh(&self, model: &Model, response: &mut ReadResponse) {
        let d = &mut response.diagnostics;
        let Some(config) = self.services.config(d).cloned() else { return };
        let Value::Object(mut state) = response.state.clone() else { return };
        match model.engine {
            Engine::Postgresql => {
                let Some(pg) = self.services.postgres(d).await else { return };
                let catalog = match pg.catalog().await {
                    Ok(c) => c,
                    Err(e) => return errors::postgres(d, "reading the catalog", &e),
                };
                let Some(info) = catalog.databases.get(&model.name) else {
                    response.state = Value::Null;
                    return;
                };
                state.insert("connection_limit".into(), Value::int(i64::from(info.connection_limit)));
                state.insert("encoding".into(), Value::string(&info.encoding));
                state.insert("lc_collate".into(), Value::string(&info.lc_collate));
                state.insert("lc_ctype".into(), Value::string(&info.lc_ctype));
                // Extensions: after import, all that are installed; otherwise those this
                // resource manages that are still there (others, e.g. from migrations,
                // are none of its business).
                let needs_extensions = !matches!(state.get("extensions"), Some(Value::Set(s)) if s.is_empty());
                if needs_extensions {
                    let installed = match pg.extensions(&model.name).await {
                        Ok(i) => i,
                        Err(e) => return errors::postgres(d, "reading extensions", &e),
                    };
                    let shown: BTreeSet<String> = match &model.extensions {
                        Some(managed) => managed.intersection(&installed).cloned().collect(),
                        None => installed,
                    };
                    state.insert("extensions".into(), Value::Set(shown.into_iter().map(Value::string).collect()));
                }
                let roles = model.database().group_roles();
                let role = |name: &String| if catalog.roles.contains(name) { Value::string(name) } else { Value::Null };
                let derived = derived_attributes(model, &config);
                for (k, v) in derived {
                    state.insert(k.to_owned(), v);
                }
                // A group role dropped outside Terraform shows as a change to put it back.
                state.insert("owner_role".into(), role(&roles.owner));
                state.insert("readwrite_role".into(), role(&roles.readwrite));
                state.insert("readonly_role".into(), role(&roles.readonly));
            }
            Engine::Mysql => {
                let Some(my) = self.services.mysql(d).await else { return };
                let catalog = match my.catalog().await {
                    Ok(c) => c,
                    Err(e) => return errors::mysql(d, "reading the catalog", &e),
                };
                let Some(info) = catalog.get(&model.name) else {
                    response.state = Value::Null;
                    return;
                };
                state.insert("character_set".into(), Value::string(&info.character_set));
                state.insert("collation".into(), Value::string(&info.collation));
                for (k, v) in derived_attributes(model, &config) {
                    state.insert(k.to_owned(), v);
                }
            }
        }
        if config.vault.is_some() && !self.vault_connection_exists(model, &config, d).await {
            // Gone from Vault: the next plan shows a change that puts it back.
            state.insert("vault_connection".into(), Value::Null);
        }
        state.insert("id".into(), Value::string(model.id()));
        response.state = Value::Object(state);
    }
}

/// Attributes that follow from the name and the provider configuration alone.
fn derived_attributes(model: &Model, config: &ProviderConfig) -> Vec<(&'static str, Value)> {
    let port = |p: u16| Value::Number(Number::Int(i64::from(p)));
    let vault_connection = if config.vault.is_some() { Value::string(model.vault_connection()) } else { Value::Null };
    match (model.engine, config.postgres.as_ref(), config.mysql.as_ref()) {
        (Engine::Postgresql, Some(pg), _) => {
            let roles = model.database().group_roles();
            vec![
                ("host", Value::string(&pg.pooled_host)),
                ("port", port(pg.pooled_port)),
                ("admin_host", Value::string(&pg.host)),
                ("admin_port", port(pg.port)),
                (
                    "connection_uri",
                    Value::string(format!(
                        "postgresql://{}:{}/{}?sslmode={}",
                        pg.pooled_host, pg.pooled_port, model.name, pg.sslmode
                    )),
                ),
                ("owner_role", Value::string(roles.owner)),
                ("readwrite_role", Value::string(roles.readwrite)),
                ("readonly_role", Value::string(roles.readonly)),
                ("vault_connection", vault_connection),
            ]
        }
        (Engine::Mysql, _, Some(my)) => vec![
            ("host", Value::string(&my.host)),
            ("port", port(my.port)),
            ("admin_host", Value::string(&my.host)),
            ("admin_port", port(my.port)),
            ("connection_uri", Value::string(format!("mysql://{}:{}/{}", my.host, my.port, model.name))),
            ("owner_role", Value::Null),
            ("readwrite_role", Value::Null),
            ("readonly_role", Value::Null),
            ("vault_connection", vault_connection),
        ],
        _ => Vec::new(),
    }
}

fn identity(model: &Model) -> Value {
    Value::object([("engine", Value::string(model.engine.as_str())), ("name", Value::string(&model.name))])
}

fn archive_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap_or_default()
}
