//! From the block and the environment to a [`ProviderConfig`]: each value's source, the
//! checks, and the diagnostics on the attribute (or variable) at fault.

use super::*;

/// Where a setting's value came from, so an error can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The attribute at this path.
    Config(AttributePath),
    /// This environment variable.
    Env(&'static str),
    /// The built-in default.
    Default,
}

/// A resolved setting.
#[derive(Clone, Debug)]
pub(super) struct Resolved {
    text: Vec<String>,
    source: Source,
}

/// Reads settings of one block from configuration, then the environment, then defaults.
pub(super) struct BlockReader<'a> {
    base: AttributePath,
    config: Option<&'a Value>,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// True when some configured value is not known yet (validate during plan).
    unknown: bool,
}

impl BlockReader<'_> {
    fn get(&mut self, settings: &[Setting], name: &str, diagnostics: &mut Diagnostics) -> Option<Resolved> {
        let setting = settings.iter().find(|s| s.name == name).expect("setting is in its block's table");
        let path = self.base.attribute(name);
        match self.config.and_then(|c| c.attr(name)) {
            Some(v) if !v.is_wholly_known() => {
                self.unknown = true;
                return None;
            }
            Some(Value::Null) | None => {}
            Some(v) => {
                let text = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Number(n) => vec![n.to_string()],
                    Value::Bool(b) => vec![b.to_string()],
                    Value::List(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
                    _ => Vec::new(),
                };
                return Some(Resolved { text, source: Source::Config(path) });
            }
        }
        for var in setting.env {
            if let Some(value) = (self.env)(var).filter(|v| !v.trim().is_empty()) {
                let text = if setting.kind == SettingKind::List {
                    value.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
                } else {
                    vec![value]
                };
                let resolved = Resolved { text, source: Source::Env(var) };
                check_env_value(setting, &resolved, diagnostics);
                return Some(resolved);
            }
        }
        setting.default.map(|d| Resolved { text: vec![d.to_owned()], source: Source::Default })
    }

    fn text(&mut self, settings: &[Setting], name: &str, d: &mut Diagnostics) -> Option<String> {
        self.get(settings, name, d).and_then(|r| r.text.into_iter().next())
    }

    fn duration(&mut self, settings: &[Setting], name: &str, d: &mut Diagnostics) -> std::time::Duration {
        let seconds = self.text(settings, name, d).and_then(|t| parse_duration(&t).ok()).unwrap_or(60);
        std::time::Duration::from_secs(seconds)
    }

    fn number(&mut self, settings: &[Setting], name: &str, d: &mut Diagnostics) -> u32 {
        self.text(settings, name, d).and_then(|t| t.parse().ok()).unwrap_or(0)
    }
}

/// Environment values get the same checks validators give attributes.
pub(super) fn check_env_value(setting: &Setting, resolved: &Resolved, diagnostics: &mut Diagnostics) {
    let Source::Env(var) = resolved.source else { return };
    let value = resolved.text.first().map(String::as_str).unwrap_or_default();
    if let Some(values) = allowed_values(setting)
        && !values.contains(&value)
    {
        let expected = values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ");
        diagnostics.error(format!("Invalid {var}"), format!("{var} is {value:?}; it must be one of {expected}."));
        return;
    }
    let problem = match setting.kind {
        SettingKind::Port => value.parse::<u16>().ok().filter(|p| *p > 0).is_none().then_some("a port from 1 to 65535"),
        SettingKind::Count => value
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .is_none()
            .then_some("a whole number from 1 to 100"),
        SettingKind::CountOrNone => {
            value.parse::<u32>().ok().filter(|n| *n <= 100).is_none().then_some("a whole number from 0 to 100")
        }
        SettingKind::Flag => (!matches!(value, "true" | "false" | "1" | "0")).then_some("true or false"),
        SettingKind::Duration => {
            check_setting_duration(value).is_err().then_some("a duration such as `60s` or `5m`, at most `596h`")
        }
        SettingKind::MountPath => check_mount_path(value).is_err().then_some(MOUNT_PATH),
        SettingKind::Host => check_host(value).is_err().then_some(HOST),
        SettingKind::BaseUrl => check_base_url(value).is_err().then_some(BASE_URL),
        _ => None,
    };
    if let Some(expected) = problem {
        diagnostics.error(format!("Invalid {var}"), format!("{var} is {value:?}; it must be {expected}."));
    }
}

