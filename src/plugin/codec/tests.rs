use super::*;

fn round_trip(value: &Value, ty: &Type) -> Value {
    decode_msgpack(&encode_msgpack(value, ty).unwrap(), ty).unwrap()
}

fn schema_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("port", Type::Number),
        ("tags", Type::set(Type::String)),
        ("labels", Type::map(Type::String)),
        ("nodes", Type::list(Type::object([("host", Type::String), ("up", Type::Bool)]))),
        ("extra", Type::Dynamic),
    ])
}

#[test]
fn nested_values_round_trip() {
    let v = Value::object([
        ("name", Value::string("trading")),
        ("port", Value::int(6432)),
        ("tags", Value::Set(vec![Value::string("a"), Value::string("b")])),
        ("labels", Value::Map([("team".to_owned(), Value::string("fx"))].into())),
        ("nodes", Value::List(vec![Value::object([("host", Value::string("pg-1")), ("up", Value::Bool(true))])])),
        ("extra", Value::Dynamic(Type::list(Type::Number), Box::new(Value::List(vec![Value::int(1)])))),
    ]);
    assert_eq!(round_trip(&v, &schema_type()), v);
}

#[test]
fn unknown_is_extension_zero() {
    let bytes = encode_msgpack(&Value::unknown(), &Type::String).unwrap();
    assert_eq!(bytes, [0xd4, 0x00, 0x00]);
    assert_eq!(decode_msgpack(&bytes, &Type::String).unwrap(), Value::unknown());
    // A wholly unknown dynamic value is the bare extension, not a [type, value] pair.
    assert_eq!(decode_msgpack(&bytes, &Type::Dynamic).unwrap(), Value::unknown());
}

#[test]
fn refined_unknown_keeps_its_refinements() {
    let refined = Value::Unknown(Box::new(Refinements {
        not_null: true,
        string_prefix: Some("postgres-".into()),
        ..Refinements::default()
    }));
    let bytes = encode_msgpack(&refined, &Type::String).unwrap();
    assert_eq!(bytes[0], 0xc7, "ext 8 with a length byte");
    assert_eq!(round_trip(&refined, &Type::String), refined);

    let bounded = Value::Unknown(Box::new(Refinements {
        not_null: true,
        number_lower: Some((Number::Int(1), true)),
        number_upper: Some((Number::Int(65535), false)),
        ..Refinements::default()
    }));
    assert_eq!(round_trip(&bounded, &Type::Number), bounded);
    let sized = Value::Unknown(Box::new(Refinements {
        length_lower: Some(1),
        length_upper: Some(3),
        ..Refinements::default()
    }));
    assert_eq!(round_trip(&sized, &Type::list(Type::String)), sized);
}

#[test]
fn refined_unknown_as_terraform_sends_it() {
    // cty's bytes for an unknown, not-null string with prefix "ab": ext 12 carrying
    // {1: true, 2: "ab"}.
    let bytes = [0xc7, 0x07, 0x0c, 0x82, 0x01, 0xc3, 0x02, 0xa2, b'a', b'b'];
    let value = decode_msgpack(&bytes, &Type::String).unwrap();
    let Value::Unknown(r) = value else { panic!("not unknown: {value:?}") };
    assert!(r.not_null);
    assert_eq!(r.string_prefix.as_deref(), Some("ab"));
    // Unknown extensions from a newer Terraform are still unknowns.
    assert!(decode_msgpack(&[0xd4, 0x2a, 0x00], &Type::String).unwrap().is_unknown());
}

#[test]
fn null_everywhere() {
    let nulls = Value::object([]);
    let decoded = decode_msgpack(&encode_msgpack(&nulls, &schema_type()).unwrap(), &schema_type()).unwrap();
    for attr in ["name", "port", "tags", "labels", "nodes", "extra"] {
        assert_eq!(decoded.attr(attr), Some(&Value::Null), "{attr}");
    }
    assert_eq!(decode_msgpack(&[0xc0], &Type::Dynamic).unwrap(), Value::Null);
}

