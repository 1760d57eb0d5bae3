//! Handlers: how a server resolves `ns.sub.method` to code.
//!
//! Python aiozmq resolves a name part by part with `handler[part]` (`AbstractHandler
//! .__getitem__`): each namespace part must give another handler, the last part a function
//! marked with `@aiozmq.rpc.method`. Here a [`Handler`] answers [`Handler::get`] with an
//! [`Item`]: a nested handler or a [`Method`]. Three ready-made shapes cover Python's:
//!
//! - [`AttrHandler`]: a struct whose methods are registered by name (Python's `AttrHandler`
//!   subclass with `@rpc.method`s). Rust has no run-time reflection, so registration is an
//!   explicit builder that names each method and its parameters:
//!   `AttrHandler::new(state).method("add", ["a", "b"], Calc::add)`. A sync method takes
//!   `&S`, an async one `Arc<S>` (its future must be `'static`).
//! - [`DictHandler`] (and `HashMap<String, Item>`): a map of names to methods and handlers
//!   (Python's plain `dict`), with free functions made by [`method`] and [`async_method`].
//! - your own type implementing [`Handler`] for dynamic lookup (Python's custom
//!   `__getitem__`), which may build handlers on the fly.
//!
//! A method's [`Sig`] gives its parameter names (so keyword arguments bind), defaults, and
//! optional validators for parameters and the return value (Python's annotations). Binding
//! follows `inspect.Signature.bind`, with its error messages; typed parameters convert with
//! [`FromValue`]. A call that does not bind, or whose argument fails its conversion or
//! validator, fails with `aiozmq.rpc.base.ParametersError`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::error::Exception;
use super::value::{ConvertError, FromValue, IntoValue, Value};

/// A fast hasher for the small name maps of handlers (FxHash's mixing). Attackers pick the
/// names looked up, never the keys stored, so a keyed hash buys nothing here.
#[derive(Default, Clone, Copy)]
pub(crate) struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
}

type Names = HashMap<String, Item, std::hash::BuildHasherDefault<NameHasher>>;

/// A future returned by an async method.
pub type BoxFuture = Pin<Box<dyn Future<Output = Result<Value, Exception>> + Send + 'static>>;

/// A validator for a parameter or a return value (Python's annotation callables): gets the
/// value, returns the value to use (possibly converted), or an exception.
pub type Validator = Arc<dyn Fn(Value) -> Result<Value, Exception> + Send + Sync>;

/// Resolves one part of a dotted method name (Python's `AbstractHandler.__getitem__`).
pub trait Handler: Send + Sync + 'static {
    /// The method or nested handler called `key`, if any.
    fn get(&self, key: &str) -> Option<Item>;
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn get(&self, key: &str) -> Option<Item> {
        (**self).get(key)
    }
}

impl<H: Handler + ?Sized> Handler for Box<H> {
    fn get(&self, key: &str) -> Option<Item> {
        (**self).get(key)
    }
}

impl Handler for HashMap<String, Item> {
    fn get(&self, key: &str) -> Option<Item> {
        HashMap::get(self, key).cloned()
    }
}

impl Handler for BTreeMap<String, Item> {
    fn get(&self, key: &str) -> Option<Item> {
        BTreeMap::get(self, key).cloned()
    }
}

/// What a handler resolves a name part to.
#[derive(Clone)]
pub enum Item {
    /// A nested namespace.
    Handler(Arc<dyn Handler>),
    /// A callable method.
    Method(Arc<Method>),
}

impl Item {
    /// A nested handler.
    pub fn handler(h: impl Handler) -> Item {
        Item::Handler(Arc::new(h))
    }

    /// A method.
    pub fn method(m: Method) -> Item {
        Item::Method(Arc::new(m))
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Handler(_) => f.write_str("Item::Handler(..)"),
            Item::Method(m) => write!(f, "Item::Method({m:?})"),
        }
    }
}

