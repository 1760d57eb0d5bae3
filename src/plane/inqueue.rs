//! A peer's inbound queue: the batches its engine delivered, kept as they came.
//!
//! An engine decodes what one read brought into a batch (a `VecDeque<Message>`) and
//! delivers it whole. Appending a batch message by message to one ring per peer moved
//! every message once more, and grew the ring by reallocation while a burst arrived; here
//! a large batch is queued as it is, and the engine gets an emptied batch back (one the
//! receiver drained), whose room its next read fills without growing.

use crate::Message;
use std::collections::VecDeque;

/// A batch this short is copied into the last one rather than queued on its own: a
/// segment costs a ring slot and, once drained, a visit to the segment ring.
const COPY_BELOW: usize = 32;

/// The inbound messages of one peer, oldest first, in segments (never an empty one).
#[derive(Debug, Default)]
pub(crate) struct InQueue {
    segs: VecDeque<VecDeque<Message>>,
    len: usize,
    /// Bytes of the queued messages' frames.
    bytes: usize,
    /// The last drained segment, kept (empty) for the engine's next batch.
    spare: Option<VecDeque<Message>>,
}

impl InQueue {
    /// Messages queued.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of the queued messages' frames.
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether no message is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues one message last.
    #[inline]
    pub(crate) fn push_back(&mut self, m: Message) {
        self.bytes += m.byte_len();
        match self.segs.back_mut() {
            Some(last) => last.push_back(m),
            None => {
                let mut seg = self.spare.take().unwrap_or_default();
                seg.push_back(m);
                self.segs.push_back(seg);
            }
        }
        self.len += 1;
    }

    /// Queues all of `batch` last, leaving it empty: a large batch becomes a segment of
    /// its own and `batch` is replaced by the spare segment (or a new one with room for a
    /// batch as large). `bytes`: the batch's bytes, which the caller has counted anyway.
    #[inline]
    pub(crate) fn append(&mut self, batch: &mut VecDeque<Message>, bytes: usize) {
        debug_assert_eq!(bytes, batch.iter().map(Message::byte_len).sum::<usize>());
        let n = batch.len();
        if n == 0 {
            return;
        }
        self.len += n;
        self.bytes += bytes;
        match self.segs.back_mut() {
            Some(last) if n < COPY_BELOW => last.append(batch),
            _ => {
                // Without a spare, room for a batch like this one: the engine's next read
                // then fills it without growing it step by step.
                let fresh = self.spare.take().unwrap_or_else(|| {
                    if n >= COPY_BELOW {
                        VecDeque::with_capacity(n)
                    } else {
                        VecDeque::new()
                    }
                });
                self.segs.push_back(std::mem::replace(batch, fresh));
            }
        }
    }

    /// Takes the oldest message. Always inlined: as a call, its `Option<Message>` result
    /// was copied on the way out of every receive.
    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<Message> {
        let first = self.segs.front_mut()?;
        let m = first.pop_front();
        debug_assert!(m.is_some(), "segments are never empty");
        if first.is_empty() {
            self.retire_front();
        }
        self.len -= 1;
        if let Some(m) = &m {
            self.bytes -= m.byte_len();
        }
        m
    }

    /// Drops every queued message.
    pub(crate) fn clear(&mut self) {
        while let Some(mut seg) = self.segs.pop_front() {
            seg.clear();
            self.keep_spare(seg);
        }
        self.len = 0;
        self.bytes = 0;
    }

    /// When everything queued is one segment of at most `max` messages and `dst` is
    /// empty, swaps that segment into `dst` (no message moves) and returns true.
    #[inline]
    pub(crate) fn swap_whole(&mut self, dst: &mut VecDeque<Message>, max: usize) -> bool {
        if self.segs.len() != 1 || self.len > max || !dst.is_empty() {
            return false;
        }
        let seg = self.segs.front_mut().expect("one segment");
        std::mem::swap(seg, dst);
        self.retire_front();
        self.len = 0;
        self.bytes = 0;
        true
    }

