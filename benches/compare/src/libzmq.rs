//! The runner's own declarations of the libzmq 4.3 functions `peer_libzmq` calls (from the
//! documented C API in zmq.h), and a thin safe layer over them. libzmq itself is built from
//! source by build.rs (zeromq-src, with CURVE over libsodium-sys-stable's libsodium).

use std::ffi::{c_char, c_int, c_long, c_short, c_void, CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

// Linked for libzmq's CURVE; `sodium_version_string` is used by `sodium_version`.
use libsodium_sys as sodium;

/// `zmq_msg_t`: 64 opaque bytes, aligned at least as a pointer.
#[repr(C, align(8))]
struct RawMsg([u8; 64]);

/// `zmq_pollitem_t` on POSIX systems (`fd` is an `int` there), borrowing its socket.
#[repr(C)]
pub struct PollItem<'a> {
    socket: *mut c_void,
    fd: c_int,
    events: c_short,
    revents: c_short,
    _socket: PhantomData<&'a Socket>,
}

extern "C" {
    fn zmq_errno() -> c_int;
    fn zmq_strerror(errnum: c_int) -> *const c_char;
    fn zmq_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int);
    fn zmq_has(capability: *const c_char) -> c_int;

    fn zmq_ctx_new() -> *mut c_void;
    fn zmq_ctx_term(context: *mut c_void) -> c_int;
    fn zmq_ctx_set(context: *mut c_void, option: c_int, value: c_int) -> c_int;

    fn zmq_socket(context: *mut c_void, kind: c_int) -> *mut c_void;
    fn zmq_close(socket: *mut c_void) -> c_int;
    fn zmq_setsockopt(
        socket: *mut c_void,
        option: c_int,
        value: *const c_void,
        len: usize,
    ) -> c_int;
    fn zmq_bind(socket: *mut c_void, endpoint: *const c_char) -> c_int;
    fn zmq_connect(socket: *mut c_void, endpoint: *const c_char) -> c_int;

    fn zmq_msg_init(msg: *mut RawMsg) -> c_int;
    fn zmq_msg_init_size(msg: *mut RawMsg, size: usize) -> c_int;
    fn zmq_msg_data(msg: *mut RawMsg) -> *mut c_void;
    fn zmq_msg_size(msg: *const RawMsg) -> usize;
    fn zmq_msg_more(msg: *const RawMsg) -> c_int;
    fn zmq_msg_close(msg: *mut RawMsg) -> c_int;
    fn zmq_msg_send(msg: *mut RawMsg, socket: *mut c_void, flags: c_int) -> c_int;
    fn zmq_msg_recv(msg: *mut RawMsg, socket: *mut c_void, flags: c_int) -> c_int;

    fn zmq_proxy(frontend: *mut c_void, backend: *mut c_void, capture: *mut c_void) -> c_int;

    fn zmq_poll(items: *mut PollItem<'_>, nitems: c_int, timeout: c_long) -> c_int;

    fn zmq_z85_encode(dest: *mut c_char, data: *const u8, size: usize) -> *mut c_char;
    fn zmq_curve_public(z85_public_key: *mut c_char, z85_secret_key: *const c_char) -> c_int;
}

// Socket types.
pub const PUB: c_int = 1;
pub const SUB: c_int = 2;
pub const REQ: c_int = 3;
pub const REP: c_int = 4;
pub const DEALER: c_int = 5;
pub const ROUTER: c_int = 6;
pub const PULL: c_int = 7;
pub const PUSH: c_int = 8;
pub const XPUB: c_int = 9;
pub const XSUB: c_int = 10;

// Context options.
const MAX_SOCKETS: c_int = 2;

// Socket options.
const SUBSCRIBE: c_int = 6;
const RCVTIMEO: c_int = 27;
const CURVE_SERVER: c_int = 47;
const CURVE_PUBLICKEY: c_int = 48;
const CURVE_SECRETKEY: c_int = 49;
const CURVE_SERVERKEY: c_int = 50;
const XPUB_NODROP: c_int = 69;

/// Send/receive flag: do not block.
pub const DONTWAIT: c_int = 1;
/// Poll event: a message can be received.
pub const POLLIN: c_short = 1;

