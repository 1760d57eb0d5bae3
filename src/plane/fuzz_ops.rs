//! Fuzz entry points for the socket layer's routing state (no I/O): subscription tries
//! against a model, and arbitrary sequences of peer events and application calls on every
//! socket type. Used by the fuzz targets `subscriptions` and `socket_paths` and by the
//! corpus replay in `cargo test`.

use super::state::{Peer, State, Via, Wakes};
use super::trie::{LocalSubs, RemoteSubs};
use crate::zmtp::SocketType;
use crate::Message;
use bytes::Bytes;
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

/// Random subscribe/unsubscribe/match operations on both tries, checked against a plain
/// map model (prefix matching by brute force).
pub fn subscriptions(data: &[u8]) {
    let mut local = LocalSubs::default();
    let mut remote = RemoteSubs::default();
    let mut model_local: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut model_remote: HashMap<Vec<u8>, Vec<u64>> = HashMap::new();
    // libzmq's TOPICS_COUNT: first subscribers minus last unsubscribes (a leaving peer
    // changes nothing).
    let mut model_counted = 0usize;
    let mut i = 0;
    while i + 2 <= data.len() {
        let op = data[i];
        let len = (data[i + 1] % 5) as usize;
        i += 2;
        let topic = data
            .get(i..(i + len).min(data.len()))
            .unwrap_or(&[])
            .to_vec();
        i += topic.len();
        let peer = (op >> 4) as u64 % 4;
        match op % 5 {
            0 => {
                let new = local.add(&topic);
                let c = model_local.entry(topic).or_insert(0);
                *c += 1;
                assert_eq!(new, *c == 1);
            }
            1 => {
                let gone = local.remove(&topic);
                let model_gone = match model_local.get_mut(&topic) {
                    Some(c) if *c > 0 => {
                        *c -= 1;
                        *c == 0
                    }
                    _ => false,
                };
                assert_eq!(gone, model_gone);
            }
            2 => {
                let set = model_remote.entry(topic.clone()).or_default();
                let (added, first) = remote.add(&topic, peer);
                assert_eq!(added, !set.contains(&peer));
                assert_eq!(first, set.is_empty());
                if added {
                    model_counted += set.is_empty() as usize;
                    set.push(peer);
                }
            }
            3 => {
                let set = model_remote.entry(topic.clone()).or_default();
                let (removed, last) = remote.remove(&topic, peer);
                assert_eq!(removed, set.contains(&peer));
                if removed {
                    set.retain(|p| *p != peer);
                    assert_eq!(last, set.is_empty());
                    model_counted -= last as usize;
                }
            }
            _ => {
                if op & 0x80 != 0 {
                    let mut gone = Vec::new();
                    remote.remove_peer(peer, false, |t| gone.push(t.to_vec()));
                    for (t, set) in model_remote.iter_mut() {
                        if set.contains(&peer) {
                            set.retain(|p| *p != peer);
                            assert_eq!(set.is_empty(), gone.contains(t));
                        }
                    }
                }
                // Matching agrees with brute force.
                let want_local = model_local
                    .iter()
                    .any(|(t, c)| *c > 0 && topic.starts_with(t));
                assert_eq!(local.matches(&topic), want_local);
                let mut got = Vec::new();
                remote.matching(&topic, &mut got);
                let mut want: Vec<u64> = model_remote
                    .iter()
                    .filter(|(t, _)| topic.starts_with(t))
                    .flat_map(|(_, s)| s.iter().copied())
                    .collect();
                want.sort_unstable();
                want.dedup();
                assert_eq!(got, want);
            }
        }
        // TOPICS_COUNT: the distinct topics held.
        assert_eq!(
            local.count(),
            model_local.values().filter(|c| **c > 0).count()
        );
        assert_eq!(
            remote.topics(),
            model_remote.values().filter(|s| !s.is_empty()).count()
        );
        assert_eq!(remote.counted(), model_counted);
    }
}

