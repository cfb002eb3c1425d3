//! What a setting's value may be: allow-lists for mount paths, hosts, URLs and addresses,
//! durations, and the hosts that must never be used.

use super::*;

/// What a mount path may be, for diagnostics.
pub(super) const MOUNT_PATH: &str = "a Vault mount path: letters, digits, `-`, `_` and `.`, in segments joined by `/`";

/// A Vault mount path, from an allow-list: the provider builds API paths from it, so `..`,
/// `?`, `#`, `%` or white space would reach some other path than the mount's. Leading and
/// trailing `/` are left out of the check: resolving the setting drops them, as it did
/// before the check existed.
pub(super) fn check_mount_path(text: &str) -> Result<(), String> {
    let trimmed = text.trim_matches('/');
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if trimmed.split('/').all(segment_ok) { Ok(()) } else { Err(format!("{text:?} is not {MOUNT_PATH}.")) }
}

/// What a host may be, for diagnostics.
pub(super) const HOST: &str =
    "a host name (letters, digits, `-` and `_` in labels joined by `.`) or an IP address, with no port, user or path";

/// A host, from an allow-list: a name or an IP address. Connection URLs for Vault and for
/// apps are built from it, so `host:5432/postgres?` or `user@host` would point them at
/// another database or server than the one named; and the denied-hosts check must see the
/// name itself.
pub(super) fn check_host(text: &str) -> Result<(), String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    };
    if text.parse::<std::net::IpAddr>().is_ok() || (name.len() <= 253 && name.split('.').all(label_ok)) {
        Ok(())
    } else {
        Err(format!("{text:?} is not {HOST}."))
    }
}

/// What a base URL may be, for diagnostics.
pub(super) const BASE_URL: &str =
    "an http or https URL with a host and, at most, a port and a path: no user, query or fragment";

/// A base URL that API paths are appended to, from an allow-list: a user part would put
/// credentials where logs and error messages show the address, and a query or fragment
/// would swallow every path appended after it.
pub(super) fn check_base_url(text: &str) -> Result<(), String> {
    let ok = reqwest::Url::parse(text).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|h| !h.is_empty())
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
    });
    if ok { Ok(()) } else { Err(format!("{text:?} is not {BASE_URL}.")) }
}

/// A Redis node's address: `host`, `host:port`, `[v6]` or `[v6]:port`, the host passing
/// [`check_host`] and the port from 1 to 65535. Read leniently, `redis-0:63799x` became
/// port 6379 and an unbracketed IPv6 address lost its last group to the port.
pub(super) fn check_address(text: &str) -> Result<(), String> {
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|p| p > 0);
    let ok = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => v6.parse::<std::net::Ipv6Addr>().is_ok() && tail.strip_prefix(':').is_some_and(port_ok),
            None => false,
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => check_host(host).is_ok() && port_ok(port),
            None => false,
        }
    };
    if ok {
        Ok(())
    } else {
        // The port is required: one left out meant 6379, which on a machine running
        // several Redis servers silently reached another (the shared one).
        Err(format!(
            "{text:?} is not a Redis address: `host:port`, with {HOST} as the host (an IPv6 address in brackets) and the port written out (`redis-0:6379`)."
        ))
    }
}

/// The values a text setting may take, when it is one of a few: the one list both the
/// attribute's validator and the environment check use, so a typo in the environment
/// (`verify_full` for `verify-full`) cannot quietly downgrade TLS.
pub(super) fn allowed_values(s: &Setting) -> Option<&'static [&'static str]> {
    match (s.kind, s.name) {
        (SettingKind::Text, "sslmode") => Some(&["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
        (SettingKind::Text, "tls") => Some(&["disabled", "preferred", "required", "verify_ca", "verify_identity"]),
        _ => None,
    }
}

/// The longest duration setting: PostgreSQL takes `timeout` and `lock_timeout` as
/// `statement_timeout` and `lock_timeout` in milliseconds, which stop at 2^31 - 1 (just over
/// 596 hours); past that the server refused the session, and the error said it could not
/// connect. Every other timeout and lifetime stays under the same bound.
pub(super) const LONGEST_SETTING_DURATION: u64 = (i32::MAX as u64) / 1000;

pub(super) fn check_setting_duration(text: &str) -> Result<(), String> {
    let seconds = parse_duration(text)?;
    if seconds > LONGEST_SETTING_DURATION {
        return Err(format!(
            "{text:?} is longer than PostgreSQL accepts for a timeout ({LONGEST_SETTING_DURATION} s, about 596h)."
        ));
    }
    Ok(())
}

pub(super) fn normalise_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host part of `host:port`, `[v6]:port` or a URL.
pub(super) fn host_of(address: &str) -> String {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default().to_owned();
    }
    authority.split(':').next().unwrap_or_default().to_owned()
}

pub(super) fn check_denied(host: &str, source: &Source, denied: &[String], diagnostics: &mut Diagnostics) {
    let host = normalise_host(host);
    if host.is_empty() {
        return;
    }
    // "postgresql.dbaas" resolves to the same service as its fully qualified name.
    let Some(hit) = denied.iter().find(|d| **d == host || d.starts_with(&format!("{host}."))) else { return };
    let advice = if hit == LEGACY_POSTGRES_HOST {
        "It is the legacy PostgreSQL service and has no endpoints: connections to it hang or fail. Use the primary `pg-cluster-rw.dbaas.svc.cluster.local` for `postgres.host` (DDL and migrations) and the PgBouncer service for `postgres.pooled_host` (apps); `data.dbaas_endpoints` gives modules both."
    } else {
        "It is listed in `denied_hosts`. Use the endpoints the platform team publishes; `data.dbaas_endpoints` gives modules the current ones."
    };
    let summary = format!("Denied host {host:?}");
    match source {
        Source::Config(path) => diagnostics.attribute_error(path.clone(), summary, advice),
        Source::Env(var) => diagnostics.error(summary, format!("{var} names it. {advice}")),
        Source::Default => diagnostics.error(summary, advice),
    }
}
