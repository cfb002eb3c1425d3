//! `GenerateResourceConfig`: the configuration `terraform query -generate-config-out`
//! writes for a listed object. Core's own generator would copy every optional+computed
//! value and every default; ours leaves out what the schema defaults to, so a generated
//! block imports with no change but its claim and says only what differs.

use crate::framework::diagnostics::Diagnostics;
use crate::framework::plan::generated_config;

use super::proto::tfplugin6 as pb;
use super::server::ProviderServer;
use super::wire;

impl ProviderServer {
    pub(super) async fn generate_config(
        &self,
        r: pb::generate_resource_config::Request,
    ) -> Result<pb::generate_resource_config::Response, Diagnostics> {
        self.resource(&r.type_name)?;
        let schema = self.schema_of(&r.type_name);
        let ty = schema.value_type();
        let state = wire::decode(r.state.as_ref(), &ty, "state")?;
        Ok(pb::generate_resource_config::Response {
            config: Some(wire::encode(&generated_config(&schema, &state), &ty)?),
            diagnostics: Vec::new(),
        })
    }
}
