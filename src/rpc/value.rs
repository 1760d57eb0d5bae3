//! RPC values: what a Python aiozmq peer packs and unpacks, and the conversions between
//! them and Rust types.
//!
//! [`Value`] is the dynamic value of a call argument or result, modelled on what Python
//! sees after unpacking: msgpack arrays are tuples ([`Value::Array`]), `str` is text
//! ([`Value::Str`]), `bytes` stays bytes ([`Value::Bin`]); the predefined translators turn
//! ext codes 123–127 into date/time values, user translators into [`Value::Object`]s, and
//! any other ext code stays a raw [`Value::Ext`].
//!
//! [`IntoValue`] and [`FromValue`] convert Rust types: numbers, `bool`, `String`/`&str`,
//! [`Bytes`] and `&[u8]` (msgpack bin), `Vec<T>` and tuples (arrays), `Option<T>` (`None` is
//! nil), `HashMap`/`BTreeMap` (maps), chrono's date/time types, [`rmpv::Value`] (raw msgpack,
//! ext codes untranslated), and any serde type through the [`Serde`] wrapper. Implement
//! them for your own types, or use [`serde_value!`](crate::rpc_serde_value) (through serde)
//! or [`object_value!`](crate::rpc_object_value) (a translated ext type).

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

use super::datetime::{PyDateTime, PyTime, PyTimezone};

/// A value carried by an RPC call: an argument, a keyword argument, a result, or an
/// exception's argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// msgpack nil, Python `None`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer: msgpack's range is -2⁶³ to 2⁶⁴-1 (encoding anything else fails).
    Int(i128),
    /// A float (msgpack float 32 or 64; always sent as float 64, as Python does).
    Float(f64),
    /// Text (msgpack str, Python `str`).
    Str(String),
    /// Binary data (msgpack bin, Python `bytes`).
    Bin(Bytes),
    /// An array (Python receives a tuple, sends a tuple or list).
    Array(Vec<Value>),
    /// A map, in wire order.
    Map(Vec<(Value, Value)>),
    /// An ext value whose code has no translator: code and payload, untouched.
    Ext(i8, Bytes),
    /// `datetime.date` (ext 127).
    Date(NaiveDate),
    /// `datetime.datetime` (ext 126).
    DateTime(PyDateTime),
    /// `datetime.time` (ext 125).
    Time(PyTime),
    /// `datetime.timedelta` (ext 124).
    TimeDelta(TimeDelta),
    /// `datetime.timezone` (ext 123).
    Timezone(PyTimezone),
    /// A value of a user type, packed and unpacked by a translator of the table.
    Object(Object),
}

impl Value {
    /// The text of a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer of a [`Value::Int`] that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => i64::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The items of a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// True for [`Value::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Converts into a Rust type.
    pub fn extract<T: FromValue>(self) -> Result<T, ConvertError> {
        T::from_value(self)
    }

    /// Python's `repr()` of the value.
    pub fn python_repr(&self) -> String {
        super::pyrepr::repr_value(self)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i as i128)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

/// The Python type name of what `v` unpacks to, for error messages.
pub fn python_type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "NoneType",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Bin(_) => "bytes",
        Value::Array(_) => "tuple",
        Value::Map(_) => "dict",
        Value::Ext(..) => "ExtType",
        Value::Date(_) => "date",
        Value::DateTime(_) => "datetime",
        Value::Time(_) => "time",
        Value::TimeDelta(_) => "timedelta",
        Value::Timezone(_) => "timezone",
        Value::Object(o) => o.type_name(),
    }
}

/// A value of a user type carried through a translator of the
/// [`TranslationTable`](super::TranslationTable) (Python's translated class instances).
#[derive(Clone)]
pub struct Object {
    value: Arc<dyn ObjectValue>,
}

/// What [`Object`] needs of a wrapped value.
trait ObjectValue: Any + Send + Sync {
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn eq_any(&self, other: &dyn Any) -> bool;
    fn fmt_debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
    fn type_name(&self) -> &'static str;
}

