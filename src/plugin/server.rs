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
    Action, ApplyResponse, ConfigureRequest, Context, CreateRequest, DataSource, DeleteRequest, EphemeralResource,
    ImportRequest, ImportResponse, ListResource, ModifyPlanRequest, ModifyPlanResponse, OpenResponse, Provider,
    ReadRequest, ReadResponse, RenewResponse, Resource, UpdateRequest,
};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::plan::{plan_resource_change, strip_write_only};
use crate::framework::schema::Schema;
use crate::framework::validate::validate_config;
use crate::framework::value::Value;

use super::proto::tfplugin6 as pb;
use super::proto::tfplugin6::provider_server::Provider as ProviderRpc;
use super::rpc::{encode_identity, isolated, off_serving_threads, unknown_type, validate_with};
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

pub(super) trait WithDiagnostics: Default {
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
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let schema = self.schema_of(&r.type_name);
            let ty = schema.value_type();
            let raw = r.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                let mut d = Diagnostics::default();
                d.error(
                    "Unsupported state format",
                    "This resource's state is in the legacy flatmap format, which this provider never wrote.",
                );
                return Err(d);
            }
            let mut state = if r.version == schema.version {
                wire::decode_json(&raw.json, &ty, "stored state")?
            } else if r.version > schema.version {
                let mut d = Diagnostics::default();
                d.error(
                    "State written by a newer provider",
                    format!(
                        "This state has schema version {}, newer than this provider's {}. Upgrade the provider.",
                        r.version, schema.version
                    ),
                );
                return Err(d);
            } else {
                // Attributes the schema no longer has are dropped, new ones are null; the
                // resource then fixes up what the change means.
                let prior = wire::decode_json(&raw.json, &ty, "stored state")?;
                let version = r.version;
                let (state, d) = isolated(async move {
                    let mut d = Diagnostics::default();
                    let state = resource.upgrade_state(version, prior, &mut d).await;
                    (state, d)
                })
                .await?;
                match state {
                    Some(s) if !d.has_error() => s,
                    _ => return Err(d),
                }
            };
            strip_write_only(&schema, &mut state);
            Ok(pb::upgrade_resource_state::Response {
                upgraded_state: Some(wire::encode(&state, &ty)?),
                diagnostics: Vec::new(),
            })
        }
        .await;
        respond!(result, pb::upgrade_resource_state::Response)
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
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let Some(schema) = resource.identity_schema().filter(|s| s.version == r.version) else {
                let mut d = Diagnostics::default();
                d.error(
                    "Unsupported identity version",
                    format!("{} has no identity of version {}.", r.type_name, r.version),
                );
                return Err(d);
            };
            let ty = schema.value_type();
            let raw = r.raw_identity.unwrap_or_default();
            let identity = wire::decode_json(&raw.json, &ty, "stored identity")?;
            Ok(pb::upgrade_resource_identity::Response {
                upgraded_identity: Some(wire::identity(&identity, &ty)?),
                diagnostics: Vec::new(),
            })
        }
        .await;
        respond!(result, pb::upgrade_resource_identity::Response)
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let schema = self.schema_of(&r.type_name);
            let ty = schema.value_type();
            let state = wire::decode(r.current_state.as_ref(), &ty, "state")?;
            let ctx = self.context.clone();
            let response = isolated(async move {
                let mut response = ReadResponse { state: state.clone(), ..Default::default() };
                resource.read(&ctx, ReadRequest { state }, &mut response).await;
                (response, resource.identity_schema())
            })
            .await?;
            let (response, identity_schema) = response;
            let mut new_state = response.state;
            strip_write_only(&schema, &mut new_state);
            Ok(pb::read_resource::Response {
                new_state: Some(wire::encode(&new_state, &ty)?),
                diagnostics: wire::diagnostics(response.diagnostics),
                private: r.private,
                deferred: None,
                new_identity: encode_identity(identity_schema.as_ref(), response.identity.as_ref())?,
            })
        }
        .await;
        respond!(result, pb::read_resource::Response)
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let schema = self.schema_of(&r.type_name);
            let ty = schema.value_type();
            let size = [&r.prior_state, &r.proposed_new_state, &r.config]
                .iter()
                .map(|v| v.as_ref().map_or(0, |d| d.msgpack.len() + d.json.len()))
                .sum();
            let (values, plan_schema) =
                ((r.prior_state.clone(), r.proposed_new_state.clone(), r.config.clone()), schema.clone());
            let decoded = off_serving_threads(size, move || -> Result<_, Diagnostics> {
                let ty = plan_schema.value_type();
                let prior = wire::decode(values.0.as_ref(), &ty, "prior state")?;
                let proposed = wire::decode(values.1.as_ref(), &ty, "proposed state")?;
                let config = wire::decode(values.2.as_ref(), &ty, "configuration")?;
                let planned =
                    (!proposed.is_null()).then(|| plan_resource_change(&plan_schema, &prior, &proposed, &config));
                Ok((prior, config, planned))
            })
            .await??;
            let (prior, config, Some(planned)) = decoded else {
                return Ok(pb::plan_resource_change::Response {
                    planned_state: Some(wire::encode(&Value::Null, &ty)?),
                    planned_private: r.prior_private,
                    ..Default::default()
                });
            };
            let mut diagnostics = planned.diagnostics;
            // Validators skip values unknown at validate time (a name taken from another
            // resource, say): they run again here and at apply, once more is known.
            diagnostics.extend(validate_config(&schema, &config));
            let mut requires_replace = planned.requires_replace;
            let mut plan = planned.planned;
            if !diagnostics.has_error() {
                let ctx = self.context.clone();
                let request = ModifyPlanRequest { state: prior, config };
                let response = isolated(async move {
                    let mut response = ModifyPlanResponse { plan, ..Default::default() };
                    resource.modify_plan(&ctx, &request, &mut response).await;
                    response
                })
                .await?;
                plan = response.plan;
                requires_replace.extend(response.requires_replace);
                diagnostics.extend(response.diagnostics);
            }
            strip_write_only(&schema, &mut plan);
            Ok(pb::plan_resource_change::Response {
                planned_state: Some(wire::encode(&plan, &ty)?),
                requires_replace: requires_replace.iter().map(wire::path).collect(),
                planned_private: r.prior_private,
                diagnostics: wire::diagnostics(diagnostics),
                deferred: None,
                planned_identity: r.prior_identity,
            })
        }
        .await;
        respond!(result, pb::plan_resource_change::Response)
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let schema = self.schema_of(&r.type_name);
            let ty = schema.value_type();
            let prior = wire::decode(r.prior_state.as_ref(), &ty, "prior state")?;
            let planned = wire::decode(r.planned_state.as_ref(), &ty, "planned state")?;
            let config = wire::decode(r.config.as_ref(), &ty, "configuration")?;
            let ctx = self.context.clone();
            let identity_schema = resource.identity_schema();
            let planned_private = r.planned_private.clone();
            // Every value is known now: validators that were skipped run before anything
            // changes. A destroy has no configuration to check.
            let invalid = if planned.is_null() { Diagnostics::default() } else { validate_config(&schema, &config) };
            let response = isolated(async move {
                let mut response = ApplyResponse::default();
                if invalid.has_error() {
                    response.state = prior;
                    response.diagnostics = invalid;
                    return (response, false);
                }
                if planned.is_null() {
                    resource
                        .delete(
                            &ctx,
                            DeleteRequest { state: prior, private: planned_private },
                            &mut response.diagnostics,
                        )
                        .await;
                    return (response, true);
                }
                // A create starts from nothing, so a create that fails before it says what
                // exists records nothing: the plan is no evidence of what was made.
                response.state = if prior.is_null() { Value::Null } else { planned.clone() };
                if prior.is_null() {
                    resource.create(&ctx, CreateRequest { plan: planned, config }, &mut response).await;
                } else {
                    resource.update(&ctx, UpdateRequest { plan: planned, state: prior, config }, &mut response).await;
                }
                (response, false)
            })
            .await?;
            let (mut response, deleted) = response;
            if response.diagnostics.has_error() && (deleted || !response.state.is_wholly_known()) {
                // A failed delete keeps the object in state, so a re-run can try again; a
                // failed create or update that left the plan's unknowns in place keeps
                // what was there before.
                response.state = wire::decode(r.prior_state.as_ref(), &ty, "prior state")?;
            }
            strip_write_only(&schema, &mut response.state);
            if !response.diagnostics.has_error() && !response.state.is_wholly_known() {
                response.diagnostics.error(
                    "Provider bug: unknown value after apply",
                    "The provider left a value unknown after applying. Please report this issue.",
                );
            }
            Ok(pb::apply_resource_change::Response {
                new_state: Some(wire::encode(&response.state, &ty)?),
                private: response.private.unwrap_or(r.planned_private),
                diagnostics: wire::diagnostics(response.diagnostics),
                new_identity: match encode_identity(identity_schema.as_ref(), response.identity.as_ref())? {
                    Some(i) => Some(i),
                    None if !deleted => r.planned_identity,
                    None => None,
                },
            })
        }
        .await;
        respond!(result, pb::apply_resource_change::Response)
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let ty = self.schema_of(&r.type_name).value_type();
            let identity_schema = resource.identity_schema();
            let identity = match (&identity_schema, r.identity.as_ref().and_then(|i| i.identity_data.as_ref())) {
                (Some(s), Some(data)) => Some(wire::decode(Some(data), &s.value_type(), "identity")?),
                _ => None,
            };
            let ctx = self.context.clone();
            let request = ImportRequest { id: r.id, identity };
            let response = isolated(async move {
                let mut response = ImportResponse::default();
                resource.import(&ctx, request, &mut response).await;
                response
            })
            .await?;
            if response.diagnostics.has_error() {
                return Err(response.diagnostics);
            }
            Ok(pb::import_resource_state::Response {
                imported_resources: vec![pb::import_resource_state::ImportedResource {
                    type_name: r.type_name,
                    state: Some(wire::encode(&response.state, &ty)?),
                    private: Vec::new(),
                    identity: encode_identity(identity_schema.as_ref(), response.identity.as_ref())?,
                }],
                diagnostics: wire::diagnostics(response.diagnostics),
                deferred: None,
            })
        }
        .await;
        respond!(result, pb::import_resource_state::Response)
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
        plan_destroy: false,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: true,
    }
}
