//! CURVE (RFC 26, CurveZMQ): X25519 key agreement and XSalsa20-Poly1305 boxes.
//!
//! ```text
//! C: HELLO    version(1.0) padding(72) C' nonce(8) Box[64 zeros](C'->S)
//! S: WELCOME  nonce(16) Box[S' + cookie](S->C')        cookie = nonce(16) SecretBox[C' + s'](K)
//! C: INITIATE cookie nonce(8) Box[C + vouch + metadata](C'->S')   vouch = nonce(16) Box[C' + S](C->S')
//! S: READY    nonce(8) Box[metadata](S'->C')
//! then every frame: MESSAGE nonce(8) Box[flags + body](C'->S' or S'->C')
//! ```
//!
//! Short nonces are 64-bit big-endian counters starting at 1 and strictly increasing; a
//! MESSAGE whose nonce is not larger than the last one seen is rejected (replay). The
//! server's cookie key is made for each connection and forgotten once INITIATE is checked,
//! so a recorded INITIATE replayed on another connection does not open. Every box key comes
//! from `msgbox::beforenm`, which refuses a peer key of low order as libsodium does: the
//! handshake fails with an authentication error naming the key.

use super::msgbox::{beforenm, MessageKey};
use super::{CurveKey, RandomSource, Step, ZapReply, ZapRequest};
use crate::zmtp::command::{Command, Metadata};
use crate::zmtp::frame::{encode_header, WriteBuf};
use crate::zmtp::greeting::Mechanism;
use crate::zmtp::ProtocolError;
use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::{generic_array::GenericArray, Aead, KeyInit};
use crypto_box::{PublicKey, SecretKey};
use crypto_secretbox::XSalsa20Poly1305;
use zeroize::Zeroize;

const MESSAGE: &[u8] = b"\x07MESSAGE";
/// Flag bits inside a MESSAGE box.
const BOX_MORE: u8 = 0x01;
const BOX_COMMAND: u8 = 0x02;

fn nonce24(prefix: &[u8], rest: &[u8]) -> GenericArray<u8, crypto_box::aead::consts::U24> {
    let mut n = [0u8; 24];
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(rest);
    n.into()
}

/// The box between `secret` and `peer` (`crypto_box` is `crypto_secretbox` under
/// `crypto_box_beforenm`'s key); refused, as libsodium refuses it, when the X25519 shared
/// secret is all zero (a peer key of low order): `whose` names that key.
fn box_with(
    peer: &PublicKey,
    secret: &SecretKey,
    whose: &str,
) -> Result<XSalsa20Poly1305, ProtocolError> {
    let mut key = beforenm(peer, secret).ok_or_else(|| {
        ProtocolError::Auth(format!(
            "{whose} is of low order (zero X25519 shared secret)"
        ))
    })?;
    let bx = XSalsa20Poly1305::new(&key.into());
    key.zeroize();
    Ok(bx)
}

fn seal(bx: &XSalsa20Poly1305, prefix: &[u8], short: &[u8], plain: &[u8]) -> Vec<u8> {
    bx.encrypt(&nonce24(prefix, short), plain)
        .expect("XSalsa20-Poly1305 encryption cannot fail for in-memory buffers")
}

