//! How a namespace on the servers differs from what its state recorded, judged here so a
//! resource only turns each [`Drift`] into state that plans a change, and a warning.

use super::*;

/// Whether a namespace's ACL user is one the provider set, or one made before it that an
/// import brought in and no apply has changed yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adoption {
    /// The provider set the user's rules and passwords.
    Managed,
    /// A user made before the provider, imported: the first apply keeps the passwords it
    /// has (its apps hold them) and gives it the namespace's rules.
    Adopting,
}

/// What a state recorded of its namespace, to judge the servers against.
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    /// The key prefix; `None` just after import, before it is learned from the user.
    pub key_prefix: Option<&'a str>,
    /// The command rules as Redis reported them after the last apply; `None` just after
    /// import, before they are learned.
    pub commands: Option<&'a str>,
    /// Whether the user is still being adopted.
    pub adoption: Adoption,
}

/// One way a namespace differs on the servers from what its state recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// The user is missing, or differs from the primary's, on these nodes: most likely a
    /// restart (Redis keeps nothing on disk).
    NodesAstray(Vec<String>),
    /// Its key or channel patterns are not the ones the provider sets.
    Patterns,
    /// Its command rules are not the ones last applied, or it is switched off.
    CommandRules,
    /// Its passwords are not exactly the one in Vault KV (and those an adopted user kept).
    Passwords,
    /// Vault's connection exists, but the ACL user it logs in as (named) is missing or
    /// has rules other than the provider's.
    ManagementUser(String),
    /// Vault's connection for the namespace is gone.
    VaultConnection,
}

impl Drift {
    /// Whether the drift is in the namespace's own ACL user (rather than in its link to Vault).
    pub fn in_user(&self) -> bool {
        matches!(self, Drift::NodesAstray(_) | Drift::Patterns | Drift::CommandRules | Drift::Passwords)
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::NodesAstray(nodes) => write!(f, "the ACL user is missing or different on {}", nodes.join(", ")),
            Drift::Patterns => f.write_str("its key or channel patterns changed"),
            Drift::CommandRules => f.write_str("its command rules changed"),
            Drift::Passwords => f.write_str("its passwords are not the one the provider set"),
            Drift::ManagementUser(user) => write!(
                f,
                "the ACL user Vault's connection logs in as ({user:?}) is missing or not as the provider set it"
            ),
            Drift::VaultConnection => f.write_str("its Vault connection is missing"),
        }
    }
}

/// A namespace as the servers show it, judged against its state.
#[derive(Debug, Default)]
pub struct Observation {
    /// How it differs; empty when it is as recorded.
    pub drift: Vec<Drift>,
    /// The prefix the user's key patterns give, on the primary (learned after import).
    pub key_prefix: Option<String>,
    /// The user's command rules as the primary reports them (learned after import).
    pub commands: Option<String>,
    /// The claim on the namespace; `None` when unclaimed.
    pub claim: Option<Claim>,
}

/// What the first apply after adopting a user made before the provider changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdoptionChanges {
    /// Its rules now: commands, keys and channels as Redis reports them.
    pub rules_before: String,
    /// The namespace's rules it will have.
    pub rules_after: String,
    /// How many passwords it has, all of which it keeps.
    pub passwords_kept: usize,
}

