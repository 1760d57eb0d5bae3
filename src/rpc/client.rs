//! RPC clients: request-reply ([`RpcClient`], DEALER), pipeline ([`PipelineClient`], PUSH)
//! and publish-subscribe ([`PubSubClient`], PUB).

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::codec::{Codec, TranslationTable};
use super::error::{Error, ErrorTable, Exception};
use super::service::{header_prefix, unix_time, Endpoints, Intake, Service, GIVE_WAY_EVERY};
use super::value::{ConvertError, FromValue, IntoValue, Value};
use super::wire::{encode_call, Reply, Request, RequestHeader};
use crate::{Message, Socket, SocketType};

/// Positional arguments of a call: `()`, a tuple of up to 12 [`IntoValue`]s, a
/// `Vec<Value>`, or an [`Args`] builder.
pub trait IntoArgs {
    /// The conversion.
    fn into_args(self) -> Result<Vec<Value>, ConvertError>;
}

/// Keyword arguments of a call: `()`, a [`Kwargs`] builder, an array or `Vec` of
/// `(name, value)` pairs, or a `HashMap`/`BTreeMap` with text keys.
pub trait IntoKwargs {
    /// The conversion.
    fn into_kwargs(self) -> Result<Vec<(String, Value)>, ConvertError>;
}

impl IntoArgs for Vec<Value> {
    fn into_args(self) -> Result<Vec<Value>, ConvertError> {
        Ok(self)
    }
}

impl IntoArgs for () {
    fn into_args(self) -> Result<Vec<Value>, ConvertError> {
        Ok(Vec::new())
    }
}

macro_rules! args_tuples {
    ($( ($($name:ident),+) )*) => {$(
        impl<$($name: IntoValue),+> IntoArgs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_args(self) -> Result<Vec<Value>, ConvertError> {
                let ($($name,)+) = self;
                Ok(vec![$($name.into_value()?),+])
            }
        }
    )*};
}

args_tuples! {
    (A)
    (A, B)
    (A, B, C)
    (A, B, C, D)
    (A, B, C, D, E)
    (A, B, C, D, E, F)
    (A, B, C, D, E, F, G)
    (A, B, C, D, E, F, G, H)
    (A, B, C, D, E, F, G, H, I)
    (A, B, C, D, E, F, G, H, I, J)
    (A, B, C, D, E, F, G, H, I, J, K)
    (A, B, C, D, E, F, G, H, I, J, K, L)
}

/// A builder of positional arguments (any number, any [`IntoValue`] types).
#[derive(Debug, Default)]
pub struct Args {
    items: Vec<Value>,
    error: Option<ConvertError>,
}

impl Args {
    /// No arguments yet.
    pub fn new() -> Args {
        Args::default()
    }

    /// Appends an argument.
    #[allow(clippy::should_implement_trait)]
    pub fn arg(mut self, v: impl IntoValue) -> Args {
        match v.into_value() {
            Ok(v) => self.items.push(v),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }
}

impl IntoArgs for Args {
    fn into_args(self) -> Result<Vec<Value>, ConvertError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.items),
        }
    }
}

/// A builder of keyword arguments.
#[derive(Debug, Default)]
pub struct Kwargs {
    items: Vec<(String, Value)>,
    error: Option<ConvertError>,
}

impl Kwargs {
    /// No keyword arguments yet.
    pub fn new() -> Kwargs {
        Kwargs::default()
    }

    /// Adds `name=value`.
    pub fn arg(mut self, name: &str, v: impl IntoValue) -> Kwargs {
        match v.into_value() {
            Ok(v) => self.items.push((name.to_owned(), v)),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }
}

impl IntoKwargs for Kwargs {
    fn into_kwargs(self) -> Result<Vec<(String, Value)>, ConvertError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.items),
        }
    }
}

impl IntoKwargs for () {
    fn into_kwargs(self) -> Result<Vec<(String, Value)>, ConvertError> {
        Ok(Vec::new())
    }
}

impl IntoKwargs for Vec<(String, Value)> {
    fn into_kwargs(self) -> Result<Vec<(String, Value)>, ConvertError> {
        Ok(self)
    }
}

