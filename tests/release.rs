//! `make release`: what a CI runner on a fresh machine installs. The release is built for
//! real (both targets), then checked the way its users meet it: checksums and signature,
//! an aarch64 binary in the arm64 zip, `terraform init` through a `filesystem_mirror` on
//! the release's mirror with the lock file's hashes enforced, and an apply with the
//! amd64 build. Runs on its own after the other tests (`make test`): it uses both cores.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERSION: &str = "0.0.1";
const NAME: &str = "terraform-provider-dbaas";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn terraform() -> PathBuf {
    std::env::var_os("TF_ACC_TERRAFORM_PATH").map_or_else(|| root().join(".tools/bin/terraform"), PathBuf::from)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// An ELF binary's machine (0x3e x86-64, 0xb7 aarch64), and whether it names a dynamic
/// loader (a PT_INTERP program header): a static binary does not.
fn elf(bytes: &[u8]) -> (u16, bool) {
    assert!(bytes.starts_with(b"\x7fELF\x02\x01"), "not a 64-bit little-endian ELF");
    let word = |at: usize, n: usize| bytes[at..at + n].iter().rev().fold(0u64, |v, b| (v << 8) | u64::from(*b));
    let (phoff, phentsize, phnum) = (word(0x20, 8) as usize, word(0x36, 2) as usize, word(0x38, 2) as usize);
    let interp = (0..phnum).any(|i| word(phoff + i * phentsize, 4) == 3);
    (word(18, 2) as u16, interp)
}

/// The machine of the one binary in `zip`, which must be static.
fn elf_machine(zip: &Path) -> u16 {
    let (machine, dynamic) = elf(&run(Command::new("unzip").arg("-p").arg(zip)).stdout);
    assert!(!dynamic, "{} is dynamically linked: it needs the runner's libc", zip.display());
    machine
}

fn sha256(path: &Path) -> String {
    let text = ok(Command::new("sha256sum").arg(path));
    text.split_whitespace().next().unwrap().to_owned()
}

/// Runs the arm64 binary under qemu-user as go-plugin starts a plugin (magic cookie and a
/// P-521 client certificate from openssl) and reads its handshake line: the runtime, the
/// certificate generation (ring's aarch64 code) and the socket all work on aarch64.
fn arm64_binary_starts(work: &Path, zip: &Path) {
    let dir = work.join("arm64");
    ok(Command::new("unzip").arg("-q").arg("-o").arg(zip).arg("-d").arg(&dir));
    let (key, cert) = (dir.join("client.key"), dir.join("client.pem"));
    ok(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let mut child = Command::new("qemu-aarch64")
        .arg(dir.join(format!("{NAME}_v{VERSION}")))
        .env("TF_PLUGIN_MAGIC_COOKIE", "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2")
        .env("PLUGIN_CLIENT_CERT", std::fs::read_to_string(&cert).unwrap())
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("qemu-aarch64 runs (scripts/setup-cross.sh installs qemu-user)");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    assert!(parts.len() == 6 && parts[..3] == ["1", "6", "unix"] && parts[4] == "grpc", "handshake: {line:?}");
}

/// Terraform's `h1:` hash of a provider zip: the SHA-256 of the lines
/// `<sha256 hex>  <file name>`, one per file in name order, in base64.
fn h1(zip: &Path) -> String {
    use base64::Engine;
    let unpacked = zip.with_extension("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    ok(Command::new("unzip").arg("-q").arg(zip).arg("-d").arg(&unpacked));
    let mut names: Vec<String> =
        std::fs::read_dir(&unpacked).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let summary: String = names.iter().map(|n| format!("{}  {n}\n", sha256(&unpacked.join(n)))).collect();
    let _ = std::fs::remove_dir_all(&unpacked);
    let digest = ring::digest::digest(&ring::digest::SHA256, summary.as_bytes());
    format!("h1:{}", base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
}

/// A workspace whose only way to get the provider is the mirror at `mirror`.
fn mirrored_workspace(dir: &Path, mirror: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("terraform.rc"),
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/infra/dbaas\"]\n  }}\n}}\n",
            mirror.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("main.tf"),
        format!(
            "terraform {{\n  required_providers {{\n    dbaas = {{\n      source  = \"infra/dbaas\"\n      version = \"{VERSION}\"\n    }}\n  }}\n}}\nprovider \"dbaas\" {{\n  postgres {{\n    host    = \"db.example.internal\"\n    sslmode = \"verify-full\"\n  }}\n}}\ndata \"dbaas_endpoints\" \"this\" {{}}\noutput \"postgres_host\" {{\n  value = data.dbaas_endpoints.this.postgres.host\n}}\n"
        ),
    )
    .unwrap();
}

fn tf(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(terraform());
    cmd.current_dir(dir)
        .args(args)
        .env("TF_CLI_CONFIG_FILE", dir.join("terraform.rc"))
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env_remove("TF_PLUGIN_CACHE_DIR");
    cmd
}

#[test]
fn a_release_installs_from_its_mirror_with_checked_hashes_and_runs() {
    let work = std::env::temp_dir().join(format!("tfrelease_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let (gnupg, out) = (work.join("gnupg"), work.join("dist"));
    std::fs::create_dir_all(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    ok(Command::new("gpg").env("GNUPGHOME", &gnupg).args([
        "--batch",
        "--passphrase",
        "",
        "--quick-gen-key",
        "release-test <release-test@example.invalid>",
        "ed25519",
        "sign",
        "never",
    ]));

    ok(Command::new(root().join("scripts/release.sh"))
        .env("VERSION", VERSION)
        .env("GPG_KEY", "release-test@example.invalid")
        .env("OUT", &out)
        .env("GNUPGHOME", &gnupg));

    // The registry layout: zips, manifest, checksums that hold, a signature that verifies.
    let release = out.join(VERSION);
    let file = |suffix: &str| release.join(format!("{NAME}_{VERSION}_{suffix}"));
    ok(Command::new("sha256sum").current_dir(&release).args(["--check", "--strict"]).arg(file("SHA256SUMS")));
    ok(Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .arg("--verify")
        .arg(file("SHA256SUMS.sig"))
        .arg(file("SHA256SUMS")));
    let sums = std::fs::read_to_string(file("SHA256SUMS")).unwrap();
    for listed in ["linux_amd64.zip", "linux_arm64.zip", "manifest.json"] {
        assert!(sums.contains(&format!("{NAME}_{VERSION}_{listed}")), "{listed} not in SHA256SUMS:\n{sums}");
    }
    let tampered = work.join("SHA256SUMS.tampered");
    std::fs::write(&tampered, sums.replacen('0', "1", 1)).unwrap();
    let refused =
        run(Command::new("gpg").env("GNUPGHOME", &gnupg).arg("--verify").arg(file("SHA256SUMS.sig")).arg(&tampered));
    assert!(!refused.status.success(), "a changed SHA256SUMS still verified");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["metadata"]["protocol_versions"], serde_json::json!(["6.0"]));
    assert_eq!(elf_machine(&file("linux_amd64.zip")), 0x3e, "amd64 zip is not x86-64");
    assert_eq!(elf_machine(&file("linux_arm64.zip")), 0xb7, "arm64 zip is not aarch64");
    arm64_binary_starts(&work, &file("linux_arm64.zip"));
    // The check can fail: this test binary itself is dynamically linked (glibc).
    let own = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(elf(&own).1, "the ELF reader misses a dynamic binary's loader");

    // The network mirror protocol's index, with the zips' hashes.
    let mirror = out.join("mirror");
    let provider_dir = mirror.join("registry.terraform.io/infra/dbaas");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(provider_dir.join("index.json")).unwrap()).unwrap();
    assert!(index["versions"][VERSION].is_object(), "{index}");
    let archives: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(provider_dir.join(format!("{VERSION}.json"))).unwrap()).unwrap();
    for platform in ["linux_amd64", "linux_arm64"] {
        let zip = format!("{NAME}_{VERSION}_{platform}.zip");
        assert_eq!(archives["archives"][platform]["url"], zip.as_str());
        assert_eq!(
            archives["archives"][platform]["hashes"][0],
            format!("zh:{}", sha256(&file(&format!("{platform}.zip"))))
        );
    }

    // A fresh runner: init from the mirror, lock both platforms, apply with the amd64 build.
    let ws = work.join("stack");
    mirrored_workspace(&ws, &mirror);
    let init = ok(&mut tf(&ws, &["init", "-input=false", "-no-color"]));
    assert!(init.contains(&format!("Installed infra/dbaas v{VERSION}")), "{init}");
    ok(tf(&ws, &["providers", "lock", "-no-color", "-fs-mirror"])
        .arg(&mirror)
        .args(["-platform=linux_amd64", "-platform=linux_arm64"]));
    let lock = std::fs::read_to_string(ws.join(".terraform.lock.hcl")).unwrap();
    for platform in ["linux_amd64", "linux_arm64"] {
        let h1 = h1(&file(&format!("{platform}.zip")));
        assert!(lock.contains(&h1), "the lock file lacks {platform}'s {h1}:\n{lock}");
    }
    let applied = ok(&mut tf(&ws, &["apply", "-auto-approve", "-input=false", "-no-color"]));
    assert!(applied.contains("postgres_host = \"db.example.internal\""), "{applied}");

    // The lock file's hashes are enforced: a mirror whose amd64 binary was changed (one
    // byte appended) is refused. (The lock lists every platform's hash together, so a zip
    // swapped for the arm64 one would pass: it is a genuine package of this version.)
    let bad_mirror = work.join("bad-mirror");
    let bad_dir = bad_mirror.join("registry.terraform.io/infra/dbaas");
    let binary = bad_dir.join(format!("{NAME}_v{VERSION}"));
    std::fs::create_dir_all(&bad_dir).unwrap();
    ok(Command::new("unzip").arg("-q").arg(file("linux_amd64.zip")).arg("-d").arg(&bad_dir));
    let mut bytes = std::fs::read(&binary).unwrap();
    bytes.push(0);
    std::fs::write(&binary, bytes).unwrap();
    ok(Command::new("zip").current_dir(&bad_dir).args([
        "-q",
        "-m",
        &format!("{NAME}_{VERSION}_linux_amd64.zip"),
        &format!("{NAME}_v{VERSION}"),
    ]));
    let swapped = work.join("swapped");
    mirrored_workspace(&swapped, &bad_mirror);
    std::fs::copy(ws.join(".terraform.lock.hcl"), swapped.join(".terraform.lock.hcl")).unwrap();
    let refused = run(&mut tf(&swapped, &["init", "-input=false", "-no-color"]));
    let text = format!("{}{}", String::from_utf8_lossy(&refused.stdout), String::from_utf8_lossy(&refused.stderr));
    assert!(!refused.status.success() && text.contains("checksum"), "a swapped zip was installed:\n{text}");

    let _ = std::fs::remove_dir_all(&work);
}