    /// The queued messages, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Message> {
        self.segs.iter().flatten()
    }

    /// Removes the (empty) first segment, keeping it as the spare.
    #[inline]
    fn retire_front(&mut self) {
        if let Some(seg) = self.segs.pop_front() {
            self.keep_spare(seg);
        }
    }

    /// Keeps an empty segment for reuse: the larger of it and the current spare, so that
    /// a peer holds at most one spare allocation.
    #[inline]
    fn keep_spare(&mut self, seg: VecDeque<Message>) {
        debug_assert!(seg.is_empty());
        if seg.capacity() > self.spare.as_ref().map_or(0, VecDeque::capacity) {
            self.spare = Some(seg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(i: u32) -> Message {
        Message::from(Bytes::from(i.to_be_bytes().to_vec()))
    }

    fn num(m: &Message) -> u32 {
        u32::from_be_bytes(m[0][..].try_into().unwrap())
    }

    impl InQueue {
        fn append_all(&mut self, batch: &mut VecDeque<Message>) {
            let bytes = batch.iter().map(Message::byte_len).sum();
            self.append(batch, bytes);
        }
    }

    fn batch(range: std::ops::Range<u32>) -> VecDeque<Message> {
        range.map(msg).collect()
    }

    #[test]
    fn order_is_kept_across_pushes_small_and_large_batches() {
        let mut q = InQueue::default();
        q.push_back(msg(0));
        let mut b = batch(1..5); // small: copied into the last segment
        q.append_all(&mut b);
        assert!(b.is_empty());
        let mut b = batch(5..105); // large: a segment of its own
        q.append_all(&mut b);
        assert!(b.is_empty());
        q.push_back(msg(105));
        assert_eq!(q.len(), 106);
        assert_eq!(
            q.iter().map(num).collect::<Vec<_>>(),
            (0..106).collect::<Vec<_>>()
        );
        let mut got = Vec::new();
        while let Some(m) = q.pop_front() {
            got.push(num(&m));
        }
        assert_eq!(got, (0..106).collect::<Vec<_>>());
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_drained_segment_comes_back_to_the_engine_with_its_room() {
        let mut q = InQueue::default();
        let mut b = batch(0..200);
        q.append_all(&mut b);
        assert!(b.is_empty());
        assert!(
            b.capacity() >= 200,
            "nothing spare yet: room for a batch like it"
        );
        let mut small = batch(200..201);
        q.append_all(&mut small);
        assert!(
            small.capacity() >= 1,
            "a small batch is copied; the engine keeps its room"
        );
        for _ in 0..201 {
            q.pop_front().unwrap();
        }
        let mut b = batch(300..400);
        q.append_all(&mut b);
        assert!(b.is_empty());
        assert!(b.capacity() >= 201, "the drained segment is handed back");
        assert_eq!(num(&q.pop_front().unwrap()), 300);
    }

    #[test]
    fn swap_whole_takes_a_single_segment_only_within_max() {
        let mut q = InQueue::default();
        let mut b = batch(0..40);
        q.append_all(&mut b);
        let mut dst = VecDeque::new();
        assert!(!q.swap_whole(&mut dst, 39));
        assert!(q.swap_whole(&mut dst, 40));
        assert_eq!(dst.len(), 40);
        assert!(q.is_empty());
        assert!(q.pop_front().is_none());

        let mut b = batch(0..40);
        q.append_all(&mut b);
        let mut b = batch(40..80);
        q.append_all(&mut b);
        let mut dst = VecDeque::new();
        assert!(!q.swap_whole(&mut dst, 1000), "two segments");
        assert_eq!(q.len(), 80);
    }

    #[test]
    fn clear_drops_everything_and_keeps_one_spare() {
        let mut q = InQueue::default();
        for r in [0..50, 50..100, 100..150] {
            let mut b = batch(r);
            q.append_all(&mut b);
        }
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.iter().count(), 0);
        q.push_back(msg(7));
        assert_eq!(q.len(), 1);
        assert_eq!(num(&q.pop_front().unwrap()), 7);
    }

    #[test]
    fn bytes_count_every_frame_through_every_operation() {
        let mut q = InQueue::default();
        q.push_back(Message::from(["ab", "cde"]));
        assert_eq!(q.bytes(), 5);
        let mut small: VecDeque<Message> = (0..3).map(|_| Message::from("xyz")).collect();
        q.append_all(&mut small);
        assert_eq!(q.bytes(), 14, "a small batch, copied");
        let mut large: VecDeque<Message> = (0..40).map(|_| Message::from("0123456789")).collect();
        q.append_all(&mut large);
        assert_eq!(q.bytes(), 414, "a large batch, a segment of its own");
        assert_eq!(q.pop_front().unwrap().byte_len(), 5);
        assert_eq!(q.bytes(), 409);
        for _ in 0..3 {
            q.pop_front().unwrap();
        }
        assert_eq!(q.bytes(), 400);
        let mut dst = VecDeque::new();
        assert!(q.swap_whole(&mut dst, 1000));
        assert_eq!((q.bytes(), dst.len()), (0, 40));
        q.push_back(Message::from("1234"));
        let mut b: VecDeque<Message> = (0..40).map(|_| Message::from("z")).collect();
        q.append_all(&mut b);
        assert_eq!(q.bytes(), 44);
        q.clear();
        assert_eq!(q.bytes(), 0);
    }
}