impl ProviderConfig {
    /// Resolves `config` (the provider block; may hold unknowns during validate) against
    /// the environment `env`. Returns the configuration and whether any value was unknown.
    pub fn resolve(
        config: &Value,
        env: &dyn Fn(&str) -> Option<String>,
        diagnostics: &mut Diagnostics,
    ) -> (ProviderConfig, bool) {
        let mut unknown = false;
        let reader = |block: &'static str| BlockReader {
            base: AttributePath::root(block),
            config: config.attr(block).filter(|v| !v.is_null()),
            env,
            unknown: false,
        };
        let mut out = ProviderConfig::default();
        let mut hosts: Vec<(String, Source)> = Vec::new();

        let mut r = reader("postgres");
        if let Some(host) = r.get(POSTGRES, "host", diagnostics) {
            let host_text = host.text.first().cloned().unwrap_or_default();
            hosts.push((host_text.clone(), host.source.clone()));
            let pooled = r.get(POSTGRES, "pooled_host", diagnostics);
            if let Some(p) = &pooled {
                hosts.push((p.text.first().cloned().unwrap_or_default(), p.source.clone()));
            }
            // Hosts apps are given are checked against denied_hosts like the others.
            let mut optional_host = |r: &mut BlockReader, name: &str, d: &mut Diagnostics| {
                let found = r.get(POSTGRES, name, d)?;
                let host = found.text.first().cloned()?;
                hosts.push((host.clone(), found.source));
                Some(host)
            };
            let read_host = optional_host(&mut r, "read_host", diagnostics);
            let pooled_read_host = optional_host(&mut r, "pooled_read_host", diagnostics);
            // Each setting is read once: a bad environment value gets one diagnostic.
            let port = r.number(POSTGRES, "port", diagnostics) as u16;
            let pooled_port = r.number(POSTGRES, "pooled_port", diagnostics) as u16;
            let port_or = |r: &mut BlockReader, name: &str, fallback: u16, d: &mut Diagnostics| {
                r.get(POSTGRES, name, d).and_then(|p| p.text.first()?.parse::<u16>().ok()).unwrap_or(fallback)
            };
            let read_port = port_or(&mut r, "read_port", port, diagnostics);
            let pooled_read_port = port_or(&mut r, "pooled_read_port", pooled_port, diagnostics);
            let pooled_host = pooled.and_then(|p| p.text.into_iter().next());
            // Apps given the server itself have no PgBouncer in front: no auth user to grant
            // CONNECT to, or to check is the platform's.
            let behind_pooler =
                (pooled_host.as_deref().unwrap_or(&host_text), pooled_port) != (host_text.as_str(), port);
            out.postgres = Some(PostgresConfig {
                read: read_host.map(|h| (h, read_port)),
                pooled_read: pooled_read_host.map(|h| (h, pooled_read_port)),
                pooled_host: pooled_host.clone().unwrap_or_else(|| host_text.clone()),
                host: host_text,
                port,
                pooled_port,
                admin: admin_credentials(&mut r, POSTGRES, diagnostics),
                sslmode: r.text(POSTGRES, "sslmode", diagnostics).unwrap_or_default(),
                database: r.text(POSTGRES, "database", diagnostics).unwrap_or_default(),
                max_connections: r.number(POSTGRES, "max_connections", diagnostics),
                pooler_auth_user: r
                    .text(POSTGRES, "pooler_auth_user", diagnostics)
                    .filter(|u| !u.is_empty() && behind_pooler),
                pooler_admin: r
                    .text(POSTGRES, "pooler_admin_user", diagnostics)
                    .filter(|u| !u.is_empty())
                    .map(|user| (user, r.text(POSTGRES, "pooler_admin_password", diagnostics).map(Secret::new))),
                templates: r.get(POSTGRES, "templates", diagnostics).map(|t| t.text).unwrap_or_default(),
                extensions: r.get(POSTGRES, "extensions", diagnostics).map(|t| t.text).unwrap_or_default(),
                timeout: r.duration(POSTGRES, "timeout", diagnostics),
                lock_timeout: r.duration(POSTGRES, "lock_timeout", diagnostics),
            });
        }
        unknown |= r.unknown;