impl<K: AsRef<str>, V: IntoValue, const N: usize> IntoKwargs for [(K, V); N] {
    fn into_kwargs(self) -> Result<Vec<(String, Value)>, ConvertError> {
        self.into_iter()
            .map(|(k, v)| Ok((k.as_ref().to_owned(), v.into_value()?)))
            .collect()
    }
}

impl<V: IntoValue, S: std::hash::BuildHasher> IntoKwargs for HashMap<String, V, S> {
    fn into_kwargs(self) -> Result<Vec<(String, Value)>, ConvertError> {
        self.into_iter()
            .map(|(k, v)| Ok((k, v.into_value()?)))
            .collect()
    }
}

impl<V: IntoValue> IntoKwargs for std::collections::BTreeMap<String, V> {
    fn into_kwargs(self) -> Result<Vec<(String, Value)>, ConvertError> {
        self.into_iter()
            .map(|(k, v)| Ok((k, v.into_value()?)))
            .collect()
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

fn encode_args(
    codec: &Codec,
    name: &str,
    args: impl IntoArgs,
    kwargs: impl IntoKwargs,
) -> Result<[Bytes; 3], Error> {
    let args = args
        .into_args()
        .map_err(|e| Error::Encode(format!("argument: {e}")))?;
    let kwargs = kwargs
        .into_kwargs()
        .map_err(|e| Error::Encode(format!("keyword argument: {e}")))?;
    Ok(encode_call(codec, name, &args, &kwargs)?)
}

/// How many calls of one [`RpcClient`] (with its clones) may wait for their reply at once,
/// unless [`ConnectRpc::max_pending_calls`] says otherwise.
pub const DEFAULT_MAX_PENDING_CALLS: usize = 65_536;

/// The options shared by the `connect_*` builders.
#[derive(Clone, Debug, Default)]
struct ClientOptions {
    endpoints: Endpoints,
    table: TranslationTable,
    error_table: ErrorTable,
    timeout: Option<Duration>,
    /// `None`: [`DEFAULT_MAX_PENDING_CALLS`].
    max_pending: Option<usize>,
}

macro_rules! client_builder {
    ($builder:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        #[must_use = "a builder does nothing until awaited"]
        pub struct $builder {
            opts: ClientOptions,
        }

        impl $builder {
            /// Connects to `endpoint` (may be given several times; the connection is made
            /// in the background and re-made after a loss).
            pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
                self.opts.endpoints.connect.push(endpoint.into());
                self
            }

            /// Binds to `endpoint` (may be given several times).
            pub fn bind(mut self, endpoint: impl Into<String>) -> Self {
                self.opts.endpoints.bind.push(endpoint.into());
                self
            }

            /// Secures the socket (CURVE or PLAIN client or server, ZAP), applied before it
            /// binds or connects.
            pub fn security(mut self, security: crate::security::SecurityConfig) -> Self {
                self.opts.endpoints.security = security;
                self
            }

            /// The translation table for ext types (Python's `translation_table=`).
            pub fn translation_table(mut self, table: TranslationTable) -> Self {
                self.opts.table = table;
                self
            }
        }
    };
}

client_builder!(
    ConnectRpc,
    "Creates an [`RpcClient`] (Python's `connect_rpc`); await it. See [`connect_rpc`]."
);
client_builder!(
    ConnectPipeline,
    "Creates a [`PipelineClient`] (Python's `connect_pipeline`); await it."
);
client_builder!(
    ConnectPubSub,
    "Creates a [`PubSubClient`] (Python's `connect_pubsub`); await it."
);

impl ConnectRpc {
    /// The error table for remote exceptions (Python's `error_table=`).
    pub fn error_table(mut self, table: ErrorTable) -> Self {
        self.opts.error_table = table;
        self
    }

    /// The default timeout of every call (Python's `timeout=`); none by default. Without
    /// one, a call to a server that never answers waits until its future is dropped or the
    /// client closes.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.opts.timeout = timeout.into();
        self
    }

    /// At most `n` calls (at least 1) may wait for their reply at once, over the client and
    /// its clones (default [`DEFAULT_MAX_PENDING_CALLS`]); a call beyond that fails at once
    /// with [`Error::TooManyPendingCalls`], so that a server that stops answering costs a
    /// bounded amount of memory. A call stops waiting when it is answered, times out, is
    /// dropped, or the client closes. Python's aiozmq has no such limit.
    pub fn max_pending_calls(mut self, n: usize) -> Self {
        self.opts.max_pending = Some(n.max(1));
        self
    }
}

