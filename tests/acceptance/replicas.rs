//! The platform's topology: a primary behind the read-write endpoint and replicas behind the
//! read-only one. A test-owned primary and streaming replica (PostgreSQL 15's own binaries,
//! `initdb` and `pg_basebackup -R` as the services' system user), never the shared server.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::util::*;

const BIN: &str = "/usr/lib/postgresql/15/bin";
/// The system user `make services` runs PostgreSQL 17 and 18 as: initdb refuses root.
const SERVER_USER: &str = "dbaas-pg";

/// A primary and its streaming replica, each on a free port, removed on drop.
struct PrimaryAndReplica {
    dir: PathBuf,
    primary: u16,
    replica: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port()
}

fn as_server_user(program: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", SERVER_USER, "--", &format!("{BIN}/{program}")])
        .args(args)
        .output()
        .expect("runuser runs");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}  (run `make services`, which makes {SERVER_USER})",
        text(&out)
    );
}

impl PrimaryAndReplica {
    fn start() -> PrimaryAndReplica {
        let dir = std::env::temp_dir().join(format!("tfacc-replica-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let node = PrimaryAndReplica { dir, primary: free_port(), replica: free_port() };
        let chown = Command::new("chown").args([SERVER_USER]).arg(&node.dir).status().expect("chown runs");
        assert!(chown.success());
        let (primary, replica) = (node.dir.join("primary"), node.dir.join("replica"));
        let (primary_s, replica_s) = (primary.to_string_lossy().into_owned(), replica.to_string_lossy().into_owned());
        as_server_user(
            "initdb",
            &["-D", &primary_s, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
        );
        let conf = |port: u16, data: &PathBuf| {
            format!(
                "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\npassword_encryption = 'scram-sha-256'\nfsync = off\n",
                data.display()
            )
        };
        append(&primary.join("postgresql.conf"), &conf(node.primary, &primary));
        // The admin and replication are trusted; every app login gives its password.
        std::fs::write(
            primary.join("pg_hba.conf"),
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost replication postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        as_server_user("pg_ctl", &["-D", &primary_s, "-l", &format!("{primary_s}/server.log"), "-w", "start"]);
        as_server_user(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &node.primary.to_string(),
                "-U",
                "postgres",
                "-D",
                &replica_s,
                "-R",
                "-X",
                "stream",
            ],
        );
        append(&replica.join("postgresql.conf"), &conf(node.replica, &replica));
        as_server_user("pg_ctl", &["-D", &replica_s, "-l", &format!("{replica_s}/server.log"), "-w", "start"]);
        node
    }
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

impl Drop for PrimaryAndReplica {
    fn drop(&mut self) {
        for data in ["replica", "primary"] {
            let _ = Command::new("runuser")
                .args(["-u", SERVER_USER, "--", &format!("{BIN}/pg_ctl"), "-D"])
                .arg(self.dir.join(data))
                .args(["-m", "immediate", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The catalog offers the replicas: `readonly` credentials issued through the provider
/// (on the primary) read, from the replica, what was written on the primary, and a write
/// there is refused. The read endpoint appears on the database, and is null where the
/// platform configures none.
#[test]
fn readonly_credentials_read_from_the_replica_the_catalog_names() {
    require_services();
    let tf = &terraforms()[0];
    let servers = PrimaryAndReplica::start();
    let c = Cleanup::new("replica");
    let name = c.prefix.clone();
    let main = |read: &str| {
        Stack::default()
            .postgres_direct(servers.primary)
            .vault(&c.mount, "token = \"root\"")
            .main_tf(&format!(
                "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n\
                 resource \"dbaas_rotated_role\" \"reader\" {{\n  database = dbaas_shared_database.db.id\n  name = \"reader\"\n  privileges = \"readonly\"\n}}\n\
                 data \"dbaas_endpoints\" \"this\" {{}}\n\
                 output \"read\" {{ value = [dbaas_shared_database.db.read_host, dbaas_shared_database.db.read_port] }}\n\
                 output \"catalog\" {{ value = [data.dbaas_endpoints.this.postgres.read_host, data.dbaas_endpoints.this.postgres.read_port] }}\n"
            ))
            .replace("    sslmode     = \"disable\"\n", &format!("    sslmode     = \"disable\"\n{read}"))
    };
    // No read endpoint configured: null.
    let ws = Workspace::new(tf, "replica", &main(""));
    ws.init();
    ws.apply();
    assert_eq!(ws.outputs()["read"]["value"], json!([null, null]));
    assert_eq!(ws.outputs()["catalog"]["value"], json!([null, null]));

    // The platform names its replicas: every database offers them, in place.
    ws.write_main(&main(&format!("    read_host   = \"127.0.0.1\"\n    read_port   = {}\n", servers.replica)));
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(!plan.contains("must be replaced"), "{plan}");
    ws.apply();
    ws.assert_plan_empty();
    assert_eq!(ws.outputs()["read"]["value"], json!(["127.0.0.1", servers.replica]));
    assert_eq!(ws.outputs()["catalog"]["value"], json!(["127.0.0.1", servers.replica]));

    // Written on the primary as the owner group, as a migration would.
    psql_on(
        servers.primary,
        &name,
        &format!("SET ROLE \"{name}_owner\"; CREATE TABLE prices (id int); INSERT INTO prices VALUES (1), (2)"),
    );
    let creds = vault("GET", &format!("{}/creds/postgres-{name}-reader", c.mount), None);
    let (user, password) = (creds["data"]["username"].as_str().unwrap(), creds["data"]["password"].as_str().unwrap());
    // Streaming replication is asynchronous: the rows and the login arrive in a moment.
    let started = std::time::Instant::now();
    let read = loop {
        match psql_as(servers.replica, user, password, &name, "SELECT count(*) FROM prices") {
            Ok(rows) if rows == "2" => break rows,
            other if started.elapsed() > std::time::Duration::from_secs(15) => {
                panic!("the replica never served: {other:?}")
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    assert_eq!(read, "2");
    let write = psql_as(servers.replica, user, password, &name, "INSERT INTO prices VALUES (3)").unwrap_err();
    assert!(write.contains("read-only transaction") || write.contains("permission denied"), "{write}");
    ws.destroy();
}

/// The platform's read-write service (CloudNativePG's `-rw`): a TCP relay to whichever
/// server it points at. Pointing it elsewhere closes every connection it carried, as the
/// old primary going away does.
struct ReadWriteService {
    port: u16,
    upstream: std::sync::Arc<std::sync::atomic::AtomicU16>,
    carried: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl ReadWriteService {
    fn to(primary: u16) -> ReadWriteService {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let upstream = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(primary));
        let carried = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (to, kept) = (upstream.clone(), carried.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", to.load(Ordering::SeqCst))) else {
                    continue;
                };
                let mut kept = kept.lock().unwrap();
                kept.extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || copy(c2, s2));
                std::thread::spawn(move || copy(server, client));
            }
        });
        ReadWriteService { port, upstream, carried }
    }

    fn point_at(&self, server: u16) {
        self.upstream.store(server, std::sync::atomic::Ordering::SeqCst);
        for s in self.carried.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn copy(mut from: std::net::TcpStream, mut to: std::net::TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

/// What an apply in flight made of a failover.
struct Failover {
    /// How long after the primary died the replica was promoted.
    promoted: std::time::Duration,
    /// When the apply in flight ended, after the primary died.
    ended: std::time::Duration,
    /// `None` when it succeeded; else its errors.
    errors: Option<Vec<String>>,
    /// How often the provider found the replica where the primary should be, and retried.
    retried_on_replica: usize,
    /// How long the next apply took to converge.
    converged: std::time::Duration,
}

/// The primary dies in the middle of an apply of several databases and roles; for `hold`
/// the read-write service reaches the replica, still in recovery, which is then promoted.
/// The apply succeeds or fails with a clear error within its bound; one more apply
/// converges, the plan is empty, and credentials Vault issues through its unchanged
/// connections log in on the new primary.
fn failover_during_apply(test: &str, hold: std::time::Duration) -> Failover {
    use std::time::{Duration, Instant};
    let tf = &terraforms()[0];
    let servers = PrimaryAndReplica::start();
    let service = ReadWriteService::to(servers.primary);
    let c = Cleanup::new(test);
    let names: Vec<String> = (0..4).map(|i| format!("{}_{i}", c.prefix)).collect();
    let resources: String = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            format!(
                "resource \"dbaas_shared_database\" \"db{i}\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n\
                 resource \"dbaas_rotated_role\" \"app{i}\" {{\n  database = dbaas_shared_database.db{i}.id\n  name = \"app\"\n}}\n"
            )
        })
        .collect();
    let main = Stack::default()
        .postgres_direct(service.port)
        .vault(&c.mount, "token = \"root\"")
        .main_tf(&resources)
        .replace("    sslmode     = \"disable\"\n", "    sslmode     = \"disable\"\n    timeout     = \"10s\"\n");
    let ws = Workspace::new(tf, test, &main).env("TF_LOG_PROVIDER", "WARN");
    ws.init();

    let started = Instant::now();
    let apply = ws
        .command(&["apply", "-auto-approve", "-no-color", "-input=false"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("terraform runs");
    // Once the first database exists on the primary, the primary dies.
    let made = || {
        psql_on(
            servers.primary,
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{}%'", c.prefix),
        )
    };
    while made() == "0" {
        assert!(started.elapsed() < Duration::from_secs(60), "the apply made no database");
        std::thread::sleep(Duration::from_millis(20));
    }
    let failed_at = Instant::now();
    as_server_user("pg_ctl", &["-D", &servers.dir.join("primary").to_string_lossy(), "-m", "immediate", "stop"]);
    service.point_at(servers.replica);
    std::thread::sleep(hold);
    as_server_user("pg_ctl", &["-D", &servers.dir.join("replica").to_string_lossy(), "-w", "promote"]);
    let promoted = failed_at.elapsed();
    let out = apply.wait_with_output().expect("terraform ends");
    let ended = failed_at.elapsed();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let retried_on_replica =
        said.lines().filter(|l| l.contains("retrying") && l.contains("replica in recovery")).count();
    let errors = (!out.status.success()).then(|| {
        // Each error: its summary and its detail, on one line (Terraform wraps them).
        let errors: Vec<String> = said
            .split("\nError: ")
            .skip(1)
            .map(|block| {
                let mut lines = block.lines();
                let summary = lines.next().unwrap_or_default();
                let detail: Vec<&str> = lines
                    .skip_while(|l| l.trim().is_empty() || l.starts_with("  "))
                    .take_while(|l| !l.trim().is_empty())
                    .collect();
                format!("Error: {summary}: {}", detail.join(" "))
            })
            .collect();
        assert!(!errors.is_empty(), "a failed apply says why: {said}");
        for error in &errors {
            assert!(
                // What exists after the failure is named: kept in state, removed by the next apply.
                [
                    "PostgreSQL is failing over",
                    "timed out",
                    "Cannot connect to PostgreSQL",
                    "Database is gone",
                    "left half made",
                    // Vault could not reach the server to check the connection it was given.
                    "error verifying connection",
                ]
                .iter()
                .any(|clear| error.starts_with(&format!("Error: {clear}")) || error.contains(clear)),
                "not a clear error: {error}\n{said}"
            );
        }
        errors
    });
    assert!(ended < hold + Duration::from_secs(60), "the apply ended {ended:?} after the failover");

    eprintln!(
        "{test}: the apply in flight {}",
        errors.as_ref().map_or("succeeded".to_owned(), |e| format!("failed:\n  {}", e.join("\n  ")))
    );
    // One more apply converges on the new primary; the plan is then empty.
    let again = Instant::now();
    ws.apply();
    let converged = again.elapsed();
    ws.assert_plan_empty();
    for name in &names {
        let creds = vault("GET", &format!("{}/creds/postgres-{name}-app", c.mount), None);
        let (user, password) = (
            creds["data"]["username"].as_str().unwrap_or_else(|| panic!("Vault issues for {name}: {creds}")),
            creds["data"]["password"].as_str().unwrap(),
        );
        assert_eq!(psql_as(service.port, user, password, name, "SELECT pg_is_in_recovery()").as_deref(), Ok("f"));
    }
    ws.destroy();
    Failover { promoted, ended, errors, retried_on_replica, converged }
}

/// A failover the provider's retries bridge: the apply in flight goes on, or, on a slow
/// machine, says clearly that PostgreSQL is failing over.
#[test]
fn a_quick_failover_in_the_middle_of_an_apply_converges() {
    require_services();
    let f = failover_during_apply("failover1", std::time::Duration::from_secs(1));
    eprintln!(
        "quick failover: promoted {:?} after the primary died; the apply in flight {} {:?} after, having retried {} time(s) on the replica; the next apply converged in {:?}",
        f.promoted,
        f.errors.as_ref().map_or("succeeded".to_owned(), |e| format!("failed ({})", e.join(" | "))),
        f.ended,
        f.retried_on_replica,
        f.converged
    );
}

/// A failover longer than the retries: the apply in flight stops with "PostgreSQL is
/// failing over", what it made is in state, and the next apply converges.
#[test]
fn a_slow_failover_in_the_middle_of_an_apply_fails_clearly_and_converges() {
    require_services();
    let f = failover_during_apply("failover6", std::time::Duration::from_secs(6));
    eprintln!(
        "slow failover: promoted {:?} after the primary died; the apply in flight {} {:?} after, having retried {} time(s) on the replica; the next apply converged in {:?}",
        f.promoted,
        f.errors.as_ref().map_or("succeeded".to_owned(), |e| format!("failed ({})", e.join(" | "))),
        f.ended,
        f.retried_on_replica,
        f.converged
    );
    assert!(f.retried_on_replica > 0, "the provider met the replica and retried");
    let errors = f.errors.expect("six seconds outlast the retries");
    assert!(errors.iter().any(|e| e.contains("PostgreSQL is failing over")), "{errors:?}");
}

/// Apps hold credentials on a database while its primary dies and the replica is promoted
/// behind the read-write address, as CloudNativePG fails over: their sessions to the old
/// primary break (counted apart, in the step "failover"), each app's pool logs in again with
/// the credential it holds, and from then on no query fails and no renewal is lost (the
/// dynamic credentials live 20 s, so they renew through Vault's connection to the new
/// primary). An apply after converges with an empty plan, and the destroy revokes every user
/// issued to the apps.
#[test]
fn apps_ride_out_a_failover_and_never_notice_after_it() {
    use crate::harness::{App, Apps};
    use std::time::{Duration, Instant};
    require_services();
    let tf = &terraforms()[0];
    let servers = PrimaryAndReplica::start();
    let service = ReadWriteService::to(servers.primary);
    let c = Cleanup::new("failapps");
    let name = c.prefix.clone();
    let main = Stack::default().postgres_direct(service.port).vault(&c.mount, "token = \"root\"").main_tf(&format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n\
         resource \"dbaas_rotated_role\" \"app\" {{\n  database = dbaas_shared_database.db.id\n  name = \"app\"\n  default_ttl = \"20s\"\n  max_ttl = \"1h\"\n}}\n\
         resource \"dbaas_rotated_role\" \"pool\" {{\n  database = dbaas_shared_database.db.id\n  name = \"pool\"\n  mode = \"static\"\n  privileges = \"owner\"\n}}\n"
    ));
    let ws = Workspace::new(tf, "failapps", &main);
    ws.init();
    ws.apply();
    // The app's migration, as its owner login; the replica has it before anything fails.
    let static_path = format!("{}/static-creds/postgres-{name}-pool", c.mount);
    let owner = vault("GET", &static_path, None);
    let (login, password) = (
        owner["data"]["username"].as_str().expect("static login"),
        owner["data"]["password"].as_str().expect("password"),
    );
    psql_as(service.port, login, password, &name, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)")
        .unwrap_or_else(|e| panic!("the owner's migration: {e}"));
    let query = "SELECT count(*) FROM orders";
    let running = Apps::start(
        "failover",
        vec![
            App::postgres("app", &format!("{}/creds/postgres-{name}-app", c.mount), service.port, &name, query),
            App::postgres("pool", &static_path, service.port, &name, query),
        ],
    );
    let caught_up = Instant::now();
    let primary_lsn = psql_on(servers.primary, "postgres", "SELECT pg_current_wal_lsn()");
    while psql_on(servers.replica, "postgres", &format!("SELECT pg_last_wal_replay_lsn() >= '{primary_lsn}'::pg_lsn"))
        != "t"
    {
        assert!(caught_up.elapsed() < Duration::from_secs(30), "the replica never caught up");
        std::thread::sleep(Duration::from_millis(50));
    }

    running.step("failover");
    as_server_user("pg_ctl", &["-D", &servers.dir.join("primary").to_string_lossy(), "-m", "immediate", "stop"]);
    service.point_at(servers.replica);
    as_server_user("pg_ctl", &["-D", &servers.dir.join("replica").to_string_lossy(), "-w", "promote"]);
    // Long enough for every pooled session to have failed once and been replaced.
    std::thread::sleep(Duration::from_secs(3));
    running.step("after the failover");
    ws.apply();
    ws.assert_plan_empty();
    std::thread::sleep(Duration::from_secs(12));
    let report = running.stop();
    let after: Vec<_> = report.steps.iter().filter(|s| s.name != "failover" && s.failed > 0).collect();
    assert!(after.is_empty(), "the apps noticed beyond the failover itself:\n{}", report.table());
    assert_eq!(report.lost_renewals(), 0, "a renewal was lost:\n{}", report.table());
    assert!(report.renewals() >= 1, "no credential renewed through the new primary:\n{}", report.table());
    ws.destroy();
    let left = report.left_on_servers();
    assert!(left.is_empty(), "users issued to the apps outlived the destroy: {left:?}");
}

/// The provider's own database is trusted only as a superuser's, closed to every login but
/// admins. On a server of the story's own (so the shared servers' `dbaas-provider` stays as
/// it is): a team's admin (a `CREATEDB CREATEROLE` login) made it first and owns it, so it
/// could let a tenant in or close it to every stack; the superuser's provider refuses it,
/// naming the owner and the statement that puts it right, and changes nothing. Given to a
/// superuser and closed, it is used. A team admin whose provider finds none is told to have
/// a superuser make it, rather than making one it would own.
#[test]
fn the_providers_database_is_used_only_as_a_superusers_closed_to_tenants() {
    require_services();
    let tf = &terraforms()[0];
    let servers = PrimaryAndReplica::start();
    let c = Cleanup::new("provdb");
    let port = servers.primary;
    let (admin, password) = (format!("{}_team", c.prefix), format!("pw-{}", std::process::id()));
    psql_on(port, "postgres", &format!("CREATE ROLE \"{admin}\" LOGIN CREATEDB CREATEROLE PASSWORD '{password}'"));
    let name = format!("{}_db", c.prefix);
    let database = format!(
        "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n"
    );
    let made = || psql_on(port, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"));
    let flat = |out: String| out.split_whitespace().collect::<Vec<_>>().join(" ");

    // A team admin's provider finds none: it does not make one it would own.
    let team = Workspace::new(
        tf,
        "provdbteam",
        &Stack::default()
            .postgres_direct_as(port, &admin, &password)
            .vault(&c.mount, "token = \"root\"")
            .main_tf(&database),
    );
    team.init();
    let refused = flat(team.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]));
    assert!(refused.contains("\"dbaas-provider\", which does not exist"), "{refused}");
    assert_eq!(psql_on(port, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'dbaas-provider'"), "0");

    // The team admin makes it by hand: the superuser's provider refuses it.
    psql_as(port, &admin, &password, "postgres", "CREATE DATABASE \"dbaas-provider\"")
        .expect("a CREATEDB login makes it");
    let platform = Workspace::new(
        tf,
        "provdbsuper",
        &Stack::default().postgres_direct(port).vault(&c.mount, "token = \"root\"").main_tf(&database),
    );
    platform.init();
    let refused = flat(platform.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]));
    assert!(refused.contains(&format!("which \"{admin}\" owns, not a superuser")), "{refused}");
    assert!(refused.contains("ALTER DATABASE \"dbaas-provider\" OWNER TO postgres"), "{refused}");
    assert_eq!(made(), "0", "a refused apply made the database");

    // Given to a superuser, it is closed and used.
    psql_on(port, "postgres", "ALTER DATABASE \"dbaas-provider\" OWNER TO postgres");
    platform.apply();
    assert_eq!(made(), "1");
    assert_eq!(
        psql_on(port, "postgres", "SELECT has_database_privilege('public', 'dbaas-provider', 'CONNECT')"),
        "f",
        "PUBLIC may still connect to the provider's database"
    );
    platform.destroy();
}
