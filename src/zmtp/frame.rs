//! ZMTP frames: a flags byte, a 1- or 8-byte size, the body.
//!
//! [`FrameDecoder`] splits frames out of a read buffer without copying the bodies and checks
//! the declared size against the limits *before* waiting for (and so buffering) the body.
//! [`WriteBuf`] collects outgoing frames: headers and small bodies are copied into one
//! contiguous buffer, large bodies are chained as their own [`Bytes`] for a vectored write.

use super::ProtocolError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;

/// Flag bit: more frames of this message follow.
pub const FLAG_MORE: u8 = 0x01;
/// Flag bit: the size is 8 bytes.
pub const FLAG_LONG: u8 = 0x02;
/// Flag bit: a command frame.
pub const FLAG_COMMAND: u8 = 0x04;
/// Bits that must be zero.
pub const RESERVED_FLAGS: u8 = 0xF8;

/// Default upper bound for a command frame (commands carry metadata, topics, keys).
pub const DEFAULT_MAX_COMMAND_SIZE: u64 = 1 << 20;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The flags byte (MORE, COMMAND; LONG is cleared, it only describes the encoding).
    pub flags: u8,
    /// The body, sharing the read buffer's memory.
    pub body: Bytes,
}

impl Frame {
    /// A message frame.
    pub fn message(body: impl Into<Bytes>, more: bool) -> Frame {
        Frame {
            flags: if more { FLAG_MORE } else { 0 },
            body: body.into(),
        }
    }

    /// A command frame.
    pub fn command(body: impl Into<Bytes>) -> Frame {
        Frame {
            flags: FLAG_COMMAND,
            body: body.into(),
        }
    }

    /// MORE flag.
    pub fn more(&self) -> bool {
        self.flags & FLAG_MORE != 0
    }

    /// COMMAND flag.
    pub fn is_command(&self) -> bool {
        self.flags & FLAG_COMMAND != 0
    }

    /// Encodes header and body into `dst` (copying the body).
    pub fn encode(&self, dst: &mut BytesMut) {
        encode_header(self.flags, self.body.len(), dst);
        dst.extend_from_slice(&self.body);
    }
}

/// The size of the header [`encode_header`] writes for a body of `len` bytes.
pub fn header_len(len: usize) -> usize {
    if len <= 255 {
        2
    } else {
        9
    }
}

/// Writes a frame header: flags (LONG added when needed) and size.
#[inline]
pub fn encode_header(flags: u8, len: usize, dst: &mut impl BufMut) {
    if len <= 255 {
        dst.put_u8(flags & !FLAG_LONG);
        dst.put_u8(len as u8);
    } else {
        dst.put_u8(flags | FLAG_LONG);
        dst.put_u64(len as u64);
    }
}

/// Incremental frame decoder with size limits.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_message_frame: u64,
    max_command: u64,
    /// Body size of the frame whose header was seen but whose body is incomplete.
    pending: Option<(u8, usize, usize)>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(None)
    }
}

impl FrameDecoder {
    /// A decoder; `max_frame` is MAXMSGSIZE (`None` = no limit), applied to every message
    /// frame as libzmq applies it.
    pub fn new(max_frame: Option<u64>) -> Self {
        // A frame must fit in memory with its header; clamping also keeps a huge
        // MAXMSGSIZE from letting a declared size overflow the arithmetic below.
        let cap = (isize::MAX as u64).min(usize::MAX as u64) - 16;
        FrameDecoder {
            max_message_frame: max_frame.unwrap_or(cap).min(cap),
            max_command: DEFAULT_MAX_COMMAND_SIZE,
            pending: None,
        }
    }

    /// Changes the limit for command frames (default 1 MiB).
    pub fn set_max_command(&mut self, max: u64) {
        self.max_command = max.min(self.max_message_frame.max(DEFAULT_MAX_COMMAND_SIZE));
    }

