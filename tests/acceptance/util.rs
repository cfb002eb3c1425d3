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
        eprintln!("acceptance: running against Terraform {}", versions.join(", "));
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

    /// Runs `terraform ARGS` here.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
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
        cmd.output().expect("terraform runs")
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
