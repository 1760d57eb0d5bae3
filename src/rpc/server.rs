//! RPC servers: request-reply ([`serve_rpc`], ROUTER), pipeline ([`serve_pipeline`], PULL)
//! and publish-subscribe ([`serve_pubsub`], SUB).
//!
//! A server receives on one task. Sync methods run on it, inline, as in Python (keep them
//! short); async methods run as tasks, at most [`Serve::max_concurrency`] at a time (the
//! receive loop waits for a free slot, so a flood backs up into the socket's RCVHWM and TCP
//! instead of memory), each bounded by the server's [`Serve::timeout`]. A message that does
//! not parse is logged and dropped, without a reply and without disturbing other clients.
//! Closing the server cancels the running handlers; they send no reply.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::codec::{Codec, TranslationTable};
use super::error::{Error, Exception, NOT_FOUND_ERROR, PARAMETERS_ERROR};
use super::handler::{lookup, BoxFuture, Handler, Invocation};
use super::service::{header_prefix, unix_time, Endpoints, Intake, Service};
use super::value::Value;
use super::wire::{
    load_call, load_notification, load_publication, split_request, take_frame, with_arena,
    ReplyHeader, REPLY_HEADER_LEN,
};
use crate::{Message, Socket, SocketType};

/// The default of [`Serve::max_concurrency`].
pub const DEFAULT_MAX_CONCURRENCY: usize = 1024;

/// Marker: request-reply server.
#[derive(Debug)]
pub enum Rpc {}
/// Marker: pipeline server.
#[derive(Debug)]
pub enum Pipeline {}
/// Marker: publish-subscribe server.
#[derive(Debug)]
pub enum PubSub {}

/// Creates a server; await it. Made by [`serve_rpc`], [`serve_pipeline`] and
/// [`serve_pubsub`]; the options are Python's keyword arguments.
#[must_use = "a builder does nothing until awaited"]
pub struct Serve<K> {
    handler: Arc<dyn Handler>,
    endpoints: Endpoints,
    table: TranslationTable,
    log_exceptions: bool,
    exclude_log_exceptions: Vec<String>,
    timeout: Option<Duration>,
    max_concurrency: usize,
    subscribe: Vec<Bytes>,
    kind: PhantomData<K>,
}

impl<K> std::fmt::Debug for Serve<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("endpoints", &self.endpoints)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn serve<K>(handler: impl Handler) -> Serve<K> {
    Serve {
        handler: Arc::new(handler),
        endpoints: Endpoints::default(),
        table: TranslationTable::new(),
        log_exceptions: false,
        exclude_log_exceptions: Vec::new(),
        timeout: None,
        max_concurrency: DEFAULT_MAX_CONCURRENCY,
        subscribe: Vec::new(),
        kind: PhantomData,
    }
}

/// A request-reply server on a ROUTER socket (Python's `serve_rpc`).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aiozmq::rpc::Error> {
/// use aiozmq::rpc::{self, AttrHandler};
/// struct Handler;
/// impl Handler {
///     fn remote(&self, a: i64, b: i64) -> i64 { a + b }
/// }
/// let server = rpc::serve_rpc(AttrHandler::new(Handler).method("remote", ["a", "b"], Handler::remote))
///     .bind("tcp://127.0.0.1:5555")
///     .await?;
/// # Ok(()) }
/// ```
pub fn serve_rpc(handler: impl Handler) -> Serve<Rpc> {
    serve(handler)
}

/// A pipeline server on a PULL socket (Python's `serve_pipeline`).
pub fn serve_pipeline(handler: impl Handler) -> Serve<Pipeline> {
    serve(handler)
}

/// A publish-subscribe server on a SUB socket (Python's `serve_pubsub`); give its topics
/// with [`Serve::subscribe`].
pub fn serve_pubsub(handler: impl Handler) -> Serve<PubSub> {
    serve(handler)
}

impl<K> Serve<K> {
    /// Binds to `endpoint` (may be given several times).
    pub fn bind(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.bind.push(endpoint.into());
        self
    }