    /// How many more bytes the buffer should hold before the next frame can complete: exact
    /// once the header was seen, an upper bound (a long header) before. A hint for the
    /// reader's buffer reservation; always ≥ 1.
    pub fn bytes_needed(&self, buffered: usize) -> usize {
        match self.pending {
            Some((_, header, body)) => (header + body).saturating_sub(buffered).max(1),
            None => 9usize.saturating_sub(buffered).max(1),
        }
    }

    /// Takes the run of complete one-frame data messages at the front of `buf` (at most
    /// `max`) into `out`, their bodies views of one piece of the buffer; returns how many.
    /// Stops at anything else (a frame with MORE, a command, reserved flags, a frame over
    /// the limit, an incomplete frame), which [`decode`](Self::decode) then takes, and
    /// reports when it is an error. Cutting the run off at once and slicing it costs a
    /// third of cutting each header and body off the buffer in turn.
    pub fn decode_singles(
        &mut self,
        buf: &mut BytesMut,
        max: usize,
        out: &mut VecDeque<crate::Message>,
    ) -> usize {
        if self.pending.is_some() {
            return 0;
        }
        let (mut n, mut end) = (0, 0);
        while n < max {
            match self.single_at(buf, end) {
                Some((_, next)) => end = next,
                None => break,
            }
            n += 1;
        }
        if n == 0 {
            return 0;
        }
        // Room for the whole run at once: growing by doubling as it filled copied the
        // batch (a few hundred messages) several times over. An empty batch too small is
        // replaced, not grown: growing copies its whole old buffer.
        if out.is_empty() && out.capacity() < n {
            *out = VecDeque::with_capacity(n.next_power_of_two());
        } else {
            out.reserve(n);
        }
        let run = buf.split_to(end).freeze();
        let mut at = 0;
        for _ in 0..n {
            let (body, next) = self.single_at(&run, at).expect("scanned above");
            out.push_back(crate::Message::from(run.slice(body..next)));
            at = next;
        }
        n
    }

    /// The body's start and the end of a complete one-frame data message (flags 0 or
    /// LONG) at `at` in `buf`, within the frame limit.
    #[inline]
    fn single_at(&self, buf: &[u8], at: usize) -> Option<(usize, usize)> {
        let rest = buf.get(at..)?;
        let (flags, header, size) = frame_header(rest)?;
        if flags & !FLAG_LONG != 0 || size > self.max_message_frame {
            return None;
        }
        // `size` is at most `max_message_frame`, clamped far below an overflow.
        let end = at + header + size as usize;
        (end <= buf.len()).then_some((at + header, end))
    }

    /// Takes the next complete frame off the front of `buf`. `Ok(None)` means more bytes are
    /// needed; an error means the stream is broken and the connection must close.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let (flags, header, body) = match self.pending {
            Some(p) => p,
            None => {
                if buf.len() < 2 {
                    return Ok(None);
                }
                let flags = buf[0];
                if flags & RESERVED_FLAGS != 0 {
                    return Err(ProtocolError::ReservedFlags(flags));
                }
                let command = flags & FLAG_COMMAND != 0;
                if command && flags & FLAG_MORE != 0 {
                    return Err(ProtocolError::CommandWithMore);
                }
                let Some((_, header, size)) = frame_header(buf) else {
                    return Ok(None);
                };
                let max = if command {
                    self.max_command
                } else {
                    self.max_message_frame
                };
                if size > max {
                    return Err(ProtocolError::TooLarge { size, max });
                }
                let p = (flags & !FLAG_LONG, header, size as usize);
                self.pending = Some(p);
                p
            }
        };
        if buf.len() < header + body {
            return Ok(None);
        }
        self.pending = None;
        buf.advance(header);
        let body = buf.split_to(body).freeze();
        Ok(Some(Frame { flags, body }))
    }
}

/// The flags byte, the header's length (2 or 9) and the declared body size at the front
/// of `buf`; `None` until the whole header is there. Nothing is checked.
#[inline]
fn frame_header(buf: &[u8]) -> Option<(u8, usize, u64)> {
    let flags = *buf.first()?;
    if flags & FLAG_LONG != 0 {
        let s: [u8; 8] = buf.get(1..9)?.try_into().ok()?;
        Some((flags, 9, u64::from_be_bytes(s)))
    } else {
        Some((flags, 2, *buf.get(1)? as u64))
    }
}