/// An error number from libzmq (`zmq_errno`), shown as `zmq_strerror` words it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error(pub c_int);

/// `zmq_errno()`'s "try again": nothing to receive without blocking, or a receive timeout.
pub const EAGAIN: Error = Error(libc::EAGAIN);

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    fn last() -> Error {
        // SAFETY: zmq_errno takes nothing and only reads the calling thread's errno.
        Error(unsafe { zmq_errno() })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: zmq_strerror returns a NUL-terminated static string for any number.
        let text = unsafe { CStr::from_ptr(zmq_strerror(self.0)) };
        f.write_str(&text.to_string_lossy())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self, self.0)
    }
}

/// `rc == -1` means failure with the reason in errno.
fn check(rc: c_int) -> Result<c_int> {
    if rc == -1 {
        Err(Error::last())
    } else {
        Ok(rc)
    }
}

/// libzmq's version (`zmq_version`).
pub fn version() -> (i32, i32, i32) {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: three valid pointers to ints that libzmq writes.
    unsafe { zmq_version(&mut major, &mut minor, &mut patch) };
    (major, minor, patch)
}

/// Whether this libzmq has a capability such as "curve" (`zmq_has`).
pub fn has(capability: &str) -> bool {
    let capability = CString::new(capability).expect("no NUL in a capability");
    // SAFETY: a NUL-terminated string that outlives the call.
    unsafe { zmq_has(capability.as_ptr()) == 1 }
}

/// The version of the libsodium libzmq's CURVE is linked with.
pub fn sodium_version() -> String {
    // SAFETY: sodium_version_string returns a NUL-terminated static string.
    unsafe { CStr::from_ptr(sodium::sodium_version_string()) }
        .to_string_lossy()
        .into_owned()
}

