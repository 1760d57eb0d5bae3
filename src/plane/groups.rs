//! RADIO/DISH (libzmq's draft types): a DISH joins and leaves groups, its peers hear of
//! it (JOIN/LEAVE), and a RADIO sends each message to the peers that joined exactly the
//! message's group, plus every UDP destination (which cannot tell it what it joined).

use super::state::*;
use crate::message::check_group;
use crate::zmtp::connection::encode_message;
use crate::zmtp::SocketType;
use crate::{Error, ErrorKind, Message, Result};
use bytes::Bytes;

impl State {
    /// DISH: joins `group` and tells every peer. `EINVAL` for a group libzmq refuses
    /// (longer than 255 bytes) and for one already joined, as libzmq.
    pub(crate) fn join(&mut self, group: &[u8], wakes: &mut Wakes) -> Result<()> {
        self.check_dish()?;
        check_group(group)?;
        let group = Bytes::copy_from_slice(group);
        if !self.dish_groups.insert(group.clone()) {
            return Err(Error::inval(format!("group {group:?} is already joined")));
        }
        self.broadcast_sub(true, group, wakes);
        Ok(())
    }

    /// DISH: leaves `group` and tells every peer. `EINVAL` for a group not joined.
    pub(crate) fn leave(&mut self, group: &[u8], wakes: &mut Wakes) -> Result<()> {
        self.check_dish()?;
        check_group(group)?;
        if !self.dish_groups.remove(group) {
            return Err(Error::inval(format!(
                "group {:?} is not joined",
                Bytes::copy_from_slice(group)
            )));
        }
        self.broadcast_sub(false, Bytes::copy_from_slice(group), wakes);
        Ok(())
    }

