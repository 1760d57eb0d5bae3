//! Exceptions across the wire, the client's error table, and the RPC error type.
//!
//! A handler fails with an [`Exception`]: a Python exception type name (`module.qualname`),
//! its `args` and its `repr`, exactly what the server sends. A Python client raises the
//! matching Python exception (`builtins.ValueError` → `ValueError`); a Rust client turns it
//! into an [`Error`] through its [`ErrorTable`]: the builtin and asyncio names become
//! [`Error::Builtin`], `aiozmq.rpc.base.NotFoundError` [`Error::NotFound`],
//! `aiozmq.rpc.base.ParametersError` [`Error::Parameters`], entries the user adds anything
//! they construct (usually [`Error::Custom`]), and unknown names [`Error::Generic`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use super::codec::CodecError;
use super::pyrepr::{repr_exception, repr_str};
use super::value::{ConvertError, IntoValue, Value};

/// `aiozmq.rpc.base.NotFoundError`'s full name.
pub const NOT_FOUND_ERROR: &str = "aiozmq.rpc.base.NotFoundError";
/// `aiozmq.rpc.base.ParametersError`'s full name.
pub const PARAMETERS_ERROR: &str = "aiozmq.rpc.base.ParametersError";
/// The name a server sends when its handler timeout expires (in every Python client's
/// default error table).
pub const TIMEOUT_ERROR: &str = "asyncio.TimeoutError";

/// A Python exception as it travels in an error reply: `[exc_type, exc_args, exc_repr]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    exc_type: String,
    args: Vec<Value>,
    repr: String,
}

impl Exception {
    /// An exception of type `exc_type` (`"module.QualName"`, e.g. `"builtins.ValueError"`
    /// or `"myapp.errors.Conflict"`) with `args`; its repr is Python's,
    /// `QualName(arg1, ...)`.
    pub fn new(exc_type: impl Into<String>, args: Vec<Value>) -> Exception {
        let exc_type = exc_type.into();
        let repr = repr_exception(short_name(&exc_type), &args);
        Exception {
            exc_type,
            args,
            repr,
        }
    }

    /// An exception with an explicit repr (as received from a peer).
    pub fn with_repr(exc_type: impl Into<String>, args: Vec<Value>, repr: String) -> Exception {
        Exception {
            exc_type: exc_type.into(),
            args,
            repr,
        }
    }

    /// `builtins.<name>(message)`: `Exception::builtin("RuntimeError", "boom")`.
    pub fn builtin(name: &str, message: impl Into<String>) -> Exception {
        Exception::new(format!("builtins.{name}"), vec![Value::Str(message.into())])
    }

    /// `builtins.ValueError(message)`.
    pub fn value_error(message: impl Into<String>) -> Exception {
        Exception::builtin("ValueError", message)
    }

    /// `builtins.TypeError(message)`.
    pub fn type_error(message: impl Into<String>) -> Exception {
        Exception::builtin("TypeError", message)
    }

    /// `builtins.RuntimeError(message)`.
    pub fn runtime_error(message: impl Into<String>) -> Exception {
        Exception::builtin("RuntimeError", message)
    }

    /// `builtins.KeyError(key)`.
    pub fn key_error(key: impl IntoValue) -> Exception {
        let key = key
            .into_value()
            .unwrap_or_else(|e| Value::Str(e.to_string()));
        Exception::new("builtins.KeyError", vec![key])
    }

    /// `aiozmq.rpc.base.NotFoundError(name)`.
    pub fn not_found(name: &str) -> Exception {
        Exception::new(NOT_FOUND_ERROR, vec![Value::Str(name.to_owned())])
    }

    /// `aiozmq.rpc.base.ParametersError(message)`.
    pub fn parameters(message: impl Into<String>) -> Exception {
        Exception::new(PARAMETERS_ERROR, vec![Value::Str(message.into())])
    }

    /// The `ParametersError` of an argument list that does not bind, as Python words it:
    /// `ParametersError("TypeError('too many positional arguments')")`.
    pub fn bind_error(message: &str) -> Exception {
        Exception::parameters(repr_exception("TypeError", &[Value::Str(message.into())]))
    }

    /// The `ParametersError` of an argument that fails its conversion or validator:
    /// `ParametersError("Invalid value for argument 'a': TypeError('expected int, got str')")`.
    pub fn invalid_argument(name: &str, error_repr: &str) -> Exception {
        Exception::parameters(format!(
            "Invalid value for argument {}: {error_repr}",
            repr_str(name)
        ))
    }

    /// `asyncio.TimeoutError()`: what a server sends when its handler timeout expires.
    pub fn timeout() -> Exception {
        Exception::new(TIMEOUT_ERROR, Vec::new())
    }

    /// The full type name, `module.QualName`.
    pub fn exc_type(&self) -> &str {
        &self.exc_type
    }