/// Resolves a dotted `name` from `root` (Python's `_BaseServerProtocol.dispatch`): an empty
/// name, a missing part, a namespace part that is not a handler, or a last part that is not
/// a method is `NotFoundError(name)`.
pub fn lookup(root: &dyn Handler, name: &str) -> Result<Arc<Method>, Exception> {
    let not_found = || Exception::not_found(name);
    if name.is_empty() {
        return Err(not_found());
    }
    let mut parts = name.split('.');
    let mut current: Option<Arc<dyn Handler>> = None;
    let mut part = parts.next().expect("split yields one part");
    loop {
        let handler: &dyn Handler = match &current {
            Some(h) => &**h,
            None => root,
        };
        let item = handler.get(part).ok_or_else(not_found)?;
        match (parts.next(), item) {
            (None, Item::Method(m)) => return Ok(m),
            (Some(next), Item::Handler(h)) => {
                current = Some(h);
                part = next;
            }
            _ => return Err(not_found()),
        }
    }
}

/// One parameter of a [`Sig`].
#[derive(Clone)]
struct Param {
    name: String,
    default: Option<Value>,
    validator: Option<Validator>,
}

/// A method's signature: parameter names in order, defaults, validators.
///
/// ```
/// use aiozmq::rpc::{Exception, Sig, Value};
/// let sig = Sig::new(["a", "b"])
///     .default_value("b", 2)
///     .validate("a", |v| match v {
///         Value::Int(_) | Value::Nil => Ok(v),
///         _ => Err(Exception::value_error("bad value")),
///     });
/// // The same with the macro:
/// let sig2 = aiozmq::rpc::sig!(a, b = 2);
/// ```
#[derive(Clone, Default)]
pub struct Sig {
    params: Vec<Param>,
    returns: Option<Validator>,
}

impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for p in &self.params {
            match &p.default {
                Some(d) => l.entry(&format_args!("{}={}", p.name, d.python_repr())),
                None => l.entry(&p.name),
            };
        }
        l.finish()
    }
}