/// A 32-byte key in Z85 (`zmq_z85_encode`): 40 characters.
pub fn z85_encode(key: &[u8; 32]) -> String {
    let mut out = [0 as c_char; 41];
    // SAFETY: a 41-byte output (32 × 5/4 + 1, as documented) and 32 bytes of input.
    let rc = unsafe { zmq_z85_encode(out.as_mut_ptr(), key.as_ptr(), key.len()) };
    assert!(!rc.is_null(), "zmq_z85_encode failed");
    // SAFETY: libzmq wrote a NUL-terminated 40-character string into `out`.
    unsafe { CStr::from_ptr(out.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The Z85 public key of a Z85 secret key, derived by libzmq (`zmq_curve_public`).
pub fn curve_public(z85_secret: &str) -> Result<String> {
    let secret = CString::new(z85_secret).expect("Z85 has no NUL");
    let mut public = [0 as c_char; 41];
    // SAFETY: a 41-byte output buffer and a NUL-terminated 40-character Z85 key, as documented.
    check(unsafe { zmq_curve_public(public.as_mut_ptr(), secret.as_ptr()) })?;
    // SAFETY: libzmq wrote a NUL-terminated 40-character string.
    Ok(unsafe { CStr::from_ptr(public.as_ptr()) }
        .to_string_lossy()
        .into_owned())
}

struct RawContext(*mut c_void);

// SAFETY: a libzmq context is thread-safe: it may be used and terminated from any thread.
unsafe impl Send for RawContext {}
// SAFETY: as above; every function taking a context may be called from several threads.
unsafe impl Sync for RawContext {}

impl Drop for RawContext {
    fn drop(&mut self) {
        // Terminates once every socket is closed (each holds a clone of the context).
        loop {
            // SAFETY: a context from zmq_ctx_new, terminated once, here.
            let rc = unsafe { zmq_ctx_term(self.0) };
            if rc == 0 || Error::last() != Error(libc::EINTR) {
                break;
            }
        }
    }
}

/// A libzmq context; clones share it, and it is terminated when the last clone and the last
/// of its sockets are gone.
#[derive(Clone)]
pub struct Context(Arc<RawContext>);

impl Context {
    pub fn new() -> Context {
        // SAFETY: zmq_ctx_new takes nothing; it returns NULL only on failure, checked below.
        let raw = unsafe { zmq_ctx_new() };
        assert!(!raw.is_null(), "zmq_ctx_new failed: {}", Error::last());
        Context(Arc::new(RawContext(raw)))
    }

    /// ZMQ_MAX_SOCKETS: how many sockets the context may hold (default 1023).
    pub fn set_max_sockets(&self, n: c_int) -> Result<()> {
        // SAFETY: a live context (self holds it) and an integer option.
        check(unsafe { zmq_ctx_set(self.0 .0, MAX_SOCKETS, n) })?;
        Ok(())
    }

    pub fn socket(&self, kind: c_int) -> Result<Socket> {
        // SAFETY: a live context (self holds it).
        let raw = unsafe { zmq_socket(self.0 .0, kind) };
        if raw.is_null() {
            return Err(Error::last());
        }
        Ok(Socket {
            raw,
            _context: self.clone(),
        })
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

/// A libzmq socket, closed on drop; it keeps its context alive.
pub struct Socket {
    raw: *mut c_void,
    _context: Context,
}

// SAFETY: libzmq sockets may move to another thread when a full memory barrier separates the
// uses (moving a value between threads has one); this type is not Sync, so one thread at a
// time uses it.
unsafe impl Send for Socket {}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: a socket from zmq_socket, closed once, here.
        unsafe { zmq_close(self.raw) };
    }
}

impl Socket {
    fn set_bytes(&self, option: c_int, value: &[u8]) -> Result<()> {
        // SAFETY: a live socket and `value.len()` readable bytes (libzmq copies them).
        check(unsafe { zmq_setsockopt(self.raw, option, value.as_ptr().cast(), value.len()) })?;
        Ok(())
    }

    fn set_int(&self, option: c_int, value: c_int) -> Result<()> {
        self.set_bytes(option, &value.to_ne_bytes())
    }

    pub fn set_subscribe(&self, prefix: &[u8]) -> Result<()> {
        self.set_bytes(SUBSCRIBE, prefix)
    }

    /// ZMQ_RCVTIMEO in milliseconds (-1: block).
    pub fn set_rcvtimeo(&self, ms: i32) -> Result<()> {
        self.set_int(RCVTIMEO, ms)
    }

    /// ZMQ_XPUB_NODROP: a send waits (or fails with EAGAIN) at SNDHWM instead of dropping.
    pub fn set_xpub_nodrop(&self, on: bool) -> Result<()> {
        self.set_int(XPUB_NODROP, on as c_int)
    }

    pub fn set_curve_server(&self, on: bool) -> Result<()> {
        self.set_int(CURVE_SERVER, on as c_int)
    }

    /// A CURVE key option: 32 bytes, or 40 characters of Z85.
    pub fn set_curve_secretkey(&self, key: &[u8]) -> Result<()> {
        self.set_bytes(CURVE_SECRETKEY, key)
    }

    pub fn set_curve_publickey(&self, key: &[u8]) -> Result<()> {
        self.set_bytes(CURVE_PUBLICKEY, key)
    }

    pub fn set_curve_serverkey(&self, key: &[u8]) -> Result<()> {
        self.set_bytes(CURVE_SERVERKEY, key)
    }

    pub fn bind(&self, endpoint: &str) -> Result<()> {
        let endpoint = CString::new(endpoint).expect("no NUL in an endpoint");
        // SAFETY: a live socket and a NUL-terminated string that outlives the call.
        check(unsafe { zmq_bind(self.raw, endpoint.as_ptr()) })?;
        Ok(())
    }

    pub fn connect(&self, endpoint: &str) -> Result<()> {
        let endpoint = CString::new(endpoint).expect("no NUL in an endpoint");
        // SAFETY: a live socket and a NUL-terminated string that outlives the call.
        check(unsafe { zmq_connect(self.raw, endpoint.as_ptr()) })?;
        Ok(())
    }

    /// Sends a copy of `data` as one message (zmq_msg_init_size, copy, zmq_msg_send).
    pub fn send_bytes(&self, data: &[u8], flags: c_int) -> Result<()> {
        self.send(Message::copy_of(data), flags)
    }

    /// Sends `msg` (zmq_msg_send takes its content).
    pub fn send(&self, mut msg: Message, flags: c_int) -> Result<()> {
        // SAFETY: a live socket and an initialised message; the message is closed on drop.
        check(unsafe { zmq_msg_send(&mut msg.0, self.raw, flags) })?;
        Ok(())
    }

    /// Receives one message part into `msg` (zmq_msg_recv; its previous content is released).
    pub fn recv(&self, msg: &mut Message, flags: c_int) -> Result<()> {
        // SAFETY: a live socket and an initialised message.
        check(unsafe { zmq_msg_recv(&mut msg.0, self.raw, flags) })?;
        Ok(())
    }

    /// Receives every part of one message.
    pub fn recv_multipart(&self, flags: c_int) -> Result<Vec<Vec<u8>>> {
        let mut parts = Vec::new();
        loop {
            let mut msg = Message::new();
            self.recv(&mut msg, flags)?;
            parts.push(msg.to_vec());
            if !msg.more() {
                return Ok(parts);
            }
        }
    }

    /// A poll item for [`poll`], borrowing the socket.
    pub fn poll_item(&self, events: c_short) -> PollItem<'_> {
        PollItem {
            socket: self.raw,
            fd: 0,
            events,
            revents: 0,
            _socket: PhantomData,
        }
    }
}

impl PollItem<'_> {
    pub fn is_readable(&self) -> bool {
        self.revents & POLLIN != 0
    }
}

/// Runs libzmq's built-in proxy (`zmq_proxy`, no capture socket) until the context is
/// terminated; it returns only with an error.
pub fn proxy(frontend: &Socket, backend: &Socket) -> Error {
    // SAFETY: two live sockets, each used by this thread alone while the proxy runs.
    let rc = unsafe { zmq_proxy(frontend.raw, backend.raw, std::ptr::null_mut()) };
    debug_assert_eq!(rc, -1);
    Error::last()
}

/// Waits until one of `items` is ready (`zmq_poll`; timeout in ms, -1 for none).
pub fn poll(items: &mut [PollItem<'_>], timeout_ms: i64) -> Result<i32> {
    let n = c_int::try_from(items.len()).expect("fewer than 2^31 poll items");
    // SAFETY: `n` items laid out as zmq_pollitem_t, each naming a socket its borrow keeps
    // alive; libzmq writes their `revents`.
    check(unsafe { zmq_poll(items.as_mut_ptr(), n, timeout_ms as c_long) })
}

/// A `zmq_msg_t`, closed on drop.
pub struct Message(RawMsg);

impl Message {
    /// An empty message (zmq_msg_init).
    pub fn new() -> Message {
        let mut raw = RawMsg([0; 64]);
        // SAFETY: zmq_msg_init initialises the 64 bytes it is given; it cannot fail.
        unsafe { zmq_msg_init(&mut raw) };
        Message(raw)
    }

    /// A message holding a copy of `data` (zmq_msg_init_size, then a copy into it).
    pub fn copy_of(data: &[u8]) -> Message {
        let mut raw = RawMsg([0; 64]);
        // SAFETY: zmq_msg_init_size initialises `raw` with room for `data.len()` bytes.
        let rc = unsafe { zmq_msg_init_size(&mut raw, data.len()) };
        assert_eq!(rc, 0, "zmq_msg_init_size: {}", Error::last());
        let mut msg = Message(raw);
        if !data.is_empty() {
            // SAFETY: the message's data has room for exactly `data.len()` bytes and does not
            // overlap `data`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr(),
                    zmq_msg_data(&mut msg.0).cast::<u8>(),
                    data.len(),
                )
            };
        }
        msg
    }

    /// Whether more parts of the same message follow (zmq_msg_more).
    pub fn more(&self) -> bool {
        // SAFETY: an initialised message.
        unsafe { zmq_msg_more(&self.0) == 1 }
    }
}

impl Default for Message {
    fn default() -> Message {
        Message::new()
    }
}

impl Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: an initialised message; zmq_msg_data does not change it (the C API takes a
        // non-const pointer only by convention).
        let data = unsafe { zmq_msg_data(&self.0 as *const RawMsg as *mut RawMsg) };
        // SAFETY: an initialised message.
        let len = unsafe { zmq_msg_size(&self.0) };
        if len == 0 {
            return &[];
        }
        // SAFETY: `len` bytes at `data` belong to the message, which this borrow keeps alive
        // and unchanged.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: an initialised message, closed once, here (after zmq_msg_send it is empty).
        unsafe { zmq_msg_close(&mut self.0) };
    }
}
