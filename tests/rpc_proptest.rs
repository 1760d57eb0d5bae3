//! Property tests of the RPC value layer: msgpack and pickle round trips, the decoders on
//! arbitrary bytes, argument binding.

use aiozmq::rpc::{pickle, Codec, PyDateTime, PyTime, PyTimezone, Sig, Value};
use bytes::Bytes;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use proptest::prelude::*;

fn timezone() -> impl Strategy<Value = PyTimezone> {
    (
        -86_399_999_999i64..=86_399_999_999,
        proptest::option::of("[a-zA-Z+0-9 ]{0,12}"),
    )
        .prop_map(|(us, name)| PyTimezone::new(TimeDelta::microseconds(us), name).unwrap())
}

fn naive_time() -> impl Strategy<Value = NaiveTime> {
    (0u32..24, 0u32..60, 0u32..60, 0u32..1_000_000)
        .prop_map(|(h, m, s, us)| NaiveTime::from_hms_micro_opt(h, m, s, us).unwrap())
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (1i32..=9999, 1u32..=366).prop_map(|(y, d)| {
        NaiveDate::from_yo_opt(y, d).unwrap_or_else(|| NaiveDate::from_yo_opt(y, 365).unwrap())
    })
}

fn datetime_value() -> impl Strategy<Value = Value> {
    let delta =
        (-999_999_999i64..=999_999_999, 0i64..86_400, 0i64..1_000_000).prop_map(|(d, s, us)| {
            Value::TimeDelta(
                TimeDelta::days(d) + TimeDelta::seconds(s) + TimeDelta::microseconds(us),
            )
        });
    prop_oneof![
        date().prop_map(Value::Date),
        (
            date(),
            naive_time(),
            proptest::option::of(timezone()),
            any::<bool>()
        )
            .prop_map(|(d, t, tz, fold)| Value::DateTime(PyDateTime {
                naive: NaiveDateTime::new(d, t),
                tz,
                fold
            })),
        (
            naive_time(),
            proptest::option::of(timezone()),
            any::<bool>()
        )
            .prop_map(|(t, tz, fold)| Value::Time(PyTime { naive: t, tz, fold })),
        delta,
        timezone().prop_map(Value::Timezone),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Int(i as i128)),
        any::<u64>().prop_map(|i| Value::Int(i as i128)),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Value::Float),
        ".{0,40}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::Bin(Bytes::from(b))),
        // Codes without a translator stay raw (123..=127 are the date/time translators).
        (
            (-128i8..=122),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(c, b)| Value::Ext(c, Bytes::from(b))),
        datetime_value(),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..20).prop_map(Value::Map),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn msgpack_round_trip(v in value()) {
        let codec = Codec::plain();
        let bytes = codec.pack_to_bytes(&v).unwrap();
        let back = codec.unpack(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(codec.pack_to_bytes(&back).unwrap(), bytes);
        let _ = v.python_repr();
    }

    #[test]
    fn pickle_round_trip(v in datetime_value()) {
        let bytes = pickle::encode(&v).unwrap();
        prop_assert_eq!(bytes[..2].to_vec(), vec![0x80, 5]);
        prop_assert_eq!(&pickle::decode(&bytes).unwrap(), &v);
    }

    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let codec = Codec::plain();
        let bytes = Bytes::from(data.clone());
        if let Ok(v) = codec.unpack(&bytes) {
            let again = codec.pack_to_bytes(&v).unwrap();
            let back = codec.unpack(&again).unwrap();
            prop_assert_eq!(codec.pack_to_bytes(&back).unwrap(), again);
        }
        let _ = pickle::decode(&data);
        let mut framed = vec![0x80, 5];
        framed.extend_from_slice(&data);
        let _ = pickle::decode(&framed);
    }

    /// Any split of the arguments into positional and keyword ones binds to the same values.
    #[test]
    fn binding_by_position_and_name(n in 1usize..8, split in 0usize..8, seed in any::<u64>()) {
        let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let sig = Sig::new(names.clone());
        let split = split.min(n);
        let values: Vec<Value> = (0..n).map(|i| Value::Int(i as i128 * 10)).collect();
        let mut kwargs: Vec<(String, Value)> = (split..n)
            .map(|i| (names[i].clone(), values[i].clone()))
            .collect();
        // Any keyword order.
        let len = kwargs.len().max(1);
        kwargs.rotate_left((seed as usize) % len);
        let bound = sig.bind(values[..split].to_vec(), kwargs).unwrap();
        prop_assert_eq!(bound, values);
    }
}

#[test]
fn deepest_values_round_trip_on_a_small_stack() {
    // 1024 nested arrays (msgpack-python's limit) decode without recursion, even on a
    // 256 KiB thread stack in a debug build; they encode within tokio's 2 MiB worker stack.
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let codec = Codec::plain();
            let mut deepest = vec![0x91u8; 1023];
            deepest.push(0x90);
            let v = codec.unpack(&Bytes::from(deepest.clone())).unwrap();
            let mut too_deep = vec![0x91u8; 1024];
            too_deep.push(0x90);
            assert!(codec.unpack(&Bytes::from(too_deep)).is_err());
            drop(v);
        })
        .unwrap()
        .join()
        .unwrap();
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let codec = Codec::plain();
            let mut deepest = vec![0x91u8; 1023];
            deepest.push(0x90);
            let v = codec.unpack(&Bytes::from(deepest.clone())).unwrap();
            assert_eq!(&codec.pack_to_bytes(&v).unwrap()[..], &deepest[..]);
        })
        .unwrap()
        .join()
        .unwrap();
}
