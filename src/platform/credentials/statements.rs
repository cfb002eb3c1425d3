//! The SQL Vault runs for a role: creation and revocation per level and engine, rotation for static logins.

use super::*;

impl Credentials<'_> {
    /// Creation and revocation statements for the role's engine and privilege level.
    pub(super) async fn statements(
        &self,
        role: &RoleName,
        privileges: Privileges,
    ) -> Result<Statements, CredentialError> {
        Ok(match (&self.store, &role.target) {
            (Store::Redis(ns), Target::Namespace(name)) => {
                let rules = self.redis_rules(ns, name, privileges).await?;
                // The redis plugin reads creation_statements[0] as a JSON array of rules.
                Statements {
                    creation: vec![Json::from(rules).to_string()],
                    revocation: Vec::new(),
                    renewal: Vec::new(),
                }
            }
            (Store::Postgres(pg), Target::Database(db)) => sql_statements(db, privileges, pg.needs_issuer().await?),
            (_, Target::Database(db)) => sql_statements(db, privileges, true),
            _ => unreachable!("the store is chosen by the target"),
        })
    }

    /// What Vault runs to rotate a static login's password: through the issuer on MySQL and
    /// before PostgreSQL 16 (the management login may not alter logins there), else the
    /// plugin's own statement.
    pub(super) async fn rotation_statements(&self) -> Result<Vec<String>, CredentialError> {
        Ok(match &self.store {
            Store::Postgres(pg) if pg.needs_issuer().await? => vec![issuer_rotation_statement(Engine::Postgresql)],
            Store::Mysql(_) => vec![issuer_rotation_statement(Engine::Mysql)],
            _ => Vec::new(),
        })
    }
}

/// What Vault runs, through the issuer, to set a static login's password.
pub(super) fn issuer_rotation_statement(engine: Engine) -> String {
    match engine {
        Engine::Postgresql => format!("SELECT {ISSUER_SCHEMA}.set_password('{{{{name}}}}', '{{{{password}}}}');"),
        Engine::Mysql => format!("CALL {}('{{{{name}}}}', '{{{{password}}}}');", mysql::SET_PASSWORD),
    }
}

