//! Remote procedure calls over ZeroMQ, wire-compatible with Python's `aiozmq.rpc`.
//!
//! Three patterns, each a server and a client, as in aiozmq:
//!
//! | pattern | server (socket) | client (socket) | call |
//! |---|---|---|---|
//! | request-reply | [`serve_rpc`] (ROUTER) | [`connect_rpc`] (DEALER) | [`RpcClient::call`], [`call!`] |
//! | pipeline | [`serve_pipeline`] (PULL) | [`connect_pipeline`] (PUSH) | [`PipelineClient::notify`], [`notify!`] |
//! | publish-subscribe | [`serve_pubsub`] (SUB) | [`connect_pubsub`] (PUB) | [`PubSubClient::publish`], [`publish!`] |
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), aiozmq::rpc::Error> {
//! use aiozmq::rpc::{self, call, AttrHandler};
//!
//! struct ServerHandler;
//! impl ServerHandler {
//!     fn remote_func(&self, a: i64, b: i64) -> i64 { a + b }
//! }
//!
//! let handler = AttrHandler::new(ServerHandler)
//!     .method("remote_func", ["a", "b"], ServerHandler::remote_func);
//! let server = rpc::serve_rpc(handler).bind("tcp://127.0.0.1:*").await?;
//! let endpoint = server.bindings()[0].clone();
//!
//! let client = rpc::connect_rpc().connect(endpoint).await?;
//! let ret: i64 = call!(client, remote_func(1, 2)).await?;
//! assert_eq!(ret, 3);
//!
//! server.close();
//! server.wait_closed().await;
//! client.close();
//! client.wait_closed().await;
//! # Ok(()) }
//! ```
//!
//! # Organization
//! - [`value`](Value): [`Value`] (what Python sees after unpacking) and the
//!   [`IntoValue`]/[`FromValue`] conversions, including serde ([`Serde`]) and raw
//!   [`rmpv::Value`].
//! - [`datetime`]: Python's `date`, `datetime`, `time`, `timedelta`, `timezone` in chrono
//!   terms; [`pickle`]: their pickles, decoded by a strict whitelist (nothing executed) and
//!   encoded byte-exactly as CPython does.
//! - [`Codec`] and [`TranslationTable`]: msgpack as msgpack-python packs it, ext types.
//! - [`wire`]: the frames of requests, replies, notifications and publications.
//! - [`Handler`], [`AttrHandler`], [`DictHandler`], [`Method`], [`Sig`]: name lookup,
//!   argument binding, validators.
//! - [`Exception`], [`Error`], [`ErrorTable`]: exceptions across the wire.
//! - [`Service`]: what clients and servers have in common (transport, close).
//!
//! # Handlers: registration instead of decorators
//! Python marks methods with `@aiozmq.rpc.method` and reads parameter names and
//! annotations by reflection. Rust has neither, so a method is registered explicitly with
//! its name and a [`Sig`] naming its parameters (so that keyword arguments bind), with
//! optional defaults and validators: `AttrHandler::new(state).method("add", sig!(a, b = 2),
//! Calc::add)`. The function's own parameter types do the conversion (`i64`, `String`,
//! `Option<T>`, chrono types, `Serde<T>`, [`Value`] for anything); a conversion failure is a
//! `ParametersError` naming the parameter, as an annotation failure is in aiozmq. Methods
//! are sync (`Fn(&S, ...) -> R`, run on the server's receive task) or async (`Fn(Arc<S>,
//! ...) -> impl Future`, run as tasks); they return a value or `Result<T, E>` with `E:
//! Into<Exception>`.
//!
//! # aiozmq's API in Rust
//!
//! | Python `aiozmq.rpc` | here |
//! |---|---|
//! | `serve_rpc(handler, bind=, connect=, translation_table=, log_exceptions=, exclude_log_exceptions=, timeout=)` | [`serve_rpc`]`(handler).bind(..).connect(..).translation_table(..).log_exceptions(..).exclude_log_exceptions(..).timeout(..)` (and [`Serve::max_concurrency`]), awaited: a [`Service`] |
//! | `connect_rpc(connect=, bind=, error_table=, timeout=, translation_table=)` | [`connect_rpc`]`().connect(..).bind(..).error_table(..).timeout(..).translation_table(..)`, awaited: an [`RpcClient`] (and [`ConnectRpc::max_pending_calls`]) |
//! | `serve_pipeline`, `connect_pipeline` | [`serve_pipeline`], [`connect_pipeline`]: [`Service`], [`PipelineClient`] |
//! | `serve_pubsub(subscribe=)`, `connect_pubsub` | [`serve_pubsub`]`(h).subscribe(topic)`, [`connect_pubsub`]: [`PubSubService`], [`PubSubClient`] |
//! | `await client.call.ns.method(1, b=2)` | `call!(client, ns.method(1, b = 2)).await`, [`RpcClient::call`], [`RpcClient::call_as`] |
//! | `client.with_timeout(1.5).call.f()` | `client.with_timeout(Duration::from_secs_f64(1.5))` (a handle sharing the client) |
//! | `client.notify.ns.method(..)` | `notify!(client, ns.method(..))`, [`PipelineClient::notify`] |
//! | `client.publish('topic').ns.method(..)` | `publish!(client, "topic", ns.method(..))`, [`PubSubClient::publish`] |
//! | `PubSubService.subscribe/unsubscribe` | [`PubSubService::subscribe`], [`PubSubService::unsubscribe`] |
//! | `Service.transport`, `close()`, `wait_closed()` | [`Service::transport`] (`Err(ServiceClosed)` once closed), [`Service::close`], [`Service::wait_closed`] |
//! | `AbstractHandler.__getitem__` | [`Handler::get`] returning an [`Item`] |
//! | `AttrHandler` + `@rpc.method` | [`AttrHandler`] with [`AttrHandler::method`] / [`AttrHandler::async_method`] |
//! | a `dict` as handler | [`DictHandler`] (or `HashMap<String, Item>`) with [`method`] / [`async_method`] |
//! | annotations (converters, validators, return) | typed parameters ([`FromValue`]), [`Sig::validate`], [`Sig::returns`] |
//! | default values (not passed to annotations) | [`Sig::default_value`], `sig!(a, b = 2)` |
//! | `Error`, `GenericError`, `NotFoundError`, `ParametersError`, `ServiceClosedError` | [`Error`]: `Generic`, `NotFound`, `Parameters`, `ServiceClosed` (and `Builtin`, `Custom`, `Timeout`, ...) |
//! | `error_table={'mod.Error': Error}` | [`ErrorTable::with`]`("mod.Error", \|exc\| Error::custom(..))` |
//! | raising an exception in a method | returning `Err(`[`Exception`]`)` (or any `E: Into<Exception>`) |
//! | `translation_table={0: (cls, packer, unpacker)}` | [`TranslationTable::with`]`(0, `[`Translator::for_type`]`(pack, unpack))` |
//! | predefined translators 123–127 (pickles) | [`Value::Timezone`], [`Value::TimeDelta`], [`Value::Time`], [`Value::DateTime`], [`Value::Date`] through [`pickle`] (a whitelist decoder) |
//! | lists come back as tuples | [`Value::Array`] (tuples, `Vec`) |
//! | `aiozmq.rpc.logger` | `tracing` events of `aiozmq::rpc::server` |
//!
//! # Limits
//! What a hostile or failing peer can cost is bounded:
//! - **Values per message**: unpacking stops at [`MAX_VALUES`] values (every scalar,
//!   array and map counts one) and [`MAX_DEPTH`] nested containers; a server drops such a
//!   request (and logs it), a client fails the call the reply belongs to.
//! - **Pending calls per client**: at most [`ConnectRpc::max_pending_calls`] calls (default
//!   [`DEFAULT_MAX_PENDING_CALLS`], 65,536) wait for their reply at once, over a client
//!   and its clones; one more fails at once with [`Error::TooManyPendingCalls`] and sends
//!   nothing. A call stops waiting when answered, when its timeout expires
//!   ([`Error::Timeout`]), when its future is dropped, or when the client closes. There is
//!   no timeout by default (as in Python's `connect_rpc(timeout=None)`): against a server
//!   that never answers, a call without one waits until dropped. While no server takes
//!   requests, those of abandoned calls are dropped rather than kept: what waits is the
//!   socket's queue (SNDHWM requests) and at most twice the pending-call limit.
//! - **Replies nobody waits for** (ids never issued, late replies to timed-out or dropped
//!   calls) and messages that are not replies are dropped as they arrive, logged and
//!   counted ([`RpcClient::dropped_replies`]); a flood of them is held back by the
//!   client's RCVHWM and TCP, not buffered.
//! - **Concurrent async methods per server**: [`Serve::max_concurrency`] (default
//!   [`DEFAULT_MAX_CONCURRENCY`]); beyond it the server stops reading requests.
//!
//! # Interoperability notes
//! - msgpack-python ≥ 1.0 unpacks maps with `strict_map_key=True`: a Python peer rejects
//!   (drops) a message holding a map whose keys are not `str` or `bytes`.
//! - Python's datetime pickles that reference other classes (pytz zones: `pytz._p`,
//!   `dateutil` zones) are rejected by the whitelist: use `datetime.timezone`.
//! - Python aiozmq 1.0 does not apply annotations as validators, nor its server timeout;
//!   this crate does what aiozmq's documentation describes (validators, server timeout).

mod client;
mod codec;
pub mod datetime;
mod error;
#[doc(hidden)]
pub(crate) mod fuzzing;
mod handler;
pub mod pickle;
mod pyrepr;
mod server;
mod service;
mod value;
pub mod wire;

/// The `chrono` crate this module's date/time values are made of (the same version).
pub use chrono;
pub use client::{
    connect_pipeline, connect_pubsub, connect_rpc, Args, ConnectPipeline, ConnectPubSub,
    ConnectRpc, IntoArgs, IntoKwargs, Kwargs, PipelineClient, PubSubClient, Publisher, RpcClient,
    DEFAULT_MAX_PENDING_CALLS,
};
pub use codec::{
    predefined_code, Codec, CodecError, TranslationTable, Translator, MAX_DEPTH, MAX_VALUES,
};
pub use datetime::{PyDateTime, PyTime, PyTimezone};
pub use error::{
    default_translation, is_default_exception, Error, ErrorTable, Exception, ASYNCIO_EXCEPTIONS,
    BUILTIN_EXCEPTIONS, NOT_FOUND_ERROR, PARAMETERS_ERROR, TIMEOUT_ERROR,
};
pub use handler::{
    async_method, lookup, method, AsyncFunction, AsyncMethod, AttrHandler, BoxFuture, DictHandler,
    Handler, IntoReturn, Invocation, Item, Method, Sig, SyncFunction, SyncMethod, Validator,
};
pub use pyrepr::{repr_bytes, repr_float, repr_str, repr_value};
pub use server::{
    serve_pipeline, serve_pubsub, serve_rpc, Pipeline, PubSub, PubSubService, Rpc, Serve,
    DEFAULT_MAX_CONCURRENCY,
};
pub use service::Service;
pub use value::{
    from_value, python_type_name, to_value, ConvertError, FromValue, IntoValue, Object, Serde,
    Value,
};

#[doc(inline)]
pub use crate::rpc_call as call;
#[doc(inline)]
pub use crate::rpc_notify as notify;
#[doc(inline)]
pub use crate::rpc_object_value as object_value;
#[doc(inline)]
pub use crate::rpc_publish as publish;
#[doc(inline)]
pub use crate::rpc_serde_value as serde_value;
#[doc(inline)]
pub use crate::rpc_sig as sig;