/// A request-reply client on a DEALER socket (Python's `connect_rpc`).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aiozmq::rpc::Error> {
/// use aiozmq::rpc;
/// let client = rpc::connect_rpc().connect("tcp://127.0.0.1:5555").await?;
/// let sum: i64 = rpc::call!(client, remote(1, 2)).await?;
/// let same: i64 = client.call_as("remote", (1, 2), ()).await?;
/// # Ok(()) }
/// ```
pub fn connect_rpc() -> ConnectRpc {
    ConnectRpc {
        opts: ClientOptions::default(),
    }
}

/// A pipeline (notify) client on a PUSH socket (Python's `connect_pipeline`).
pub fn connect_pipeline() -> ConnectPipeline {
    ConnectPipeline {
        opts: ClientOptions::default(),
    }
}

/// A publish-subscribe client on a PUB socket (Python's `connect_pubsub`).
pub fn connect_pubsub() -> ConnectPubSub {
    ConnectPubSub {
        opts: ClientOptions::default(),
    }
}

/// Hashes request ids (already well spread counters) with one multiplication.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Where a pending call's reply goes: the call's own entry in the pending map, rather than
/// a channel per call. The receive loop fills the entries of a whole batch of replies
/// under one lock and wakes their callers after it, and the callers take their replies
/// from the map: no allocation per call, and on a multi-thread runtime one hand-over of
/// the map between the receiving thread and the calling thread per batch rather than two
/// per call (the channel's and the map's).
#[derive(Debug)]
enum Slot {
    /// No reply yet; the waker of the call's latest poll (none before its first poll).
    Waiting(Option<Waker>),
    /// The reply, until the call takes it.
    Answered(Reply),
}

/// The calls waiting for their replies.
#[derive(Debug, Default)]
struct Pending {
    calls: IdMap<Slot>,
    /// How many of `calls` are answered (their callers have yet to take the reply): not
    /// waiting any more, so not counted as pending.
    answered: usize,
    /// Ids of calls that timed out recently (their late replies are expected, and dropped).
    expired: HashSet<u32>,
    expired_order: VecDeque<u32>,
    closed: bool,
    /// The task that made the latest call.
    last_task: Option<tokio::task::Id>,
}

const EXPIRED_KEPT: usize = 4096;

impl Pending {
    /// Calls still waiting for their reply.
    fn waiting(&self) -> usize {
        self.calls.len() - self.answered
    }

