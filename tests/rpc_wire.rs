//! Byte-exact RPC tests: the frames captured from a Python aiozmq 1.0 peer (the RPC wire
//! notes, "Captured from a Python aiozmq 1.0 peer") and every value of
//! `tests/data/rpc-value-vectors.json` (msgpack-python and pickle output of CPython 3.11):
//! each decodes to the right value and re-encodes to the same bytes.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aiozmq::rpc::{self, wire, Codec, Error, Exception, PyDateTime, PyTime, PyTimezone, Value};
use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use chrono::{NaiveDate, TimeDelta};
use support::python::from_hex;
use support::{bind_any, connect, recv, send};

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    from_hex(&clean).unwrap_or_else(|| panic!("bad hex {s}"))
}

fn b(s: &str) -> Bytes {
    Bytes::from(hex(s))
}

/// The vectors file: a JSON object of strings, one nested object of strings.
fn vectors() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rpc-value-vectors.json"
    ))
    .unwrap();
    // A minimal reader for this file's shape: "key": "value" pairs, nested objects flattened
    // with their key as a prefix ("msgpack_ext/...").
    let mut out = BTreeMap::new();
    let mut prefix = String::new();
    let mut chars = text.chars().peekable();
    let mut pending_key: Option<String> = None;
    let read_str = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => return s,
                '\\' => match chars.next().unwrap() {
                    'n' => s.push('\n'),
                    'u' => {
                        let h: String = (0..4).map(|_| chars.next().unwrap()).collect();
                        s.push(char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap());
                    }
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
        panic!("unterminated string")
    };
    let mut depth = 0;
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                depth += 1;
                if depth == 2 {
                    prefix = format!("{}/", pending_key.take().unwrap());
                }
            }
            '}' => {
                depth -= 1;
                if depth == 1 {
                    prefix.clear();
                }
            }
            '"' => {
                let s = read_str(&mut chars);
                match pending_key.take() {
                    None => pending_key = Some(s),
                    Some(k) => {
                        out.insert(format!("{prefix}{k}"), s);
                    }
                }
            }
            ':' | ',' => {}
            c if c.is_whitespace() => {}
            _ => {
                // A number (python version / protocol): skip it and its key.
                while chars.peek().is_some_and(|c| *c != ',' && *c != '}') {
                    chars.next();
                }
                pending_key = None;
            }
        }
    }
    out
}

fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
}

fn tz(seconds: i64, name: Option<&str>) -> PyTimezone {
    PyTimezone::new(TimeDelta::seconds(seconds), name.map(str::to_owned)).unwrap()
}

fn expected_ext(name: &str) -> Value {
    let time = |h, m, s, us| chrono::NaiveTime::from_hms_micro_opt(h, m, s, us).unwrap();
    match name {
        "date 2024-02-29" => Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
        "datetime naive 2026-11-25T19:34:29.123456" => {
            Value::DateTime(PyDateTime::naive(dt(2026, 11, 25, 19, 34, 29, 123456)))
        }
        "datetime utc 2026-11-25T19:34:29+00:00" => Value::DateTime(PyDateTime::aware(
            dt(2026, 11, 25, 19, 34, 29, 0),
            PyTimezone::utc(),
        )),
        "datetime +03:00 2026-11-25T19:34:29+03:00" => Value::DateTime(PyDateTime::aware(
            dt(2026, 11, 25, 19, 34, 29, 0),
            tz(10800, None),
        )),
        "datetime -05:30 named EST-ish" => Value::DateTime(PyDateTime::aware(
            dt(2000, 1, 1, 0, 0, 0, 1),
            tz(-19800, Some("X")),
        )),
        "time 23:59:58.000001" => Value::Time(PyTime::naive(time(23, 59, 58, 1))),
        "time with utc" => Value::Time(PyTime {
            naive: time(1, 2, 3, 0),
            tz: Some(PyTimezone::utc()),
            fold: false,
        }),
        "timedelta -1 day 3 s 7 us" => Value::TimeDelta(
            TimeDelta::days(-1) + TimeDelta::seconds(3) + TimeDelta::microseconds(7),
        ),
        "timedelta 0" => Value::TimeDelta(TimeDelta::zero()),
        "tzinfo utc" => Value::Timezone(PyTimezone::utc()),
        "tzinfo +05:45" => Value::Timezone(tz(5 * 3600 + 45 * 60, None)),
        other => panic!("no expectation for vector {other:?}"),
    }
}

