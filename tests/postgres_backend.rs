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
        deadline: Default::default(),
        lock_timeout: std::time::Duration::from_secs(300),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_work_than_connections_across_databases_completes() {
    let pg = Arc::new(admin(2));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let pg = pg.clone();
            tokio::spawn(async move {
                let database = if i % 2 == 0 { "postgres" } else { "template1" };
                let mut c = pg.connect(database).await.unwrap();
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
