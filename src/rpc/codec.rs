//! msgpack as Python aiozmq writes and reads it, with the translation table of ext types.
//!
//! Packing follows msgpack-python's `packb(use_bin_type=True)` byte for byte: the
//! smallest integer form, float 64 for floats, str 8/16/32 for text, bin for bytes, the
//! smallest fixext/ext form. Unpacking follows `unpackb(use_list=False, raw=False,
//! ext_hook=...)`: strict UTF-8 text, at most [`MAX_DEPTH`] nested containers (as
//! msgpack-python), at most [`MAX_VALUES`] values per message, no trailing bytes, and
//! lengths checked against the input before any allocation.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};

use super::pickle;
use super::value::{ConvertError, Object, Value};

/// Deepest nesting of arrays and maps accepted (msgpack-python's unpacker stack).
pub const MAX_DEPTH: usize = 1024;

/// Most values one unpacked message may hold (every scalar, array and map counts one).
/// A value takes tens of bytes in memory while it takes one on the wire (a nil, a small
/// integer), so without a bound a request of a few MB of nils would cost the server a
/// hundred MB or more; with it, one message costs at most this many values (a few MB).
/// A message over the limit is refused as malformed: a server drops the request and logs
/// it, as it (and Python aiozmq) does any request it cannot unpack; a reply over the limit
/// fails its call.
pub const MAX_VALUES: usize = 1 << 18;

/// A value that cannot be packed, or bytes that cannot be unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError(String);

impl CodecError {
    pub(crate) fn new(msg: impl Into<String>) -> CodecError {
        CodecError(msg.into())
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

type MatchFn = dyn Fn(&Value) -> bool + Send + Sync;
type PackFn = dyn Fn(&Value) -> Result<Vec<u8>, ConvertError> + Send + Sync;
type UnpackFn = dyn Fn(&[u8]) -> Result<Value, ConvertError> + Send + Sync;

/// One entry of a translation table: which values it packs, and how (Python's
/// `(translated_class, packer, unpacker)`).
#[derive(Clone)]
pub struct Translator {
    kind: TranslatorKind,
}

#[derive(Clone)]
enum TranslatorKind {
    /// The predefined date/time translators (pickles).
    Predefined(i8),
    User {
        name: String,
        matches: Arc<MatchFn>,
        pack: Arc<PackFn>,
        unpack: Arc<UnpackFn>,
    },
}

impl fmt::Debug for Translator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TranslatorKind::Predefined(code) => write!(f, "Translator(predefined {code})"),
            TranslatorKind::User { name, .. } => write!(f, "Translator({name})"),
        }
    }
}

impl Translator {
    /// A translator for the Rust type `T`, carried as [`Value::Object`]: `pack` gives the
    /// ext payload, `unpack` rebuilds the value (its error makes the whole message
    /// undecodable, as an unpacker exception does in Python).
    pub fn for_type<T, P, U>(pack: P, unpack: U) -> Translator
    where
        T: std::any::Any + Send + Sync + PartialEq + fmt::Debug,
        P: Fn(&T) -> Vec<u8> + Send + Sync + 'static,
        U: Fn(&[u8]) -> Result<T, ConvertError> + Send + Sync + 'static,
    {
        let full = std::any::type_name::<T>();
        Translator {
            kind: TranslatorKind::User {
                name: full.rsplit("::").next().unwrap_or(full).to_owned(),
                matches: Arc::new(|v| matches!(v, Value::Object(o) if o.is::<T>())),
                pack: Arc::new(move |v| match v {
                    Value::Object(o) => match o.downcast_ref::<T>() {
                        Some(t) => Ok(pack(t)),
                        None => Err(ConvertError::type_error("translator type mismatch")),
                    },
                    _ => Err(ConvertError::type_error("translator type mismatch")),
                }),
                unpack: Arc::new(move |b| unpack(b).map(|t| Value::Object(Object::new(t)))),
            },
        }
    }

