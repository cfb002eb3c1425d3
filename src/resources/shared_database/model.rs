//! A shared database's configuration, plan or state, decoded: the one model every step checks.

use super::*;

/// The configuration (or plan, or state) of one database.
#[derive(Clone, Debug)]
pub(super) struct Model {
    /// Engine and name, as given: [`Model::check`] says whether they are allowed.
    pub(super) database: DatabaseName,
    pub(super) spec: DatabaseSpec,
    pub(super) deletion_policy: DeletionPolicy,
    pub(super) force_drop: bool,
    /// The claim this state holds; `None` before the first apply after import or upgrade.
    pub(super) claim: Option<String>,
    /// The claim the configuration names to take over.
    pub(super) take_over: Option<String>,
}

impl Model {
    /// Reads a plan or state value; `None` when name or engine are missing or unknown.
    pub(super) fn from_value(v: &Value) -> Option<Model> {
        let text = |n: &str| v.attr(n).and_then(Value::as_str).map(str::to_owned);
        Some(Model {
            database: DatabaseName { engine: Engine::parse(&text("engine")?)?, name: text("name")? },
            spec: DatabaseSpec {
                extensions: match v.attr("extensions") {
                    Some(Value::Set(items)) => {
                        Some(items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
                    }
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
            },
            deletion_policy: match text("deletion_policy").as_deref() {
                Some("archive") => DeletionPolicy::Archive,
                Some("drop") => DeletionPolicy::Drop,
                _ => DeletionPolicy::Retain,
            },
            force_drop: matches!(v.attr("force_drop"), Some(Value::Bool(true))),
            claim: claim::held(v),
            take_over: claim::take_over(v),
        })
    }

    /// How the database is named in messages.
    pub(super) fn what(&self) -> String {
        format!("database {:?}", self.database.name)
    }

    /// The one check of the model, at validate, plan and apply.
    pub(super) fn check(&self, d: &mut Diagnostics) {
        if let Err(reason) = DatabaseName::new(self.database.engine, &self.database.name) {
            d.attribute_error(AttributePath::root("name"), "Invalid database name", reason);
        }
    }

    /// The template against the platform's allow-list: checked when a database is made
    /// from it (at plan and again at apply), never for one that exists already.
    pub(super) fn check_template(&self, config: &ProviderConfig, d: &mut Diagnostics) {
        let (Some(template), Some(postgres)) = (&self.spec.template, &config.postgres) else { return };
        if let Err(reason) = postgres.check_template(template) {
            d.attribute_error(AttributePath::root("template"), "Template not allowed", reason);
        }
    }

    /// Extensions this plan adds to what `prior` (the state; `None` when creating) manages.
    pub(super) fn extensions_added(&self, prior: Option<&Model>) -> BTreeSet<String> {
        let wanted = self.spec.extensions.clone().unwrap_or_default();
        let had = prior.and_then(|p| p.spec.extensions.clone()).unwrap_or_default();
        wanted.difference(&had).cloned().collect()
    }

    pub(super) fn identity(&self) -> Value {
        Value::object([
            ("engine", Value::string(self.database.engine.as_str())),
            ("name", Value::string(&self.database.name)),
        ])
    }
}

/// Attributes only a PostgreSQL database takes (refused on MySQL, on the attribute).
pub(super) const ATTRIBUTES_POSTGRES_ONLY: &[&str] =
    &["extensions", "connection_limit", "encoding", "lc_collate", "lc_ctype", "template"];
/// Attributes only a MySQL database takes.
pub(super) const ATTRIBUTES_MYSQL_ONLY: &[&str] = &["character_set", "collation"];