/// Arbitrary peer events and application calls on one socket's routing state: the first
/// byte picks the socket type, each following byte one operation. Must never panic, and
/// the HWM bounds must hold.
pub fn socket_paths(data: &[u8]) {
    let Some((&sel, ops)) = data.split_first() else {
        return;
    };
    let st_type = SocketType::ALL[sel as usize % SocketType::ALL.len()];
    let mut st = State::new(st_type);
    st.opts.sndhwm = 4;
    st.opts.rcvhwm = 4;
    st.opts.router_mandatory = sel & 0x10 != 0;
    st.opts.conflate = sel & 0x20 != 0;
    st.opts.req_relaxed = sel & 0x40 != 0;
    st.opts.req_correlate = sel & 0x80 != 0;
    // The publish-subscribe options ride on pairs of the same bits (no byte of the input
    // format is spare).
    st.opts.xpub_nodrop = sel & 0x30 == 0x30;
    st.opts.xpub_manual = sel & 0x50 == 0x50;
    st.opts.xpub_manual_last_value = sel & 0xD0 == 0xD0;
    st.opts.invert_matching = sel & 0x60 == 0x60;
    st.opts.xpub_verboser = sel & 0xA0 == 0xA0;
    st.opts.only_first_subscribe = sel & 0x90 == 0x90;
    st.opts.xsub_verbose_unsubscribe = sel & 0xC0 == 0xC0;
    if sel & 0x70 == 0x70 {
        st.opts.xpub_welcome_msg = Bytes::from_static(b"welcome");
    }
    let parent = CancellationToken::new();
    let mut ids: Vec<u64> = Vec::new();
    for (k, &op) in ops.iter().enumerate() {
        let arg = (op >> 3) as usize;
        let frame = Bytes::from(vec![op; (op % 3) as usize]);
        let mut wakes = Wakes::default();
        match op % 8 {
            0 => {
                let rid = if op & 0x80 != 0 {
                    Bytes::from(vec![b'r', op])
                } else {
                    Bytes::new()
                };
                if let Some(a) =
                    st.attach(None, rid, &parent, "fuzz", op & 0x40 != 0, Via::default())
                {
                    ids.push(a.id);
                }
            }
            1 => {
                let id = st.add_peer(Peer::new(Bytes::new(), parent.child_token()));
                ids.push(id);
            }
            2 => {
                if let Some(&id) = ids.get(arg % ids.len().max(1)) {
                    st.detach(id, op & 0x40 != 0);
                }
            }
            3 => {
                if let Some(&id) = ids.get(arg % ids.len().max(1)) {
                    let mut msgs: std::collections::VecDeque<Message> = (0..(op % 5))
                        .map(|i| {
                            let mut m = Message::from(frame.clone());
                            if i % 2 == 0 {
                                m.push_front(Bytes::new());
                            }
                            m
                        })
                        .collect();
                    st.deliver(id, &mut msgs);
                }
            }
            4 => {
                if let Some(&id) = ids.get(arg % ids.len().max(1)) {
                    st.on_subscription(id, op & 0x40 != 0, &frame);
                }
            }
            5 => {
                let mut m = Message::from(frame.clone());
                if op & 0x40 != 0 {
                    m.push_front(Bytes::from(vec![b'r', op]));
                }
                if op & 0x20 != 0 {
                    m = Message::new();
                }
                let _ = st.try_send(&mut Some(m), &mut wakes);
            }
            6 if op & 0x40 != 0 && State::batches_recv(st.socket_type) => {
                // A receive batch: bounded by RCVHWM, and what it takes is gone from
                // the peers' queues.
                let before: usize = st.peers.values().map(|p| p.inbound.len()).sum();
                let mut batch = std::collections::VecDeque::new();
                st.take_inbound(&mut batch, &mut wakes);
                let after: usize = st.peers.values().map(|p| p.inbound.len()).sum();
                assert!(batch.len() <= st.opts.rcvhwm_limit(), "batch over RCVHWM");
                assert_eq!(
                    before,
                    after + batch.len(),
                    "a batch lost or duplicated a message"
                );
            }
            6 => {
                let _ = st.try_recv(&mut wakes);
            }
            _ => {
                if let Some(&id) = ids.get(arg % ids.len().max(1)) {
                    let mut out = std::collections::VecDeque::new();
                    // A network engine's pull (an in-process pipe's takes no encoded
                    // messages); the write buffer is sometimes still busy.
                    let mut transmit = crate::zmtp::WriteBuf::new();
                    if k & 4 != 0 {
                        transmit.put_slice(b"busy");
                    }
                    let queued = st.peers.get(&id).map_or(0, |p| p.queued());
                    let had_enc = st.peers.get(&id).map_or(0, |p| p.enc_msgs);
                    st.pull_out_to(id, &mut out, 1 + k % 3, &mut transmit);
                    let left = st.peers.get(&id).map_or(0, |p| p.queued());
                    if had_enc > 0 && k & 4 != 0 {
                        assert_eq!(left, queued, "pulled past encoded messages");
                    } else if had_enc > 0 {
                        assert!(!transmit.is_empty(), "encoded messages lost");
                    }
                    assert!(left + out.len() <= queued, "a pull grew the queue");
                }
                if op & 0x40 != 0 {
                    st.subscribe(frame.clone(), &mut wakes);
                } else {
                    st.unsubscribe(frame.clone(), &mut wakes);
                }
            }
        }
        // HWM bounds: queues never exceed their limits (subscription commands aside).
        for p in st.peers.values() {
            let msgs = p
                .out
                .iter()
                .filter(|o| !matches!(o, super::state::Outbound::Sub { .. }))
                .count()
                + p.enc_msgs;
            // Encoded messages only for a connection that takes pre-encoded frames.
            if p.enc_msgs > 0 {
                assert!(!p.raw, "encoded messages for an in-process or CURVE peer");
            }
            assert!(msgs <= 4, "outbound queue over SNDHWM");
        }
        let _ = st.counters();
    }
}

