//! The pickle whitelist: Python's date/time pickles of every protocol from 2 decode, and
//! everything else is rejected with a clear error and nothing runs, also when the pickle
//! arrives inside an RPC request. The hex pickles were made by CPython 3.11's
//! `pickle.dumps`.

mod support;

use std::path::Path;
use std::time::Duration;

use aiozmq::rpc::{self, pickle, Codec, PyDateTime, PyTime, PyTimezone, Value};
use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use chrono::{NaiveDate, TimeDelta};
use support::python::from_hex;

const MARKER: &str = "/tmp/aiozmq-pickle-marker";

/// `(os.system, ('touch /tmp/aiozmq-pickle-marker',))`, protocol 5.
const OS_SYSTEM: &str = "8005953a000000000000008c05706f736978948c0673797374656d9493948c1f746f756368202f746d702f61696f7a6d712d7069636b6c652d6d61726b657294859452942e";
/// `(eval, ("__import__('os').system('touch ...')",))`.
const EVAL: &str = "80059556000000000000008c086275696c74696e73948c046576616c9493948c3a5f5f696d706f72745f5f28276f7327292e73797374656d2827746f756368202f746d702f61696f7a6d712d7069636b6c652d6d61726b6572272994859452942e";
/// `(subprocess.Popen, (['touch', ...],))`.
const POPEN: &str = "80059544000000000000008c0a73756270726f63657373948c05506f70656e9493945d94288c05746f756368948c192f746d702f61696f7a6d712d7069636b6c652d6d61726b65729465859452942e";
/// A `datetime` whose tzinfo reduces to `os.system(...)`.
const TZ_OS_SYSTEM: &str = "80059563000000000000008c086461746574696d65948c086461746574696d65949394430a07e40101000000000000948c05706f736978948c0673797374656d9493948c1f746f756368202f746d702f61696f7a6d712d7069636b6c652d6d61726b65729485945294869452942e";
/// `os.system` at protocol 0.
const PROTO0: &str = "63706f7369780a73797374656d0a70300a2856746f756368202f746d702f61696f7a6d712d7069636b6c652d6d61726b65720a70310a7470320a5270330a2e";
/// `[1, 2]` and `{'a': date(2020, 1, 1)}`: containers are not datetime values.
const LIST: &str = "80059509000000000000005d94284b014b02652e";
const DICT_DATE: &str = "80059527000000000000007d948c0161948c086461746574696d65948c0464617465949394430407e401019485945294732e";

fn h(s: &str) -> Vec<u8> {
    from_hex(s).unwrap()
}

fn reject(hex: &str, wanted: &str) {
    let e = pickle::decode(&h(hex)).unwrap_err();
    assert!(
        e.to_string().contains(wanted),
        "error {:?} should mention {wanted:?}",
        e.to_string()
    );
}

#[test]
fn non_whitelisted_pickles_are_rejected_and_nothing_runs() {
    let _panics = support::check_library_panics();
    let _ = std::fs::remove_file(MARKER);
    reject(OS_SYSTEM, "global posix.system is not allowed");
    reject(EVAL, "global builtins.eval is not allowed");
    reject(POPEN, "global subprocess.Popen is not allowed");
    reject(TZ_OS_SYSTEM, "global posix.system is not allowed");
    reject(PROTO0, "global posix.system is not allowed");
    reject(LIST, "EMPTY_DICT/LIST");
    reject(DICT_DATE, "EMPTY_DICT/LIST");
    // pytz zones and other tzinfo classes are not whitelisted either.
    reject("8002637079747a0a5f700a2e", "not allowed");
    assert!(
        !Path::new(MARKER).exists(),
        "a rejected pickle must not run anything"
    );
}

#[test]
fn malformed_pickles_are_rejected() {
    let _panics = support::check_library_panics();
    for (bytes, why) in [
        (&b""[..], "truncated"),
        (&b"\x80\x05"[..], "truncated"),
        (&b"\x80\x06."[..], "PROTO 6"),
        (&b"\x80\x05N."[..], "builds a None"),
        (&b"\x80\x05K\x01K\x02."[..], "more than one item"),
        (&b"\x80\x05h\x05."[..], "unset memo"),
        (&b"\x80\x05\x85."[..], "short stack"),
        (&b"\x80\x05R."[..], "underflow"),
        (&b"\x80\x05(R."[..], "MARK"),
        (&b"\x80\x05K\x01b."[..], "BUILD"),
        (&b"\x80\x05\x8c\x08datetime\x8c\x04date\x93K\x01\x85R."[..], "state bytes"),
        (&b"\x80\x05\x8c\x08datetime\x8c\x04date\x93C\x04\x07\xe8\x02\x1e\x85R."[..], "not a date"),
        (&b"\x80\x05\x8c\x08datetime\x8c\x04date\x93C\x04\x07\xe8\x02\x1d\x85R.x"[..], "after STOP"),
        (&b"\x80\x05\x8c\x08datetime\x8c\x08timezone\x93\x8c\x08datetime\x8c\x09timedelta\x93K\x01K\x00K\x00\x87R\x85R."[..], "strictly between"),
    ] {
        let e = pickle::decode(bytes).unwrap_err();
        assert!(e.to_string().contains(why), "{bytes:?}: {e} (wanted {why:?})");
    }
}

fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
}

