//! Apps as they hold credentials, in the background of a story: each reads its credential
//! from Vault (retrying a 5xx as Vault's own clients do), keeps a pool of sessions open,
//! queries every 100 to 500 ms and renews its lease at half-life as Vault Agent does; now
//! and then a new pod of it starts (reads a new credential from the same path, logs in,
//! queries) beside it. A static
//! role's app re-reads its path when its login is refused, as an app does once Vault
//! rotated the password. Every query, renewal and failure is counted against the step the
//! story is at, and each failure is named.
//!
//! The story stops the apps before it destroys what they use, then asks
//! [`Report::left_on_servers`] for any user issued to them that is still there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// Where an app connects, and what it runs there.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// PostgreSQL (or PgBouncer) at `port`; `query` in the simple protocol, as through
    /// transaction pooling.
    Postgres { port: u16, database: String, query: String },
    /// The local MariaDB.
    Mysql { database: String, query: String },
    /// The local Redis: `SET` then `GET` of `key` (under the namespace's prefix).
    Redis { key: String },
}

/// One app: its name in the report, the Vault path it reads, where it connects.
#[derive(Clone, Debug)]
pub(crate) struct App {
    pub(crate) name: String,
    pub(crate) creds_path: String,
    pub(crate) target: Target,
}

impl App {
    pub(crate) fn postgres(name: &str, creds_path: &str, port: u16, database: &str, query: &str) -> App {
        App {
            name: name.to_owned(),
            creds_path: creds_path.to_owned(),
            target: Target::Postgres { port, database: database.to_owned(), query: query.to_owned() },
        }
    }

    pub(crate) fn mysql(name: &str, creds_path: &str, database: &str, query: &str) -> App {
        App {
            name: name.to_owned(),
            creds_path: creds_path.to_owned(),
            target: Target::Mysql { database: database.to_owned(), query: query.to_owned() },
        }
    }

    pub(crate) fn redis(name: &str, creds_path: &str, key: &str) -> App {
        App { name: name.to_owned(), creds_path: creds_path.to_owned(), target: Target::Redis { key: key.to_owned() } }
    }

    fn engine(&self) -> &'static str {
        match self.target {
            Target::Postgres { .. } => "postgres",
            Target::Mysql { .. } => "mysql",
            Target::Redis { .. } => "redis",
        }
    }
}

/// Sessions each app keeps open.
const POOL: usize = 2;
/// A new pod of an app starts every this many of its queries.
const NEW_POD_EVERY: u32 = 10;
/// The first failures kept by name.
const NAMED: usize = 20;

/// Counts for one step of the story.
#[derive(Clone, Debug, Default)]
pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) queries: u32,
    pub(crate) failed: u32,
    pub(crate) renewals: u32,
    pub(crate) lost_renewals: u32,
    pub(crate) credentials_read: u32,
}

/// What the apps saw.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) story: String,
    pub(crate) steps: Vec<Step>,
    /// `step: app: what failed`, the first [`NAMED`].
    pub(crate) failures: Vec<String>,
    /// Vault reads that were tried again after a 5xx.
    pub(crate) retried_reads: Vec<String>,
    /// (engine, user) of every credential the apps read.
    pub(crate) issued: Vec<(&'static str, String)>,
    /// PostgreSQL servers the apps reach beside the shared ones (a story's own, say).
    pub(crate) postgres_ports: std::collections::BTreeSet<u16>,
}

impl Report {
    fn step(&mut self, name: &str) -> &mut Step {
        if self.steps.last().is_none_or(|s| s.name != name) {
            self.steps.push(Step { name: name.to_owned(), ..Step::default() });
        }
        self.steps.last_mut().expect("pushed")
    }

    fn fail(&mut self, step: &str, app: &str, what: String) {
        if self.failures.len() < NAMED {
            self.failures.push(format!("{step}: {app}: {what}"));
        }
    }

    pub(crate) fn failed(&self) -> u32 {
        self.steps.iter().map(|s| s.failed).sum()
    }

    pub(crate) fn lost_renewals(&self) -> u32 {
        self.steps.iter().map(|s| s.lost_renewals).sum()
    }

    pub(crate) fn renewals(&self) -> u32 {
        self.steps.iter().map(|s| s.renewals).sum()
    }

    pub(crate) fn queries(&self) -> u32 {
        self.steps.iter().map(|s| s.queries).sum()
    }