    /// A translator over any values: `matches` says which values it packs (Python's
    /// `isinstance` test), `pack` and `unpack` convert. This can take over a predefined
    /// type too, e.g. send `Value::Date` under another code.
    pub fn new<M, P, U>(name: impl Into<String>, matches: M, pack: P, unpack: U) -> Translator
    where
        M: Fn(&Value) -> bool + Send + Sync + 'static,
        P: Fn(&Value) -> Result<Vec<u8>, ConvertError> + Send + Sync + 'static,
        U: Fn(&[u8]) -> Result<Value, ConvertError> + Send + Sync + 'static,
    {
        Translator {
            kind: TranslatorKind::User {
                name: name.into(),
                matches: Arc::new(matches),
                pack: Arc::new(pack),
                unpack: Arc::new(unpack),
            },
        }
    }

    fn matches(&self, v: &Value) -> bool {
        match &self.kind {
            TranslatorKind::Predefined(code) => predefined_code(v) == Some(*code),
            TranslatorKind::User { matches, .. } => matches(v),
        }
    }

    fn pack(&self, v: &Value) -> Result<Vec<u8>, CodecError> {
        match &self.kind {
            TranslatorKind::Predefined(_) => {
                pickle::encode(v).map_err(|e| CodecError::new(e.to_string()))
            }
            TranslatorKind::User { pack, name, .. } => {
                pack(v).map_err(|e| CodecError::new(format!("translator {name}: {e}")))
            }
        }
    }

    fn unpack(&self, code: i8, data: &[u8]) -> Result<Value, CodecError> {
        match &self.kind {
            TranslatorKind::Predefined(_) => {
                pickle::decode(data).map_err(|e| CodecError::new(format!("ext {code}: {e}")))
            }
            TranslatorKind::User { unpack, name, .. } => unpack(data)
                .map_err(|e| CodecError::new(format!("ext {code} (translator {name}): {e}"))),
        }
    }
}

/// The ext code of the predefined translator for a date/time value.
pub fn predefined_code(v: &Value) -> Option<i8> {
    Some(match v {
        Value::Date(_) => 127,
        Value::DateTime(_) => 126,
        Value::Time(_) => 125,
        Value::TimeDelta(_) => 124,
        Value::Timezone(_) => 123,
        _ => return None,
    })
}

/// A translation table: ext codes 0–127 with their translators (Python's
/// `translation_table` dict). The predefined date/time translators (123–127) are always
/// there unless an entry of the same code replaces them; packing tries the entries in
/// ascending code order and the first that matches wins.
///
/// ```
/// use aiozmq::rpc::{TranslationTable, Translator};
/// #[derive(Clone, Debug, PartialEq)]
/// struct Point { x: i64, y: i64 }
/// let table = TranslationTable::new().with(
///     0,
///     Translator::for_type(
///         |p: &Point| [p.x.to_le_bytes(), p.y.to_le_bytes()].concat(),
///         |b| {
///             let n = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().unwrap());
///             if b.len() == 16 { Ok(Point { x: n(0), y: n(8) }) }
///             else { Err(aiozmq::rpc::ConvertError::value_error("bad point")) }
///         },
///     ),
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct TranslationTable {
    entries: BTreeMap<u8, Translator>,
}

impl TranslationTable {
    /// An empty table: only the predefined translators.
    pub fn new() -> TranslationTable {
        TranslationTable::default()
    }

    /// Adds (or replaces) the translator of `code` (0–127).
    ///
    /// # Panics
    /// When `code` is above 127.
    pub fn insert(&mut self, code: u8, translator: Translator) -> &mut TranslationTable {
        assert!(code <= 127, "ext codes of a translation table are 0..=127");
        self.entries.insert(code, translator);
        self
    }

    /// [`insert`](Self::insert), by value.
    pub fn with(mut self, code: u8, translator: Translator) -> TranslationTable {
        self.insert(code, translator);
        self
    }
}

/// Packs and unpacks values with one translation table. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Codec {
    inner: Arc<CodecInner>,
}