    /// Connects to `endpoint` (may be given several times).
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.connect.push(endpoint.into());
        self
    }

    /// Secures the socket (CURVE or PLAIN server, with an optional ZAP handler for who may
    /// connect), applied before it binds or connects:
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use aiozmq::rpc::{self, AttrHandler};
    /// use aiozmq::security::SecurityConfig;
    /// # struct H;
    /// let (_public, secret) = aiozmq::curve_keypair();
    /// let server = rpc::serve_rpc(AttrHandler::new(H))
    ///     .security(SecurityConfig::curve_server(&secret)?)
    ///     .bind("tcp://127.0.0.1:*")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn security(mut self, security: crate::security::SecurityConfig) -> Self {
        self.endpoints.security = security;
        self
    }

    /// The translation table for ext types.
    pub fn translation_table(mut self, table: TranslationTable) -> Self {
        self.table = table;
        self
    }

    /// Logs the exceptions of calls (with `tracing`, at error level).
    pub fn log_exceptions(mut self, on: bool) -> Self {
        self.log_exceptions = on;
        self
    }

    /// Exception types (full names, `"myapp.ExpectedError"`) not to log.
    pub fn exclude_log_exceptions<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude_log_exceptions = names.into_iter().map(Into::into).collect();
        self
    }

    /// Cancels an async method that runs longer, and answers `asyncio.TimeoutError`
    /// (make it a bit longer than the clients' timeout).
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// At most this many async methods run at once (default
    /// [`DEFAULT_MAX_CONCURRENCY`]; at least 1).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }
}

impl Serve<PubSub> {
    /// Subscribes to `topic` (prefix match on the topic frame; `""` for everything). May be
    /// given several times.
    pub fn subscribe(mut self, topic: impl AsRef<[u8]>) -> Self {
        self.subscribe.push(Bytes::copy_from_slice(topic.as_ref()));
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rpc,
    Pipeline,
    PubSub,
}

impl Kind {
    fn socket_type(self) -> SocketType {
        match self {
            Kind::Rpc => SocketType::Router,
            Kind::Pipeline => SocketType::Pull,
            Kind::PubSub => SocketType::Sub,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Rpc => "RPC",
            Kind::Pipeline => "Pipeline",
            Kind::PubSub => "PubSub",
        }
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<K> Serve<K> {
    async fn start(self, kind: Kind) -> Result<Service, Error> {
        let socket = self.endpoints.open(kind.socket_type()).await?;
        for t in &self.subscribe {
            socket.subscribe(t.clone())?;
        }
        let token = CancellationToken::new();
        let ctx = Arc::new(Server {
            kind,
            handler: self.handler,
            codec: Codec::new(&self.table),
            socket: socket.clone(),
            log_exceptions: self.log_exceptions,
            exclude: self.exclude_log_exceptions,
            timeout: self.timeout,
            permits: Arc::new(Semaphore::new(self.max_concurrency)),
            tracker: TaskTracker::new(),
            token: token.clone(),
            prefix: header_prefix(),
        });
        let cleanup = {
            let ctx = ctx.clone();
            move || async move {
                ctx.tracker.close();
                ctx.tracker.wait().await;
            }
        };
        Ok(Service::spawn(socket, token, ctx.run(), cleanup))
    }
}

impl IntoFuture for Serve<Rpc> {
    type Output = Result<Service, Error>;
    type IntoFuture = BoxFut<Result<Service, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.start(Kind::Rpc))
    }
}

impl IntoFuture for Serve<Pipeline> {
    type Output = Result<Service, Error>;
    type IntoFuture = BoxFut<Result<Service, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.start(Kind::Pipeline))
    }
}

impl IntoFuture for Serve<PubSub> {
    type Output = Result<PubSubService, Error>;
    type IntoFuture = BoxFut<Result<PubSubService, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            Ok(PubSubService {
                service: self.start(Kind::PubSub).await?,
            })
        })
    }
}

/// A publish-subscribe server (Python's `PubSubService`): a [`Service`] that can change its
/// subscriptions at run time.
#[derive(Debug)]
pub struct PubSubService {
    service: Service,
}

impl Deref for PubSubService {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

impl PubSubService {
    /// Subscribes to `topic` (text is UTF-8).
    pub fn subscribe(&self, topic: impl AsRef<[u8]>) -> Result<(), Error> {
        self.service
            .transport()?
            .subscribe(Bytes::copy_from_slice(topic.as_ref()))?;
        Ok(())
    }