    /// Removes a call's entry; its reply, if it has one.
    fn remove(&mut self, id: u32) -> Option<Reply> {
        match self.calls.remove(&id) {
            Some(Slot::Answered(reply)) => {
                self.answered -= 1;
                Some(reply)
            }
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    /// See [`ConnectRpc::max_pending_calls`].
    max_pending: usize,
    /// Replies dropped: unknown or late ids, and messages that are not replies.
    dropped_replies: AtomicU64,
    /// Requests on their way to the socket (see [`write_requests`]).
    outbox: mpsc::UnboundedSender<(u32, Message)>,
}

impl Shared {
    fn is_pending(&self, id: u32) -> bool {
        self.pending.lock().unwrap().calls.contains_key(&id)
    }

    fn fail_all(&self) {
        let calls = {
            let mut p = self.pending.lock().unwrap();
            p.closed = true;
            p.answered = 0;
            std::mem::take(&mut p.calls)
        };
        // A call that finds no entry of its own fails with ServiceClosed; woken outside the
        // lock, as their polls take it.
        for slot in calls.into_values() {
            if let Slot::Waiting(Some(w)) = slot {
                w.wake();
            }
        }
    }

    /// Hands every reply of `replies` to its call, under one lock, and wakes the callers
    /// after it (`wakers` is scratch space, left empty).
    fn deliver(&self, replies: &mut Vec<Reply>, wakers: &mut Vec<Waker>) {
        {
            let mut guard = self.pending.lock().unwrap();
            let p = &mut *guard;
            for reply in replies.drain(..) {
                let id = reply.header.req_id;
                match p.calls.get_mut(&id) {
                    Some(slot @ Slot::Waiting(_)) => {
                        if let Slot::Waiting(Some(w)) =
                            std::mem::replace(slot, Slot::Answered(reply))
                        {
                            wakers.push(w);
                        }
                        p.answered += 1;
                    }
                    Some(Slot::Answered(_)) => {
                        // A second reply to the same request: the first one stands.
                        self.dropped_replies.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(req_id = id, "dropping a second reply to a call");
                    }
                    None => {
                        self.dropped_replies.fetch_add(1, Ordering::Relaxed);
                        if p.expired.contains(&id) {
                            tracing::debug!(
                                req_id = id,
                                "dropping a late reply to a timed-out call"
                            );
                        } else {
                            tracing::warn!(req_id = id, "dropping a reply with an unknown id");
                        }
                    }
                }
            }
        }
        for w in wakers.drain(..) {
            w.wake();
        }
    }
}

/// Removes a call's pending entry when the call ends in any way.
struct CallGuard {
    shared: Arc<Shared>,
    id: u32,
    armed: bool,
}

impl CallGuard {
    fn expire(&mut self) {
        let mut p = self.shared.pending.lock().unwrap();
        p.remove(self.id);
        if p.expired.insert(self.id) {
            p.expired_order.push_back(self.id);
            if p.expired_order.len() > EXPIRED_KEPT {
                if let Some(old) = p.expired_order.pop_front() {
                    p.expired.remove(&old);
                }
            }
        }
        self.armed = false;
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.armed {
            // An abandoned call: a reply may still come, and is expected.
            self.expire();
        }
    }
}

#[derive(Debug)]
struct ClientInner {
    service: Service,
    shared: Arc<Shared>,
    codec: Codec,
    error_table: ErrorTable,
    prefix: (u16, u16),
    counter: AtomicU32,
}

/// A request-reply client (Python's `RPCClient`): calls methods of a server and waits for
/// their results. Cheap to clone; clones share the socket and pending calls.
///
/// Many calls may be in flight at once; replies are matched by request id, in any order.
/// Derefs to its [`Service`] (`transport()`, `close()`, `wait_closed()`).
#[derive(Clone, Debug)]
pub struct RpcClient {
    inner: Arc<ClientInner>,
    timeout: Option<Duration>,
}

impl IntoFuture for ConnectRpc {
    type Output = Result<RpcClient, Error>;
    type IntoFuture = BoxFut<Result<RpcClient, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let opts = self.opts;
            let socket = opts.endpoints.open(SocketType::Dealer).await?;
            let (outbox, requests) = mpsc::unbounded_channel();
            let shared = Arc::new(Shared {
                pending: Mutex::new(Pending::default()),
                max_pending: opts.max_pending.unwrap_or(DEFAULT_MAX_PENDING_CALLS),
                dropped_replies: AtomicU64::new(0),
                outbox,
            });
            let token = CancellationToken::new();
            let main = {
                let (socket, shared) = (socket.clone(), shared.clone());
                async move {
                    // The writer runs as a task of its own (its wake-ups do not poll the
                    // receiver, nor the other way round); it ends with this future.
                    let writer = AbortOnDrop(tokio::spawn(write_requests(
                        socket.clone(),
                        requests,
                        shared.clone(),
                    )));
                    recv_replies(socket, shared).await;
                    drop(writer);
                }
            };
            let cleanup = {
                let shared = shared.clone();
                let socket = socket.clone();
                move || async move {
                    shared.fail_all();
                    // Every pending call has failed: queued requests are not worth waiting for.
                    let _ = socket.set_linger(Duration::ZERO);
                }
            };
            let service = Service::spawn(socket, token, main, cleanup);
            Ok(RpcClient {
                inner: Arc::new(ClientInner {
                    service,
                    shared,
                    codec: Codec::new(&opts.table),
                    error_table: opts.error_table,
                    prefix: header_prefix(),
                    counter: AtomicU32::new(0),
                }),
                timeout: opts.timeout,
            })
        })
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends the requests of all calls from one task, in bursts: after the first request it
/// lets every other ready task queue its own, then hands them all to the socket at once, so
/// the connection writes many requests per system call when many calls are in flight
/// (each caller sending for itself would wake the connection once per request). Requests
/// of calls abandoned meanwhile (timed out, dropped, closed) are not sent.
///
/// While the socket makes it wait (no server, or at its high-water mark), it goes on
/// taking requests in and drops those of calls abandoned meanwhile once more are queued
/// than calls may be pending, so that calls timing out while no server takes their
/// requests leave nothing behind: at most twice the pending-call limit are queued.
async fn write_requests(
    socket: Arc<Socket>,
    mut requests: mpsc::UnboundedReceiver<(u32, Message)>,
    shared: Arc<Shared>,
) {
    let mut queue: VecDeque<(u32, Message)> = VecDeque::with_capacity(128);
    while let Some(first) = requests.recv().await {
        queue.push_back(first);
        tokio::task::yield_now().await;
        while let Ok(more) = requests.try_recv() {
            queue.push_back(more);
        }
        let mut skip_abandoned = false;
        while let Some((id, msg)) = queue.pop_front() {
            // Sending normally completes at once; once the socket makes us wait, skip the
            // calls abandoned meanwhile.
            if skip_abandoned && !shared.is_pending(id) {
                continue;
            }
            match socket.try_send(msg) {
                Ok(()) => {}
                Err(e) if e.error.kind() == crate::ErrorKind::Again => {
                    skip_abandoned = true;
                    if !shared.is_pending(id) {
                        continue;
                    }
                    let send = socket.send(e.message);
                    tokio::pin!(send);
                    loop {
                        tokio::select! {
                            biased;
                            sent = &mut send => {
                                if sent.is_err() {
                                    return;
                                }
                                break;
                            }
                            Some(more) = requests.recv() => {
                                queue.push_back(more);
                                if queue.len() > shared.max_pending {
                                    queue.retain(|(id, _)| shared.is_pending(*id));
                                }
                            }
                        }
                    }
                }
                Err(_) => return,
            }
        }
    }
}

async fn recv_replies(socket: Arc<Socket>, shared: Arc<Shared>) {
    // The callers answered so far make their next calls while the rest is taken in (see
    // `Intake`); the replies queued at once are delivered together.
    let mut intake = Intake::default();
    let mut messages = Vec::with_capacity(GIVE_WAY_EVERY);
    let mut replies = Vec::with_capacity(GIVE_WAY_EVERY);
    let mut wakers = Vec::with_capacity(GIVE_WAY_EVERY);
    while intake.next_batch(&socket, &mut messages).await.is_ok() {
        for msg in messages.drain(..) {
            match Reply::load(msg) {
                Ok(reply) => replies.push(reply),
                Err(e) => {
                    shared.dropped_replies.fetch_add(1, Ordering::Relaxed);
                    tracing::error!("cannot unpack a reply: {e}");
                }
            }
        }
        shared.deliver(&mut replies, &mut wakers);
    }
}

impl Deref for RpcClient {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.inner.service
    }
}

