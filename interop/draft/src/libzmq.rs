//! This crate's own declarations of the libzmq 4.3.5 functions the tests call (from the
//! documented C API in zmq.h, draft part included), and a small safe layer over them. All
//! the crate's `unsafe` is here. libzmq itself is built from source by build.rs.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::sync::Arc;

/// `zmq_msg_t`: 64 opaque bytes, aligned at least as a pointer.
#[repr(C, align(8))]
struct RawMsg([u8; 64]);

extern "C" {
    fn zmq_errno() -> c_int;
    fn zmq_strerror(errnum: c_int) -> *const c_char;
    fn zmq_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int);
    fn zmq_has(capability: *const c_char) -> c_int;

    fn zmq_ctx_new() -> *mut c_void;
    fn zmq_ctx_term(context: *mut c_void) -> c_int;

    fn zmq_socket(context: *mut c_void, kind: c_int) -> *mut c_void;
    fn zmq_close(socket: *mut c_void) -> c_int;
    fn zmq_setsockopt(
        socket: *mut c_void,
        option: c_int,
        value: *const c_void,
        len: usize,
    ) -> c_int;
    fn zmq_getsockopt(
        socket: *mut c_void,
        option: c_int,
        value: *mut c_void,
        len: *mut usize,
    ) -> c_int;
    fn zmq_bind(socket: *mut c_void, endpoint: *const c_char) -> c_int;
    fn zmq_connect(socket: *mut c_void, endpoint: *const c_char) -> c_int;
    fn zmq_socket_monitor(socket: *mut c_void, endpoint: *const c_char, events: c_int) -> c_int;

    fn zmq_msg_init(msg: *mut RawMsg) -> c_int;
    fn zmq_msg_init_size(msg: *mut RawMsg, size: usize) -> c_int;
    fn zmq_msg_data(msg: *mut RawMsg) -> *mut c_void;
    fn zmq_msg_size(msg: *const RawMsg) -> usize;
    fn zmq_msg_more(msg: *const RawMsg) -> c_int;
    fn zmq_msg_close(msg: *mut RawMsg) -> c_int;
    fn zmq_msg_send(msg: *mut RawMsg, socket: *mut c_void, flags: c_int) -> c_int;
    fn zmq_msg_recv(msg: *mut RawMsg, socket: *mut c_void, flags: c_int) -> c_int;

    // Draft API.
    fn zmq_join(socket: *mut c_void, group: *const c_char) -> c_int;
    fn zmq_leave(socket: *mut c_void, group: *const c_char) -> c_int;
    fn zmq_connect_peer(socket: *mut c_void, endpoint: *const c_char) -> u32;
    fn zmq_msg_set_routing_id(msg: *mut RawMsg, routing_id: u32) -> c_int;
    fn zmq_msg_routing_id(msg: *mut RawMsg) -> u32;
    fn zmq_msg_set_group(msg: *mut RawMsg, group: *const c_char) -> c_int;
    fn zmq_msg_group(msg: *mut RawMsg) -> *const c_char;
}

// Socket types.
pub const PUB: c_int = 1;
pub const SUB: c_int = 2;
pub const DEALER: c_int = 5;
pub const ROUTER: c_int = 6;
pub const XPUB: c_int = 9;
pub const XSUB: c_int = 10;
pub const PAIR: c_int = 0;
pub const SERVER: c_int = 12;
pub const CLIENT: c_int = 13;
pub const RADIO: c_int = 14;
pub const DISH: c_int = 15;
pub const GATHER: c_int = 16;
pub const SCATTER: c_int = 17;
pub const DGRAM: c_int = 18;
pub const PEER: c_int = 19;
pub const CHANNEL: c_int = 20;

// Socket options (stable).
pub const ROUTING_ID: c_int = 5;
pub const SUBSCRIBE: c_int = 6;
pub const UNSUBSCRIBE: c_int = 7;
pub const LINGER: c_int = 17;
pub const RECONNECT_IVL: c_int = 18;
pub const RCVTIMEO: c_int = 27;
pub const SNDTIMEO: c_int = 28;
pub const XPUB_VERBOSE: c_int = 40;
pub const XPUB_VERBOSER: c_int = 78;
pub const XPUB_MANUAL: c_int = 71;

