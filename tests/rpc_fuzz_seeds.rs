//! Seeds of the RPC fuzz targets (`fuzz/corpus/rpc_request/`, `fuzz/corpus/pickle/`) and a
//! check that they reach past the first checks. `tests/fuzz_corpus.rs` replays them.
//!
//! Regenerate with `cargo test --test rpc_fuzz_seeds -- --ignored`.

mod support;

use std::path::{Path, PathBuf};

use aiozmq::fuzzing::{join_frames, split_frames};
use aiozmq::rpc::{pickle, wire, Codec, Value};
use bytes::Bytes;
use support::python::from_hex;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn h(s: &str) -> Vec<u8> {
    from_hex(s).unwrap()
}

const HEADER: &str = "120821bb01000000e240f522cec1da41";

/// The pickles of tests/data/rpc-value-vectors.json and tests/rpc_pickle.rs.
fn pickles() -> Vec<(&'static str, Vec<u8>)> {
    let vectors = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rpc-value-vectors.json"
    ))
    .unwrap();
    let mut out = Vec::new();
    let names = [
        "date",
        "dt_naive",
        "dt_utc",
        "dt_plus3",
        "dt_named",
        "time",
        "time_utc",
        "td_neg",
        "td_zero",
        "tz_utc",
        "tz_0545",
        "dt_proto4",
        "date_proto2",
    ];
    let mut i = 0;
    for line in vectors.lines() {
        let Some((_, rest)) = line.split_once("\": \"") else {
            continue;
        };
        let hex = rest.trim_end_matches(',').trim_end_matches('"');
        let Some(bytes) = from_hex(hex) else {
            continue;
        };
        if bytes.first() != Some(&0xc7) {
            continue;
        }
        let payload = bytes[3..].to_vec();
        out.push((names[i], payload));
        i += 1;
    }
    assert_eq!(i, names.len());
    for (name, hex) in [
        ("evil_os_system", "8005953a000000000000008c05706f736978948c0673797374656d9493948c1f746f756368202f746d702f61696f7a6d712d7069636b6c652d6d61726b657294859452942e"),
        ("evil_tz_os_system", "80059563000000000000008c086461746574696d65948c086461746574696d65949394430a07e40101000000000000948c05706f736978948c0673797374656d9493948c1f746f756368202f746d702f61696f7a6d712d7069636b6c652d6d61726b65729485945294869452942e"),
        ("evil_proto0", "63706f7369780a73797374656d0a70300a2856746f756368202f746d702f61696f7a6d712d7069636b6c652d6d61726b65720a70310a7470320a5270330a2e"),
        ("list", "80059509000000000000005d94284b014b02652e"),
        ("dt_proto3_utc", "8003636461746574696d650a6461746574696d650a7100430a07e401010101010000057101636461746574696d650a74696d657a6f6e650a7102636461746574696d650a74696d6564656c74610a71034b004b004b008771045271058571065271078671085271092e"),
        ("td_proto2", "8002636461746574696d650a74696d6564656c74610a71004b054b074b008771015271022e"),
        ("tz_proto2_named", "8002636461746574696d650a74696d657a6f6e650a7100636461746574696d650a74696d6564656c74610a71014affffffff4a502701004b0087710252710358010000005a71048671055271062e"),
        ("time_proto4_fold", "80049522000000000000008c086461746574696d65948c0474696d65949394430685060700000894859452942e"),
        ("td_max", "8005952d000000000000008c086461746574696d65948c0974696d6564656c74619493944affc99a3b4a7f5101004a3f420f00879452942e"),
        ("td_min", "80059527000000000000008c086461746574696d65948c0974696d6564656c74619493944a013665c44b004b00879452942e"),
    ] {
        out.push((name, h(hex)));
    }
    out.push(("truncated", b"\x80\x05\x95".to_vec()));
    out.push((
        "date_ints",
        b"\x80\x05\x8c\x08datetime\x8c\x04date\x93M\xe8\x07K\x02K\x1d\x87R.".to_vec(),
    ));
    out
}

fn ext(code: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0xc7, payload.len() as u8, code];
    v.extend_from_slice(payload);
    v
}

fn request(name: &[u8], args: &[u8], kwargs: &[u8]) -> Vec<u8> {
    join_frames(&[b"\x00k\x8bEg", &h(HEADER), name, args, kwargs])
}

