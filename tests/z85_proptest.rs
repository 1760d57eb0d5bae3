//! Z85 (RFC 32): the RFC's test vectors, and round-trip properties for inputs up to 4 KiB.

use aiozmq::zmtp::z85::{decode, encode};
use proptest::prelude::*;

const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

#[test]
fn rfc32_vectors() {
    let hello = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
    assert_eq!(encode(&hello).unwrap(), "HelloWorld");
    assert_eq!(decode("HelloWorld").unwrap(), hello);
    let key = [
        0x8E, 0x0B, 0xDD, 0x69, 0x76, 0x28, 0xB9, 0x1D, 0x8F, 0x24, 0x55, 0x87, 0xEE, 0x95, 0xC5,
        0xB0, 0x4D, 0x48, 0x96, 0x3F, 0x79, 0x25, 0x98, 0x77, 0xB4, 0x9C, 0xD9, 0x06, 0x3A, 0xEA,
        0xD3, 0xB7,
    ];
    let text = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    assert_eq!(encode(&key).unwrap(), text);
    assert_eq!(decode(text).unwrap(), key);
    // The edges of a group: all zeros and all ones.
    assert_eq!(encode(&[0; 4]).unwrap(), "00000");
    assert_eq!(encode(&[0xFF; 4]).unwrap(), "%nSc0");
    assert_eq!(decode("%nSc0").unwrap(), [0xFF; 4]);
    // One above u32::MAX does not fit.
    assert!(decode("%nSc1").is_none());
    assert_eq!(encode(&[]).unwrap(), "");
    assert_eq!(decode("").unwrap(), Vec::<u8>::new());
}

/// The reference decoder of RFC 32, written out: base-85 digits, big-endian groups.
fn reference_encode(data: &[u8]) -> String {
    let mut s = String::new();
    for c in data.chunks(4) {
        let v = u32::from_be_bytes(c.try_into().unwrap()) as u64;
        for div in [85u64.pow(4), 85u64.pow(3), 85 * 85, 85, 1] {
            s.push(ALPHABET[((v / div) % 85) as usize] as char);
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// decode(encode(x)) == x for every input whose length is a multiple of 4, up to 4 KiB.
    #[test]
    fn round_trip(words in prop::collection::vec(any::<[u8; 4]>(), 0..=1024)) {
        let data: Vec<u8> = words.concat();
        let text = encode(&data).expect("multiple of 4");
        prop_assert_eq!(text.len(), data.len() / 4 * 5);
        prop_assert!(text.bytes().all(|c| ALPHABET.contains(&c)));
        prop_assert_eq!(&text, &reference_encode(&data));
        prop_assert_eq!(decode(&text).expect("our own text"), data);
    }

    /// encode(decode(t)) == t for every text of valid groups.
    #[test]
    fn text_round_trip(groups in prop::collection::vec(any::<u32>(), 0..=200)) {
        let data: Vec<u8> = groups.iter().flat_map(|g| g.to_be_bytes()).collect();
        let text = reference_encode(&data);
        prop_assert_eq!(decode(&text).expect("valid text"), data.clone());
        prop_assert_eq!(encode(&data).unwrap(), text);
    }

    /// Lengths that are not a multiple of 4 (5 for text) are refused, never truncated.
    #[test]
    fn bad_lengths_refused(data in prop::collection::vec(any::<u8>(), 0..64)) {
        if data.len() % 4 != 0 {
            prop_assert!(encode(&data).is_none());
        }
        let text: String = data.iter().map(|b| ALPHABET[*b as usize % 85] as char).collect();
        if text.len() % 5 != 0 {
            prop_assert!(decode(&text).is_none());
        }
    }

    /// A character outside the alphabet anywhere makes the whole text invalid.
    #[test]
    fn bad_characters_refused(
        groups in prop::collection::vec(any::<u32>(), 1..20),
        at in any::<prop::sample::Index>(),
        bad in prop::sample::select(&b" \"',;\\_`|~\x00\x7f\xe9"[..]),
    ) {
        let data: Vec<u8> = groups.iter().flat_map(|g| g.to_be_bytes()).collect();
        let mut text = reference_encode(&data).into_bytes();
        let i = at.index(text.len());
        text[i] = bad;
        if let Ok(t) = std::str::from_utf8(&text) {
            prop_assert!(decode(t).is_none());
        }
    }

    /// Any 40-character key parses (when valid) to the same 32 bytes as `decode`, and keys
    /// round trip through libzmq's textual form.
    #[test]
    fn curve_keys(key in any::<[u8; 32]>()) {
        let text = encode(&key).unwrap();
        prop_assert_eq!(text.len(), 40);
        let s = aiozmq::Socket::new(aiozmq::SocketType::Req);
        prop_assert!(s.set_curve_serverkey(&text).is_ok());
        prop_assert!(s.set_curve_serverkey(key).is_ok());
        prop_assert_eq!(decode(&text).unwrap(), key.to_vec());
    }
}
