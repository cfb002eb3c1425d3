//! `dbaas_credentials`: credentials from a `dbaas_rotated_role` for the length of one
//! Terraform run (Terraform 1.10+), never written to plan or state.
//!
//! ```hcl
//! ephemeral "dbaas_credentials" "migrate" {
//!   role = dbaas_rotated_role.trading.id
//! }
//! ```
//!
//! The lease is cut to [`LEASE`] as soon as it is issued, and Terraform renews it (by as
//! much again) while the run lasts; closing at the end of the run revokes it, so the issued
//! user is gone when the run is (unlike the Vault provider's ephemeral secret, which leaves
//! the lease to expire). A run that fails, is killed or never closes leaves a user that
//! Vault revokes within [`LEASE`] (on PostgreSQL its login expires then too).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::errors;
use crate::framework::component::{Context, EphemeralResource, OpenResponse, RenewResponse};
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::schema::{Attribute, Schema};
use crate::framework::value::{Number, Value};
use crate::platform::credentials::Leases;
use crate::platform::naming::RoleName;
use crate::provider::services::Services;

/// How long an ephemeral credential's lease lasts between renewals: the bound on a user
/// left by a run that never closed it.
pub const LEASE: Duration = Duration::from_secs(300);

/// The `dbaas_credentials` ephemeral resource.
pub struct Credentials {
    services: Arc<Services>,
}

impl Credentials {
    /// The ephemeral resource, using `services`.
    pub fn new(services: Arc<Services>) -> Credentials {
        Credentials { services }
    }
}

/// What Terraform hands back to renew and close (opaque to users, never shown).
#[derive(Serialize, Deserialize)]
struct Lease {
    lease_id: String,
    lease_duration: u64,
    renewable: bool,
}