impl<T: Any + Send + Sync + PartialEq + fmt::Debug> ObjectValue for T {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
    fn eq_any(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>().is_some_and(|o| self == o)
    }
    fn fmt_debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
    fn type_name(&self) -> &'static str {
        let full = std::any::type_name::<T>();
        full.rsplit("::").next().unwrap_or(full)
    }
}

impl Object {
    /// Wraps a value.
    pub fn new<T: Any + Send + Sync + PartialEq + fmt::Debug>(value: T) -> Object {
        Object {
            value: Arc::new(value),
        }
    }

    /// The wrapped value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.value.as_any().downcast_ref()
    }

    /// True when the wrapped value is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.value.as_any().is::<T>()
    }

    /// The wrapped value's type name (last path segment).
    pub fn type_name(&self) -> &'static str {
        self.value.type_name()
    }

    /// The wrapped value as `&dyn Any`.
    pub fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self.value.as_any()
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Object) -> bool {
        self.value.eq_any(other.value.as_any())
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt_debug(f)
    }
}

/// A value that does not convert to or from the wanted type. Its Python form
/// ([`python_repr`](Self::python_repr)) is what a `ParametersError` quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError {
    exc_type: &'static str,
    message: String,
}

impl ConvertError {
    /// A mismatch of types (Python `TypeError`).
    pub fn type_error(message: impl Into<String>) -> ConvertError {
        ConvertError {
            exc_type: "TypeError",
            message: message.into(),
        }
    }

    /// A right type with a wrong value (Python `ValueError`).
    pub fn value_error(message: impl Into<String>) -> ConvertError {
        ConvertError {
            exc_type: "ValueError",
            message: message.into(),
        }
    }

    /// "expected X, got Y" for `v`.
    pub fn expected(what: &str, v: &Value) -> ConvertError {
        ConvertError::type_error(format!("expected {what}, got {}", python_type_name(v)))
    }

    /// The Python exception name (`TypeError` or `ValueError`).
    pub fn exc_type(&self) -> &'static str {
        self.exc_type
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// As Python would print it: `TypeError('expected int, got str')`.
    pub fn python_repr(&self) -> String {
        super::pyrepr::repr_exception(self.exc_type, &[Value::Str(self.message.clone())])
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.exc_type, self.message)
    }
}

impl std::error::Error for ConvertError {}

/// Converts a Rust value into a [`Value`].
pub trait IntoValue {
    /// The conversion; fails only for values that have no msgpack form (a [`Serde`] value
    /// whose `Serialize` fails, an integer beyond msgpack's range...).
    fn into_value(self) -> Result<Value, ConvertError>;
}

/// Builds a Rust value from a [`Value`].
pub trait FromValue: Sized {
    /// The conversion.
    fn from_value(v: Value) -> Result<Self, ConvertError>;
}

impl IntoValue for Value {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(self)
    }
}

impl IntoValue for &Value {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(self.clone())
    }
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Value, ConvertError> {
        Ok(v)
    }
}

impl IntoValue for () {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Nil)
    }
}

impl FromValue for () {
    fn from_value(v: Value) -> Result<(), ConvertError> {
        match v {
            Value::Nil => Ok(()),
            other => Err(ConvertError::expected("None", &other)),
        }
    }
}

/// `IntoValue`/`FromValue` for a type that is exactly one `Value` variant.
macro_rules! variant_impls {
    ($t:ty, $variant:ident, $name:literal) => {
        impl IntoValue for $t {
            fn into_value(self) -> Result<Value, ConvertError> {
                Ok(Value::$variant(self))
            }
        }

        impl FromValue for $t {
            fn from_value(v: Value) -> Result<$t, ConvertError> {
                match v {
                    Value::$variant(x) => Ok(x),
                    other => Err(ConvertError::expected($name, &other)),
                }
            }
        }
    };
}

variant_impls!(bool, Bool, "bool");

