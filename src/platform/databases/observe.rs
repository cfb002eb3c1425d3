//! How a database on the servers differs from what the provider set, judged here so the
//! resource only turns each [`DatabaseDrift`] into state that plans a change.

use super::*;
use crate::platform::privileges::Privileges;

/// Whether reading a database asks PostgreSQL which extensions are installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extensions {
    /// Ask (a round trip to the database itself).
    Read,
    /// Do not: none are managed, or they are known already.
    Skip,
}

/// One way a database differs on the servers from what the provider set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseDrift {
    /// PostgreSQL: the group role of this level is gone.
    GroupRoleMissing(Privileges),
    /// PostgreSQL: CONNECT is not as set (the readwrite and readonly roles have it, PUBLIC
    /// does not); these have it.
    Connect {
        /// Who may CONNECT now.
        granted_to: Vec<String>,
    },
    /// The Vault connection, or the management login behind it, is gone or is not as the
    /// provider writes it now.
    VaultConnection,
    /// MySQL: these accounts' grants name the database as a pattern that gives them other
    /// databases too (`x_a` also names `xxa`); apply grants the same on this database alone.
    WildcardGrants {
        /// `user@host` of each.
        accounts: Vec<String>,
    },
}

impl std::fmt::Display for DatabaseDrift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseDrift::GroupRoleMissing(level) => write!(f, "its {} group role is gone", level.as_str()),
            DatabaseDrift::Connect { granted_to } => write!(
                f,
                "CONNECT is not as the provider set it: its readwrite and readonly roles must have it, and PUBLIC must not (it is granted to {})",
                granted_to.join(", ")
            ),
            DatabaseDrift::VaultConnection => f.write_str("its Vault connection is missing or out of date"),
            DatabaseDrift::WildcardGrants { accounts } => write!(
                f,
                "the grants of {} name it as a pattern (`_` and `%` are wildcards in a MySQL grant), which also reaches other databases",
                accounts.join(", ")
            ),
        }
    }
}

impl Observed {
    /// The extensions a state shows: of those `managed`, the ones still installed (others,
    /// from migrations say, are none of its business); when none are managed (after
    /// import), every one installed but the template's. `None` when not read.
    pub fn extensions_shown(&self, managed: Option<&BTreeSet<String>>) -> Option<BTreeSet<String>> {
        let installed = self.extensions.as_ref()?;
        Some(match managed {
            Some(managed) => managed.intersection(installed).cloned().collect(),
            None => installed.iter().filter(|e| !DEFAULT_EXTENSIONS.contains(&e.as_str())).cloned().collect(),
        })
    }
}

impl Databases<'_> {
    /// How `observed` differs from what the provider sets.
    pub fn drift(&self, observed: &Observed) -> Vec<DatabaseDrift> {
        let engine = match self.server {
            Server::Postgres(..) => Engine::Postgresql,
            Server::Mysql(..) => Engine::Mysql,
        };
        judge(engine, observed, self.vault.is_some())
    }
}

fn judge(engine: Engine, observed: &Observed, with_vault: bool) -> Vec<DatabaseDrift> {
    let mut drift = Vec::new();
    if engine == Engine::Postgresql {
        let levels = [Privileges::Owner, Privileges::Readwrite, Privileges::Readonly];
        for (level, present) in levels.into_iter().zip(observed.roles_present) {
            if !present {
                drift.push(DatabaseDrift::GroupRoleMissing(level));
            }
        }
        if !observed.connect_ok {
            drift.push(DatabaseDrift::Connect { granted_to: observed.connect.clone() });
        }
    }
    if with_vault && !observed.vault_connection {
        drift.push(DatabaseDrift::VaultConnection);
    }
    if engine == Engine::Mysql && !observed.wildcard_grants.is_empty() {
        drift.push(DatabaseDrift::WildcardGrants { accounts: observed.wildcard_grants.clone() });
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_set() -> Observed {
        Observed {
            roles_present: [true; 3],
            connect_ok: true,
            connect: vec!["shop_readwrite".to_owned(), "shop_readonly".to_owned()],
            vault_connection: true,
            ..Observed::default()
        }
    }

    #[test]
    fn a_database_as_set_has_no_drift() {
        assert_eq!(judge(Engine::Postgresql, &as_set(), true), vec![]);
        assert_eq!(judge(Engine::Mysql, &Observed { vault_connection: true, ..Observed::default() }, true), vec![]);
    }

    #[test]
    fn each_change_made_outside_terraform_is_named() {
        let mut seen = as_set();
        seen.roles_present = [true, false, true];
        seen.connect_ok = false;
        seen.connect.push("PUBLIC".to_owned());
        seen.vault_connection = false;
        assert_eq!(
            judge(Engine::Postgresql, &seen, true),
            vec![
                DatabaseDrift::GroupRoleMissing(Privileges::Readwrite),
                DatabaseDrift::Connect {
                    granted_to: vec!["shop_readwrite".into(), "shop_readonly".into(), "PUBLIC".into()]
                },
                DatabaseDrift::VaultConnection,
            ]
        );
        assert_eq!(judge(Engine::Postgresql, &seen, false).len(), 2, "without Vault there is no connection to miss");
    }

    #[test]
    fn a_mysql_grant_that_is_a_pattern_is_drift() {
        let seen =
            Observed { vault_connection: true, wildcard_grants: vec!["x_a_vault@%".to_owned()], ..Observed::default() };
        assert_eq!(
            judge(Engine::Mysql, &seen, true),
            vec![DatabaseDrift::WildcardGrants { accounts: vec!["x_a_vault@%".to_owned()] }]
        );
    }

    #[test]
    fn extensions_shown_are_the_managed_ones_still_there_or_all_but_the_templates() {
        let set = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        let seen = Observed { extensions: Some(set(&["plpgsql", "citext", "pg_trgm"])), ..Observed::default() };
        assert_eq!(seen.extensions_shown(Some(&set(&["citext", "hstore"]))), Some(set(&["citext"])));
        assert_eq!(seen.extensions_shown(None), Some(set(&["citext", "pg_trgm"])));
        assert_eq!(Observed::default().extensions_shown(None), None, "not read");
    }
}
