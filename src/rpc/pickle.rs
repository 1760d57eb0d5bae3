//! The pickles of Python's `datetime` values, decoded and encoded **without executing
//! anything**.
//!
//! Python aiozmq's predefined translators (ext codes 123–127) carry `pickle.dumps(obj,
//! HIGHEST_PROTOCOL)` of `date`, `datetime`, `time`, `timedelta` and `timezone` objects.
//! Unpickling is running a program, so this module never does that: [`decode`] is a small
//! stack machine that knows a fixed whitelist of opcodes and exactly six callables —
//! `datetime.date`, `datetime.datetime`, `datetime.time`, `datetime.timedelta`,
//! `datetime.timezone` and `_codecs.encode(str, 'latin1')` (protocol 2's way to spell bytes)
//! — checks every argument, and builds Rust values. Any other global (`os.system`,
//! `builtins.eval`, `pytz._p`, ...), opcode (`BUILD`, `INST`, `OBJ`, `NEWOBJ`, persistent ids,
//! extension registry, ...), or a malformed argument, is an error that names it.
//!
//! [`encode`] produces the bytes CPython 3.8+ produces (protocol 5, one frame, its memo
//! numbering), so a value decoded from Python re-encodes to the same bytes.
//!
//! Accepted input: protocols 2 to 5 (`PROTO`, `FRAME`, `GLOBAL`/`STACK_GLOBAL`, the binary
//! string, bytes and integer opcodes, `NONE`, `NEWTRUE`/`NEWFALSE`, `MARK`, the tuple opcodes,
//! `REDUCE`, the binary memo opcodes, `STOP`), at most [`MAX_PICKLE_LEN`] bytes.

use std::collections::HashMap;
use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};

use super::datetime::{delta_from_parts, delta_parts, PyDateTime, PyTime, PyTimezone};
use super::value::Value;

/// Longest pickle [`decode`] accepts (Python's are under 200 bytes).
pub const MAX_PICKLE_LEN: usize = 64 * 1024;
const MAX_STACK: usize = 256;
const MAX_MEMO: usize = 256;

/// Why a pickle was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError(String);

impl PickleError {
    fn new(msg: impl Into<String>) -> PickleError {
        PickleError(msg.into())
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pickle rejected: {}", self.0)
    }
}

impl std::error::Error for PickleError {}

/// A whitelisted callable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    Date,
    DateTime,
    Time,
    TimeDelta,
    Timezone,
    CodecsEncode,
}

impl Global {
    fn lookup(module: &str, name: &str) -> Result<Global, PickleError> {
        Ok(match (module, name) {
            ("datetime", "date") => Global::Date,
            ("datetime", "datetime") => Global::DateTime,
            ("datetime", "time") => Global::Time,
            ("datetime", "timedelta") => Global::TimeDelta,
            ("datetime", "timezone") => Global::Timezone,
            ("_codecs", "encode") => Global::CodecsEncode,
            _ => {
                return Err(PickleError::new(format!(
                    "global {}.{} is not allowed (only datetime.date, datetime.datetime, \
                     datetime.time, datetime.timedelta, datetime.timezone and _codecs.encode)",
                    printable(module),
                    printable(name)
                )))
            }
        })
    }
}

fn printable(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_debug).collect()
}

/// A value on the unpickler's stack.
#[derive(Clone, Debug)]
enum Item {
    Mark,
    None,
    Bool(bool),
    Int(i128),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Item>),
    Global(Global),
    Value(Value),
}

impl Item {
    fn kind(&self) -> &'static str {
        match self {
            Item::Mark => "mark",
            Item::None => "None",
            Item::Bool(_) => "bool",
            Item::Int(_) => "int",
            Item::Str(_) => "str",
            Item::Bytes(_) => "bytes",
            Item::Tuple(_) => "tuple",
            Item::Global(_) => "class",
            Item::Value(v) => match v {
                Value::Date(_) => "date",
                Value::DateTime(_) => "datetime",
                Value::Time(_) => "time",
                Value::TimeDelta(_) => "timedelta",
                Value::Timezone(_) => "timezone",
                _ => "object",
            },
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        if self.data.len() - self.pos < n {
            return Err(PickleError::new(format!(
                "truncated at byte {} (wanted {n} more bytes)",
                self.pos
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    fn len(&mut self, n: u64) -> Result<usize, PickleError> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.data.len() - self.pos)
            .ok_or_else(|| PickleError::new(format!("length {n} runs past the end")))
    }

    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| PickleError::new("GLOBAL without a newline"))?;
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| PickleError::new("GLOBAL name not UTF-8"))
    }
}

