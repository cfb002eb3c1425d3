#[test]
fn mysql_accounts_the_provider_made_are_told_from_others() {
    let db = DatabaseName::new(Engine::Mysql, "shop").unwrap();
    assert!(db.made_mysql_account("shop_vault"));
    assert!(db.made_mysql_account("shop_pool"));
    assert!(db.made_mysql_account("v1a2b3c4d_1764000000_Ab3dEf7h"), "Vault's username template");
    assert!(!db.made_mysql_account("shop"));
    assert!(!db.made_mysql_account("shopping"));
    assert!(!db.made_mysql_account("v1a2b3c4d_1764000000_Ab3dEf7"), "one character short");
    assert!(!db.made_mysql_account("vzzzzzzzz_1764000000_Ab3dEf7h"));
}

#[test]
fn a_role_made_before_the_provider_keeps_its_vault_role_name() {
    let role = |name: &str| RoleName::new(Target::parse("postgresql/billing").unwrap(), name).unwrap();
    let kept = role("app").keeping_vault_role("billing.app").unwrap();
    assert!(kept.keeps_vault_role());
    assert_eq!(kept.vault_role(), "billing.app");
    assert_eq!(kept.id(), "postgresql/billing/app", "the id stays the provider's");
    let scheme = role("role").keeping_vault_role("postgres-billing-role").unwrap();
    assert!(!scheme.keeps_vault_role(), "the provider's own name is not kept apart");
    assert_eq!(scheme.vault_role(), "postgres-billing-role");
    assert!(role("app").keeping_vault_role("postgres-ledger-app").is_err(), "another database's name");
    assert!(role("app").keeping_vault_role("redis-billing-app").is_err());
    assert!(role("app").keeping_vault_role("-app").is_err(), "Vault's rule");
    assert!(role("app").keeping_vault_role(&"a".repeat(129)).is_err());
    assert!(check_vault_role_name("postgres-billing-role_v2").is_ok());
}

#[test]
fn the_documented_static_login_patterns_are_the_logins_made() {
    let (sql, redis) = RoleName::static_login_patterns();
    let role = |id: &str| RoleName::new(Target::parse(id).unwrap(), "app").unwrap();
    let fill = |pattern: &str, target: &str| {
        pattern.replace("<database>", target).replace("<namespace>", target).replace("<name>", "app")
    };
    assert_eq!(role("postgresql/trading").static_login(), fill(&sql, "trading"));
    assert_eq!(role("mysql/trading").static_login(), fill(&sql, "trading"));
    assert_eq!(role("redis/cache").static_login(), fill(&redis, "cache"));
}

use super::*;

fn pg(name: &str) -> DatabaseName {
    DatabaseName::new(Engine::Postgresql, name).unwrap()
}

#[test]
fn users_vault_issued_for_a_namespace_are_told_from_others() {
    let ns = NamespaceName::new("cache").unwrap();
    let role = RoleName::new(Target::Namespace(ns.clone()), "app").unwrap();
    let issued = "V_TOKEN_REDIS-CACHE-APP_ABCDEFGHIJ0123456789_1796450833";
    assert!(role.redis_issued_at(issued).is_some() && ns.issued_for(issued));
    assert!(!ns.issued_for("V_TOKEN_REDIS-CACHE2-APP_ABCDEFGHIJ0123456789_1796450833"));
    assert!(!ns.issued_for("cache-app") && !ns.issued_for("dbaas-cache"));
}

#[test]
fn paths_apps_read_are_made_here() {
    let db = DatabaseName::new(Engine::Postgresql, "shop").unwrap();
    let role = RoleName::new(Target::Database(db.clone()), "app").unwrap();
    assert_eq!(role.creds_path("database", Issuing::Dynamic), "database/creds/postgres-shop-app");
    assert_eq!(role.creds_path("database", Issuing::Static), "database/static-creds/postgres-shop-app");
    let kept = role.keeping_vault_role("legacy-shop").unwrap();
    assert_eq!(kept.creds_path("db", Issuing::Dynamic), "db/creds/legacy-shop");
    assert_eq!(creds_path("database", Issuing::Static, "<role>"), "database/static-creds/<role>");
    let ns = NamespaceName::new("cache").unwrap();
    assert_eq!(ns.password_path("secret"), "secret/data/redis/cache");
    let archive = db.archived("20261205T071500Z");
    assert!(is_archive(&archive) && !is_archive("shop") && archive.len() - "shop".len() == ARCHIVE_SUFFIX_LEN);
}

