//! Every backend call ends: on its deadline when a service never answers, on a lock held
//! too long, and at once when Terraform stops the provider. Against the real PostgreSQL
//! (a lock a real session holds) and a TCP black hole (a port that accepts and never
//! answers) in place of each service.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dbaas::backends::deadline::Deadline;
use dbaas::backends::mysql::{Mysql, MysqlEndpoint, MysqlError};
use dbaas::backends::postgres::{Existing, GroupRoles, Postgres, PostgresEndpoint, PostgresError};
use dbaas::backends::redis::{Redis, RedisBackendError, RedisEndpoint};
use dbaas::backends::vault::{Vault, VaultError};
use dbaas::secret::Secret;
use tokio_util::sync::CancellationToken;

/// A port that accepts connections and never says a word; its sockets stay open.
fn black_hole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

fn deadline(timeout: Duration) -> Deadline {
    Deadline { timeout, stop: CancellationToken::new(), service: "test", trips: Default::default() }
}

fn postgres(host_port: u16, deadline: Deadline, lock_timeout: Duration) -> Postgres {
    Postgres::new(PostgresEndpoint {
        host: "127.0.0.1".into(),
        port: host_port,
        username: "postgres".into(),
        password: None,
        sslmode: "disable".into(),
        database: "postgres".into(),
        max_connections: 2,
        pooler_auth_user: None,
        pooler_host: None,
        deadline,
        lock_timeout,
    })
}

fn require_postgres() {
    if TcpStream::connect(("127.0.0.1", 5432)).is_err() {
        panic!("PostgreSQL is not listening on 127.0.0.1:5432: run `make services`");
    }
}

fn psql(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A database of this test's own, whose `pg_extension` a real session holds locked until
/// the guard is dropped: reading its extensions waits on a real lock.
struct LockedDatabase {
    name: String,
    holder: Child,
}

impl LockedDatabase {
    fn new(test: &str) -> LockedDatabase {
        let name = format!("tfdl_{test}_{}", std::process::id());
        psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        let holder = Command::new("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", &name, "-c"])
            .arg("BEGIN; LOCK TABLE pg_extension IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql runs");
        let started = Instant::now();
        while psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = '{name}' AND l.mode = 'AccessExclusiveLock' AND l.granted"
            ),
        ) == "0"
        {
            assert!(started.elapsed() < Duration::from_secs(10), "the lock was never taken");
            std::thread::sleep(Duration::from_millis(20));
        }
        LockedDatabase { name, holder }
    }
}

impl Drop for LockedDatabase {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        psql("postgres", &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
    }
}

#[tokio::test]
async fn a_lock_held_past_lock_timeout_fails_the_statement_on_the_server() {
    require_postgres();
    let locked = LockedDatabase::new("locktimeout");
    let pg = postgres(5432, deadline(Duration::from_secs(30)), Duration::from_millis(300));
    let started = Instant::now();
    let result = pg.extensions(&locked.name).await;
    let waited = started.elapsed();
    match result {
        Err(PostgresError::Sql(sqlx::Error::Database(db))) => {
            assert_eq!(db.code().as_deref(), Some("55P03"), "{db}");
        }
        other => panic!("expected PostgreSQL's lock timeout, got {other:?}"),
    }
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
}

#[tokio::test]
async fn a_lock_held_past_the_deadline_times_out_and_the_server_lets_go() {
    require_postgres();
    let locked = LockedDatabase::new("deadline");
    let pg = postgres(5432, deadline(Duration::from_secs(1)), Duration::from_secs(300));
    let started = Instant::now();
    let result = pg.extensions(&locked.name).await;
    let waited = started.elapsed();
    let message = match result {
        // statement_timeout (the same bound) may fire on the server first.
        Err(e @ PostgresError::TimedOut { .. }) => e.to_string(),
        Err(PostgresError::Sql(sqlx::Error::Database(db))) if db.code().as_deref() == Some("57014") => {
            "timed out".to_owned()
        }
        other => panic!("expected a time-out, got {other:?}"),
    };
    assert!(message.contains("timed out"), "{message}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    // Nothing of ours keeps waiting on the server.
    let started = Instant::now();
    loop {
        let waiting = psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name LIKE 'terraform-provider-dbaas/%'",
                locked.name
            ),
        );
        if waiting == "0" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{waiting} provider session(s) still on the server");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn stop_ends_a_wait_on_a_real_lock_at_once() {
    require_postgres();
    let locked = LockedDatabase::new("stop");
    let stop = CancellationToken::new();
    let pg = postgres(
        5432,
        Deadline { timeout: Duration::from_secs(120), stop: stop.clone(), service: "test", trips: Default::default() },
        Duration::from_secs(300),
    );
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stopper.cancel();
    });
    let started = Instant::now();
    let result = pg.extensions(&locked.name).await;
    assert!(matches!(result, Err(PostgresError::Stopped)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "stop took {:?}", started.elapsed());
}