    /// The table, one row per step, as the test output shows it.
    pub(crate) fn table(&self) -> String {
        let mut out = format!(
            "apps of {}: {:<28} {:>8} {:>7} {:>9} {:>6} {:>6}\n",
            self.story, "step", "queries", "failed", "renewals", "lost", "reads"
        );
        for s in &self.steps {
            out += &format!(
                "apps of {}: {:<28} {:>8} {:>7} {:>9} {:>6} {:>6}\n",
                self.story, s.name, s.queries, s.failed, s.renewals, s.lost_renewals, s.credentials_read
            );
        }
        for f in &self.failures {
            out += &format!("apps of {}: failure: {f}\n", self.story);
        }
        out
    }

    /// Writes the table past the test harness's capture, so a passing run shows it too.
    pub(crate) fn print(&self) {
        use std::io::Write;
        let _ = std::io::stderr().write_all(self.table().as_bytes());
    }

    /// Users issued to the apps that are still on their servers.
    pub(crate) fn left_on_servers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for (engine, user) in &self.issued {
            let there = match *engine {
                "postgres" => crate::util::POSTGRES_PORTS.iter().chain(&self.postgres_ports).any(|port| {
                    crate::util::psql_on(
                        *port,
                        "postgres",
                        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}'"),
                    ) != "0"
                }),
                "mysql" => crate::util::mysql_as(
                    "root",
                    "",
                    &format!("SELECT COUNT(*) FROM mysql.user WHERE CAST(User AS CHAR) = '{user}'"),
                )
                .is_ok_and(|n| n.trim() != "0"),
                _ => std::process::Command::new("redis-cli")
                    .args(["ACL", "GETUSER", user])
                    .output()
                    .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty()),
            };
            if there {
                left.push(format!("{engine}: {user}"));
            }
        }
        left
    }
}

/// The running apps; [`Apps::stop`] ends them and gives their report.
pub(crate) struct Apps {
    step: Arc<Mutex<String>>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Report>>,
}

impl Apps {
    /// Starts `apps`, each with its credential read and its sessions open before this
    /// returns (a story's step "before" begins then).
    pub(crate) fn start(story: &str, apps: Vec<App>) -> Apps {
        let step = Arc::new(Mutex::new("before".to_owned()));
        let done = Arc::new(AtomicBool::new(false));
        let (s, d) = (step.clone(), done.clone());
        let story = story.to_owned();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let mut report = Report { story, ..Report::default() };
                for app in &apps {
                    if let Target::Postgres { port, .. } = app.target
                        && !crate::util::POSTGRES_PORTS.contains(&port)
                        && port != 6432
                    {
                        report.postgres_ports.insert(port);
                    }
                }
                let mut running = Vec::new();
                for app in apps {
                    let held = Running::start(app, "before", &mut report)
                        .await
                        .unwrap_or_else(|e| panic!("an app could not start: {e}"));
                    running.push(held);
                }
                ready_tx.send(()).expect("the story waits");
                let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15);
                while !d.load(Ordering::SeqCst) {
                    let step = s.lock().expect("step").clone();
                    for app in &mut running {
                        app.tick(&step, &mut report).await;
                    }
                    tokio::time::sleep(Duration::from_millis(100 + jitter.next() % 400)).await;
                }
                report
            })
        });
        ready_rx.recv_timeout(Duration::from_secs(60)).expect("the apps start");
        Apps { step, done, thread: Some(thread) }
    }

    /// From now on, what the apps see counts for `step`.
    pub(crate) fn step(&self, step: &str) {
        *self.step.lock().expect("step") = step.to_owned();
    }

    /// Ends the apps (their leases are left to the story's destroy) and prints their table.
    pub(crate) fn stop(mut self) -> Report {
        self.done.store(true, Ordering::SeqCst);
        let report = self.thread.take().expect("running").join().expect("the apps end");
        report.print();
        report
    }
}

impl Drop for Apps {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// A small xorshift: the apps' query intervals vary without a crate for it.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A credential as the app holds it.
struct Credential {
    user: String,
    password: String,
    /// None for a static role's (no lease; Vault rotates the password).
    lease: Option<Lease>,
}

struct Lease {
    id: String,
    duration: Duration,
    since: Instant,
}

enum Session {
    Postgres(PgConnection),
    Mysql(MySqlConnection),
    Redis(redis::aio::MultiplexedConnection),
}

struct Running {
    app: App,
    credential: Credential,
    sessions: Vec<Option<Session>>,
    ticks: u32,
}

impl Running {
    async fn start(app: App, step: &str, report: &mut Report) -> Result<Running, String> {
        let credential = read(&app, step, report).await?;
        let mut sessions = Vec::new();
        for _ in 0..POOL {
            sessions.push(Some(connect(&app.target, &credential).await?));
        }
        Ok(Running { app, credential, sessions, ticks: 0 })
    }