fn utf8(b: &[u8]) -> Result<String, PickleError> {
    String::from_utf8(b.to_vec()).map_err(|_| PickleError::new("string is not valid UTF-8"))
}

/// Decodes one pickle of a `date`, `datetime`, `time`, `timedelta` or `timezone` into
/// [`Value::Date`], [`Value::DateTime`], [`Value::Time`], [`Value::TimeDelta`] or
/// [`Value::Timezone`]. Nothing is executed; anything outside the whitelist is an error.
pub fn decode(data: &[u8]) -> Result<Value, PickleError> {
    if data.len() > MAX_PICKLE_LEN {
        return Err(PickleError::new(format!(
            "{} bytes is longer than the {MAX_PICKLE_LEN}-byte limit",
            data.len()
        )));
    }
    let mut r = Reader { data, pos: 0 };
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: HashMap<u32, Item> = HashMap::new();
    loop {
        let at = r.pos;
        let op = r.u8()?;
        match op {
            0x80 => {
                let proto = r.u8()?;
                if !(2..=5).contains(&proto) || at != 0 {
                    return Err(PickleError::new(format!(
                        "PROTO {proto} at byte {at} (protocols 2 to 5, first opcode only)"
                    )));
                }
            }
            0x95 => {
                let n = r.u64()?;
                r.len(n)?;
            }
            b'.' => {
                if r.pos != data.len() {
                    return Err(PickleError::new(format!(
                        "{} bytes after STOP",
                        data.len() - r.pos
                    )));
                }
                return match (stack.pop(), stack.is_empty()) {
                    (Some(Item::Value(v)), true) => Ok(v),
                    (Some(other), true) => Err(PickleError::new(format!(
                        "the pickle builds a {}, not a datetime value",
                        other.kind()
                    ))),
                    (None, _) => Err(PickleError::new("STOP with an empty stack")),
                    (Some(_), false) => Err(PickleError::new("STOP with more than one item")),
                };
            }
            b'(' => stack.push(Item::Mark),
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Item::Global(Global::lookup(module, name)?));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Item::Str(m), Item::Str(n)) => {
                        stack.push(Item::Global(Global::lookup(&m, &n)?))
                    }
                    (m, n) => {
                        return Err(PickleError::new(format!(
                            "STACK_GLOBAL of a {} and a {}",
                            m.kind(),
                            n.kind()
                        )))
                    }
                }
            }
            0x8c => {
                let n = r.u8()? as usize;
                stack.push(Item::Str(utf8(r.take(n)?)?));
            }
            b'X' => {
                let n = r.u32()? as u64;
                let n = r.len(n)?;
                stack.push(Item::Str(utf8(r.take(n)?)?));
            }
            0x8d => {
                let n = r.u64()?;
                let n = r.len(n)?;
                stack.push(Item::Str(utf8(r.take(n)?)?));
            }
            b'C' => {
                let n = r.u8()? as usize;
                stack.push(Item::Bytes(r.take(n)?.to_vec()));
            }
            b'B' => {
                let n = r.u32()? as u64;
                let n = r.len(n)?;
                stack.push(Item::Bytes(r.take(n)?.to_vec()));
            }
            0x8e => {
                let n = r.u64()?;
                let n = r.len(n)?;
                stack.push(Item::Bytes(r.take(n)?.to_vec()));
            }
            b'J' => stack.push(Item::Int(r.u32()? as i32 as i128)),
            b'K' => stack.push(Item::Int(r.u8()? as i128)),
            b'M' => stack.push(Item::Int(r.u16()? as i128)),
            0x8a => {
                let n = r.u8()? as usize;
                if n > 8 {
                    return Err(PickleError::new(format!("LONG1 of {n} bytes is too big")));
                }
                let b = r.take(n)?;
                let mut v: i128 = 0;
                for (i, &byte) in b.iter().enumerate() {
                    v |= (byte as i128) << (8 * i);
                }
                if n > 0 && b[n - 1] & 0x80 != 0 {
                    v -= 1i128 << (8 * n);
                }
                stack.push(Item::Int(v));
            }
            b'N' => stack.push(Item::None),
            0x88 => stack.push(Item::Bool(true)),
            0x89 => stack.push(Item::Bool(false)),
            b')' => stack.push(Item::Tuple(Vec::new())),
            b't' => {
                let mark = stack
                    .iter()
                    .rposition(|i| matches!(i, Item::Mark))
                    .ok_or_else(|| PickleError::new("TUPLE without a MARK"))?;
                let items = stack.split_off(mark + 1);
                stack.pop();
                stack.push(Item::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err(PickleError::new(format!("TUPLE{n} on a short stack")));
                }
                let items = stack.split_off(stack.len() - n);
                if items.iter().any(|i| matches!(i, Item::Mark)) {
                    return Err(PickleError::new(format!("TUPLE{n} over a MARK")));
                }
                stack.push(Item::Tuple(items));
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                let (Item::Global(g), Item::Tuple(args)) = (&callable, args) else {
                    return Err(PickleError::new(format!(
                        "REDUCE calls a {} (only whitelisted classes may be called)",
                        callable.kind()
                    )));
                };
                stack.push(call(*g, args)?);
            }
            0x94 => {
                let top = stack
                    .last()
                    .ok_or_else(|| PickleError::new("MEMOIZE on an empty stack"))?;
                let idx = memo.len() as u32;
                put(&mut memo, idx, top.clone())?;
            }
            b'q' | b'r' => {
                let idx = if op == b'q' { r.u8()? as u32 } else { r.u32()? };
                let top = stack
                    .last()
                    .ok_or_else(|| PickleError::new("PUT on an empty stack"))?;
                put(&mut memo, idx, top.clone())?;
            }
            b'h' | b'j' => {
                let idx = if op == b'h' { r.u8()? as u32 } else { r.u32()? };
                let item = memo
                    .get(&idx)
                    .ok_or_else(|| PickleError::new(format!("GET of unset memo {idx}")))?;
                stack.push(item.clone());
            }
            other => {
                return Err(PickleError::new(format!(
                    "opcode {} (0x{other:02x}) at byte {at} is not allowed",
                    opcode_name(other)
                )))
            }
        }
        if stack.len() > MAX_STACK {
            return Err(PickleError::new("stack too deep"));
        }
    }
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'b' => "BUILD",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'P' | b'Q' => "PERSID",
        0x82..=0x84 => "EXT",
        b'a' | b'e' => "APPEND",
        b's' | b'u' => "SETITEM",
        b'}' | b']' => "EMPTY_DICT/LIST",
        b'd' | b'l' => "DICT/LIST",
        b'S' | b'T' | b'U' => "STRING",
        b'V' => "UNICODE",
        b'I' | b'L' => "INT/LONG",
        b'F' | b'G' => "FLOAT",
        b'0' | b'1' | b'2' => "POP/DUP",
        0x8b => "LONG4",
        0x8f..=0x91 => "SET",
        0x96..=0x98 => "BUFFER",
        _ => "unknown",
    }
}

