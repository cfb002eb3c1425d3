//! `ListResource` and `ValidateListResourceConfig` (Terraform 1.14+, `terraform query`).
//!
//! A list resource names what it finds by identity. When Terraform wants whole objects
//! (`include_resource`, and always for `-generate-config-out`), each one is imported and
//! read through its managed resource, so a listed object is exactly what an import of it
//! would give, and the generated configuration imports with no change but its claim.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::framework::component::{
    Context, ImportRequest, ImportResponse, ListRequest, ListResponse, Listed, ReadRequest, ReadResponse, Resource,
};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::plan::strip_write_only;
use crate::framework::schema::Schema;

use super::proto::tfplugin6 as pb;
use super::rpc::{ListEventStream as EventStream, encode_identity, isolated, unknown_type, validate_with};
use super::server::ProviderServer;
use super::wire;

/// Results in flight before the producer waits for Terraform to take them.
const IN_FLIGHT: usize = 16;

impl ProviderServer {
    pub(super) async fn validate_list(
        &self,
        r: pb::validate_list_resource_config::Request,
    ) -> Result<pb::validate_list_resource_config::Response, Diagnostics> {
        let (lister, schema) = self
            .list_resources
            .get(r.type_name.as_str())
            .cloned()
            .ok_or_else(|| unknown_type("list resource", &r.type_name))?;
        let diagnostics = validate_with(schema, r.config.as_ref(), "list configuration", move |config| async move {
            let mut d = Diagnostics::default();
            lister.validate_config(&config, &mut d).await;
            d
        })
        .await?;
        Ok(pb::validate_list_resource_config::Response { diagnostics })
    }

    pub(super) async fn list(&self, r: pb::list_resource::Request) -> EventStream {
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        match self.find(&r).await {
            Err(d) => {
                let _ = tx.send(Ok(failed(d))).await;
            }
            Ok((resource, response)) => {
                let (schema, ctx) = (self.schema_of(&r.type_name), self.context.clone());
                tokio::spawn(send_results(tx, resource, schema, ctx, response, r.include_resource_object));
            }
        }
        Box::pin(ReceiverStream::new(rx))
    }

    /// Runs the list resource: what it found, for the managed resource of its type name.
    async fn find(&self, r: &pb::list_resource::Request) -> Result<(Arc<dyn Resource>, ListResponse), Diagnostics> {
        let (lister, schema) = self
            .list_resources
            .get(r.type_name.as_str())
            .cloned()
            .ok_or_else(|| unknown_type("list resource", &r.type_name))?;
        let resource = self.resource(&r.type_name)?;
        let config = wire::decode(r.config.as_ref(), &schema.value_type(), "list configuration")?;
        let limit = usize::try_from(r.limit).ok().filter(|l| *l > 0).unwrap_or(usize::MAX);
        let ctx = self.context.clone();
        let mut response = isolated(async move {
            let mut response = ListResponse::default();
            lister.list(&ctx, ListRequest { config, limit }, &mut response).await;
            response
        })
        .await?;
        response.found.truncate(limit);
        if response.diagnostics.has_error() {
            return Err(response.diagnostics);
        }
        Ok((resource, response))
    }
}

/// An event carrying only diagnostics: the list, or one object of it, could not be read.
fn failed(d: Diagnostics) -> pb::list_resource::Event {
    pb::list_resource::Event { diagnostic: wire::diagnostics(d), ..Default::default() }
}

/// Streams one event per object found, importing and reading each when Terraform wants
/// whole objects. Stops when Terraform stops listening.
async fn send_results(
    tx: mpsc::Sender<Result<pb::list_resource::Event, Status>>,
    resource: Arc<dyn Resource>,
    schema: Arc<Schema>,
    ctx: Context,
    response: ListResponse,
    include_resource: bool,
) {
    if !response.diagnostics.is_empty() && tx.send(Ok(failed(response.diagnostics))).await.is_err() {
        return;
    }
    let identity_schema = resource.identity_schema();
    for listed in response.found {
        let event = match event(&resource, &schema, identity_schema.as_ref(), &ctx, listed, include_resource).await {
            Ok(Some(e)) => e,
            // Gone between listing and reading.
            Ok(None) => continue,
            Err(d) => failed(d),
        };
        if tx.send(Ok(event)).await.is_err() {
            return;
        }
    }
}

/// The event for one object found: its identity and display name and, when Terraform
/// wants it, the object as an import and a read give it; `None` when it has gone since.
async fn event(
    resource: &Arc<dyn Resource>,
    schema: &Schema,
    identity_schema: Option<&crate::framework::schema::IdentitySchema>,
    ctx: &Context,
    listed: Listed,
    include_resource: bool,
) -> Result<Option<pb::list_resource::Event>, Diagnostics> {
    let identity = encode_identity(identity_schema, Some(&listed.identity))?;
    let mut resource_object = None;
    if include_resource {
        let (resource, ctx, id) = (resource.clone(), ctx.clone(), listed.identity.clone());
        let read = isolated(async move {
            let mut imported = ImportResponse::default();
            resource.import(&ctx, ImportRequest { id: String::new(), identity: Some(id) }, &mut imported).await;
            if imported.diagnostics.has_error() {
                return ReadResponse { diagnostics: imported.diagnostics, ..Default::default() };
            }
            let mut read = ReadResponse { state: imported.state.clone(), ..Default::default() };
            resource.read(&ctx, ReadRequest { state: imported.state }, &mut read).await;
            read
        })
        .await?;
        if read.diagnostics.has_error() {
            return Err(read.diagnostics);
        }
        if read.state.is_null() {
            return Ok(None);
        }
        let mut state = read.state;
        strip_write_only(schema, &mut state);
        // Read's warnings (drift a plan would repair) are about managing the object; a
        // listing only says it exists, so they are left out.
        resource_object = Some(wire::encode(&state, &schema.value_type())?);
    }
    Ok(Some(pb::list_resource::Event {
        identity,
        display_name: listed.display_name,
        resource_object,
        diagnostic: Vec::new(),
    }))
}
