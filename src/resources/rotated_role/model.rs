//! A rotated role's configuration, plan or state, decoded: the one model every step checks.

use super::*;
use crate::platform::privileges::Privileges;

/// A role's configuration, plan or state.
#[derive(Clone, Debug)]
pub(super) struct Model {
    pub(super) role: RoleName,
    pub(super) cleanup_stale_users: bool,
    pub(super) static_mode: bool,
    pub(super) privileges: String,
    pub(super) default_ttl: String,
    pub(super) max_ttl: String,
    pub(super) rotation_period: String,
    /// `static_username` as planned or stored: a static login keeps its name.
    pub(super) static_username: Option<String>,
    /// The claim this state holds; `None` before the first apply after import or upgrade.
    pub(super) claim: Option<String>,
    /// The claim the configuration names to take over.
    pub(super) take_over: Option<String>,
    /// Why `vault_role` cannot be this role's (another database's name, say).
    pub(super) refused_vault_role: Option<String>,
}

impl Model {
    pub(super) fn from_value(v: &Value) -> Option<Model> {
        let text = |n: &str| v.attr(n).and_then(Value::as_str).map(str::to_owned);
        let role = RoleName::new(Target::parse(&text("database")?)?, &text("name")?).ok()?;
        let vault_role = text("vault_role");
        let refused_vault_role = vault_role.as_deref().and_then(|n| role.clone().keeping_vault_role(n).err());
        Some(Model {
            role: with_vault_role(role, vault_role.as_deref()),
            refused_vault_role,
            static_mode: text("mode").as_deref() == Some("static"),
            cleanup_stale_users: matches!(v.attr("cleanup_stale_users"), Some(Value::Bool(true))),
            privileges: text("privileges").unwrap_or_else(|| "readwrite".into()),
            default_ttl: text("default_ttl").unwrap_or_else(|| "24h".into()),
            max_ttl: text("max_ttl").unwrap_or_else(|| "24h".into()),
            rotation_period: text("rotation_period").unwrap_or_else(|| "24h".into()),
            static_username: text("static_username"),
            claim: claim::held(v),
            take_over: claim::take_over(v),
        })
    }

    /// How the role is named in messages.
    pub(super) fn what(&self) -> String {
        format!("Vault role {:?}", self.role.vault_role())
    }

    /// The one check of the model, at validate, plan and apply.
    pub(super) fn check(&self, d: &mut Diagnostics) {
        if matches!(self.role.target, Target::Namespace(_)) && self.privileges == "owner" {
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
        if let Some(reason) = &self.refused_vault_role {
            d.attribute_error(AttributePath::root("vault_role"), "Invalid Vault role name", reason);
        }
        check_lifetimes(self.static_mode, &self.rotation_period, &self.default_ttl, &self.max_ttl, d);
    }

    pub(super) fn spec(&self) -> CredentialSpec {
        let seconds = |text: &str| parse_duration(text).unwrap_or(86_400);
        CredentialSpec {
            role: self.role.clone(),
            privileges: Privileges::of(&self.privileges),
            mode: if self.static_mode {
                Mode::Static { rotation_period: seconds(&self.rotation_period) }
            } else {
                Mode::Dynamic { default_ttl: seconds(&self.default_ttl), max_ttl: seconds(&self.max_ttl) }
            },
            existing_login: self.static_username.clone().filter(|_| self.static_mode),
        }
    }
}