macro_rules! int_impls {
    ($($t:ty),*) => {$(
        impl IntoValue for $t {
            fn into_value(self) -> Result<Value, ConvertError> {
                Ok(Value::Int(self as i128))
            }
        }
        impl FromValue for $t {
            fn from_value(v: Value) -> Result<$t, ConvertError> {
                match v {
                    Value::Int(i) => <$t>::try_from(i).map_err(|_| {
                        ConvertError::value_error(format!(
                            "{i} is out of range for {}", stringify!($t)
                        ))
                    }),
                    other => Err(ConvertError::expected("int", &other)),
                }
            }
        }
    )*};
}

int_impls!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, usize);

impl IntoValue for f64 {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Float(self))
    }
}

impl FromValue for f64 {
    /// Floats, and integers (Python code passes `1` for a float readily).
    fn from_value(v: Value) -> Result<f64, ConvertError> {
        match v {
            Value::Float(f) => Ok(f),
            Value::Int(i) => Ok(i as f64),
            other => Err(ConvertError::expected("float", &other)),
        }
    }
}

impl IntoValue for f32 {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Float(self as f64))
    }
}

impl FromValue for f32 {
    fn from_value(v: Value) -> Result<f32, ConvertError> {
        f64::from_value(v).map(|f| f as f32)
    }
}

impl IntoValue for String {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Str(self))
    }
}

impl IntoValue for &String {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Str(self.clone()))
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Str(self.to_owned()))
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<String, ConvertError> {
        match v {
            Value::Str(s) => Ok(s),
            other => Err(ConvertError::expected("str", &other)),
        }
    }
}

impl IntoValue for Bytes {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Bin(self))
    }
}

/// `&[u8]` is Python `bytes` (msgpack bin); a `Vec<u8>` is an array of ints like any `Vec`.
impl IntoValue for &[u8] {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Bin(Bytes::copy_from_slice(self)))
    }
}