/// Reads `chunk` as exactly one whole message of data frames, its bodies sharing the
/// chunk's memory. `None` when it is anything else: part of a message, more than one,
/// a command, reserved flags, a frame over `max_frame` or more than `max_frames` frames.
/// (A REQ/REP `recv` that read a reply itself keeps it only when it is this simple; every
/// other case goes to the connection's full decoder, which also reports the errors.)
pub fn whole_message(
    chunk: &Bytes,
    max_frame: Option<u64>,
    max_frames: usize,
) -> Option<crate::Message> {
    let mut msg = crate::Message::new();
    let mut at = 0usize;
    loop {
        let (flags, header, size) = frame_header(&chunk[at..])?;
        if flags & (RESERVED_FLAGS | FLAG_COMMAND) != 0 || msg.len() >= max_frames {
            return None;
        }
        if max_frame.is_some_and(|m| size > m) {
            return None;
        }
        let start = at + header;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        if end > chunk.len() {
            return None;
        }
        msg.push_back(chunk.slice(start..end));
        at = end;
        if flags & FLAG_MORE == 0 {
            return (at == chunk.len()).then_some(msg);
        }
    }
}

/// Bodies at least this long are chained for a vectored write instead of copied.
pub const CHAIN_THRESHOLD: usize = 8 * 1024;

/// Room reserved at once for the headers of chained bodies: 16 KiB holds the 9-byte
/// headers of a whole batch at the default SNDHWM (1000 messages), so that an arena and
/// its spare take turns without allocating.
const HEADER_ARENA: usize = 16 * 1024;

/// Gives `rbuf` room for `additional` more bytes in memory nothing else uses: its own
/// allocation when every piece cut from it was dropped, else the spare's when that is
/// free and large enough, else a new one. What `rbuf` holds moves along. What it leaves
/// behind becomes the spare, taken back once the pieces cut from it are gone: with two
/// buffers taking turns, a read buffer whose frames the application drops (or a header
/// arena whose headers were written) needs no allocation (`benches/alloc.rs` counts them).
pub(crate) fn renew(rbuf: &mut BytesMut, spare_buf: &mut Option<BytesMut>, additional: usize) {
    if rbuf.try_reclaim(additional) {
        return;
    }
    let total = rbuf.len().saturating_add(additional);
    let next = spare_buf
        .take()
        .and_then(|mut b| b.try_reclaim(total).then_some(b))
        .unwrap_or_else(|| BytesMut::with_capacity(total));
    let mut old = std::mem::replace(rbuf, next);
    rbuf.extend_from_slice(&old);
    old.clear();
    *spare_buf = Some(old);
}

/// Outgoing bytes, batched: small pieces are copied into a contiguous tail buffer, large
/// bodies are kept as their own chunks. [`io_slices`](WriteBuf::io_slices) lists what to
/// write, [`advance`](WriteBuf::advance) drops what was written.
#[derive(Debug, Default)]
pub struct WriteBuf {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
    /// The header arena before the current one (see [`renew`]).
    spare: Option<BytesMut>,
}

