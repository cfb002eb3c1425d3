//! The acceptance harness: a real Terraform, the provider binary cargo built, a temporary
//! working directory per test, and `dev_overrides` pointing Terraform at the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value as Json;

/// One Terraform binary the suite runs against.
#[derive(Clone, Debug)]
pub(crate) struct Terraform {
    pub(crate) path: PathBuf,
    pub(crate) version: String,
}

/// The Terraform binaries to run every story against: `TF_ACC_TERRAFORM_PATH`, else the
/// project's own (`make tools`); plus any `terraform` on PATH of another version.
pub(crate) fn terraforms() -> &'static [Terraform] {
    static ALL: OnceLock<Vec<Terraform>> = OnceLock::new();
    ALL.get_or_init(|| {
        let primary = match std::env::var_os("TF_ACC_TERRAFORM_PATH") {
            Some(p) => PathBuf::from(p),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/terraform"),
        };
        let mut all = vec![probe(&primary).unwrap_or_else(|| {
            panic!("no Terraform at {}: run `make tools` (or set TF_ACC_TERRAFORM_PATH)", primary.display())
        })];
        if let Some(on_path) = probe(Path::new("terraform"))
            && on_path.version != all[0].version
        {
            all.push(on_path);
        }
        let versions: Vec<_> = all.iter().map(|t| t.version.as_str()).collect();
        // Written past the test harness's capture, so every run's output says it.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("acceptance: running against Terraform {}\n", versions.join(", ")).as_bytes(),
        );
        all
    })
}

fn probe(path: &Path) -> Option<Terraform> {
    let out = Command::new(path).args(["version", "-json"]).env("TF_CLI_CONFIG_FILE", "/dev/null").output().ok()?;
    let json: Json = serde_json::from_slice(&out.stdout).ok()?;
    Some(Terraform { path: path.to_owned(), version: json["terraform_version"].as_str()?.to_owned() })
}

/// The provider binary cargo built for this test run.
pub(crate) fn provider_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_terraform-provider-dbaas"))
}

