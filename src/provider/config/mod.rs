//! The `provider "dbaas"` configuration: the platform's endpoint catalog and how to log
//! in to each service. Every setting can also come from an environment variable, so a
//! stack can say just `provider "dbaas" {}`.
//!
//! A service is configured when its address is set (in the block or its environment
//! variable); nothing has a built-in host, so no endpoint is ever hardcoded.
//!
//! The settings' tables are in `settings`, what their values may be in `checks`, and how
//! the block and the environment become a [`ProviderConfig`] in `resolve`; the imports
//! below are theirs too (`use super::*`).

use std::collections::BTreeMap;

use crate::duration::parse_duration;
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::types::Type;
use crate::framework::validator::{int_between, one_of, string_check};
use crate::framework::value::Value;
use crate::platform::settings::{
    AdminCredentials, MysqlConfig, PostgresConfig, ProviderConfig, RedisConfig, VaultConfig, VaultLogin, VaultPool,
};
use crate::secret::Secret;

mod checks;
mod resolve;
mod settings;
#[cfg(test)]
mod tests;

use checks::*;
pub use resolve::Source;
use settings::*;
pub use settings::{BLOCKS, DEFAULT_MAX_CONNECTIONS, LEGACY_POSTGRES_HOST, Setting, SettingKind, VAULT_LOGINS};

/// The provider block's schema.
pub fn schema() -> Schema {
    let blocks = BLOCKS
        .iter()
        .map(|(name, description, settings)| {
            let block = Block::single(name, *description, settings.iter().map(attribute).collect());
            if *name != "vault" {
                return block;
            }
            block.with_blocks(
                VAULT_LOGINS
                    .iter()
                    .map(|(login, text, settings)| {
                        Block::single(login, *text, settings.iter().map(attribute).collect())
                    })
                    .collect(),
            )
        })
        .collect();
    Schema::new(
        "Gives a stack databases, rotated credentials and Redis namespaces on the platform's shared services. Every setting can come from the environment instead.",
        vec![Attribute::new("denied_hosts", Type::list(Type::String)).description(DENIED_HOSTS_DESCRIPTION)],
    )
    .with_blocks(blocks)
}

fn attribute(s: &Setting) -> Attribute {
    let env = s.env.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(" or ");
    let default = s.default.map(|d| format!(" Default: `{d}`.")).unwrap_or_default();
    let mut a = match s.kind {
        SettingKind::Text
        | SettingKind::Duration
        | SettingKind::MountPath
        | SettingKind::Host
        | SettingKind::BaseUrl => Attribute::string(s.name),
        SettingKind::Port | SettingKind::Count | SettingKind::CountOrNone => Attribute::number(s.name),
        SettingKind::Flag => Attribute::bool(s.name),
        SettingKind::List => Attribute::new(s.name, Type::list(Type::String)),
    }
    .description(format!("{} Environment: {env}.{default}", s.description));
    if s.sensitive {
        a = a.sensitive();
    }
    match (s.kind, allowed_values(s)) {
        (SettingKind::Port, _) => a.validator(int_between(1, 65535)),
        (SettingKind::Count, _) => a.validator(int_between(1, 100)),
        (SettingKind::CountOrNone, _) => a.validator(int_between(0, 100)),
        (SettingKind::Duration, _) => a.validator(string_check(check_setting_duration)),
        (SettingKind::MountPath, _) => a.validator(string_check(check_mount_path)),
        (SettingKind::Host, _) => a.validator(string_check(check_host)),
        (SettingKind::BaseUrl, _) => a.validator(string_check(check_base_url)),
        (_, Some(values)) => a.validator(one_of(values)),
        _ => a,
    }
}

/// The names of every environment variable the provider reads, with their attribute, for docs.
pub fn environment_variables() -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for (block, _, settings) in BLOCKS {
        for s in *settings {
            for e in s.env {
                out.insert(*e, format!("{block}.{}", s.name));
            }
        }
    }
    for (login, _, settings) in VAULT_LOGINS {
        for s in *settings {
            for e in s.env {
                out.insert(*e, format!("vault.{login}.{}", s.name));
            }
        }
    }
    out.insert("DBAAS_DENIED_HOSTS", "denied_hosts".into());
    out
}