fn pop(stack: &mut Vec<Item>) -> Result<Item, PickleError> {
    match stack.pop() {
        Some(Item::Mark) => Err(PickleError::new("an opcode consumed a MARK")),
        Some(i) => Ok(i),
        None => Err(PickleError::new("stack underflow")),
    }
}

fn put(memo: &mut HashMap<u32, Item>, idx: u32, item: Item) -> Result<(), PickleError> {
    if matches!(item, Item::Mark) {
        return Err(PickleError::new("memoizing a MARK"));
    }
    if memo.len() >= MAX_MEMO && !memo.contains_key(&idx) {
        return Err(PickleError::new("too many memo entries"));
    }
    memo.insert(idx, item);
    Ok(())
}

fn int(i: &Item, what: &str) -> Result<i128, PickleError> {
    match i {
        Item::Int(n) => Ok(*n),
        Item::Bool(b) => Ok(*b as i128),
        other => Err(PickleError::new(format!(
            "{what} must be an int, not {}",
            other.kind()
        ))),
    }
}

fn small(n: i128, lo: i128, hi: i128, what: &str) -> Result<u32, PickleError> {
    if (lo..=hi).contains(&n) {
        Ok(n as u32)
    } else {
        Err(PickleError::new(format!("{what} {n} out of range")))
    }
}

fn tzinfo(i: Option<&Item>) -> Result<Option<PyTimezone>, PickleError> {
    match i {
        None | Some(Item::None) => Ok(None),
        Some(Item::Value(Value::Timezone(tz))) => Ok(Some(tz.clone())),
        Some(other) => Err(PickleError::new(format!(
            "tzinfo must be a datetime.timezone, not {}",
            other.kind()
        ))),
    }
}

