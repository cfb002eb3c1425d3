//! Roles made before the provider: which database a hand-made Vault role is for, what moving it onto the database's own connection changes, and the users it issued.

use super::*;

impl Credentials<'_> {
    /// Whether the role issues through a connection other than its target's, and if so
    /// what moving it changes; `None` for a role already on its connection or not there.
    ///
    /// # Errors
    /// [`CredentialError::ForeignRole`] when the role is another database's (its statements
    /// do not name this database alone); [`CredentialError`].
    pub async fn adoption(&self, spec: &CredentialSpec) -> Result<Option<Adoption>, CredentialError> {
        if spec.is_static() {
            let Some(role) = self.vault.read_static_role(self.mount, &spec.role.vault_role()).await? else {
                return Ok(None);
            };
            let from_connection = self.static_adopted_from(spec, &role).await?;
            return Ok(from_connection.map(|from_connection| Adoption { from_connection, ..Adoption::default() }));
        }
        let name = spec.role.vault_role();
        let Some(role) = self.vault.read_role(self.mount, &name).await? else { return Ok(None) };
        let Some(from_connection) = self.adopted_from(spec, &role).await? else { return Ok(None) };
        let (mut users, mut blocked) = (Vec::new(), Vec::new());
        for (user, why) in self.issued_before(spec, &from_connection).await?.unwrap_or_default() {
            match why {
                None => users.push(user),
                Some(why) => blocked.push((user, why)),
            }
        }
        // What they hold, read from the server, against what the level gives.
        let carry = match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                let all: Vec<String> = users.iter().cloned().chain(blocked.iter().map(|(u, _)| u.clone())).collect();
                pg.carry_over(&db.name, &db.group_roles(), spec.privileges.as_str(), &all).await?
            }
            _ => Default::default(),
        };
        Ok(Some(Adoption { from_connection, users, blocked, carried: carry.groups, beyond: carry.beyond }))
    }

    /// `Some(connection)` when `role` (as Vault returns it) issues through another
    /// connection than the target's and was made for this database before the provider:
    /// its statements name this database and no other. Another database's role is
    /// [`CredentialError::ForeignRole`].
    ///
    /// On PostgreSQL, statements that name no database but make each user a member of
    /// roles (`IN ROLE orders_rw`, `GRANT orders_rw TO "{{name}}"`) are this database's
    /// when every such role is one of its group roles or reaches this database alone
    /// (asked of the server).
    pub(super) async fn adopted_from(
        &self,
        spec: &CredentialSpec,
        role: &Json,
    ) -> Result<Option<String>, CredentialError> {
        let Some((db_name, foreign)) = other_connection(spec, role) else { return Ok(None) };
        let Target::Database(db) = &spec.role.target else { return Err(foreign) };
        let named = databases_named(db.engine, &role["creation_statements"]);
        if named.len() == 1 && named.contains(&db.name) {
            return Ok(Some(db_name));
        }
        let granted = roles_granted(&role["creation_statements"]);
        if let (true, false, Store::Postgres(pg)) = (named.is_empty(), granted.is_empty(), &self.store) {
            let beyond = pg.not_confined_to(&db.name, &db.group_roles(), &granted).await?;
            if beyond.is_empty() {
                return Ok(Some(db_name));
            }
            return Err(CredentialError::GroupsReachBeyond { role: spec.role.vault_role(), groups: beyond });
        }
        Err(foreign)
    }

    /// `Some(connection)` when static `role` (as Vault returns it) rotates through another
    /// connection than the target's, made before the provider for a login of this database
    /// alone (PostgreSQL; see [`Postgres::login_outside`]), which moving it hands to the
    /// database's management login.
    ///
    /// # Errors
    /// [`CredentialError::LoginOutside`] for a login that reaches further;
    /// [`CredentialError::ForeignRole`] on MySQL and Redis, or for a provider connection's role.
    pub(super) async fn static_adopted_from(
        &self,
        spec: &CredentialSpec,
        role: &Json,
    ) -> Result<Option<String>, CredentialError> {
        let Some((db_name, foreign)) = other_connection(spec, role) else { return Ok(None) };
        let (Store::Postgres(pg), Target::Database(db)) = (&self.store, &spec.role.target) else { return Err(foreign) };
        if naming::is_provider_connection(&db_name) {
            return Err(foreign);
        }
        let login = role["username"].as_str().unwrap_or_default();
        match pg.login_outside(&db.name, login, &db.group_roles()).await? {
            None => Ok(Some(db_name)),
            Some(why) => Err(CredentialError::LoginOutside { login: login.to_owned(), why }),
        }
    }

    /// The role a static Vault role made before the provider stands for: one on a shared
    /// PostgreSQL connection (not of the provider's form), whose login holds privileges in
    /// exactly one database. `None` for any other.
    ///
    /// # Errors
    /// [`CredentialError`] when Vault or the server cannot be asked.
    pub async fn static_role_of(&self, vault_role: &str) -> Result<Option<RoleName>, CredentialError> {
        let Store::Postgres(pg) = &self.store else { return Ok(None) };
        let Some(found) = self.vault.read_static_role(self.mount, vault_role).await? else { return Ok(None) };
        let (Some(connection), Some(login)) = (found["db_name"].as_str(), found["username"].as_str()) else {
            return Ok(None);
        };
        if naming::is_provider_connection(connection) {
            return Ok(None);
        }
        let databases = pg.databases_of_login(login).await?;
        let [database] = databases.as_slice() else { return Ok(None) };
        let Some(target) = Target::parse(&format!("postgresql/{database}")) else { return Ok(None) };
        let name = role_name_from(vault_role.strip_prefix(&format!("{connection}-")).unwrap_or(vault_role));
        Ok(RoleName::new(target, &name).and_then(|r| r.keeping_vault_role(vault_role)).ok())
    }

    /// Users issued for the database before the provider, each with what keeps the
    /// management login from dropping it: on PostgreSQL see
    /// [`Postgres::users_issued_before`]; on MySQL nothing does (the issuer drops any of them
    /// once [`Credentials::hand_over`] records it), see [`Mysql::vault_users_of`]. `None` on Redis.
    ///
    /// On PostgreSQL they are found by name as well: what Vault's `username_template` on
    /// `from_connection` (the connection the role issued through) starts with, `v-` by
    /// default.
    pub(super) async fn issued_before(
        &self,
        spec: &CredentialSpec,
        from_connection: &str,
    ) -> Result<Option<Vec<(String, Option<String>)>>, CredentialError> {
        match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                let template = match self.vault.read_connection(self.mount, from_connection).await? {
                    Some(c) => c["connection_details"]["username_template"].as_str().map(str::to_owned),
                    None => None,
                };
                let prefix = issued_name_prefix(template.as_deref());
                Ok(Some(pg.users_issued_before(&db.name, &db.group_roles(), &prefix).await?))
            }
            (Store::Mysql(my), Target::Database(db)) => {
                Ok(Some(my.vault_users_of(&db.name).await?.into_iter().map(|(user, _)| (user, None)).collect()))
            }
            _ => Ok(None),
        }
    }

    pub(super) async fn hand_over(&self, spec: &CredentialSpec, users: &[String]) -> Result<(), CredentialError> {
        match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                pg.hand_over_users(&db.name, &db.group_roles(), users).await?
            }
            // The issuer drops only users on its record.
            (Store::Mysql(my), Target::Database(db)) => {
                my.record_logins(&db.name, users, crate::backends::mysql::LoginKind::Issued).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// For import: whether the role is static, and the privilege level its statements
    /// give (`readwrite` when none matches).
    ///
    /// # Errors
    /// [`CredentialError`].
    pub async fn imported(&self, role: &RoleName) -> Result<(bool, Privileges), CredentialError> {
        let name = role.vault_role();
        if let Some(found) = self.vault.read_static_role(self.mount, &name).await? {
            let login = found["username"].as_str().map_or_else(|| role.static_login(), str::to_owned);
            return Ok((true, self.static_privileges(role, &login).await?));
        }
        if let Some(found) = self.vault.read_role(self.mount, &name).await? {
            for level in [Privileges::Readonly, Privileges::Readwrite, Privileges::Owner] {
                if found["creation_statements"] == Json::from(self.statements(role, level).await?.creation) {
                    return Ok((false, level));
                }
            }
        }
        Ok((false, Privileges::Readwrite))
    }

    /// The role a Vault role name stands for, for import by identity or by the Vault
    /// role's name: a name alone is ambiguous (`redis-a-b-c`), so the role itself says
    /// which database it is for: the one its statements name, when they name exactly one
    /// (a role made before the provider, on a shared connection), or else its connection's.
    /// A name other than `<connection>-<name>` is kept ([`RoleName::keeping_vault_role`]).
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn role_of(vault: &Vault, mount: &str, vault_role: &str) -> Result<Option<RoleName>, VaultError> {
        Ok(Self::role_and_connection_of(vault, mount, vault_role).await?.map(|(role, _)| role))
    }

    /// [`Credentials::role_of`], with the Vault connection the role issues through as read
    /// (null when there is none).
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn role_and_connection_of(
        vault: &Vault,
        mount: &str,
        vault_role: &str,
    ) -> Result<Option<(RoleName, Json)>, VaultError> {
        let found = match vault.read_role(mount, vault_role).await? {
            Some(r) => Some(r),
            None => vault.read_static_role(mount, vault_role).await?,
        };
        let Some(found) = found else { return Ok(None) };
        let Some(connection) = found["db_name"].as_str() else { return Ok(None) };
        let details = vault.read_connection(mount, connection).await?.unwrap_or_default();
        let engine = details["plugin_name"].as_str().and_then(engine_of_plugin);
        let named = engine.map(|e| databases_named(e, &found["creation_statements"])).unwrap_or_default();
        let target = match (engine, named.len()) {
            (Some(engine), 1) => named.first().and_then(|db| Target::parse(&format!("{}/{db}", engine.as_str()))),
            _ => connection.split_once('-').and_then(|(kind, database)| {
                let engine = if kind == "postgres" { "postgresql" } else { kind };
                Target::parse(&format!("{engine}/{database}"))
            }),
        };
        let Some(target) = target else { return Ok(None) };
        let own = format!("{}-", target.vault_connection());
        let name = match vault_role.strip_prefix(&own) {
            Some(rest) => role_name_from(rest),
            None => role_name_from(vault_role.strip_prefix(&format!("{connection}-")).unwrap_or(vault_role)),
        };
        Ok(RoleName::new(target, &name).and_then(|r| r.keeping_vault_role(vault_role)).ok().map(|r| (r, details)))
    }
}