    /// Drops a subscription.
    pub fn unsubscribe(&self, topic: impl AsRef<[u8]>) -> Result<(), Error> {
        self.service
            .transport()?
            .unsubscribe(Bytes::copy_from_slice(topic.as_ref()))?;
        Ok(())
    }
}

/// A server's state, shared by its receive loop and handler tasks.
struct Server {
    kind: Kind,
    handler: Arc<dyn Handler>,
    codec: Codec,
    socket: Arc<Socket>,
    log_exceptions: bool,
    exclude: Vec<String>,
    timeout: Option<Duration>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    token: CancellationToken,
    prefix: (u16, u16),
}

/// Where a call's outcome goes.
enum Origin {
    /// Reply to this envelope with this request id.
    Request { envelope: Message, req_id: u32 },
    /// Nobody (pipeline, pub-sub).
    Oneway,
}

/// What [`Server::dispatch`] leaves to do.
enum Step {
    /// Done; the reply to send, if any.
    Done(Option<Message>),
    /// An async method's future to run.
    Spawn(Origin, CallInfo, BoxFuture),
}

/// A call's arguments, kept for logging.
type LoggedArgs = (Vec<Value>, Vec<(String, Value)>);

/// What is kept of a call for logging.
struct CallInfo {
    /// The method name's frame (checked UTF-8).
    name: Bytes,
    args: Option<LoggedArgs>,
}

impl CallInfo {
    fn name(&self) -> &str {
        std::str::from_utf8(&self.name).unwrap_or_default()
    }
}

impl Server {
    async fn run(self: Arc<Self>) {
        let mut intake = Intake::default();
        loop {
            // Replies made so far leave while the next requests are handled (see `Intake`).
            let msg = match intake.next(&self.socket).await {
                Ok(m) => m,
                Err(e) => return self.stopped(e),
            };
            let step = match self.kind {
                Kind::Rpc => split_request(msg).and_then(|(envelope, header, frames)| {
                    let [name, args, kwargs] = frames;
                    let (method, args, kwargs) = load_call(&name, &args, &kwargs, &self.codec)?;
                    let origin = Origin::Request {
                        envelope,
                        req_id: header.req_id,
                    };
                    Ok(self.dispatch(origin, method, &name, args, kwargs))
                }),
                Kind::Pipeline => load_notification(&msg, &self.codec).map(|b| {
                    self.dispatch(Origin::Oneway, &b.name, &Bytes::new(), b.args, b.kwargs)
                }),
                Kind::PubSub => load_publication(&msg, &self.codec).map(|(_, b)| {
                    self.dispatch(Origin::Oneway, &b.name, &Bytes::new(), b.args, b.kwargs)
                }),
            };
            match step {
                Ok(Step::Done(None)) => {}
                Ok(Step::Done(Some(reply))) => self.send_reply(reply).await,
                Ok(Step::Spawn(origin, info, fut)) => self.spawn_call(origin, info, fut).await,
                Err(e) => tracing::error!(
                    "{} server: cannot unpack a message, dropped: {e}",
                    self.kind.label()
                ),
            }
        }
    }

    fn stopped(&self, e: crate::Error) {
        if !self.token.is_cancelled() {
            tracing::error!("{} server stops: {e}", self.kind.label());
        }
    }

    /// Sends a reply: at once when the socket takes it, else waiting for room.
    async fn send_reply(&self, reply: Message) {
        let r = match self.socket.try_send(reply) {
            Ok(()) => Ok(()),
            Err(e) if e.error.kind() == crate::ErrorKind::Again => {
                self.socket.send(e.message).await
            }
            Err(e) => Err(e.error),
        };
        if let Err(e) = r {
            if !self.token.is_cancelled() {
                tracing::debug!("a reply was not sent: {e}");
            }
        }
    }