impl RpcClient {
    /// A client sharing this one's socket and calls with another default timeout
    /// (`None`: no timeout) (Python's `with_timeout`).
    pub fn with_timeout(&self, timeout: impl Into<Option<Duration>>) -> RpcClient {
        RpcClient {
            inner: self.inner.clone(),
            timeout: timeout.into(),
        }
    }

    /// The timeout of this handle's calls.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Calls `name` (dotted: `"ns.sub.method"`) with positional and keyword arguments and
    /// returns the result as a [`Value`]. See [`call_as`](Self::call_as).
    pub fn call(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: impl IntoKwargs,
    ) -> impl Future<Output = Result<Value, Error>> + Send + 'static {
        self.call_as(name, args, kwargs)
    }

    /// Calls `name` with positional and keyword arguments and converts the result to `T`.
    ///
    /// The arguments are packed before this returns; the request is sent when the future
    /// is first polled. Errors: the remote exception translated by the error table,
    /// [`Error::Timeout`] when no reply came within the timeout (a late reply is then
    /// dropped), [`Error::ServiceClosed`] when the client is or gets closed,
    /// [`Error::Encode`]/[`Error::Decode`] for values that do not convert.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the call: its request is not sent if it was not yet, and
    /// its reply, if one comes, is dropped.
    pub fn call_as<T: FromValue + Send + 'static>(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: impl IntoKwargs,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        let (call, error) = match self.prepare(name, args, kwargs) {
            Ok((msg, guard, direct)) => (
                Some(Call {
                    guard,
                    msg: Some(msg),
                    direct,
                    send: None,
                    deadline: None,
                }),
                None,
            ),
            Err(e) => (None, Some(e)),
        };
        CallFuture {
            inner: self.inner.clone(),
            timeout: self.timeout,
            call,
            error,
            result: PhantomData,
        }
    }

    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: impl IntoKwargs,
    ) -> Result<(Message, CallGuard, bool), Error> {
        let inner = &self.inner;
        let args = args
            .into_args()
            .map_err(|e| Error::Encode(format!("argument: {e}")))?;
        let kwargs = kwargs
            .into_kwargs()
            .map_err(|e| Error::Encode(format!("keyword argument: {e}")))?;
        let (id, direct) = {
            let mut p = inner.shared.pending.lock().unwrap();
            if p.closed || inner.service.is_closed() {
                return Err(Error::ServiceClosed);
            }
            if p.waiting() >= inner.shared.max_pending {
                return Err(Error::TooManyPendingCalls(inner.shared.max_pending));
            }
            // Python's counter: 1, 2, ... 2^32-1, 0, 1, ...; skip ids still in use.
            let mut id;
            loop {
                id = inner
                    .counter
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_add(1);
                if !p.calls.contains_key(&id) {
                    break;
                }
            }
            p.calls.insert(id, Slot::Waiting(None));
            if !p.expired.is_empty() {
                p.expired.remove(&id);
            }
            // Send directly when this call is alone, or when the same task made the previous
            // call too (its calls leave in one poll and the connection batches them); calls
            // from many tasks go through the writer, which batches them.
            let task = tokio::task::try_id();
            let direct = p.waiting() == 1 || (task.is_some() && task == p.last_task);
            p.last_task = task;
            (id, direct)
        };
        let header = RequestHeader {
            pid: inner.prefix.0,
            random: inner.prefix.1,
            req_id: id,
            time: unix_time(),
        };
        let guard = CallGuard {
            shared: inner.shared.clone(),
            id,
            armed: true,
        };
        let msg = Request::encode_call(&header, &inner.codec, name, &args, &kwargs)?;
        Ok((msg, guard, direct))
    }

    /// How many calls wait for their reply (at most the client's
    /// [`max_pending_calls`](ConnectRpc::max_pending_calls)).
    pub fn pending_calls(&self) -> usize {
        self.inner.shared.pending.lock().unwrap().waiting()
    }

    /// How many received messages were dropped since the client started: replies whose id
    /// no call waits for (never issued, or the call timed out or was dropped) and messages
    /// that are not replies (logged as `tracing` events of `aiozmq::rpc::client`).
    pub fn dropped_replies(&self) -> u64 {
        self.inner.shared.dropped_replies.load(Ordering::Relaxed)
    }
}

