//! Adoption: a platform team brings a database made by hand under the provider. The first
//! plan after the import says every change the apply then makes, and the apply makes no
//! other; the data is untouched, and credentials of each level work on the tables that
//! were there before.

use crate::util::*;

/// What the server says of schema `public` and the hand-made table: owner of the schema,
/// whether PUBLIC may create there, the table's owner, and the readwrite role's rights on it.
fn shape(name: &str) -> String {
    psql(
        name,
        &format!(
            "SELECT pg_get_userbyid(n.nspowner), has_schema_privilege('public', 'public', 'CREATE'), \
                    pg_get_userbyid(c.relowner), \
                    EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}_readwrite') \
                      AND has_table_privilege('{name}_readwrite', 'public.orders', 'SELECT, INSERT, UPDATE, DELETE') \
             FROM pg_namespace n, pg_class c WHERE n.nspname = 'public' AND c.oid = 'public.orders'::regclass"
        ),
    )
}

/// Drops a role made for the story when it ends, however it ends (its name is Vault's,
/// not the story's prefix, so `Cleanup` would not find it).
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
            .args(["-c", &format!("DROP OWNED BY \"{}\"", self.0)])
            .args(["-c", &format!("DROP ROLE IF EXISTS \"{}\"", self.0)])
            .output();
    }
}

#[test]
fn a_hand_made_database_is_imported_with_every_change_shown_at_plan() {
    require_services();
    for tf in terraforms() {
        let c = Cleanup::new("adoptpg");
        let name = c.prefix.clone();
        // The world before: a database and a table made by the server's admin, with rows.
        psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        psql(
            &name,
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders VALUES (1, 9.5), (2, 20)",
        );
        // As in a database that came from PostgreSQL 14 or older: anyone may create in public.
        psql(&name, "GRANT CREATE ON SCHEMA public TO PUBLIC");
        let checksum = || psql(&name, "SELECT md5(string_agg(id || ':' || total, ',' ORDER BY id)) FROM orders");
        // Users the old hand-written Vault role issued: one whose revocation failed (its
        // VALID UNTIL long past), one whose lease is live; and a hand-made login.
        let stamp = c.prefix.replace('_', "-");
        let (lost, live, admin) = (
            Role(format!("v-token-{stamp}-lost-1700000000")),
            Role(format!("v-token-{stamp}-live-1900000000")),
            Role(format!("{name}_admin_by_hand")),
        );
        for (role, until) in [(&lost, "2020-01-01"), (&live, "2099-01-01"), (&admin, "2020-01-01")] {
            psql("postgres", &format!("CREATE ROLE \"{}\" LOGIN PASSWORD 'x' VALID UNTIL '{until}'", role.0));
            psql("postgres", &format!("GRANT ALL PRIVILEGES ON DATABASE \"{name}\" TO \"{}\"", role.0));
        }
        let before_rows = checksum();
        let before = shape(&name);
        assert!(before.starts_with("pg_database_owner|t|postgres|f"), "{before}");

        let main = Stack::default().postgres(5432, "").vault(&c.mount, "token = \"root\"").main_tf(&format!(
            "resource \"dbaas_shared_database\" \"orders\" {{\n  name = \"{name}\"\n  engine = \"postgresql\"\n}}\n\
             import {{\n  to = dbaas_shared_database.orders\n  id = \"postgresql/{name}\"\n}}\n\
             resource \"dbaas_rotated_role\" \"app\" {{\n  database = dbaas_shared_database.orders.id\n  name = \"app\"\n}}\n"
        ));
        let ws = Workspace::new(tf, "adoptpg", &main);
        ws.init();
        let plan = ws.ok(&["plan", "-no-color", "-input=false"]);
        let said = plan.split_whitespace().collect::<Vec<_>>().join(" ");
        for change in [
            "Apply brings an imported database to the provider's shape",
            &format!("schema public changes owner from \"pg_database_owner\" to \"{name}_owner\""),
            "PUBLIC loses CREATE on schema public",
            "1 existing table(s) and view(s) in public are granted",
            "default privileges",
            "owned by \"postgres\" keep their owner",
            "CONNECT on",
        ] {
            assert!(said.contains(change), "the plan does not say {change:?}:\n{plan}");
        }
        assert_eq!(shape(&name), before, "a plan changed nothing");

        ws.apply();
        // Exactly what the plan said: the schema changed hands, PUBLIC lost CREATE, the group
        // role got its rights; the table kept its owner and its rows.
        assert_eq!(shape(&name), format!("{name}_owner|f|postgres|t"));
        assert_eq!(checksum(), before_rows);
        ws.assert_plan_empty();

        // A readwrite credential from the new role works on the table that was there before.
        let creds = vault("GET", &format!("{}/creds/postgres-{name}-app", c.mount), None);
        let (user, password) =
            (creds["data"]["username"].as_str().unwrap(), creds["data"]["password"].as_str().unwrap());
        psql_pooled(user, password, &name, "INSERT INTO orders VALUES (3, 1)")
            .expect("readwrite inserts into the old table");
        assert_eq!(psql(&name, "SELECT count(*) FROM orders"), "3");

        // The user the old role left behind is stale; the live one and the hand-made login
        // are not, and cleaning up drops exactly it.
        ws.ok(&["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"]);
        let show = ws.show();
        let app = show["values"]["root_module"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == "dbaas_rotated_role.app")
            .cloned()
            .unwrap();
        assert_eq!(app["values"]["stale_users"], serde_json::json!([lost.0]), "{app}");
        ws.write_main(&main.replace("name = \"app\"\n", "name = \"app\"\n  cleanup_stale_users = true\n"));
        ws.apply();
        let exists = |role: &str| psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"));
        assert_eq!((exists(&lost.0), exists(&live.0), exists(&admin.0)), ("0".into(), "1".into(), "1".into()));
        ws.destroy();
        assert_eq!(
            psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")),
            "1",
            "retain keeps it"
        );
    }
}
