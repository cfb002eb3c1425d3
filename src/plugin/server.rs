//! The tfplugin6 `Provider` gRPC service: decodes each request, calls the framework
//! component it names, and encodes the answer. User-facing problems travel as
//! diagnostics; `tonic::Status` is never used for them.
//!
//! Component code runs in its own task, so that a panic there becomes an error
//! diagnostic carrying the panic message while the provider keeps serving.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use tonic::{Request, Response, Status};

use crate::framework::component::{
    Action, ConfigureRequest, Context, DataSource, EphemeralResource, ListResource, OpenResponse, Provider,
    RenewResponse, Resource,
};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::schema::Schema;

use super::proto::tfplugin6 as pb;
use super::proto::tfplugin6::provider_server::Provider as ProviderRpc;
use super::rpc::{WithDiagnostics, isolated, unknown_type, validate_with};
use super::wire;

/// Serves one [`Provider`] over tfplugin6.
pub struct ProviderServer {
    provider: Arc<dyn Provider>,
    /// Schemas by type name, built once: Terraform asks for values of each type hundreds
    /// of times in a large plan.
    schemas: BTreeMap<&'static str, Arc<Schema>>,
    resources: BTreeMap<&'static str, Arc<dyn Resource>>,
    data_sources: BTreeMap<&'static str, Arc<dyn DataSource>>,
    ephemeral_resources: BTreeMap<&'static str, Arc<dyn EphemeralResource>>,
    /// List resources share their managed resource's type name, so their config schemas
    /// are kept apart from `schemas`.
    pub(super) list_resources: BTreeMap<&'static str, (Arc<dyn ListResource>, Arc<Schema>)>,
    pub(super) actions: BTreeMap<&'static str, (Arc<dyn Action>, Arc<Schema>)>,
    pub(super) context: Context,
}

impl ProviderServer {
    /// A server for `provider`.
    pub fn new(provider: Arc<dyn Provider>) -> ProviderServer {
        let resources: BTreeMap<&'static str, Arc<dyn Resource>> =
            provider.resources().into_iter().map(|r| (r.type_name(), r)).collect();
        let data_sources: BTreeMap<&'static str, Arc<dyn DataSource>> =
            provider.data_sources().into_iter().map(|d| (d.type_name(), d)).collect();
        let ephemeral_resources: BTreeMap<&'static str, Arc<dyn EphemeralResource>> =
            provider.ephemeral_resources().into_iter().map(|e| (e.type_name(), e)).collect();
        let schemas = resources
            .iter()
            .map(|(n, r)| (*n, Arc::new(r.schema())))
            .chain(data_sources.iter().map(|(n, d)| (*n, Arc::new(d.schema()))))
            .chain(ephemeral_resources.iter().map(|(n, e)| (*n, Arc::new(e.schema()))))
            .collect();
        let list_resources = provider
            .list_resources()
            .into_iter()
            .map(|l| {
                let schema = Arc::new(l.schema());
                (l.type_name(), (l, schema))
            })
            .collect();
        let actions = provider
            .actions()
            .into_iter()
            .map(|a| {
                let schema = Arc::new(a.schema());
                (a.type_name(), (a, schema))
            })
            .collect();
        ProviderServer {
            schemas,
            resources,
            data_sources,
            ephemeral_resources,
            list_resources,
            actions,
            provider,
            context: Context::default(),
        }
    }

    /// The cancellation signal StopProvider raises; component code sees it in [`Context`].
    pub fn stop_signal(&self) -> tokio_util::sync::CancellationToken {
        self.context.cancel.clone()
    }

    /// The schema of type `name` (registered types only).
    pub(super) fn schema_of(&self, name: &str) -> Arc<Schema> {
        self.schemas.get(name).cloned().expect("every registered type has a schema")
    }

    pub(super) fn resource(&self, name: &str) -> Result<Arc<dyn Resource>, Diagnostics> {
        self.resources.get(name).cloned().ok_or_else(|| unknown_type("resource", name))
    }

    fn data_source(&self, name: &str) -> Result<Arc<dyn DataSource>, Diagnostics> {
        self.data_sources.get(name).cloned().ok_or_else(|| unknown_type("data source", name))
    }