#[derive(Debug)]
struct CodecInner {
    /// Ascending code order, for packing.
    ordered: Vec<(i8, Translator)>,
    /// By code, for unpacking.
    by_code: Vec<Option<Translator>>,
}

impl Codec {
    /// A codec for `table` (plus the predefined translators it does not replace).
    pub fn new(table: &TranslationTable) -> Codec {
        let mut all: BTreeMap<u8, Translator> = (123..=127)
            .map(|c| {
                (
                    c,
                    Translator {
                        kind: TranslatorKind::Predefined(c as i8),
                    },
                )
            })
            .collect();
        for (c, t) in &table.entries {
            all.insert(*c, t.clone());
        }
        let mut by_code = vec![None; 128];
        for (c, t) in &all {
            by_code[*c as usize] = Some(t.clone());
        }
        Codec {
            inner: Arc::new(CodecInner {
                ordered: all.into_iter().map(|(c, t)| (c as i8, t)).collect(),
                by_code,
            }),
        }
    }

    /// The codec with only the predefined translators.
    pub fn plain() -> Codec {
        static PLAIN: OnceLock<Codec> = OnceLock::new();
        PLAIN
            .get_or_init(|| Codec::new(&TranslationTable::new()))
            .clone()
    }

    /// Packs `v`, appending to `out`.
    pub fn pack(&self, v: &Value, out: &mut BytesMut) -> Result<(), CodecError> {
        self.pack_depth(v, out, 0)
    }

    /// Packs `v` into new bytes.
    pub fn pack_to_bytes(&self, v: &Value) -> Result<Bytes, CodecError> {
        let mut out = BytesMut::with_capacity(64);
        self.pack(v, &mut out)?;
        Ok(out.freeze())
    }

    /// Packs positional arguments as one array.
    pub fn pack_array(&self, items: &[Value], out: &mut BytesMut) -> Result<(), CodecError> {
        write_array_len(out, items.len())?;
        for v in items {
            self.pack_depth(v, out, 1)?;
        }
        Ok(())
    }

    /// Packs keyword arguments as one map with text keys.
    pub fn pack_kwargs(
        &self,
        kwargs: &[(String, Value)],
        out: &mut BytesMut,
    ) -> Result<(), CodecError> {
        write_map_len(out, kwargs.len())?;
        for (k, v) in kwargs {
            write_str(out, k)?;
            self.pack_depth(v, out, 1)?;
        }
        Ok(())
    }

    fn pack_depth(&self, v: &Value, out: &mut BytesMut, depth: usize) -> Result<(), CodecError> {
        match v {
            Value::Nil => out.put_u8(0xc0),
            Value::Bool(false) => out.put_u8(0xc2),
            Value::Bool(true) => out.put_u8(0xc3),
            Value::Int(i) => write_int(out, *i)?,
            Value::Float(f) => {
                out.put_u8(0xcb);
                out.put_f64(*f);
            }
            Value::Str(s) => write_str(out, s)?,
            Value::Bin(b) => {
                let n = b.len();
                if n < 256 {
                    out.put_u8(0xc4);
                    out.put_u8(n as u8);
                } else if n < 65536 {
                    out.put_u8(0xc5);
                    out.put_u16(n as u16);
                } else if n <= u32::MAX as usize {
                    out.put_u8(0xc6);
                    out.put_u32(n as u32);
                } else {
                    return Err(CodecError::new("bytes too long for msgpack"));
                }
                out.put_slice(b);
            }
            Value::Array(items) => {
                if depth >= MAX_DEPTH {
                    return Err(CodecError::new("nested too deeply"));
                }
                write_array_len(out, items.len())?;
                for item in items {
                    self.pack_depth(item, out, depth + 1)?;
                }
            }
            Value::Map(pairs) => {
                if depth >= MAX_DEPTH {
                    return Err(CodecError::new("nested too deeply"));
                }
                write_map_len(out, pairs.len())?;
                for (k, v) in pairs {
                    self.pack_depth(k, out, depth + 1)?;
                    self.pack_depth(v, out, depth + 1)?;
                }
            }
            Value::Ext(code, data) => write_ext(out, *code, data)?,
            other => {
                let (code, t) = self
                    .inner
                    .ordered
                    .iter()
                    .find(|(_, t)| t.matches(other))
                    .ok_or_else(|| {
                        CodecError::new(format!(
                            "Unknown type: {} (no translator in the table)",
                            super::value::python_type_name(other)
                        ))
                    })?;
                let data = t.pack(other)?;
                write_ext(out, *code, &data)?;
            }
        }
        Ok(())
    }

