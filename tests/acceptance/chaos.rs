//! Faults in the middle of an apply, against the real services: the network to PostgreSQL
//! cut at three points of a create (a relay in front of the shared server that stops
//! answering the moment a chosen statement has gone through), and a stack's own Redis
//! restarted. Every story asserts a clear error within its bound, that one more apply
//! converges, an empty plan, state that matches the server, and nothing left after
//! destroy. None of them stops a shared service, so they run alongside the other stories.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::*;

/// A TCP relay to a real service that can go silent: once cut, it forwards nothing in
/// either direction and accepts new connections without answering them, as a partition
/// or a hung server would; sockets stay open. Restoring closes what was cut (the server
/// sees its client gone) and relays new connections again.
struct Relay {
    port: u16,
    state: Arc<RelayState>,
}

#[derive(Default)]
struct RelayState {
    cut: AtomicBool,
    /// Go silent once the server has answered a client's message holding these bytes.
    trigger: Mutex<Option<Vec<u8>>>,
    /// The trigger went through: the server's next reply is the last one relayed.
    armed: AtomicBool,
    /// Sockets of connections made or cut while silent, closed on restore.
    silenced: Mutex<Vec<TcpStream>>,
}

impl Relay {
    fn to(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let state = Arc::new(RelayState::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || relay(client, upstream, &state));
            }
        });
        Relay { port, state }
    }

    /// Goes silent once the server has answered the first message that holds `needle`.
    fn cut_after(&self, needle: &str) {
        *self.state.trigger.lock().unwrap() = Some(needle.as_bytes().to_vec());
    }

    fn restore(&self) {
        *self.state.trigger.lock().unwrap() = None;
        self.state.cut.store(false, Ordering::SeqCst);
        for s in self.state.silenced.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn was_cut(&self) -> bool {
        self.state.cut.load(Ordering::SeqCst)
    }
}

fn relay(client: TcpStream, upstream: u16, state: &Arc<RelayState>) {
    if state.cut.load(Ordering::SeqCst) {
        state.silenced.lock().unwrap().push(client);
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
    for s in [&client, &server] {
        state.silenced.lock().unwrap().push(s.try_clone().expect("clonable"));
    }
    let (c2, s2) = (client.try_clone().expect("clonable"), server.try_clone().expect("clonable"));
    let st = state.clone();
    std::thread::spawn(move || pump(c2, s2, &st, true));
    pump(server, client, state, false);
}

/// Copies `from` to `to` until either closes, then closes both (so the server sees a
/// client that went away); while cut, reads and drops. Client bytes are watched for the
/// trigger.
fn pump(mut from: TcpStream, mut to: TcpStream, state: &Arc<RelayState>, from_client: bool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
                return;
            }
            Ok(n) => n,
        };
        if state.cut.load(Ordering::SeqCst) {
            continue;
        }
        if from_client {
            let mut trigger = state.trigger.lock().unwrap();
            if trigger.as_ref().is_some_and(|needle| buf[..n].windows(needle.len()).any(|w| w == needle.as_slice())) {
                *trigger = None;
                state.armed.store(true, Ordering::SeqCst);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
        if !from_client && state.armed.swap(false, Ordering::SeqCst) {
            state.cut.store(true, Ordering::SeqCst);
        }
    }
}

fn postgres_stack(port: u16, name: &str) -> String {
    Stack::default().postgres(port, "timeout = \"10s\"").main_tf(&format!(
        "resource \"dbaas_shared_database\" \"this\" {{\n  name            = \"{name}\"\n  engine          = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n"
    ))
}

fn count(sql: &str) -> String {
    psql("postgres", sql)
}