// Socket options (draft).
pub const ROUTER_NOTIFY: c_int = 97;
pub const XPUB_MANUAL_LAST_VALUE: c_int = 98;
pub const ONLY_FIRST_SUBSCRIBE: c_int = 108;
pub const RECONNECT_STOP: c_int = 109;
pub const HELLO_MSG: c_int = 110;
pub const DISCONNECT_MSG: c_int = 111;
pub const HICCUP_MSG: c_int = 114;
pub const XSUB_VERBOSE_UNSUBSCRIBE: c_int = 115;
pub const TOPICS_COUNT: c_int = 116;

/// ROUTER_NOTIFY flags.
pub const NOTIFY_CONNECT: c_int = 1;
/// ROUTER_NOTIFY flags.
pub const NOTIFY_DISCONNECT: c_int = 2;
/// RECONNECT_STOP flag: a refused connect is not retried.
pub const RECONNECT_STOP_CONN_REFUSED: c_int = 1;

// Monitor events.
pub const EVENT_CONNECT_RETRIED: u16 = 0x0004;
pub const EVENT_CLOSED: u16 = 0x0080;
pub const EVENT_DISCONNECTED: u16 = 0x0200;

/// Send flag: more frames follow.
const SNDMORE: c_int = 2;

/// An error number from libzmq (`zmq_errno`), shown as `zmq_strerror` words it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error(pub c_int);

/// "Try again": nothing to receive within RCVTIMEO, or nothing could be sent in SNDTIMEO.
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

impl std::error::Error for Error {}

/// `rc == -1` means failure with the reason in errno.
fn check(rc: c_int) -> Result<c_int> {
    if rc == -1 {
        Err(Error::last())
    } else {
        Ok(rc)
    }
}

fn c_string(s: &str) -> CString {
    CString::new(s).expect("no NUL inside an endpoint or capability")
}

/// libzmq's version (`zmq_version`).
pub fn version() -> (i32, i32, i32) {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: three valid pointers to ints that libzmq writes.
    unsafe { zmq_version(&mut major, &mut minor, &mut patch) };
    (major, minor, patch)
}

/// Whether this libzmq has a capability such as "draft" (`zmq_has`).
pub fn has(capability: &str) -> bool {
    let capability = c_string(capability);
    // SAFETY: a NUL-terminated string that outlives the call.
    unsafe { zmq_has(capability.as_ptr()) == 1 }
}

struct RawContext(*mut c_void);

// SAFETY: a libzmq context is thread-safe: it may be used and terminated from any thread.
unsafe impl Send for RawContext {}
// SAFETY: as above; every function taking a context may be called from several threads.
unsafe impl Sync for RawContext {}

impl Drop for RawContext {
    fn drop(&mut self) {
        // Runs once every socket is closed (each holds a clone of the context).
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
        assert!(!raw.is_null(), "zmq_ctx_new failed: {:?}", Error::last());
        Context(Arc::new(RawContext(raw)))
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

/// A libzmq socket. It may move between threads (libzmq allows that with a full memory
/// barrier between the uses, which moving it through a channel or a mutex gives) but not be
/// used from two at once, hence `Send` and not `Sync`.
pub struct Socket {
    raw: *mut c_void,
    _context: Arc<RawContext>,
}

// SAFETY: see the type's comment; `&mut`-free methods still need `&Socket`, and `Socket` is
// not `Sync`, so only one thread uses it at a time.
unsafe impl Send for Socket {}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: a socket from zmq_socket, closed once, here.
        unsafe { zmq_close(self.raw) };
    }
}

/// A received message's frame and whether more follow.
struct Frame {
    data: Vec<u8>,
    more: bool,
}

impl Socket {
    /// `zmq_socket` of type `kind`.
    pub fn new(context: &Context, kind: c_int) -> Result<Socket> {
        // SAFETY: a live context; NULL (failure) is checked below.
        let raw = unsafe { zmq_socket(context.0 .0, kind) };
        if raw.is_null() {
            return Err(Error::last());
        }
        Ok(Socket {
            raw,
            _context: context.0.clone(),
        })
    }

    fn set_raw(&self, option: c_int, value: *const c_void, len: usize) -> Result<()> {
        // SAFETY: `value` points at `len` readable bytes (the callers pass a live int or
        // slice), and the socket is open.
        check(unsafe { zmq_setsockopt(self.raw, option, value, len) }).map(drop)
    }