impl WriteBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        WriteBuf::default()
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `data` in.
    pub fn put_slice(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    /// Adds `data`, copying it when small, chaining it when large.
    pub fn put_bytes(&mut self, data: &Bytes) {
        if data.len() < CHAIN_THRESHOLD {
            self.put_slice(data);
        } else {
            if !self.tail.is_empty() {
                self.chunks.push_back(self.tail.split().freeze());
            }
            self.len += data.len();
            self.chunks.push_back(data.clone());
        }
    }

    /// Adds one frame (header and body).
    #[inline]
    pub fn put_frame(&mut self, flags: u8, body: &Bytes) {
        if body.len() >= CHAIN_THRESHOLD && self.tail.capacity() - self.tail.len() < 9 {
            // The header is cut off as its own chunk before the chained body: reserving
            // a whole arena keeps that from allocating a buffer per header (taken back
            // in place once every header cut from it was written).
            renew(&mut self.tail, &mut self.spare, HEADER_ARENA);
        }
        let before = self.tail.len();
        encode_header(flags, body.len(), &mut self.tail);
        self.len += self.tail.len() - before;
        self.put_bytes(body);
    }

    /// Appends `len` bytes written in place by `fill` (no intermediate copy).
    pub fn put_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) {
        let start = self.tail.len();
        self.tail.resize(start + len, 0);
        fill(&mut self.tail[start..]);
        self.len += len;
    }

    /// Puts `data` before everything pending (the rest of a message whose first bytes were
    /// already written by someone else).
    pub fn put_front(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        self.chunks.push_front(data);
    }

    /// Fills `dst` with slices of the pending bytes, in order; returns how many were filled.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for c in self.chunks.iter() {
            if n == dst.len() {
                return n;
            }
            dst[n] = IoSlice::new(c);
            n += 1;
        }
        if n < dst.len() && !self.tail.is_empty() {
            dst[n] = IoSlice::new(&self.tail);
            n += 1;
        }
        n
    }

    /// The first contiguous piece of pending bytes.
    pub fn chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(c) => c,
            None => &self.tail,
        }
    }

    /// Drops `n` written bytes from the front.
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advance past the end of the write buffer");
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    self.chunks.pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    return;
                }
            }
        }
        if self.len == 0 && self.tail.capacity() > 4 << 20 {
            // Do not keep a huge buffer around after a burst.
            self.tail = BytesMut::new();
            self.spare = None;
        }
    }

    /// Everything pending, copied into one buffer (for tests).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for c in &self.chunks {
            v.extend_from_slice(c);
        }
        v.extend_from_slice(&self.tail);
        v
    }

    /// Drops everything pending.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_chained_bodies_share_one_buffer() {
        let body = Bytes::from(vec![5u8; CHAIN_THRESHOLD]);
        let mut w = WriteBuf::new();
        for _ in 0..100 {
            w.put_frame(0, &body);
        }
        let mut iov = [std::io::IoSlice::new(&[]); 200];
        let n = w.io_slices(&mut iov);
        assert_eq!(n, 200, "header, body, header, body, ...");
        // Each header is cut from the same arena: the next one starts where the last ended.
        for pair in iov[..n].chunks(4) {
            let (h1, h2) = (&pair[0], &pair[2]);
            assert_eq!(h1.len(), 9);
            assert_eq!(
                h1.as_ptr().wrapping_add(9),
                h2.as_ptr(),
                "a buffer per header"
            );
        }
        assert_eq!(w.len(), 100 * (9 + CHAIN_THRESHOLD));
    }

    #[test]
    fn decode_singles_takes_the_run_of_one_frame_messages_and_stops_at_anything_else() {
        let mut b = BytesMut::new();
        Frame::message(&b"a"[..], false).encode(&mut b);
        Frame::message(vec![2u8; 300], false).encode(&mut b); // long header
        Frame::message(&b""[..], false).encode(&mut b);
        Frame::message(&b"m1"[..], true).encode(&mut b); // MORE: ends the run
        Frame::message(&b"m2"[..], false).encode(&mut b);
        Frame::message(&b"z"[..], false).encode(&mut b);
        let mut dec = FrameDecoder::new(Some(1000));
        let mut out = VecDeque::new();
        assert_eq!(dec.decode_singles(&mut b, 2, &mut out), 2, "at most `max`");
        assert_eq!(dec.decode_singles(&mut b, 10, &mut out), 1);
        let bodies: Vec<Bytes> = out.iter().map(|m| m[0].clone()).collect();
        assert_eq!(
            bodies,
            [
                Bytes::from_static(b"a"),
                Bytes::from(vec![2u8; 300]),
                Bytes::new()
            ]
        );
        assert_eq!(
            dec.decode_singles(&mut b, 10, &mut out),
            0,
            "a frame with MORE"
        );
        assert!(dec.decode(&mut b).unwrap().unwrap().more());
        assert!(!dec.decode(&mut b).unwrap().unwrap().more());
        // Incomplete: nothing taken, nothing cut.
        b.truncate(2);
        assert_eq!(&b[..], &[0, 1]);
        assert_eq!(dec.decode_singles(&mut b, 10, &mut out), 0);
        assert_eq!(b.len(), 2);
        // Over the limit: left for `decode`, which reports it.
        let mut big = BytesMut::new();
        Frame::message(vec![0u8; 1001], false).encode(&mut big);
        assert_eq!(dec.decode_singles(&mut big, 10, &mut out), 0);
        assert!(matches!(
            dec.decode(&mut big),
            Err(ProtocolError::TooLarge { size: 1001, .. })
        ));
        // A command ends the run too.
        let mut c = BytesMut::from(&[0u8, 1, b'x', FLAG_COMMAND, 0][..]);
        assert_eq!(dec.decode_singles(&mut c, 10, &mut out), 1);
        assert_eq!(&c[..], &[FLAG_COMMAND, 0]);
    }

    #[test]
    fn short_and_long() {
        let mut b = BytesMut::new();
        Frame::message(&b"abc"[..], true).encode(&mut b);
        Frame::message(vec![7u8; 300], false).encode(&mut b);
        assert_eq!(&b[..5], &[1, 3, b'a', b'b', b'c']);
        assert_eq!(&b[5..14], &[2, 0, 0, 0, 0, 0, 0, 1, 44]);
        let mut d = FrameDecoder::new(None);
        let f1 = d.decode(&mut b).unwrap().unwrap();
        assert!(f1.more());
        let f2 = d.decode(&mut b).unwrap().unwrap();
        assert_eq!(f2.body.len(), 300);
        assert!(d.decode(&mut b).unwrap().is_none());
    }

    #[test]
    fn long_frame_with_small_size_is_legal() {
        let mut b = BytesMut::from(&[2u8, 0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'][..]);
        let f = FrameDecoder::new(None).decode(&mut b).unwrap().unwrap();
        assert_eq!(&f.body[..], b"hi");
        assert_eq!(f.flags, 0);
    }

    #[test]
    fn limits_checked_before_body() {
        let mut b = BytesMut::from(&[2u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF][..]);
        let err = FrameDecoder::new(Some(1000)).decode(&mut b).unwrap_err();
        assert!(matches!(err, ProtocolError::TooLarge { .. }));
        let mut b = BytesMut::from(&[0x08u8, 0][..]);
        assert_eq!(
            FrameDecoder::new(None).decode(&mut b),
            Err(ProtocolError::ReservedFlags(8))
        );
        let mut b = BytesMut::from(&[0x05u8, 0][..]);
        assert_eq!(
            FrameDecoder::new(None).decode(&mut b),
            Err(ProtocolError::CommandWithMore)
        );
    }

    #[test]
    fn huge_limit_is_clamped() {
        for max in [u64::MAX, u64::MAX - 9, isize::MAX as u64] {
            let mut b = BytesMut::from(&[2u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF][..]);
            let err = FrameDecoder::new(Some(max)).decode(&mut b).unwrap_err();
            assert!(matches!(err, ProtocolError::TooLarge { .. }));
        }
    }

    #[test]
    fn write_buf_chains_large_bodies() {
        let mut w = WriteBuf::new();
        w.put_frame(FLAG_MORE, &Bytes::from_static(b"id"));
        let big = Bytes::from(vec![1u8; CHAIN_THRESHOLD]);
        w.put_frame(0, &big);
        w.put_frame(0, &Bytes::from_static(b"x"));
        let mut slices = [IoSlice::new(&[]); 8];
        let n = w.io_slices(&mut slices);
        assert_eq!(n, 3);
        let total: usize = slices[..n].iter().map(|s| s.len()).sum();
        assert_eq!(total, w.len());
        let all = w.to_vec();
        w.advance(5);
        assert_eq!(w.to_vec(), all[5..].to_vec());
        w.advance(w.len());
        assert!(w.is_empty());
    }
}