    /// Looks the method up and starts the call: sync methods complete here. `frame` is
    /// `name`'s frame when it has one (else the name is copied for logging).
    fn dispatch(
        &self,
        origin: Origin,
        name: &str,
        frame: &Bytes,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Step {
        let info = CallInfo {
            args: self.log_exceptions.then(|| (args.clone(), kwargs.clone())),
            name: if frame.is_empty() {
                Bytes::copy_from_slice(name.as_bytes())
            } else {
                frame.clone()
            },
        };
        let invocation = match lookup(&*self.handler, name) {
            Ok(m) => m.invoke(args, kwargs),
            Err(e) => Invocation::Ready(Err(e)),
        };
        match invocation {
            Invocation::Ready(r) => Step::Done(self.complete(origin, info, r)),
            Invocation::Pending(fut) => Step::Spawn(origin, info, fut),
        }
    }

    /// Runs an async method as a task, once one of the `max_concurrency` slots is free.
    async fn spawn_call(self: &Arc<Self>, origin: Origin, info: CallInfo, fut: BoxFuture) {
        let permit = tokio::select! {
            biased;
            _ = self.token.cancelled() => return,
            p = self.permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let this = self.clone();
        self.tracker.spawn(async move {
            let _permit = permit;
            let work = async {
                match this.timeout {
                    None => fut.await,
                    Some(t) => tokio::time::timeout(t, fut)
                        .await
                        .unwrap_or_else(|_| Err(Exception::timeout())),
                }
            };
            let r = tokio::select! {
                biased;
                _ = this.token.cancelled() => return,
                r = work => r,
            };
            if let Some(reply) = this.complete(origin, info, r) {
                this.send_reply(reply).await;
            }
        });
    }

    /// Logs the outcome of a call as configured; for a request, builds the reply.
    fn complete(
        &self,
        origin: Origin,
        info: CallInfo,
        r: Result<Value, Exception>,
    ) -> Option<Message> {
        match (&origin, &r) {
            (_, Err(exc)) => self.log_error(&info, exc),
            (Origin::Oneway, Ok(v)) if !v.is_nil() => tracing::warn!(
                "{} handler {:?} returned not None",
                self.kind.label(),
                info.name()
            ),
            _ => {}
        }
        let Origin::Request { envelope, req_id } = origin else {
            return None;
        };
        let (header, body) = with_arena(|buf| {
            buf.put_slice(&[0u8; REPLY_HEADER_LEN]);
            let is_error = match r {
                Ok(v) => match self.codec.pack(&v, buf) {
                    Ok(()) => false,
                    Err(e) => {
                        buf.truncate(REPLY_HEADER_LEN);
                        self.pack_exception(&Exception::type_error(e.to_string()), buf);
                        true
                    }
                },
                Err(exc) => {
                    self.pack_exception(&exc, buf);
                    true
                }
            };
            let header = ReplyHeader {
                pid: self.prefix.0,
                random: self.prefix.1,
                req_id,
                time: unix_time(),
                is_error,
            };
            buf[..REPLY_HEADER_LEN].copy_from_slice(&header.encode());
            let header = buf.split_to(REPLY_HEADER_LEN).freeze();
            (header, take_frame(buf))
        });
        let mut reply = envelope;
        reply.push_back(header);
        reply.push_back(body);
        Some(reply)
    }

    /// Packs an exception's wire form after the header in `buf`.
    fn pack_exception(&self, exc: &Exception, buf: &mut BytesMut) {
        if self.codec.pack(&exc.to_value(), buf).is_ok() {
            return;
        }
        // Arguments that cannot be packed: send their reprs instead.
        buf.truncate(REPLY_HEADER_LEN);
        let args = exc
            .args()
            .iter()
            .map(|a| Value::Str(a.python_repr()))
            .collect();
        let fallback = Exception::with_repr(exc.exc_type(), args, exc.repr().to_owned());
        if self.codec.pack(&fallback.to_value(), buf).is_err() {
            buf.truncate(REPLY_HEADER_LEN);
            buf.put_slice(b"\x93\xa9Exception\x90\xa0");
        }
    }

    fn log_error(&self, info: &CallInfo, exc: &Exception) {
        let lookup_error = matches!(exc.exc_type(), NOT_FOUND_ERROR | PARAMETERS_ERROR);
        if self.kind != Kind::Rpc && lookup_error {
            tracing::error!("Call to {:?} caused error: {}", info.name(), exc.repr());
            return;
        }
        if !self.log_exceptions || self.exclude.iter().any(|e| e == exc.exc_type()) {
            return;
        }
        let (args, kwargs) = match &info.args {
            Some((a, k)) => (
                Value::Array(a.clone()).python_repr(),
                Value::Map(
                    k.iter()
                        .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                        .collect(),
                )
                .python_repr(),
            ),
            None => (String::new(), String::new()),
        };
        tracing::error!(
            exc_type = exc.exc_type(),
            "An exception {} from method {:?} call occurred.\nargs = {args}\nkwargs = {kwargs}",
            exc.repr(),
            info.name()
        );
    }
}