#[test]
fn every_ext_vector_decodes_and_reencodes_byte_exact() {
    let _panics = support::check_library_panics();
    let codec = Codec::plain();
    let v = vectors();
    let mut n = 0;
    for (key, h) in &v {
        let Some(name) = key.strip_prefix("msgpack_ext/") else {
            continue;
        };
        let bytes = b(h);
        let value = codec
            .unpack(&bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(value, expected_ext(name), "{name}");
        let again = codec.pack_to_bytes(&value).unwrap();
        assert_eq!(again, bytes, "{name}: re-encoding");
        n += 1;
    }
    assert_eq!(n, 11, "every msgpack_ext vector");
}

#[test]
fn args_and_kwargs_vectors() {
    let _panics = support::check_library_panics();
    let codec = Codec::plain();
    let v = vectors();
    let args = b(&v["args (1, 'a', b'\\x00', None, True, 1.5, [1,2], {'k': 'v'})"]);
    let value = codec.unpack(&args).unwrap();
    let want = Value::Array(vec![
        Value::Int(1),
        Value::from("a"),
        Value::Bin(Bytes::from_static(b"\x00")),
        Value::Nil,
        Value::Bool(true),
        Value::Float(1.5),
        Value::Array(vec![Value::Int(1), Value::Int(2)]),
        Value::Map(vec![(Value::from("k"), Value::from("v"))]),
    ]);
    assert_eq!(value, want);
    assert_eq!(codec.pack_to_bytes(&value).unwrap(), args);
    assert_eq!(
        value.python_repr(),
        r"(1, 'a', b'\x00', None, True, 1.5, (1, 2), {'k': 'v'})"
    );
    // The same through the typed encoders of a call.
    let mut buf = bytes::BytesMut::new();
    let items = value.as_array().unwrap().to_vec();
    codec.pack_array(&items, &mut buf).unwrap();
    assert_eq!(&buf[..], &args[..]);

    let kwargs = b(&v["kwargs {} "]);
    assert_eq!(codec.unpack(&kwargs).unwrap(), Value::Map(vec![]));
    let mut buf = bytes::BytesMut::new();
    codec.pack_kwargs(&[], &mut buf).unwrap();
    assert_eq!(&buf[..], &kwargs[..]);
}

#[test]
fn older_pickle_protocols_decode_and_reencode_as_protocol_5() {
    let _panics = support::check_library_panics();
    let codec = Codec::plain();
    let v = vectors();
    let p4 = codec
        .unpack(&b(&v["protocol 4 datetime naive (older Pythons)"]))
        .unwrap();
    assert_eq!(
        p4,
        expected_ext("datetime naive 2026-11-25T19:34:29.123456")
    );
    assert_eq!(
        codec.pack_to_bytes(&p4).unwrap(),
        b(&v["msgpack_ext/datetime naive 2026-11-25T19:34:29.123456"])
    );
    let p2 = codec.unpack(&b(&v["protocol 2 date"])).unwrap();
    assert_eq!(p2, expected_ext("date 2024-02-29"));
    assert_eq!(
        codec.pack_to_bytes(&p2).unwrap(),
        b(&v["msgpack_ext/date 2024-02-29"])
    );
}

// ---- the captured frames ----

const CAPTURED_HEADER: &str = "120821bb 01000000 e240f522cec1da41";

#[test]
fn captured_request_parses_and_reencodes() {
    let _panics = support::check_library_panics();
    let codec = Codec::plain();
    let msg: Message = [
        b("006b8b4567"),
        b(CAPTURED_HEADER),
        b("6e732e616464"),
        b("9101"),
        b("81a16202"),
    ]
    .into_iter()
    .collect();
    let req = wire::Request::load(msg, &codec).unwrap();
    assert_eq!(req.envelope, Message::from(b("006b8b4567")));
    assert_eq!(req.header.pid, 2066);
    assert_eq!(req.header.random, 47905);
    assert_eq!(req.header.req_id, 1);
    assert!(req.header.time > 1.7e9, "{}", req.header.time);
    assert_eq!(req.body.name, "ns.add");
    assert_eq!(req.body.args, vec![Value::Int(1)]);
    assert_eq!(req.body.kwargs, vec![("b".to_owned(), Value::Int(2))]);
    assert_eq!(&req.header.encode()[..], &hex(CAPTURED_HEADER)[..]);
    let [name, args, kwargs] = req.body.encode(&codec).unwrap();
    assert_eq!(
        (name, args, kwargs),
        (b("6e732e616464"), b("9101"), b("81a16202"))
    );
}

#[test]
fn captured_reply_header() {
    let _panics = support::check_library_panics();
    let h = wire::ReplyHeader::load(&hex("1208e31b 2a000000 6a6af522cec1da41 00")).unwrap();
    assert_eq!(
        (h.pid, h.random, h.req_id, h.is_error),
        (2066, 7139, 42, false)
    );
    assert_eq!(
        &h.encode()[..],
        &hex("1208e31b 2a000000 6a6af522cec1da41 00")[..]
    );
    // Python's `?` reads any non-zero byte as true.
    let h = wire::ReplyHeader::load(&hex("1208e31b 2a000000 6a6af522cec1da41 07")).unwrap();
    assert!(h.is_error);
}

/// msgpack of a str as msgpack-python writes it (fixstr or str8).
fn mp_str(s: &str) -> Vec<u8> {
    let mut v = if s.len() < 32 {
        vec![0xa0 | s.len() as u8]
    } else {
        vec![0xd9, s.len() as u8]
    };
    v.extend_from_slice(s.as_bytes());
    v
}

/// `[exc_type, [arg], exc_repr]` as msgpack-python packs it.
fn error_body(exc_type: &str, arg: &str, repr: &str) -> Vec<u8> {
    let mut v = vec![0x93];
    v.extend(mp_str(exc_type));
    v.push(0x91);
    v.extend(mp_str(arg));
    v.extend(mp_str(repr));
    v
}

/// A Rust server answers raw DEALER requests with Python's reply bytes.
#[tokio::test]
async fn rust_server_replies_like_python() {
    let _panics = support::check_library_panics();
    let handler = rpc::DictHandler::new().handler(
        "ns",
        rpc::DictHandler::new().method("add", rpc::method(["a", "b"], |a: i64, b: i64| a + b)),
    );
    let server = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let dealer = Socket::new(SocketType::Dealer);
    connect(&dealer, &server.bindings()[0]).await;
    let header = |id: u32| {
        let mut h = hex(CAPTURED_HEADER);
        h[4..8].copy_from_slice(&id.to_le_bytes());
        Bytes::from(h)
    };
    let request = |id: u32, name: &str, args: &str, kwargs: &str| -> Message {
        [
            header(id),
            Bytes::from(name.as_bytes().to_vec()),
            b(args),
            b(kwargs),
        ]
        .into_iter()
        .collect()
    };

    // ns.add(1, b=2) with id 42 -> 3.
    send(
        &dealer,
        request(42, "ns.add", "9101", "81a16202"),
        "request",
    )
    .await;
    let reply = recv(&dealer, "reply").await;
    assert_eq!(reply.len(), 2);
    assert_eq!(reply[0].len(), 17);
    assert_eq!(&reply[0][4..8], &hex("2a000000")[..], "request id echoed");
    assert_eq!(reply[0][16], 0, "is_error");
    assert_eq!(&reply[1][..], &hex("03")[..]);
    let pid = (std::process::id() % 65536) as u16;
    assert_eq!(&reply[0][0..2], &pid.to_le_bytes()[..], "server pid");

    // Unknown method.
    send(&dealer, request(43, "nope", "90", "80"), "request").await;
    let reply = recv(&dealer, "reply").await;
    assert_eq!(reply[0][16], 1, "is_error");
    assert_eq!(
        &reply[1][..],
        &error_body(
            "aiozmq.rpc.base.NotFoundError",
            "nope",
            "NotFoundError('nope')"
        )[..]
    );

    // Too many arguments.
    send(&dealer, request(44, "ns.add", "93010203", "80"), "request").await;
    let reply = recv(&dealer, "reply").await;
    assert_eq!(reply[0][16], 1, "is_error");
    assert_eq!(
        &reply[1][..],
        &error_body(
            "aiozmq.rpc.base.ParametersError",
            "TypeError('too many positional arguments')",
            "ParametersError(\"TypeError('too many positional arguments')\")"
        )[..]
    );

    server.close();
    server.wait_closed().await;
}

/// A Rust client sends Python's request bytes and raises `KeyError('x')` from Python's
/// error reply.
#[tokio::test]
async fn rust_client_requests_like_python() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = bind_any(&router).await;
    let client = rpc::connect_rpc().connect(&ep).await.unwrap();
    let call = tokio::spawn(rpc::call!(client, ns.add(1, b = 2)).into_future_value());

    let req = recv(&router, "request").await;
    assert_eq!(req.len(), 5, "routing id + 4 frames");
    let h = wire::RequestHeader::load(&req[1]).unwrap();
    assert_eq!(h.pid, (std::process::id() % 65536) as u16);
    assert_eq!(h.req_id, 1, "the first request id is 1");
    assert_eq!(&req[2][..], b"ns.add");
    assert_eq!(&req[3][..], &hex("9101")[..]);
    assert_eq!(&req[4][..], &hex("81a16202")[..]);

    // Answer with the captured KeyError reply.
    let mut reply_header = hex("1208e31b 01000000 6a6af522cec1da41 01");
    reply_header[4..8].copy_from_slice(&h.req_id.to_le_bytes());
    let body = error_body("builtins.KeyError", "x", "KeyError('x')");
    let reply: Message = [req[0].clone(), Bytes::from(reply_header), Bytes::from(body)]
        .into_iter()
        .collect();
    send(&router, reply, "reply").await;
    let e = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    let Error::Builtin(exc) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(exc.name(), "KeyError");
    assert_eq!(exc.args(), [Value::from("x")]);
    assert_eq!(exc.repr(), "KeyError('x')");
    assert_eq!(*exc, Exception::key_error("x"));
    client.close();
    client.wait_closed().await;
}

