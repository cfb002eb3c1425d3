//! What a resource, data source, ephemeral resource, list resource, action and the
//! provider implement. Every method takes a request and fills a response whose
//! diagnostics say what went wrong, as terraform-plugin-framework's do.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::diagnostics::Diagnostics;
use super::schema::{IdentitySchema, Schema};
use super::value::Value;

/// The provider: its configuration and the types it offers.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The `provider "dbaas"` block's schema.
    fn schema(&self) -> Schema;
    /// Checks the configuration beyond each attribute's validators. Must not use the network.
    async fn validate_config(&self, config: &Value, diagnostics: &mut Diagnostics);
    /// Takes the configuration for the rest of the process's life. Must not use the
    /// network: connections open when a resource first needs them.
    async fn configure(&self, request: ConfigureRequest, diagnostics: &mut Diagnostics);
    /// Every managed resource type.
    fn resources(&self) -> Vec<std::sync::Arc<dyn Resource>>;
    /// Every data source type.
    fn data_sources(&self) -> Vec<std::sync::Arc<dyn DataSource>>;
    /// Every ephemeral resource type.
    fn ephemeral_resources(&self) -> Vec<std::sync::Arc<dyn EphemeralResource>>;
    /// Every list resource type (`terraform query`, Terraform 1.14+).
    fn list_resources(&self) -> Vec<std::sync::Arc<dyn ListResource>> {
        Vec::new()
    }
    /// Every action type (Terraform 1.14+).
    fn actions(&self) -> Vec<std::sync::Arc<dyn Action>> {
        Vec::new()
    }
    /// Serving has ended: release what outlives the process (a Vault login's token). It
    /// has half a second.
    async fn shutdown(&self) {}
}

/// `ConfigureProvider`'s input.
pub struct ConfigureRequest {
    /// The Terraform version calling us.
    pub terraform_version: String,
    /// The provider block (blocks absent from it are null).
    pub config: Value,
    /// Cancelled when Terraform asks the provider to stop: every network call the
    /// provider makes from now on ends when it is.
    pub stop: CancellationToken,
}

/// Common to every request that does work: the cancellation signal StopProvider raises.
#[derive(Clone, Default)]
pub struct Context {
    /// Cancelled when Terraform asks the provider to stop (Ctrl-C).
    pub cancel: CancellationToken,
}

/// A managed resource type.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// `dbaas_...`.
    fn type_name(&self) -> &'static str;
    /// Attributes and their behaviour.
    fn schema(&self) -> Schema;
    /// The identity schema, for import by identity (Terraform 1.12+).
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }
    /// Checks across attributes, beyond each attribute's validators. No network.
    async fn validate_config(&self, _config: &Value, _diagnostics: &mut Diagnostics) {}
    /// Adjusts the plan after defaults and attribute plan modifiers. Also called for a
    /// destroy, with a null plan that stays null: only its diagnostics count.
    async fn modify_plan(&self, _ctx: &Context, _request: &ModifyPlanRequest, _response: &mut ModifyPlanResponse) {}
    /// Creates the object and sets `response.state` to what now exists; it starts null, so
    /// a create that fails before setting it leaves nothing in state.
    async fn create(&self, ctx: &Context, request: CreateRequest, response: &mut ApplyResponse);
    /// Reads the object; setting `response.state` to null removes it from state.
    async fn read(&self, ctx: &Context, request: ReadRequest, response: &mut ReadResponse);
    /// Updates the object in place; `response.state` starts as the plan.
    async fn update(&self, ctx: &Context, request: UpdateRequest, response: &mut ApplyResponse);
    /// Deletes the object.
    async fn delete(&self, ctx: &Context, request: DeleteRequest, diagnostics: &mut Diagnostics);
    /// Turns `terraform import`'s id (or identity) into a state for `read` to complete.
    async fn import(&self, ctx: &Context, request: ImportRequest, response: &mut ImportResponse);
    /// Upgrades state stored with an older schema `version`, given already decoded against
    /// the current schema: attributes since removed are gone, new ones are null.
    async fn upgrade_state(&self, version: i64, _prior: Value, diagnostics: &mut Diagnostics) -> Option<Value> {
        diagnostics.error(
            "Unsupported state version",
            format!("State was written by schema version {version}, which this provider version cannot upgrade."),
        );
        None
    }
}

/// `modify_plan`'s input.
pub struct ModifyPlanRequest {
    /// Prior state (null when creating).
    pub state: Value,
    /// The configuration.
    pub config: Value,
}