    /// `zmq_setsockopt` with an int value.
    pub fn set_int(&self, option: c_int, value: c_int) -> Result<()> {
        self.set_raw(
            option,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>(),
        )
    }

    /// `zmq_setsockopt` with a binary value.
    pub fn set_bytes(&self, option: c_int, value: &[u8]) -> Result<()> {
        self.set_raw(option, value.as_ptr().cast(), value.len())
    }

    /// `zmq_getsockopt` of an int option.
    pub fn get_int(&self, option: c_int) -> Result<c_int> {
        let mut value: c_int = 0;
        let mut len = std::mem::size_of::<c_int>();
        // SAFETY: a writable int and its size, as the int options take.
        check(unsafe {
            zmq_getsockopt(
                self.raw,
                option,
                (&mut value as *mut c_int).cast(),
                &mut len,
            )
        })?;
        Ok(value)
    }

    /// `zmq_getsockopt` of a string option (up to 1 KiB), without its NUL.
    pub fn get_string(&self, option: c_int) -> Result<String> {
        let mut buf = vec![0u8; 1024];
        let mut len = buf.len();
        // SAFETY: a writable buffer and its size; libzmq writes at most `len` bytes and
        // sets `len` to what it wrote.
        check(unsafe { zmq_getsockopt(self.raw, option, buf.as_mut_ptr().cast(), &mut len) })?;
        buf.truncate(len);
        if buf.last() == Some(&0) {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// `zmq_bind`; returns the resolved endpoint (ZMQ_LAST_ENDPOINT).
    pub fn bind(&self, endpoint: &str) -> Result<String> {
        let endpoint = c_string(endpoint);
        // SAFETY: a NUL-terminated string that outlives the call.
        check(unsafe { zmq_bind(self.raw, endpoint.as_ptr()) })?;
        self.get_string(32)
    }

    /// `zmq_connect`.
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        let endpoint = c_string(endpoint);
        // SAFETY: a NUL-terminated string that outlives the call.
        check(unsafe { zmq_connect(self.raw, endpoint.as_ptr()) }).map(drop)
    }

    /// `zmq_socket_monitor`: `events` of this socket published on the PAIR endpoint.
    pub fn monitor(&self, endpoint: &str, events: c_int) -> Result<()> {
        let endpoint = c_string(endpoint);
        // SAFETY: a NUL-terminated string that outlives the call.
        check(unsafe { zmq_socket_monitor(self.raw, endpoint.as_ptr(), events) }).map(drop)
    }

    /// Sends the frames of one message (blocking up to SNDTIMEO).
    pub fn send(&self, frames: &[&[u8]]) -> Result<()> {
        for (i, frame) in frames.iter().enumerate() {
            let flags = if i + 1 < frames.len() { SNDMORE } else { 0 };
            self.send_frame(frame, flags)?;
        }
        Ok(())
    }

    fn send_frame(&self, data: &[u8], flags: c_int) -> Result<()> {
        self.send_with(data, flags, |_| Ok(()))
    }

    /// Sends one frame after `prepare` (which sets the routing id or group) ran on it.
    fn send_with(
        &self,
        data: &[u8],
        flags: c_int,
        prepare: impl FnOnce(*mut RawMsg) -> Result<()>,
    ) -> Result<()> {
        let mut msg = RawMsg([0; 64]);
        // SAFETY: an uninitialised zmq_msg_t that libzmq initialises with `len` bytes.
        check(unsafe { zmq_msg_init_size(&mut msg, data.len()) })?;
        // SAFETY: zmq_msg_data points at the message's `len` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), zmq_msg_data(&mut msg).cast(), data.len())
        };
        if let Err(e) = prepare(&mut msg) {
            // SAFETY: the unsent message, closed once.
            unsafe { zmq_msg_close(&mut msg) };
            return Err(e);
        }
        // SAFETY: an initialised message; on success libzmq owns it, on failure it is
        // still ours and is closed below.
        let rc = unsafe { zmq_msg_send(&mut msg, self.raw, flags) };
        if rc == -1 {
            let err = Error::last();
            // SAFETY: the unsent message, closed once.
            unsafe { zmq_msg_close(&mut msg) };
            return Err(err);
        }
        Ok(())
    }

