use super::*;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
}

fn block(name: &str, attrs: Vec<(&str, Value)>) -> Value {
    Value::object([(name, Value::object(attrs))])
}

/// `check` passes every one of `good` and refuses every one of `bad`.
fn assert_allow_list(check: fn(&str) -> Result<(), String>, good: &[&str], bad: &[&str]) {
    for value in good {
        assert!(check(value).is_ok(), "{value} was refused");
    }
    for value in bad {
        assert!(check(value).is_err(), "{value} passed");
    }
}

/// Resolves an empty provider block against `env` and `var=value` (which comes first,
/// so it wins over a `var` in `env`); the value must be refused, naming `var` and it.
fn assert_env_refused(env: &[(&'static str, &'static str)], var: &'static str, value: &'static str) {
    let pairs: &'static [(&str, &str)] = Box::leak([&[(var, value)], env].concat().into_boxed_slice());
    let mut d = Diagnostics::default();
    ProviderConfig::resolve(&Value::object([]), &env_of(pairs), &mut d);
    assert!(
        d.0.iter().any(|x| x.summary == format!("Invalid {var}") && x.detail.contains(value)),
        "{var}={value}: {d:?}"
    );
}

#[test]
fn everything_can_come_from_the_environment() {
    let env = env_of(&[
        ("DBAAS_POSTGRES_HOST", "pg-cluster-rw.dbaas.svc.cluster.local"),
        ("DBAAS_POSTGRES_POOLED_HOST", "pgbouncer.dbaas.svc.cluster.local"),
        ("DBAAS_REDIS_ADDRESSES", "redis-0:6379, redis-1:6379"),
        ("VAULT_ADDR", "http://127.0.0.1:8200/"),
        ("VAULT_TOKEN", "root"),
    ]);
    let mut d = Diagnostics::default();
    let (c, unknown) = ProviderConfig::resolve(&Value::object([]), &env, &mut d);
    assert!(d.is_empty(), "{d:?}");
    assert!(!unknown);
    let pg = c.postgres.unwrap();
    assert_eq!(
        (pg.host.as_str(), pg.port, pg.pooled_host.as_str(), pg.pooled_port),
        ("pg-cluster-rw.dbaas.svc.cluster.local", 5432, "pgbouncer.dbaas.svc.cluster.local", 6432)
    );
    assert_eq!(c.redis.unwrap().addresses, ["redis-0:6379", "redis-1:6379"]);
    let vault = c.vault.unwrap();
    assert_eq!(vault.address, "http://127.0.0.1:8200");
    assert_eq!(vault.database_mount, "database");
    assert!(c.mysql.is_none(), "no host, no service");
}

#[test]
fn configuration_wins_over_the_environment() {
    let env = env_of(&[("DBAAS_MYSQL_HOST", "from-env"), ("DBAAS_MYSQL_PORT", "3307")]);
    let config = block("mysql", vec![("host", Value::string("from-config"))]);
    let mut d = Diagnostics::default();
    let (c, _) = ProviderConfig::resolve(&config, &env, &mut d);
    let m = c.mysql.unwrap();
    assert_eq!((m.host.as_str(), m.port), ("from-config", 3307));
}

#[test]
fn the_legacy_service_is_refused_with_advice_and_a_path() {
    for host in ["postgresql.dbaas.svc.cluster.local", "postgresql.dbaas", "POSTGRESQL.dbaas.svc.cluster.local."] {
        let config = block("postgres", vec![("host", Value::string(host))]);
        let mut d = Diagnostics::default();
        ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
        assert!(d.has_error(), "{host} accepted");
        let diag = &d.0[0];
        assert_eq!(diag.attribute, Some(AttributePath::root("postgres").attribute("host")));
        assert!(diag.detail.contains("pg-cluster-rw.dbaas.svc.cluster.local"), "{}", diag.detail);
    }
    let mut d = Diagnostics::default();
    ProviderConfig::resolve(
        &Value::object([]),
        &env_of(&[("DBAAS_POSTGRES_POOLED_HOST", "postgresql.dbaas.svc"), ("DBAAS_POSTGRES_HOST", "pg")]),
        &mut d,
    );
    assert!(d.0.iter().any(|x| x.detail.starts_with("DBAAS_POSTGRES_POOLED_HOST names it")), "{d:?}");
}

