//! JSON text ↔ RPC [`Value`], by hand (the tool has no JSON dependency).
//!
//! JSON to `Value`: `null` → `None`, `true`/`false`, a number without fraction or exponent
//! → int (any size up to msgpack's range), other numbers → float, strings → `str`, arrays →
//! arrays (Python tuples), objects → maps with `str` keys. One convention for bytes: an
//! object with the single key `"$bytes"` and a hex string value, `{"$bytes": "00ff"}`, is
//! `bytes`.
//!
//! Dates and times as ISO 8601 text under a type tag, both ways (Python's `isoformat()`
//! forms, so `jq` and `date -d` can read them):
//! - `{"$date": "2026-11-25"}`;
//! - `{"$datetime": "2026-11-25T19:34:29.500000+00:00"}` (no offset: naive; the fraction
//!   only when not zero), with `"fold": 1` for PEP 495's fold and `"tzname": "MSK"` for a
//!   named timezone;
//! - `{"$time": "19:34:29+03:00"}`, with the same two extras;
//! - `{"$timedelta": "-P1DT2H3M4.5S"}`, an ISO 8601 duration of days, hours, minutes and
//!   seconds (with up to six decimals), signed as a whole;
//! - `{"$timezone": "+03:00"}`, with `"name": "MSK"` for a named one.
//!
//! `Value` to JSON: the same in reverse; floats as Python's `repr` (`NaN`, `Infinity` and
//! `-Infinity` as Python's `json.dumps` writes them); map keys that are not `str` become
//! their JSON text (`1` → `"1"`); values JSON cannot carry otherwise (ext types, user
//! objects) become `{"$repr": "<Python repr>"}`.