impl Sig {
    /// Required positional-or-keyword parameters named `names`.
    pub fn new<I, S>(names: I) -> Sig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Sig {
            params: names
                .into_iter()
                .map(|n| Param {
                    name: n.into(),
                    default: None,
                    validator: None,
                })
                .collect(),
            returns: None,
        }
    }

    /// No parameters.
    pub fn none() -> Sig {
        Sig::default()
    }

    fn param(&mut self, name: &str) -> &mut Param {
        self.params
            .iter_mut()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("the signature has no parameter {name:?}"))
    }

    /// Makes `name` optional with a default (not passed to its validator, as in Python).
    ///
    /// # Panics
    /// When there is no such parameter or the value does not convert.
    pub fn default_value(mut self, name: &str, value: impl IntoValue) -> Sig {
        let v = value
            .into_value()
            .unwrap_or_else(|e| panic!("default of {name:?}: {e}"));
        self.param(name).default = Some(v);
        self
    }

    /// Checks (and may convert) the value passed for `name` before the method gets it;
    /// an error becomes a `ParametersError` naming the parameter.
    ///
    /// # Panics
    /// When there is no such parameter.
    pub fn validate<F>(mut self, name: &str, validator: F) -> Sig
    where
        F: Fn(Value) -> Result<Value, Exception> + Send + Sync + 'static,
    {
        self.param(name).validator = Some(Arc::new(validator));
        self
    }

    /// Checks (and may convert) the method's return value; an error is sent as the call's
    /// exception (Python's return annotation).
    pub fn returns<F>(mut self, validator: F) -> Sig
    where
        F: Fn(Value) -> Result<Value, Exception> + Send + Sync + 'static,
    {
        self.returns = Some(Arc::new(validator));
        self
    }

    /// The parameter names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| p.name.as_str())
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// True without parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Binds positional and keyword arguments to the parameters as Python's
    /// `inspect.Signature.bind` does (same checks in the same order, same messages), then
    /// applies the validators to the values passed. Returns one value per parameter.
    pub fn bind(
        &self,
        args: Vec<Value>,
        mut kwargs: Vec<(String, Value)>,
    ) -> Result<Vec<Value>, Exception> {
        // The common case: every parameter given by position, nothing to check.
        if kwargs.is_empty()
            && args.len() == self.params.len()
            && self.params.iter().all(|p| p.validator.is_none())
        {
            return Ok(args);
        }
        // A dict keeps one value per key: the last one.
        if kwargs.len() > 1 {
            let mut seen = std::collections::HashSet::new();
            let mut keep = vec![false; kwargs.len()];
            for (i, (k, _)) in kwargs.iter().enumerate().rev() {
                keep[i] = seen.insert(k.clone());
            }
            let mut i = 0;
            kwargs.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        let n_args = args.len();
        let mut bound: Vec<Option<(Value, bool)>> = vec![None; self.params.len()];
        for (i, a) in args.into_iter().enumerate() {
            let Some(p) = self.params.get(i) else {
                return Err(Exception::bind_error("too many positional arguments"));
            };
            if kwargs.iter().any(|(k, _)| *k == p.name) {
                return Err(Exception::bind_error(&format!(
                    "multiple values for argument {}",
                    super::pyrepr::repr_str(&p.name)
                )));
            }
            bound[i] = Some((a, true));
        }
        for (i, p) in self.params.iter().enumerate().skip(n_args) {
            if let Some(pos) = kwargs.iter().position(|(k, _)| *k == p.name) {
                bound[i] = Some((kwargs.swap_remove(pos).1, true));
            } else if let Some(d) = &p.default {
                bound[i] = Some((d.clone(), false));
            } else {
                return Err(Exception::bind_error(&format!(
                    "missing a required argument: {}",
                    super::pyrepr::repr_str(&p.name)
                )));
            }
        }
        if let Some((k, _)) = kwargs.first() {
            return Err(Exception::bind_error(&format!(
                "got an unexpected keyword argument {}",
                super::pyrepr::repr_str(k)
            )));
        }
        bound
            .into_iter()
            .zip(&self.params)
            .map(|(b, p)| {
                let (v, passed) = b.expect("every parameter bound");
                match (&p.validator, passed) {
                    (Some(check), true) => {
                        check(v).map_err(|e| Exception::invalid_argument(&p.name, e.repr()))
                    }
                    _ => Ok(v),
                }
            })
            .collect()
    }

    fn check_return(&self, v: Value) -> Result<Value, Exception> {
        match &self.returns {
            Some(check) => check(v),
            None => Ok(v),
        }
    }
}

impl<const N: usize> From<[&str; N]> for Sig {
    fn from(names: [&str; N]) -> Sig {
        Sig::new(names)
    }
}

impl From<&[&str]> for Sig {
    fn from(names: &[&str]) -> Sig {
        Sig::new(names.iter().copied())
    }
}

impl From<Vec<String>> for Sig {
    fn from(names: Vec<String>) -> Sig {
        Sig::new(names)
    }
}

/// Builds a [`Sig`] from Python-like parameter syntax: `sig!(a, b, c = 3)`.
#[macro_export]
macro_rules! rpc_sig {
    (@acc [$($names:expr),*] [$($defaults:tt)*]) => {
        $crate::rpc::Sig::new([$($names),*]) $($defaults)*
    };
    (@acc [$($names:expr),*] [$($defaults:tt)*] $name:ident = $default:expr $(, $($rest:tt)*)?) => {
        $crate::rpc_sig!(@acc [$($names,)* stringify!($name)]
            [$($defaults)* .default_value(stringify!($name), $default)] $($($rest)*)?)
    };
    (@acc [$($names:expr),*] [$($defaults:tt)*] $name:ident $(, $($rest:tt)*)?) => {
        $crate::rpc_sig!(@acc [$($names,)* stringify!($name)] [$($defaults)*] $($($rest)*)?)
    };
    ($($params:tt)*) => {
        $crate::rpc_sig!(@acc [] [] $($params)*)
    };
}

