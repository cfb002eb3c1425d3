//! Our small terraform-plugin-framework: types, values, schemas, diagnostics with
//! attribute paths, plan modifiers and the traits resources implement.

pub mod diagnostics;
pub mod types;
pub mod value;