#[test]
fn database_names() {
    assert!(DatabaseName::new(Engine::Postgresql, "trading").is_ok());
    assert!(DatabaseName::new(Engine::Mysql, "_x1").is_ok());
    for bad in
        ["Trading", "1abc", "a-b", "a b", "a;drop", "", "postgres", "template1", "information_schema", "ä", "pg_x"]
    {
        assert!(DatabaseName::new(Engine::Postgresql, bad).is_err(), "{bad}");
    }
    assert!(DatabaseName::new(Engine::Mysql, "pg_x").is_ok(), "MySQL reserves no pg_ names");
    // As a grant pattern `_` is any character: these would name the platform's own.
    for colliding in ["dbaas_provider", "sy_", "___", "mysq_", "information_schem_"] {
        assert!(DatabaseName::new(Engine::Mysql, colliding).is_err(), "{colliding}");
    }
    assert!(DatabaseName::new(Engine::Postgresql, "dbaas_provider").is_ok(), "PostgreSQL grants are no patterns");
    assert!(DatabaseName::new(Engine::Mysql, "____").is_ok(), "no platform database has four characters");
    // Its logins (`<name>_<8 characters>`) would have the shape of users Vault issues,
    // which any database's issuer may make.
    assert!(DatabaseName::new(Engine::Mysql, "v0123abcd_1764000000").is_err());
    assert!(DatabaseName::new(Engine::Mysql, "v0123abcd_176400000").is_ok(), "nine digits: no issued name starts so");
    assert!(DatabaseName::new(Engine::Postgresql, "v0123abcd_1764000000").is_ok());
    assert!(DatabaseName::new(Engine::Postgresql, &"a".repeat(POSTGRES_MAX_NAME)).is_ok());
    assert!(DatabaseName::new(Engine::Postgresql, &"a".repeat(POSTGRES_MAX_NAME + 1)).is_err());
    assert!(DatabaseName::new(Engine::Mysql, &"a".repeat(MYSQL_MAX_NAME + 1)).is_err());
    assert!(pg(&"a".repeat(POSTGRES_MAX_NAME)).archived("20261122T103512Z").len() <= 63);
}

#[test]
fn ids_round_trip() {
    let role = RoleName::parse_id("postgresql/trading/app").unwrap();
    assert_eq!(role.target, Target::Database(pg("trading")));
    assert_eq!(role.vault_role(), "postgres-trading-app");
    assert_eq!(role.id(), "postgresql/trading/app");
    let redis = RoleName::parse_id("redis/cache-ns/ro").unwrap();
    assert_eq!(redis.target.vault_connection(), "redis-cache-ns");
    assert_eq!(RoleName::parse_id("oracle/x/y"), None);
    assert_eq!(Target::parse("postgresql/a\"b"), None);
    assert_eq!(Target::parse("redis/a--b"), None);
}

#[test]
fn redis_issued_users_are_recognised_from_their_end() {
    let ns = |n: &str| Target::Namespace(NamespaceName::new(n).unwrap());
    let app = RoleName::new(ns("cache"), "app").unwrap();
    let issued = "V_TOKEN_REDIS-CACHE-APP_JIUR0ORRXXNEITENPMC3_1795620930";
    assert_eq!(app.redis_issued_at(issued), Some(1_795_620_930));
    // Display names vary with the login that read the credentials.
    assert_eq!(
        app.redis_issued_at("V_KUBERNETES-APPS-WEB_REDIS-CACHE-APP_JIUR0ORRXXNEITENPMC3_1795620930"),
        Some(1_795_620_930)
    );
    // Another namespace's role whose name ends like this one's, or starts like it.
    for other in [("x-cache", "app"), ("cache", "app-b"), ("cache", "pp")] {
        let role = RoleName::new(ns(other.0), other.1).unwrap();
        assert_eq!(role.redis_issued_at(issued), None, "{other:?}");
    }
    // Cut at 100 characters: the time or the role did not survive, so no match.
    assert_eq!(app.redis_issued_at("V_TOKEN_REDIS-CACHE-APP_JIUR0ORRXXNEITENPMC3_179562"), None);
    assert_eq!(app.redis_issued_at("V_TOKEN_REDIS-CACHE-AP_JIUR0ORRXXNEITENPMC3_1795620930"), None);
    // Not Vault's at all.
    for other in
        ["dbaas-cache", "dbaas-cache--app", "default", "X_TOKEN_REDIS-CACHE-APP_JIUR0ORRXXNEITENPMC3_1795620930"]
    {
        assert_eq!(app.redis_issued_at(other), None, "{other}");
    }
}

