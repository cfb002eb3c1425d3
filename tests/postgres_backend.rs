//! The PostgreSQL backend against the real server: the connection cap holds across
//! databases, and waiting for a connection never deadlocks.

use std::sync::Arc;
use std::time::Duration;

use dbaas::backends::postgres::{Postgres, PostgresEndpoint};

fn admin(max_connections: u32) -> Postgres {
    if std::net::TcpStream::connect(("127.0.0.1", 5432)).is_err() {
        panic!("PostgreSQL is not listening on 127.0.0.1:5432: run `make services`");
    }
    Postgres::new(PostgresEndpoint {
        host: "127.0.0.1".into(),
        port: 5432,
        username: "postgres".into(),
        password: None,
        sslmode: "disable".into(),
        database: "postgres".into(),
        max_connections,
        pooler_auth_user: None,
        pooler_host: None,
        deadline: Default::default(),
        lock_timeout: std::time::Duration::from_secs(300),
    })
}

/// What the server lists for this test process's connections.
fn application_name() -> String {
    format!("{}/{}", dbaas::backends::postgres::APPLICATION_NAME, std::process::id())
}

/// The stories here count this process's connections on the server: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_work_than_connections_across_databases_completes() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = Arc::new(admin(2));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let pg = pg.clone();
            tokio::spawn(async move {
                let database = if i % 2 == 0 { "postgres" } else { "template1" };
                let mut c = pg.connect(database).await.unwrap();
                // The server's own count, not the semaphore's: evictions wait for the
                // server to let go before a new connection opens.
                let ours: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                    .bind(application_name())
                    .fetch_one(&mut *c)
                    .await
                    .unwrap();
                assert!(ours <= 2, "the server lists {ours} connections of ours, over the cap of 2");
                let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *c).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                pg.release(c).await;
                one
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(20), futures::future::join_all(tasks))
        .await
        .expect("connection waiters deadlocked");
    assert!(all.into_iter().all(|r| r.unwrap() == 1));
}

#[tokio::test]
async fn the_cap_holds_across_databases() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = admin(2);
    let a = pg.connect("postgres").await.unwrap();
    let b = pg.connect("template1").await.unwrap();
    // A third, to a third database, waits until one is given back.
    let third = tokio::time::timeout(Duration::from_millis(300), pg.connect("postgres")).await;
    assert!(third.is_err(), "a third connection opened past the cap of 2");
    pg.release(a).await;
    let c =
        tokio::time::timeout(Duration::from_secs(5), pg.connect("template1")).await.expect("waited forever").unwrap();
    drop((b, c));
}

#[tokio::test]
async fn connections_the_server_ended_are_replaced() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = admin(2);
    pg.catalog().await.expect("a first call");
    // As a restart or a failover would: the server ends every session of ours.
    let ended = std::process::Command::new("psql")
        .args(["-X", "-q", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"])
        .arg(format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{}'",
            application_name()
        ))
        .output()
        .expect("psql runs");
    // One in the configured database, and (PUBLIC may connect there) one in the provider's own.
    assert_ne!(String::from_utf8_lossy(&ended.stdout).trim(), "0", "no idle connection was ended");
    let extensions = pg.extensions("postgres").await.expect("the next call reconnects");
    // What a fresh connection reads: every database has plpgsql from its template.
    assert!(extensions.contains("plpgsql"), "{extensions:?}");
}

/// After this process changes the catalog, reading one database back asks the server for
/// that database and its roles only: an apply creating many databases must not reload
/// every database and role on a shared server after each one.
#[tokio::test]
async fn after_ddl_one_database_is_read_back_alone() {
    use dbaas::backends::postgres::{Existing, GroupRoles, NewDatabase};
    let _alone = ONE_AT_A_TIME.lock().await;
    let pg = admin(2);
    let name = format!(
        "catread_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 1_000_000
    );
    let roles = GroupRoles {
        owner: format!("{name}_owner"),
        readwrite: format!("{name}_readwrite"),
        readonly: format!("{name}_readonly"),
        management: format!("{name}_vault"),
    };
    // A full snapshot first: it lists the server's own databases, and not ours yet.
    let before = pg.catalog().await.unwrap();
    assert!(before.databases.contains_key("postgres") && !before.databases.contains_key(&name));
    pg.ensure_group_roles(&name, &roles, "catread test", Existing::MustBeMarked).await.unwrap();
    let new = NewDatabase {
        name: name.clone(),
        encoding: None,
        lc_collate: None,
        lc_ctype: None,
        template: None,
        connection_limit: -1,
        roles: roles.clone(),
    };
    pg.create_database(&new).await.unwrap();
    let read = pg.catalog_of(&[&name], &[&roles.owner, &roles.readonly]).await;
    let full = pg.catalog().await;
    pg.drop_database(&name, &roles, &[roles.owner.clone(), roles.readwrite.clone(), roles.readonly.clone()], true)
        .await
        .unwrap();
    let read = read.unwrap();
    assert_eq!(read.databases.keys().collect::<Vec<_>>(), vec![&name], "read back more than the one database");
    assert_eq!(read.databases[&name].owner, roles.owner);
    assert_eq!(read.roles.len(), 2, "{:?}", read.roles);
    // The full snapshot taken before the change is not served after it.
    let full = full.unwrap();
    assert!(full.databases.contains_key(&name) && full.databases.contains_key("postgres"));
}

/// A password set as the verifier the provider computes logs in with the password itself,
/// checked where passwords are checked here: PgBouncer's SCRAM against `pg_shadow` (the
/// local server trusts 127.0.0.1). Another password is refused.
#[tokio::test]
async fn a_login_set_by_scram_verifier_accepts_its_password_only() {
    use dbaas::backends::password;
    use sqlx::{Connection, Executor};
    if std::net::TcpStream::connect(("127.0.0.1", 6432)).is_err() {
        panic!("PgBouncer is not listening on 127.0.0.1:6432: run `make services`");
    }
    let login = format!(
        "scram_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000
    );
    let secret = password::generate();
    let verifier = password::scram_sha_256_verifier(&secret);
    let mut admin =
        sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable").await.unwrap();
    admin.execute(format!("CREATE ROLE \"{login}\" LOGIN PASSWORD '{}'", verifier.expose()).as_str()).await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT passwd FROM pg_shadow WHERE usename = $1")
        .bind(&login)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let through_pooler = |pw: &str| {
        sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(6432)
            .username(&login)
            .password(pw)
            .database("postgres")
            .ssl_mode(sqlx::postgres::PgSslMode::Disable)
    };
    let right = sqlx::PgConnection::connect_with(&through_pooler(secret.expose())).await;
    let wrong = sqlx::PgConnection::connect_with(&through_pooler("not-the-password")).await;
    admin.execute(format!("DROP ROLE \"{login}\"").as_str()).await.unwrap();
    assert_eq!(stored, verifier.expose(), "the server stored something else than the verifier");
    let right = right.expect("the password was refused");
    right.close().await.unwrap();
    assert!(wrong.is_err(), "another password logged in");
}