    fn ephemeral(&self, name: &str) -> Result<Arc<dyn EphemeralResource>, Diagnostics> {
        self.ephemeral_resources.get(name).cloned().ok_or_else(|| unknown_type("ephemeral resource", name))
    }
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

/// Collapses `Result<R, Diagnostics>` into `R`, putting the diagnostics into `R`'s own
/// diagnostics field.
macro_rules! respond {
    ($result:expr, $response:ty) => {
        match $result {
            Ok(r) => Ok(Response::new(r)),
            Err(d) => Ok(Response::new(<$response>::with_diagnostics(d))),
        }
    };
}

#[tonic::async_trait]
impl ProviderRpc for ProviderServer {
    async fn get_metadata(
        &self,
        _: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        use pb::get_metadata as m;
        Ok(Response::new(m::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: self.data_sources.keys().map(|n| m::DataSourceMetadata { type_name: (*n).into() }).collect(),
            resources: self.resources.keys().map(|n| m::ResourceMetadata { type_name: (*n).into() }).collect(),
            functions: Vec::new(),
            ephemeral_resources: self
                .ephemeral_resources
                .keys()
                .map(|n| m::EphemeralMetadata { type_name: (*n).into() })
                .collect(),
            list_resources: self
                .list_resources
                .keys()
                .map(|n| m::ListResourceMetadata { type_name: (*n).into() })
                .collect(),
            actions: self.actions.keys().map(|n| m::ActionMetadata { type_name: (*n).into() }).collect(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(wire::schema(&self.provider.schema())),
            resource_schemas: self.resources.keys().map(|n| ((*n).into(), wire::schema(&self.schema_of(n)))).collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(n, d)| ((*n).into(), wire::schema(&d.schema())))
                .collect(),
            ephemeral_resource_schemas: self
                .ephemeral_resources
                .iter()
                .map(|(n, e)| ((*n).into(), wire::schema(&e.schema())))
                .collect(),
            list_resource_schemas: self
                .list_resources
                .iter()
                .map(|(n, (_, schema))| ((*n).into(), wire::schema(schema)))
                .collect(),
            action_schemas: self
                .actions
                .iter()
                .map(|(n, (_, schema))| ((*n).into(), pb::ActionSchema { schema: Some(wire::schema(schema)) }))
                .collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let r = request.into_inner();
        let provider = self.provider.clone();
        let result = validate_with(
            Arc::new(provider.schema()),
            r.config.as_ref(),
            "provider configuration",
            move |config| async move {
                let mut d = Diagnostics::default();
                provider.validate_config(&config, &mut d).await;
                d
            },
        )
        .await
        .map(|diagnostics| pb::validate_provider_config::Response { diagnostics });
        respond!(result, pb::validate_provider_config::Response)
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let r = request.into_inner();
        let provider = self.provider.clone();
        let stop = self.context.cancel.clone();
        let result = async move {
            let config = wire::decode(r.config.as_ref(), &provider.schema().value_type(), "provider configuration")?;
            let request = ConfigureRequest { terraform_version: r.terraform_version, config, stop };
            let diagnostics = isolated(async move {
                let mut d = Diagnostics::default();
                provider.configure(request, &mut d).await;
                d
            })
            .await?;
            Ok(pb::configure_provider::Response { diagnostics: wire::diagnostics(diagnostics) })
        }
        .await;
        respond!(result, pb::configure_provider::Response)
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let diagnostics = validate_with(
                self.schema_of(&r.type_name),
                r.config.as_ref(),
                "resource configuration",
                move |config| async move {
                    let mut d = Diagnostics::default();
                    resource.validate_config(&config, &mut d).await;
                    d
                },
            )
            .await?;
            Ok(pb::validate_resource_config::Response { diagnostics })
        }
        .await;
        respond!(result, pb::validate_resource_config::Response)
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let data_source = self.data_source(&r.type_name)?;
            let diagnostics = validate_with(
                self.schema_of(&r.type_name),
                r.config.as_ref(),
                "data source configuration",
                move |config| async move {
                    let mut d = Diagnostics::default();
                    data_source.validate_config(&config, &mut d).await;
                    d
                },
            )
            .await?;
            Ok(pb::validate_data_resource_config::Response { diagnostics })
        }
        .await;
        respond!(result, pb::validate_data_resource_config::Response)
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        respond!(self.upgrade_state(request.into_inner()).await, pb::upgrade_resource_state::Response)
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .resources
                .iter()
                .filter_map(|(n, r)| Some(((*n).to_owned(), wire::identity_schema(&r.identity_schema()?))))
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        respond!(self.upgrade_identity(request.into_inner()).await, pb::upgrade_resource_identity::Response)
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        respond!(self.read(request.into_inner()).await, pb::read_resource::Response)
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        respond!(self.plan(request.into_inner()).await, pb::plan_resource_change::Response)
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        respond!(self.apply(request.into_inner()).await, pb::apply_resource_change::Response)
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        respond!(self.import(request.into_inner()).await, pb::import_resource_state::Response)
    }

