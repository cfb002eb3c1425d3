//! cty types, as Terraform describes attribute types in schemas (`"string"`,
//! `["list","string"]`, `["object",{...}]`).

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// A cty type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    /// `bool`
    Bool,
    /// `number`: arbitrary precision in cty; see [`crate::framework::value::Number`].
    Number,
    /// `string`
    String,
    /// `dynamic`: the value carries its own type on the wire.
    Dynamic,
    /// `list(T)`
    List(Box<Type>),
    /// `set(T)`
    Set(Box<Type>),
    /// `map(T)`
    Map(Box<Type>),
    /// `object({...})`; attributes in name order, as cty encodes them.
    Object(BTreeMap<String, Type>),
    /// `tuple([...])`
    Tuple(Vec<Type>),
}

/// A type JSON document that is not a cty type.
#[derive(Debug, thiserror::Error)]
#[error("invalid type description: {0}")]
pub struct InvalidType(pub String);

impl Type {
    /// `list(element)`.
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }

    /// `set(element)`.
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }

    /// `map(element)`.
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }

    /// `object({...})` from `(name, type)` pairs.
    pub fn object<'a>(attributes: impl IntoIterator<Item = (&'a str, Type)>) -> Type {
        Type::Object(attributes.into_iter().map(|(n, t)| (n.to_owned(), t)).collect())
    }

    /// The type in Terraform's JSON type notation, as schemas carry it.
    ///
    /// ```
    /// use dbaas::framework::types::Type;
    /// assert_eq!(Type::list(Type::String).to_json().to_string(), r#"["list","string"]"#);
    /// ```
    pub fn to_json(&self) -> Json {
        match self {
            Type::Bool => Json::from("bool"),
            Type::Number => Json::from("number"),
            Type::String => Json::from("string"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(e) => Json::Array(vec!["list".into(), e.to_json()]),
            Type::Set(e) => Json::Array(vec!["set".into(), e.to_json()]),
            Type::Map(e) => Json::Array(vec!["map".into(), e.to_json()]),
            Type::Object(attrs) => Json::Array(vec![
                "object".into(),
                Json::Object(attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect()),
            ]),
            Type::Tuple(elems) => {
                Json::Array(vec!["tuple".into(), Json::Array(elems.iter().map(Type::to_json).collect())])
            }
        }
    }

    /// Parses Terraform's JSON type notation.
    ///
    /// # Errors
    /// [`InvalidType`] when the document is not a type, e.g. `["list"]` or `"integer"`.
    pub fn from_json(json: &Json) -> Result<Type, InvalidType> {
        let bad = || InvalidType(json.to_string());
        match json {
            Json::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(bad()),
            },
            Json::Array(parts) if parts.len() == 2 => {
                let kind = parts[0].as_str().ok_or_else(bad)?;
                let arg = &parts[1];
                match kind {
                    "list" => Ok(Type::list(Type::from_json(arg)?)),
                    "set" => Ok(Type::set(Type::from_json(arg)?)),
                    "map" => Ok(Type::map(Type::from_json(arg)?)),
                    "object" => {
                        let attrs = arg.as_object().ok_or_else(bad)?;
                        let mut out = BTreeMap::new();
                        for (name, t) in attrs {
                            out.insert(name.clone(), Type::from_json(t)?);
                        }
                        Ok(Type::Object(out))
                    }
                    "tuple" => {
                        let elems = arg.as_array().ok_or_else(bad)?;
                        Ok(Type::Tuple(elems.iter().map(Type::from_json).collect::<Result<_, _>>()?))
                    }
                    _ => Err(bad()),
                }
            }
            // `["object", {...}, ["optional attrs"]]` appears in type constraints, never
            // in values Terraform sends us, so it is refused like any other shape.
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let t = Type::object([
            ("a", Type::list(Type::String)),
            ("b", Type::Tuple(vec![Type::Bool, Type::Number])),
            ("c", Type::map(Type::set(Type::Dynamic))),
        ]);
        let json = t.to_json();
        assert_eq!(
            json.to_string(),
            r#"["object",{"a":["list","string"],"b":["tuple",["bool","number"]],"c":["map",["set","dynamic"]]}]"#
        );
        assert_eq!(Type::from_json(&json).unwrap(), t);
    }

    #[test]
    fn rejects_non_types() {
        for bad in [r#""integer""#, r#"["list"]"#, r#"["object",[]]"#, "3", "null"] {
            let json: Json = serde_json::from_str(bad).unwrap();
            assert!(Type::from_json(&json).is_err(), "{bad} accepted");
        }
    }
}