#[async_trait]
impl EphemeralResource for Credentials {
    fn type_name(&self) -> &'static str {
        "dbaas_credentials"
    }

    fn schema(&self) -> Schema {
        let computed = |name, description: &str| Attribute::string(name).computed().description(description);
        Schema::new(
            "Credentials issued by a `dbaas_rotated_role` for one Terraform run: never stored in plan or state, renewed while the run needs them, and revoked when it ends. Their lease lasts 5 minutes between renewals, so a run that fails, is killed or never ends them leaves the user 5 minutes at most (a static role's login stays: it is the role's). Needs Terraform 1.10 or later.",
            vec![
                Attribute::string("role").required().description("The `id` of a `dbaas_rotated_role`."),
                computed("username", "The issued login."),
                Attribute::string("password").computed().sensitive().description("Its password."),
                computed("host", "Where apps connect (PgBouncer for PostgreSQL)."),
                Attribute::number("port").computed().description("Its port."),
                computed(
                    "admin_host",
                    "The server itself, not its pooler: where migrations and other DDL connect (PostgreSQL's primary; on MySQL and Redis the same as `host`).",
                ),
                Attribute::number("admin_port").computed().description("Its port."),
                computed(
                    "read_host",
                    "Where to read from replicas, as on `dbaas_shared_database` (null when the platform configures none).",
                ),
                Attribute::number("read_port").computed().description("Its port."),
                computed("database", "The database (null for Redis)."),
                computed("lease_id", "The Vault lease, revoked when the run ends."),
                Attribute::number("lease_duration").computed().description(
                    "Seconds the lease lasts: at most 300, renewed while the run lasts, so a run that fails or is killed leaves a user for 5 minutes at most.",
                ),
                computed("expires_at", "When the lease ends unless renewed (RFC 3339, UTC)."),
            ],
        )
    }

    async fn open(&self, _ctx: &Context, config: Value, response: &mut OpenResponse) {
        let d = &mut response.diagnostics;
        let role_id = config.attr("role").and_then(Value::as_str).unwrap_or_default().to_owned();
        let Some(parsed) = RoleName::parse_id(&role_id) else {
            return d.attribute_error(
                AttributePath::root("role"),
                "Invalid role",
                format!("{role_id:?} is not a `dbaas_rotated_role` id."),
            );
        };
        let Some(provider) = self.services.config(d).cloned() else { return };
        let Some(leases) = self.leases(d) else { return };
        let mut creds = match leases.issue(&parsed).await {
            Ok(c) => c,
            Err(e) => return errors::lease(d, "issuing credentials", &e),
        };
        if creds.renewable && creds.lease_duration > LEASE.as_secs() {
            // Renewing by less than is left shortens the lease (and the login's VALID UNTIL).
            match leases.renew(&creds.lease_id, LEASE.as_secs()).await {
                Ok(duration) => creds.lease_duration = duration,
                Err(e) => {
                    let _ = leases.revoke(&creds.lease_id).await;
                    return errors::lease(d, "shortening the credentials' lease", &e);
                }
            }
        }
        let (host, port, database) = crate::resources::app_endpoint_values(&parsed, &provider);
        let (admin_host, admin_port) = crate::resources::endpoint_values(provider.admin_endpoint(&parsed.target));
        let (read_host, read_port) = crate::resources::endpoint_values(provider.read_endpoint(&parsed.target));
        let expires = SystemTime::now() + Duration::from_secs(creds.lease_duration);
        response.result = Value::object([
            ("role", Value::string(&role_id)),
            ("username", Value::string(&creds.username)),
            ("password", Value::string(creds.password.expose())),
            ("host", host),
            ("port", port),
            ("admin_host", admin_host),
            ("admin_port", admin_port),
            ("read_host", read_host),
            ("read_port", read_port),
            ("database", database),
            ("lease_id", Value::string(&creds.lease_id)),
            ("lease_duration", Value::Number(Number::Int(i64::try_from(creds.lease_duration).unwrap_or(i64::MAX)))),
            ("expires_at", Value::string(rfc3339(expires))),
        ]);
        response.renew_at = renew_at(creds.lease_duration, creds.renewable);
        let lease =
            Lease { lease_id: creds.lease_id, lease_duration: creds.lease_duration, renewable: creds.renewable };
        response.private = serde_json::to_vec(&lease).unwrap_or_default();
    }

    async fn renew(&self, _ctx: &Context, private: Vec<u8>, response: &mut RenewResponse) {
        let Ok(lease) = serde_json::from_slice::<Lease>(&private) else { return };
        let Some(leases) = self.leases(&mut response.diagnostics) else { return };
        match leases.renew(&lease.lease_id, LEASE.as_secs()).await {
            Ok(duration) => response.renew_at = renew_at(duration, lease.renewable),
            Err(e) => errors::lease(&mut response.diagnostics, "renewing the credentials' lease", &e),
        }
    }

    async fn close(&self, _ctx: &Context, private: Vec<u8>, d: &mut Diagnostics) {
        let Ok(lease) = serde_json::from_slice::<Lease>(&private) else { return };
        if lease.lease_id.is_empty() {
            // A static role's credentials: nothing to revoke.
            return;
        }
        let Some(leases) = self.leases(d) else { return };
        if let Err(e) = leases.revoke(&lease.lease_id).await {
            errors::lease(d, "revoking the credentials at the end of the run", &e);
        }
    }
}

impl Credentials {
    /// The lease operations on the provider's database secrets engine, or an error saying
    /// they need Vault.
    fn leases(&self, d: &mut Diagnostics) -> Option<Leases<'_>> {
        let (vault, vc) = self.services.vault_for("dbaas_credentials", d)?;
        Some(Leases { vault, mount: &vc.database_mount })
    }
}

/// Renew when two thirds of the lease have passed.
fn renew_at(lease_duration: u64, renewable: bool) -> Option<SystemTime> {
    (renewable && lease_duration > 0).then(|| SystemTime::now() + Duration::from_secs(lease_duration * 2 / 3))
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
