//! The cty value codec: `DynamicValue` bytes to [`Value`] and back.
//!
//! Terraform sends msgpack (and, for stored state, JSON); we always answer in msgpack.
//! Decoding is guided by the schema's type, as cty's own decoder is, and never panics:
//! anything unexpected becomes a [`CodecError`] naming the attribute path where it sat.

use std::collections::BTreeMap;

use rmpv::Value as Msgpack;
use serde_json::Value as Json;

use crate::framework::diagnostics::AttributePath;
use crate::framework::types::Type;
use crate::framework::value::{Number, Refinements, Value};

/// cty's msgpack extension code for an unknown value.
const UNKNOWN_EXT: i8 = 0;
/// cty's msgpack extension code for an unknown value with refinements.
const REFINED_UNKNOWN_EXT: i8 = 12;
/// Deeper msgpack than this is refused before it can exhaust the stack; no schema of
/// ours nests anywhere near it.
const MAX_DEPTH: usize = 64;

// Keys of the refinement map inside extension 12 (cty's msgpack/unknown.go).
const REFINE_NOT_NULL: i64 = 1;
const REFINE_STRING_PREFIX: i64 = 2;
const REFINE_NUMBER_LOWER: i64 = 3;
const REFINE_NUMBER_UPPER: i64 = 4;
const REFINE_LENGTH_LOWER: i64 = 5;
const REFINE_LENGTH_UPPER: i64 = 6;

/// Input that does not decode as a value of the expected type, or a value that does not
/// fit its type on the way out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct CodecError {
    /// Where in the value the problem is (empty for the whole value).
    pub path: AttributePath,
    /// What is wrong.
    pub message: String,
}

fn error(path: &AttributePath, message: impl Into<String>) -> CodecError {
    CodecError { path: path.clone(), message: message.into() }
}

/// Decodes cty msgpack of type `ty`.
///
/// # Errors
/// [`CodecError`] for malformed msgpack, trailing bytes, or a value of the wrong shape.
pub fn decode_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let root = AttributePath::default();
    let mut reader = bytes;
    let raw = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH)
        .map_err(|e| error(&root, format!("malformed msgpack: {e}")))?;
    if !reader.is_empty() {
        return Err(error(&root, format!("{} unexpected bytes after the value", reader.len())));
    }
    from_msgpack(&raw, ty, &root)
}

/// Encodes `value` of type `ty` as cty msgpack.
///
/// # Errors
/// [`CodecError`] when the value does not fit the type (a bug in the provider).
pub fn encode_msgpack(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let raw = to_msgpack(value, ty, &AttributePath::default())?;
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &raw)
        .map_err(|e| error(&AttributePath::default(), format!("msgpack encoding failed: {e}")))?;
    Ok(out)
}

/// Decodes cty JSON of type `ty`. Object attributes the type does not have are ignored,
/// because JSON reaches us only as stored state, which may predate a schema change.
///
/// # Errors
/// [`CodecError`] for malformed JSON or a value of the wrong shape.
pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let root = AttributePath::default();
    let json: Json = serde_json::from_slice(bytes).map_err(|e| error(&root, format!("malformed JSON: {e}")))?;
    from_json(&json, ty, &root)
}