fn arity(g: &str, args: &[Item], lo: usize, hi: usize) -> Result<(), PickleError> {
    if (lo..=hi).contains(&args.len()) {
        Ok(())
    } else {
        Err(PickleError::new(format!(
            "{g} called with {} arguments",
            args.len()
        )))
    }
}

/// Applies a whitelisted callable to checked arguments.
fn call(g: Global, args: Vec<Item>) -> Result<Item, PickleError> {
    match g {
        Global::CodecsEncode => {
            arity("_codecs.encode", &args, 2, 2)?;
            match (&args[0], &args[1]) {
                (Item::Str(s), Item::Str(enc)) if enc == "latin1" || enc == "latin-1" => {
                    let bytes = s
                        .chars()
                        .map(|c| u8::try_from(c as u32))
                        .collect::<Result<Vec<u8>, _>>()
                        .map_err(|_| PickleError::new("latin1 text out of range"))?;
                    Ok(Item::Bytes(bytes))
                }
                _ => Err(PickleError::new(
                    "_codecs.encode is allowed only as encode(str, 'latin1')",
                )),
            }
        }
        Global::Date => {
            arity("datetime.date", &args, 1, 3)?;
            let date = match args.as_slice() {
                [Item::Bytes(b)] => date_state(b)?,
                [y, m, d] => ymd(int(y, "year")?, int(m, "month")?, int(d, "day")?)?,
                _ => {
                    return Err(PickleError::new(
                        "datetime.date takes 4 state bytes or y, m, d",
                    ))
                }
            };
            Ok(Item::Value(Value::Date(date)))
        }
        Global::DateTime => {
            arity("datetime.datetime", &args, 1, 8)?;
            let dt = match args.first() {
                Some(Item::Bytes(b)) => {
                    arity("datetime.datetime", &args, 1, 2)?;
                    if b.len() != 10 {
                        return Err(PickleError::new(format!(
                            "datetime state is {} bytes, not 10",
                            b.len()
                        )));
                    }
                    let fold = b[2] & 0x80 != 0;
                    let mut d = [0u8; 4];
                    d.copy_from_slice(&b[..4]);
                    d[2] &= 0x7f;
                    let date = date_state(&d)?;
                    let time = hmsu(
                        b[4] as i128,
                        b[5] as i128,
                        b[6] as i128,
                        u32::from_be_bytes([0, b[7], b[8], b[9]]) as i128,
                    )?;
                    PyDateTime {
                        naive: NaiveDateTime::new(date, time),
                        tz: tzinfo(args.get(1))?,
                        fold,
                    }
                }
                _ => {
                    let (fields, tz) = match args.split_last() {
                        Some((last @ (Item::Value(_) | Item::None), rest)) if args.len() > 3 => {
                            (rest, tzinfo(Some(last))?)
                        }
                        _ => (args.as_slice(), None),
                    };
                    if !(3..=7).contains(&fields.len()) {
                        return Err(PickleError::new(
                            "datetime.datetime takes 10 state bytes or 3 to 7 ints",
                        ));
                    }
                    let mut f = [0i128; 7];
                    for (slot, a) in f.iter_mut().zip(fields) {
                        *slot = int(a, "datetime field")?;
                    }
                    PyDateTime {
                        naive: NaiveDateTime::new(
                            ymd(f[0], f[1], f[2])?,
                            hmsu(f[3], f[4], f[5], f[6])?,
                        ),
                        tz,
                        fold: false,
                    }
                }
            };
            Ok(Item::Value(Value::DateTime(dt)))
        }
        Global::Time => {
            arity("datetime.time", &args, 1, 2)?;
            let Item::Bytes(b) = &args[0] else {
                return Err(PickleError::new("datetime.time takes 6 state bytes"));
            };
            if b.len() != 6 {
                return Err(PickleError::new(format!(
                    "time state is {} bytes, not 6",
                    b.len()
                )));
            }
            let fold = b[0] & 0x80 != 0;
            let time = hmsu(
                (b[0] & 0x7f) as i128,
                b[1] as i128,
                b[2] as i128,
                u32::from_be_bytes([0, b[3], b[4], b[5]]) as i128,
            )?;
            Ok(Item::Value(Value::Time(PyTime {
                naive: time,
                tz: tzinfo(args.get(1))?,
                fold,
            })))
        }
        Global::TimeDelta => {
            arity("datetime.timedelta", &args, 0, 3)?;
            let mut f = [0i128; 3];
            for (i, a) in args.iter().enumerate() {
                f[i] = int(a, "timedelta field")?;
            }
            let d = delta_from_parts(f[0], f[1], f[2])
                .ok_or_else(|| PickleError::new("timedelta out of Python's range"))?;
            Ok(Item::Value(Value::TimeDelta(d)))
        }
        Global::Timezone => {
            arity("datetime.timezone", &args, 1, 2)?;
            let Item::Value(Value::TimeDelta(offset)) = &args[0] else {
                return Err(PickleError::new(format!(
                    "timezone offset must be a timedelta, not {}",
                    args[0].kind()
                )));
            };
            let name = match args.get(1) {
                None => None,
                Some(Item::Str(s)) => Some(s.clone()),
                Some(other) => {
                    return Err(PickleError::new(format!(
                        "timezone name must be a str, not {}",
                        other.kind()
                    )))
                }
            };
            let tz = PyTimezone::new(*offset, name).ok_or_else(|| {
                PickleError::new("timezone offset must be strictly between -24 h and 24 h")
            })?;
            Ok(Item::Value(Value::Timezone(tz)))
        }
    }
}

