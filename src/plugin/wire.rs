//! Translation between framework types and the generated tfplugin6 messages.

use crate::framework::diagnostics::{AttributePath, Diagnostic, Diagnostics, PathStep, Severity};
use crate::framework::schema::{Attribute, AttributeType, Block, BlockNesting, IdentitySchema, Schema};
use crate::framework::types::Type;
use crate::framework::value::Value;

use super::codec::{self, CodecError};
use super::proto::tfplugin6 as pb;

/// A schema as Terraform wants it.
pub(crate) fn schema(schema: &Schema) -> pb::Schema {
    pb::Schema {
        version: schema.version,
        block: Some(pb::schema::Block {
            version: schema.version,
            attributes: schema.attributes.iter().map(attribute).collect(),
            block_types: schema.blocks.iter().map(block).collect(),
            description: schema.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
        }),
    }
}

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    // Terraform refuses an attribute that has both a type and a nested type.
    let (ty, nested_type) = match &a.kind {
        AttributeType::Plain(t) => (t.to_json().to_string().into_bytes(), None),
        AttributeType::NestedSingle(attrs) => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: attrs.iter().map(attribute).collect(),
                nesting: pb::schema::object::NestingMode::Single as i32,
            }),
        ),
    };
    pb::schema::Attribute {
        name: a.name.to_owned(),
        r#type: ty,
        nested_type,
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: a.deprecated,
        write_only: a.write_only,
    }
}

fn block(b: &Block) -> pb::schema::NestedBlock {
    pb::schema::NestedBlock {
        type_name: b.name.to_owned(),
        block: Some(pb::schema::Block {
            version: 0,
            attributes: b.attributes.iter().map(attribute).collect(),
            block_types: b.blocks.iter().map(block).collect(),
            description: b.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
        }),
        nesting: match b.nesting {
            BlockNesting::Single => pb::schema::nested_block::NestingMode::Single,
            BlockNesting::List => pb::schema::nested_block::NestingMode::List,
        } as i32,
        min_items: 0,
        max_items: if b.nesting == BlockNesting::Single { 1 } else { 0 },
    }
}

/// An identity schema as Terraform wants it.
pub(crate) fn identity_schema(s: &IdentitySchema) -> pb::ResourceIdentitySchema {
    pb::ResourceIdentitySchema {
        version: s.version,
        identity_attributes: s
            .attributes
            .iter()
            .map(|a| pb::resource_identity_schema::IdentityAttribute {
                name: a.name.to_owned(),
                r#type: a.ty.to_json().to_string().into_bytes(),
                required_for_import: a.required_for_import,
                optional_for_import: !a.required_for_import,
                description: a.description.to_owned(),
            })
            .collect(),
    }
}

/// Diagnostics as Terraform wants them.
pub(crate) fn diagnostics(d: Diagnostics) -> Vec<pb::Diagnostic> {
    d.0.into_iter().map(diagnostic).collect()
}

fn diagnostic(d: Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary,
        detail: d.detail,
        attribute: d.attribute.map(|p| path(&p)),
    }
}

/// An attribute path as Terraform wants it.
pub(crate) fn path(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(a) => Selector::AttributeName(a.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// Decodes a `DynamicValue`; absent means null. A decoding failure becomes an error
/// diagnostic on the attribute path where it occurred.
pub(crate) fn decode(value: Option<&pb::DynamicValue>, ty: &Type, what: &str) -> Result<Value, Diagnostics> {
    let Some(dv) = value else { return Ok(Value::Null) };
    let result = if !dv.msgpack.is_empty() {
        codec::decode_msgpack(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        codec::decode_json(&dv.json, ty)
    } else {
        Ok(Value::Null)
    };
    result.map_err(|e| codec_diagnostics(e, &format!("Invalid {what} received from Terraform")))
}

/// Encodes a value in msgpack.
pub(crate) fn encode(value: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
    codec::encode_msgpack(value, ty)
        .map(|msgpack| pb::DynamicValue { msgpack, json: Vec::new() })
        .map_err(|e| codec_diagnostics(e, "Provider bug: a value does not fit its schema"))
}

/// Decodes stored JSON (state, identity) with the current type.
pub(crate) fn decode_json(bytes: &[u8], ty: &Type, what: &str) -> Result<Value, Diagnostics> {
    codec::decode_json(bytes, ty).map_err(|e| codec_diagnostics(e, &format!("Invalid {what}")))
}

fn codec_diagnostics(e: CodecError, summary: &str) -> Diagnostics {
    let mut d = Diagnostics::default();
    if e.path.0.is_empty() {
        d.error(summary, e.message);
    } else {
        d.attribute_error(e.path.clone(), summary, format!("{}: {}", e.path, e.message));
    }
    d
}

/// Identity data as Terraform wants it.
pub(crate) fn identity(value: &Value, ty: &Type) -> Result<pb::ResourceIdentityData, Diagnostics> {
    Ok(pb::ResourceIdentityData { identity_data: Some(encode(value, ty)?) })
}