        let mut r = reader("mysql");
        if let Some(host) = r.get(MYSQL, "host", diagnostics) {
            let host_text = host.text.first().cloned().unwrap_or_default();
            hosts.push((host_text.clone(), host.source));
            let read_host = r.get(MYSQL, "read_host", diagnostics).and_then(|found| {
                let host = found.text.first().cloned()?;
                hosts.push((host.clone(), found.source));
                Some(host)
            });
            let read_port = r.get(MYSQL, "read_port", diagnostics).and_then(|p| p.text.first()?.parse::<u16>().ok());
            let port = r.number(MYSQL, "port", diagnostics) as u16;
            let read = match (read_host, read_port) {
                (None, None) => None,
                (h, p) => Some((h.unwrap_or_else(|| host_text.clone()), p.unwrap_or(port))),
            };
            out.mysql = Some(MysqlConfig {
                read,
                host: host_text,
                port,
                admin: admin_credentials(&mut r, MYSQL, diagnostics),
                tls: r.text(MYSQL, "tls", diagnostics).unwrap_or_default(),
                max_connections: r.number(MYSQL, "max_connections", diagnostics),
                timeout: r.duration(MYSQL, "timeout", diagnostics),
            });
        }
        unknown |= r.unknown;

        let mut r = reader("redis");
        if let Some(addresses) = r.get(REDIS, "addresses", diagnostics).filter(|a| !a.text.is_empty()) {
            for (i, a) in addresses.text.iter().enumerate() {
                let source = match &addresses.source {
                    Source::Config(p) => Source::Config(p.index(i)),
                    other => other.clone(),
                };
                if let Err(reason) = check_address(a) {
                    match &source {
                        Source::Config(path) => {
                            diagnostics.attribute_error(path.clone(), "Invalid Redis address", reason);
                        }
                        Source::Env(var) => diagnostics.error(format!("Invalid {var}"), format!("{var}: {reason}")),
                        Source::Default => diagnostics.error("Invalid Redis address", reason),
                    }
                }
                hosts.push((host_of(a), source));
            }
            out.redis = Some(RedisConfig {
                addresses: addresses.text,
                username: r.text(REDIS, "username", diagnostics).unwrap_or_default(),
                password: r.text(REDIS, "password", diagnostics).map(Secret::new),
                tls: matches!(r.text(REDIS, "tls", diagnostics).as_deref(), Some("true" | "1")),
                max_connections: r.number(REDIS, "max_connections", diagnostics),
                timeout: r.duration(REDIS, "timeout", diagnostics),
                ca_cert_file: r.text(REDIS, "ca_cert_file", diagnostics).filter(|f| !f.is_empty()),
            });
        }
        unknown |= r.unknown;

        let mut r = reader("vault");
        if let Some(address) = r.get(VAULT, "address", diagnostics) {
            let address_text = address.text.first().cloned().unwrap_or_default();
            hosts.push((host_of(&address_text), address.source));
            out.vault = Some(VaultConfig {
                address: address_text.trim_end_matches('/').to_owned(),
                token: r.text(VAULT, "token", diagnostics).map(Secret::new),
                namespace: r.text(VAULT, "namespace", diagnostics),
                database_mount: r
                    .text(VAULT, "database_mount", diagnostics)
                    .unwrap_or_default()
                    .trim_matches('/')
                    .to_owned(),
                kv_mount: r.text(VAULT, "kv_mount", diagnostics).unwrap_or_default().trim_matches('/').to_owned(),
                timeout: r.duration(VAULT, "timeout", diagnostics),
                login: vault_login(r.config, env, &mut unknown, diagnostics),
                pool: VaultPool {
                    max_open_connections: r.number(VAULT, "max_open_connections", diagnostics),
                    max_idle_connections: r.number(VAULT, "max_idle_connections", diagnostics),
                    max_connection_lifetime: r.duration(VAULT, "max_connection_lifetime", diagnostics),
                },
            });
        }
        unknown |= r.unknown;