#[test]
fn user_denied_hosts_replace_the_default_and_cover_every_service() {
    let config = Value::object([
        ("denied_hosts", Value::List(vec![Value::string("old-redis.cache.svc.cluster.local")])),
        (
            "redis",
            Value::object([(
                "addresses",
                Value::List(vec![Value::string("ok:6379"), Value::string("old-redis.cache:6379")]),
            )]),
        ),
    ]);
    let mut d = Diagnostics::default();
    ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
    assert_eq!(d.0.len(), 1);
    assert_eq!(d.0[0].attribute, Some(AttributePath::root("redis").attribute("addresses").index(1)));
}

#[test]
fn bad_environment_values_are_named() {
    let mut d = Diagnostics::default();
    ProviderConfig::resolve(
        &Value::object([]),
        &env_of(&[("DBAAS_POSTGRES_HOST", "pg"), ("DBAAS_POSTGRES_PORT", "http")]),
        &mut d,
    );
    assert!(d.0.iter().any(|x| x.summary == "Invalid DBAAS_POSTGRES_PORT"), "{d:?}");
}

#[test]
fn tls_modes_from_the_environment_are_checked_like_configuration() {
    for (var, value) in [
        ("DBAAS_POSTGRES_SSLMODE", "verify_full"),
        ("PGSSLMODE", "verify_full"),
        ("DBAAS_POSTGRES_SSLMODE", "VERIFY-FULL"),
        ("DBAAS_MYSQL_TLS", "require"),
    ] {
        assert_env_refused(&[("DBAAS_POSTGRES_HOST", "pg"), ("DBAAS_MYSQL_HOST", "my")], var, value);
    }
    let mut d = Diagnostics::default();
    ProviderConfig::resolve(
        &Value::object([]),
        &env_of(&[
            ("DBAAS_POSTGRES_HOST", "pg"),
            ("PGSSLMODE", "verify-full"),
            ("DBAAS_MYSQL_HOST", "m"),
            ("DBAAS_MYSQL_TLS", "required"),
        ]),
        &mut d,
    );
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn mount_paths_come_from_an_allow_list() {
    assert_allow_list(
        check_mount_path,
        &["database", "team-a/db", "kv_v2.prod", "database/", "/approle"],
        &["", "/", "a//b", "../sys", "db/../../sys", ".", "db?list=true", "db#x", "d b", "db%2F..", "dätabase"],
    );
}

#[test]
fn mount_paths_from_the_environment_are_checked_like_configuration() {
    for (var, value) in [
        ("DBAAS_VAULT_DATABASE_MOUNT", "../sys"),
        ("DBAAS_VAULT_KV_MOUNT", "secret?list=true"),
        ("DBAAS_VAULT_APPROLE_MOUNT", "app role"),
    ] {
        let login = [("DBAAS_VAULT_APPROLE_ROLE_ID", "role"), ("DBAAS_VAULT_APPROLE_SECRET_ID", "secret")];
        assert_env_refused(&[("VAULT_ADDR", "http://127.0.0.1:8200"), login[0], login[1]], var, value);
    }
}

#[test]
fn hosts_come_from_an_allow_list() {
    assert_allow_list(
        check_host,
        &[
            "pg-cluster-rw.dbaas.svc.cluster.local",
            "pg-cluster-rw.dbaas.svc.cluster.local.",
            "127.0.0.1",
            "::1",
            "db_1.internal",
            "localhost",
        ],
        &[
            "",
            ".",
            "pg:5432",
            "pg:5432/postgres?",
            "user@pg",
            "pg/other",
            "http://pg",
            "[::1]",
            "pg..local",
            "-pg",
            "pg host",
            "pg%2F",
        ],
    );
}

#[test]
fn hosts_from_the_environment_are_checked_like_configuration() {
    for (var, value) in [
        ("DBAAS_POSTGRES_HOST", "pg:5432/postgres?"),
        ("DBAAS_POSTGRES_POOLED_HOST", "user@pgbouncer"),
        ("DBAAS_MYSQL_HOST", "my/sql"),
    ] {
        assert_env_refused(&[("DBAAS_POSTGRES_HOST", "pg"), ("DBAAS_MYSQL_HOST", "my")], var, value);
    }
}

#[test]
fn redis_addresses_come_from_an_allow_list() {
    assert_allow_list(
        check_address,
        &["redis-0:6379", "redis.cache.svc.cluster.local:6380", "10.0.0.5:6379", "[::1]:6379"],
        &[
            "",
            "redis-0",
            "127.0.0.1",
            "[::1]",
            "redis-0:63799x",
            "redis-0:0",
            "redis-0:",
            "::1:6379",
            "[::1]6379",
            "[redis]:6379",
            "user@redis:6379",
            "redis:6379/1",
        ],
    );
    let config =
        block("redis", vec![("addresses", Value::List(vec![Value::string("ok:6379"), Value::string("r:6379x")]))]);
    let mut d = Diagnostics::default();
    ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
    assert_eq!(d.0.len(), 1, "{d:?}");
    assert_eq!(d.0[0].attribute, Some(AttributePath::root("redis").attribute("addresses").index(1)));
    let mut d = Diagnostics::default();
    ProviderConfig::resolve(
        &Value::object([]),
        &env_of(&[("DBAAS_REDIS_ADDRESSES", "redis-0:6379, redis-1:63790x")]),
        &mut d,
    );
    assert!(
        d.0.iter().any(|x| x.summary == "Invalid DBAAS_REDIS_ADDRESSES" && x.detail.contains("\"redis-1:63790x\"")),
        "{d:?}"
    );
}

#[test]
fn vault_addresses_come_from_an_allow_list() {
    assert_allow_list(
        check_base_url,
        &["http://127.0.0.1:8200", "https://vault.platform.svc:8200/", "https://[::1]:8200", "https://vault/prefix"],
        &["", "vault:8200", "ftp://vault", "https://user:pw@vault", "https://vault?x=1", "https://vault#v1", "http://"],
    );
    assert_env_refused(&[], "VAULT_ADDR", "https://vault:8200?ns=a");
}

#[test]
fn unknown_values_are_reported_not_guessed() {
    let config = block("postgres", vec![("host", Value::unknown())]);
    let mut d = Diagnostics::default();
    let (c, unknown) = ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
    assert!(unknown);
    assert!(c.postgres.is_none());
}

#[test]
fn a_vault_login_comes_from_its_block_or_its_environment() {
    let mut d = Diagnostics::default();
    let env =
        env_of(&[("VAULT_ADDR", "http://vault:8200"), ("DBAAS_VAULT_JWT_ROLE", "ci"), ("DBAAS_VAULT_JWT", "a.b.c")]);
    let (config, _) = ProviderConfig::resolve(&Value::Null, &env, &mut d);
    assert!(!d.has_error(), "{d:?}");
    match config.vault.unwrap().login {
        Some(VaultLogin::Jwt { mount, role, jwt }) => {
            assert_eq!((mount.as_str(), role.as_str(), jwt.expose()), ("jwt", "ci", "a.b.c"));
        }
        other => panic!("{other:?}"),
    }
    // A block without what it needs is an error on the missing setting.
    let config = Value::object([(
        "vault",
        Value::object([("auth_login_approle", Value::object([("role_id", Value::string("r"))]))]),
    )]);
    let mut d = Diagnostics::default();
    ProviderConfig::resolve(&config, &env_of(&[("VAULT_ADDR", "http://vault:8200")]), &mut d);
    assert!(format!("{d:?}").contains("secret_id"), "{d:?}");
}

#[test]
fn kv_credentials_need_vault() {
    let config = block(
        "postgres",
        vec![("host", Value::string("pg")), ("admin_credentials_kv_path", Value::string("postgres/root"))],
    );
    let mut d = Diagnostics::default();
    let (c, _) = ProviderConfig::resolve(&config, &env_of(&[]), &mut d);
    assert!(matches!(c.postgres.unwrap().admin, AdminCredentials::VaultKv(ref p) if p == "postgres/root"));
    assert_eq!(d.0[0].attribute, Some(AttributePath::root("postgres").attribute("admin_credentials_kv_path")));
}

#[test]
fn host_parts() {
    assert_eq!(host_of("https://vault.svc:8200/v1"), "vault.svc");
    assert_eq!(host_of("[::1]:6379"), "::1");
    assert_eq!(host_of("redis-0:6379"), "redis-0");
    assert_eq!(host_of("user@host:1"), "host");
}