/// A name unique to this test run and test, under the prefix `tfacc_` that marks
/// everything the acceptance tests create.
pub(crate) fn unique_name(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("tfacc_{test}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A Terraform working directory with its own CLI configuration and environment.
pub(crate) struct Workspace {
    pub(crate) dir: PathBuf,
    pub(crate) terraform: Terraform,
    env: BTreeMap<String, String>,
}

impl Workspace {
    /// A fresh directory holding `main.tf`.
    pub(crate) fn new(terraform: &Terraform, test: &str, main_tf: &str) -> Workspace {
        let dir = std::env::temp_dir().join(unique_name(test));
        std::fs::create_dir_all(&dir).unwrap();
        let overrides = provider_binary().parent().unwrap();
        std::fs::write(
            dir.join("terraform.rc"),
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"infra/dbaas\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                overrides.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("main.tf"), main_tf).unwrap();
        Workspace { dir, terraform: terraform.clone(), env: BTreeMap::new() }
    }

    /// Sets an environment variable for every Terraform (and so provider) run here.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Workspace {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Replaces main.tf.
    pub(crate) fn write_main(&self, main_tf: &str) {
        std::fs::write(self.dir.join("main.tf"), main_tf).unwrap();
    }

    /// Runs `terraform ARGS` here.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("terraform runs")
    }

    /// `terraform ARGS` here, to run or spawn.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.terraform.path);
        cmd.current_dir(&self.dir).args(args);
        // Only what the test sets reaches the provider.
        for (k, _) in std::env::vars() {
            if k.starts_with("DBAAS_") || k.starts_with("VAULT_") || k.starts_with("TF_") || k == "PGSSLMODE" {
                cmd.env_remove(k);
            }
        }
        cmd.env("TF_CLI_CONFIG_FILE", self.dir.join("terraform.rc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .envs(&self.env);
        cmd
    }

    /// Runs `terraform ARGS` and fails the test, showing Terraform's output, unless it succeeds.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "terraform {} failed ({}):\n{}",
            args.join(" "),
            self.terraform.version,
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `terraform ARGS`, expects failure, and returns its output.
    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "terraform {} succeeded but should not have:\n{}", args.join(" "), text(&out));
        text(&out)
    }

    /// `terraform init`. Under `dev_overrides` init is optional; Terraform before 1.15
    /// still asks the registry about the overridden provider and fails offline, which is
    /// the one failure tolerated here.
    pub(crate) fn init(&self) {
        let out = self.run(&["init", "-input=false", "-no-color"]);
        let output = text(&out);
        let offline_override = output.contains("Provider development overrides are in effect")
            && output.contains("Failed to query available provider packages");
        assert!(out.status.success() || offline_override, "terraform init failed:\n{output}");
    }

    /// `terraform apply -auto-approve`.
    pub(crate) fn apply(&self) -> String {
        self.ok(&["apply", "-auto-approve", "-input=false", "-no-color"])
    }

    /// Asserts `terraform plan -detailed-exitcode` reports no changes.
    pub(crate) fn assert_plan_empty(&self) {
        let out = self.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
        assert_eq!(out.status.code(), Some(0), "plan is not empty ({}):\n{}", self.terraform.version, text(&out));
    }

    /// Asserts the plan changes nothing but `claim`: what an import (or an upgrade from
    /// before claims) plans, since the claim is taken at the next apply. Returns how many
    /// resources it takes a claim on.
    pub(crate) fn assert_plan_takes_only_claims(&self) -> usize {
        self.ok(&["plan", "-input=false", "-no-color", "-out=claims.tfplan"]);
        let plan: Json = serde_json::from_str(&self.ok(&["show", "-json", "claims.tfplan"])).unwrap();
        let mut taken = 0;
        for change in plan["resource_changes"].as_array().into_iter().flatten() {
            let actions = &change["change"]["actions"];
            if actions == &serde_json::json!(["no-op"]) {
                continue;
            }
            assert_eq!(actions, &serde_json::json!(["update"]), "only in-place claims: {change}");
            // Computed values the update may refresh are "known after apply" whatever changes.
            let unknown = change["change"]["after_unknown"].as_object().cloned().unwrap_or_default();
            let without_claim = |v: &Json| {
                let mut v = v.clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("take_over_claim");
                    o.retain(|k, _| !unknown.contains_key(k));
                }
                v
            };
            assert_eq!(
                without_claim(&change["change"]["before"]),
                without_claim(&change["change"]["after"]),
                "nothing but the claim changes: {change}"
            );
            assert_eq!(change["change"]["after_unknown"]["claim"], true, "{change}");
            taken += 1;
        }
        taken
    }

    /// The claims a plan refuses, by resource address, from its JSON diagnostics: what a
    /// team reads off the errors to set `take_over_claim`.
    pub(crate) fn refused_claims(&self) -> Vec<(String, String)> {
        let out = self.run(&["plan", "-json", "-input=false"]);
        assert!(!out.status.success(), "the plan should refuse claimed objects");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Json>(line).ok())
            .filter(|m| m["diagnostic"]["summary"] == "Claimed by another Terraform state")
            .map(|m| {
                let detail = m["diagnostic"]["detail"].as_str().unwrap_or_default().to_owned();
                let claim =
                    detail.split("take_over_claim = \"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
                (m["diagnostic"]["address"].as_str().unwrap_or_default().to_owned(), claim.to_owned())
            })
            .collect()
    }

    /// A successful plan's diagnostics, each as (address, summary, detail): Terraform's
    /// human output folds warnings of one summary into the first.
    pub(crate) fn plan_diagnostics(&self) -> Vec<(String, String, String)> {
        let out = self.run(&["plan", "-json", "-input=false"]);
        assert!(out.status.success(), "plan: {}", String::from_utf8_lossy(&out.stdout));
        let text = |v: &Json| v.as_str().unwrap_or_default().to_owned();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Json>(line).ok())
            .filter(|m| m["type"] == "diagnostic")
            .map(|m| {
                let d = &m["diagnostic"];
                (text(&d["address"]), text(&d["summary"]), text(&d["detail"]))
            })
            .collect()
    }

    /// The claim `address` holds in this state.
    pub(crate) fn claim_of(&self, address: &str) -> String {
        let show = self.show();
        let resources = show["values"]["root_module"]["resources"].as_array().cloned().unwrap_or_default();
        let resource = resources.iter().find(|r| r["address"] == address).expect("the resource is in state");
        resource["values"]["claim"].as_str().expect("it holds a claim").to_owned()
    }

    /// `terraform state rm` and `terraform import` of `address`: the object keeps the claim
    /// this state held, which is returned (the configuration must name it to take it again).
    pub(crate) fn reimport(&self, address: &str, id: &str) -> String {
        let held = self.claim_of(address);
        self.ok(&["state", "rm", address]);
        self.ok(&["import", "-no-color", "-input=false", address, id]);
        held
    }

    /// `terraform output -json`.
    pub(crate) fn outputs(&self) -> Json {
        serde_json::from_str(&self.ok(&["output", "-json"])).unwrap()
    }

    /// `terraform show -json`.
    pub(crate) fn show(&self) -> Json {
        serde_json::from_str(&self.ok(&["show", "-json"])).unwrap()
    }

    /// `terraform destroy -auto-approve`.
    pub(crate) fn destroy(&self) -> String {
        self.ok(&["destroy", "-auto-approve", "-input=false", "-no-color"])
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept {} for inspection", self.dir.display());
        }
    }
}