use aiozmq::rpc::chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use aiozmq::rpc::datetime::{delta_from_parts, delta_parts};
use aiozmq::rpc::{repr_float, repr_value, PyDateTime, PyTime, PyTimezone, Value};

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
        if let Some(v) = tagged_time(&items)? {
            return Ok(v);
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
        Value::Date(d) => {
            out.push_str("{\"$date\": ");
            write_str(out, &iso_date(d));
            out.push('}');
        }
        Value::DateTime(dt) => {
            out.push_str("{\"$datetime\": ");
            let mut text = format!(
                "{}T{}",
                iso_date(&dt.naive.date()),
                iso_time(&dt.naive.time())
            );
            if let Some(tz) = &dt.tz {
                text.push_str(&iso_offset(tz));
            }
            write_str(out, &text);
            write_extras(out, dt.fold, dt.tz.as_ref());
        }
        Value::Time(t) => {
            out.push_str("{\"$time\": ");
            let mut text = iso_time(&t.naive);
            if let Some(tz) = &t.tz {
                text.push_str(&iso_offset(tz));
            }
            write_str(out, &text);
            write_extras(out, t.fold, t.tz.as_ref());
        }
        Value::TimeDelta(d) if delta_parts(d).is_some() => {
            out.push_str("{\"$timedelta\": ");
            write_str(out, &iso_duration(d));
            out.push('}');
        }
        Value::Timezone(tz) => {
            out.push_str("{\"$timezone\": ");
            write_str(out, &iso_offset(tz));
            if let Some(name) = tz.name() {
                out.push_str(", \"name\": ");
                write_str(out, name);
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

/// The rest of a `$datetime` or `$time` object: `fold` and the timezone's name, when set.
fn write_extras(out: &mut String, fold: bool, tz: Option<&PyTimezone>) {
    if fold {
        out.push_str(", \"fold\": 1");
    }
    if let Some(name) = tz.and_then(PyTimezone::name) {
        out.push_str(", \"tzname\": ");
        write_str(out, name);
    }
    out.push('}');
}

fn iso_date(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `HH:MM:SS`, then `.ffffff` when the microseconds are not zero (Python's `isoformat`).
fn iso_time(t: &NaiveTime) -> String {
    let us = (t.nanosecond() / 1000) % 1_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    if us != 0 {
        s.push_str(&format!(".{us:06}"));
    }
    s
}

/// `+HH:MM`, then `:SS` and `.ffffff` when needed (Python's `isoformat` of an offset).
fn iso_offset(tz: &PyTimezone) -> String {
    let us = tz.offset().num_microseconds().unwrap_or(0);
    let sign = if us < 0 { '-' } else { '+' };
    let a = us.unsigned_abs();
    let (h, m, sec, frac) = (
        a / 3_600_000_000,
        a / 60_000_000 % 60,
        a / 1_000_000 % 60,
        a % 1_000_000,
    );
    let mut s = format!("{sign}{h:02}:{m:02}");
    if sec != 0 || frac != 0 {
        s.push_str(&format!(":{sec:02}"));
    }
    if frac != 0 {
        s.push_str(&format!(".{frac:06}"));
    }
    s
}

/// An ISO 8601 duration, signed as a whole: `P1DT2H3M4.5S`, `-PT0.000001S`, `PT0S`.
fn iso_duration(d: &TimeDelta) -> String {
    let (days, secs, us) = delta_parts(d).expect("checked by the caller");
    let total = (days as i128 * 86_400 + secs as i128) * 1_000_000 + us as i128;
    let a = total.unsigned_abs();
    let (days, rest) = (a / 86_400_000_000, a % 86_400_000_000);
    let (h, m, sec, frac) = (
        rest / 3_600_000_000,
        rest / 60_000_000 % 60,
        rest / 1_000_000 % 60,
        rest % 1_000_000,
    );
    let mut s = String::from(if total < 0 { "-P" } else { "P" });
    if days != 0 {
        s.push_str(&format!("{days}D"));
    }
    if h != 0 || m != 0 || sec != 0 || frac != 0 || days == 0 {
        s.push('T');
        if h != 0 {
            s.push_str(&format!("{h}H"));
        }
        if m != 0 {
            s.push_str(&format!("{m}M"));
        }
        if sec != 0 || frac != 0 || (h == 0 && m == 0) {
            s.push_str(&sec.to_string());
            if frac != 0 {
                let f = format!("{frac:06}");
                s.push('.');
                s.push_str(f.trim_end_matches('0'));
            }
            s.push('S');
        }
    }
    s
}

/// The value of a `$date`, `$datetime`, `$time`, `$timedelta` or `$timezone` object (see
/// the module doc); `None` for any other object.
fn tagged_time(items: &[(String, Value)]) -> Result<Option<Value>, String> {
    let Some((tag, _)) = items.first() else {
        return Ok(None);
    };
    let extras: &[&str] = match tag.as_str() {
        "$date" => &[],
        "$datetime" | "$time" => &["fold", "tzname"],
        "$timedelta" => &[],
        "$timezone" => &["name"],
        _ => return Ok(None),
    };
    let text = match &items[0].1 {
        Value::Str(t) => t.as_str(),
        _ => return Err(format!("\"{tag}\" takes an ISO 8601 string")),
    };
    let mut fold = false;
    let mut name = None;
    for (k, v) in &items[1..] {
        match (k.as_str(), v) {
            ("fold", Value::Int(0)) if extras.contains(&"fold") => {}
            ("fold", Value::Int(1)) if extras.contains(&"fold") => fold = true,
            ("tzname" | "name", Value::Str(n)) if extras.contains(&k.as_str()) => {
                name = Some(n.clone())
            }
            _ => return Err(format!("\"{tag}\" does not take \"{k}\" as given")),
        }
    }
    let bad = |what: &str| format!("\"{tag}\": {text:?} is not {what}");
    Ok(Some(match tag.as_str() {
        "$date" => Value::Date(parse_date(text).ok_or_else(|| bad("a date YYYY-MM-DD"))?),
        "$datetime" => {
            let (date, rest) = text
                .split_once(['T', ' '])
                .ok_or_else(|| bad("a date and time YYYY-MM-DDTHH:MM:SS"))?;
            let date = parse_date(date).ok_or_else(|| bad("a date and time"))?;
            let (time, tz) = parse_time_tz(rest, name).ok_or_else(|| bad("a date and time"))?;
            Value::DateTime(PyDateTime {
                naive: NaiveDateTime::new(date, time),
                tz,
                fold,
            })
        }
        "$time" => {
            let (naive, tz) = parse_time_tz(text, name).ok_or_else(|| bad("a time HH:MM:SS"))?;
            Value::Time(PyTime { naive, tz, fold })
        }
        "$timedelta" => Value::TimeDelta(
            parse_duration(text).ok_or_else(|| bad("a duration such as P1DT2H3M4.5S"))?,
        ),
        _ => {
            let us = parse_offset(text).ok_or_else(|| bad("an offset such as +03:00"))?;
            Value::Timezone(
                PyTimezone::new(TimeDelta::microseconds(us), name)
                    .ok_or_else(|| bad("an offset within a day"))?,
            )
        }
    }))
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(y, 4)? as i32, digits(m, 2)?, digits(d, 2)?)
}

/// `HH:MM[:SS[.f{1,6}]]`, then an optional offset (`Z`, `+HH:MM[:SS[.ffffff]]`).
fn parse_time_tz(s: &str, name: Option<String>) -> Option<(NaiveTime, Option<PyTimezone>)> {
    let (time, tz) = match s.find(['+', '-', 'Z']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let tz = match tz {
        None if name.is_some() => return None,
        None => None,
        Some(off) => Some(PyTimezone::new(
            TimeDelta::microseconds(parse_offset(off)?),
            name,
        )?),
    };
    let (hms, frac) = match time.split_once('.') {
        Some((hms, f))
            if !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (hms, format!("{f:0<6}").parse::<u32>().ok()?)
        }
        Some(_) => return None,
        None => (time, 0),
    };
    let mut parts = hms.split(':');
    let h = digits(parts.next()?, 2)?;
    let m = digits(parts.next()?, 2)?;
    let sec = match parts.next() {
        Some(x) => digits(x, 2)?,
        None if frac == 0 => 0,
        None => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((NaiveTime::from_hms_micro_opt(h, m, sec, frac)?, tz))
}

/// `Z`, or `±HH:MM[:SS[.ffffff]]`: microseconds east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    if s == "Z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (hms, frac) = match rest.split_once('.') {
        Some((hms, f)) if f.len() == 6 => (hms, digits(f, 6)? as i64),
        Some(_) => return None,
        None => (rest, 0),
    };
    let mut parts = hms.split(':');
    let h = digits(parts.next()?, 2)? as i64;
    let m = digits(parts.next()?, 2)? as i64;
    let sec = match parts.next() {
        Some(x) => digits(x, 2)? as i64,
        None if frac == 0 => 0,
        None => return None,
    };
    if parts.next().is_some() || m > 59 || sec > 59 {
        return None;
    }
    Some(sign * (((h * 60 + m) * 60 + sec) * 1_000_000 + frac))
}

/// `[-]P[nD][T[nH][nM][n[.f{1,6}]S]]`, at least one part.
fn parse_duration(s: &str) -> Option<TimeDelta> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let rest = rest.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut us: i128 = 0;
    let mut any = false;
    if !date.is_empty() {
        let days = date.strip_suffix('D')?;
        us += number(days)? * 86_400_000_000;
        any = true;
    }
    if let Some(mut t) = time {
        for (unit, scale) in [('H', 3_600_000_000i128), ('M', 60_000_000)] {
            if let Some(i) = t.find(unit) {
                us += number(&t[..i])?.checked_mul(scale)?;
                t = &t[i + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            let secs = t.strip_suffix('S')?;
            let (whole, frac) = match secs.split_once('.') {
                Some((w, f))
                    if !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    (w, format!("{f:0<6}").parse::<i128>().ok()?)
                }
                Some(_) => return None,
                None => (secs, 0),
            };
            us += number(whole)?.checked_mul(1_000_000)? + frac;
            any = true;
        }
    }
    if !any {
        return None;
    }
    delta_from_parts(0, 0, if neg { -us } else { us })
}

/// A non-negative decimal number of at most 18 digits.
fn number(s: &str) -> Option<i128> {
    (!s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())?
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

    /// Dates and times print as Python's `isoformat()` under a tag and read back exactly.
    #[test]
    fn dates_and_times_as_iso_8601() {
        for text in [
            "{\"$date\": \"2026-11-25\"}",
            "{\"$datetime\": \"2026-11-25T19:34:29\"}",
            "{\"$datetime\": \"2026-11-25T19:34:29.500000+00:00\"}",
            "{\"$datetime\": \"0001-01-01T00:00:00.000001-23:59:59.999999\", \"fold\": 1}",
            "{\"$datetime\": \"2026-11-25T19:34:29+03:00\", \"tzname\": \"MSK\"}",
            "{\"$time\": \"19:34:29.000123\"}",
            "{\"$time\": \"07:00:00-05:30\", \"fold\": 1}",
            "{\"$timedelta\": \"P1DT2H3M4.5S\"}",
            "{\"$timedelta\": \"-PT0.000001S\"}",
            "{\"$timedelta\": \"PT0S\"}",
            "{\"$timedelta\": \"P999999999DT23H59M59.999999S\"}",
            "{\"$timezone\": \"+03:00\", \"name\": \"MSK\"}",
            "{\"$timezone\": \"-00:00:01\"}",
        ] {
            let v = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(to_json(&v), text, "prints as it was written");
        }
        // Python's value behind each form.
        let v = parse("{\"$datetime\": \"2026-11-25T19:34:29.5+00:00\"}").unwrap();
        assert_eq!(
            repr_value(&v),
            "datetime.datetime(2026, 11, 25, 19, 34, 29, 500000, tzinfo=datetime.timezone.utc)"
        );
        let v = parse("{\"$timedelta\": \"-P1DT1S\"}").unwrap();
        assert_eq!(repr_value(&v), "datetime.timedelta(days=-2, seconds=86399)");
        // Accepted on input beyond what is printed: `Z`, a space, a short fraction.
        assert_eq!(
            to_json(&parse("{\"$datetime\": \"2026-01-02 03:04:05.25Z\"}").unwrap()),
            "{\"$datetime\": \"2026-01-02T03:04:05.250000+00:00\"}"
        );
        for bad in [
            "{\"$date\": \"2026-13-01\"}",
            "{\"$date\": 20261101}",
            "{\"$date\": \"2026-11-25\", \"fold\": 1}",
            "{\"$datetime\": \"2026-11-25\"}",
            "{\"$datetime\": \"2026-11-25T25:00:00\"}",
            "{\"$datetime\": \"2026-11-25T10:00:00\", \"tzname\": \"X\"}",
            "{\"$time\": \"10:00:00.1234567\"}",
            "{\"$timedelta\": \"P\"}",
            "{\"$timedelta\": \"PT5M3H\"}",
            "{\"$timedelta\": \"P1000000000D\"}",
            "{\"$timezone\": \"+24:00\"}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
