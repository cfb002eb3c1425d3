//! The tfplugin6 service in-process over `tokio::io::duplex`, with a small test provider:
//! how requests become component calls and how failures become diagnostics.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dbaas::framework::component::*;
use dbaas::framework::diagnostics::Diagnostics;
use dbaas::framework::plan_modifier::{requires_replace, use_state_for_unknown};
use dbaas::framework::schema::{Attribute, Schema};
use dbaas::framework::value::Value;
use dbaas::plugin::codec::{decode_msgpack, encode_msgpack};
use dbaas::plugin::proto::tfplugin6::{
    self as pb, provider_client::ProviderClient, provider_server::ProviderServer as Rpc,
};
use dbaas::plugin::server::ProviderServer;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Server, Uri};

struct TestProvider;

#[async_trait]
impl Provider for TestProvider {
    fn schema(&self) -> Schema {
        Schema::new("test", vec![])
    }
    async fn validate_config(&self, _: &Value, _: &mut Diagnostics) {}
    async fn configure(&self, _: ConfigureRequest, _: &mut Diagnostics) {}
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Thing)]
    }
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![Arc::new(Panics), Arc::new(WaitsForStop)]
    }
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        Vec::new()
    }
}

struct Panics;

#[async_trait]
impl DataSource for Panics {
    fn type_name(&self) -> &'static str {
        "test_panics"
    }
    fn schema(&self) -> Schema {
        Schema::new("panics", vec![Attribute::string("x").optional_computed()])
    }
    async fn read(&self, _: &Context, _: Value, _: &mut Diagnostics) -> Value {
        panic!("the backend returned something impossible")
    }
}

struct WaitsForStop;

#[async_trait]
impl DataSource for WaitsForStop {
    fn type_name(&self) -> &'static str {
        "test_waits"
    }
    fn schema(&self) -> Schema {
        Schema::new("waits", vec![Attribute::string("x").optional_computed()])
    }
    async fn read(&self, ctx: &Context, _: Value, d: &mut Diagnostics) -> Value {
        tokio::select! {
            () = ctx.cancel.cancelled() => d.error("Cancelled", "Terraform asked the provider to stop."),
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        Value::Null
    }
}

struct Thing;

#[async_trait]
impl Resource for Thing {
    fn type_name(&self) -> &'static str {
        "test_thing"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            "thing",
            vec![
                Attribute::string("id").computed().plan_modifier(use_state_for_unknown()),
                Attribute::string("name").required().plan_modifier(requires_replace()),
                Attribute::number("limit").default(Value::int(-1)),
            ],
        )
    }
    async fn create(&self, _: &Context, r: CreateRequest, resp: &mut ApplyResponse) {
        let mut s = r.plan;
        if let Value::Object(m) = &mut s {
            m.insert("id".into(), Value::string("thing-1"));
        }
        resp.state = s;
    }
    async fn read(&self, _: &Context, _: ReadRequest, _: &mut ReadResponse) {}
    async fn update(&self, _: &Context, _: UpdateRequest, _: &mut ApplyResponse) {}
    async fn delete(&self, _: &Context, _: DeleteRequest, _: &mut Diagnostics) {}
    async fn import(&self, _: &Context, _: ImportRequest, _: &mut ImportResponse) {}
}

async fn serve() -> (ProviderClient<Channel>, tokio_util::sync::CancellationToken) {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let server = ProviderServer::new(Arc::new(TestProvider));
    let stop = server.stop_signal();
    tokio::spawn(Server::builder().add_service(Rpc::new(server)).serve_with_incoming(tokio_stream::once(Ok::<
        _,
        std::io::Error,
    >(
        server_io
    ))));
    let mut client_io = Some(client_io);
    let channel = Endpoint::try_from("http://in-process")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let io = client_io.take();
            async move { io.map(TokioIo::new).ok_or_else(|| std::io::Error::other("one connection only")) }
        }))
        .await
        .unwrap();
    (ProviderClient::new(channel), stop)
}

fn dv(value: &Value, schema: &Schema) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue { msgpack: encode_msgpack(value, &schema.value_type()).unwrap(), json: vec![] })
}