impl FromValue for Bytes {
    fn from_value(v: Value) -> Result<Bytes, ConvertError> {
        match v {
            Value::Bin(b) => Ok(b),
            other => Err(ConvertError::expected("bytes", &other)),
        }
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Result<Value, ConvertError> {
        match self {
            None => Ok(Value::Nil),
            Some(t) => t.into_value(),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Option<T>, ConvertError> {
        match v {
            Value::Nil => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Result<Value, ConvertError> {
        self.into_iter()
            .map(IntoValue::into_value)
            .collect::<Result<_, _>>()
            .map(Value::Array)
    }
}

impl<T: IntoValue, const N: usize> IntoValue for [T; N] {
    fn into_value(self) -> Result<Value, ConvertError> {
        self.into_iter()
            .map(IntoValue::into_value)
            .collect::<Result<_, _>>()
            .map(Value::Array)
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(v: Value) -> Result<Vec<T>, ConvertError> {
        match v {
            Value::Array(items) => items.into_iter().map(T::from_value).collect(),
            other => Err(ConvertError::expected("tuple", &other)),
        }
    }
}

impl<K: IntoValue, V: IntoValue> IntoValue for HashMap<K, V> {
    fn into_value(self) -> Result<Value, ConvertError> {
        self.into_iter()
            .map(|(k, v)| Ok((k.into_value()?, v.into_value()?)))
            .collect::<Result<_, _>>()
            .map(Value::Map)
    }
}

impl<K: FromValue + Eq + Hash, V: FromValue> FromValue for HashMap<K, V> {
    fn from_value(v: Value) -> Result<HashMap<K, V>, ConvertError> {
        match v {
            Value::Map(pairs) => pairs
                .into_iter()
                .map(|(k, v)| Ok((K::from_value(k)?, V::from_value(v)?)))
                .collect(),
            other => Err(ConvertError::expected("dict", &other)),
        }
    }
}

impl<K: IntoValue, V: IntoValue> IntoValue for BTreeMap<K, V> {
    fn into_value(self) -> Result<Value, ConvertError> {
        self.into_iter()
            .map(|(k, v)| Ok((k.into_value()?, v.into_value()?)))
            .collect::<Result<_, _>>()
            .map(Value::Map)
    }
}

impl<K: FromValue + Ord, V: FromValue> FromValue for BTreeMap<K, V> {
    fn from_value(v: Value) -> Result<BTreeMap<K, V>, ConvertError> {
        match v {
            Value::Map(pairs) => pairs
                .into_iter()
                .map(|(k, v)| Ok((K::from_value(k)?, V::from_value(v)?)))
                .collect(),
            other => Err(ConvertError::expected("dict", &other)),
        }
    }
}

macro_rules! tuple_impls {
    ($( ($len:expr; $($name:ident),+) )*) => {$(
        impl<$($name: IntoValue),+> IntoValue for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_value(self) -> Result<Value, ConvertError> {
                let ($($name,)+) = self;
                Ok(Value::Array(vec![$($name.into_value()?),+]))
            }
        }
        impl<$($name: FromValue),+> FromValue for ($($name,)+) {
            fn from_value(v: Value) -> Result<Self, ConvertError> {
                match v {
                    Value::Array(items) if items.len() == $len => {
                        let mut it = items.into_iter();
                        Ok(($($name::from_value(it.next().expect("length checked"))?,)+))
                    }
                    Value::Array(items) => Err(ConvertError::value_error(format!(
                        "expected a tuple of {} items, got {}", $len, items.len()
                    ))),
                    other => Err(ConvertError::expected("tuple", &other)),
                }
            }
        }
    )*};
}

tuple_impls! {
    (1; A)
    (2; A, B)
    (3; A, B, C)
    (4; A, B, C, D)
    (5; A, B, C, D, E)
    (6; A, B, C, D, E, F)
    (7; A, B, C, D, E, F, G)
    (8; A, B, C, D, E, F, G, H)
    (9; A, B, C, D, E, F, G, H, I)
    (10; A, B, C, D, E, F, G, H, I, J)
    (11; A, B, C, D, E, F, G, H, I, J, K)
    (12; A, B, C, D, E, F, G, H, I, J, K, L)
}

// ---- date and time ----

variant_impls!(NaiveDate, Date, "date");

variant_impls!(PyDateTime, DateTime, "datetime");

impl IntoValue for NaiveDateTime {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::DateTime(self.into()))
    }
}

impl FromValue for NaiveDateTime {
    /// A naive `datetime` (an aware one is a `ValueError`).
    fn from_value(v: Value) -> Result<NaiveDateTime, ConvertError> {
        let d = PyDateTime::from_value(v)?;
        match d.tz {
            None => Ok(d.naive),
            Some(_) => Err(ConvertError::value_error(
                "expected a naive datetime, got an aware one",
            )),
        }
    }
}

impl IntoValue for DateTime<FixedOffset> {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::DateTime(self.into()))
    }
}

impl FromValue for DateTime<FixedOffset> {
    /// An aware `datetime` with a whole-second offset.
    fn from_value(v: Value) -> Result<DateTime<FixedOffset>, ConvertError> {
        let d = PyDateTime::from_value(v)?;
        if d.tz.is_none() {
            return Err(ConvertError::value_error(
                "expected an aware datetime, got a naive one",
            ));
        }
        d.to_fixed()
            .ok_or_else(|| ConvertError::value_error("timezone offset has sub-second digits"))
    }
}

impl IntoValue for DateTime<Utc> {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::DateTime(self.into()))
    }
}

impl FromValue for DateTime<Utc> {
    /// An aware `datetime`, converted to UTC.
    fn from_value(v: Value) -> Result<DateTime<Utc>, ConvertError> {
        DateTime::<FixedOffset>::from_value(v).map(|d| d.with_timezone(&Utc))
    }
}

variant_impls!(PyTime, Time, "time");

impl IntoValue for NaiveTime {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Time(self.into()))
    }
}

impl FromValue for NaiveTime {
    /// A naive `time`.
    fn from_value(v: Value) -> Result<NaiveTime, ConvertError> {
        let t = PyTime::from_value(v)?;
        match t.tz {
            None => Ok(t.naive),
            Some(_) => Err(ConvertError::value_error(
                "expected a naive time, got an aware one",
            )),
        }
    }
}

variant_impls!(TimeDelta, TimeDelta, "timedelta");

variant_impls!(PyTimezone, Timezone, "timezone");

impl IntoValue for FixedOffset {
    fn into_value(self) -> Result<Value, ConvertError> {
        Ok(Value::Timezone(self.into()))
    }
}