    /// Unpacks exactly one array from `data` into its items (positional arguments): the
    /// same as [`unpack`](Self::unpack) then taking the array, without the intermediate
    /// allocations.
    pub fn unpack_array(&self, data: &Bytes) -> Result<Result<Vec<Value>, Value>, CodecError> {
        let mut d = Decoder {
            codec: self,
            data,
            pos: 0,
            left: MAX_VALUES,
        };
        let n = match data.first() {
            Some(b @ 0x90..=0x9f) => {
                d.pos = 1;
                (b & 0x0f) as usize
            }
            Some(0xdc) => {
                d.pos = 1;
                d.len16()?
            }
            Some(0xdd) => {
                d.pos = 1;
                d.len32()?
            }
            _ => return self.unpack(data).map(Err),
        };
        d.count()?;
        let mut items = Vec::with_capacity(n.min(data.len() - d.pos));
        for _ in 0..n {
            // Small integers (the most common arguments) are built in place.
            match data.get(d.pos) {
                Some(&b @ (0x00..=0x7f | 0xe0..=0xff)) => {
                    d.count()?;
                    d.pos += 1;
                    items.push(Value::Int(b as i8 as i128));
                }
                _ => items.push(d.value_at(1)?),
            }
        }
        if d.pos != data.len() {
            return Err(CodecError::new(format!(
                "{} bytes of extra data after the value",
                data.len() - d.pos
            )));
        }
        Ok(Ok(items))
    }

    /// Unpacks exactly one value from `data` (trailing bytes are an error).
    pub fn unpack(&self, data: &Bytes) -> Result<Value, CodecError> {
        let mut d = Decoder {
            codec: self,
            data,
            pos: 0,
            left: MAX_VALUES,
        };
        let v = d.value()?;
        if d.pos != data.len() {
            return Err(CodecError::new(format!(
                "{} bytes of extra data after the value",
                data.len() - d.pos
            )));
        }
        Ok(v)
    }
}

fn write_int(out: &mut BytesMut, i: i128) -> Result<(), CodecError> {
    if i >= 0 {
        if i < 128 {
            out.put_u8(i as u8);
        } else if i < 256 {
            out.put_u8(0xcc);
            out.put_u8(i as u8);
        } else if i < 65536 {
            out.put_u8(0xcd);
            out.put_u16(i as u16);
        } else if i <= u32::MAX as i128 {
            out.put_u8(0xce);
            out.put_u32(i as u32);
        } else if i <= u64::MAX as i128 {
            out.put_u8(0xcf);
            out.put_u64(i as u64);
        } else {
            return Err(CodecError::new("Integer value out of range"));
        }
    } else if i >= -32 {
        out.put_i8(i as i8);
    } else if i >= i8::MIN as i128 {
        out.put_u8(0xd0);
        out.put_i8(i as i8);
    } else if i >= i16::MIN as i128 {
        out.put_u8(0xd1);
        out.put_i16(i as i16);
    } else if i >= i32::MIN as i128 {
        out.put_u8(0xd2);
        out.put_i32(i as i32);
    } else if i >= i64::MIN as i128 {
        out.put_u8(0xd3);
        out.put_i64(i as i64);
    } else {
        return Err(CodecError::new("Integer value out of range"));
    }
    Ok(())
}

