//! Multipart messages built on [`Bytes`].

use bytes::Bytes;
use std::collections::VecDeque;
use std::fmt;

/// A multipart ZeroMQ message: an ordered list of frames, each a reference-counted
/// [`Bytes`] buffer. Cloning a message never copies frame bytes.
///
/// ```
/// use aiozmq::Message;
/// let mut msg = Message::from("hello");
/// msg.push_back("world");
/// assert_eq!(msg.len(), 2);
/// assert_eq!(&msg[1][..], b"world");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Message {
    frames: VecDeque<Bytes>,
}

impl Message {
    /// An empty message (no frames). Sending it is an error; push frames first.
    pub fn new() -> Self {
        Message {
            frames: VecDeque::new(),
        }
    }

    /// An empty message with room for `n` frames.
    pub fn with_capacity(n: usize) -> Self {
        Message {
            frames: VecDeque::with_capacity(n),
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Total payload bytes over all frames.
    pub fn byte_len(&self) -> usize {
        self.frames.iter().map(Bytes::len).sum()
    }

    /// Appends a frame.
    pub fn push_back(&mut self, frame: impl Into<Bytes>) {
        self.frames.push_back(frame.into());
    }

    /// Prepends a frame (an envelope part, e.g. a routing id).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.push_front(frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        self.frames.pop_front()
    }

    /// Removes and returns the last frame.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        self.frames.pop_back()
    }

    /// The frame at `i`.
    pub fn get(&self, i: usize) -> Option<&Bytes> {
        self.frames.get(i)
    }

    /// The first frame.
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.front()
    }

    /// The last frame.
    pub fn last(&self) -> Option<&Bytes> {
        self.frames.back()
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Bytes> + DoubleEndedIterator {
        self.frames.iter()
    }

    /// Splits off the frames from `at` on, leaving `0..at` in `self`.
    pub fn split_off(&mut self, at: usize) -> Message {
        Message {
            frames: self.frames.split_off(at),
        }
    }

    /// Appends every frame of `other`.
    pub fn append(&mut self, other: &mut Message) {
        self.frames.append(&mut other.frames);
    }

    /// The frames as a `Vec`.
    pub fn into_vec(self) -> Vec<Bytes> {
        self.frames.into()
    }
}

impl std::ops::Index<usize> for Message {
    type Output = Bytes;
    fn index(&self, i: usize) -> &Bytes {
        &self.frames[i]
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.frames.iter()).finish()
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        let mut m = Message::with_capacity(1);
        m.frames.push_back(b);
        m
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::from(Bytes::from(b))
    }
}

impl From<&'static [u8]> for Message {
    fn from(b: &'static [u8]) -> Self {
        Message::from(Bytes::from_static(b))
    }
}

impl From<&'static str> for Message {
    fn from(s: &'static str) -> Self {
        Message::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::from(Bytes::from(s))
    }
}

impl From<Vec<Bytes>> for Message {
    fn from(v: Vec<Bytes>) -> Self {
        Message { frames: v.into() }
    }
}

impl From<VecDeque<Bytes>> for Message {
    fn from(frames: VecDeque<Bytes>) -> Self {
        Message { frames }
    }
}

impl<const N: usize> From<[&'static str; N]> for Message {
    fn from(parts: [&'static str; N]) -> Self {
        parts
            .iter()
            .map(|p| Bytes::from_static(p.as_bytes()))
            .collect()
    }
}

impl<const N: usize> From<[Bytes; N]> for Message {
    fn from(parts: [Bytes; N]) -> Self {
        parts.into_iter().collect()
    }
}

impl<T: Into<Bytes>> FromIterator<T> for Message {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Message {
            frames: iter.into_iter().map(Into::into).collect(),
        }
    }
}

impl IntoIterator for Message {
    type Item = Bytes;
    type IntoIter = std::collections::vec_deque::IntoIter<Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<'a> IntoIterator for &'a Message {
    type Item = &'a Bytes;
    type IntoIter = std::collections::vec_deque::Iter<'a, Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}