#[test]
fn numbers_beyond_i64_and_f64() {
    let huge = Value::Number(Number::Big("123456789012345678901234567890".into()));
    assert_eq!(round_trip(&huge, &Type::Number), huge);
    // u64 beyond i64 arrives as a msgpack uint.
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &Msgpack::from(u64::MAX)).unwrap();
    assert_eq!(decode_msgpack(&bytes, &Type::Number).unwrap(), Value::Number(Number::Big(u64::MAX.to_string())));
    assert_eq!(round_trip(&Value::Number(Number::Float(0.25)), &Type::Number), Value::Number(Number::Float(0.25)));
    let json = decode_json(br#"{"port": 123456789012345678901234567890.5}"#, &schema_type()).unwrap();
    assert_eq!(json.attr("port"), Some(&Value::Number(Number::Big("123456789012345678901234567890.5".into()))));
}

#[test]
fn malformed_input_is_an_error_with_a_path() {
    let ty = schema_type();
    // A string header promising 5 bytes, followed by 1.
    assert!(decode_msgpack(&[0xa5, b'a'], &ty).unwrap_err().message.contains("malformed"));
    assert!(decode_msgpack(&[0xc0, 0xc0], &ty).unwrap_err().message.contains("unexpected bytes"));
    assert!(decode_msgpack(&[0x92], &ty).is_err(), "truncated array");
    assert!(decode_msgpack(b"", &ty).is_err());

    let mut wrong = Vec::new();
    let bad = Msgpack::Map(vec![(
        Msgpack::from("nodes"),
        Msgpack::Array(vec![Msgpack::Map(vec![(Msgpack::from("up"), Msgpack::from("yes"))])]),
    )]);
    rmpv::encode::write_value(&mut wrong, &bad).unwrap();
    let err = decode_msgpack(&wrong, &ty).unwrap_err();
    assert_eq!(err.path.to_string(), "nodes[0].up");
    assert!(err.message.contains("expected bool"), "{}", err.message);

    let mut extra = Vec::new();
    rmpv::encode::write_value(&mut extra, &Msgpack::Map(vec![(Msgpack::from("nope"), Msgpack::Nil)])).unwrap();
    assert!(decode_msgpack(&extra, &ty).unwrap_err().message.contains("unsupported attribute"));

    let mut nan = Vec::new();
    rmpv::encode::write_value(&mut nan, &Msgpack::F64(f64::NAN)).unwrap();
    assert!(decode_msgpack(&nan, &Type::Number).is_err());

    let mut bad_utf8 = Vec::new();
    rmp::encode::write_str_len(&mut bad_utf8, 2).unwrap();
    bad_utf8.extend([0xff, 0xfe]);
    assert!(decode_msgpack(&bad_utf8, &Type::String).is_err());

    let mut bad_dynamic = Vec::new();
    rmpv::encode::write_value(
        &mut bad_dynamic,
        &Msgpack::Array(vec![Msgpack::Binary(b"\"int\"".to_vec()), Msgpack::from(1)]),
    )
    .unwrap();
    assert!(decode_msgpack(&bad_dynamic, &Type::Dynamic).is_err());

    assert!(decode_json(b"{not json", &ty).is_err());
    assert_eq!(decode_json(br#"{"tags": "x"}"#, &ty).unwrap_err().path.to_string(), "tags");
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    // 100k nested arrays: the decoder must refuse, not crash.
    let bytes = vec![0x91; 100_000];
    assert!(decode_msgpack(&bytes, &Type::Dynamic).is_err());
}

#[test]
fn json_state_drops_attributes_the_schema_no_longer_has() {
    let v = decode_json(br#"{"name":"x","removed_in_v2":1,"extra":{"type":"string","value":"s"}}"#, &schema_type())
        .unwrap();
    assert_eq!(v.attr("name"), Some(&Value::string("x")));
    assert_eq!(v.attr("extra"), Some(&Value::Dynamic(Type::String, Box::new(Value::string("s")))));
    assert_eq!(v.attr("port"), Some(&Value::Null));
}

#[test]
fn encoding_refuses_values_that_do_not_fit() {
    assert!(encode_msgpack(&Value::string("x"), &Type::Number).is_err());
    let extra = Value::object([("unknown_attr", Value::Null)]);
    assert!(encode_msgpack(&extra, &schema_type()).is_err());
}