fn date_state(b: &[u8]) -> Result<NaiveDate, PickleError> {
    if b.len() != 4 {
        return Err(PickleError::new(format!(
            "date state is {} bytes, not 4",
            b.len()
        )));
    }
    ymd(
        ((b[0] as i128) << 8) | b[1] as i128,
        b[2] as i128,
        b[3] as i128,
    )
}

fn ymd(y: i128, m: i128, d: i128) -> Result<NaiveDate, PickleError> {
    let y = small(y, 1, 9999, "year")?;
    let m = small(m, 1, 12, "month")?;
    let d = small(d, 1, 31, "day")?;
    NaiveDate::from_ymd_opt(y as i32, m, d)
        .ok_or_else(|| PickleError::new(format!("{y}-{m}-{d} is not a date")))
}

fn hmsu(h: i128, m: i128, s: i128, us: i128) -> Result<NaiveTime, PickleError> {
    let h = small(h, 0, 23, "hour")?;
    let m = small(m, 0, 59, "minute")?;
    let s = small(s, 0, 59, "second")?;
    let us = small(us, 0, 999_999, "microsecond")?;
    Ok(NaiveTime::from_hms_micro_opt(h, m, s, us).expect("checked ranges"))
}

/// Why a value cannot be pickled.
fn enc_err(msg: impl Into<String>) -> PickleError {
    PickleError::new(msg)
}

/// Writes pickle opcodes the way CPython's `_pickle` does for these objects.
struct Pickler {
    out: Vec<u8>,
    memo: u32,
    module_memo: Option<u32>,
}

impl Pickler {
    fn memoize(&mut self) {
        self.out.push(0x94);
        self.memo += 1;
    }

    fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        if b.len() < 256 {
            self.out.push(0x8c);
            self.out.push(b.len() as u8);
        } else if b.len() <= u32::MAX as usize {
            self.out.push(b'X');
            self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        } else {
            self.out.push(0x8d);
            self.out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        }
        self.out.extend_from_slice(b);
        self.memoize();
    }

    fn bytes(&mut self, b: &[u8]) {
        // Only short state strings are written here.
        self.out.push(b'C');
        self.out.push(b.len() as u8);
        self.out.extend_from_slice(b);
        self.memoize();
    }

    fn int(&mut self, n: i64) {
        if (0..=0xff).contains(&n) {
            self.out.push(b'K');
            self.out.push(n as u8);
        } else if (0..=0xffff).contains(&n) {
            self.out.push(b'M');
            self.out.extend_from_slice(&(n as u16).to_le_bytes());
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&n) {
            self.out.push(b'J');
            self.out.extend_from_slice(&(n as i32).to_le_bytes());
        } else {
            // LONG1 with the shortest two's complement encoding (never reached for the
            // values Python allows, kept for completeness).
            let bytes = n.to_le_bytes();
            let mut len = 8;
            while len > 1 {
                let top = bytes[len - 1];
                let next_sign = bytes[len - 2] & 0x80;
                if (top == 0 && next_sign == 0) || (top == 0xff && next_sign != 0) {
                    len -= 1;
                } else {
                    break;
                }
            }
            self.out.push(0x8a);
            self.out.push(len as u8);
            self.out.extend_from_slice(&bytes[..len]);
        }
    }

    /// `datetime.<class>` as protocol 4's `STACK_GLOBAL`, the module string memoized once.
    fn global(&mut self, class: &str) {
        match self.module_memo {
            Some(idx) => self.get(idx),
            None => {
                self.module_memo = Some(self.memo);
                self.str("datetime");
            }
        }
        self.str(class);
        self.out.push(0x93);
        self.memoize();
    }

    fn get(&mut self, idx: u32) {
        if idx < 256 {
            self.out.push(b'h');
            self.out.push(idx as u8);
        } else {
            self.out.push(b'j');
            self.out.extend_from_slice(&idx.to_le_bytes());
        }
    }

    /// Closes an argument tuple of `n` (1 to 3) items already written, then `REDUCE`.
    fn reduce(&mut self, n: usize) {
        self.out.push(0x84 + n as u8);
        self.memoize();
        self.out.push(b'R');
        self.memoize();
    }

    fn timedelta(&mut self, d: &TimeDelta) -> Result<(), PickleError> {
        let (days, secs, us) =
            delta_parts(d).ok_or_else(|| enc_err("timedelta beyond Python's ±999999999 days"))?;
        self.global("timedelta");
        self.int(days);
        self.int(secs);
        self.int(us);
        self.reduce(3);
        Ok(())
    }

    fn timezone(&mut self, tz: &PyTimezone) -> Result<(), PickleError> {
        self.global("timezone");
        self.timedelta(&tz.offset())?;
        match tz.name() {
            None => self.reduce(1),
            Some(name) => {
                self.str(name);
                self.reduce(2);
            }
        }
        Ok(())
    }

    fn tz_tail(&mut self, tz: &Option<PyTimezone>) -> Result<(), PickleError> {
        match tz {
            None => self.reduce(1),
            Some(tz) => {
                self.timezone(tz)?;
                self.reduce(2);
            }
        }
        Ok(())
    }
}