fn open(
    bx: &XSalsa20Poly1305,
    prefix: &[u8],
    short: &[u8],
    boxed: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, ProtocolError> {
    bx.decrypt(&nonce24(prefix, short), boxed)
        .map_err(|_| ProtocolError::Auth(format!("cannot open the {what} box (wrong key?)")))
}

fn keypair(rng: &RandomSource) -> (SecretKey, PublicKey) {
    let mut b = [0u8; 32];
    rng(&mut b);
    let s = SecretKey::from(b);
    let p = s.public_key();
    (s, p)
}

/// The public key that belongs to `secret` (libzmq's `zmq_curve_public`).
pub fn public_from_secret(secret: &CurveKey) -> CurveKey {
    SecretKey::from(*secret).public_key().to_bytes()
}

/// A new long-term key pair `(public, secret)` (libzmq's `zmq_curve_keypair`).
pub fn keypair_with(rng: &RandomSource) -> (CurveKey, CurveKey) {
    let (s, p) = keypair(rng);
    (p.to_bytes(), s.to_bytes())
}

fn cmd(name: &[u8], parts: &[&[u8]]) -> Bytes {
    let len = 1 + name.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut b = BytesMut::with_capacity(len);
    b.put_u8(name.len() as u8);
    b.put_slice(name);
    for p in parts {
        b.put_slice(p);
    }
    b.freeze()
}

/// Encrypts and decrypts frames once the handshake is done.
pub struct Cipher {
    send_key: MessageKey,
    recv_key: MessageKey,
    send_nonce: u64,
    peer_nonce: u64,
    /// Decrypted bodies are carved out of this buffer (one allocation per
    /// [`PLAIN_ARENA`] bytes of messages instead of one per message).
    arena: BytesMut,
}

/// The MESSAGE nonce prefixes (sent, received) of the server or client side.
fn prefixes(server: bool) -> (&'static [u8; 16], &'static [u8; 16]) {
    if server {
        (b"CurveZMQMESSAGES", b"CurveZMQMESSAGEC")
    } else {
        (b"CurveZMQMESSAGEC", b"CurveZMQMESSAGES")
    }
}

/// Size of the buffers decrypted message bodies are carved from.
const PLAIN_ARENA: usize = 64 * 1024;

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher")
            .field("send_nonce", &self.send_nonce)
            .field("peer_nonce", &self.peer_nonce)
            .finish_non_exhaustive()
    }
}

impl Cipher {
    /// A cipher from its two direction keys, nonce counters at zero (tests and fuzzing).
    pub(crate) fn with_message_keys(send_key: MessageKey, recv_key: MessageKey) -> Cipher {
        Cipher {
            send_key,
            recv_key,
            send_nonce: 1,
            peer_nonce: 0,
            arena: BytesMut::new(),
        }
    }

    /// Encrypts one frame (`more`/`command` as on the wire) into a MESSAGE frame.
    pub fn encrypt_frame(&mut self, more: bool, command: bool, body: &[u8], out: &mut WriteBuf) {
        let nonce = self.send_nonce;
        self.send_nonce += 1;
        let flags = if more { BOX_MORE } else { 0 } | if command { BOX_COMMAND } else { 0 };
        let msg_len = MESSAGE.len() + 8 + 16 + 1 + body.len();
        let mut hdr = [0u8; 9];
        let hdr_len = {
            let mut h = &mut hdr[..];
            // libzmq sends MESSAGE as a plain message frame (flags 0); MORE lives in the box.
            encode_header(0, msg_len, &mut h);
            9 - h.len()
        };
        let key = &self.send_key;
        out.put_with(hdr_len + msg_len, |buf| {
            let (h, rest) = buf.split_at_mut(hdr_len);
            h.copy_from_slice(&hdr[..hdr_len]);
            rest[..8].copy_from_slice(MESSAGE);
            rest[8..16].copy_from_slice(&nonce.to_be_bytes());
            let (tag_slot, plain) = rest[16..].split_at_mut(16);
            plain[0] = flags;
            plain[1..].copy_from_slice(body);
            tag_slot.copy_from_slice(&key.seal_in_place(nonce, plain));
        });
    }