fn read_ds(type_name: &str) -> pb::read_data_source::Request {
    pb::read_data_source::Request {
        type_name: type_name.into(),
        config: dv(&Value::object([("x", Value::Null)]), &Panics.schema()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_panic_becomes_a_diagnostic_and_the_provider_keeps_serving() {
    let (mut client, _) = serve().await;
    let resp = client.read_data_source(read_ds("test_panics")).await.unwrap().into_inner();
    assert_eq!(resp.diagnostics.len(), 1);
    let d = &resp.diagnostics[0];
    assert_eq!(d.severity, pb::diagnostic::Severity::Error as i32);
    assert!(d.detail.contains("the backend returned something impossible"), "{}", d.detail);
    assert!(!d.detail.contains("RUST_BACKTRACE") && !d.detail.contains("stack backtrace"), "{}", d.detail);
    // Still serving.
    client.get_provider_schema(pb::get_provider_schema::Request {}).await.unwrap();
}

#[tokio::test]
async fn stop_provider_cancels_in_flight_work() {
    let (mut client, _) = serve().await;
    let mut reader = client.clone();
    let in_flight = tokio::spawn(async move { reader.read_data_source(read_ds("test_waits")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.stop_provider(pb::stop_provider::Request {}).await.unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("read did not end")
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(resp.diagnostics[0].summary, "Cancelled");
}

#[tokio::test]
async fn malformed_input_is_a_diagnostic_with_a_path() {
    let (mut client, _) = serve().await;
    // {"name": 42}: a number where the schema says string.
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &rmpv::Value::Map(vec![(rmpv::Value::from("name"), rmpv::Value::from(42))]))
        .unwrap();
    let resp = client
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: Some(pb::DynamicValue { msgpack: bytes, json: vec![] }),
            client_capabilities: None,
        })
        .await
        .unwrap()
        .into_inner();
    let d = &resp.diagnostics[0];
    let step = &d.attribute.as_ref().unwrap().steps[0];
    assert_eq!(step.selector, Some(pb::attribute_path::step::Selector::AttributeName("name".into())));

    let garbage = client
        .read_data_source(pb::read_data_source::Request {
            type_name: "test_panics".into(),
            config: Some(pb::DynamicValue { msgpack: vec![0x92, 0x01], json: vec![] }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(garbage.diagnostics[0].detail.contains("malformed msgpack"), "{:?}", garbage.diagnostics);
}

#[tokio::test]
async fn unknown_types_are_diagnostics_not_crashes() {
    let (mut client, _) = serve().await;
    let resp = client.read_data_source(read_ds("test_nope")).await.unwrap().into_inner();
    assert!(resp.diagnostics[0].detail.contains("no data source type \"test_nope\""));
    let resp = client
        .open_ephemeral_resource(pb::open_ephemeral_resource::Request {
            type_name: "test_nope".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.diagnostics[0].summary, "Unknown ephemeral resource type");
    let resp = client
        .move_resource_state(pb::move_resource_state::Request {
            target_type_name: "test_thing".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!resp.diagnostics.is_empty());
}

#[tokio::test]
async fn plan_create_then_rename_requires_replace() {
    let (mut client, _) = serve().await;
    let schema = Thing.schema();
    let config = Value::object([("id", Value::Null), ("name", Value::string("a")), ("limit", Value::Null)]);
    let plan = client
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&Value::Null, &schema),
            proposed_new_state: dv(&config, &schema),
            config: dv(&config, &schema),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let planned = decode_msgpack(&plan.planned_state.unwrap().msgpack, &schema.value_type()).unwrap();
    assert!(planned.attr("id").unwrap().is_unknown());
    assert_eq!(planned.attr("limit"), Some(&Value::int(-1)));

    let state =
        Value::object([("id", Value::string("thing-1")), ("name", Value::string("a")), ("limit", Value::int(-1))]);
    let renamed =
        Value::object([("id", Value::string("thing-1")), ("name", Value::string("b")), ("limit", Value::int(-1))]);
    let plan = client
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&state, &schema),
            proposed_new_state: dv(&renamed, &schema),
            config: dv(
                &Value::object([("id", Value::Null), ("name", Value::string("b")), ("limit", Value::Null)]),
                &schema,
            ),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.requires_replace.len(), 1);

    let applied = client
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&Value::Null, &schema),
            planned_state: dv(
                &Value::object([("id", Value::unknown()), ("name", Value::string("a")), ("limit", Value::int(-1))]),
                &schema,
            ),
            config: dv(&config, &schema),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let new_state = decode_msgpack(&applied.new_state.unwrap().msgpack, &schema.value_type()).unwrap();
    assert_eq!(new_state.attr("id"), Some(&Value::string("thing-1")));
}

#[tokio::test]
async fn state_upgrade_at_the_same_version_drops_removed_attributes() {
    let (mut client, _) = serve().await;
    let resp = client
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "test_thing".into(),
            version: 0,
            raw_state: Some(pb::RawState {
                json: br#"{"id":"t","name":"a","limit":3,"gone":true}"#.to_vec(),
                flatmap: Default::default(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let state = decode_msgpack(&resp.upgraded_state.unwrap().msgpack, &Thing.schema().value_type()).unwrap();
    assert_eq!(state.attr("limit"), Some(&Value::int(3)));
    let newer = client
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "test_thing".into(),
            version: 7,
            raw_state: Some(pb::RawState { json: b"{}".to_vec(), flatmap: Default::default() }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(newer.diagnostics[0].summary, "State written by a newer provider");
}
