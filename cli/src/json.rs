//! JSON text ↔ RPC [`Value`], through serde_json.
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
//! objects) become `{"$repr": "<Python repr>"}`. Separators are `", "` and `": "`, as
//! Python's `json.dumps` writes them.
//!
//! Two things are read beyond what serde_json's own model holds, as Python's `json` module
//! reads them: `NaN`, `Infinity` and `-Infinity` (not JSON, but what `json.dumps` writes for
//! those floats), and integers outside i64 and u64 (kept exact, where serde_json would
//! round them to a float; msgpack then refuses those beyond u64 by name). A first pass
//! over the text finds those tokens outside strings and writes `null` in their place (same
//! length but for `NaN`), noting every `null` token in order; serde_json visits the
//! values in document order, so its n-th `null` takes the n-th note back.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;

use aiozmq::rpc::chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use aiozmq::rpc::datetime::{delta_from_parts, delta_parts};
use aiozmq::rpc::{repr_float, repr_value, PyDateTime, PyTime, PyTimezone, Value};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserializer, Serialize, Serializer};

/// Parses one JSON value (surrounding white space allowed).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut pre = prepass(text)?;
    let nulls = RefCell::new(std::mem::take(&mut pre.nulls));
    let mut de = serde_json::Deserializer::from_str(&pre.text);
    let v = Seed(&nulls)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| describe(&e, text, &pre))?;
    Ok(v)
}

/// What a `null` written by the first pass stands for.
#[derive(Debug, Clone, Copy)]
enum Null {
    /// A `null` of the text itself.
    Literal,
    /// `NaN`, `Infinity` or `-Infinity`.
    Float(f64),
    /// An integer outside i64 and u64.
    Int(i128),
}

/// The text serde_json reads, and what its `null`s stand for.
struct Prepass {
    text: String,
    /// One entry per `null` token of `text`, in order.
    nulls: VecDeque<Null>,
    /// Where (in `text`) a token shorter than `null` (`NaN`, `-0`) became `null`, and how
    /// many bytes longer: to report error positions in the caller's text.
    shifts: Vec<(usize, usize)>,
}