#[test]
fn other_protocols_and_shapes_decode() {
    let _panics = support::check_library_panics();
    // Protocol 3 (GLOBAL, BINPUT) datetime with utc.
    let v = pickle::decode(&h("8003636461746574696d650a6461746574696d650a7100430a07e401010101010000057101636461746574696d650a74696d657a6f6e650a7102636461746574696d650a74696d6564656c74610a71034b004b004b008771045271058571065271078671085271092e")).unwrap();
    assert_eq!(
        v,
        Value::DateTime(PyDateTime::aware(
            dt(2020, 1, 1, 1, 1, 1, 5),
            PyTimezone::utc()
        ))
    );
    // Protocol 2 timedelta and named timezone.
    let v = pickle::decode(&h(
        "8002636461746574696d650a74696d6564656c74610a71004b054b074b008771015271022e",
    ))
    .unwrap();
    assert_eq!(
        v,
        Value::TimeDelta(TimeDelta::days(5) + TimeDelta::seconds(7))
    );
    let v = pickle::decode(&h("8002636461746574696d650a74696d657a6f6e650a7100636461746574696d650a74696d6564656c74610a71014affffffff4a502701004b0087710252710358010000005a71048671055271062e")).unwrap();
    assert_eq!(
        v,
        Value::Timezone(PyTimezone::new(TimeDelta::hours(-3), Some("Z".into())).unwrap())
    );
    // Protocol 4 time with fold.
    let v = pickle::decode(&h("80049522000000000000008c086461746574696d65948c0474696d65949394430685060700000894859452942e")).unwrap();
    assert_eq!(
        v,
        Value::Time(PyTime {
            naive: chrono::NaiveTime::from_hms_micro_opt(5, 6, 7, 8).unwrap(),
            tz: None,
            fold: true
        })
    );
}

#[test]
fn extremes_reencode_byte_exact() {
    let _panics = support::check_library_panics();
    for hex in [
        // timedelta.max, timedelta(days=-999999999), a 300-character timezone name
        "8005952d000000000000008c086461746574696d65948c0974696d6564656c74619493944affc99a3b4a7f5101004a3f420f00879452942e",
        "80059527000000000000008c086461746574696d65948c0974696d6564656c74619493944a013665c44b004b00879452942e",
        "8005956a010000000000008c086461746574696d65948c0874696d657a6f6e6594939468008c0974696d6564656c74619493944b004d100e4b0087945294582c010000".to_owned().as_str(),
    ] {
        let bytes = if hex.ends_with("582c010000") {
            let mut b = h(hex);
            b.extend(std::iter::repeat_n(b'N', 300));
            b.extend(h("94869452942e"));
            b
        } else {
            h(hex)
        };
        let v = pickle::decode(&bytes).unwrap_or_else(|e| panic!("{hex}: {e}"));
        assert_eq!(pickle::encode(&v).unwrap(), bytes, "{v:?}");
    }
    // Beyond Python's ranges: encoding fails clearly.
    let too_big = Value::TimeDelta(TimeDelta::days(1_000_000_000));
    assert!(pickle::encode(&too_big)
        .unwrap_err()
        .to_string()
        .contains("999999999"));
    let year_zero = Value::Date(NaiveDate::from_ymd_opt(0, 1, 1).unwrap());
    assert!(pickle::encode(&year_zero)
        .unwrap_err()
        .to_string()
        .contains("year 0"));
}

/// An RPC request carrying a malicious pickle is dropped (no reply, nothing run); the
/// server keeps serving.
#[tokio::test]
async fn malicious_pickle_in_a_request_is_dropped() {
    let _panics = support::check_library_panics();
    let _ = std::fs::remove_file(MARKER);
    let handler = rpc::DictHandler::new().method("echo", rpc::method(["v"], |v: Value| v));
    let server = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let ep = server.bindings()[0].clone();
    let dealer = Socket::new(SocketType::Dealer);
    support::connect(&dealer, &ep).await;
    let header = |id: u32| {
        let mut hd = vec![0u8; 16];
        hd[4..8].copy_from_slice(&id.to_le_bytes());
        Bytes::from(hd)
    };
    for (id, evil) in [(1u32, OS_SYSTEM), (2, TZ_OS_SYSTEM), (3, EVAL)] {
        // args = [ExtType(126, pickle)]
        let p = h(evil);
        let mut args = vec![0x91, 0xc7, p.len() as u8, 126];
        args.extend(&p);
        let msg: Message = [
            header(id),
            Bytes::from_static(b"echo"),
            Bytes::from(args),
            Bytes::from_static(b"\x80"),
        ]
        .into_iter()
        .collect();
        support::send(&dealer, msg, "evil request").await;
    }
    // A good request after them is answered, and is the only reply.
    let good = Codec::plain()
        .pack_to_bytes(&Value::Array(vec![Value::Int(7)]))
        .unwrap();
    let msg: Message = [
        header(4),
        Bytes::from_static(b"echo"),
        good,
        Bytes::from_static(b"\x80"),
    ]
    .into_iter()
    .collect();
    support::send(&dealer, msg, "good request").await;
    let reply = support::recv(&dealer, "reply").await;
    assert_eq!(
        &reply[0][4..8],
        &4u32.to_le_bytes()[..],
        "only the good request is answered"
    );
    assert_eq!(&reply[1][..], &[7u8][..]);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), dealer.recv())
            .await
            .is_err(),
        "no other reply"
    );
    assert!(!Path::new(MARKER).exists());
    server.close();
    server.wait_closed().await;
}
