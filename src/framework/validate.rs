//! Running every attribute's validators over a configuration.

use super::diagnostics::{AttributePath, Diagnostics};
use super::schema::{Attribute, AttributeType, Block, BlockNesting, Schema};
use super::value::Value;

/// Runs the validators of every attribute and block attribute that has a known,
/// non-null value in `config`. All run; all errors are reported.
pub fn validate_config(schema: &Schema, config: &Value) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    validate_attributes(&schema.attributes, config, &AttributePath::default(), &mut diagnostics);
    validate_blocks(&schema.blocks, config, &AttributePath::default(), &mut diagnostics);
    diagnostics
}

fn validate_blocks(blocks: &[Block], object: &Value, base: &AttributePath, diagnostics: &mut Diagnostics) {
    for block in blocks {
        let path = base.attribute(block.name);
        match (block.nesting, object.attr(block.name)) {
            (BlockNesting::Single, Some(v)) if !v.is_null() => {
                validate_attributes(&block.attributes, v, &path, diagnostics);
                validate_blocks(&block.blocks, v, &path, diagnostics);
            }
            (BlockNesting::List, Some(Value::List(items))) => {
                for (i, item) in items.iter().enumerate() {
                    validate_attributes(&block.attributes, item, &path.index(i), diagnostics);
                    validate_blocks(&block.blocks, item, &path.index(i), diagnostics);
                }
            }
            _ => {}
        }
    }
}

fn validate_attributes(attributes: &[Attribute], object: &Value, base: &AttributePath, diagnostics: &mut Diagnostics) {
    for attr in attributes {
        let Some(value) = object.attr(attr.name) else { continue };
        if value.is_null() || !value.is_wholly_known() {
            continue;
        }
        let path = base.attribute(attr.name);
        for v in &attr.validators {
            v.validate(&path, value, diagnostics);
        }
        if let AttributeType::NestedSingle(nested) = &attr.kind {
            validate_attributes(nested, value, &path, diagnostics);
        }
    }
}