/// The first pass (see the module doc): tokens outside strings that serde_json's model
/// does not hold become `null`.
fn prepass(src: &str) -> Result<Prepass, String> {
    let b = src.as_bytes();
    let mut out = Prepass {
        text: String::with_capacity(src.len()),
        nulls: VecDeque::new(),
        shifts: Vec::new(),
    };
    let mut copied = 0; // src[..copied] is in out.text
    let mut i = 0;
    while i < b.len() {
        // Bytes, not str: `i` may be inside a character of malformed input; the tokens
        // looked for are ASCII, so where one starts is a character boundary.
        let rest = &b[i..];
        let (len, null) = match b[i] {
            b'"' => {
                // Skip the string (escapes included); serde_json checks it.
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            b'n' if rest.starts_with(b"null") => {
                out.nulls.push_back(Null::Literal);
                i += 4;
                continue;
            }
            b'N' if rest.starts_with(b"NaN") => (3, Null::Float(f64::NAN)),
            b'I' if rest.starts_with(b"Infinity") => (8, Null::Float(f64::INFINITY)),
            b'-' if rest.starts_with(b"-Infinity") => (9, Null::Float(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => {
                let len = rest
                    .iter()
                    .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .unwrap_or(rest.len());
                let token = &src[i..i + len];
                match big_integer(token) {
                    Some(Ok(n)) => (len, Null::Int(n)),
                    Some(Err(())) => return Err(format!("invalid JSON number '{token}'")),
                    None => match huge_float(token) {
                        Some(f) => (len, Null::Float(f)),
                        None => {
                            i += len;
                            continue;
                        }
                    },
                }
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.text.push_str(&src[copied..i]);
        if len < 4 {
            out.shifts.push((out.text.len(), 4 - len));
        }
        out.text.push_str("null");
        out.text
            .extend(std::iter::repeat_n(' ', len.saturating_sub(4)));
        out.nulls.push_back(null);
        i += len;
        copied = i;
    }
    out.text.push_str(&src[copied.min(src.len())..]);
    Ok(out)
}

/// An integer token (JSON's syntax) outside i64 and u64: `Some(Ok)` within i128,
/// `Some(Err)` beyond it; `None` for any other token (left to serde_json). `-0` too:
/// serde_json reads it as the float -0.0, Python as the integer 0.
fn big_integer(token: &str) -> Option<Result<i128, ()>> {
    if token == "-0" {
        return Some(Ok(0));
    }
    let digits = token.strip_prefix('-').unwrap_or(token);
    let syntax = !digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !syntax || token.parse::<i64>().is_ok() || token.parse::<u64>().is_ok() {
        return None;
    }
    Some(token.parse::<i128>().map_err(|_| ()))
}

/// A number token (JSON's syntax) beyond f64's range, which serde_json refuses and Python
/// reads as an infinity: that infinity; `None` for any other token.
fn huge_float(token: &str) -> Option<f64> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (digits, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let syntax = all_digits(int)
        && (int == "0" || !int.starts_with('0'))
        && frac.is_none_or(all_digits)
        && exponent.is_none_or(|e| all_digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    let f = token.parse::<f64>().ok()?;
    (syntax && f.is_infinite()).then_some(f)
}

/// serde_json's error, with its position in the caller's text.
fn describe(e: &serde_json::Error, src: &str, read: &Prepass) -> String {
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let what = message.strip_suffix(&suffix).unwrap_or(&message);
    if e.line() == 0 {
        return format!("invalid JSON: {what}");
    }
    // The byte offset in the text serde_json read (its column counts bytes from 1), then
    // in the caller's text.
    let line_start: usize = read
        .text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let read_at = line_start + e.column().saturating_sub(1);
    let shift: usize = read
        .shifts
        .iter()
        .filter(|(s, _)| *s < read_at)
        .map(|(_, d)| d)
        .sum();
    let mut at = read_at.saturating_sub(shift).min(src.len());
    // serde_json counts bytes: back to the start of the character the error is in.
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let line = src[..at].matches('\n').count() + 1;
    let column = at - src[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    format!("invalid JSON at line {line} column {column}: {what}")
}

/// Builds a [`Value`] from serde_json's events, taking the first pass's notes back.
#[derive(Clone, Copy)]
struct Seed<'a>(&'a RefCell<VecDeque<Null>>);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(match self.0.borrow_mut().pop_front() {
            Some(Null::Float(f)) => Value::Float(f),
            Some(Null::Int(i)) => Value::Int(i),
            Some(Null::Literal) | None => Value::Nil,
        })
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.into()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    /// Objects keep their keys in order, duplicates included (as msgpack maps may); the
    /// tagged forms are recognised here.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut items: Vec<(String, Value)> = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            items.push((k, v));
        }
        tagged(items).map_err(serde::de::Error::custom)
    }
}

/// An object's value: `$bytes`, a date or time form, or a map with `str` keys.
fn tagged(items: Vec<(String, Value)>) -> Result<Value, String> {
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
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    // Writing to a Vec does not fail, and every Value serializes (non-str keys as text).
    Json(v)
        .serialize(&mut ser)
        .expect("a Value always serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// serde_json's output in Python's `json.dumps` style: `", "` and `": "` separators,
/// floats as Python's `repr`. Non-finite floats, which JSON has no token for, reach it as
/// a byte array (the one use of `serialize_bytes` here; `bytes` values are `$bytes`
/// objects) and are written as their bare name.
struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(repr_float(value).as_bytes())
    }

    fn write_byte_array<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        value: &[u8],
    ) -> io::Result<()> {
        w.write_all(value)
    }
}

/// A [`Value`] as JSON (see the module doc).
struct Json<'a>(&'a Value);

/// An extra entry of a tagged object: `fold` is a number, names are text.
#[derive(Clone, Copy)]
enum Extra<'a> {
    Int(u8),
    Str(&'a str),
}

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Extra::Int(i) => s.serialize_u8(i),
            Extra::Str(t) => s.serialize_str(t),
        }
    }
}

/// A tagged object `{tag: text}`, then the extras given.
fn tagged_object<S: Serializer>(
    s: S,
    tag: &str,
    text: &str,
    extras: &[(&str, Extra)],
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(1 + extras.len()))?;
    m.serialize_entry(tag, text)?;
    for (k, v) in extras {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i128(*i),
            Value::Float(f) if f.is_nan() => s.serialize_bytes(b"NaN"),
            Value::Float(f) if f.is_infinite() => {
                s.serialize_bytes(if *f > 0.0 { b"Infinity" } else { b"-Infinity" })
            }
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(t) => s.serialize_str(t),
            Value::Bin(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                tagged_object(s, "$bytes", &hex, &[])
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Json(item))?;
                }
                seq.end()
            }
            Value::Map(items) => {
                let mut m = s.serialize_map(Some(items.len()))?;
                for (k, item) in items {
                    match k {
                        Value::Str(k) => m.serialize_entry(k, &Json(item))?,
                        other => m.serialize_entry(&to_json(other), &Json(item))?,
                    }
                }
                m.end()
            }
            Value::Date(d) => tagged_object(s, "$date", &iso_date(d), &[]),
            Value::DateTime(dt) => {
                let mut text = format!(
                    "{}T{}",
                    iso_date(&dt.naive.date()),
                    iso_time(&dt.naive.time())
                );
                if let Some(tz) = &dt.tz {
                    text.push_str(&iso_offset(tz));
                }
                time_object(s, "$datetime", &text, dt.fold, dt.tz.as_ref())
            }
            Value::Time(t) => {
                let mut text = iso_time(&t.naive);
                if let Some(tz) = &t.tz {
                    text.push_str(&iso_offset(tz));
                }
                time_object(s, "$time", &text, t.fold, t.tz.as_ref())
            }
            Value::TimeDelta(d) if delta_parts(d).is_some() => {
                tagged_object(s, "$timedelta", &iso_duration(d), &[])
            }
            Value::Timezone(tz) => match tz.name() {
                Some(name) => tagged_object(
                    s,
                    "$timezone",
                    &iso_offset(tz),
                    &[("name", Extra::Str(name))],
                ),
                None => tagged_object(s, "$timezone", &iso_offset(tz), &[]),
            },
            other => tagged_object(s, "$repr", &repr_value(other), &[]),
        }
    }
}

