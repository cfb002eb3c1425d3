//! Managed resources over the wire: state upgrades, read, plan, apply and import. Each
//! decodes the request with the type's schema, runs the resource isolated, and encodes
//! its answer; the RPC trait in [`super::server`] turns problems into diagnostics.

use super::proto::tfplugin6 as pb;
use super::rpc::{encode_identity, isolated, off_serving_threads};
use super::server::ProviderServer;
use super::wire;
use crate::framework::component::{
    ApplyResponse, CreateRequest, DeleteRequest, ImportRequest, ImportResponse, ModifyPlanRequest, ModifyPlanResponse,
    ReadRequest, ReadResponse, UpdateRequest,
};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::plan::{plan_resource_change, strip_write_only};
use crate::framework::validate::validate_config;
use crate::framework::value::Value;

impl ProviderServer {
    /// upgrade_resource_state: the work behind the RPC, its problems as diagnostics.
    pub(super) async fn upgrade_state(
        &self,
        r: pb::upgrade_resource_state::Request,
    ) -> Result<pb::upgrade_resource_state::Response, Diagnostics> {
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

    /// upgrade_resource_identity: the work behind the RPC, its problems as diagnostics.
    pub(super) async fn upgrade_identity(
        &self,
        r: pb::upgrade_resource_identity::Request,
    ) -> Result<pb::upgrade_resource_identity::Response, Diagnostics> {
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

    /// read_resource: the work behind the RPC, its problems as diagnostics.
    pub(super) async fn read(&self, r: pb::read_resource::Request) -> Result<pb::read_resource::Response, Diagnostics> {
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

    /// plan_resource_change: the work behind the RPC, its problems as diagnostics.
    pub(super) async fn plan(
        &self,
        r: pb::plan_resource_change::Request,
    ) -> Result<pb::plan_resource_change::Response, Diagnostics> {
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
            let planned = (!proposed.is_null()).then(|| plan_resource_change(&plan_schema, &prior, &proposed, &config));
            Ok((prior, config, planned))
        })
        .await??;
        let (prior, config, Some(planned)) = decoded else {
            // A destroy: the resource may say what it will do (its plan stays null), as
            // terraform-plugin-framework lets ModifyPlan do.
            let (prior, config, _) = decoded;
            let ctx = self.context.clone();
            let request = ModifyPlanRequest { state: prior, config };
            let response = isolated(async move {
                let mut response = ModifyPlanResponse { plan: Value::Null, ..Default::default() };
                resource.modify_plan(&ctx, &request, &mut response).await;
                response
            })
            .await?;
            return Ok(pb::plan_resource_change::Response {
                planned_state: Some(wire::encode(&Value::Null, &ty)?),
                planned_private: r.prior_private,
                diagnostics: wire::diagnostics(response.diagnostics),
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

    /// apply_resource_change: the work behind the RPC, its problems as diagnostics.
    pub(super) async fn apply(
        &self,
        r: pb::apply_resource_change::Request,
    ) -> Result<pb::apply_resource_change::Response, Diagnostics> {
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
                    .delete(&ctx, DeleteRequest { state: prior, private: planned_private }, &mut response.diagnostics)
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

    /// import_resource_state: the work behind the RPC, its problems as diagnostics.
    pub(super) async fn import(
        &self,
        r: pb::import_resource_state::Request,
    ) -> Result<pb::import_resource_state::Response, Diagnostics> {
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
}
