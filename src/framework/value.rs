//! cty values: what Terraform sends and receives for configuration, plans and state.

use std::collections::BTreeMap;
use std::fmt;

use super::types::Type;

/// A cty number. Terraform numbers are arbitrary precision; we keep integers and
/// floats natively and anything larger as its exact decimal text, so no digit is lost on
/// the way through the provider.
#[derive(Clone, Debug, PartialEq)]
pub enum Number {
    /// A whole number that fits in `i64`.
    Int(i64),
    /// A finite number with a fraction, within `f64`.
    Float(f64),
    /// Any other number, as exact decimal text (e.g. `18446744073709551616`).
    Big(String),
}

impl Number {
    /// Parses decimal text (as JSON or cty's string form carries big numbers); `None`
    /// for anything that is not a decimal number.
    pub fn parse(text: &str) -> Option<Number> {
        let text = text.trim();
        if let Ok(i) = text.parse::<i64>() {
            return Some(Number::Int(i));
        }
        let well_formed = !text.is_empty()
            && text.trim_start_matches(['-', '+']).chars().next().is_some_and(|c| c.is_ascii_digit())
            && text.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
        if !well_formed {
            return None;
        }
        let f: f64 = text.parse().ok()?;
        if !f.is_finite() {
            return Some(Number::Big(text.to_owned()));
        }
        // Any decimal with at most 15 significant digits survives a trip through f64;
        // beyond that, keep the exact text.
        let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
        let digits = mantissa.trim_start_matches(['-', '+']).replace('.', "");
        let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
        if significant <= 15 { Some(Number::from_f64(f)) } else { Some(Number::Big(text.to_owned())) }
    }

    /// A number from a float, normalised so that `5.0` equals `Int(5)`.
    pub fn from_f64(f: f64) -> Number {
        if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 { Number::Int(f as i64) } else { Number::Float(f) }
    }

    /// The number as `i64`, when it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            _ => None,
        }
    }
}

fn format_float(f: f64) -> String {
    format!("{f}")
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{}", format_float(*x)),
            Number::Big(s) => f.write_str(s),
        }
    }
}

/// What Terraform already knows about a value it cannot know yet (cty "refinements").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Refinements {
    /// The value will not be null.
    pub not_null: bool,
    /// A string value will start with this.
    pub string_prefix: Option<String>,
    /// Lower bound of a number: (bound, inclusive).
    pub number_lower: Option<(Number, bool)>,
    /// Upper bound of a number: (bound, inclusive).
    pub number_upper: Option<(Number, bool)>,
    /// Least length of a collection.
    pub length_lower: Option<u64>,
    /// Greatest length of a collection.
    pub length_upper: Option<u64>,
}

/// A cty value. Collections hold values of their declared element type; the type
/// itself travels beside the value (in the schema), except under `dynamic`.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// Not known until apply, possibly with refinements.
    Unknown(Box<Refinements>),
    /// A `bool`.
    Bool(bool),
    /// A `number`.
    Number(Number),
    /// A `string`.
    String(String),
    /// A `list`.
    List(Vec<Value>),
    /// A `set`, in no particular order.
    Set(Vec<Value>),
    /// A `map`.
    Map(BTreeMap<String, Value>),
    /// An `object`; every attribute of its type is present (absent ones are `Null`).
    Object(BTreeMap<String, Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A value at a `dynamic` position, with the concrete type it was sent with.
    Dynamic(Type, Box<Value>),
}

