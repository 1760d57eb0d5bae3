//! PLAIN (RFC 24): a user name and password in clear text, checked by the server's ZAP
//! handler.
//!
//! ```text
//! C: HELLO    username-len username password-len password
//! S: WELCOME  (or ERROR)
//! C: INITIATE metadata
//! S: READY    metadata
//! ```

use super::{Step, ZapReply, ZapRequest};
use crate::zmtp::command::{Command, Metadata};
use crate::zmtp::greeting::Mechanism;
use crate::zmtp::ProtocolError;
use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ClientExpectWelcome,
    ClientExpectReady,
    ServerExpectHello,
    ServerWaitZap,
    ServerExpectInitiate,
    Done,
}

/// The PLAIN handshake of one side.
#[derive(Debug)]
pub(crate) struct Plain {
    state: State,
    username: Bytes,
    password: Bytes,
    our_metadata: Metadata,
}

fn body(name: &[u8], data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(1 + name.len() + data.len());
    b.put_u8(name.len() as u8);
    b.put_slice(name);
    b.put_slice(data);
    b.freeze()
}

fn metadata_body(name: &[u8], md: &Metadata) -> Bytes {
    let mut data = BytesMut::new();
    md.encode(&mut data);
    body(name, &data)
}

impl Plain {
    pub(crate) fn client(username: Bytes, password: Bytes, our_metadata: Metadata) -> Self {
        Plain {
            state: State::ClientExpectWelcome,
            username,
            password,
            our_metadata,
        }
    }

    pub(crate) fn server(our_metadata: Metadata) -> Self {
        Plain {
            state: State::ServerExpectHello,
            username: Bytes::new(),
            password: Bytes::new(),
            our_metadata,
        }
    }

    /// The client speaks first: HELLO.
    pub(crate) fn start(&mut self, out: &mut Vec<Bytes>) {
        if self.state == State::ClientExpectWelcome {
            let u = &self.username[..self.username.len().min(255)];
            let p = &self.password[..self.password.len().min(255)];
            let mut data = BytesMut::with_capacity(2 + u.len() + p.len());
            data.put_u8(u.len() as u8);
            data.put_slice(u);
            data.put_u8(p.len() as u8);
            data.put_slice(p);
            out.push(body(b"HELLO", &data));
        }
    }

    /// Handles one handshake command body (name included).
    pub(crate) fn on_command(
        &mut self,
        cmd: Bytes,
        zap: Option<ZapRequest>,
        out: &mut Vec<Bytes>,
    ) -> Result<Step, ProtocolError> {
        // libzmq 4.3.5's PLAIN server writes its ERROR prefix as the C string "\x05ERROR",
        // which C reads as the byte 0x5E then "RROR": recognise that form too.
        if let Some(rest) = cmd.strip_prefix(b"\x5eRROR") {
            let reason = rest
                .split_first()
                .map(|(&n, r)| String::from_utf8_lossy(&r[..r.len().min(n as usize)]).into_owned())
                .unwrap_or_default();
            return Err(ProtocolError::Auth(reason));
        }
        let (name, data) = Command::split_name(&cmd)?;
        if &name[..] == b"ERROR" {
            return Err(super::peer_error(cmd));
        }
        match (self.state, &name[..]) {
            (State::ServerExpectHello, b"HELLO") => {
                let ulen = *data
                    .first()
                    .ok_or(ProtocolError::MalformedCommand("HELLO"))?
                    as usize;
                if data.len() < 1 + ulen + 1 {
                    return Err(ProtocolError::MalformedCommand("HELLO"));
                }
                let username = data.slice(1..1 + ulen);
                let plen = data[1 + ulen] as usize;
                if data.len() != 2 + ulen + plen {
                    return Err(ProtocolError::MalformedCommand("HELLO"));
                }
                let password = data.slice(2 + ulen..);
                match zap {
                    Some(mut req) => {
                        req.mechanism = Mechanism::Plain;
                        req.credentials = vec![username, password];
                        self.state = State::ServerWaitZap;
                        Ok(Step::Zap(req))
                    }
                    None => {
                        out.push(body(b"WELCOME", b""));
                        self.state = State::ServerExpectInitiate;
                        Ok(Step::Continue)
                    }
                }
            }
            (State::ClientExpectWelcome, b"WELCOME") => {
                if !data.is_empty() {
                    return Err(ProtocolError::MalformedCommand("WELCOME"));
                }
                out.push(metadata_body(b"INITIATE", &self.our_metadata));
                self.state = State::ClientExpectReady;
                Ok(Step::Continue)
            }
            (State::ServerExpectInitiate, b"INITIATE") => {
                let md = Metadata::decode(data)?;
                out.push(metadata_body(b"READY", &self.our_metadata));
                self.state = State::Done;
                Ok(Step::Done(md))
            }
            (State::ClientExpectReady, b"READY") => {
                let md = Metadata::decode(data)?;
                self.state = State::Done;
                Ok(Step::Done(md))
            }
            (_, other) => Err(ProtocolError::UnexpectedCommand(
                String::from_utf8_lossy(other).into_owned(),
            )),
        }
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
            out.push(error_body(reply.status_code));
            return Err(ProtocolError::Auth(format!(
                "{} {}",
                reply.status_code, reply.status_text
            )));
        }
        out.push(body(b"WELCOME", b""));
        self.state = State::ServerExpectInitiate;
        Ok(Step::Continue)
    }
}

/// An ERROR command body carrying a ZAP status code, as libzmq sends it.
pub(crate) fn error_body(status: u16) -> Bytes {
    let reason = status.to_string();
    let mut data = BytesMut::new();
    data.put_u8(reason.len() as u8);
    data.put_slice(reason.as_bytes());
    body(b"ERROR", &data)
}