    fn check_dish(&self) -> Result<()> {
        if self.closed {
            return Err(Error::closed());
        }
        if self.socket_type != SocketType::Dish {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("{} sockets do not join groups", self.socket_type),
            ));
        }
        Ok(())
    }

    /// DISH: the joined groups, in order (sent to every new connection first).
    pub(super) fn dish_joined(&self) -> Vec<Bytes> {
        self.dish_groups.iter().cloned().collect()
    }

    /// RADIO: peer `id` joined (`join`) or left `group`. As libzmq, a join is recorded
    /// once per JOIN (a leave takes one back), and a message still goes once to a peer.
    pub(super) fn on_group(&mut self, id: PeerId, join: bool, group: &Bytes) {
        if join {
            self.radio_groups.entry(group.clone()).or_default().push(id);
        } else if let Some(ids) = self.radio_groups.get_mut(&group[..]) {
            if let Some(pos) = ids.iter().position(|&x| x == id) {
                ids.swap_remove(pos);
            }
            if ids.is_empty() {
                self.radio_groups.remove(&group[..]);
            }
        }
    }

    /// RADIO: forgets what peer `id` joined (its connection ended; a DISH that reconnects
    /// joins again).
    pub(super) fn radio_forget(&mut self, id: PeerId) {
        self.radio_groups.retain(|_, ids| {
            ids.retain(|&x| x != id);
            !ids.is_empty()
        });
        self.udp_peers.retain(|&x| x != id);
    }

    /// RADIO: a UDP destination, which takes every group.
    pub(crate) fn add_udp_peer(&mut self, id: PeerId) {
        self.udp_peers.push(id);
    }

    /// RADIO: queues `msg` (one frame) to each peer that joined its group and to every
    /// UDP destination; a peer at SNDHWM loses it, or with XPUB_NODROP (which libzmq's
    /// RADIO takes) nothing is sent and the sender waits. Several frames are `EINVAL`.
    #[inline(never)]
    pub(super) fn send_radio(
        &mut self,
        msg: Message,
        back: &mut Option<Message>,
        wakes: &mut Wakes,
    ) -> std::result::Result<(), SendBlock> {
        if msg.len() != 1 {
            let e = Error::inval(format!(
                "a RADIO message is one frame, not {} (libzmq refuses SNDMORE)",
                msg.len()
            ));
            return Err(bounce_err(back, e, msg));
        }
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        if let Some(ids) = self.radio_groups.get(msg.group()) {
            targets.extend_from_slice(ids);
        }
        targets.extend_from_slice(&self.udp_peers);
        targets.sort_unstable();
        targets.dedup();
        if self.opts.xpub_nodrop && targets.iter().any(|&id| !self.has_room(id)) {
            self.scratch = targets;
            return Err(bounce_full(back, msg));
        }
        self.count_out(&msg);
        let mut wire: Option<Message> = None;
        let conflate = self.opts.conflate;
        for &id in &targets {
            let p = match self.peers.get_mut(&id) {
                Some(p) if peer_has_room(p, &self.opts) => p,
                _ => {
                    self.counters.dropped_hwm += 1;
                    continue;
                }
            };
            // As `push_msg` does for the other types: CONFLATE keeps the last message only
            // (room is not checked then), and a conflated message is queued as an item.
            if conflate {
                p.conflate_out();
            }
            if p.encodes(conflate) {
                // The two frames a ZMTP peer gets (see `Connection::send_message`).
                let w = wire.get_or_insert_with(|| {
                    Message::from([Bytes::copy_from_slice(msg.group()), msg[0].clone()])
                });
                encode_message(w, &mut p.enc);
                p.count_encoded(wakes);
            } else {
                push_item(p, Outbound::Msg(msg.clone()), wakes);
            }
        }
        self.scratch = targets;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use tokio_util::sync::CancellationToken;

    fn attached(st: &mut State, raw: bool) -> PeerId {
        let mut p = Peer::new(Bytes::new(), CancellationToken::new());
        p.attached = true;
        p.raw = raw;
        st.add_peer(p)
    }

    fn taken(st: &mut State, id: PeerId) -> Vec<Message> {
        let mut out = VecDeque::new();
        st.pull_out(id, &mut out, 100);
        out.into_iter()
            .map(|o| match o {
                Outbound::Msg(m) => m,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn grouped(group: &str, body: &'static str) -> Message {
        Message::from(body).with_group(group).unwrap()
    }

    #[test]
    fn radio_sends_to_exact_group_members_once_each() {
        let mut st = State::new(SocketType::Radio);
        let a = attached(&mut st, true);
        let b = attached(&mut st, true);
        let tv = Bytes::from_static(b"tv");
        st.on_group(a, true, &tv);
        st.on_group(a, true, &tv);
        st.on_group(b, true, &Bytes::from_static(b"tvx"));
        let mut w = Wakes::default();
        st.try_send(&mut Some(grouped("tv", "1")), &mut w).unwrap();
        st.try_send(&mut Some(grouped("t", "2")), &mut w).unwrap();
        st.try_send(&mut Some(grouped("tvx", "3")), &mut w).unwrap();
        assert_eq!(taken(&mut st, a), [grouped("tv", "1")]);
        assert_eq!(taken(&mut st, b), [grouped("tvx", "3")]);
        // Two joins need two leaves.
        st.on_group(a, false, &tv);
        st.try_send(&mut Some(grouped("tv", "4")), &mut w).unwrap();
        assert_eq!(taken(&mut st, a), [grouped("tv", "4")]);
        st.on_group(a, false, &tv);
        st.try_send(&mut Some(grouped("tv", "5")), &mut w).unwrap();
        assert!(taken(&mut st, a).is_empty());
    }

    /// CONFLATE on a RADIO keeps each member's last message only (found by the
    /// `socket_paths` fuzz target: room is not checked under CONFLATE, and the queue grew
    /// past SNDHWM without bound).
    #[test]
    fn radio_with_conflate_keeps_the_last_message_per_member() {
        let mut st = State::new(SocketType::Radio);
        st.opts.conflate = true;
        st.opts.sndhwm = 4;
        let raw = attached(&mut st, true);
        let net = attached(&mut st, false);
        let tv = Bytes::from_static(b"tv");
        st.on_group(raw, true, &tv);
        st.on_group(net, true, &tv);
        let mut w = Wakes::default();
        for i in 0..10 {
            st.try_send(
                &mut Some(grouped(
                    "tv",
                    ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"][i],
                )),
                &mut w,
            )
            .unwrap();
        }
        assert_eq!(st.peers[&net].queued(), 1);
        assert_eq!(taken(&mut st, raw), [grouped("tv", "9")]);
        assert_eq!(taken(&mut st, net), [grouped("tv", "9")]);
    }

    #[test]
    fn radio_refuses_multipart_and_encodes_group_then_body() {
        let mut st = State::new(SocketType::Radio);
        let mut slot = Some(Message::from(["a", "b"]));
        assert!(matches!(
            st.try_send(&mut slot, &mut Wakes::default()),
            Err(SendBlock::Err(e)) if e.kind() == ErrorKind::InvalidInput
        ));
        assert!(slot.is_some(), "given back");
        let net = attached(&mut st, false);
        st.on_group(net, true, &Bytes::from_static(b"g"));
        st.try_send(&mut Some(grouped("g", "body")), &mut Wakes::default())
            .unwrap();
        assert_eq!(st.peers[&net].enc.to_vec(), b"\x01\x01g\x00\x04body");
    }

    #[test]
    fn dish_join_twice_and_unknown_leave_are_einval() {
        let mut st = State::new(SocketType::Dish);
        let mut w = Wakes::default();
        st.join(b"g", &mut w).unwrap();
        assert_eq!(
            st.join(b"g", &mut w).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        st.leave(b"g", &mut w).unwrap();
        assert_eq!(
            st.leave(b"g", &mut w).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            st.join(&[b'x'; 256], &mut w).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        st.join(&[b'x'; 255], &mut w).unwrap();
        let mut radio = State::new(SocketType::Radio);
        assert_eq!(
            radio.join(b"g", &mut w).unwrap_err().kind(),
            ErrorKind::NotSupported
        );
    }
}