/// A stack that hangs while it holds the DDL lock of its own database (a provider cut off
/// mid-transaction, as in CI once) makes only that database's DDL wait: another stack
/// creates its roles at once. The lock is `(0x64626464, hashtext(<database>))`.
#[tokio::test]
async fn a_hung_stack_holding_one_databases_lock_blocks_no_other_database() {
    require_postgres();
    let pid = std::process::id();
    let (held, free) = (format!("tfdl_heldlock_{pid}"), format!("tfdl_freelock_{pid}"));
    // The provider locks in its own database (PUBLIC may connect to `postgres` here): the
    // hung stack's session is there. Made as a provider makes it, if none has yet.
    let _ = Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
        .args(["-c", "CREATE DATABASE \"dbaas-provider\" TEMPLATE template0"])
        .args(["-c", "REVOKE ALL ON DATABASE \"dbaas-provider\" FROM PUBLIC"])
        .output();
    let mut holder = Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "dbaas-provider", "-c"])
        .arg(format!("BEGIN; SELECT pg_advisory_xact_lock(x'64626464'::int, hashtext('{held}')); SELECT pg_sleep(60);"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("psql runs");
    let started = Instant::now();
    while psql(
        "postgres",
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = x'64626464'::int::oid AND granted",
    ) == "0"
    {
        assert!(started.elapsed() < Duration::from_secs(10), "the lock was never taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    let roles = |db: &str| GroupRoles {
        owner: format!("{db}_owner"),
        readwrite: format!("{db}_readwrite"),
        readonly: format!("{db}_readonly"),
        management: format!("{db}_vault"),
    };
    let pg = postgres(5432, deadline(Duration::from_secs(20)), Duration::from_millis(500));

    let started = Instant::now();
    let made = pg.ensure_group_roles(&free, &roles(&free), "tfdl", Existing::MustBeMarked).await;
    let took = started.elapsed();
    let blocked = pg.ensure_group_roles(&held, &roles(&held), "tfdl", Existing::MustBeMarked).await;
    let _ = holder.kill();
    let _ = holder.wait();
    psql(
        "postgres",
        &format!(
            "DROP ROLE IF EXISTS {free}_owner, {free}_readwrite, {free}_readonly, {held}_owner, {held}_readwrite, {held}_readonly"
        ),
    );

    assert_eq!(made.expect("the other database's roles are made").len(), 3);
    assert!(took < Duration::from_millis(500), "waited {took:?} on another database's lock");
    match blocked {
        Err(PostgresError::Sql(sqlx::Error::Database(db))) => assert_eq!(db.code().as_deref(), Some("55P03"), "{db}"),
        other => panic!("the held database's DDL should wait for its lock, got {other:?}"),
    }
}

#[tokio::test]
async fn every_backend_times_out_against_a_black_hole_and_says_so() {
    let hole = black_hole();
    let bound = Duration::from_secs(1);
    let quickly = |started: Instant| {
        let waited = started.elapsed();
        assert!(waited >= bound && waited < bound * 4, "waited {waited:?}");
    };

    let started = Instant::now();
    let pg = postgres(hole, deadline(bound), Duration::from_secs(300));
    let e = pg.catalog().await.expect_err("no answer");
    assert!(matches!(e, PostgresError::TimedOut { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{hole} timed out")), "{e}");
    quickly(started);

    let started = Instant::now();
    let my = Mysql::new(MysqlEndpoint {
        host: "127.0.0.1".into(),
        port: hole,
        username: "root".into(),
        password: None,
        tls: "disabled".into(),
        max_connections: 2,
        deadline: deadline(bound),
    });
    let e = my.catalog().await.expect_err("no answer");
    assert!(matches!(e, MysqlError::TimedOut { .. }), "{e:?}");
    quickly(started);

    let started = Instant::now();
    let redis = Redis::new(RedisEndpoint {
        addresses: vec![format!("127.0.0.1:{hole}")],
        username: "default".into(),
        password: None,
        deadline: deadline(bound),
        tls: None,
    });
    let e = redis.list_users().await.expect_err("no answer");
    assert!(matches!(e, RedisBackendError::TimedOut { .. }), "{e:?}");
    quickly(started);

    // One bound for every try: 0.1 made five tries of 30 s each.
    let started = Instant::now();
    let vault = Vault::new(&format!("http://127.0.0.1:{hole}"), Some(Secret::new("root")), None, deadline(bound));
    let e = vault.kv_read("secret", "x").await.expect_err("no answer");
    assert!(matches!(e, VaultError::TimedOut { .. }), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
    quickly(started);
}

#[tokio::test]
async fn stop_ends_calls_to_a_black_hole_at_once() {
    let hole = black_hole();
    let stop = CancellationToken::new();
    let long =
        Deadline { timeout: Duration::from_secs(120), stop: stop.clone(), service: "test", trips: Default::default() };
    let vault = Vault::new(&format!("http://127.0.0.1:{hole}"), None, None, long.clone());
    let redis = Redis::new(RedisEndpoint {
        addresses: vec![format!("127.0.0.1:{hole}")],
        username: "default".into(),
        password: None,
        deadline: long,
        tls: None,
    });
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.cancel();
    });
    let started = Instant::now();
    let (v, r) = tokio::join!(vault.kv_read("secret", "x"), redis.list_users());
    assert!(matches!(v, Err(VaultError::Stopped)), "{v:?}");
    assert!(matches!(r, Err(RedisBackendError::Stopped)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "stop took {:?}", started.elapsed());
    // The black hole really never answered.
    let mut probe = TcpStream::connect(("127.0.0.1", hole)).expect("it accepts");
    probe.set_read_timeout(Some(Duration::from_millis(100))).expect("settable");
    assert!(probe.read(&mut [0u8; 1]).is_err(), "the black hole answered");
}

/// One create against a black hole: its first step times out, and undoing what that step
/// may have made does not wait again in the same operation. The whole create fails within
/// twice the bound (before: once per step and once more per step of undoing), and what may
/// be left comes back as `Incomplete`, for state.
#[tokio::test]
async fn a_create_against_a_black_hole_waits_for_it_once() {
    use dbaas::platform::databases::{DatabaseError, DatabaseSpec, Databases, Server};
    use dbaas::platform::naming::{DatabaseName, Engine};
    use dbaas::platform::settings::{AdminCredentials, PostgresConfig};
    let hole = black_hole();
    let bound = Duration::from_secs(1);
    let pg = postgres(hole, Deadline { service: "postgres", ..deadline(bound) }, Duration::from_secs(300));
    let config = PostgresConfig {
        host: "127.0.0.1".into(),
        port: hole,
        pooled_host: "127.0.0.1".into(),
        pooled_port: hole,
        read: None,
        pooled_read: None,
        admin: AdminCredentials::Given { username: "postgres".into(), password: None },
        sslmode: "disable".into(),
        database: "postgres".into(),
        max_connections: 2,
        pooler_auth_user: None,
        pooler_admin: None,
        templates: Vec::new(),
        extensions: Vec::new(),
        timeout: bound,
        lock_timeout: Duration::from_secs(300),
    };
    let databases = Databases { server: Server::Postgres(&pg, &config), vault: None, pooler: None };
    let name = DatabaseName::new(Engine::Postgresql, "tfacc_deadline_once").unwrap();
    let started = Instant::now();
    let e = dbaas::operation::scope(databases.provision(
        &name,
        &DatabaseSpec::default(),
        &dbaas::platform::claims::Claim::new(),
    ))
    .await
    .expect_err("no answer");
    let waited = started.elapsed();
    assert!(matches!(e, DatabaseError::Incomplete { .. }), "{e:?}");
    assert!(waited >= bound && waited < bound * 2, "waited {waited:?}");
}