        let denied = denied_hosts(config, env, &mut unknown);
        for (host, source) in &hosts {
            check_denied(host, source, &denied, diagnostics);
        }
        for (block, needs_vault) in [
            ("postgres", out.postgres.as_ref().is_some_and(|p| matches!(p.admin, AdminCredentials::VaultKv(_)))),
            ("mysql", out.mysql.as_ref().is_some_and(|m| matches!(m.admin, AdminCredentials::VaultKv(_)))),
        ] {
            if needs_vault && out.vault.is_none() {
                diagnostics.attribute_error(
                    AttributePath::root(block).attribute("admin_credentials_kv_path"),
                    "Vault is not configured",
                    "admin_credentials_kv_path reads the admin credentials from Vault KV, but no Vault address is set. Add a `vault` block (or set VAULT_ADDR and VAULT_TOKEN), or give username and password directly.",
                );
            }
        }
        (out, unknown)
    }
}

/// The Vault login to use instead of a token: the first login block present, else the
/// first whose selecting environment variable is set.
pub(super) fn vault_login(
    vault: Option<&Value>,
    env: &dyn Fn(&str) -> Option<String>,
    unknown: &mut bool,
    d: &mut Diagnostics,
) -> Option<VaultLogin> {
    let present = |name: &str| vault.and_then(|v| v.attr(name)).is_some_and(|b| !b.is_null());
    let chosen = VAULT_LOGINS
        .iter()
        .find(|(name, ..)| present(name))
        .or_else(|| VAULT_LOGINS.iter().find(|(_, _, settings)| settings[0].env.iter().any(|e| env(e).is_some())))?;
    let (name, _, settings) = chosen;
    let mut r = BlockReader {
        base: AttributePath::root("vault").attribute(name),
        config: vault.and_then(|v| v.attr(name)).filter(|b| !b.is_null()),
        env,
        unknown: false,
    };
    let required = |r: &mut BlockReader<'_>, setting: &str, d: &mut Diagnostics| {
        let value = r.text(settings, setting, d).filter(|v| !v.is_empty());
        if value.is_none() && !r.unknown {
            let var = settings.iter().find(|s| s.name == setting).map_or("", |s| s.env[0]);
            d.attribute_error(
                AttributePath::root("vault").attribute(name).attribute(setting),
                "Missing Vault login setting",
                format!("`{name}` needs `{setting}` (or {var})."),
            );
        }
        value.unwrap_or_default()
    };
    let mount = r.text(settings, "mount", d).unwrap_or_default().trim_matches('/').to_owned();
    let login = match *name {
        "auth_login_approle" => VaultLogin::AppRole {
            mount,
            role_id: required(&mut r, "role_id", d),
            secret_id: Secret::new(required(&mut r, "secret_id", d)),
        },
        "auth_login_jwt" => {
            VaultLogin::Jwt { mount, role: required(&mut r, "role", d), jwt: Secret::new(required(&mut r, "jwt", d)) }
        }
        _ => VaultLogin::Kubernetes {
            mount,
            role: required(&mut r, "role", d),
            jwt_file: r.text(settings, "jwt_file", d).unwrap_or_default(),
        },
    };
    *unknown |= r.unknown;
    Some(login)
}

pub(super) fn admin_credentials(
    r: &mut BlockReader<'_>,
    settings: &[Setting],
    d: &mut Diagnostics,
) -> AdminCredentials {
    match r.text(settings, "admin_credentials_kv_path", d) {
        Some(path) => AdminCredentials::VaultKv(path.trim_matches('/').to_owned()),
        None => AdminCredentials::Given {
            username: r.text(settings, "username", d).unwrap_or_default(),
            password: r.text(settings, "password", d).map(Secret::new),
        },
    }
}

pub(super) fn denied_hosts(config: &Value, env: &dyn Fn(&str) -> Option<String>, unknown: &mut bool) -> Vec<String> {
    match config.attr("denied_hosts") {
        Some(v) if !v.is_wholly_known() => {
            *unknown = true;
            Vec::new()
        }
        Some(Value::List(items)) => items.iter().filter_map(|i| i.as_str().map(normalise_host)).collect(),
        _ => match env("DBAAS_DENIED_HOSTS") {
            Some(list) => list.split(',').map(normalise_host).filter(|h| !h.is_empty()).collect(),
            None => vec![LEGACY_POSTGRES_HOST.to_owned()],
        },
    }
}
