//! JSON text ↔ RPC [`Value`], by hand (the tool has no JSON dependency).
//!
//! JSON to `Value`: `null` → `None`, `true`/`false`, a number without fraction or exponent
//! → int (any size up to msgpack's range), other numbers → float, strings → `str`, arrays →
//! arrays (Python tuples), objects → maps with `str` keys. One convention for bytes: an
//! object with the single key `"$bytes"` and a hex string value, `{"$bytes": "00ff"}`, is
//! `bytes`.
//!
//! `Value` to JSON: the same in reverse; floats as Python's `repr` (`NaN`, `Infinity` and
//! `-Infinity` as Python's `json.dumps` writes them); map keys that are not `str` become
//! their JSON text (`1` → `"1"`); values JSON cannot carry (dates, times, ext types, user
//! objects) become `{"$repr": "<Python repr>"}`.

use aiozmq::rpc::{repr_float, repr_value, Value};

/// Parses one JSON value (surrounding white space allowed).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

const MAX_DEPTH: usize = 256;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("invalid JSON at byte {}: {what}", self.i)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end")),
            Some(b'n') if self.eat("null") => Ok(Value::Nil),
            Some(b't') if self.eat("true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Value::Bool(false)),
            Some(b'N') if self.eat("NaN") => Ok(Value::Float(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(Value::Float(f64::INFINITY)),
            Some(b'-') if self.eat("-Infinity") => Ok(Value::Float(f64::NEG_INFINITY)),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b'[') | Some(b'{') => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.err("nested too deeply"));
                }
                let v = if self.s[self.i] == b'[' {
                    self.array()
                } else {
                    self.object()
                };
                self.depth -= 1;
                v
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn array(&mut self) -> Result<Value, String> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat("]") {
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("]") {
                return Ok(Value::Array(items));
            }
            return Err(self.err("expected ',' or ']'"));
        }
    }

    fn object(&mut self) -> Result<Value, String> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if !self.eat("}") {
            loop {
                self.ws();
                if self.s.get(self.i) != Some(&b'"') {
                    return Err(self.err("expected a string key"));
                }
                let k = self.string()?;
                self.ws();
                if !self.eat(":") {
                    return Err(self.err("expected ':'"));
                }
                self.ws();
                let v = self.value()?;
                items.push((k, v));
                self.ws();
                if self.eat(",") {
                    continue;
                }
                if self.eat("}") {
                    break;
                }
                return Err(self.err("expected ',' or '}'"));
            }
        }
        if let [(k, Value::Str(hex))] = &items[..] {
            if k == "$bytes" {
                return from_hex(hex)
                    .map(|b| Value::Bin(b.into()))
                    .ok_or_else(|| format!("\"$bytes\" takes hex digits, not {hex:?}"));
            }
        }
        Ok(Value::Map(
            items.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
        ))
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        let mut float = false;
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => float = true,
                _ => break,
            }
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII");
        let bad = || format!("invalid JSON number '{text}'");
        if float {
            text.parse::<f64>().map(Value::Float).map_err(|_| bad())
        } else {
            text.parse::<i128>().map(Value::Int).map_err(|_| bad())
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&c) = self.s.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("not UTF-8"))?,
            );
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self
                        .s
                        .get(self.i)
                        .ok_or_else(|| self.err("unexpected end"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.eat("\\u") {
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                }
                            }
                            out.push(char::from_u32(cp).ok_or_else(|| self.err("lone surrogate"))?);
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in a string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `v` as one line of JSON.
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v);
    out
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => {
            out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(f) => out.push_str(&repr_float(*f)),
        Value::Str(s) => write_str(out, s),
        Value::Bin(b) => {
            out.push_str("{\"$bytes\": \"");
            for x in b.iter() {
                out.push_str(&format!("{x:02x}"));
            }
            out.push_str("\"}");
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                write(out, item);
            }
            out.push(']');
        }
        Value::Map(items) => {
            out.push('{');
            for (n, (k, item)) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                match k {
                    Value::Str(s) => write_str(out, s),
                    other => write_str(out, &to_json(other)),
                }
                out.push_str(": ");
                write(out, item);
            }
            out.push('}');
        }
        other => {
            out.push_str("{\"$repr\": ");
            write_str(out, &repr_value(other));
            out.push('}');
        }
    }
}

/// Fuzz entry point (the `cli_json` fuzz target and the corpus replay include this file by
/// path): parsing never panics, and what parses prints to JSON that parses and prints the
/// same.
#[allow(dead_code)]
pub fn fuzz_round_trip(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = parse(text) {
        let printed = to_json(&v);
        let again = parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(to_json(&again), printed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in [
            "null",
            "true",
            "[1, -2, 3.5, \"a\\\"b\\n\", []]",
            "{\"a\": {\"b\": [null, false]}}",
            "{\"$bytes\": \"00ff10\"}",
            "18446744073709551615",
            "1e+100",
            "NaN",
            "\"\\u00e9\\ud83d\\ude00\"",
        ] {
            let v = parse(text).unwrap();
            if text != "NaN" {
                assert_eq!(parse(&to_json(&v)).unwrap(), v, "{text}");
            }
        }
        assert_eq!(
            parse(" [1,2.0] ").unwrap(),
            Value::Array(vec![Value::Int(1), Value::Float(2.0)])
        );
        assert_eq!(to_json(&parse("[1,2.0,\"x\"]").unwrap()), "[1, 2.0, \"x\"]");
        assert_eq!(
            parse("{\"$bytes\": \"6869\"}").unwrap(),
            Value::Bin("hi".into())
        );
        assert_eq!(
            parse("\"\\u00e9\\ud83d\\ude00\"").unwrap(),
            Value::Str("é😀".into())
        );
        assert_eq!(
            to_json(&Value::Map(vec![(Value::Int(1), Value::Bin("a".into()))])),
            "{\"1\": {\"$bytes\": \"61\"}}"
        );
        for bad in [
            "",
            "[1,",
            "{1: 2}",
            "tru",
            "[1] x",
            "{\"$bytes\": \"zz\"}",
            "\"a",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