/// The network to PostgreSQL goes silent right after `statement` (the database's name
/// filled in) has been sent: the apply fails with "timed out" within its bound, whatever
/// exists is in state (tainted) or named, the next apply converges, destroy leaves nothing.
fn postgres_cut_after(test: &str, statement: &dyn Fn(&str) -> String, database_made: bool) {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new(test);
    let name = c.prefix.clone();
    let relay = Relay::to(5432);
    let ws = Workspace::new(tf, test, &postgres_stack(relay.port, &name));
    ws.init();
    relay.cut_after(&statement(&name));

    let started = Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    let took = started.elapsed();
    assert!(relay.was_cut(), "the statement never went through: {out}");
    assert!(out.contains("timed out") && out.contains("postgres.timeout"), "{out}");
    // Each step, and each step of undoing, waits at most 10 s.
    assert!(took < Duration::from_secs(60), "the failed apply took {took:?}");

    // What the server has is what state (or the error) says.
    relay.restore();
    let exists = count(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")) == "1";
    let in_state = ws.ok(&["state", "list"]).contains("dbaas_shared_database.this");
    assert_eq!(exists, database_made, "{out}");
    if exists {
        let shown = ws.ok(&["state", "show", "-no-color", "dbaas_shared_database.this"]);
        assert!(shown.contains("(tainted)"), "a half-made database must be replaced: {shown}");
        assert!(in_state, "the database exists but is not in state:\n{out}");
        assert!(out.contains("Database left half made") && out.contains(&name), "not named: {out}");
    }
    if !in_state {
        let roles = count(&format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{name}\\_%'"));
        assert_eq!(roles, "0", "roles exist that neither state nor the error names:\n{out}");
    }

    // One more apply converges.
    ws.apply();
    ws.assert_plan_empty();
    assert_eq!(count(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "1");
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('{name}_owner', '{name}_readwrite', '{name}_readonly')"
        )),
        "3"
    );

    ws.destroy();
    assert_eq!(count(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
    assert_eq!(count(&format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{name}\\_%'")), "0", "roles left");
}

#[test]
fn postgres_cut_while_the_group_roles_are_made() {
    postgres_cut_after("chaosroles", &|name| format!("CREATE ROLE {name}_owner"), false);
}

#[test]
fn postgres_cut_right_after_create_database() {
    postgres_cut_after("chaoscreate", &|name| format!("CREATE DATABASE {name} "), true);
}

#[test]
fn postgres_cut_while_privileges_are_granted() {
    postgres_cut_after("chaosgrant", &|name| format!("ON DATABASE {name} FROM PUBLIC"), true);
}

fn redis_stack(c: &Cleanup, primary: u16, replica: u16, namespace: &str) -> String {
    redis_stack_with(c, &format!("addresses = [\"127.0.0.1:{primary}\", \"127.0.0.1:{replica}\"]"), namespace)
}

/// A namespace and a role on it, with `redis` as the Redis block's settings.
fn redis_stack_with(c: &Cleanup, redis: &str, namespace: &str) -> String {
    Stack::default().redis(redis).vault(&c.mount, "token = \"root\"").main_tf(&format!(
        "resource \"dbaas_redis_namespace\" \"cache\" {{\n  name = \"{namespace}\"\n}}\nresource \"dbaas_rotated_role\" \"app\" {{\n  database = dbaas_redis_namespace.cache.id\n  name     = \"app\"\n}}\n"
    ))
}

/// Redis keeps nothing on disk: a restart of the primary, then of the replica, loses every
/// ACL user on it. Each time the plan shows it, one apply repairs everything, the rotated
/// role on the namespace included, and Vault issues working users again.
#[test]
fn redis_primary_and_replica_restarts_are_repaired_in_one_apply() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("chaosredis");
    let namespace = c.prefix.replace('_', "-");
    let _kv = crate::redis_namespace::RedisCleanup(namespace.clone());
    let primary = OwnRedis::start(None);
    let replica = OwnRedis::start(Some(primary.port));
    let ws = Workspace::new(tf, "chaosredis", &redis_stack(&c, primary.port, replica.port, &namespace));
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let user = format!("dbaas-{namespace}");
    let issue = || {
        let creds = vault("GET", &format!("{}/creds/redis-{namespace}-app", c.mount), None);
        let (u, p) = (creds["data"]["username"].as_str(), creds["data"]["password"].as_str());
        assert!(u.is_some() && p.is_some(), "Vault issued nothing: {creds}");
        assert!(primary.auth(u.unwrap(), p.unwrap()), "an issued user cannot log in: {creds}");
    };
    issue();

    for (node, which) in [(&primary, "primary"), (&replica, "replica")] {
        node.restart();
        assert!(!node.users().contains(&user), "{which}: the restart kept the user");
        let out = ws.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
        assert_eq!(out.status.code(), Some(2), "{which}: the plan does not show the loss:\n{}", text(&out));
        ws.apply();
        ws.assert_plan_empty();
        let password = crate::redis_namespace::kv_password(&namespace);
        assert!(primary.auth(&user, &password) && replica.auth(&user, &password), "{which}: user not repaired");
        issue();
    }

    ws.destroy();
    for node in [&primary, &replica] {
        assert!(!node.users().contains(&namespace), "users left: {}", node.users());
    }
    assert!(vault("GET", &format!("secret/data/redis/{namespace}"), None)["data"].is_null(), "KV secret left");
}

/// Ctrl-C in the middle of an apply that waits on a silent PostgreSQL (its deadline two
/// minutes away): Terraform tells the provider to stop, every wait ends at once, what
/// exists is kept in state, and the next apply converges.
#[test]
fn sigint_during_an_apply_stops_the_wait_and_keeps_what_exists_in_state() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("chaosint");
    let name = c.prefix.clone();
    let relay = Relay::to(5432);
    let ws = Workspace::new(
        tf,
        "chaosint",
        &postgres_stack(relay.port, &name).replace("timeout = \"10s\"", "timeout = \"120s\""),
    );
    ws.init();
    relay.cut_after(&format!("CREATE DATABASE {name} "));
    let apply = ws
        .command(&["apply", "-auto-approve", "-no-color", "-input=false"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("terraform runs");
    let started = Instant::now();
    while !relay.was_cut() {
        assert!(started.elapsed() < Duration::from_secs(60), "the apply never reached CREATE DATABASE");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let interrupted = Instant::now();
    let pid = apply.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = apply.wait_with_output().expect("terraform ends");
    let took = interrupted.elapsed();
    let out = text(&out);
    assert!(took < Duration::from_secs(20), "Terraform took {took:?} to stop:\n{out}");
    assert!(out.contains("Stopped") && out.contains("asked the provider to stop"), "{out}");

    relay.restore();
    assert_eq!(count(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "1");
    assert!(ws.ok(&["state", "list"]).contains("dbaas_shared_database.this"), "the database is not in state:\n{out}");
    ws.apply();
    ws.assert_plan_empty();
    ws.destroy();
    assert_eq!(count(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
    assert_eq!(count(&format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{name}\\_%'")), "0", "roles left");
}

/// Four stacks, each with a PostgreSQL and a MySQL database, a Redis namespace and roles
/// on all three, applying at the same moment and then destroying at the same moment.
#[test]
fn four_stacks_applying_and_destroying_at_once() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("chaosfour");
    let stacks: Vec<(Workspace, String)> = (0..4)
        .map(|i| {
            let name = format!("{}s{i}", c.prefix);
            let namespace = name.replace('_', "-");
            let main = Stack::default()
                .postgres(5432, "")
                .mysql()
                .redis("addresses = [\"127.0.0.1:6379\"]")
                .vault(&c.mount, "token = \"root\"")
                .main_tf(&format!(
                    r#"
resource "dbaas_shared_database" "pg" {{
  name            = "{name}"
  engine          = "postgresql"
  deletion_policy = "drop"
}}
resource "dbaas_shared_database" "my" {{
  name            = "{name}"
  engine          = "mysql"
  deletion_policy = "drop"
}}
resource "dbaas_redis_namespace" "ns" {{
  name = "{namespace}"
}}
resource "dbaas_rotated_role" "pg" {{
  database = dbaas_shared_database.pg.id
  name     = "app"
}}
resource "dbaas_rotated_role" "my" {{
  database = dbaas_shared_database.my.id
  name     = "app"
}}
resource "dbaas_rotated_role" "ns" {{
  database = dbaas_redis_namespace.ns.id
  name     = "app"
}}
"#
                ));
            let ws = Workspace::new(tf, "chaosfour", &main);
            ws.init();
            (ws, name)
        })
        .collect();
    let _kv: Vec<_> = stacks.iter().map(|(_, n)| crate::redis_namespace::RedisCleanup(n.replace('_', "-"))).collect();

    std::thread::scope(|s| {
        for (ws, _) in &stacks {
            s.spawn(|| ws.apply());
        }
    });
    for (ws, name) in &stacks {
        ws.assert_plan_empty();
        assert_eq!(count(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "1");
        assert_eq!(
            mysql(&format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'")),
            "1"
        );
    }
    std::thread::scope(|s| {
        for (ws, _) in &stacks {
            s.spawn(|| ws.destroy());
        }
    });
    for (_, name) in &stacks {
        assert_eq!(count(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
        assert_eq!(count(&format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{name}\\_%'")), "0");
        assert_eq!(
            mysql(&format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'")),
            "0"
        );
        assert_eq!(mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User LIKE '{name}%'")), "0");
        let namespace = name.replace('_', "-");
        assert!(!crate::redis_namespace::redis(&["ACL", "USERS"]).contains(&namespace), "Redis users left");
    }
    for (_, name) in &stacks {
        let namespace = name.replace('_', "-");
        for role in [format!("postgres-{name}-app"), format!("mysql-{name}-app"), format!("redis-{namespace}-app")] {
            let found = vault("GET", &format!("{}/roles/{role}", c.mount), None);
            assert!(found["data"].is_null(), "Vault role {role} left: {found}");
        }
    }
}

/// Vault goes silent right after it accepted the database's connection (before the
/// rotation of its password): the apply fails saying Vault timed out, and names what it
/// could not remove; the next apply converges, and destroy leaves nothing in PostgreSQL
/// or Vault.
#[test]
fn vault_silent_after_the_connection_is_written() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("chaosvault");
    let name = c.prefix.clone();
    let relay = Relay::to(8200);
    let main = Stack::default()
        .postgres(5432, "timeout = \"10s\"")
        .vault_at(&format!("http://127.0.0.1:{}", relay.port), &c.mount, "token = \"root\"\n    timeout = \"5s\"")
        .main_tf(&format!(
            "resource \"dbaas_shared_database\" \"this\" {{\n  name            = \"{name}\"\n  engine          = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n"
        ));
    assert!(main.contains("vault {"), "{main}");
    let ws = Workspace::new(tf, "chaosvault", &main);
    ws.init();
    relay.cut_after(&format!("/config/postgres-{name} "));

    let started = Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    assert!(relay.was_cut(), "the connection was never written: {out}");
    assert!(out.contains("Vault timed out") && out.contains("vault.timeout"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    let connection = vault("GET", &format!("{}/config/postgres-{name}", c.mount), None);
    if !connection["data"].is_null() {
        assert!(out.contains(&format!("postgres-{name}")), "the connection left behind is not named: {out}");
    }

    relay.restore();
    ws.apply();
    ws.assert_plan_empty();
    let connection = vault("GET", &format!("{}/config/postgres-{name}", c.mount), None);
    assert_eq!(connection["data"]["connection_details"]["username"], format!("{name}_vault").as_str());
    ws.destroy();
    assert_eq!(count(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), "0");
    assert_eq!(count(&format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{name}\\_%'")), "0", "roles left");
    assert!(vault("GET", &format!("{}/config/postgres-{name}", c.mount), None)["data"].is_null(), "connection left");
}

/// A CA and a server certificate for 127.0.0.1, made with openssl for one test.
pub(crate) fn tls_files(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=dbaas test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
}

/// Redis reachable only over TLS, with a CA the test makes: the provider and Vault's
/// connection verify it, a namespace and a role on it work, and destroy leaves nothing.
#[test]
fn redis_over_tls_with_a_private_ca() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("redistls");
    let namespace = c.prefix.replace('_', "-");
    let _kv = crate::redis_namespace::RedisCleanup(namespace.clone());
    let dir = std::env::temp_dir().join(format!("tfacc-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    tls_files(&dir);
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let status = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--tls-auth-clients", "no", "--daemonize", "yes"])
        .arg("--tls-cert-file")
        .arg(dir.join("server.pem"))
        .arg("--tls-key-file")
        .arg(dir.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(dir.join("ca.pem"))
        .arg("--dir")
        .arg(&dir)
        .arg("--pidfile")
        .arg(dir.join("redis.pid"))
        .status()
        .expect("redis-server runs");
    assert!(status.success());
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["--tls", "--cacert"])
            .arg(dir.join("ca.pem"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let started = Instant::now();
    while cli(&["PING"]) != "PONG" {
        assert!(started.elapsed() < Duration::from_secs(10), "redis-server with TLS did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    struct Stop<'a>(&'a dyn Fn(&[&str]) -> String);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            (self.0)(&["SHUTDOWN", "NOSAVE"]);
        }
    }
    let _stop = Stop(&cli);

    let main = redis_stack_with(
        &c,
        &format!(
            "addresses    = [\"127.0.0.1:{port}\"]\n    tls          = true\n    ca_cert_file = \"{}\"",
            dir.join("ca.pem").display()
        ),
        &namespace,
    );
    assert!(main.contains("ca_cert_file"), "{main}");
    let ws = Workspace::new(tf, "redistls", &main);
    ws.init();
    ws.apply();
    ws.assert_plan_empty();
    let user = format!("dbaas-{namespace}");
    assert_eq!(cli(&["AUTH", &user, &crate::redis_namespace::kv_password(&namespace)]), "OK");
    // Vault's connection speaks TLS too: it issues a user that logs in.
    let creds = vault("GET", &format!("{}/creds/redis-{namespace}-app", c.mount), None);
    let (u, p) = (creds["data"]["username"].as_str(), creds["data"]["password"].as_str());
    assert!(u.is_some() && p.is_some(), "Vault issued nothing over TLS: {creds}");
    assert_eq!(cli(&["AUTH", u.unwrap(), p.unwrap()]), "OK");
    ws.destroy();
    assert!(!cli(&["ACL", "USERS"]).contains(&namespace), "users left");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Vault restored from an older backup: its data is gone, the servers are untouched. Plan
/// shows what Vault lost as in-place changes, one apply puts it back (each static role takes
/// back its own login, on PostgreSQL and MySQL, and Vault rotates it), and the next plan is
/// empty. Before, the static role never converged: create said the login existed and to
/// import it, and import said there was nothing to import.
#[test]
fn vault_restored_empty_converges_in_one_apply() {
    require_services();
    let tf = &terraforms()[0];
    let own = OwnVault::start();
    let c = Cleanup::new("vaultlost");
    let name = c.prefix.clone();
    let my_name: String = format!("{}m", c.prefix.chars().take(23).collect::<String>().trim_end_matches('_'));
    let _my_cleanup = Cleanup { prefix: my_name.clone(), mount: c.mount.clone() };
    let namespace = c.prefix.replace('_', "-");
    let _redis_cleanup = crate::redis_namespace::RedisCleanup(namespace.clone());
    let main = Stack::default().postgres(5432, "").mysql().redis("addresses = [\"127.0.0.1:6379\"]").vault_at(&own.address(), "database", "token = \"root\"").main_tf(
        &format!(
            "resource \"dbaas_shared_database\" \"db\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n\
             resource \"dbaas_rotated_role\" \"app\" {{\n  database = dbaas_shared_database.db.id\n  name = \"app\"\n}}\n\
             resource \"dbaas_rotated_role\" \"pool\" {{\n  database = dbaas_shared_database.db.id\n  name = \"pool\"\n  mode = \"static\"\n}}\n\
             resource \"dbaas_shared_database\" \"my\" {{\n  name = \"{my_name}\"\n  engine = \"mysql\"\n  deletion_policy = \"drop\"\n  force_drop = true\n}}\n\
             resource \"dbaas_rotated_role\" \"mypool\" {{\n  database = dbaas_shared_database.my.id\n  name = \"pool\"\n  mode = \"static\"\n}}\n\
             resource \"dbaas_redis_namespace\" \"cache\" {{\n  name = \"{namespace}\"\n}}\n\
             resource \"dbaas_rotated_role\" \"rpool\" {{\n  database = dbaas_redis_namespace.cache.id\n  name = \"pool\"\n  mode = \"static\"\n}}\n"
        ),
    );
    let ws = Workspace::new(tf, "vaultlost", &main);
    ws.init();
    ws.apply();
    let (login, my_login) = (format!("{name}_pool"), format!("{my_name}_pool"));
    let before = own.call("GET", &format!("database/static-creds/postgres-{name}-pool"), None);
    assert_eq!(before["data"]["username"], login.as_str(), "{before}");

    own.restart_empty();
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    assert!(
        plan.contains("dbaas_rotated_role.pool will be updated in-place")
            && plan.contains("dbaas_rotated_role.mypool will be updated in-place")
            && plan.contains("dbaas_rotated_role.rpool will be updated in-place")
            && plan.contains("0 to add")
            && plan.contains("0 to destroy"),
        "{plan}"
    );
    ws.apply();
    ws.assert_plan_empty();

    // Each static login is the same one, with a password only the new Vault knows.
    let after = own.call("GET", &format!("database/static-creds/postgres-{name}-pool"), None);
    let password = after["data"]["password"].as_str().unwrap_or_else(|| panic!("no static credentials: {after}"));
    assert_eq!(after["data"]["username"], login.as_str());
    psql_pooled(&login, password, &name, "SELECT 1").expect("the static login works with the new password");
    let mine = own.call("GET", &format!("database/static-creds/mysql-{my_name}-pool"), None);
    assert_eq!(mine["data"]["username"], my_login.as_str(), "{mine}");
    mysql_as(&my_login, mine["data"]["password"].as_str().unwrap(), "SELECT 1").expect("the MySQL static login works");
    let theirs = own.call("GET", &format!("database/static-creds/redis-{namespace}-pool"), None);
    let redis_login = format!("dbaas-{namespace}--pool");
    assert_eq!(theirs["data"]["username"], redis_login.as_str(), "{theirs}");
    let auth = crate::redis_namespace::redis(&["AUTH", &redis_login, theirs["data"]["password"].as_str().unwrap()]);
    assert_eq!(auth, "OK", "the Redis static login works with the new password");
    let issued = own.call("GET", &format!("database/creds/postgres-{name}-app"), None);
    let user = issued["data"]["username"].as_str().unwrap_or_else(|| panic!("nothing issued: {issued}")).to_owned();
    psql_pooled(&user, issued["data"]["password"].as_str().unwrap(), &name, "SELECT 1").unwrap();
    ws.destroy();
    let left = format!("SELECT count(*) FROM pg_roles WHERE rolname IN ('{login}', '{user}')");
    assert_eq!(psql("postgres", &left), "0", "a login outlived the destroy");
    assert_eq!(mysql(&format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{my_login}'")), "0");
}

/// PostgreSQL replaced by a black hole, with `timeout = "3s"`, under a stack of six
/// databases: the plan fails within twice the timeout and the apply within four times,
/// each saying it timed out. Requests run side by side and queued behind one another (the
/// catalog's lock, the pool); before, each waited its own timeout in turn (six databases,
/// six times). Now the first time-out ends every call waiting on the server with the same
/// error, and calls within one timeout after fail at once. Nothing is made, nothing is in
/// state (`tests/deadlines.rs` bounds one create exactly).
#[test]
fn a_black_holed_postgres_fails_a_plan_and_an_apply_of_six_databases_in_bounded_time() {
    require_services();
    let tf = &terraforms()[0];
    let c = Cleanup::new("blackhole");
    let name = c.prefix.clone();
    let timeout = Duration::from_secs(3);
    // Terraform's own time for a run of this size: a margin, not a multiple.
    let overhead = Duration::from_secs(3);
    let main = |port: u16| {
        Stack::default().postgres(port, "timeout = \"3s\"").main_tf(
            &(0..6)
                .map(|i| {
                    format!(
                        "resource \"dbaas_shared_database\" \"db{i}\" {{\n  name            = \"{name}_{i}\"\n  engine          = \"postgresql\"\n  deletion_policy = \"drop\"\n}}\n"
                    )
                })
                .collect::<String>(),
        )
    };
    let ws = Workspace::new(tf, "blackhole", &main(black_hole()));
    ws.init();
    let started = Instant::now();
    let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
    let plan_took = started.elapsed();
    assert!(plan_took < 2 * timeout + overhead, "the plan took {plan_took:?}:\n{plan}");

    let started = Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    let took = started.elapsed();
    assert!(out.contains("timed out") && out.contains("postgres.timeout"), "{out}");
    assert!(took < 4 * timeout + overhead, "the apply took {took:?} (its plan alone {plan_took:?}):\n{out}");
    // One cause, one message: each database's error says the same.
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(flat.matches("Error: PostgreSQL timed out").count(), 6, "one error per database:\n{out}");
    assert_eq!(
        flat.matches("While creating the database: PostgreSQL at ").count(),
        flat.matches("timed out: no answer within 3s. If the server is up but slow").count(),
        "each database's error gives the same cause:\n{out}"
    );
    // The first thing a create asks (whether PgBouncer's auth user is the platform's) got
    // no answer: nothing was made, and nothing is in state.
    assert!(!out.contains("Database left half made"), "a create that made nothing names leftovers:\n{out}");
    assert!(ws.run(&["state", "list"]).stdout.is_empty(), "state holds what was never made");

    // With the server back, destroy has nothing to remove.
    ws.write_main(&main(5432));
    ws.destroy();
    let left = format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{}%'", name.replace('_', "\\_"));
    assert_eq!(psql("postgres", &left), "0");
}