impl FromValue for FixedOffset {
    fn from_value(v: Value) -> Result<FixedOffset, ConvertError> {
        PyTimezone::from_value(v)?
            .fixed_offset()
            .ok_or_else(|| ConvertError::value_error("timezone offset has sub-second digits"))
    }
}

// ---- raw msgpack ----

impl IntoValue for rmpv::Value {
    fn into_value(self) -> Result<Value, ConvertError> {
        Value::try_from(self)
    }
}

impl FromValue for rmpv::Value {
    /// The raw msgpack form: date/time values become their ext pickles again; an
    /// [`Object`] fails (its ext form needs the translation table).
    fn from_value(v: Value) -> Result<rmpv::Value, ConvertError> {
        rmpv::Value::try_from(v)
    }
}

impl TryFrom<rmpv::Value> for Value {
    type Error = ConvertError;

    /// Raw msgpack as a value; ext values stay [`Value::Ext`] (nothing is translated).
    fn try_from(v: rmpv::Value) -> Result<Value, ConvertError> {
        Ok(match v {
            rmpv::Value::Nil => Value::Nil,
            rmpv::Value::Boolean(b) => Value::Bool(b),
            rmpv::Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
                (Some(i), _) => Value::Int(i as i128),
                (None, Some(u)) => Value::Int(u as i128),
                _ => return Err(ConvertError::value_error("integer out of range")),
            },
            rmpv::Value::F32(f) => Value::Float(f as f64),
            rmpv::Value::F64(f) => Value::Float(f),
            rmpv::Value::String(s) => match s.into_str() {
                Some(s) => Value::Str(s),
                None => return Err(ConvertError::value_error("str is not valid UTF-8")),
            },
            rmpv::Value::Binary(b) => Value::Bin(b.into()),
            rmpv::Value::Array(a) => Value::Array(
                a.into_iter()
                    .map(Value::try_from)
                    .collect::<Result<_, _>>()?,
            ),
            rmpv::Value::Map(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| Ok((Value::try_from(k)?, Value::try_from(v)?)))
                    .collect::<Result<_, ConvertError>>()?,
            ),
            rmpv::Value::Ext(code, data) => Value::Ext(code, data.into()),
        })
    }
}

impl TryFrom<Value> for rmpv::Value {
    type Error = ConvertError;