fn year(d: &NaiveDate) -> Result<u16, PickleError> {
    let y = d.year();
    if (1..=9999).contains(&y) {
        Ok(y as u16)
    } else {
        Err(enc_err(format!(
            "year {y} is outside Python's range 1..=9999"
        )))
    }
}

fn time_state(t: &NaiveTime, out: &mut [u8]) -> Result<(), PickleError> {
    let ns = t.nanosecond();
    if ns >= 1_000_000_000 {
        return Err(enc_err("leap seconds cannot be sent to Python"));
    }
    let us = (ns / 1000).to_be_bytes();
    out[0] = t.hour() as u8;
    out[1] = t.minute() as u8;
    out[2] = t.second() as u8;
    out[3..6].copy_from_slice(&us[1..4]);
    Ok(())
}

/// Pickles a [`Value::Date`], [`Value::DateTime`], [`Value::Time`], [`Value::TimeDelta`]
/// or [`Value::Timezone`] exactly as CPython 3.8+ does (`pickle.dumps(obj, 5)`).
pub fn encode(v: &Value) -> Result<Vec<u8>, PickleError> {
    let mut p = Pickler {
        out: Vec::with_capacity(128),
        memo: 0,
        module_memo: None,
    };
    p.out
        .extend_from_slice(&[0x80, 5, 0x95, 0, 0, 0, 0, 0, 0, 0, 0]);
    match v {
        Value::Date(d) => {
            let y = year(d)?;
            p.global("date");
            p.bytes(&[(y >> 8) as u8, y as u8, d.month() as u8, d.day() as u8]);
            p.reduce(1);
        }
        Value::DateTime(dt) => {
            let d = dt.naive.date();
            let y = year(&d)?;
            let mut state = [0u8; 10];
            state[0] = (y >> 8) as u8;
            state[1] = y as u8;
            state[2] = d.month() as u8 | if dt.fold { 0x80 } else { 0 };
            state[3] = d.day() as u8;
            time_state(&dt.naive.time(), &mut state[4..])?;
            p.global("datetime");
            p.bytes(&state);
            p.tz_tail(&dt.tz)?;
        }
        Value::Time(t) => {
            let mut state = [0u8; 6];
            time_state(&t.naive, &mut state)?;
            if t.fold {
                state[0] |= 0x80;
            }
            p.global("time");
            p.bytes(&state);
            p.tz_tail(&t.tz)?;
        }
        Value::TimeDelta(d) => p.timedelta(d)?,
        Value::Timezone(tz) => p.timezone(tz)?,
        other => {
            return Err(enc_err(format!(
                "{} is not a datetime value",
                super::value::python_type_name(other)
            )))
        }
    }
    p.out.push(b'.');
    let frame = (p.out.len() - 11) as u64;
    p.out[3..11].copy_from_slice(&frame.to_le_bytes());
    Ok(p.out)
}