fn from_msgpack(raw: &Msgpack, ty: &Type, path: &AttributePath) -> Result<Value, CodecError> {
    match raw {
        Msgpack::Nil => return Ok(Value::Null),
        Msgpack::Ext(REFINED_UNKNOWN_EXT, payload) => return Ok(Value::Unknown(Box::new(refinements(payload)))),
        // Any other extension is an unknown too: newer Terraform may refine in new ways.
        Msgpack::Ext(_, _) => return Ok(Value::unknown()),
        _ => {}
    }
    let mismatch = || error(path, format!("expected {}, got {}", describe(ty), kind_of(raw)));
    match ty {
        Type::Bool => raw.as_bool().map(Value::Bool).ok_or_else(mismatch),
        Type::Number => match raw {
            Msgpack::Integer(i) => Ok(Value::Number(match i.as_i64() {
                Some(i) => Number::Int(i),
                None => Number::Big(i.to_string()),
            })),
            Msgpack::F32(f) => float(f64::from(*f), path),
            Msgpack::F64(f) => float(*f, path),
            Msgpack::String(s) => {
                let text = s.as_str().ok_or_else(|| error(path, "number text is not UTF-8"))?;
                Number::parse(text).map(Value::Number).ok_or_else(|| error(path, format!("{text:?} is not a number")))
            }
            _ => Err(mismatch()),
        },
        Type::String => match raw {
            Msgpack::String(s) => s.as_str().map(Value::string).ok_or_else(|| error(path, "string is not valid UTF-8")),
            _ => Err(mismatch()),
        },
        Type::List(elem) | Type::Set(elem) => {
            let items = raw.as_array().ok_or_else(mismatch)?;
            let values = items
                .iter()
                .enumerate()
                .map(|(i, item)| from_msgpack(item, elem, &path.index(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::List(_)) { Value::List(values) } else { Value::Set(values) })
        }
        Type::Tuple(elems) => {
            let items = raw.as_array().ok_or_else(mismatch)?;
            if items.len() != elems.len() {
                return Err(error(path, format!("expected a tuple of {}, got {}", elems.len(), items.len())));
            }
            let values = items
                .iter()
                .zip(elems)
                .enumerate()
                .map(|(i, (item, t))| from_msgpack(item, t, &path.index(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Tuple(values))
        }
        Type::Map(elem) => {
            let entries = raw.as_map().ok_or_else(mismatch)?;
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = k.as_str().ok_or_else(|| error(path, "map key is not a string"))?;
                out.insert(key.to_owned(), from_msgpack(v, elem, &path.key(key))?);
            }
            Ok(Value::Map(out))
        }
        Type::Object(attrs) => {
            let entries = raw.as_map().ok_or_else(mismatch)?;
            let mut out: BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
            for (k, v) in entries {
                let name = k.as_str().ok_or_else(|| error(path, "attribute name is not a string"))?;
                let attr_ty = attrs.get(name).ok_or_else(|| error(path, format!("unsupported attribute {name:?}")))?;
                out.insert(name.to_owned(), from_msgpack(v, attr_ty, &path.attribute(name))?);
            }
            Ok(Value::Object(out))
        }
        Type::Dynamic => {
            let pair = raw.as_array().filter(|a| a.len() == 2).ok_or_else(mismatch)?;
            let type_json = match &pair[0] {
                Msgpack::Binary(b) => b.as_slice(),
                Msgpack::String(s) => s.as_bytes(),
                _ => return Err(error(path, "dynamic value without a type")),
            };
            let concrete = serde_json::from_slice::<Json>(type_json)
                .ok()
                .and_then(|j| Type::from_json(&j).ok())
                .ok_or_else(|| error(path, "dynamic value with an invalid type"))?;
            if concrete == Type::Dynamic {
                return Err(error(path, "dynamic value whose type is dynamic"));
            }
            let inner = from_msgpack(&pair[1], &concrete, path)?;
            Ok(Value::Dynamic(concrete, Box::new(inner)))
        }
    }
}

fn float(f: f64, path: &AttributePath) -> Result<Value, CodecError> {
    if f.is_nan() {
        return Err(error(path, "NaN is not a number Terraform can hold"));
    }
    Ok(Value::Number(Number::from_f64(f)))
}

/// Reads the refinement map; refinements are hints, so an unreadable one is dropped
/// rather than failing the request.
fn refinements(payload: &[u8]) -> Refinements {
    let mut out = Refinements::default();
    let Ok(Msgpack::Map(entries)) = rmpv::decode::read_value_with_max_depth(&mut &payload[..], MAX_DEPTH) else {
        return out;
    };
    let bound = |v: &Msgpack| -> Option<(Number, bool)> {
        let pair = v.as_array().filter(|a| a.len() == 2)?;
        let number = match from_msgpack(&pair[0], &Type::Number, &AttributePath::default()) {
            Ok(Value::Number(n)) => n,
            _ => return None,
        };
        Some((number, pair[1].as_bool()?))
    };
    for (k, v) in &entries {
        match k.as_i64() {
            Some(REFINE_NOT_NULL) => out.not_null = v.as_bool().unwrap_or(false),
            Some(REFINE_STRING_PREFIX) => out.string_prefix = v.as_str().map(str::to_owned),
            Some(REFINE_NUMBER_LOWER) => out.number_lower = bound(v),
            Some(REFINE_NUMBER_UPPER) => out.number_upper = bound(v),
            Some(REFINE_LENGTH_LOWER) => out.length_lower = v.as_u64(),
            Some(REFINE_LENGTH_UPPER) => out.length_upper = v.as_u64(),
            _ => {}
        }
    }
    out
}

fn encode_refinements(r: &Refinements) -> Msgpack {
    let mut entries = Vec::new();
    let number = |n: &Number| to_msgpack(&Value::Number(n.clone()), &Type::Number, &AttributePath::default());
    if r.not_null {
        entries.push((Msgpack::from(REFINE_NOT_NULL), Msgpack::from(true)));
    }
    if let Some(prefix) = &r.string_prefix {
        entries.push((Msgpack::from(REFINE_STRING_PREFIX), Msgpack::from(prefix.as_str())));
    }
    for (key, bound) in [(REFINE_NUMBER_LOWER, &r.number_lower), (REFINE_NUMBER_UPPER, &r.number_upper)] {
        if let Some((n, inclusive)) = bound
            && let Ok(n) = number(n)
        {
            entries.push((Msgpack::from(key), Msgpack::Array(vec![n, Msgpack::from(*inclusive)])));
        }
    }
    for (key, len) in [(REFINE_LENGTH_LOWER, r.length_lower), (REFINE_LENGTH_UPPER, r.length_upper)] {
        if let Some(len) = len {
            entries.push((Msgpack::from(key), Msgpack::from(len)));
        }
    }
    if entries.is_empty() {
        return Msgpack::Ext(UNKNOWN_EXT, vec![0]);
    }
    let mut payload = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut payload, &Msgpack::Map(entries));
    Msgpack::Ext(REFINED_UNKNOWN_EXT, payload)
}

fn to_msgpack(value: &Value, ty: &Type, path: &AttributePath) -> Result<Msgpack, CodecError> {
    let mismatch = || error(path, format!("value {} does not fit type {}", value_kind(value), describe(ty)));
    match (value, ty) {
        (Value::Null, _) => Ok(Msgpack::Nil),
        (Value::Unknown(r), _) => Ok(encode_refinements(r)),
        (Value::Bool(b), Type::Bool) => Ok(Msgpack::from(*b)),
        (Value::Number(n), Type::Number) => Ok(match n {
            Number::Int(i) => Msgpack::from(*i),
            Number::Float(f) => Msgpack::F64(*f),
            Number::Big(text) => Msgpack::from(text.as_str()),
        }),
        (Value::String(s), Type::String) => Ok(Msgpack::from(s.as_str())),
        (Value::List(items), Type::List(elem)) | (Value::Set(items), Type::Set(elem)) => Ok(Msgpack::Array(
            items.iter().enumerate().map(|(i, v)| to_msgpack(v, elem, &path.index(i))).collect::<Result<_, _>>()?,
        )),
        (Value::Tuple(items), Type::Tuple(elems)) if items.len() == elems.len() => Ok(Msgpack::Array(
            items
                .iter()
                .zip(elems)
                .enumerate()
                .map(|(i, (v, t))| to_msgpack(v, t, &path.index(i)))
                .collect::<Result<_, _>>()?,
        )),
        (Value::Map(entries), Type::Map(elem)) => Ok(Msgpack::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((Msgpack::from(k.as_str()), to_msgpack(v, elem, &path.key(k))?)))
                .collect::<Result<_, CodecError>>()?,
        )),
        (Value::Object(attrs), Type::Object(attr_types)) => {
            if let Some(extra) = attrs.keys().find(|k| !attr_types.contains_key(*k)) {
                return Err(error(path, format!("attribute {extra:?} is not in the schema")));
            }
            Ok(Msgpack::Map(
                attr_types
                    .iter()
                    .map(|(name, t)| {
                        let v = attrs.get(name).unwrap_or(&Value::Null);
                        Ok((Msgpack::from(name.as_str()), to_msgpack(v, t, &path.attribute(name))?))
                    })
                    .collect::<Result<_, CodecError>>()?,
            ))
        }
        (Value::Dynamic(concrete, inner), Type::Dynamic) => {
            let type_json = concrete.to_json().to_string().into_bytes();
            Ok(Msgpack::Array(vec![Msgpack::Binary(type_json), to_msgpack(inner, concrete, path)?]))
        }
        (Value::Dynamic(concrete, inner), t) if concrete == t => to_msgpack(inner, t, path),
        (plain, Type::Dynamic) => {
            let concrete = match plain {
                Value::Bool(_) => Type::Bool,
                Value::Number(_) => Type::Number,
                Value::String(_) => Type::String,
                _ => return Err(mismatch()),
            };
            to_msgpack(&Value::Dynamic(concrete, Box::new(plain.clone())), ty, path)
        }
        _ => Err(mismatch()),
    }
}