    fn try_from(v: Value) -> Result<rmpv::Value, ConvertError> {
        Ok(match v {
            Value::Nil => rmpv::Value::Nil,
            Value::Bool(b) => rmpv::Value::Boolean(b),
            Value::Int(i) => {
                if let Ok(i) = i64::try_from(i) {
                    rmpv::Value::from(i)
                } else if let Ok(u) = u64::try_from(i) {
                    rmpv::Value::from(u)
                } else {
                    return Err(ConvertError::value_error(format!(
                        "{i} is outside msgpack's integer range"
                    )));
                }
            }
            Value::Float(f) => rmpv::Value::F64(f),
            Value::Str(s) => rmpv::Value::String(s.into()),
            Value::Bin(b) => rmpv::Value::Binary(b.to_vec()),
            Value::Array(a) => rmpv::Value::Array(
                a.into_iter()
                    .map(rmpv::Value::try_from)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(m) => rmpv::Value::Map(
                m.into_iter()
                    .map(|(k, v)| Ok((rmpv::Value::try_from(k)?, rmpv::Value::try_from(v)?)))
                    .collect::<Result<_, ConvertError>>()?,
            ),
            Value::Ext(code, data) => rmpv::Value::Ext(code, data.to_vec()),
            Value::Object(o) => {
                return Err(ConvertError::type_error(format!(
                    "{} needs its translator to become raw msgpack",
                    o.type_name()
                )))
            }
            dt @ (Value::Date(_)
            | Value::DateTime(_)
            | Value::Time(_)
            | Value::TimeDelta(_)
            | Value::Timezone(_)) => {
                let code = super::codec::predefined_code(&dt).expect("a datetime value");
                let data = super::pickle::encode(&dt)
                    .map_err(|e| ConvertError::value_error(e.to_string()))?;
                rmpv::Value::Ext(code, data)
            }
        })
    }
}

// ---- serde ----

/// Converts any serde type through msgpack: structs become maps keyed by field name (as a
/// Python peer would send a dict), sequences arrays, `serde_bytes` bin. Use it as a
/// parameter or result type (`Serde<Point>`), or implement the conversions for your type
/// with [`serde_value!`](crate::rpc_serde_value).
///
/// Date/time values and translated objects inside a `Serde` value are not translated
/// (take them as separate parameters, or as [`Value`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Serde<T>(pub T);

/// Serializes `t` into a [`Value`] (structs as maps).
pub fn to_value<T: serde::Serialize + ?Sized>(t: &T) -> Result<Value, ConvertError> {
    let bytes = rmp_serde::to_vec_named(t).map_err(|e| ConvertError::type_error(e.to_string()))?;
    super::codec::Codec::plain()
        .unpack(&Bytes::from(bytes))
        .map_err(|e| ConvertError::type_error(e.to_string()))
}

/// Deserializes a `T` from a [`Value`].
pub fn from_value<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ConvertError> {
    let mut buf = bytes::BytesMut::new();
    super::codec::Codec::plain()
        .pack(v, &mut buf)
        .map_err(|e| ConvertError::type_error(e.to_string()))?;
    rmp_serde::from_slice(&buf).map_err(|e| ConvertError::type_error(e.to_string()))
}

impl<T: serde::Serialize> IntoValue for Serde<T> {
    fn into_value(self) -> Result<Value, ConvertError> {
        to_value(&self.0)
    }
}

impl<T: serde::de::DeserializeOwned> FromValue for Serde<T> {
    fn from_value(v: Value) -> Result<Serde<T>, ConvertError> {
        from_value(&v).map(Serde)
    }
}

/// Implements [`IntoValue`] and [`FromValue`] for types that implement serde's
/// `Serialize` and `Deserialize`, through [`Serde`].
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Point { x: i64, y: i64 }
/// aiozmq::rpc::serde_value!(Point);
/// ```
#[macro_export]
macro_rules! rpc_serde_value {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::rpc::IntoValue for $t {
            fn into_value(self) -> ::std::result::Result<$crate::rpc::Value, $crate::rpc::ConvertError> {
                $crate::rpc::to_value(&self)
            }
        }
        impl $crate::rpc::FromValue for $t {
            fn from_value(v: $crate::rpc::Value) -> ::std::result::Result<Self, $crate::rpc::ConvertError> {
                $crate::rpc::from_value(&v)
            }
        }
    )+};
}

/// Implements [`IntoValue`] and [`FromValue`] for a type carried as a [`Value::Object`]
/// (a type with a translator in the [`TranslationTable`](super::TranslationTable)); it
/// must be `Clone + PartialEq + Debug + Send + Sync + 'static`.
///
/// ```
/// #[derive(Clone, Debug, PartialEq)]
/// struct Point { x: i64, y: i64 }
/// aiozmq::rpc::object_value!(Point);
/// ```
#[macro_export]
macro_rules! rpc_object_value {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::rpc::IntoValue for $t {
            fn into_value(self) -> ::std::result::Result<$crate::rpc::Value, $crate::rpc::ConvertError> {
                ::std::result::Result::Ok($crate::rpc::Value::Object($crate::rpc::Object::new(self)))
            }
        }
        impl $crate::rpc::FromValue for $t {
            fn from_value(v: $crate::rpc::Value) -> ::std::result::Result<Self, $crate::rpc::ConvertError> {
                match &v {
                    $crate::rpc::Value::Object(o) => match o.downcast_ref::<$t>() {
                        ::std::option::Option::Some(t) => ::std::result::Result::Ok(t.clone()),
                        ::std::option::Option::None => ::std::result::Result::Err(
                            $crate::rpc::ConvertError::expected(stringify!($t), &v)),
                    },
                    _ => ::std::result::Result::Err($crate::rpc::ConvertError::expected(stringify!($t), &v)),
                }
            }
        }
    )+};
}