    /// The class name without its module: `ValueError`.
    pub fn name(&self) -> &str {
        short_name(&self.exc_type)
    }

    /// The exception's `args`.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// Its `repr`, as the raising side wrote it.
    pub fn repr(&self) -> &str {
        &self.repr
    }

    /// The first argument as text (the usual message), if it is text.
    pub fn message(&self) -> Option<&str> {
        self.args.first().and_then(Value::as_str)
    }

    /// The wire form `[exc_type, exc_args, exc_repr]`.
    pub fn to_value(&self) -> Value {
        Value::Array(vec![
            Value::Str(self.exc_type.clone()),
            Value::Array(self.args.clone()),
            Value::Str(self.repr.clone()),
        ])
    }

    /// Reads the wire form; `None` when `v` is not `[str, array, str]`.
    pub fn from_value(v: Value) -> Option<Exception> {
        let Value::Array(items) = v else { return None };
        let mut it = items.into_iter();
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(Value::Str(t)), Some(Value::Array(args)), Some(Value::Str(repr)), None) => {
                Some(Exception::with_repr(t, args, repr))
            }
            _ => None,
        }
    }
}

fn short_name(exc_type: &str) -> &str {
    exc_type.rsplit('.').next().unwrap_or(exc_type)
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.repr, self.exc_type)
    }
}

impl std::error::Error for Exception {}

impl From<ConvertError> for Exception {
    fn from(e: ConvertError) -> Exception {
        Exception::builtin(e.exc_type(), e.message())
    }
}

impl From<std::io::Error> for Exception {
    /// `builtins.OSError(errno, strerror)` (or `OSError(message)` without an errno).
    fn from(e: std::io::Error) -> Exception {
        match e.raw_os_error() {
            Some(errno) => Exception::new(
                "builtins.OSError",
                vec![Value::Int(errno as i128), Value::Str(e.to_string())],
            ),
            None => Exception::builtin("OSError", e.to_string()),
        }
    }
}

macro_rules! value_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Exception {
            /// `builtins.ValueError(message)`.
            fn from(e: $t) -> Exception {
                Exception::value_error(e.to_string())
            }
        }
    )*};
}

value_errors!(
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::num::TryFromIntError,
    std::str::ParseBoolError,
    std::string::FromUtf8Error,
    std::str::Utf8Error,
    chrono::ParseError
);

impl From<crate::Error> for Exception {
    /// `builtins.OSError(errno, message)` with libzmq's errno.
    fn from(e: crate::Error) -> Exception {
        Exception::new(
            "builtins.OSError",
            vec![
                Value::Int(e.kind().errno() as i128),
                Value::Str(e.to_string()),
            ],
        )
    }
}

/// What an RPC operation failed with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server has no such method (`aiozmq.rpc.base.NotFoundError`).
    NotFound(Exception),
    /// The arguments did not bind to the method, or failed validation
    /// (`aiozmq.rpc.base.ParametersError`).
    Parameters(Exception),
    /// The method raised a builtin or asyncio exception (`ValueError`, `KeyError`, ...):
    /// see [`Exception::name`].
    Builtin(Exception),
    /// Built by an entry of the client's error table (a user error type; see
    /// [`Error::downcast_ref`]).
    Custom(Arc<dyn std::error::Error + Send + Sync>),
    /// The method raised an exception the error table does not know (`GenericError`).
    Generic(Exception),
    /// No reply within the call's timeout (`asyncio.TimeoutError` on the caller's side).
    Timeout,
    /// The client or service has been closed (`ServiceClosedError`); pending calls fail with
    /// it when the client closes.
    ServiceClosed,
    /// An argument could not be converted or packed (Python's `TypeError` while packing).
    Encode(String),
    /// A reply could not be unpacked, or its value does not convert to the requested type.
    Decode(String),
    /// The socket failed.
    Socket(crate::Error),
    /// The call was not made: this many calls of the client already wait for their reply
    /// (its [`max_pending_calls`](super::ConnectRpc::max_pending_calls)).
    TooManyPendingCalls(usize),
}

impl Error {
    /// The remote exception behind this error, for the kinds that carry one.
    pub fn exception(&self) -> Option<&Exception> {
        match self {
            Error::NotFound(e) | Error::Parameters(e) | Error::Builtin(e) | Error::Generic(e) => {
                Some(e)
            }
            _ => None,
        }
    }