impl Namespaces<'_> {
    /// Reads the namespace back from every node and Vault, and judges it against `recorded`.
    ///
    /// # Errors
    /// [`NamespaceError`] when a service cannot be asked or the KV secret is another's.
    pub async fn observe(&self, spec: &NamespaceSpec, recorded: Recorded<'_>) -> Result<Observation, NamespaceError> {
        let observed = self.inspect(spec).await?;
        Ok(Observation {
            drift: judge(&observed, spec, recorded, self.vault.is_some()),
            key_prefix: observed.user.as_ref().and_then(|u| u.key_prefix().map(str::to_owned)),
            commands: observed.user.map(|u| u.commands),
            claim: observed.claim,
        })
    }

    /// The user's command rules as the primary reports them (Redis normalises them), after
    /// a change; `None` when the user is not there.
    ///
    /// # Errors
    /// [`NamespaceError::Redis`].
    pub async fn reported_commands(&self, spec: &NamespaceSpec) -> Result<Option<String>, NamespaceError> {
        Ok(self.redis.get_user(0, &spec.user).await?.map(|u| u.commands))
    }

    /// What the first apply changes in `spec`'s user, made before the provider; `None` when
    /// there is no such user on the primary.
    ///
    /// # Errors
    /// [`NamespaceError::Redis`].
    pub async fn adoption_changes(&self, spec: &NamespaceSpec) -> Result<Option<AdoptionChanges>, NamespaceError> {
        let Some(before) = self.redis.get_user(0, &spec.user).await? else { return Ok(None) };
        let rules_before = [&before.commands, &before.keys, &before.channels]
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Some(AdoptionChanges {
            rules_before,
            rules_after: spec.rules().join(" "),
            passwords_kept: before.password_hashes.len(),
        }))
    }

    /// The ACL user an import of `name` adopts when its id names none: `<name>`, when there
    /// is no `dbaas-<name>` on any node and there is a `<name>`.
    ///
    /// # Errors
    /// [`NamespaceError::Redis`].
    pub async fn user_to_adopt(&self, name: &NamespaceName) -> Result<Option<String>, NamespaceError> {
        let ours = self.redis.user_exists_anywhere(&name.user()).await?;
        let theirs = self.redis.user_exists_anywhere(name.as_str()).await?;
        Ok((!ours && theirs).then(|| name.as_str().to_owned()))
    }

    /// Saves the ACL users where a node has an ACL file; the nodes that have none (whose
    /// users vanish when they restart).
    ///
    /// # Errors
    /// [`NamespaceError::Redis`].
    pub async fn persist(&self) -> Result<Vec<String>, NamespaceError> {
        Ok(self.redis.save_acls().await?)
    }

    /// Deletes every key under the namespace's prefix (SCAN + UNLINK, in batches); how many.
    ///
    /// # Errors
    /// [`NamespaceError::Redis`]; what was deleted before the failure stays deleted.
    pub async fn purge_keys(&self, spec: &NamespaceSpec) -> Result<u64, NamespaceError> {
        Ok(self.redis.purge(&spec.key_prefix).await?)
    }
}

/// How `observed` differs from `recorded` and `spec`.
fn judge(observed: &Observed, spec: &NamespaceSpec, recorded: Recorded<'_>, with_vault: bool) -> Vec<Drift> {
    let mut drift = Vec::new();
    if !observed.nodes_astray.is_empty() {
        drift.push(Drift::NodesAstray(observed.nodes_astray.clone()));
    }
    if let Some(user) = &observed.user {
        // Just after import the prefix is learned from the user, not compared.
        if recorded.key_prefix.is_some() && !patterns_match(user, spec) {
            drift.push(Drift::Patterns);
        }
        // An adopted user's rules and passwords are what the plan's warning says the first
        // apply changes, not drift.
        if recorded.adoption == Adoption::Managed {
            if let Some(commands) = recorded.commands
                && (!crate::backends::redis::same_rules(commands, &user.commands)
                    || !user.flags.iter().any(|f| f == "on"))
            {
                drift.push(Drift::CommandRules);
            }
            if !observed.password_ok {
                drift.push(Drift::Passwords);
            }
        }
    }
    if with_vault {
        if !observed.vault_connection {
            drift.push(Drift::VaultConnection);
        } else if !observed.management_user_ok {
            drift.push(Drift::ManagementUser(spec.name.management_user()));
        }
    }
    drift
}