    /// Decrypts a MESSAGE frame body into (more, command, body). Anything else — a
    /// plaintext frame, a replayed or reordered nonce, a forged box — is an error.
    pub fn decrypt_frame(&mut self, frame: &Bytes) -> Result<(bool, bool, Bytes), ProtocolError> {
        if frame.len() < MESSAGE.len() || &frame[..MESSAGE.len()] != MESSAGE {
            return Err(ProtocolError::Auth(
                "plaintext frame after the CURVE handshake".into(),
            ));
        }
        if frame.len() < MESSAGE.len() + 8 + 16 + 1 {
            return Err(ProtocolError::MalformedCommand("MESSAGE"));
        }
        let mut n = [0u8; 8];
        n.copy_from_slice(&frame[8..16]);
        let nonce = u64::from_be_bytes(n);
        if nonce <= self.peer_nonce {
            return Err(ProtocolError::Auth(format!(
                "MESSAGE nonce {nonce} not above {} (replayed or reordered)",
                self.peer_nonce
            )));
        }
        let boxed = &frame[32..];
        if self.arena.capacity() - self.arena.len() < boxed.len() {
            // Takes the old chunk back when no body cut from it is alive any more.
            self.arena.reserve(PLAIN_ARENA.max(boxed.len()));
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(boxed);
        if !self
            .recv_key
            .open_in_place(nonce, &frame[16..32], &mut self.arena[start..])
        {
            self.arena.truncate(start);
            return Err(ProtocolError::Auth(
                "MESSAGE box does not authenticate".into(),
            ));
        }
        self.peer_nonce = nonce;
        let mut plain = self.arena.split_to(start + boxed.len());
        let flags = plain[start];
        let body = plain.split_off(start + 1).freeze();
        Ok((flags & BOX_MORE != 0, flags & BOX_COMMAND != 0, body))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ClientExpectWelcome,
    ClientExpectReady,
    ServerExpectHello,
    ServerExpectInitiate,
    ServerWaitZap,
    Done,
}

/// The CURVE handshake of one side.
pub(crate) struct Curve {
    state: State,
    rng: RandomSource,
    our_metadata: Metadata,
    /// Long-term keys: ours (public, secret) and, for a client, the server's.
    public: PublicKey,
    secret: SecretKey,
    server_key: Option<PublicKey>,
    /// Short-term keys.
    cn_public: PublicKey,
    cn_secret: SecretKey,
    /// The peer's short-term public key.
    cn_peer: Option<PublicKey>,
    cookie: Vec<u8>,
    cookie_key: Option<[u8; 32]>,
    nonce: u64,
    peer_nonce: u64,
    peer_metadata: Option<Metadata>,
    /// Server side: the client's long-term public key (C), once INITIATE was opened.
    client_key: Option<CurveKey>,
}

impl std::fmt::Debug for Curve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Curve")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Curve {
    pub(crate) fn client(
        server_key: CurveKey,
        public: CurveKey,
        secret: CurveKey,
        our_metadata: Metadata,
        rng: RandomSource,
    ) -> Self {
        let (cn_secret, cn_public) = keypair(&rng);
        Curve {
            state: State::ClientExpectWelcome,
            rng,
            our_metadata,
            public: PublicKey::from(public),
            secret: SecretKey::from(secret),
            server_key: Some(PublicKey::from(server_key)),
            cn_public,
            cn_secret,
            cn_peer: None,
            cookie: Vec::new(),
            cookie_key: None,
            nonce: 1,
            peer_nonce: 0,
            peer_metadata: None,
            client_key: None,
        }
    }

    pub(crate) fn server(
        public: CurveKey,
        secret: CurveKey,
        our_metadata: Metadata,
        rng: RandomSource,
    ) -> Self {
        let (cn_secret, cn_public) = keypair(&rng);
        Curve {
            state: State::ServerExpectHello,
            rng,
            our_metadata,
            public: PublicKey::from(public),
            secret: SecretKey::from(secret),
            server_key: None,
            cn_public,
            cn_secret,
            cn_peer: None,
            cookie: Vec::new(),
            cookie_key: None,
            nonce: 1,
            peer_nonce: 0,
            peer_metadata: None,
            client_key: None,
        }
    }

    fn next_nonce(&mut self) -> [u8; 8] {
        let n = self.nonce;
        self.nonce += 1;
        n.to_be_bytes()
    }

    /// The client speaks first: HELLO.
    pub(crate) fn start(&mut self, out: &mut Vec<Bytes>) -> Result<(), ProtocolError> {
        if self.state != State::ClientExpectWelcome {
            return Ok(());
        }
        let server = self.server_key.clone().expect("client has the server key");
        let bx = box_with(&server, &self.cn_secret, "the server key")?;
        let short = self.next_nonce();
        let hello_box = seal(&bx, b"CurveZMQHELLO---", &short, &[0u8; 64]);
        out.push(cmd(
            b"HELLO",
            &[
                &[1, 0],
                &[0u8; 72],
                self.cn_public.as_bytes(),
                &short,
                &hello_box,
            ],
        ));
        Ok(())
    }

    /// Handles one handshake command body (name included).
    pub(crate) fn on_command(
        &mut self,
        body: Bytes,
        zap: Option<ZapRequest>,
        out: &mut Vec<Bytes>,
    ) -> Result<Step, ProtocolError> {
        let (name, _) = Command::split_name(&body)?;
        if &name[..] == b"ERROR" {
            return Err(super::peer_error(body));
        }
        match (self.state, &name[..]) {
            (State::ServerExpectHello, b"HELLO") => self.on_hello(&body, out),
            (State::ClientExpectWelcome, b"WELCOME") => self.on_welcome(&body, out),
            (State::ServerExpectInitiate, b"INITIATE") => self.on_initiate(&body, zap, out),
            (State::ClientExpectReady, b"READY") => self.on_ready(&body),
            (_, other) => Err(ProtocolError::UnexpectedCommand(
                String::from_utf8_lossy(other).into_owned(),
            )),
        }
    }

    fn on_hello(&mut self, b: &[u8], out: &mut Vec<Bytes>) -> Result<Step, ProtocolError> {
        // 6 name + 2 version + 72 padding + 32 C' + 8 nonce + 80 box: anything else,
        // including a HELLO without its anti-amplification padding, is refused.
        if b.len() != 200 {
            return Err(ProtocolError::MalformedCommand("HELLO"));
        }
        if b[6] != 1 || b[7] != 0 {
            return Err(ProtocolError::MalformedCommand("HELLO"));
        }
        let cn_client = PublicKey::from(<[u8; 32]>::try_from(&b[80..112]).expect("32 bytes"));
        let short = &b[112..120];
        let bx = box_with(&cn_client, &self.secret, "HELLO's short-term key")?;
        let plain = open(&bx, b"CurveZMQHELLO---", short, &b[120..200], "HELLO")?;
        if plain.iter().any(|&x| x != 0) {
            return Err(ProtocolError::MalformedCommand("HELLO"));
        }
        self.peer_nonce = u64::from_be_bytes(short.try_into().expect("8 bytes"));
        // Cookie = nonce(16) + SecretBox[C' + s'](K), with a fresh K for this connection.
        let mut k = [0u8; 32];
        (self.rng)(&mut k);
        let mut cookie_nonce = [0u8; 16];
        (self.rng)(&mut cookie_nonce);
        let mut cookie_plain = Vec::with_capacity(64);
        cookie_plain.extend_from_slice(cn_client.as_bytes());
        cookie_plain.extend_from_slice(&self.cn_secret.to_bytes());
        let sb = XSalsa20Poly1305::new(&k.into());
        let cookie_box = sb
            .encrypt(&nonce24(b"COOKIE--", &cookie_nonce), &cookie_plain[..])
            .expect("secretbox encryption cannot fail");
        let mut welcome_plain = Vec::with_capacity(128);
        welcome_plain.extend_from_slice(self.cn_public.as_bytes());
        welcome_plain.extend_from_slice(&cookie_nonce);
        welcome_plain.extend_from_slice(&cookie_box);
        let mut welcome_nonce = [0u8; 16];
        (self.rng)(&mut welcome_nonce);
        let welcome_box = seal(&bx, b"WELCOME-", &welcome_nonce, &welcome_plain);
        out.push(cmd(b"WELCOME", &[&welcome_nonce, &welcome_box]));
        self.cookie_key = Some(k);
        self.cn_peer = Some(cn_client);
        self.state = State::ServerExpectInitiate;
        Ok(Step::Continue)
    }

    fn on_welcome(&mut self, b: &[u8], out: &mut Vec<Bytes>) -> Result<Step, ProtocolError> {
        if b.len() != 168 {
            return Err(ProtocolError::MalformedCommand("WELCOME"));
        }
        let server = self.server_key.clone().expect("client has the server key");
        let bx = box_with(&server, &self.cn_secret, "the server key")?;
        let plain = open(&bx, b"WELCOME-", &b[8..24], &b[24..168], "WELCOME")?;
        let cn_server = PublicKey::from(<[u8; 32]>::try_from(&plain[..32]).expect("32 bytes"));
        self.cookie = plain[32..128].to_vec();
        // Vouch = nonce(16) + Box[C' + S](C->S').
        let mut vouch_nonce = [0u8; 16];
        (self.rng)(&mut vouch_nonce);
        let mut vouch_plain = Vec::with_capacity(64);
        vouch_plain.extend_from_slice(self.cn_public.as_bytes());
        vouch_plain.extend_from_slice(server.as_bytes());
        let vouch_box = seal(
            &box_with(&cn_server, &self.secret, "WELCOME's short-term key")?,
            b"VOUCH---",
            &vouch_nonce,
            &vouch_plain,
        );
        let mut md = BytesMut::new();
        self.our_metadata.encode(&mut md);
        let mut init_plain = Vec::with_capacity(128 + md.len());
        init_plain.extend_from_slice(self.public.as_bytes());
        init_plain.extend_from_slice(&vouch_nonce);
        init_plain.extend_from_slice(&vouch_box);
        init_plain.extend_from_slice(&md);
        let short = self.next_nonce();
        let init_box = seal(
            &box_with(&cn_server, &self.cn_secret, "WELCOME's short-term key")?,
            b"CurveZMQINITIATE",
            &short,
            &init_plain,
        );
        out.push(cmd(b"INITIATE", &[&self.cookie, &short, &init_box]));
        self.cn_peer = Some(cn_server);
        self.state = State::ClientExpectReady;
        Ok(Step::Continue)
    }

    fn on_initiate(
        &mut self,
        b: &[u8],
        zap: Option<ZapRequest>,
        out: &mut Vec<Bytes>,
    ) -> Result<Step, ProtocolError> {
        // 9 name + 96 cookie + 8 nonce + at least the 144-byte box of C + vouch.
        if b.len() < 257 {
            return Err(ProtocolError::MalformedCommand("INITIATE"));
        }
        let k = self
            .cookie_key
            .take()
            .ok_or(ProtocolError::UnexpectedCommand("INITIATE".into()))?;
        let sb = XSalsa20Poly1305::new(&k.into());
        let cookie_plain = sb
            .decrypt(&nonce24(b"COOKIE--", &b[9..25]), &b[25..105])
            .map_err(|_| ProtocolError::Auth("INITIATE cookie does not open".into()))?;
        let cn_client = self.cn_peer.clone().expect("set at HELLO");
        if cookie_plain[..32] != cn_client.as_bytes()[..]
            || cookie_plain[32..64] != self.cn_secret.to_bytes()[..]
        {
            return Err(ProtocolError::Auth("INITIATE cookie is not ours".into()));
        }
        let short = &b[105..113];
        let nonce = u64::from_be_bytes(short.try_into().expect("8 bytes"));
        if nonce <= self.peer_nonce {
            return Err(ProtocolError::Auth("INITIATE nonce replayed".into()));
        }
        let bx = box_with(&cn_client, &self.cn_secret, "HELLO's short-term key")?;
        let plain = open(&bx, b"CurveZMQINITIATE", short, &b[113..], "INITIATE")?;
        if plain.len() < 128 {
            return Err(ProtocolError::MalformedCommand("INITIATE"));
        }
        let client_key = PublicKey::from(<[u8; 32]>::try_from(&plain[..32]).expect("32 bytes"));
        let vouch = open(
            &box_with(&client_key, &self.cn_secret, "INITIATE's long-term key")?,
            b"VOUCH---",
            &plain[32..48],
            &plain[48..128],
            "vouch",
        )?;
        if vouch[..32] != cn_client.as_bytes()[..] || vouch[32..64] != self.public.as_bytes()[..] {
            return Err(ProtocolError::Auth("INITIATE vouch does not match".into()));
        }
        self.peer_nonce = nonce;
        self.client_key = Some(client_key.to_bytes());
        let md = Metadata::decode(Bytes::copy_from_slice(&plain[128..]))?;
        match zap {
            Some(mut req) => {
                req.mechanism = Mechanism::Curve;
                req.credentials = vec![Bytes::copy_from_slice(client_key.as_bytes())];
                self.peer_metadata = Some(md);
                self.state = State::ServerWaitZap;
                Ok(Step::Zap(req))
            }
            None => {
                self.send_ready(out)?;
                Ok(Step::Done(md))
            }
        }
    }

    fn send_ready(&mut self, out: &mut Vec<Bytes>) -> Result<(), ProtocolError> {
        let cn_client = self.cn_peer.clone().expect("set at HELLO");
        let mut md = BytesMut::new();
        self.our_metadata.encode(&mut md);
        let short = self.next_nonce();
        let ready_box = seal(
            &box_with(&cn_client, &self.cn_secret, "HELLO's short-term key")?,
            b"CurveZMQREADY---",
            &short,
            &md,
        );
        out.push(cmd(b"READY", &[&short, &ready_box]));
        self.state = State::Done;
        Ok(())
    }

    fn on_ready(&mut self, b: &[u8]) -> Result<Step, ProtocolError> {
        if b.len() < 6 + 8 + 16 {
            return Err(ProtocolError::MalformedCommand("READY"));
        }
        let cn_server = self.cn_peer.clone().expect("set at WELCOME");
        let short = &b[6..14];
        let plain = open(
            &box_with(&cn_server, &self.cn_secret, "WELCOME's short-term key")?,
            b"CurveZMQREADY---",
            short,
            &b[14..],
            "READY",
        )?;
        self.peer_nonce = u64::from_be_bytes(short.try_into().expect("8 bytes"));
        let md = Metadata::decode(Bytes::from(plain))?;
        self.state = State::Done;
        Ok(Step::Done(md))
    }

    /// The ZAP handler answered.
    pub(crate) fn zap_reply(
        &mut self,
        reply: &ZapReply,
        out: &mut Vec<Bytes>,
    ) -> Result<Step, ProtocolError> {
        if self.state != State::ServerWaitZap {
            return Err(ProtocolError::UnexpectedCommand("ZAP reply".into()));
        }
        if reply.status_code != 200 {
            out.push(super::plain::error_body(reply.status_code));
            return Err(ProtocolError::Auth(format!(
                "{} {}",
                reply.status_code, reply.status_text
            )));
        }
        self.send_ready(out)?;
        Ok(Step::Done(self.peer_metadata.take().unwrap_or_default()))
    }

    /// Server side: the client's long-term public key, once INITIATE was opened. The
    /// vouch is checked before it is recorded.
    pub(crate) fn client_key(&self) -> Option<CurveKey> {
        self.client_key
    }

    /// The frame cipher, once the handshake is done (whose boxes already refused a peer
    /// key of low order).
    pub(crate) fn cipher(&self) -> Result<Cipher, ProtocolError> {
        let peer = self.cn_peer.clone().expect("handshake done");
        let server = self.server_key.is_none();
        let (send_prefix, recv_prefix) = prefixes(server);
        let key = |prefix| {
            MessageKey::new(&peer, &self.cn_secret, prefix).ok_or_else(|| {
                ProtocolError::Auth("the peer's short-term key is of low order".into())
            })
        };
        Ok(Cipher {
            send_key: key(send_prefix)?,
            recv_key: key(recv_prefix)?,
            send_nonce: self.nonce,
            peer_nonce: self.peer_nonce,
            arena: BytesMut::new(),
        })
    }
}