/// One socket's data plane without tasks or I/O, for the deterministic simulator in
/// `tests/`: the application's `send`/`recv`/`subscribe`, and for each connection the
/// engine's side of the contract (attach after the handshake, deliver what the connection
/// decoded, pull what waits to be sent into the connection), all driven by the caller.
#[derive(Debug)]
pub struct SimSocket {
    st: State,
    token: CancellationToken,
    outbox: std::collections::VecDeque<super::state::Outbound>,
}

impl SimSocket {
    /// A socket of type `t` with routing id `routing_id` (what its connections announce).
    pub fn new(t: SocketType, routing_id: &[u8]) -> SimSocket {
        let mut st = State::new(t);
        st.opts.routing_id = Bytes::copy_from_slice(routing_id);
        SimSocket {
            st,
            token: CancellationToken::new(),
            outbox: std::collections::VecDeque::new(),
        }
    }

    /// A connection finished its handshake with a peer announcing `identity`: its peer id,
    /// or `None` when the socket refuses it (as `State::attach`).
    pub fn attach(&mut self, identity: Bytes) -> Option<u64> {
        self.st
            .attach(None, identity, &self.token, "sim", false, Via::default())
            .map(|a| a.id)
    }

    /// The application sends: `Err` when no peer can take the message now (`EAGAIN`) or
    /// the socket type refuses it (the error's kind says which); the message is dropped.
    pub fn send(&mut self, msg: Message) -> Result<(), crate::Error> {
        let mut slot = Some(msg);
        let mut wakes = Wakes::default();
        match self.st.try_send(&mut slot, &mut wakes) {
            Ok(()) => Ok(()),
            Err(super::state::SendBlock::Full) => {
                Err(crate::Error::again("no peer can take the message now"))
            }
            Err(super::state::SendBlock::Err(e)) => Err(*e),
        }
    }

    /// The application receives, if a message is there.
    pub fn recv(&mut self) -> Option<Message> {
        self.st.try_recv(&mut Wakes::default()).ok().flatten()
    }

    /// SUB/XSUB: subscribes (sent to every peer).
    pub fn subscribe(&mut self, topic: &[u8]) {
        self.st
            .subscribe(Bytes::copy_from_slice(topic), &mut Wakes::default());
    }

    /// The connection of `id` decoded a SUBSCRIBE or CANCEL.
    pub fn on_subscription(&mut self, id: u64, subscribe: bool, topic: &Bytes) {
        self.st.on_subscription(id, subscribe, topic);
    }

    /// The connection of `id` decoded `msg`; returns the room left under RCVHWM.
    pub fn deliver(&mut self, id: u64, msg: Message) -> usize {
        let mut q = std::collections::VecDeque::from([msg]);
        self.st.deliver(id, &mut q)
    }

    /// Room left under RCVHWM for `id` (a connection at 0 stops reading).
    pub fn in_room(&self, id: u64) -> usize {
        self.st.in_room(id)
    }

    /// Moves what waits to be sent to `id` into its connection, as the engine does.
    pub fn pull_into(&mut self, id: u64, conn: &mut crate::zmtp::Connection) {
        loop {
            self.st
                .pull_out_to(id, &mut self.outbox, 1024, conn.transmit());
            if self.outbox.is_empty() {
                return;
            }
            for item in self.outbox.drain(..) {
                item.encode_into(conn);
            }
        }
    }

    /// The connection of `id` ended.
    pub fn detach(&mut self, id: u64) {
        self.st.detach(id, true);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn smoke() {
        for seed in 0u8..=255 {
            let data: Vec<u8> = (0..200u32)
                .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
                .collect();
            super::subscriptions(&data);
            super::socket_paths(&data);
        }
    }
}