fn rpc_requests() -> Vec<(&'static str, Vec<u8>)> {
    let codec = Codec::plain();
    let vector_args = h("9801a161c40100c0c3cb3ff800000000000092010281a16ba176");
    let mut all_ext = vec![0x90 | 5u8];
    for (_, p) in pickles().into_iter().take(5) {
        all_ext.extend(ext(126, &p));
    }
    let pair = [&1i64.to_be_bytes()[..], &(-2i64).to_be_bytes()[..]].concat();
    let mut deep = vec![0x91u8; 1030];
    deep.push(0);
    let nested = codec
        .pack_to_bytes(&Value::Array(vec![Value::Map(vec![(
            Value::from("k"),
            Value::Array(vec![
                Value::Bin(Bytes::from_static(b"\x00\xff")),
                Value::Float(-0.5),
            ]),
        )])]))
        .unwrap();
    let reply_ok = join_frames(&[&h("1208e31b2a0000006a6af522cec1da4100"), b"\x03"]);
    let reply_err = join_frames(&[
        &h("1208e31b2a0000006a6af522cec1da4101"),
        &[&b"\x93\xb1builtins.KeyError\x91\xa1x\xadKeyError('x')"[..]].concat(),
    ]);
    vec![
        (
            "captured_ns_add",
            request(b"ns.add", b"\x91\x01", b"\x81\xa1b\x02"),
        ),
        ("add_defaults", request(b"add", b"\x91\x05", b"\x80")),
        (
            "add_too_many",
            request(b"add", b"\x93\x01\x02\x03", b"\x80"),
        ),
        (
            "add_kwargs_only",
            request(b"add", b"\x90", b"\x82\xa1a\x01\xa1b\x02"),
        ),
        ("add_wrong_type", request(b"add", b"\x92\xa1x\x01", b"\x80")),
        (
            "echo_vector_args",
            request(b"ns.echo", &vector_args, b"\x80"),
        ),
        ("echo_nested", request(b"ns.echo", &nested, b"\x80")),
        ("echo_datetimes", request(b"ns.echo", &all_ext, b"\x80")),
        (
            "echo_pair_ext0",
            request(
                b"ns.echo",
                &[&[0x91u8][..], &[0xd8, 0x00], &pair].concat(),
                b"\x80",
            ),
        ),
        (
            "echo_raw_ext",
            request(b"ns.echo", b"\x91\xd4\x05\x01", b"\x80"),
        ),
        ("not_found", request(b"nope", b"\x90", b"\x80")),
        (
            "two_envelope_frames",
            join_frames(&[b"a", b"b", &h(HEADER), b"add", b"\x91\x01", b"\x80"]),
        ),
        (
            "three_frames",
            join_frames(&[&h(HEADER), b"add", b"\x91\x01"]),
        ),
        (
            "short_header",
            request(b"add", b"\x91\x01", b"\x80")[..20].to_vec(),
        ),
        ("bad_msgpack", request(b"add", b"\xc1", b"\x80")),
        ("args_not_array", request(b"add", b"\x01", b"\x80")),
        ("kwargs_int_key", request(b"add", b"\x90", b"\x81\x01\x02")),
        ("trailing_bytes", request(b"add", b"\x91\x01\x00", b"\x80")),
        ("deep_nesting", request(b"ns.echo", &deep, b"\x80")),
        (
            "huge_array_len",
            request(b"ns.echo", b"\xdd\xff\xff\xff\xff\x00", b"\x80"),
        ),
        (
            "huge_bin_len",
            request(b"ns.echo", b"\x91\xc6\xff\xff\xff\xff", b"\x80"),
        ),
        ("bad_utf8_name", request(b"\xff\xfe", b"\x90", b"\x80")),
        ("reply_ok", reply_ok),
        ("reply_error", reply_err),
        ("empty", Vec::new()),
    ]
}

fn write(target: &str, seeds: &[(&str, Vec<u8>)]) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, data) in seeds {
        std::fs::write(dir.join(name), data).unwrap();
    }
}

#[test]
#[ignore = "writes the seed corpus"]
fn write_rpc_seeds() {
    write("rpc_request", &rpc_requests());
    write("pickle", &pickles());
}

fn files(target: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<_> = std::fs::read_dir(corpus(target))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn rpc_seeds_reach_deep_states() {
    let codec = Codec::plain();
    let (mut requests, mut replies) = (0, 0);
    for data in files("rpc_request") {
        let msg = split_frames(&data);
        if wire::Request::load(msg.clone(), &codec).is_ok() {
            requests += 1;
        }
        if wire::Reply::load(msg).is_ok() {
            replies += 1;
        }
    }
    assert!(requests >= 10, "only {requests} seeds are valid requests");
    assert!(replies >= 2, "only {replies} seeds are replies");
    let decoded = files("pickle")
        .iter()
        .filter(|p| pickle::decode(p).is_ok())
        .count();
    assert!(decoded >= 15, "only {decoded} pickle seeds decode");
}

#[test]
fn seeds_are_current() {
    // The committed seeds are what this file generates (regenerate after changing it).
    for (target, seeds) in [("rpc_request", rpc_requests()), ("pickle", pickles())] {
        for (name, data) in seeds {
            let path = corpus(target).join(name);
            let committed = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (regenerate the seeds)", path.display()));
            assert_eq!(
                committed,
                data,
                "{} is stale (regenerate the seeds)",
                path.display()
            );
        }
    }
}