/// `modify_plan`'s output.
#[derive(Default)]
pub struct ModifyPlanResponse {
    /// The plan so far; may be changed.
    pub plan: Value,
    /// Attributes whose change forces replacement (added to those from plan modifiers).
    pub requires_replace: Vec<super::diagnostics::AttributePath>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// `create`'s input.
pub struct CreateRequest {
    /// The planned state (computed values unknown).
    pub plan: Value,
    /// The configuration, including write-only values.
    pub config: Value,
}

/// `update`'s input.
pub struct UpdateRequest {
    /// The planned state.
    pub plan: Value,
    /// Prior state.
    pub state: Value,
    /// The configuration, including write-only values.
    pub config: Value,
}

/// `delete`'s input.
pub struct DeleteRequest {
    /// Prior state.
    pub state: Value,
    /// The private data stored with it (empty when there is none).
    pub private: Vec<u8>,
}

/// `create`/`update`'s output.
#[derive(Default)]
pub struct ApplyResponse {
    /// The new state: every unknown resolved.
    pub state: Value,
    /// The identity of the object, when the resource has one.
    pub identity: Option<Value>,
    /// Private data to store with the state, never shown to users; `None` keeps what the
    /// plan carried.
    pub private: Option<Vec<u8>>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// `read`'s input.
pub struct ReadRequest {
    /// Current state.
    pub state: Value,
}

/// `read`'s output.
#[derive(Default)]
pub struct ReadResponse {
    /// The refreshed state; null when the object no longer exists.
    pub state: Value,
    /// The identity, when the resource has one.
    pub identity: Option<Value>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// `import`'s input: an id string, or an identity object.
pub struct ImportRequest {
    /// `terraform import ADDR ID`'s ID (empty when importing by identity).
    pub id: String,
    /// The identity from an `import { identity = {...} }` block.
    pub identity: Option<Value>,
}

/// `import`'s output.
#[derive(Default)]
pub struct ImportResponse {
    /// Enough state for `read` to find the object.
    pub state: Value,
    /// The identity.
    pub identity: Option<Value>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// A data source type.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// `dbaas_...`.
    fn type_name(&self) -> &'static str;
    /// Attributes.
    fn schema(&self) -> Schema;
    /// Checks across attributes. No network.
    async fn validate_config(&self, _config: &Value, _diagnostics: &mut Diagnostics) {}
    /// Reads: returns the full state for `config`.
    async fn read(&self, ctx: &Context, config: Value, diagnostics: &mut Diagnostics) -> Value;
}

/// An ephemeral resource type (Terraform 1.10+): values that live for one run and are
/// never written to plan or state.
#[async_trait]
pub trait EphemeralResource: Send + Sync + 'static {
    /// `dbaas_...`.
    fn type_name(&self) -> &'static str;
    /// Attributes.
    fn schema(&self) -> Schema;
    /// Checks across attributes. No network.
    async fn validate_config(&self, _config: &Value, _diagnostics: &mut Diagnostics) {}
    /// Opens: produces the result, and private data for renew and close.
    async fn open(&self, ctx: &Context, config: Value, response: &mut OpenResponse);
    /// Renews what `open` produced, before `renew_at`.
    async fn renew(&self, _ctx: &Context, private: Vec<u8>, _response: &mut RenewResponse) {
        let _ = private;
    }
    /// Releases what `open` produced.
    async fn close(&self, _ctx: &Context, _private: Vec<u8>, _diagnostics: &mut Diagnostics) {}
}

/// `open`'s output.
#[derive(Default)]
pub struct OpenResponse {
    /// The result object.
    pub result: Value,
    /// Opaque data Terraform hands back to renew and close (never shown to users).
    pub private: Vec<u8>,
    /// When Terraform should call renew, if ever.
    pub renew_at: Option<std::time::SystemTime>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// `renew`'s output.
#[derive(Default)]
pub struct RenewResponse {
    /// New private data, if it changed.
    pub private: Option<Vec<u8>>,
    /// When to renew next, if ever.
    pub renew_at: Option<std::time::SystemTime>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// A list resource type (Terraform 1.14+, `terraform query`): finds the objects of the
/// managed resource type of the same name that exist, whether or not any state knows
/// them. It names each by its identity; the server imports and reads one when Terraform
/// wants the whole object, so a listed object is exactly what an import would give.
#[async_trait]
pub trait ListResource: Send + Sync + 'static {
    /// The managed resource type it lists.
    fn type_name(&self) -> &'static str;
    /// The `config { }` block's schema.
    fn schema(&self) -> Schema;
    /// Checks across attributes. No network.
    async fn validate_config(&self, _config: &Value, _diagnostics: &mut Diagnostics) {}
    /// Finds at most `request.limit` objects.
    async fn list(&self, ctx: &Context, request: ListRequest, response: &mut ListResponse);
}

/// `list`'s input.
pub struct ListRequest {
    /// The `config { }` block.
    pub config: Value,
    /// How many results Terraform wants at most.
    pub limit: usize,
}

/// `list`'s output.
#[derive(Default)]
pub struct ListResponse {
    /// What was found, in a stable order.
    pub found: Vec<Listed>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// One object a list resource found.
pub struct Listed {
    /// Its identity, in the managed resource's identity schema.
    pub identity: Value,
    /// What a person would call it.
    pub display_name: String,
}

/// An action type (Terraform 1.14+): an operation run by `terraform apply -invoke` or a
/// resource's `action_trigger`, outside any resource's lifecycle.
#[async_trait]
pub trait Action: Send + Sync + 'static {
    /// `dbaas_...`.
    fn type_name(&self) -> &'static str;
    /// The `config { }` block's schema.
    fn schema(&self) -> Schema;
    /// Checks across attributes. No network.
    async fn validate_config(&self, _config: &Value, _diagnostics: &mut Diagnostics) {}
    /// Checks before anything runs, at plan; values may still be unknown.
    async fn plan(&self, _ctx: &Context, _config: &Value, _diagnostics: &mut Diagnostics) {}
    /// Runs the action, telling Terraform what it does as it goes.
    async fn invoke(&self, ctx: &Context, config: Value, progress: &Progress, diagnostics: &mut Diagnostics);
}

/// Where an action reports what it is doing; Terraform prints each message as it comes.
#[derive(Clone)]
pub struct Progress(tokio::sync::mpsc::UnboundedSender<String>);

impl Progress {
    /// A reporter and the receiving end the server streams from.
    pub fn channel() -> (Progress, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Progress(tx), rx)
    }

    /// Reports `message` (a line a person reads; never a secret).
    pub fn report(&self, message: impl Into<String>) {
        // Terraform may have gone away; the action's outcome still counts.
        let _ = self.0.send(message.into());
    }
}