/// What a method returns: a value (`T: IntoValue`) or `Result<T, E>` with
/// `E: Into<Exception>`.
pub trait IntoReturn {
    /// The conversion.
    fn into_return(self) -> Result<Value, Exception>;
}

impl<T: IntoValue> IntoReturn for T {
    fn into_return(self) -> Result<Value, Exception> {
        self.into_value().map_err(Exception::from)
    }
}

impl<T: IntoValue, E: Into<Exception>> IntoReturn for Result<T, E> {
    fn into_return(self) -> Result<Value, Exception> {
        match self {
            Ok(t) => t.into_value().map_err(Exception::from),
            Err(e) => Err(e.into()),
        }
    }
}

type SyncFn = dyn Fn(Vec<Value>) -> Result<Value, Exception> + Send + Sync;
type AsyncFn = dyn Fn(Vec<Value>) -> Result<BoxFuture, Exception> + Send + Sync;
type RawSyncFn = dyn Fn(Vec<Value>, Vec<(String, Value)>) -> Result<Value, Exception> + Send + Sync;
type RawAsyncFn = dyn Fn(Vec<Value>, Vec<(String, Value)>) -> BoxFuture + Send + Sync;

enum Body {
    Sync(Box<SyncFn>),
    Async(Box<AsyncFn>),
    RawSync(Box<RawSyncFn>),
    RawAsync(Box<RawAsyncFn>),
}

/// A callable RPC method (Python's function marked with `@aiozmq.rpc.method`).
pub struct Method {
    sig: Sig,
    body: Body,
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.body {
            Body::Sync(_) => "sync",
            Body::Async(_) => "async",
            Body::RawSync(_) => "raw sync",
            Body::RawAsync(_) => "raw async",
        };
        write!(f, "Method({kind} {:?})", self.sig)
    }
}

/// The outcome of starting a call: done already (sync methods, binding errors), or a future.
pub enum Invocation {
    /// The result.
    Ready(Result<Value, Exception>),
    /// An async method's future (its return validator already applied).
    Pending(BoxFuture),
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invocation::Ready(r) => f.debug_tuple("Ready").field(r).finish(),
            Invocation::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

impl Method {
    /// A method that gets every positional and keyword argument as is, with no binding
    /// (Python's `def f(*args, **kwargs)`).
    pub fn raw<F>(f: F) -> Method
    where
        F: Fn(Vec<Value>, Vec<(String, Value)>) -> Result<Value, Exception> + Send + Sync + 'static,
    {
        Method {
            sig: Sig::none(),
            body: Body::RawSync(Box::new(f)),
        }
    }