fn write_str(out: &mut BytesMut, s: &str) -> Result<(), CodecError> {
    let n = s.len();
    if n < 32 {
        out.put_u8(0xa0 | n as u8);
    } else if n < 256 {
        out.put_u8(0xd9);
        out.put_u8(n as u8);
    } else if n < 65536 {
        out.put_u8(0xda);
        out.put_u16(n as u16);
    } else if n <= u32::MAX as usize {
        out.put_u8(0xdb);
        out.put_u32(n as u32);
    } else {
        return Err(CodecError::new("str too long for msgpack"));
    }
    out.put_slice(s.as_bytes());
    Ok(())
}

/// A container header: `fix | n` below 16 items, else the 16- or 32-bit form.
fn write_container_len(
    out: &mut BytesMut,
    n: usize,
    (fix, m16, m32): (u8, u8, u8),
    what: &str,
) -> Result<(), CodecError> {
    if n < 16 {
        out.put_u8(fix | n as u8);
    } else if n < 65536 {
        out.put_u8(m16);
        out.put_u16(n as u16);
    } else if n <= u32::MAX as usize {
        out.put_u8(m32);
        out.put_u32(n as u32);
    } else {
        return Err(CodecError::new(format!("{what} too long for msgpack")));
    }
    Ok(())
}

fn write_array_len(out: &mut BytesMut, n: usize) -> Result<(), CodecError> {
    write_container_len(out, n, (0x90, 0xdc, 0xdd), "array")
}

fn write_map_len(out: &mut BytesMut, n: usize) -> Result<(), CodecError> {
    write_container_len(out, n, (0x80, 0xde, 0xdf), "map")
}

fn write_ext(out: &mut BytesMut, code: i8, data: &[u8]) -> Result<(), CodecError> {
    let n = data.len();
    match n {
        1 => out.put_u8(0xd4),
        2 => out.put_u8(0xd5),
        4 => out.put_u8(0xd6),
        8 => out.put_u8(0xd7),
        16 => out.put_u8(0xd8),
        n if n < 256 => {
            out.put_u8(0xc7);
            out.put_u8(n as u8);
        }
        n if n < 65536 => {
            out.put_u8(0xc8);
            out.put_u16(n as u16);
        }
        n if n <= u32::MAX as usize => {
            out.put_u8(0xc9);
            out.put_u32(n as u32);
        }
        _ => return Err(CodecError::new("ext payload too long for msgpack")),
    }
    out.put_i8(code);
    out.put_slice(data);
    Ok(())
}

/// What one msgpack item starts.
enum Item {
    Done(Value),
    Array(usize),
    Map(usize),
}

/// A container being filled: items so far and the declared length.
enum Open {
    Array(Vec<Value>, usize),
    Map(Vec<(Value, Value)>, Option<Value>, usize),
}

struct Decoder<'a> {
    codec: &'a Codec,
    data: &'a Bytes,
    pos: usize,
    /// Values this message may still hold (see [`MAX_VALUES`]).
    left: usize,
}