    async fn move_resource_state(
        &self,
        request: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let r = request.into_inner();
        let mut d = Diagnostics::default();
        d.error(
            "Moving state into this resource type is not supported",
            format!(
                "{} cannot take over state of {} ({}). Import the existing object instead: `terraform import`.",
                r.target_type_name, r.source_type_name, r.source_provider_address
            ),
        );
        Ok(Response::new(pb::move_resource_state::Response::with_diagnostics(d)))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let data_source = self.data_source(&r.type_name)?;
            let ty = self.schema_of(&r.type_name).value_type();
            let config = wire::decode(r.config.as_ref(), &ty, "data source configuration")?;
            let ctx = self.context.clone();
            let (state, diagnostics) = isolated(async move {
                let mut d = Diagnostics::default();
                let state = data_source.read(&ctx, config, &mut d).await;
                (state, d)
            })
            .await?;
            if diagnostics.has_error() {
                return Err(diagnostics);
            }
            Ok(pb::read_data_source::Response {
                state: Some(wire::encode(&state, &ty)?),
                diagnostics: wire::diagnostics(diagnostics),
                deferred: None,
            })
        }
        .await;
        respond!(result, pb::read_data_source::Response)
    }

    async fn validate_ephemeral_resource_config(
        &self,
        request: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let ephemeral = self.ephemeral(&r.type_name)?;
            let diagnostics = validate_with(
                self.schema_of(&r.type_name),
                r.config.as_ref(),
                "ephemeral resource configuration",
                move |config| async move {
                    let mut d = Diagnostics::default();
                    ephemeral.validate_config(&config, &mut d).await;
                    d
                },
            )
            .await?;
            Ok(pb::validate_ephemeral_resource_config::Response { diagnostics })
        }
        .await;
        respond!(result, pb::validate_ephemeral_resource_config::Response)
    }

    async fn open_ephemeral_resource(
        &self,
        request: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let ephemeral = self.ephemeral(&r.type_name)?;
            let ty = self.schema_of(&r.type_name).value_type();
            let config = wire::decode(r.config.as_ref(), &ty, "ephemeral resource configuration")?;
            let ctx = self.context.clone();
            let response = isolated(async move {
                let mut response = OpenResponse::default();
                ephemeral.open(&ctx, config, &mut response).await;
                response
            })
            .await?;
            if response.diagnostics.has_error() {
                return Err(response.diagnostics);
            }
            Ok(pb::open_ephemeral_resource::Response {
                diagnostics: wire::diagnostics(response.diagnostics),
                renew_at: response.renew_at.map(timestamp),
                result: Some(wire::encode(&response.result, &ty)?),
                private: Some(response.private),
                deferred: None,
            })
        }
        .await;
        respond!(result, pb::open_ephemeral_resource::Response)
    }

    async fn renew_ephemeral_resource(
        &self,
        request: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let ephemeral = self.ephemeral(&r.type_name)?;
            let ctx = self.context.clone();
            let private = r.private.unwrap_or_default();
            let response = isolated(async move {
                let mut response = RenewResponse::default();
                ephemeral.renew(&ctx, private, &mut response).await;
                response
            })
            .await?;
            Ok(pb::renew_ephemeral_resource::Response {
                diagnostics: wire::diagnostics(response.diagnostics),
                renew_at: response.renew_at.map(timestamp),
                private: response.private,
            })
        }
        .await;
        respond!(result, pb::renew_ephemeral_resource::Response)
    }

    async fn close_ephemeral_resource(
        &self,
        request: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let ephemeral = self.ephemeral(&r.type_name)?;
            let ctx = self.context.clone();
            let private = r.private.unwrap_or_default();
            let diagnostics = isolated(async move {
                let mut d = Diagnostics::default();
                ephemeral.close(&ctx, private, &mut d).await;
                d
            })
            .await?;
            Ok(pb::close_ephemeral_resource::Response { diagnostics: wire::diagnostics(diagnostics) })
        }
        .await;
        respond!(result, pb::close_ephemeral_resource::Response)
    }

    async fn generate_resource_config(
        &self,
        request: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        let result = self.generate_config(request.into_inner()).await;
        respond!(result, pb::generate_resource_config::Response)
    }

    type ListResourceStream = super::rpc::ListEventStream;

    async fn list_resource(
        &self,
        request: Request<pb::list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await))
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let result = self.validate_list(request.into_inner()).await;
        respond!(result, pb::validate_list_resource_config::Response)
    }

    async fn validate_action_config(
        &self,
        request: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        let result = self.validate_action(request.into_inner()).await;
        respond!(result, pb::validate_action_config::Response)
    }

    async fn plan_action(
        &self,
        request: Request<pb::plan_action::Request>,
    ) -> Result<Response<pb::plan_action::Response>, Status> {
        let result = self.plan_action_config(request.into_inner()).await;
        respond!(result, pb::plan_action::Response)
    }

    type InvokeActionStream = super::rpc::ActionEventStream;

    async fn invoke_action(
        &self,
        request: Request<pb::invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        Ok(Response::new(self.invoke(request.into_inner()).await))
    }

    async fn get_functions(
        &self,
        _: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(
        &self,
        request: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!("This provider has no function {:?}.", request.into_inner().name),
                function_argument: None,
            }),
        }))
    }

    async fn stop_provider(
        &self,
        _: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!("StopProvider: cancelling in-flight operations");
        self.context.cancel.cancel();
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        // Destroys are planned too: a resource says there what its destroy will do.
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: true,
    }
}