/// `issuer`: the management login issues and drops users through the issuer, as it does on
/// MySQL (where it holds no `CREATE USER`) and before PostgreSQL 16 (no `CREATEROLE`: the
/// functions in [`ISSUER_SCHEMA`]). Without it, the statements of earlier releases, which
/// [`move_to_issuer`](super::move_to_issuer) recognises.
pub(super) fn sql_statements(db: &DatabaseName, privileges: Privileges, issuer: bool) -> Statements {
    match db.engine {
        Engine::Postgresql if issuer => {
            let level = privileges.as_str();
            let mut creation = vec![format!(
                "SELECT {ISSUER_SCHEMA}.create_user('{{{{name}}}}', '{{{{password}}}}', '{{{{expiration}}}}', '{level}');"
            )];
            if level == "owner" {
                // A role may set its own defaults; the issuer made the management login a
                // member of this user for that, since it may not set `role` itself.
                creation.push("SET LOCAL ROLE \"{{name}}\";".to_owned());
                creation
                    .push(format!("ALTER ROLE \"{{{{name}}}}\" SET role = {};", pg_literal(&db.group_roles().owner)));
                creation.push("RESET ROLE;".to_owned());
            }
            Statements {
                creation,
                revocation: vec![format!("SELECT {ISSUER_SCHEMA}.drop_user('{{{{name}}}}');")],
                // The plugin's own renewal alters the role, which the login may not here.
                renewal: vec![format!("SELECT {ISSUER_SCHEMA}.renew_user('{{{{name}}}}', '{{{{expiration}}}}');")],
            }
        }
        Engine::Postgresql => {
            let roles = db.group_roles();
            let group = roles.for_level(privileges.as_str());
            let mut creation = vec![format!(
                "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE {};",
                pg_ident(group)
            )];
            if privileges == Privileges::Owner {
                // Objects it creates belong to the owner group, so they outlive it.
                creation.push(format!("ALTER ROLE \"{{{{name}}}}\" SET role = {};", pg_literal(&roles.owner)));
            }
            Statements {
                creation,
                // One block, so a user already gone (dropped as stale, say) does not make
                // the revocation fail. The management login created the user but is no
                // member of it; REASSIGN and DROP OWNED need that membership. It runs in
                // the tenant's database, whose `public` the tenant owns: the search path
                // is pinned to the system catalog first, so no tenant function or
                // operator can stand in for the ones called here.
                revocation: vec![format!(
                    "DO $$ BEGIN PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true); \
                     IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) '{{{{name}}}}') THEN \
                     EXECUTE pg_catalog.format('GRANT %I TO CURRENT_USER', '{{{{name}}}}'); \
                     EXECUTE pg_catalog.format('REASSIGN OWNED BY %I TO %I', '{{{{name}}}}', {owner}); \
                     EXECUTE pg_catalog.format('DROP OWNED BY %I', '{{{{name}}}}'); \
                     EXECUTE pg_catalog.format('DROP ROLE %I', '{{{{name}}}}'); \
                     END IF; END $$;",
                    owner = pg_literal(&roles.owner)
                )],
                // The plugin's own ALTER ROLE … VALID UNTIL: the login made the user, so
                // holds ADMIN on it.
                renewal: Vec::new(),
            }
        }
        Engine::Mysql if issuer => Statements {
            creation: vec![format!(
                "CALL {}('{{{{name}}}}', '{{{{password}}}}', '{}');",
                mysql::ISSUE_USER,
                privileges.as_str()
            )],
            revocation: vec![format!("CALL {}('{{{{name}}}}');", mysql::DROP_USER)],
            // MySQL users carry no expiry: the plugin's renewal does nothing.
            renewal: Vec::new(),
        },
        Engine::Mysql => Statements {
            creation: vec![
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';".to_owned(),
                format!(
                    "GRANT {} ON {} TO '{{{{name}}}}'@'%';",
                    mysql_grants(privileges),
                    mysql::database_grant_scope(&db.name)
                ),
            ],
            revocation: vec!["DROP USER IF EXISTS '{{name}}'@'%';".to_owned()],
            // MySQL users carry no expiry: the plugin's renewal does nothing.
            renewal: Vec::new(),
        },
    }
}

pub(super) fn mysql_grants(privileges: Privileges) -> &'static str {
    match privileges {
        Privileges::Readonly => "SELECT",
        Privileges::Owner => "ALL PRIVILEGES",
        Privileges::Readwrite => "SELECT, INSERT, UPDATE, DELETE",
    }
}

/// A PostgreSQL identifier, quoted (names here are validated, but quoting is not optional).
pub(super) fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal.
pub(super) fn pg_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Reads back a quoted token as the server's lexer does: between the quotes, a doubled
    /// quote is one; any other quote ends it.
    fn unquote(quoted: &str, quote: char) -> Option<String> {
        let inner = quoted.strip_prefix(quote)?.strip_suffix(quote)?;
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            if c == quote {
                (chars.next() == Some(quote)).then_some(())?;
            }
            out.push(c);
        }
        Some(out)
    }

    proptest! {
        /// Whatever text, quoting it as a PostgreSQL identifier or string literal, or a
        /// MySQL identifier, gives one token that reads back as that text.
        #[test]
        fn quoting_reads_back_as_the_text(text in "\\PC{0,24}") {
            prop_assert_eq!(unquote(&pg_ident(&text), '"'), Some(text.clone()));
            prop_assert_eq!(unquote(&pg_literal(&text), '\''), Some(text.clone()));
            prop_assert_eq!(unquote(&mysql::quote_identifier(&text), '`'), Some(text.clone()));
        }
    }
}