impl Value {
    /// A wholly unknown value with no refinements.
    pub fn unknown() -> Value {
        Value::Unknown(Box::default())
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Dynamic(_, v) => v.is_null(),
            _ => false,
        }
    }

    /// Whether this value itself is unknown (not: contains an unknown).
    pub fn is_unknown(&self) -> bool {
        match self {
            Value::Unknown(_) => true,
            Value::Dynamic(_, v) => v.is_unknown(),
            _ => false,
        }
    }

    /// Whether this value is known all the way down.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => v.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }

    /// A string value, or `None` for anything else (including null and unknown).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// An attribute of an object value; `None` when this is not an object or lacks it.
    pub fn attr(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.get(name),
            _ => None,
        }
    }

    /// An object value from `(name, value)` pairs.
    pub fn object<'a>(attributes: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Object(attributes.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
    }

    /// `Value::String` from anything string-like.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A string, or null when absent.
    pub fn opt_string(s: Option<impl Into<String>>) -> Value {
        s.map_or(Value::Null, |s| Value::String(s.into()))
    }

    /// A whole number.
    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }

    /// Equality that treats sets as unordered, as cty does. Sets compare by their sorted
    /// canonical encodings: O(n log n), where comparing each element with every other
    /// was quadratic (a 32,000-element set took seconds).
    pub fn semantically_equal(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Set(a), Value::Set(b)) => a.len() == b.len() && sorted_encodings(a) == sorted_encodings(b),
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.semantically_equal(y))
            }
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| x.semantically_equal(y)))
            }
            (Value::Dynamic(ta, a), Value::Dynamic(tb, b)) => ta == tb && a.semantically_equal(b),
            _ => self == other,
        }
    }

    /// Appends an encoding of the value in which two values are equal exactly when they
    /// are semantically equal: tagged, length-prefixed, sets in sorted order.
    fn encode_canonical(&self, out: &mut Vec<u8>) {
        fn bytes(out: &mut Vec<u8>, b: &[u8]) {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
        match self {
            Value::Null => out.push(0),
            Value::Unknown(r) => {
                out.push(1);
                bytes(out, format!("{r:?}").as_bytes());
            }
            Value::Bool(b) => out.extend_from_slice(&[2, u8::from(*b)]),
            Value::Number(n) => {
                out.push(3);
                bytes(out, format!("{n:?}").as_bytes());
            }
            Value::String(s) => {
                out.push(4);
                bytes(out, s.as_bytes());
            }
            Value::List(items) | Value::Tuple(items) => {
                out.push(if matches!(self, Value::List(_)) { 5 } else { 6 });
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in items {
                    item.encode_canonical(out);
                }
            }
            Value::Set(items) => {
                out.push(7);
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in sorted_encodings(items) {
                    bytes(out, &item);
                }
            }
            Value::Map(m) | Value::Object(m) => {
                out.push(if matches!(self, Value::Map(_)) { 8 } else { 9 });
                out.extend_from_slice(&(m.len() as u64).to_le_bytes());
                for (k, v) in m {
                    bytes(out, k.as_bytes());
                    v.encode_canonical(out);
                }
            }
            Value::Dynamic(t, v) => {
                out.push(10);
                bytes(out, format!("{t:?}").as_bytes());
                v.encode_canonical(out);
            }
        }
    }
}

/// The canonical encodings of `items`, sorted.
fn sorted_encodings(items: &[Value]) -> Vec<Vec<u8>> {
    let mut encoded: Vec<Vec<u8>> = items
        .iter()
        .map(|v| {
            let mut out = Vec::new();
            v.encode_canonical(&mut out);
            out
        })
        .collect();
    encoded.sort_unstable();
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_what_f64_cannot() {
        assert_eq!(Number::parse("42"), Some(Number::Int(42)));
        assert_eq!(Number::parse("1.5"), Some(Number::Float(1.5)));
        assert_eq!(Number::parse("5.0"), Some(Number::Int(5)));
        assert_eq!(Number::parse("-2.5e3"), Some(Number::Int(-2500)));
        let big = "18446744073709551616";
        assert_eq!(Number::parse(big), Some(Number::Big(big.into())));
        assert_eq!(Number::parse("0.1000000000000000000001").unwrap().to_string(), "0.1000000000000000000001");
        assert_eq!(Number::parse("1e400"), Some(Number::Big("1e400".into())));
        for bad in ["", "abc", "1.2.3x", "NaN", "inf", "--", "0x10"] {
            assert_eq!(Number::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sets_compare_unordered() {
        let a = Value::Set(vec![Value::string("x"), Value::string("y")]);
        let b = Value::Set(vec![Value::string("y"), Value::string("x")]);
        assert!(a.semantically_equal(&b));
        assert!(!a.semantically_equal(&Value::Set(vec![Value::string("x")])));
    }

    #[test]
    fn nested_and_large_sets_compare_unordered() {
        let obj = |k: &str, tags: &[&str]| {
            Value::object([
                ("name", Value::string(k)),
                ("tags", Value::Set(tags.iter().map(|t| Value::string(*t)).collect())),
            ])
        };
        let a = Value::Set(vec![obj("a", &["1", "2"]), obj("b", &["3"])]);
        let b = Value::Set(vec![obj("b", &["3"]), obj("a", &["2", "1"])]);
        assert!(a.semantically_equal(&b));
        let c = Value::Set(vec![obj("b", &["3"]), obj("a", &["2", "x"])]);
        assert!(!a.semantically_equal(&c));
        // Same elements with different multiplicities are not equal (length is the same).
        let d = Value::Set(vec![Value::string("x"), Value::string("x")]);
        let e = Value::Set(vec![Value::string("x"), Value::string("y")]);
        assert!(!d.semantically_equal(&e));
        // Encodings cannot run together: "ab","c" is not "a","bc".
        let f = Value::List(vec![Value::string("ab"), Value::string("c")]);
        let g = Value::List(vec![Value::string("a"), Value::string("bc")]);
        assert!(!Value::Set(vec![f]).semantically_equal(&Value::Set(vec![g])));
        let big: Vec<Value> = (0..60_000).map(|i| Value::string(format!("element-{i}"))).collect();
        let mut reversed = big.clone();
        reversed.reverse();
        assert!(Value::Set(big.clone()).semantically_equal(&Value::Set(reversed.clone())));
        reversed[0] = Value::string("other");
        assert!(!Value::Set(big).semantically_equal(&Value::Set(reversed)));
    }
}
