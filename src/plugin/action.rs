//! `ValidateActionConfig`, `PlanAction` and `InvokeAction` (Terraform 1.14+). An invoke
//! streams the action's progress messages as they come, then one completion carrying its
//! diagnostics.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::framework::component::{Action, Progress};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::schema::Schema;
use crate::framework::validate::validate_config;

use super::proto::tfplugin6 as pb;
use super::rpc::{ActionEventStream as EventStream, isolated, unknown_type, validate_with};
use super::server::ProviderServer;
use super::wire;

impl ProviderServer {
    fn action(&self, name: &str) -> Result<(Arc<dyn Action>, Arc<Schema>), Diagnostics> {
        self.actions.get(name).cloned().ok_or_else(|| unknown_type("action", name))
    }

    pub(super) async fn validate_action(
        &self,
        r: pb::validate_action_config::Request,
    ) -> Result<pb::validate_action_config::Response, Diagnostics> {
        let (action, schema) = self.action(&r.type_name)?;
        let diagnostics = validate_with(schema, r.config.as_ref(), "action configuration", move |config| async move {
            let mut d = Diagnostics::default();
            action.validate_config(&config, &mut d).await;
            d
        })
        .await?;
        Ok(pb::validate_action_config::Response { diagnostics })
    }

    pub(super) async fn plan_action_config(
        &self,
        r: pb::plan_action::Request,
    ) -> Result<pb::plan_action::Response, Diagnostics> {
        let (action, schema) = self.action(&r.action_type)?;
        let config = wire::decode(r.config.as_ref(), &schema.value_type(), "action configuration")?;
        let ctx = self.context.clone();
        let diagnostics = isolated(async move {
            let mut d = validate_config(&schema, &config);
            if !d.has_error() {
                action.plan(&ctx, &config, &mut d).await;
            }
            d
        })
        .await?;
        Ok(pb::plan_action::Response { diagnostics: wire::diagnostics(diagnostics), deferred: None })
    }

    pub(super) async fn invoke(&self, r: pb::invoke_action::Request) -> EventStream {
        let (tx, rx) = mpsc::channel(16);
        let prepared = self.action(&r.action_type).and_then(|(action, schema)| {
            let config = wire::decode(r.config.as_ref(), &schema.value_type(), "action configuration")?;
            let d = validate_config(&schema, &config);
            if d.has_error() { Err(d) } else { Ok((action, config)) }
        });
        let ctx = self.context.clone();
        tokio::spawn(async move {
            let diagnostics = match prepared {
                Err(d) => d,
                Ok((action, config)) => {
                    let (progress, mut messages) = Progress::channel();
                    let work = isolated(async move {
                        let mut d = Diagnostics::default();
                        action.invoke(&ctx, config, &progress, &mut d).await;
                        d
                    });
                    tokio::pin!(work);
                    let done = loop {
                        tokio::select! {
                            Some(message) = messages.recv() => {
                                // Terraform stopped listening: the action still runs to its end.
                                let _ = tx.send(Ok(progress_event(message))).await;
                            }
                            done = &mut work => break done,
                        }
                    };
                    while let Ok(message) = messages.try_recv() {
                        let _ = tx.send(Ok(progress_event(message))).await;
                    }
                    done.unwrap_or_else(|d| d)
                }
            };
            let completed = pb::invoke_action::event::Completed { diagnostics: wire::diagnostics(diagnostics) };
            let _ = tx
                .send(Ok(pb::invoke_action::Event {
                    r#type: Some(pb::invoke_action::event::Type::Completed(completed)),
                }))
                .await;
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

fn progress_event(message: String) -> pb::invoke_action::Event {
    pb::invoke_action::Event {
        r#type: Some(pb::invoke_action::event::Type::Progress(pb::invoke_action::event::Progress { message })),
    }
}