    /// The user error built by the error table, if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            Error::Custom(e) => e.downcast_ref(),
            _ => None,
        }
    }

    /// A custom error for an error-table entry.
    pub fn custom(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Custom(Arc::new(e))
    }

    /// True for the caller's own timeout and for a remote `TimeoutError`.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout => true,
            Error::Builtin(e) => e.name() == "TimeoutError",
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(e) => write!(f, "remote method not found: {}", e.repr()),
            Error::Parameters(e) => write!(f, "bad parameters: {}", e.repr()),
            Error::Builtin(e) => write!(f, "remote exception: {}", e.repr()),
            Error::Custom(e) => write!(f, "remote exception: {e}"),
            Error::Generic(e) => {
                write!(f, "remote exception {}: {}", e.exc_type(), e.repr())
            }
            Error::Timeout => f.write_str("RPC call timed out"),
            Error::ServiceClosed => f.write_str("RPC service closed"),
            Error::Encode(m) => write!(f, "cannot encode the call: {m}"),
            Error::Decode(m) => write!(f, "cannot decode the reply: {m}"),
            Error::Socket(e) => write!(f, "socket error: {e}"),
            Error::TooManyPendingCalls(n) => write!(
                f,
                "call refused: {n} calls already wait for their reply (the client's limit)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Custom(e) => Some(&**e),
            Error::Socket(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Error {
        if e.kind() == crate::ErrorKind::Closed {
            Error::ServiceClosed
        } else {
            Error::Socket(e)
        }
    }
}

impl From<CodecError> for Error {
    fn from(e: CodecError) -> Error {
        Error::Encode(e.to_string())
    }
}

type Translate = dyn Fn(&Exception) -> Error + Send + Sync;

/// The client's error table: exception type names to error constructors (Python's
/// `error_table`). User entries are searched first, then the defaults: every exception
/// class of Python's `builtins` and `asyncio` ([`Error::Builtin`]) and
/// `aiozmq.rpc.base.NotFoundError`/`ParametersError`; anything else is
/// [`Error::Generic`].
///
/// ```
/// use aiozmq::rpc::{Error, ErrorTable};
/// #[derive(Debug)]
/// struct Conflict(String);
/// impl std::fmt::Display for Conflict {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) }
/// }
/// impl std::error::Error for Conflict {}
/// let table = ErrorTable::new().with("myapp.Conflict", |exc| {
///     Error::custom(Conflict(exc.message().unwrap_or_default().to_owned()))
/// });
/// ```
#[derive(Clone, Default)]
pub struct ErrorTable {
    entries: HashMap<String, Arc<Translate>>,
}

impl fmt::Debug for ErrorTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.entries.keys()).finish()
    }
}

impl ErrorTable {
    /// A table with only the defaults.
    pub fn new() -> ErrorTable {
        ErrorTable::default()
    }

    /// Maps `exc_type` to `translate`, taking precedence over the defaults.
    pub fn insert<F>(&mut self, exc_type: impl Into<String>, translate: F) -> &mut ErrorTable
    where
        F: Fn(&Exception) -> Error + Send + Sync + 'static,
    {
        self.entries.insert(exc_type.into(), Arc::new(translate));
        self
    }

    /// [`insert`](Self::insert), by value.
    pub fn with<F>(mut self, exc_type: impl Into<String>, translate: F) -> ErrorTable
    where
        F: Fn(&Exception) -> Error + Send + Sync + 'static,
    {
        self.insert(exc_type, translate);
        self
    }

    /// The error a client raises for a remote exception.
    pub fn translate(&self, exc: Exception) -> Error {
        if let Some(t) = self.entries.get(exc.exc_type()) {
            return t(&exc);
        }
        default_translation(exc)
    }
}

/// The default translation of a remote exception.
pub fn default_translation(exc: Exception) -> Error {
    match exc.exc_type() {
        NOT_FOUND_ERROR => Error::NotFound(exc),
        PARAMETERS_ERROR => Error::Parameters(exc),
        t if is_default_exception(t) => Error::Builtin(exc),
        _ => Error::Generic(exc),
    }
}

/// True for the names in Python aiozmq's default error table: `builtins.X` and
/// `asyncio.X` for every exception class `X` of those modules.
pub fn is_default_exception(exc_type: &str) -> bool {
    static NAMES: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            BUILTIN_EXCEPTIONS
                .iter()
                .map(|n| format!("builtins.{n}"))
                .chain(ASYNCIO_EXCEPTIONS.iter().map(|n| format!("asyncio.{n}")))
                .collect()
        })
        .contains(exc_type)
}

/// The `Exception` subclasses in Python's `builtins` (3.8 to 3.13).
pub const BUILTIN_EXCEPTIONS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "PythonFinalizationError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
];

/// The `Exception` subclasses in Python's `asyncio` (3.8 to 3.13).
pub const ASYNCIO_EXCEPTIONS: &[&str] = &[
    "BrokenBarrierError",
    "IncompleteReadError",
    "InvalidStateError",
    "LimitOverrunError",
    "QueueEmpty",
    "QueueFull",
    "QueueShutDown",
    "SendfileNotAvailableError",
    "TimeoutError",
];