/// The future of a call made by [`RpcClient::call_as`]: written out by hand rather than as
/// an `async` block, so that it stays small (it is moved into whatever runs it, once per
/// call) and costs nothing for a timeout it does not have.
struct CallFuture<T> {
    inner: Arc<ClientInner>,
    timeout: Option<Duration>,
    /// The call in progress; `None` once finished (or when it could not be prepared).
    call: Option<Call>,
    /// Why the call could not be prepared, reported at the first poll.
    error: Option<Error>,
    result: PhantomData<fn() -> T>,
}

/// A call in progress.
struct Call {
    guard: CallGuard,
    /// The request, until the first poll hands it over.
    msg: Option<Message>,
    /// Hand the request straight to the socket (else to the writer task).
    direct: bool,
    /// A send waiting for room in the socket (no server yet, or at its high-water mark).
    send: Option<BoxFut<Result<(), crate::Error>>>,
    /// When the call times out (from the first poll on).
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T: FromValue> Future for CallFuture<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = self.get_mut();
        if let Some(e) = this.error.take() {
            return Poll::Ready(Err(e));
        }
        let call = this
            .call
            .as_mut()
            .expect("a call future polled after it completed");
        if let Some(msg) = call.msg.take() {
            // Hand the request over at the first poll; only a socket without room (no
            // server yet, or at its high-water mark) leaves a send to wait for.
            if call.direct {
                match this.inner.service.socket().try_send(msg) {
                    Ok(()) => {}
                    Err(e) if e.error.kind() == crate::ErrorKind::Again => {
                        let socket = this.inner.service.socket().clone();
                        let msg = e.message;
                        call.send = Some(Box::pin(async move { socket.send(msg).await }));
                    }
                    Err(e) => {
                        // Dropping the armed guard expires the call.
                        this.call = None;
                        return Poll::Ready(Err(e.error.into()));
                    }
                }
            } else if this.inner.shared.outbox.send((call.guard.id, msg)).is_err() {
                this.call = None;
                return Poll::Ready(Err(Error::ServiceClosed));
            }
            if let Some(t) = this.timeout {
                call.deadline = Some(Box::pin(tokio::time::sleep(t)));
            }
        }
        if let Some(send) = call.send.as_mut() {
            match send.as_mut().poll(cx) {
                Poll::Ready(Ok(())) => call.send = None,
                Poll::Ready(Err(e)) => {
                    this.call = None;
                    return Poll::Ready(Err(e.into()));
                }
                Poll::Pending => {}
            }
        }
        if call.send.is_none() {
            let answered = {
                let mut p = this.inner.shared.pending.lock().unwrap();
                match p.calls.get_mut(&call.guard.id) {
                    Some(Slot::Waiting(w)) => {
                        if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            *w = Some(cx.waker().clone());
                        }
                        None
                    }
                    Some(Slot::Answered(_)) => p.remove(call.guard.id).map(Ok),
                    // Only closing takes the entry of a call that has not ended.
                    None => Some(Err(Error::ServiceClosed)),
                }
            };
            if let Some(r) = answered {
                // Answered (the entry is gone) or closed.
                call.guard.armed = false;
                this.call = None;
                return Poll::Ready(r.and_then(|reply| this.inner.decode_reply(reply)));
            }
        }
        if let Some(deadline) = call.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                call.guard.expire();
                this.call = None;
                return Poll::Ready(Err(Error::Timeout));
            }
        }
        Poll::Pending
    }
}