    /// The async form of [`raw`](Self::raw).
    pub fn raw_async<F, Fut>(f: F) -> Method
    where
        F: Fn(Vec<Value>, Vec<(String, Value)>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Exception>> + Send + 'static,
    {
        Method {
            sig: Sig::none(),
            body: Body::RawAsync(Box::new(move |a, k| Box::pin(f(a, k)))),
        }
    }

    /// The signature.
    pub fn sig(&self) -> &Sig {
        &self.sig
    }

    /// True for async methods.
    pub fn is_async(&self) -> bool {
        matches!(self.body, Body::Async(_) | Body::RawAsync(_))
    }

    /// Binds the arguments and calls the method: sync methods run to completion here.
    pub fn invoke(self: &Arc<Self>, args: Vec<Value>, kwargs: Vec<(String, Value)>) -> Invocation {
        match &self.body {
            Body::RawSync(f) => Invocation::Ready(f(args, kwargs)),
            Body::RawAsync(f) => Invocation::Pending(f(args, kwargs)),
            Body::Sync(f) => Invocation::Ready(
                self.sig
                    .bind(args, kwargs)
                    .and_then(f)
                    .and_then(|v| self.sig.check_return(v)),
            ),
            Body::Async(f) => match self.sig.bind(args, kwargs).and_then(f) {
                Err(e) => Invocation::Ready(Err(e)),
                Ok(fut) if self.sig.returns.is_none() => Invocation::Pending(fut),
                Ok(fut) => {
                    let this = self.clone();
                    Invocation::Pending(Box::pin(async move {
                        let v = fut.await?;
                        this.sig.check_return(v)
                    }))
                }
            },
        }
    }

    /// Calls the method and waits for its result.
    pub async fn call(
        self: &Arc<Self>,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Value, Exception> {
        match self.invoke(args, kwargs) {
            Invocation::Ready(r) => r,
            Invocation::Pending(f) => f.await,
        }
    }
}

fn check_arity(sig: &Sig, arity: usize) {
    assert_eq!(
        sig.len(),
        arity,
        "the signature {sig:?} names {} parameters, the function takes {arity}",
        sig.len()
    );
}

/// Converts bound argument `i` for a typed parameter.
fn arg<T: FromValue>(
    it: &mut std::vec::IntoIter<Value>,
    names: &[String],
    i: &mut usize,
) -> Result<T, Exception> {
    let v = it.next().expect("bound arguments match the arity");
    let r = T::from_value(v)
        .map_err(|e: ConvertError| Exception::invalid_argument(&names[*i], &e.python_repr()));
    *i += 1;
    r
}

/// A sync function usable as a method of an [`AttrHandler<S>`]: `Fn(&S, A1, ..., An) -> R`
/// with `Ai: FromValue`, `R: IntoReturn`, for up to 10 parameters.
pub trait SyncMethod<S, Args>: Send + Sync + 'static {
    /// The number of RPC parameters.
    const ARITY: usize;
    /// Converts the bound arguments and calls.
    fn invoke(&self, state: &S, args: Vec<Value>, names: &[String]) -> Result<Value, Exception>;
}

/// An async function usable as a method of an [`AttrHandler<S>`]:
/// `Fn(Arc<S>, A1, ..., An) -> impl Future<Output = R> + Send + 'static`.
pub trait AsyncMethod<S, Args>: Send + Sync + 'static {
    /// The number of RPC parameters.
    const ARITY: usize;
    /// Converts the bound arguments and starts the call.
    fn invoke(
        &self,
        state: Arc<S>,
        args: Vec<Value>,
        names: &[String],
    ) -> Result<BoxFuture, Exception>;
}

/// A sync free function usable as a method: `Fn(A1, ..., An) -> R`.
pub trait SyncFunction<Args>: Send + Sync + 'static {
    /// The number of RPC parameters.
    const ARITY: usize;
    /// Converts the bound arguments and calls.
    fn invoke(&self, args: Vec<Value>, names: &[String]) -> Result<Value, Exception>;
}

/// An async free function usable as a method: `Fn(A1, ..., An) -> impl Future<Output = R>`.
pub trait AsyncFunction<Args>: Send + Sync + 'static {
    /// The number of RPC parameters.
    const ARITY: usize;
    /// Converts the bound arguments and starts the call.
    fn invoke(&self, args: Vec<Value>, names: &[String]) -> Result<BoxFuture, Exception>;
}

