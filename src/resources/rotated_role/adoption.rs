//! What the plan says of a Vault role made before the provider, and how import finds the
//! role a hand-made Vault role stands for.

use super::*;

/// The plan's warning for a role made before the provider, moving onto its database's own
/// connection at apply.
pub(super) fn adoption_warning(d: &mut Diagnostics, model: &Model, config: &ProviderConfig, adoption: &Adoption) {
    let vault_role = model.role.vault_role();
    let mount = config.vault.as_ref().map_or("database", |v| v.database_mount.as_str());
    if model.static_mode {
        let login = model.spec().login();
        return d.attribute_warning(
            AttributePath::root("privileges"),
            "Apply moves a Vault role made before the provider",
            format!(
                "Vault static role {vault_role:?} rotates login {login:?} through connection {:?}. Apply moves it onto {:?}: the login is marked as the database's static login, the database's management login may set its password (from PostgreSQL 16 with ADMIN on it, without its privileges), and it joins the group role for `{}`, keeping the privileges it has. Its password does not change: apps keep reading {mount}/static-creds/{vault_role}, and Vault rotates it through the new connection from its next rotation on.",
                adoption.from_connection,
                model.role.target.vault_connection(),
                model.privileges,
            ),
        );
    }
    let users = if adoption.users.is_empty() {
        "No user it issued before is left on the server.".to_owned()
    } else {
        format!(
            "The {} user(s) it issued before ({}) keep their privileges and sessions until their leases end; Vault still drops them then, or on revoke, through the database's own connection (on PostgreSQL they are handed to its management login for that).",
            adoption.users.len(),
            adoption.users.join(", ")
        )
    };
    let carried = if adoption.carried.is_empty() {
        String::new()
    } else {
        format!(
            " They are members of {} (roles whose privileges are in this database alone), which `{}`'s group role joins at the move: users it issues after get what they had.",
            adoption.carried.iter().map(|g| format!("{g:?}")).collect::<Vec<_>>().join(", "),
            model.privileges,
        )
    };
    d.attribute_warning(
        AttributePath::root("privileges"),
        "Apply moves a Vault role made before the provider",
        format!(
            "Vault role {vault_role:?} issues through connection {:?}. Apply rewrites its statements for `{}` and moves it onto {:?}; apps keep reading {mount}/creds/{vault_role}, which issues throughout. {users}{carried}",
            adoption.from_connection,
            model.privileges,
            model.role.target.vault_connection(),
        ),
    );
}

/// The Vault role name a plan keeps: the configuration's, or else one the role kept in
/// state (imported from before the provider). `None`: the provider's `<connection>-<name>`,
/// which follows `name`.
pub(super) fn kept_vault_role(request: &ModifyPlanRequest) -> Option<String> {
    if let Some(name) = request.config.attr("vault_role").and_then(Value::as_str) {
        return Some(name.to_owned());
    }
    Model::from_value(&request.state).filter(|m| m.role.keeps_vault_role()).map(|m| m.role.vault_role())
}

/// `role` keeping `vault_role` as its Vault role's name when Vault would take it (the
/// attribute's validator reports one it would not).
pub(super) fn with_vault_role(role: RoleName, vault_role: Option<&str>) -> RoleName {
    match vault_role {
        Some(name) => role.clone().keeping_vault_role(name).unwrap_or(role),
        None => role,
    }
}

impl RotatedRole {
    /// The role an import identity names (`mount` defaults to the provider's).
    /// The role a static Vault role made before the provider, on a shared PostgreSQL
    /// connection, stands for (see [`Credentials::static_role_of`]).
    pub(super) async fn static_role_made_before(&self, vault_role: &str, d: &mut Diagnostics) -> Option<RoleName> {
        let credentials = self.services.postgres_credentials("dbaas_rotated_role", d).await?;
        match credentials.static_role_of(vault_role).await {
            Ok(found) => found,
            Err(e) => {
                d.error("Cannot read the role to import", format!("Reading static role {vault_role:?}: {e}"));
                None
            }
        }
    }

    pub(super) async fn role_from_identity(&self, identity: &Value, d: &mut Diagnostics) -> Option<RoleName> {
        let role = identity.attr("role").and_then(Value::as_str)?.to_owned();
        let vault = self.services.vault()?;
        let mount = match identity.attr("mount").and_then(Value::as_str) {
            Some(m) => m.to_owned(),
            None => self.services.config(d)?.vault.as_ref()?.database_mount.clone(),
        };
        match Credentials::role_of(vault, &mount, &role).await {
            Ok(found) => found,
            Err(e) => {
                d.error("Cannot read the role to import", format!("Reading Vault role {role:?} on {mount:?}: {e}"));
                None
            }
        }
    }
}