/// stdout and stderr together.
pub(crate) fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A fixture from `tests/acceptance/fixtures/`, with `{{key}}` placeholders filled in.
pub(crate) fn fixture(name: &str, values: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/acceptance/fixtures").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (k, v) in values {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    assert!(!text.contains("{{"), "unfilled placeholder in {name}");
    text
}

/// Fails the test, with the command that starts them, unless the local services answer.
pub(crate) fn require_services() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECKED.get_or_init(|| {
        for (name, port) in [
            ("PostgreSQL 15", 5432),
            ("PgBouncer", 6432),
            ("MariaDB", 3306),
            ("Redis", 6379),
            ("OpenBao", 8200),
            ("PostgreSQL 17", PG17),
            ("PostgreSQL 18", PG18),
        ] {
            if std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), std::time::Duration::from_secs(2))
                .is_err()
            {
                return Err(format!(
                    "{name} is not listening on 127.0.0.1:{port}: run `make services` (scripts/services.sh)"
                ));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Runs SQL with psql on 127.0.0.1:`port` as `user`; the unaligned output, or the error.
pub(crate) fn run_psql(
    port: &str,
    user: &str,
    password: Option<&str>,
    database: &str,
    sql: &str,
) -> Result<String, String> {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        port,
        "-U",
        user,
        "-d",
        database,
        "-c",
        sql,
    ])
    .env("PGCONNECT_TIMEOUT", "10");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().expect("psql runs");
    if out.status.success() { Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()) } else { Err(text(&out)) }
}

/// PostgreSQL 17 and 18 (`make services`: the npm registry's server binaries), where
/// every login but `postgres` gives its password.
pub(crate) const PG17: u16 = 5417;
/// See [`PG17`].
pub(crate) const PG18: u16 = 5418;
/// Every PostgreSQL the suite runs on: the CI's 15, then 17 and 18.
pub(crate) const POSTGRES_PORTS: [u16; 3] = [5432, PG17, PG18];

/// Runs SQL on the local PostgreSQL as the superuser; returns the unaligned output.
pub(crate) fn psql(database: &str, sql: &str) -> String {
    psql_on(5432, database, sql)
}

/// Runs SQL as the superuser on the PostgreSQL at `port`; returns the unaligned output.
pub(crate) fn psql_on(port: u16, database: &str, sql: &str) -> String {
    run_psql(&port.to_string(), "postgres", None, database, sql).unwrap_or_else(|e| panic!("psql :{port} {sql}: {e}"))
}

/// What a platform with one non-superuser admin login per team does for each (the security
/// guide's setup): lets it connect to the provider's own database, made here first (closed
/// to PUBLIC, as a provider makes it) if no provider has made it yet.
pub(crate) fn let_into_provider_database(port: u16, login: &str) {
    make_provider_database(port);
    psql_on(port, "postgres", &format!("GRANT CONNECT ON DATABASE \"dbaas-provider\" TO \"{login}\""));
}

/// The provider's own database on the server at `port`, as a provider with a superuser
/// admin makes it (closed to PUBLIC), if none has yet.
pub(crate) fn make_provider_database(port: u16) {
    // Fails harmlessly when it exists (a provider or another story made it first).
    let _ = run_psql(
        &port.to_string(),
        "postgres",
        None,
        "postgres",
        "CREATE DATABASE \"dbaas-provider\" TEMPLATE template0",
    );
    psql_on(port, "postgres", "REVOKE ALL ON DATABASE \"dbaas-provider\" FROM PUBLIC");
}

/// Logs in as `user` with `password` straight to the PostgreSQL at `port` and runs `sql`;
/// the output, or the server's refusal.
pub(crate) fn psql_as(port: u16, user: &str, password: &str, database: &str, sql: &str) -> Result<String, String> {
    run_psql(&port.to_string(), user, Some(password), database, sql)
}

/// Logs in through PgBouncer (6432, SCRAM: the password is checked) and runs `sql`.
pub(crate) fn psql_pooled(user: &str, password: &str, database: &str, sql: &str) -> Result<String, String> {
    run_psql("6432", user, Some(password), database, sql)
}

/// Runs SQL on the local MariaDB/MySQL as `user`; `Err` with the client's message on failure.
pub(crate) fn mysql_as(user: &str, password: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", "3306", "-u", user, "-N", "-B", "-e", sql])
        .env("MYSQL_PWD", password)
        .output()
        .expect("mariadb client runs");
    if out.status.success() { Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()) } else { Err(text(&out)) }
}