/// A `$datetime` or `$time` object: `fold` and the timezone's name follow when set.
fn time_object<S: Serializer>(
    s: S,
    tag: &str,
    text: &str,
    fold: bool,
    tz: Option<&PyTimezone>,
) -> Result<S::Ok, S::Error> {
    let mut extras = Vec::new();
    if fold {
        extras.push(("fold", Extra::Int(1)));
    }
    if let Some(name) = tz.and_then(PyTimezone::name) {
        extras.push(("tzname", Extra::Str(name)));
    }
    tagged_object(s, tag, text, &extras)
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

    /// What serde_json's model does not hold is read as Python's `json` reads it, and prints
    /// back as it was written: non-finite floats, integers beyond i64/u64 (and `-0`), floats
    /// beyond f64's range; `null` and those names inside strings are text.
    #[test]
    fn beyond_serde_json_model() {
        let v = parse("[NaN, Infinity, -Infinity, 18446744073709551616, -9223372036854775809]")
            .unwrap();
        let Value::Array(items) = &v else {
            panic!("{v:?}")
        };
        assert!(matches!(items[0], Value::Float(f) if f.is_nan()));
        assert_eq!(items[1], Value::Float(f64::INFINITY));
        assert_eq!(items[2], Value::Float(f64::NEG_INFINITY));
        assert_eq!(items[3], Value::Int(1 << 64));
        assert_eq!(items[4], Value::Int(i128::from(i64::MIN) - 1));
        assert_eq!(
            to_json(&v),
            "[NaN, Infinity, -Infinity, 18446744073709551616, -9223372036854775809]"
        );
        assert_eq!(
            parse("[18446744073709551615, -9223372036854775808]").unwrap(),
            Value::Array(vec![
                Value::Int(u64::MAX.into()),
                Value::Int(i64::MIN.into())
            ])
        );
        assert_eq!(
            to_json(&parse("[1e400, -1E+999, 5e-324, 1E+2, 0.1, -0.0, -0]").unwrap()),
            "[Infinity, -Infinity, 5e-324, 100.0, 0.1, -0.0, 0]"
        );
        assert_eq!(
            parse("[\"null\", null, \"a\\\"NaN\", NaN, {\"Infinity\": null}]")
                .map(|v| to_json(&v))
                .unwrap(),
            "[\"null\", null, \"a\\\"NaN\", NaN, {\"Infinity\": null}]"
        );
        assert!(parse("1234567890123456789012345678901234567890").is_err());
        // Keys keep their order and duplicates, as msgpack maps may hold them.
        assert_eq!(
            parse("{\"b\": 1, \"a\": 2, \"b\": 3}").unwrap(),
            Value::Map(vec![
                (Value::Str("b".into()), Value::Int(1)),
                (Value::Str("a".into()), Value::Int(2)),
                (Value::Str("b".into()), Value::Int(3)),
            ])
        );
    }

    /// Errors say where, in the caller's text (a `NaN` before the error shifts nothing).
    #[test]
    fn error_positions() {
        for malformed in ["[é]", "\"\\é", "[1, \"\\", "\u{0}NaN"] {
            assert!(parse(malformed).is_err(), "{malformed:?}");
        }
        let e = parse("[1,\n NaN, NaN x]").unwrap_err();
        assert_eq!(e, "invalid JSON at line 2 column 11: expected `,` or `]`");
        let e = parse("[NaN,\n-0, NaN, x]").unwrap_err();
        assert_eq!(e, "invalid JSON at line 2 column 10: expected value");
        let e = parse("[-0, NaN, x]").unwrap_err();
        assert_eq!(e, "invalid JSON at line 1 column 11: expected value");
        let e = parse("[01]").unwrap_err();
        assert!(e.starts_with("invalid JSON at line 1 column 3"), "{e}");
        let e = parse("").unwrap_err();
        assert!(e.starts_with("invalid JSON"), "{e}");
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).unwrap_err().contains("recursion limit"));
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
