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