/// Runs SQL on the local MariaDB/MySQL as root.
pub(crate) fn mysql(sql: &str) -> String {
    mysql_as("root", "", sql).unwrap_or_else(|e| panic!("mysql {sql}: {e}"))
}

/// Calls the local OpenBao's HTTP API as root.
pub(crate) fn vault(method: &str, path: &str, body: Option<&Json>) -> Json {
    vault_at("http://127.0.0.1:8200", method, path, body)
}

/// Calls the HTTP API of the OpenBao at `address` as root.
pub(crate) fn vault_at(address: &str, method: &str, path: &str, body: Option<&Json>) -> Json {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", method, "-H", "X-Vault-Token: root", &format!("{address}/v1/{path}")]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
    }
    let out = cmd.output().expect("curl runs");
    assert!(out.status.success(), "curl {path}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or(Json::Null)
}

/// Removes what a test made even when it fails half way: its own Vault mount and the
/// databases and roles named with its prefix. Never touches anything else.
pub(crate) struct Cleanup {
    pub(crate) prefix: String,
    pub(crate) mount: String,
}

impl Cleanup {
    pub(crate) fn new(test: &str) -> Cleanup {
        let prefix = unique_name(test);
        Cleanup { mount: prefix.replace('_', "-"), prefix }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Revoke what was issued; a lease whose revocation fails (a test that failed half
        // way) would keep the mount from being removed, so force those out; then remove it.
        for (method, path) in [
            ("PUT", format!("sys/leases/revoke-prefix/{}?sync=true", self.mount)),
            ("PUT", format!("sys/leases/revoke-force/{}", self.mount)),
            ("DELETE", format!("sys/mounts/{}", self.mount)),
        ] {
            let _ = Command::new("curl")
                .args(["-sS", "-X", method, "-H", "X-Vault-Token: root", &format!("http://127.0.0.1:8200/v1/{path}")])
                .output();
        }
        let like = format!("{}%", self.prefix.replace('_', "\\_"));
        let mariadb = |statement: String| {
            let _ = mysql_as("root", "", &statement);
        };
        // The provider's claims on this test's objects: MySQL's registry rows, Vault KV.
        mariadb(format!("DELETE FROM `dbaas-provider`.`claims` WHERE db LIKE '{like}'"));
        // Users Vault issued for this test's MySQL databases carry no prefix: found by the
        // issuer's record and by their grants (stored escaped), then the records go.
        let issued = mysql_as(
            "root",
            "",
            &format!(
                "SELECT CONCAT(QUOTE(login), '@''%''') FROM `dbaas-provider`.logins WHERE db LIKE '{like}' \
                 UNION SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.db \
                 WHERE User LIKE 'v%' AND REPLACE(Db, '\\\\', '') LIKE '{like}'"
            ),
        )
        .unwrap_or_default();
        for account in issued.lines().filter(|l| !l.is_empty()) {
            mariadb(format!("DROP USER IF EXISTS {account}"));
        }
        for table in ["issuers", "logins"] {
            mariadb(format!("DELETE FROM `dbaas-provider`.`{table}` WHERE db LIKE '{like}'"));
        }
        for kind in ["redis", &self.mount] {
            let listed = vault("LIST", &format!("secret/metadata/dbaas/claims/{kind}"), None);
            for key in listed["data"]["keys"].as_array().into_iter().flatten().filter_map(|k| k.as_str()) {
                if key.starts_with(&self.prefix) || key.starts_with(&self.mount) || kind == self.mount {
                    let _ = vault("DELETE", &format!("secret/metadata/dbaas/claims/{kind}/{key}"), None);
                }
            }
        }
        // Databases first: a role cannot be dropped while a database grants it anything.
        for port in POSTGRES_PORTS {
            let port = port.to_string();
            let list = |sql: String| run_psql(&port, "postgres", None, "postgres", &sql).unwrap_or_default();
            let run = |statement: String| {
                let _ = Command::new("psql")
                    .args(["-X", "-q", "-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", "postgres"])
                    .args(["-c", &statement])
                    .output();
            };
            for name in list(format!("SELECT datname FROM pg_database WHERE datname LIKE '{like}'")).lines() {
                run(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
            for name in list(format!(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE '{like}' OR rolname LIKE 'dbaas-claim:{like}'"
            ))
            .lines()
            {
                // A team's admin login may connect to the provider's database.
                run(format!("REVOKE ALL ON DATABASE \"dbaas-provider\" FROM \"{name}\""));
                run(format!("DROP ROLE IF EXISTS \"{name}\""));
            }
        }
        for (list, drop, run) in [
            (
                mysql_as(
                    "root",
                    "",
                    &format!("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '{like}'"),
                )
                .unwrap_or_default(),
                "DROP DATABASE IF EXISTS `{}`",
                &mariadb as &dyn Fn(String),
            ),
            (
                mysql_as(
                    "root",
                    "",
                    &format!("SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User LIKE '{like}'"),
                )
                .unwrap_or_default(),
                "DROP USER IF EXISTS {}",
                &mariadb,
            ),
        ] {
            for name in list.lines().filter(|l| !l.is_empty()) {
                run(drop.replace("{}", name));
            }
        }
    }
}

/// The Terraform binaries at `major.minor` or later; each older one is named on the test
/// run's output (not captured), with `feature`, so a skipped run is never silent. None at
/// all fails the story: it would otherwise pass having checked nothing.
pub(crate) fn terraforms_since(major: u32, minor: u32, feature: &str) -> Vec<&'static Terraform> {
    use std::io::Write;
    let found: Vec<&'static Terraform> = terraforms()
        .iter()
        .filter(|tf| {
            let new_enough = version_at_least(&tf.version, major, minor);
            if !new_enough {
                let _ = writeln!(
                    std::io::stderr(),
                    "acceptance: skipped on Terraform {} ({feature}: Terraform {major}.{minor} or later)",
                    tf.version
                );
            }
            new_enough
        })
        .collect();
    assert!(
        !found.is_empty(),
        "no Terraform {major}.{minor} or later to run this story ({feature}): run `make tools`, which installs the ones CI runs"
    );
    found
}

/// Whether a Terraform version string is at least `major.minor`.
pub(crate) fn version_at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

/// `main_tf` with `take_over_claim = "<claim>"` in the block of `address`.
pub(crate) fn taking_over(main_tf: &str, address: &str, claim: &str) -> String {
    let (kind, name) = address.split_once('.').expect("an address is <type>.<name>");
    let header = format!("resource \"{kind}\" \"{name}\" {{");
    assert!(main_tf.contains(&header), "no {header} in:\n{main_tf}");
    main_tf.replacen(&header, &format!("{header}\n  take_over_claim = \"{claim}\""), 1)
}

/// A story's `main.tf` built from the local services' provider blocks, so each story says
/// only what differs (a relay's port, a timeout, a login).
#[derive(Default, Clone)]
pub(crate) struct Stack {
    blocks: Vec<String>,
}

impl Stack {
    /// The local PostgreSQL (at `port`: 5432, or a relay's) behind PgBouncer, plus `extra`
    /// settings.
    pub(crate) fn postgres(mut self, port: u16, extra: &str) -> Stack {
        self.blocks.push(format!(
            "  postgres {{\n    host             = \"127.0.0.1\"\n    port             = {port}\n    pooled_port      = 6432\n    sslmode          = \"disable\"\n    pooler_auth_user = \"pgbouncer_auth\"\n    {extra}\n  }}"
        ));
        self
    }

    /// The PostgreSQL at `port` with no pooler in front: apps are given the server itself.
    pub(crate) fn postgres_direct(mut self, port: u16) -> Stack {
        self.blocks.push(format!(
            "  postgres {{\n    host        = \"127.0.0.1\"\n    port        = {port}\n    pooled_port = {port}\n    sslmode     = \"disable\"\n  }}"
        ));
        self
    }

    /// The PostgreSQL at `port` with apps sent to a pooler at `pooled_port` whose
    /// `auth_user` is `auth_user` (only its name matters to the provider).
    pub(crate) fn postgres_behind_pooler(mut self, port: u16, pooled_port: u16, auth_user: &str) -> Stack {
        self.blocks.push(format!(
            "  postgres {{\n    host             = \"127.0.0.1\"\n    port             = {port}\n    pooled_port      = {pooled_port}\n    sslmode          = \"disable\"\n    pooler_auth_user = \"{auth_user}\"\n  }}"
        ));
        self
    }

    /// As [`Stack::postgres_direct`], plus `extra` settings.
    pub(crate) fn postgres_direct_with(mut self, port: u16, extra: &str) -> Stack {
        self.blocks.push(format!(
            "  postgres {{\n    host        = \"127.0.0.1\"\n    port        = {port}\n    pooled_port = {port}\n    sslmode     = \"disable\"\n    {extra}\n  }}"
        ));
        self
    }

    /// As [`Stack::postgres_direct`], with the admin login `username`.
    pub(crate) fn postgres_direct_as(mut self, port: u16, username: &str, password: &str) -> Stack {
        self.blocks.push(format!(
            "  postgres {{\n    host        = \"127.0.0.1\"\n    port        = {port}\n    pooled_port = {port}\n    sslmode     = \"disable\"\n    username    = \"{username}\"\n    password    = \"{password}\"\n  }}"
        ));
        self
    }

    /// The local MariaDB.
    pub(crate) fn mysql(mut self) -> Stack {
        self.blocks.push("  mysql {\n    host = \"127.0.0.1\"\n    tls  = \"disabled\"\n  }".to_owned());
        self
    }

    /// A Redis block with these settings (`addresses = [...]` and any others).
    pub(crate) fn redis(mut self, settings: &str) -> Stack {
        self.blocks.push(format!("  redis {{\n    {settings}\n  }}"));
        self
    }

    /// The local OpenBao with the story's own database mount; `auth` is `token = "root"`
    /// or a login block.
    pub(crate) fn vault(self, mount: &str, auth: &str) -> Stack {
        self.vault_at("http://127.0.0.1:8200", mount, auth)
    }

    /// OpenBao at `address` (a relay's, say).
    pub(crate) fn vault_at(mut self, address: &str, mount: &str, auth: &str) -> Stack {
        self.blocks.push(format!(
            "  vault {{\n    address        = \"{address}\"\n    database_mount = \"{mount}\"\n    kv_mount       = \"secret\"\n    {auth}\n  }}"
        ));
        self
    }

    /// `main.tf`: the provider's source, the provider block, then `resources`.
    pub(crate) fn main_tf(&self, resources: &str) -> String {
        format!(
            "terraform {{\n  required_providers {{\n    dbaas = {{ source = \"infra/dbaas\" }}\n  }}\n}}\nprovider \"dbaas\" {{\n{}\n}}\n{resources}",
            self.blocks.join("\n")
        )
    }
}

/// A real redis-server of the test's own, on a free port, keeping nothing on disk like
/// the platform's; the test may restart it. Optionally a replica of another.
pub(crate) struct OwnRedis {
    pub(crate) port: u16,
    replica_of: Option<u16>,
    dir: std::path::PathBuf,
}

impl OwnRedis {
    pub(crate) fn start(replica_of: Option<u16>) -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port();
        let dir = std::env::temp_dir().join(format!("tfacc-own-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let node = OwnRedis { port, replica_of, dir };
        node.launch();
        node
    }

    fn launch(&self) {
        let mut cmd = std::process::Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "yes"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--pidfile")
            .arg(self.dir.join("redis.pid"));
        if let Some(primary) = self.replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        let status = cmd.status().expect("redis-server runs (installed with the local Redis: `make services`)");
        assert!(status.success());
        let started = std::time::Instant::now();
        while self.cli(&["PING"]) != "PONG" {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "redis-server on {} did not start",
                self.port
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Stops the server as a crash would (nothing saved) and starts it again: every ACL
    /// user is gone.
    pub(crate) fn restart(&self) {
        self.cli(&["SHUTDOWN", "NOSAVE"]);
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "redis-server on {} did not stop",
                self.port
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.launch();
    }

    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Whether `user` can log in here with `password` (`AUTH` answers OK; redis-cli's
    /// `--user` would fall back to the default user silently).
    pub(crate) fn auth(&self, user: &str, password: &str) -> bool {
        self.cli(&["AUTH", user, password]) == "OK"
    }

    pub(crate) fn users(&self) -> String {
        self.cli(&["ACL", "USERS"])
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.cli(&["SHUTDOWN", "NOSAVE"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A real OpenBao dev server of the test's own, on a free port, root token `root`, keeping
/// everything in memory; the test may restart it empty, as a Vault restored from a backup
/// that lacks everything written since.
pub(crate) struct OwnVault {
    pub(crate) port: u16,
    child: std::sync::Mutex<std::process::Child>,
}

impl OwnVault {
    pub(crate) fn start() -> OwnVault {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port();
        let child = std::sync::Mutex::new(Self::launch(port));
        OwnVault { port, child }
    }

    // The child is handed to the caller, which waits for it on restart and on drop.
    #[allow(clippy::zombie_processes)]
    fn launch(port: u16) -> std::process::Child {
        let bao = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/bao");
        let mut child = Command::new(&bao)
            .args(["server", "-dev", "-dev-root-token-id=root", &format!("-dev-listen-address=127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}: run `make tools`", bao.display()));
        let started = std::time::Instant::now();
        loop {
            let health = Command::new("curl")
                .args(["-fsS", &format!("http://127.0.0.1:{port}/v1/sys/health")])
                .output()
                .expect("curl runs");
            if health.status.success() {
                return child;
            }
            if started.elapsed() > std::time::Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("OpenBao on {port} did not start");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it and starts it again with nothing in it.
    pub(crate) fn restart_empty(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        *child = Self::launch(self.port);
    }

    /// Calls its HTTP API as root.
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&Json>) -> Json {
        vault_at(&self.address(), method, path, body)
    }
}

impl Drop for OwnVault {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port that accepts connections and never says a word, as a black-holed service does;
/// its sockets stay open for the rest of the run.
pub(crate) fn black_hole() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    std::thread::spawn(move || {
        let mut held: Vec<std::net::TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}