/// Helper: a `call!` future with its result type fixed to `Value`.
trait ValueFuture {
    fn into_future_value(self) -> impl std::future::Future<Output = Result<Value, Error>> + Send;
}

impl<F: std::future::Future<Output = Result<Value, Error>> + Send> ValueFuture for F {
    fn into_future_value(self) -> impl std::future::Future<Output = Result<Value, Error>> + Send {
        self
    }
}

/// The translation table: the lowest matching code wins when packing (even over the
/// predefined date/time translators); unknown codes stay raw ext values.
#[test]
fn translation_table_order_and_unknown_codes() {
    let _panics = support::check_library_panics();
    use aiozmq::rpc::{ConvertError, TranslationTable, Translator};
    #[derive(Clone, Debug, PartialEq)]
    struct P(u8);
    let p_translator = |tag: u8| {
        Translator::for_type(
            move |p: &P| vec![tag, p.0],
            |b: &[u8]| match b {
                [_, v] => Ok(P(*v)),
                _ => Err(ConvertError::value_error("bad P")),
            },
        )
    };
    let date_as_text = Translator::new(
        "date-as-text",
        |v| matches!(v, Value::Date(_)),
        |v| match v {
            Value::Date(d) => Ok(d.to_string().into_bytes()),
            _ => Err(ConvertError::type_error("not a date")),
        },
        |b| {
            let s = std::str::from_utf8(b).map_err(|e| ConvertError::value_error(e.to_string()))?;
            s.parse()
                .map(Value::Date)
                .map_err(|e: chrono::ParseError| ConvertError::value_error(e.to_string()))
        },
    );
    let table = TranslationTable::new()
        .with(3, p_translator(3))
        .with(1, p_translator(1))
        .with(5, date_as_text);
    let codec = Codec::new(&table);
    let p = Value::Object(rpc::Object::new(P(7)));
    assert_eq!(
        &codec.pack_to_bytes(&p).unwrap()[..],
        &[0xd5, 1, 1, 7][..],
        "code 1 wins"
    );
    assert_eq!(
        codec.unpack(&Bytes::from_static(&[0xd5, 3, 3, 9])).unwrap(),
        Value::Object(rpc::Object::new(P(9)))
    );
    let date = Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
    let packed = codec.pack_to_bytes(&date).unwrap();
    assert_eq!(
        &packed[..3],
        &[0xc7, 10, 5][..],
        "code 5 takes dates over 127"
    );
    assert_eq!(&packed[3..], b"2024-02-29");
    assert_eq!(codec.unpack(&packed).unwrap(), date);
    // Ext codes without a translator come back raw, and re-encode as they came.
    for raw in [
        &[0xd4, 9, 0xab][..],
        &[0xd6, 0xff, 1, 2, 3, 4][..],
        &[0xc7, 0, 100][..],
    ] {
        let v = codec.unpack(&Bytes::copy_from_slice(raw)).unwrap();
        assert!(matches!(v, Value::Ext(..)), "{v:?}");
        assert_eq!(&codec.pack_to_bytes(&v).unwrap()[..], raw);
    }
    // An object without a translator cannot be packed (Python's TypeError).
    #[derive(Clone, Debug, PartialEq)]
    struct Q;
    let e = Codec::plain()
        .pack_to_bytes(&Value::Object(rpc::Object::new(Q)))
        .unwrap_err();
    assert!(e.to_string().contains("Unknown type: Q"), "{e}");
}

/// Raw msgpack values (rmpv) in and out of methods, untranslated.
#[tokio::test]
async fn raw_rmpv_values() {
    let _panics = support::check_library_panics();
    let handler = rpc::DictHandler::new().method(
        "raw",
        rpc::method(["v"], |v: rmpv::Value| {
            rmpv::Value::Array(vec![v, rmpv::Value::from("seen")])
        }),
    );
    let server = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .await
        .unwrap();
    let date = Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
    let r: rmpv::Value = rpc::call!(client, raw(date.clone())).await.unwrap();
    // The method saw the date as its raw ext pickle (code 127), and sent it back as such.
    let rmpv::Value::Array(items) = &r else {
        panic!("{r:?}")
    };
    assert!(matches!(&items[0], rmpv::Value::Ext(127, _)), "{r:?}");
    let typed: (NaiveDate, String) = rpc::call!(client, raw(date)).await.unwrap();
    assert_eq!(typed.0, NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
    client.close();
    server.close();
}
