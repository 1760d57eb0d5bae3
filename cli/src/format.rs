//! `cat`'s line format: one message per line, frames separated by a separator, each frame
//! as raw text or as hex.

use aiozmq::Message;
use bytes::Bytes;

/// How messages are written as lines and read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Frames are hex (lower case out, either case in).
    pub hex: bool,
    /// Between two frames (default a TAB).
    pub separator: Vec<u8>,
}

impl Default for Format {
    fn default() -> Self {
        Format {
            hex: false,
            separator: b"\t".to_vec(),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits `line` at every occurrence of `sep` (non-empty).
fn split<'a>(line: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= line.len() {
        if &line[i..i + sep.len()] == sep {
            parts.push(&line[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(&line[start..]);
    parts
}

/// A separator as written on the command line: `\t` is a TAB, `\\` a backslash and
/// `\xHH` the byte HH; anything else stands for itself.
pub fn unescape(sep: &str) -> Result<Vec<u8>, String> {
    let b = sep.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b't') => {
                out.push(b'\t');
                i += 2;
            }
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let byte = b
                    .get(i + 2..i + 4)
                    .and_then(|h| Some(nibble(h[0])? << 4 | nibble(h[1])?))
                    .ok_or_else(|| format!("'{sep}': \\x needs two hex digits"))?;
                out.push(byte);
                i += 4;
            }
            _ => {
                out.push(b'\\');
                i += 1;
            }
        }
    }
    Ok(out)
}

impl Format {
    /// Checks the separator: not empty, no newline, and (with hex) no hex digit.
    pub fn check(&self) -> Result<(), String> {
        if self.separator.is_empty() {
            return Err("the separator cannot be empty".into());
        }
        if self.separator.contains(&b'\n') {
            return Err("the separator cannot contain a newline".into());
        }
        if self.hex && self.separator.iter().any(|&c| nibble(c).is_some()) {
            return Err("with --hex, the separator cannot contain hex digits".into());
        }
        Ok(())
    }

    /// One frame's bytes from its written form (text as is, or hex).
    pub fn frame(&self, text: &[u8]) -> Result<Bytes, String> {
        if !self.hex {
            return Ok(Bytes::copy_from_slice(text));
        }
        if text.len() % 2 != 0 {
            return Err(format!(
                "'{}' is not hex (odd number of digits)",
                String::from_utf8_lossy(text)
            ));
        }
        text.chunks_exact(2)
            .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
            .collect::<Option<Vec<u8>>>()
            .map(Bytes::from)
            .ok_or_else(|| format!("'{}' is not hex", String::from_utf8_lossy(text)))
    }

    /// A message from one input line (without its newline).
    pub fn decode(&self, line: &[u8]) -> Result<Message, String> {
        split(line, &self.separator)
            .into_iter()
            .enumerate()
            .map(|(i, f)| self.frame(f).map_err(|e| format!("frame {}: {e}", i + 1)))
            .collect()
    }

    /// One output line (without the newline) for a message.
    pub fn encode(&self, msg: &Message) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.byte_len() * if self.hex { 2 } else { 1 } + 16);
        for (i, f) in msg.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.separator);
            }
            if self.hex {
                for &b in f.iter() {
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 15) as usize]);
                }
            } else {
                out.extend_from_slice(f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(m: &Message) -> Vec<Vec<u8>> {
        m.iter().map(|f| f.to_vec()).collect()
    }

    #[test]
    fn text() {
        let f = Format::default();
        let m = f.decode(b"a\tbc\t\td").unwrap();
        assert_eq!(
            frames(&m),
            vec![b"a".to_vec(), b"bc".to_vec(), vec![], b"d".to_vec()]
        );
        assert_eq!(f.encode(&m), b"a\tbc\t\td");
        assert_eq!(frames(&f.decode(b"").unwrap()), vec![Vec::<u8>::new()]);
        let f = Format {
            hex: false,
            separator: b"||".to_vec(),
        };
        let m = f.decode(b"x|||y||").unwrap();
        assert_eq!(frames(&m), vec![b"x".to_vec(), b"|y".to_vec(), vec![]]);
        assert_eq!(f.encode(&m), b"x|||y||");
    }

    #[test]
    fn separators() {
        assert_eq!(unescape("\\t").unwrap(), b"\t");
        assert_eq!(unescape("|").unwrap(), b"|");
        assert_eq!(unescape("a\\\\b\\x00\\q").unwrap(), b"a\\b\0\\q");
        assert!(unescape("\\x4").is_err());
        assert!(unescape("\\xzz").is_err());
    }

    #[test]
    fn hex() {
        let f = Format {
            hex: true,
            ..Format::default()
        };
        let m = f.decode(b"00FF\t\t41").unwrap();
        assert_eq!(frames(&m), vec![vec![0, 255], vec![], vec![0x41]]);
        assert_eq!(f.encode(&m), b"00ff\t\t41");
        assert!(f.decode(b"0").is_err());
        assert!(f.decode(b"zz").is_err());
        assert!(f.decode(b"00 11").is_err());
        assert!(Format {
            hex: true,
            separator: b"a".to_vec()
        }
        .check()
        .is_err());
        assert!(Format {
            hex: true,
            separator: b" ".to_vec()
        }
        .check()
        .is_ok());
        assert!(Format {
            hex: false,
            separator: vec![]
        }
        .check()
        .is_err());
    }
}