/// The engine of a Vault database plugin (`postgresql-database-plugin`, say).
pub(super) fn engine_of_plugin(plugin: &str) -> Option<Engine> {
    if plugin.starts_with("postgresql") {
        Some(Engine::Postgresql)
    } else if plugin.starts_with("mysql") {
        Some(Engine::Mysql)
    } else {
        None
    }
}

/// A role name made from the tail of a Vault role's name: lowercased, anything outside the
/// allowed characters made `-`, at most 24 characters.
/// The connection `role` (as Vault returns it) issues through when it is not the target's
/// own, with the error that calls the role another database's.
pub(super) fn other_connection(spec: &CredentialSpec, role: &Json) -> Option<(String, CredentialError)> {
    let expected = spec.role.target.vault_connection();
    let db_name = role["db_name"].as_str().unwrap_or_default().to_owned();
    (db_name != expected).then(|| {
        let foreign = CredentialError::ForeignRole { role: spec.role.vault_role(), db_name: db_name.clone(), expected };
        (db_name, foreign)
    })
}

pub(super) fn role_name_from(tail: &str) -> String {
    let name: String = tail
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' { c } else { '-' })
        .take(24)
        .collect();
    if name.is_empty() { "role".to_owned() } else { name }
}

/// The databases hand-written creation statements grant on: PostgreSQL's
/// `ON DATABASE <name>`, MySQL's `ON <name>.*`. Identifiers as the server reads them:
/// quoted ones as written, bare ones lowercased (PostgreSQL) or as written (MySQL).
/// Statements the provider writes name none on PostgreSQL (they name group roles).
pub(super) fn databases_named(engine: Engine, statements: &Json) -> std::collections::BTreeSet<String> {
    let texts: Vec<&str> = match statements {
        Json::Array(items) => items.iter().filter_map(Json::as_str).collect(),
        Json::String(text) => vec![text.as_str()],
        _ => Vec::new(),
    };
    let mut found = std::collections::BTreeSet::new();
    for text in texts {
        let lower = text.to_ascii_lowercase();
        let mut at = 0;
        while let Some(i) = lower[at..].find(" on ") {
            let start = at + i + 4;
            at = start;
            let rest = &text[start..];
            let rest = rest.trim_start();
            let (rest, postgres_database) = match engine {
                Engine::Postgresql => match rest.get(..9) {
                    Some(word) if word.eq_ignore_ascii_case("database ") => (rest[9..].trim_start(), true),
                    _ => continue,
                },
                Engine::Mysql => (rest, false),
            };
            let Some((ident, after)) = identifier(rest, engine) else { continue };
            if postgres_database {
                found.insert(ident);
            } else if after.starts_with(".*") {
                // A grant escapes `_` and `%` to name one database (`x\_a`); a bare one
                // names the same database, and others too.
                found.insert(ident.replace("\\_", "_").replace("\\%", "%").replace("\\\\", "\\"));
            }
        }
    }
    found
}