fn from_json(json: &Json, ty: &Type, path: &AttributePath) -> Result<Value, CodecError> {
    if json.is_null() {
        return Ok(Value::Null);
    }
    let mismatch = || error(path, format!("expected {}, got JSON {}", describe(ty), json_kind(json)));
    match ty {
        Type::Bool => match json {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
            _ => Err(mismatch()),
        },
        Type::Number => {
            let text = match json {
                Json::Number(n) => n.to_string(),
                Json::String(s) => s.clone(),
                _ => return Err(mismatch()),
            };
            Number::parse(&text).map(Value::Number).ok_or_else(|| error(path, format!("{text:?} is not a number")))
        }
        Type::String => match json {
            Json::String(s) => Ok(Value::string(s.as_str())),
            // cty converts primitives to string where a string is expected.
            Json::Number(n) => Ok(Value::string(n.to_string())),
            Json::Bool(b) => Ok(Value::string(b.to_string())),
            _ => Err(mismatch()),
        },
        Type::List(elem) | Type::Set(elem) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            let values = items
                .iter()
                .enumerate()
                .map(|(i, item)| from_json(item, elem, &path.index(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::List(_)) { Value::List(values) } else { Value::Set(values) })
        }
        Type::Tuple(elems) => {
            let items = json.as_array().filter(|a| a.len() == elems.len()).ok_or_else(mismatch)?;
            Ok(Value::Tuple(
                items
                    .iter()
                    .zip(elems)
                    .enumerate()
                    .map(|(i, (item, t))| from_json(item, t, &path.index(i)))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Type::Map(elem) => {
            let entries = json.as_object().ok_or_else(mismatch)?;
            Ok(Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), from_json(v, elem, &path.key(k))?)))
                    .collect::<Result<_, CodecError>>()?,
            ))
        }
        Type::Object(attrs) => {
            let entries = json.as_object().ok_or_else(mismatch)?;
            Ok(Value::Object(
                attrs
                    .iter()
                    .map(|(name, t)| {
                        let v = match entries.get(name) {
                            Some(j) => from_json(j, t, &path.attribute(name))?,
                            None => Value::Null,
                        };
                        Ok((name.clone(), v))
                    })
                    .collect::<Result<_, CodecError>>()?,
            ))
        }
        Type::Dynamic => {
            let obj = json.as_object().ok_or_else(mismatch)?;
            let (Some(type_json), Some(inner)) = (obj.get("type"), obj.get("value")) else {
                return Err(error(path, "dynamic JSON value needs \"type\" and \"value\""));
            };
            let concrete = Type::from_json(type_json).map_err(|e| error(path, e.to_string()))?;
            let inner = from_json(inner, &concrete, path)?;
            Ok(Value::Dynamic(concrete, Box::new(inner)))
        }
    }
}

fn describe(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::Number => "number".into(),
        Type::String => "string".into(),
        Type::Dynamic => "a dynamic value".into(),
        Type::List(_) => "a list".into(),
        Type::Set(_) => "a set".into(),
        Type::Map(_) => "a map".into(),
        Type::Object(_) => "an object".into(),
        Type::Tuple(_) => "a tuple".into(),
    }
}

fn kind_of(raw: &Msgpack) -> &'static str {
    match raw {
        Msgpack::Nil => "nil",
        Msgpack::Boolean(_) => "a boolean",
        Msgpack::Integer(_) | Msgpack::F32(_) | Msgpack::F64(_) => "a number",
        Msgpack::String(_) => "a string",
        Msgpack::Binary(_) => "binary data",
        Msgpack::Array(_) => "an array",
        Msgpack::Map(_) => "a map",
        Msgpack::Ext(_, _) => "an extension",
    }
}

fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Unknown(_) => "unknown",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Map(_) => "map",
        Value::Object(_) => "object",
        Value::Tuple(_) => "tuple",
        Value::Dynamic(_, _) => "dynamic",
    }
}

#[cfg(test)]
mod tests;