macro_rules! fn_impls {
    ($( ($n:expr; $($a:ident),*) )*) => {$(
        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<S, F, R, $($a),*> SyncMethod<S, ($($a,)*)> for F
        where
            F: Fn(&S, $($a),*) -> R + Send + Sync + 'static,
            R: IntoReturn,
            $($a: FromValue,)*
        {
            const ARITY: usize = $n;
            fn invoke(&self, state: &S, args: Vec<Value>, names: &[String]) -> Result<Value, Exception> {
                let mut it = args.into_iter();
                let mut i = 0;
                $(let $a = arg::<$a>(&mut it, names, &mut i)?;)*
                self(state, $($a),*).into_return()
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<S, F, Fut, R, $($a),*> AsyncMethod<S, ($($a,)*)> for F
        where
            F: Fn(Arc<S>, $($a),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReturn,
            $($a: FromValue,)*
        {
            const ARITY: usize = $n;
            fn invoke(&self, state: Arc<S>, args: Vec<Value>, names: &[String]) -> Result<BoxFuture, Exception> {
                let mut it = args.into_iter();
                let mut i = 0;
                $(let $a = arg::<$a>(&mut it, names, &mut i)?;)*
                let fut = self(state, $($a),*);
                Ok(Box::pin(async move { fut.await.into_return() }))
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<F, R, $($a),*> SyncFunction<($($a,)*)> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: IntoReturn,
            $($a: FromValue,)*
        {
            const ARITY: usize = $n;
            fn invoke(&self, args: Vec<Value>, names: &[String]) -> Result<Value, Exception> {
                let mut it = args.into_iter();
                let mut i = 0;
                $(let $a = arg::<$a>(&mut it, names, &mut i)?;)*
                self($($a),*).into_return()
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<F, Fut, R, $($a),*> AsyncFunction<($($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReturn,
            $($a: FromValue,)*
        {
            const ARITY: usize = $n;
            fn invoke(&self, args: Vec<Value>, names: &[String]) -> Result<BoxFuture, Exception> {
                let mut it = args.into_iter();
                let mut i = 0;
                $(let $a = arg::<$a>(&mut it, names, &mut i)?;)*
                let fut = self($($a),*);
                Ok(Box::pin(async move { fut.await.into_return() }))
            }
        }
    )*};
}

fn_impls! {
    (0;)
    (1; A1)
    (2; A1, A2)
    (3; A1, A2, A3)
    (4; A1, A2, A3, A4)
    (5; A1, A2, A3, A4, A5)
    (6; A1, A2, A3, A4, A5, A6)
    (7; A1, A2, A3, A4, A5, A6, A7)
    (8; A1, A2, A3, A4, A5, A6, A7, A8)
    (9; A1, A2, A3, A4, A5, A6, A7, A8, A9)
    (10; A1, A2, A3, A4, A5, A6, A7, A8, A9, A10)
}

/// A method from a sync free function; `sig` names its parameters.
///
/// # Panics
/// When `sig` has not as many parameters as `f`.
pub fn method<Args, F: SyncFunction<Args>>(sig: impl Into<Sig>, f: F) -> Method {
    let sig = sig.into();
    check_arity(&sig, F::ARITY);
    let names: Vec<String> = sig.names().map(str::to_owned).collect();
    Method {
        sig,
        body: Body::Sync(Box::new(move |args| f.invoke(args, &names))),
    }
}

/// A method from an async free function; `sig` names its parameters.
///
/// # Panics
/// When `sig` has not as many parameters as `f`.
pub fn async_method<Args, F: AsyncFunction<Args>>(sig: impl Into<Sig>, f: F) -> Method {
    let sig = sig.into();
    check_arity(&sig, F::ARITY);
    let names: Vec<String> = sig.names().map(str::to_owned).collect();
    Method {
        sig,
        body: Body::Async(Box::new(move |args| f.invoke(args, &names))),
    }
}

/// A handler made of a state `S` and methods registered by name (Python's `AttrHandler`
/// subclass). Sync methods get `&S`, async methods `Arc<S>`; names may also lead to nested
/// handlers.
///
/// ```
/// use aiozmq::rpc::AttrHandler;
/// struct Calc;
/// impl Calc {
///     fn add(&self, a: i64, b: i64) -> i64 { a + b }
/// }
/// let handler = AttrHandler::new(Calc)
///     .method("add", ["a", "b"], Calc::add)
///     .async_method("slow_add", ["a", "b"], |_calc, a: i64, b: i64| async move { a + b });
/// ```
pub struct AttrHandler<S> {
    state: Arc<S>,
    items: Names,
}

impl<S> fmt::Debug for AttrHandler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttrHandler")
            .field("items", &self.items)
            .finish()
    }
}

impl<S: Send + Sync + 'static> AttrHandler<S> {
    /// A handler over `state`, with no methods yet.
    pub fn new(state: S) -> AttrHandler<S> {
        AttrHandler::from_arc(Arc::new(state))
    }

    /// A handler over a shared state.
    pub fn from_arc(state: Arc<S>) -> AttrHandler<S> {
        AttrHandler {
            state,
            items: Names::default(),
        }
    }

    /// The state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Registers a sync method `f(&S, params...)` under `name`.
    ///
    /// # Panics
    /// When `sig` has not as many parameters as `f` (besides `&S`).
    pub fn method<Args, F: SyncMethod<S, Args>>(
        mut self,
        name: &str,
        sig: impl Into<Sig>,
        f: F,
    ) -> AttrHandler<S> {
        let sig = sig.into();
        check_arity(&sig, F::ARITY);
        let names: Vec<String> = sig.names().map(str::to_owned).collect();
        let state = self.state.clone();
        let m = Method {
            sig,
            body: Body::Sync(Box::new(move |args| f.invoke(&state, args, &names))),
        };
        self.items.insert(name.to_owned(), Item::method(m));
        self
    }

    /// Registers an async method `f(Arc<S>, params...)` under `name`.
    ///
    /// # Panics
    /// When `sig` has not as many parameters as `f` (besides `Arc<S>`).
    pub fn async_method<Args, F: AsyncMethod<S, Args>>(
        mut self,
        name: &str,
        sig: impl Into<Sig>,
        f: F,
    ) -> AttrHandler<S> {
        let sig = sig.into();
        check_arity(&sig, F::ARITY);
        let names: Vec<String> = sig.names().map(str::to_owned).collect();
        let state = self.state.clone();
        let m = Method {
            sig,
            body: Body::Async(Box::new(move |args| f.invoke(state.clone(), args, &names))),
        };
        self.items.insert(name.to_owned(), Item::method(m));
        self
    }

    /// Registers a ready-made [`Method`] under `name`.
    pub fn add_method(mut self, name: &str, m: Method) -> AttrHandler<S> {
        self.items.insert(name.to_owned(), Item::method(m));
        self
    }

    /// Registers a nested handler (namespace) under `name`.
    pub fn handler(mut self, name: &str, h: impl Handler) -> AttrHandler<S> {
        self.items.insert(name.to_owned(), Item::handler(h));
        self
    }
}

impl<S: Send + Sync + 'static> Handler for AttrHandler<S> {
    fn get(&self, key: &str) -> Option<Item> {
        self.items.get(key).cloned()
    }
}

/// A map of names to methods and nested handlers (Python's `dict` used as a handler).
///
/// ```
/// use aiozmq::rpc::{self, DictHandler};
/// let handlers = DictHandler::new()
///     .method("a", rpc::method(rpc::Sig::none(), || "a"))
///     .handler("subnamespace", DictHandler::new().method("b", rpc::method(rpc::Sig::none(), || "b")));
/// ```
#[derive(Clone, Debug, Default)]
pub struct DictHandler {
    items: Names,
}

impl DictHandler {
    /// An empty map.
    pub fn new() -> DictHandler {
        DictHandler::default()
    }

    /// Adds a method.
    pub fn method(mut self, name: &str, m: Method) -> DictHandler {
        self.items.insert(name.to_owned(), Item::method(m));
        self
    }

    /// Adds a nested handler.
    pub fn handler(mut self, name: &str, h: impl Handler) -> DictHandler {
        self.items.insert(name.to_owned(), Item::handler(h));
        self
    }

    /// Adds an item.
    pub fn insert(&mut self, name: &str, item: Item) {
        self.items.insert(name.to_owned(), item);
    }
}

impl Handler for DictHandler {
    fn get(&self, key: &str) -> Option<Item> {
        self.items.get(key).cloned()
    }
}
