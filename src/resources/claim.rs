//! The two attributes every managed resource carries for claims
//! ([`crate::platform::claims`]): `claim`, the id this state holds on the object, and
//! `take_over_claim`, the one explicit way to move an object another state claims.

use crate::errors;
use crate::framework::diagnostics::Diagnostics;
use crate::framework::plan_modifier::use_state_once_set;
use crate::framework::schema::Attribute;
use crate::framework::validator::string_check;
use crate::framework::value::Value;
use crate::platform::claims::{Claim, Standing};

/// `claim` and `take_over_claim`, described for an object called `what` ("the database").
pub fn attributes(what: &str) -> [Attribute; 2] {
    [
        Attribute::string("claim")
            .computed()
            .plan_modifier(use_state_once_set())
            .description(format!("The random id this Terraform state holds on {what}, also written on the object: update and destroy go ahead only when the two agree, so a state that imported another stack's object by mistake can neither change nor destroy it. Taken at create, and at the first apply after an import or an upgrade from 0.1 or 0.2.")),
        Attribute::string("take_over_claim")
            .validator(string_check(check_claim_id))
            .description(format!("Moves {what} to this state although another state claims it: set it to that claim's id, which the error refusing the import names. Only that exact claim is taken over; the other state then gets an error at plan until it removes the resource (`terraform state rm`).")),
    ]
}

fn check_claim_id(id: &str) -> Result<(), String> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(format!("{id:?} is not a claim id: 32 lowercase hexadecimal digits, as the error naming the claim shows."))
    }
}

/// The claim a state (or plan) holds; `None` when it holds none yet.
pub fn held(v: &Value) -> Option<String> {
    v.attr("claim").and_then(Value::as_str).map(str::to_owned)
}

/// The claim the configuration (or plan) names to take over.
pub fn take_over(v: &Value) -> Option<String> {
    v.attr("take_over_claim").and_then(Value::as_str).map(str::to_owned)
}

/// At plan, for an object in state without a claim (imported or upgraded): a claim another
/// state holds, not named by `take_over_claim`, is refused now rather than at apply.
pub fn check_at_plan(d: &mut Diagnostics, what: &str, standing: &Standing) {
    if let Standing::Theirs(claim) = standing {
        errors::claimed(d, "planning", what, claim);
    }
}

/// At refresh: writes the object's claim into `state`. A state holding a claim that the
/// object no longer carries gets an error (another state took it over); one whose object
/// lost its claim (Vault restored from an older backup) gets `claim` null, so the next
/// plan takes it again.
pub fn refresh(d: &mut Diagnostics, what: &str, state: &mut Value, found: Option<&Claim>) {
    let Some(held) = held(state) else { return };
    let Value::Object(object) = state else { return };
    match found {
        Some(c) if c.id == held => {}
        Some(c) => errors::claim_lost(d, what, &held, c),
        None => {
            object.insert("claim".into(), Value::Null);
        }
    }
}

/// Upgrades state of schema version 0 (0.1 and 0.2, which took no claims) of a type whose
/// only change since is the claim: every value stays, `claim` is null, and the next apply
/// takes it.
pub fn upgrade_from_before_claims(type_name: &str, version: i64, prior: Value, d: &mut Diagnostics) -> Option<Value> {
    if version == 0 {
        return Some(prior);
    }
    d.error("Unsupported state version", format!("{type_name} has no schema version {version}."));
    None
}