/// What the names of the users Vault issues start with, by a connection's
/// `username_template`: its text before the first `{{`; `v-` (Vault's default template) when
/// there is none, or it starts with an action.
pub(super) fn issued_name_prefix(template: Option<&str>) -> String {
    let literal = template.map(|t| t.split("{{").next().unwrap_or_default()).unwrap_or_default();
    if literal.is_empty() { "v-".to_owned() } else { literal.to_owned() }
}

/// The roles PostgreSQL `statements` make each user a member of: those after `IN ROLE`,
/// and those of a `GRANT … TO` that grants no privilege `ON` an object.
pub(super) fn roles_granted(statements: &Json) -> std::collections::BTreeSet<String> {
    let texts: Vec<&str> = match statements {
        Json::Array(items) => items.iter().filter_map(Json::as_str).collect(),
        Json::String(text) => vec![text.as_str()],
        _ => Vec::new(),
    };
    let mut found = std::collections::BTreeSet::new();
    let mut list = |mut rest: &str| {
        while let Some((ident, after)) = identifier(rest.trim_start(), Engine::Postgresql) {
            found.insert(ident);
            match after.trim_start().strip_prefix(',') {
                Some(next) => rest = next,
                None => break,
            }
        }
    };
    for text in texts.iter().flat_map(|t| t.split(';')) {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = lower.find(" in role ") {
            list(&text[i + 9..]);
        }
        let trimmed = lower.trim_start();
        if trimmed.starts_with("grant ")
            && let Some(to) = lower.find(" to ")
            && !lower[..to].contains(" on ")
        {
            let start = lower.len() - trimmed.len() + 6;
            list(&text[start..to]);
        }
    }
    found
}

/// The identifier `text` starts with, and what follows it.
pub(super) fn identifier(text: &str, engine: Engine) -> Option<(String, &str)> {
    let quote = if engine == Engine::Mysql { '`' } else { '"' };
    if let Some(rest) = text.strip_prefix(quote) {
        let mut ident = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                if rest[i + 1..].starts_with(quote) {
                    ident.push(quote);
                    chars.next();
                    continue;
                }
                return Some((ident, &rest[i + 1..]));
            }
            ident.push(c);
        }
        return None;
    }
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$')).unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let ident = &text[..end];
    let ident = if engine == Engine::Postgresql { ident.to_ascii_lowercase() } else { ident.to_owned() };
    Some((ident, &text[end..]))
}

impl Adoption {
    /// [`CredentialError::LessThanBefore`] when the users issued before hold what the
    /// level would not give the users issued after.
    pub fn less_than_before(&self, spec: &CredentialSpec) -> Option<CredentialError> {
        let Target::Database(db) = &spec.role.target else { return None };
        (!self.beyond.is_empty()).then(|| CredentialError::LessThanBefore {
            beyond: self.beyond.clone(),
            group: db.group_roles().for_level(spec.privileges.as_str()).to_owned(),
        })
    }
}