#[test]
fn static_logins_never_look_like_group_roles_or_namespace_users() {
    let a = Target::Database(pg("a"));
    for bad in ["x_owner", "owner", "vault", "b_readonly", "x_readwrite"] {
        assert!(RoleName::new(a.clone(), bad).unwrap().check_static().is_err(), "{bad}");
    }
    let app = RoleName::new(a, "app").unwrap();
    assert!(app.check_static().is_ok());
    assert_eq!(app.static_login(), "a_app");
    // Namespace x's role b and namespace x-b's user are different users.
    let x = Target::Namespace(NamespaceName::new("x").unwrap());
    let login = RoleName::new(x, "b").unwrap().static_login();
    assert_eq!(login, "dbaas-x--b");
    assert_ne!(login, NamespaceName::new("x-b").unwrap().user());
    assert!(NamespaceName::new("x--b").is_err());
    assert!(NamespaceName::new("x-").is_err());
    // Namespace x's management user and namespace x-vault's user would be one user.
    assert!(NamespaceName::new("x-vault").is_err());
    assert!(NamespaceName::new("x-vaults").is_ok());
    let x = NamespaceName::new("x").unwrap();
    assert_eq!(NamespaceName::of_user(&x.user()), Some(x.clone()));
    assert_eq!(NamespaceName::of_user(&x.management_user()), None);
    assert_eq!(NamespaceName::of_user("dbaas-x--b"), None);
    assert_eq!(NamespaceName::of_user("default"), None);
    let app = NamespaceName::new("app").unwrap();
    assert_eq!(check_acl_user("dbaas-app", &app), Ok(()));
    assert_eq!(check_acl_user("cache.app@prod", &app), Ok(()));
    for refused in ["", "default", "dbaas-other", "dbaas-app-vault", "two words", "app*", &"a".repeat(129)] {
        assert!(check_acl_user(refused, &app).is_err(), "{refused:?} is refused");
    }
}

#[test]
fn connection_uris_name_the_database_behind_its_endpoint() {
    let pg = DatabaseName::new(Engine::Postgresql, "shop").unwrap();
    assert_eq!(pg.connection_uri("pgbouncer", 5432, "require"), "postgresql://pgbouncer:5432/shop?sslmode=require");
    assert_eq!(pg.connection_uri("::1", 6432, "disable"), "postgresql://[::1]:6432/shop?sslmode=disable");
    let my = DatabaseName::new(Engine::Mysql, "shop").unwrap();
    assert_eq!(my.connection_uri("mysql", 3306, ""), "mysql://mysql:3306/shop");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever name a stack may give a database, every name the provider derives from
        /// it fits the server: PostgreSQL's 63 bytes (group roles, the management login,
        /// the claim role, the archive's name), MySQL's 32-character user names; and what
        /// is accepted is lowercase ASCII, so no server folds it into another name.
        #[test]
        fn every_derived_name_fits_its_server(name in "[a-z_][a-z0-9_]{0,70}") {
            if let Ok(db) = DatabaseName::new(Engine::Postgresql, &name) {
                let roles = db.group_roles();
                for derived in [roles.owner, roles.readwrite, roles.readonly, roles.management,
                                crate::backends::postgres::claim_role(&name), db.archived("20261207T160000Z")] {
                    prop_assert!(derived.len() <= 63, "{derived:?} is longer than PostgreSQL keeps");
                }
                prop_assert!(!name.starts_with("pg_"));
            }
            if let Ok(db) = DatabaseName::new(Engine::Mysql, &name) {
                prop_assert!(db.mysql_management_login().chars().count() <= 32);
                prop_assert!(name.len() <= 64);
            }
            for engine in [Engine::Postgresql, Engine::Mysql] {
                if DatabaseName::new(engine, &name).is_ok() {
                    prop_assert_eq!(name.to_ascii_lowercase(), name.clone());
                }
            }
        }

        /// A MySQL name is refused when, read as a bare grant pattern, it names one of the
        /// server's or the platform's own databases.
        #[test]
        fn no_mysql_name_is_a_pattern_over_a_platform_database(name in "[a-z_][a-z0-9_]{0,20}") {
            let reaches = ["mysql", "information_schema", "performance_schema", "sys", "dbaas-provider"]
                .iter()
                .any(|db| name.len() == db.len() && name.chars().zip(db.chars()).all(|(p, d)| p == '_' || p == d));
            if reaches {
                prop_assert!(DatabaseName::new(Engine::Mysql, &name).is_err(), "{name:?} was accepted");
            }
        }
    }
}
