//! Z85 (RFC 32): printable encoding of binary keys, 4 bytes to 5 characters.

const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

fn decode_char(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Encodes `data` (length a multiple of 4) as Z85; `None` for other lengths.
///
/// ```
/// let key = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
/// assert_eq!(aiozmq::zmtp::z85::encode(&key).unwrap(), "HelloWorld");
/// ```
pub fn encode(data: &[u8]) -> Option<String> {
    if data.len() % 4 != 0 {
        return None;
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks(4) {
        let mut v = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut buf = [0u8; 5];
        for b in buf.iter_mut().rev() {
            *b = ALPHABET[(v % 85) as usize];
            v /= 85;
        }
        out.extend(buf.iter().map(|&b| b as char));
    }
    Some(out)
}

/// Decodes Z85 text (length a multiple of 5); `None` for a bad length, a character
/// outside the alphabet, or a group that overflows 32 bits.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if t.len() % 5 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(t.len() / 5 * 4);
    for chunk in t.chunks(5) {
        let mut v: u64 = 0;
        for &c in chunk {
            v = v * 85 + decode_char(c)? as u64;
        }
        if v > u32::MAX as u64 {
            return None;
        }
        out.extend_from_slice(&(v as u32).to_be_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc32_vectors() {
        let hello = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&hello).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), hello);
        // RFC 32's 32-byte key test vector.
        let key = [
            0x8E, 0x0B, 0xDD, 0x69, 0x76, 0x28, 0xB9, 0x1D, 0x8F, 0x24, 0x55, 0x87, 0xEE, 0x95,
            0xC5, 0xB0, 0x4D, 0x48, 0x96, 0x3F, 0x79, 0x25, 0x98, 0x77, 0xB4, 0x9C, 0xD9, 0x06,
            0x3A, 0xEA, 0xD3, 0xB7,
        ];
        let text = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
        assert_eq!(encode(&key).unwrap(), text);
        assert_eq!(decode(text).unwrap(), key);
        assert!(decode("Hell").is_none());
        assert!(decode("Hello Worl").is_none());
        assert!(decode("#####").is_none(), "overflow");
        assert!(encode(&[1, 2, 3]).is_none());
    }
}