    /// One query on the next session; a renewal when the lease is half gone; a restart
    /// now and then.
    async fn tick(&mut self, step: &str, report: &mut Report) {
        self.ticks += 1;
        if let Some(lease) = &mut self.credential.lease
            && lease.since.elapsed() >= lease.duration / 2
        {
            match renew(&lease.id).await {
                Ok(duration) => {
                    report.step(step).renewals += 1;
                    lease.duration = duration;
                    lease.since = Instant::now();
                }
                Err(e) => {
                    report.step(step).lost_renewals += 1;
                    report.fail(step, &self.app.name, format!("renewal of {}: {e}", self.credential.user));
                    // As Vault Agent does when a renewal fails: read a new credential.
                    self.restart(step, report).await;
                }
            }
        }
        if self.ticks.is_multiple_of(NEW_POD_EVERY) {
            self.new_pod(step, report).await;
        }
        let i = self.ticks as usize % POOL;
        let outcome = match self.sessions[i].take() {
            Some(session) => query(&self.app.target, session).await,
            None => Err((None, "no session".to_owned())),
        };
        report.step(step).queries += 1;
        match outcome {
            Ok(session) => self.sessions[i] = Some(session),
            Err((session, e)) => {
                report.step(step).failed += 1;
                report.fail(step, &self.app.name, format!("query as {}: {e}", self.credential.user));
                // An app's pool replaces a session that failed.
                self.sessions[i] = match session {
                    Some(s) => Some(s),
                    None => self.login(step, report).await.ok(),
                };
            }
        }
    }

    /// A new pod of the app, beside the running one: a new credential from the same path,
    /// a login, a query. It leaves its lease to Vault, as a pod that ends does.
    async fn new_pod(&mut self, step: &str, report: &mut Report) {
        let outcome = match read(&self.app, step, report).await {
            Ok(credential) => match connect(&self.app.target, &credential).await {
                Ok(session) => query(&self.app.target, session)
                    .await
                    .map(drop)
                    .map_err(|(_, e)| format!("query as {}: {e}", credential.user)),
                Err(e) => Err(format!("login as {}: {e}", credential.user)),
            },
            Err(e) => Err(format!("credential read: {e}")),
        };
        report.step(step).queries += 1;
        if let Err(e) = outcome {
            report.step(step).failed += 1;
            report.fail(step, &self.app.name, format!("new pod: {e}"));
        }
    }

    /// The app starts over (its renewal failed): a new credential from the same path, new
    /// sessions.
    async fn restart(&mut self, step: &str, report: &mut Report) {
        match read(&self.app, step, report).await {
            Ok(credential) => {
                self.credential = credential;
                for i in 0..POOL {
                    self.sessions[i] = None;
                    self.sessions[i] = self.login(step, report).await.ok();
                }
            }
            Err(e) => {
                report.step(step).failed += 1;
                report.fail(step, &self.app.name, format!("credential read: {e}"));
            }
        }
    }