impl ClientInner {
    fn decode_reply<T: FromValue>(&self, reply: Reply) -> Result<T, Error> {
        let v = self
            .codec
            .unpack(&reply.body)
            .map_err(|e| Error::Decode(e.to_string()))?;
        if reply.header.is_error {
            let exc = Exception::from_value(v).ok_or_else(|| {
                Error::Decode("an error reply that is not [exc_type, exc_args, exc_repr]".into())
            })?;
            return Err(self.error_table.translate(exc));
        }
        T::from_value(v).map_err(|e| Error::Decode(format!("result: {e}")))
    }
}

/// A pipeline client (Python's `PipelineClient`): sends notifications, gets nothing back.
/// Derefs to its [`Service`].
#[derive(Debug)]
pub struct PipelineClient {
    service: Service,
    codec: Codec,
}

impl IntoFuture for ConnectPipeline {
    type Output = Result<PipelineClient, Error>;
    type IntoFuture = BoxFut<Result<PipelineClient, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let socket = self.opts.endpoints.open(SocketType::Push).await?;
            let token = CancellationToken::new();
            let service = Service::spawn(socket, token, std::future::pending(), || async {});
            Ok(PipelineClient {
                service,
                codec: Codec::new(&self.opts.table),
            })
        })
    }
}

impl Deref for PipelineClient {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

impl PipelineClient {
    /// Sends a call of `name` to one server (round-robin), waiting only while no server is
    /// connected or all are at their high-water mark.
    ///
    /// # Cancel safety
    /// If the future is dropped before it completes, the notification was not sent.
    pub fn notify(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: impl IntoKwargs,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let frames = encode_args(&self.codec, name, args, kwargs);
        let socket = self.service.socket().clone();
        let closed = self.service.is_closed();
        async move {
            if closed {
                return Err(Error::ServiceClosed);
            }
            let msg: Message = frames?.into_iter().collect();
            socket.send(msg).await?;
            Ok(())
        }
    }
}

/// A publish-subscribe client (Python's `PubSubClient`): publishes calls under a topic to
/// every server subscribed to it. Derefs to its [`Service`].
#[derive(Debug)]
pub struct PubSubClient {
    service: Service,
    codec: Codec,
}

impl IntoFuture for ConnectPubSub {
    type Output = Result<PubSubClient, Error>;
    type IntoFuture = BoxFut<Result<PubSubClient, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let socket = self.opts.endpoints.open(SocketType::Pub).await?;
            let token = CancellationToken::new();
            let service = Service::spawn(socket, token, std::future::pending(), || async {});
            Ok(PubSubClient {
                service,
                codec: Codec::new(&self.opts.table),
            })
        })
    }
}

