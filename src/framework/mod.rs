//! Our small terraform-plugin-framework: types, values, schemas, diagnostics with
//! attribute paths, validators, plan modifiers and the traits components implement.
//! It knows nothing of databases, nor of the wire: `crate::plugin` translates.

pub mod component;
pub mod diagnostics;
pub mod plan;
pub mod plan_modifier;
pub mod schema;
pub mod types;
pub mod validate;
pub mod validator;
pub mod value;