    /// Logs in with the credential held; a static role's app whose login is refused reads
    /// its path again (Vault rotated the password) and tries once more.
    async fn login(&mut self, step: &str, report: &mut Report) -> Result<Session, ()> {
        match connect(&self.app.target, &self.credential).await {
            Ok(s) => Ok(s),
            Err(first) => {
                if self.credential.lease.is_none()
                    && let Ok(fresh) = read(&self.app, step, report).await
                {
                    self.credential = fresh;
                    if let Ok(s) = connect(&self.app.target, &self.credential).await {
                        return Ok(s);
                    }
                }
                report.step(step).failed += 1;
                report.fail(step, &self.app.name, format!("login: {first}"));
                Err(())
            }
        }
    }
}

/// Reads the app's path as Vault's Go client does by default (what Vault Agent and most
/// apps use): a 5xx other than 501 is tried again, twice, a second apart.
async fn read(app: &App, step: &str, report: &mut Report) -> Result<Credential, String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
    let path = &app.creds_path;
    let mut tries = 0;
    let body = loop {
        tries += 1;
        let answer = client
            .get(format!("http://127.0.0.1:8200/v1/{path}"))
            .header("X-Vault-Token", "root")
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.map_err(|e| format!("{path}: {e}"))?;
        let retryable = status.is_server_error() && status != reqwest::StatusCode::NOT_IMPLEMENTED;
        if !retryable || tries == 3 {
            if !status.is_success() {
                return Err(format!("{path}: {status} {body}"));
            }
            break body;
        }
        report.retried_reads.push(format!("{step}: {path}: {status} {body}"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    report.step(step).credentials_read += 1;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).ok_or_else(|| format!("{path}: {body}"));
    let user = text(&body["data"]["username"])?;
    let password = text(&body["data"]["password"])?;
    let lease = body["lease_id"].as_str().filter(|l| !l.is_empty()).map(|id| Lease {
        id: id.to_owned(),
        duration: Duration::from_secs(body["lease_duration"].as_u64().unwrap_or(0)),
        since: Instant::now(),
    });
    if lease.is_some() {
        report.issued.push((app.engine(), user.clone()));
    }
    Ok(Credential { user, password, lease })
}

/// Renews `lease` as Vault Agent does (no increment: the role's TTL); its new duration.
async fn renew(lease: &str) -> Result<Duration, String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
    let answer = client
        .put("http://127.0.0.1:8200/v1/sys/leases/renew")
        .header("X-Vault-Token", "root")
        .json(&serde_json::json!({ "lease_id": lease }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status} {body}"));
    }
    Ok(Duration::from_secs(body["lease_duration"].as_u64().unwrap_or(0)))
}

const ANSWER_WITHIN: Duration = Duration::from_secs(10);

async fn within<T, E: std::fmt::Display>(what: impl std::future::Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(ANSWER_WITHIN, what).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {} s", ANSWER_WITHIN.as_secs())),
    }
}

async fn connect(target: &Target, credential: &Credential) -> Result<Session, String> {
    let (user, password) = (&credential.user, &credential.password);
    let session = match target {
        Target::Postgres { port, database, .. } => {
            let options = PgConnectOptions::new()
                .host("127.0.0.1")
                .port(*port)
                .username(user)
                .password(password)
                .database(database);
            Session::Postgres(within(PgConnection::connect_with(&options)).await?)
        }
        Target::Mysql { database, .. } => {
            let options = MySqlConnectOptions::new()
                .host("127.0.0.1")
                .port(3306)
                .username(user)
                .password(password)
                .database(database);
            Session::Mysql(within(MySqlConnection::connect_with(&options)).await?)
        }
        Target::Redis { .. } => {
            let settings = redis::RedisConnectionInfo::default().set_username(user).set_password(password);
            let info =
                redis::IntoConnectionInfo::into_connection_info(redis::ConnectionAddr::Tcp("127.0.0.1".into(), 6379))
                    .map_err(|e| e.to_string())?
                    .set_redis_settings(settings);
            let client = redis::Client::open(info).map_err(|e| e.to_string())?;
            Session::Redis(within(client.get_multiplexed_async_connection()).await?)
        }
    };
    Ok(session)
}

/// Runs the target's query on `session`: the session back, or the error (and the session,
/// if the server only refused the statement and the session still works).
async fn query(target: &Target, session: Session) -> Result<Session, (Option<Session>, String)> {
    match (target, session) {
        (Target::Postgres { query, .. }, Session::Postgres(mut c)) => {
            match within(sqlx::raw_sql(query).execute(&mut c)).await {
                Ok(_) => Ok(Session::Postgres(c)),
                Err(e) => Err((None, e)),
            }
        }
        (Target::Mysql { query, .. }, Session::Mysql(mut c)) => {
            match within(sqlx::raw_sql(query).execute(&mut c)).await {
                Ok(_) => Ok(Session::Mysql(c)),
                Err(e) => Err((None, e)),
            }
        }
        (Target::Redis { key }, Session::Redis(mut c)) => {
            let set: Result<(), String> = within(redis::cmd("SET").arg(key).arg("v").query_async(&mut c)).await;
            let got: Result<Option<String>, String> = match set {
                Ok(()) => within(redis::cmd("GET").arg(key).query_async(&mut c)).await,
                Err(e) => Err(e),
            };
            match got {
                Ok(Some(_)) => Ok(Session::Redis(c)),
                Ok(None) => Err((Some(Session::Redis(c)), format!("GET {key}: nothing"))),
                Err(e) => Err((None, e)),
            }
        }
        _ => Err((None, "a session of another engine".to_owned())),
    }
}