    fn recv_frame(&self) -> Result<Frame> {
        self.recv_with(|_| ()).map(|(frame, ())| frame)
    }

    /// Receives one frame; `read` takes what it needs (routing id, group) from the message.
    fn recv_with<T>(&self, read: impl FnOnce(*mut RawMsg) -> T) -> Result<(Frame, T)> {
        let mut msg = RawMsg([0; 64]);
        // SAFETY: an uninitialised zmq_msg_t, initialised empty.
        check(unsafe { zmq_msg_init(&mut msg) })?;
        // SAFETY: an initialised message the socket fills in.
        let rc = unsafe { zmq_msg_recv(&mut msg, self.raw, 0) };
        let out = if rc == -1 {
            Err(Error::last())
        } else {
            // SAFETY: the received message's data and size describe its bytes.
            let data = unsafe {
                std::slice::from_raw_parts(zmq_msg_data(&mut msg).cast::<u8>(), zmq_msg_size(&msg))
            }
            .to_vec();
            // SAFETY: an initialised message.
            let more = unsafe { zmq_msg_more(&msg) } == 1;
            Ok((Frame { data, more }, read(&mut msg)))
        };
        // SAFETY: the message, closed once.
        unsafe { zmq_msg_close(&mut msg) };
        out
    }

    /// Receives the frames of one message (blocking up to RCVTIMEO for the first).
    pub fn recv(&self) -> Result<Vec<Vec<u8>>> {
        let mut frames = Vec::new();
        loop {
            let frame = self.recv_frame()?;
            frames.push(frame.data);
            if !frame.more {
                return Ok(frames);
            }
        }
    }

    /// SERVER/PEER: sends `data` to the peer with `routing_id` (`zmq_msg_set_routing_id`).
    pub fn send_routed(&self, routing_id: u32, data: &[u8]) -> Result<()> {
        self.send_with(data, 0, |msg| {
            // SAFETY: an initialised message.
            check(unsafe { zmq_msg_set_routing_id(msg, routing_id) }).map(drop)
        })
    }

    /// SERVER/PEER: receives one message and the routing id of its sender.
    pub fn recv_routed(&self) -> Result<(u32, Vec<u8>)> {
        // SAFETY: an initialised, received message.
        let (frame, id) = self.recv_with(|msg| unsafe { zmq_msg_routing_id(msg) })?;
        Ok((id, frame.data))
    }

    /// RADIO: sends `data` to `group` (`zmq_msg_set_group`).
    pub fn send_group(&self, group: &str, data: &[u8]) -> Result<()> {
        let group = c_string(group);
        self.send_with(data, 0, |msg| {
            // SAFETY: an initialised message and a NUL-terminated group that outlives the
            // call (libzmq copies it).
            check(unsafe { zmq_msg_set_group(msg, group.as_ptr()) }).map(drop)
        })
    }

    /// DISH: receives one message and its group.
    pub fn recv_group(&self) -> Result<(String, Vec<u8>)> {
        let (frame, group) = self.recv_with(|msg| {
            // SAFETY: an initialised, received message; its group is a NUL-terminated
            // string inside it, copied out before the message is closed.
            unsafe { CStr::from_ptr(zmq_msg_group(msg)) }
                .to_string_lossy()
                .into_owned()
        })?;
        Ok((group, frame.data))
    }

    /// DISH: `zmq_join`.
    pub fn join(&self, group: &str) -> Result<()> {
        let group = c_string(group);
        // SAFETY: a NUL-terminated string that outlives the call.
        check(unsafe { zmq_join(self.raw, group.as_ptr()) }).map(drop)
    }

    /// DISH: `zmq_leave`.
    pub fn leave(&self, group: &str) -> Result<()> {
        let group = c_string(group);
        // SAFETY: a NUL-terminated string that outlives the call.
        check(unsafe { zmq_leave(self.raw, group.as_ptr()) }).map(drop)
    }

    /// PEER: `zmq_connect_peer`; the routing id of the peer to be.
    pub fn connect_peer(&self, endpoint: &str) -> Result<u32> {
        let endpoint = c_string(endpoint);
        // SAFETY: a NUL-terminated string that outlives the call.
        let id = unsafe { zmq_connect_peer(self.raw, endpoint.as_ptr()) };
        if id == 0 {
            Err(Error::last())
        } else {
            Ok(id)
        }
    }
}
