//! What every RPC handler of the plugin shares: component code isolated in its own task,
//! validation, unknown types, identities, and the stream types of the streaming RPCs. Kept
//! apart from [`super::server`] so the handlers split across files (lists, actions) import
//! it and the server without the server importing them back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tonic::Status;

use crate::framework::diagnostics::Diagnostics;
use crate::framework::schema::Schema;
use crate::framework::validate::validate_config;
use crate::framework::value::Value;

use super::proto::tfplugin6 as pb;
use super::wire;

/// What ListResource streams back.
pub(crate) type ListEventStream = Pin<Box<dyn Stream<Item = Result<pb::list_resource::Event, Status>> + Send>>;
/// What InvokeAction streams back.
pub(crate) type ActionEventStream = Pin<Box<dyn Stream<Item = Result<pb::invoke_action::Event, Status>> + Send>>;

pub(super) fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    let mut d = Diagnostics::default();
    d.error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type {name:?}. Check the spelling, and the provider version."),
    );
    d
}

/// Requests at least this large are decoded and diffed on the blocking pool, so one huge
/// plan cannot hold up the serving threads (and every other call on the connection).
const HEAVY_REQUEST_BYTES: usize = 256 * 1024;

/// Runs `work` here when the request is small, else on the blocking pool.
pub(super) async fn off_serving_threads<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Diagnostics> {
    if size < HEAVY_REQUEST_BYTES {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        let mut d = Diagnostics::default();
        d.error(
            "Provider bug: internal error",
            format!("Decoding a large request failed: {e}. Please report this issue."),
        );
        d
    })
}

/// Runs component code in its own task; a panic becomes an error diagnostic.
pub(super) async fn isolated<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, Diagnostics> {
    // Each request is one operation: a service that timed out once in it is not waited
    // for again (see `crate::operation`).
    match tokio::spawn(crate::operation::scope(work)).await {
        Ok(v) => Ok(v),
        Err(e) => {
            let message = if e.is_panic() { panic_message(e.into_panic()) } else { "the task was cancelled".into() };
            tracing::error!(message = %message, "provider code panicked");
            let mut d = Diagnostics::default();
            d.error(
                "Provider bug: internal error",
                format!("The provider crashed while handling this request: {message}\n\nPlease report this issue; the provider is still running."),
            );
            Err(d)
        }
    }
}

/// Decodes a configuration with `schema`, then runs every attribute validator and the
/// component's own cross-attribute `check`, isolated like all component code.
pub(super) async fn validate_with<F, Fut>(
    schema: Arc<Schema>,
    config: Option<&pb::DynamicValue>,
    what: &str,
    check: F,
) -> Result<Vec<pb::Diagnostic>, Diagnostics>
where
    F: FnOnce(Value) -> Fut + Send + 'static,
    Fut: Future<Output = Diagnostics> + Send,
{
    let config = wire::decode(config, &schema.value_type(), what)?;
    let diagnostics = isolated(async move {
        let mut d = validate_config(&schema, &config);
        d.extend(check(config).await);
        d
    })
    .await?;
    Ok(wire::diagnostics(diagnostics))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

pub(super) fn encode_identity(
    schema: Option<&crate::framework::schema::IdentitySchema>,
    identity: Option<&Value>,
) -> Result<Option<pb::ResourceIdentityData>, Diagnostics> {
    match (schema, identity) {
        (Some(s), Some(i)) => Ok(Some(wire::identity(i, &s.value_type())?)),
        _ => Ok(None),
    }
}

/// A response that can carry only diagnostics: what an RPC answers when its work failed.
pub(super) trait WithDiagnostics: Default {
    /// The response holding `d` alone.
    fn with_diagnostics(d: Diagnostics) -> Self;
}

macro_rules! with_diagnostics {
    ($($t:ty),* $(,)?) => {$(
        impl WithDiagnostics for $t {
            // Some responses hold only diagnostics; the same macro serves them all.
            #[allow(clippy::needless_update)]
            fn with_diagnostics(d: Diagnostics) -> Self {
                Self { diagnostics: wire::diagnostics(d), ..Default::default() }
            }
        }
    )*};
}

with_diagnostics!(
    pb::get_metadata::Response,
    pb::get_provider_schema::Response,
    pb::validate_provider_config::Response,
    pb::validate_resource_config::Response,
    pb::validate_data_resource_config::Response,
    pb::upgrade_resource_state::Response,
    pb::get_resource_identity_schemas::Response,
    pb::upgrade_resource_identity::Response,
    pb::configure_provider::Response,
    pb::read_resource::Response,
    pb::plan_resource_change::Response,
    pb::apply_resource_change::Response,
    pb::import_resource_state::Response,
    pb::move_resource_state::Response,
    pb::read_data_source::Response,
    pb::validate_ephemeral_resource_config::Response,
    pb::open_ephemeral_resource::Response,
    pb::renew_ephemeral_resource::Response,
    pb::close_ephemeral_resource::Response,
    pb::get_functions::Response,
    pb::generate_resource_config::Response,
    pb::validate_list_resource_config::Response,
    pb::validate_action_config::Response,
    pb::plan_action::Response,
);