impl Deref for PubSubClient {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

/// Calls published under one topic (Python's `client.publish(topic)`).
#[derive(Debug)]
pub struct Publisher<'a> {
    client: &'a PubSubClient,
    topic: Bytes,
}

impl PubSubClient {
    /// Calls under `topic` (text is sent as UTF-8; `""` for no topic).
    pub fn publish(&self, topic: impl AsRef<[u8]>) -> Publisher<'_> {
        Publisher {
            client: self,
            topic: Bytes::copy_from_slice(topic.as_ref()),
        }
    }
}

impl Publisher<'_> {
    /// Publishes a call of `name` (PUB drops it for subscribers that cannot take it, and
    /// when there are none).
    pub fn call(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: impl IntoKwargs,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let frames = encode_args(&self.client.codec, name, args, kwargs);
        let socket = self.client.service.socket().clone();
        let closed = self.client.service.is_closed();
        let topic = self.topic.clone();
        async move {
            if closed {
                return Err(Error::ServiceClosed);
            }
            let mut msg = Message::with_capacity(4);
            msg.push_back(topic);
            for f in frames? {
                msg.push_back(f);
            }
            socket.send(msg).await?;
            Ok(())
        }
    }
}

/// Calls a remote method in one line: `call!(client, ns.sub.method(1, "x", key = 3))`
/// is `client.call_as("ns.sub.method", Args::new().arg(1).arg("x"),
/// Kwargs::new().arg("key", 3))`, a future of `Result<T, Error>` with `T` inferred (use
/// [`Value`] for any result).
///
/// ```no_run
/// # async fn f(client: aiozmq::rpc::RpcClient) -> Result<(), aiozmq::rpc::Error> {
/// use aiozmq::rpc::call;
/// let n: i64 = call!(client, ns.add(1, b = 2)).await?;
/// let short: String = call!(client.with_timeout(std::time::Duration::from_secs(1)), echo("hi")).await?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! rpc_call {
    ($client:expr, $first:ident $(. $rest:ident)* ( $($args:tt)* )) => {
        $crate::__rpc_invoke!([($client).call_as]
            concat!(stringify!($first) $(, ".", stringify!($rest))*); [] [] $($args)*)
    };
}

/// Sends a pipeline notification in one line: `notify!(client, ns.method(1, key = 2))`.
#[macro_export]
macro_rules! rpc_notify {
    ($client:expr, $first:ident $(. $rest:ident)* ( $($args:tt)* )) => {
        $crate::__rpc_invoke!([($client).notify]
            concat!(stringify!($first) $(, ".", stringify!($rest))*); [] [] $($args)*)
    };
}

/// Publishes a call in one line: `publish!(client, "topic", ns.method(1, key = 2))`.
#[macro_export]
macro_rules! rpc_publish {
    ($client:expr, $topic:expr, $first:ident $(. $rest:ident)* ( $($args:tt)* )) => {
        $crate::__rpc_invoke!([($client).publish($topic).call]
            concat!(stringify!($first) $(, ".", stringify!($rest))*); [] [] $($args)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rpc_invoke {
    ([$($target:tt)*] $name:expr; [$($pos:tt)*] [$($kw:tt)*]) => {
        $($target)*($name, $crate::rpc::Args::new() $($pos)*, $crate::rpc::Kwargs::new() $($kw)*)
    };
    ([$($target:tt)*] $name:expr; [$($pos:tt)*] [$($kw:tt)*] $k:ident = $v:expr $(, $($rest:tt)*)?) => {
        $crate::__rpc_invoke!([$($target)*] $name; [$($pos)*] [$($kw)* .arg(stringify!($k), $v)] $($($rest)*)?)
    };
    ([$($target:tt)*] $name:expr; [$($pos:tt)*] [$($kw:tt)*] $v:expr $(, $($rest:tt)*)?) => {
        $crate::__rpc_invoke!([$($target)*] $name; [$($pos)* .arg($v)] [$($kw)*] $($($rest)*)?)
    };
}
