//! The rules names follow: characters, lengths, and the names the provider keeps.

use super::*;

pub(super) fn check_database_name(name: &str, engine: Engine) -> Result<(), String> {
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!("{name:?} must be lowercase letters, digits and `_`, starting with a letter or `_`."));
    }
    let max = engine.max_name_len();
    if name.len() > max {
        return Err(format!(
            "{name:?} is {} characters; {} names may have at most {max}, leaving room for the suffixes the provider adds (`_readwrite`, `_vault`, `__archived_<timestamp>`).",
            name.len(),
            engine.as_str()
        ));
    }
    if RESERVED_DATABASES.contains(&name) {
        return Err(format!("{name:?} is reserved by the database server."));
    }
    // A grant written with the name unescaped (by hand, by another tool, by a release
    // before 0.2) reads `_` as any character: a name that would match one of the server's
    // or the platform's own databases that way is refused, though the provider escapes it.
    if engine == Engine::Mysql
        && let Some(theirs) = RESERVED_DATABASES
            .iter()
            .chain([&crate::backends::mysql::REGISTRY_DATABASE])
            .find(|db| matches_as_grant_pattern(name, db))
    {
        return Err(format!(
            "{name:?} would also name the database {theirs:?} in a MySQL grant that does not escape `_` (a wildcard there). Choose another name."
        ));
    }
    // `<name>_<8 characters>` would have the shape of a user Vault issues on MySQL
    // ([`MYSQL_USERNAME_TEMPLATE`]), which the issuer lets any database's login make.
    if engine == Engine::Mysql && looks_issued_prefix(name) {
        return Err(format!(
            "{name:?} has the shape of the users Vault issues on MySQL (`v<8 hex>_<10 digits>_…`), so its logins could be taken before it exists. Choose another name."
        ));
    }
    // PostgreSQL reserves role names starting with `pg_`, and the group roles start with
    // the database name.
    if engine == Engine::Postgresql && name.starts_with("pg_") {
        return Err(format!(
            "{name:?} starts with `pg_`, which PostgreSQL reserves for its own roles (the group roles are named `<name>_owner` and so on). Choose another name."
        ));
    }
    Ok(())
}

/// Whether `name` is `v<8 hex>_<10 digits>`: what precedes the random tail of a user
/// [`MYSQL_USERNAME_TEMPLATE`] makes.
fn looks_issued_prefix(name: &str) -> bool {
    let Some((hash, time)) = name.split_once('_') else { return false };
    hash.len() == 9
        && hash.starts_with('v')
        && hash[1..].bytes().all(|b| b.is_ascii_hexdigit())
        && time.len() == 10
        && time.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `pattern`, read as MySQL reads a database name in a grant (`_` any one
/// character; names here hold no `%`), matches `database`.
pub(super) fn matches_as_grant_pattern(pattern: &str, database: &str) -> bool {
    pattern.chars().count() == database.chars().count()
        && pattern.chars().zip(database.chars()).all(|(p, d)| p == '_' || p == d)
}

/// Checks a Vault role name as Vault's own rule for names has it: letters, digits and
/// `_`, with `-` and `.` inside; at most 128 characters.
///
/// # Errors
/// The reason when Vault would not take it.
pub fn check_vault_role_name(name: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| word(c) || c == '-' || c == '.')
        && name.starts_with(word)
        && name.ends_with(word);
    if !ok {
        return Err(format!(
            "{name:?} is not a Vault role name: 1 to 128 letters, digits and `_`, with `-` and `.` between them."
        ));
    }
    Ok(())
}

pub(super) fn check_role_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 24
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(format!("{name:?} must be 1 to 24 lowercase letters, digits, `_` or `-`."));
    }
    Ok(())
}