impl Decoder<'_> {
    fn need(&self, n: usize) -> Result<(), CodecError> {
        if self.data.len() - self.pos < n {
            Err(CodecError::new(format!(
                "truncated msgpack at byte {} (wanted {n} more bytes)",
                self.pos
            )))
        } else {
            Ok(())
        }
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        self.need(1)?;
        let b = self.data[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        self.need(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.data[self.pos..self.pos + N]);
        self.pos += N;
        Ok(a)
    }

    fn len8(&mut self) -> Result<usize, CodecError> {
        Ok(self.u8()? as usize)
    }

    fn len16(&mut self) -> Result<usize, CodecError> {
        Ok(u16::from_be_bytes(self.be()?) as usize)
    }

    fn len32(&mut self) -> Result<usize, CodecError> {
        Ok(u32::from_be_bytes(self.be()?) as usize)
    }

    fn slice(&mut self, n: usize) -> Result<Bytes, CodecError> {
        self.need(n)?;
        let b = self.data.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    fn str(&mut self, n: usize) -> Result<Value, CodecError> {
        self.need(n)?;
        let s = std::str::from_utf8(&self.data[self.pos..self.pos + n])
            .map_err(|_| CodecError::new(format!("str at byte {} is not UTF-8", self.pos)))?;
        self.pos += n;
        Ok(Value::Str(s.to_owned()))
    }

    fn ext(&mut self, n: usize) -> Result<Value, CodecError> {
        let code = self.u8()? as i8;
        let data = self.slice(n)?;
        if code >= 0 {
            if let Some(t) = &self.codec.inner.by_code[code as usize] {
                return t.unpack(code, &data);
            }
        }
        Ok(Value::Ext(code, data))
    }

    /// One value, without recursion: containers in progress are kept on an explicit stack
    /// (at most [`MAX_DEPTH`] deep), so hostile nesting cannot exhaust the thread's stack.
    fn value(&mut self) -> Result<Value, CodecError> {
        self.value_at(0)
    }

    /// Counts one more value against [`MAX_VALUES`].
    fn count(&mut self) -> Result<(), CodecError> {
        self.left = self.left.checked_sub(1).ok_or_else(|| {
            CodecError::new(format!("more than {MAX_VALUES} values in one message"))
        })?;
        Ok(())
    }

    /// One value nested `depth` containers deep.
    fn value_at(&mut self, depth: usize) -> Result<Value, CodecError> {
        // The most common values in one step.
        if let Some(&b) = self.data.get(self.pos) {
            self.count()?;
            let v = match b {
                0x00..=0x7f => Value::Int(b as i128),
                0xe0..=0xff => Value::Int(b as i8 as i128),
                0xc0 => Value::Nil,
                0xc2 => Value::Bool(false),
                0xc3 => Value::Bool(true),
                _ => return self.value_slow(depth),
            };
            self.pos += 1;
            return Ok(v);
        }
        self.value_slow(depth)
    }

    fn value_slow(&mut self, depth: usize) -> Result<Value, CodecError> {
        let mut stack: Vec<Open> = Vec::new();
        let mut first = true;
        loop {
            // The fast path of `value_at` counted the first value already.
            if !std::mem::take(&mut first) || self.data.get(self.pos).is_none() {
                self.count()?;
            }
            let mut done = match self.item()? {
                Item::Done(v) => v,
                // Empty containers count too, as in msgpack-python.
                Item::Array(_) | Item::Map(_) if depth + stack.len() >= MAX_DEPTH => {
                    return Err(CodecError::new("msgpack nested too deeply"));
                }
                Item::Array(0) => Value::Array(Vec::new()),
                Item::Map(0) => Value::Map(Vec::new()),
                Item::Array(n) => {
                    // Every item takes at least one byte: never reserve more than the
                    // input holds.
                    let cap = n.min(self.data.len() - self.pos);
                    stack.push(Open::Array(Vec::with_capacity(cap), n));
                    continue;
                }
                Item::Map(n) => {
                    let cap = n.min((self.data.len() - self.pos) / 2);
                    stack.push(Open::Map(Vec::with_capacity(cap), None, n));
                    continue;
                }
            };
            // Hand the finished value to the innermost open container, closing every
            // container it completes.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(done);
                };
                let complete = match top {
                    Open::Array(items, n) => {
                        items.push(done);
                        items.len() == *n
                    }
                    Open::Map(pairs, key, n) => match key.take() {
                        None => {
                            *key = Some(done);
                            false
                        }
                        Some(k) => {
                            pairs.push((k, done));
                            pairs.len() == *n
                        }
                    },
                };
                if !complete {
                    break;
                }
                done = match stack.pop().expect("non-empty") {
                    Open::Array(items, _) => Value::Array(items),
                    Open::Map(pairs, _, _) => Value::Map(pairs),
                };
            }
        }
    }

    /// One scalar, or the header of a container.
    fn item(&mut self) -> Result<Item, CodecError> {
        let at = self.pos;
        let b = self.u8()?;
        Ok(Item::Done(match b {
            0x00..=0x7f => Value::Int(b as i128),
            0x80..=0x8f => return Ok(Item::Map((b & 0x0f) as usize)),
            0x90..=0x9f => return Ok(Item::Array((b & 0x0f) as usize)),
            0xa0..=0xbf => self.str((b & 0x1f) as usize)?,
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = self.len8()?;
                Value::Bin(self.slice(n)?)
            }
            0xc5 => {
                let n = self.len16()?;
                Value::Bin(self.slice(n)?)
            }
            0xc6 => {
                let n = self.len32()?;
                Value::Bin(self.slice(n)?)
            }
            0xc7 => {
                let n = self.len8()?;
                self.ext(n)?
            }
            0xc8 => {
                let n = self.len16()?;
                self.ext(n)?
            }
            0xc9 => {
                let n = self.len32()?;
                self.ext(n)?
            }
            0xca => Value::Float(f32::from_be_bytes(self.be()?) as f64),
            0xcb => Value::Float(f64::from_be_bytes(self.be()?)),
            0xcc => Value::Int(self.u8()? as i128),
            0xcd => Value::Int(u16::from_be_bytes(self.be()?) as i128),
            0xce => Value::Int(u32::from_be_bytes(self.be()?) as i128),
            0xcf => Value::Int(u64::from_be_bytes(self.be()?) as i128),
            0xd0 => Value::Int(self.u8()? as i8 as i128),
            0xd1 => Value::Int(i16::from_be_bytes(self.be()?) as i128),
            0xd2 => Value::Int(i32::from_be_bytes(self.be()?) as i128),
            0xd3 => Value::Int(i64::from_be_bytes(self.be()?) as i128),
            0xd4 => self.ext(1)?,
            0xd5 => self.ext(2)?,
            0xd6 => self.ext(4)?,
            0xd7 => self.ext(8)?,
            0xd8 => self.ext(16)?,
            0xd9 => {
                let n = self.len8()?;
                self.str(n)?
            }
            0xda => {
                let n = self.len16()?;
                self.str(n)?
            }
            0xdb => {
                let n = self.len32()?;
                self.str(n)?
            }
            0xdc => return Ok(Item::Array(self.len16()?)),
            0xdd => return Ok(Item::Array(self.len32()?)),
            0xde => return Ok(Item::Map(self.len16()?)),
            0xdf => return Ok(Item::Map(self.len32()?)),
            0xe0..=0xff => Value::Int(b as i8 as i128),
            0xc1 => {
                return Err(CodecError::new(format!(
                    "msgpack byte 0xc1 (never used) at byte {at}"
                )))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An array (array32) of `n` nils, wrapped in `outer` one-item fixarrays.
    fn nils(n: usize, outer: usize) -> Bytes {
        let mut v = vec![0x91; outer];
        v.push(0xdd);
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v.resize(v.len() + n, 0xc0);
        Bytes::from(v)
    }

    #[test]
    fn max_values_counts_every_value_on_both_paths() {
        let c = Codec::plain();
        // The array itself counts: n nils are n + 1 values.
        assert!(c.unpack(&nils(MAX_VALUES - 1, 0)).is_ok());
        let e = c.unpack(&nils(MAX_VALUES, 0)).unwrap_err();
        assert!(e.to_string().contains("values in one message"), "{e}");
        // Positional arguments: the outer array counts too.
        assert!(c.unpack_array(&nils(MAX_VALUES - 2, 1)).is_ok());
        assert!(c.unpack_array(&nils(MAX_VALUES - 1, 1)).is_err());
        // Small integers take the fast path of the argument list.
        let mut v = vec![0xdd];
        v.extend_from_slice(&(MAX_VALUES as u32).to_be_bytes());
        v.resize(v.len() + MAX_VALUES, 0x01);
        assert!(c.unpack_array(&Bytes::from(v)).is_err());
    }
}