/// Whether the user's key and channel patterns are exactly the ones the provider sets, as
/// Redis reports them: it stores `%RW~p` (read and write: every access) as `~p`, and one
/// pattern given twice once.
fn patterns_match(user: &AclUser, spec: &NamespaceSpec) -> bool {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<std::collections::BTreeSet<_>>();
    let rules = spec.rules();
    let as_reported = |rule: &String| match rule.strip_prefix("%RW~") {
        Some(pattern) => format!("~{pattern}"),
        None => rule.clone(),
    };
    let wanted = |first: &[char]| {
        rules.iter().filter(|r| r.starts_with(first)).map(as_reported).collect::<std::collections::BTreeSet<_>>()
    };
    words(&user.keys) == wanted(&['~', '%']) && words(&user.channels) == wanted(&['&'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> NamespaceSpec {
        NamespaceSpec {
            name: NamespaceName::new("cache").unwrap(),
            user: "dbaas-cache".to_owned(),
            key_prefix: "cache:".to_owned(),
            permissions: "readwrite".to_owned(),
            extra_rules: Vec::new(),
        }
    }

    /// A user exactly as the provider sets `spec`'s, as one node reports it.
    fn as_set(spec: &NamespaceSpec) -> AclUser {
        let rules = spec.rules();
        let of = |first: &[char]| rules.iter().filter(|r| r.starts_with(first)).cloned().collect::<Vec<_>>().join(" ");
        AclUser {
            flags: vec!["on".to_owned()],
            password_hashes: vec!["0".repeat(64)],
            commands: "+@read -keys".to_owned(),
            keys: of(&['~', '%']),
            channels: of(&['&']),
        }
    }

    fn observed(user: Option<AclUser>) -> Observed {
        Observed { user, password_ok: true, vault_connection: true, management_user_ok: true, ..Observed::default() }
    }

    const APPLIED: Recorded<'static> =
        Recorded { key_prefix: Some("cache:"), commands: Some("-keys +@read"), adoption: Adoption::Managed };

    #[test]
    fn a_namespace_as_applied_has_no_drift_whatever_order_redis_reports_its_rules_in() {
        let spec = spec();
        assert_eq!(judge(&observed(Some(as_set(&spec))), &spec, APPLIED, true), vec![]);
    }

    #[test]
    fn patterns_redis_rewrites_are_no_drift() {
        let mut spec = spec();
        spec.extra_rules = vec!["%RW~cache:x*".to_owned(), "~cache:*".to_owned(), "%R~cache:y*".to_owned()];
        let mut reported = as_set(&spec);
        // What Redis 7 reports for these rules (ACL GETUSER), checked on the real server.
        reported.keys = "~cache:* ~cache:x* %R~cache:y*".to_owned();
        assert_eq!(judge(&observed(Some(reported)), &spec, APPLIED, true), vec![]);
    }

    #[test]
    fn each_change_made_outside_terraform_is_named() {
        let spec = spec();
        let mut widened = as_set(&spec);
        widened.keys = "~*".to_owned();
        widened.commands = "+@all".to_owned();
        let mut seen = observed(Some(widened));
        seen.password_ok = false;
        seen.nodes_astray = vec!["redis-1:6379".to_owned()];
        seen.management_user_ok = false;
        assert_eq!(
            judge(&seen, &spec, APPLIED, true),
            vec![
                Drift::NodesAstray(vec!["redis-1:6379".to_owned()]),
                Drift::Patterns,
                Drift::CommandRules,
                Drift::Passwords,
                Drift::ManagementUser("dbaas-cache-vault".to_owned()),
            ]
        );
        let mut off = as_set(&spec);
        off.flags = vec!["off".to_owned()];
        assert_eq!(judge(&observed(Some(off)), &spec, APPLIED, true), vec![Drift::CommandRules]);
        let mut gone = observed(None);
        gone.nodes_astray = vec!["redis-0:6379".to_owned()];
        gone.vault_connection = false;
        assert_eq!(
            judge(&gone, &spec, APPLIED, true),
            vec![Drift::NodesAstray(vec!["redis-0:6379".to_owned()]), Drift::VaultConnection]
        );
    }

    #[test]
    fn after_import_the_prefix_and_rules_are_learned_and_an_adopted_users_are_not_drift() {
        let spec = spec();
        let mut theirs = as_set(&spec);
        theirs.keys = "~legacy:*".to_owned();
        theirs.commands = "+@all".to_owned();
        let mut seen = observed(Some(theirs));
        seen.password_ok = false;
        let imported = Recorded { key_prefix: None, commands: None, adoption: Adoption::Adopting };
        assert_eq!(judge(&seen, &spec, imported, true), vec![]);
        let adopting = Recorded { key_prefix: Some("cache:"), commands: Some("+@all"), adoption: Adoption::Adopting };
        assert_eq!(judge(&seen, &spec, adopting, true), vec![Drift::Patterns], "patterns are compared once known");
    }

    #[test]
    fn without_vault_there_is_no_link_to_judge() {
        let spec = spec();
        let mut seen = observed(Some(as_set(&spec)));
        seen.vault_connection = false;
        seen.management_user_ok = false;
        assert_eq!(judge(&seen, &spec, APPLIED, false), vec![]);
    }
}
