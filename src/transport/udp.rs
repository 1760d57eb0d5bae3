//! `udp://` as libzmq 4.3.5 has it for RADIO/DISH and DGRAM: datagrams only, no ZMTP. A
//! RADIO connects (it only sends), a DISH binds (it only receives); each datagram is one
//! message: one byte of group length, the group, the body. A DGRAM binds and both sends
//! and receives: each datagram is a body alone, its address travels in the message's first
//! frame (`ip:port`).
//!
//! Addresses, as libzmq resolves them:
//! - `udp://host:port`: connect sends there; bind receives on that address (`*`: all
//!   interfaces). Port 0 binds an ephemeral port (libzmq would report port 0; here the
//!   bound port is the resolved endpoint).
//! - `udp://239.1.2.3:port` (a multicast group): connect sends to the group; bind
//!   receives on every interface's `port` and joins the group.
//! - `udp://iface;239.1.2.3:port`: the same through the interface `iface`, given by its
//!   IPv4 address or, as libzmq takes it, its name (`eth0`: that interface's IPv4 address;
//!   for an IPv6 group, its index); `*` is the default interface. The target must then be
//!   a multicast group. A name that is no interface: `ENODEV`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::net::UdpSocket;

/// libzmq's UDP buffer (`MAX_UDP_MSG`): a datagram is at most this long, group and length
/// byte included (libzmq's receiver reads no more; its sender does not check, here a
/// longer message is dropped).
pub const MAX_DATAGRAM: usize = 8192;

/// A parsed `udp://` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UdpEndpoint {
    /// The interface part before `;` (an IPv4 address, an interface name or `*`), for
    /// multicast.
    pub iface: Option<String>,
    /// Host name or address (`*`: all interfaces, bind only), without brackets.
    pub host: String,
    /// The port (0: an ephemeral port, bind only).
    pub port: u16,
}

impl UdpEndpoint {
    /// Parses the part after `udp://` (`s` is the whole endpoint, for messages).
    pub(crate) fn parse(s: &str, addr: &str) -> Result<UdpEndpoint, String> {
        let (iface, rest) = match addr.rsplit_once(';') {
            Some((i, r)) => (Some(i), r),
            None => (None, addr),
        };
        if let Some(i) = iface {
            if i.is_empty() || i.contains([';', '[', ']']) {
                return Err(format!("malformed endpoint {s:?}: bad interface {i:?}"));
            }
        }
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("malformed endpoint {s:?}: udp needs host:port"))?;
        let host = match host.strip_prefix('[') {
            Some(h) => h
                .strip_suffix(']')
                .ok_or_else(|| format!("malformed endpoint {s:?}: unclosed '['"))?,
            None => host,
        };
        if host.is_empty() || host.contains(['[', ']', ';']) {
            return Err(format!("malformed endpoint {s:?}: bad host {host:?}"));
        }
        let port = if port == "*" {
            0
        } else {
            port.parse::<u16>()
                .map_err(|_| format!("malformed endpoint {s:?}: bad port {port:?}"))?
        };
        Ok(UdpEndpoint {
            iface: iface.map(str::to_string),
            host: host.to_string(),
            port,
        })
    }

    /// The address as written after `udp://`.
    pub(crate) fn address(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match &self.iface {
            Some(i) => format!("{i};{host}:{}", self.port),
            None => format!("{host}:{}", self.port),
        }
    }

    async fn target(&self, bind: bool) -> io::Result<SocketAddr> {
        if bind && self.host == "*" {
            return Ok(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), self.port));
        }
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .next()
            .ok_or_else(|| inval(format!("{:?} resolves to no address", self.host)))
    }

    /// The interface address of `iface;` for an IPv4 group (`None`: none given or `*`):
    /// an IPv4 address as written, or the IPv4 address of the interface of that name.
    fn iface_addr(&self) -> io::Result<Option<Ipv4Addr>> {
        match self.iface.as_deref() {
            None | Some("*") => Ok(None),
            Some(i) => match i.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if a.is_multicast() => {
                    Err(inval("a multicast address is no interface"))
                }
                Ok(IpAddr::V4(a)) => Ok(Some(a)),
                Ok(IpAddr::V6(_)) => Err(inval(format!(
                    "interface {i:?}: an IPv4 address, an interface's name or '*'"
                ))),
                Err(_) => match super::iface::address(i, false) {
                    Some(IpAddr::V4(a)) => Ok(Some(a)),
                    _ => Err(super::iface::no_device(i, " with an IPv4 address")),
                },
            },
        }
    }

    /// The interface index of `iface;` for an IPv6 group: that of the interface of that
    /// name; 0 (the system's choice) for none, `*` or an address (libzmq too finds the
    /// index of a name only).
    fn iface_index(&self) -> io::Result<u32> {
        match self.iface.as_deref() {
            None | Some("*") => Ok(0),
            Some(i) if i.parse::<IpAddr>().is_ok() => Ok(0),
            Some(i) => super::iface::index(i).ok_or_else(|| super::iface::no_device(i, "")),
        }
    }
}

fn inval(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

fn any(family: &SocketAddr, port: u16) -> SocketAddr {
    match family {
        SocketAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
        SocketAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port),
    }
}

fn new_socket(family: &SocketAddr) -> io::Result<socket2::Socket> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(*family),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// A DISH's bound socket: `ep`'s unicast address, or for a multicast group every
/// interface's port with the group joined (address and port reuse on, as libzmq sets, so
/// several receivers share a group's port). Returns the socket and the address it is
/// bound to.
pub(crate) async fn bind(ep: &UdpEndpoint) -> io::Result<(UdpSocket, SocketAddr)> {
    let target = ep.target(true).await?;
    let multicast = target.ip().is_multicast();
    if ep.iface.is_some() && !multicast {
        return Err(inval("an interface goes with a multicast group only"));
    }
    let s = new_socket(&target)?;
    s.set_reuse_address(true)?;
    let local = if multicast {
        #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
        s.set_reuse_port(true)?;
        any(&target, target.port())
    } else {
        target
    };
    s.bind(&local.into())?;
    match target.ip() {
        IpAddr::V4(group) if multicast => {
            let iface = ep.iface_addr()?.unwrap_or(Ipv4Addr::UNSPECIFIED);
            s.join_multicast_v4(&group, &iface)?;
        }
        IpAddr::V6(group) if multicast => s.join_multicast_v6(&group, ep.iface_index()?)?,
        _ => {}
    }
    let sock = UdpSocket::from_std(s.into())?;
    let bound = sock.local_addr()?;
    Ok((sock, bound))
}

/// A RADIO's sending socket and its destination. For a multicast group: MULTICAST_LOOP,
/// MULTICAST_HOPS (when above 0) and the interface, as libzmq sets them.
pub(crate) async fn connect(
    ep: &UdpEndpoint,
    hops: i32,
    multicast_loop: bool,
) -> io::Result<(UdpSocket, SocketAddr)> {
    if ep.host == "*" || ep.port == 0 {
        return Err(inval("a RADIO sends to a host and a port"));
    }
    let target = ep.target(false).await?;
    let multicast = target.ip().is_multicast();
    if ep.iface.is_some() && !multicast {
        return Err(inval("an interface goes with a multicast group only"));
    }
    let s = new_socket(&target)?;
    if multicast {
        match target {
            SocketAddr::V4(_) => {
                s.set_multicast_loop_v4(multicast_loop)?;
                if hops > 0 {
                    s.set_multicast_ttl_v4(hops as u32)?;
                }
                if let Some(a) = ep.iface_addr()? {
                    s.set_multicast_if_v4(&a)?;
                }
            }
            SocketAddr::V6(_) => {
                s.set_multicast_loop_v6(multicast_loop)?;
                if hops > 0 {
                    s.set_multicast_hops_v6(hops as u32)?;
                }
                let index = ep.iface_index()?;
                if index != 0 {
                    s.set_multicast_if_v6(index)?;
                }
            }
        }
    }
    s.bind(&any(&target, 0).into())?;
    Ok((UdpSocket::from_std(s.into())?, target))
}

/// Writes the datagram of a message with `group` and `body` into `out` (cleared first):
/// the group's length in one byte, the group, the body. `false` when it would exceed
/// [`MAX_DATAGRAM`] or the group 255 bytes (nothing to send).
pub fn encode_datagram(group: &[u8], body: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let Ok(len) = u8::try_from(group.len()) else {
        return false;
    };
    if 1 + group.len() + body.len() > MAX_DATAGRAM {
        return false;
    }
    out.push(len);
    out.extend_from_slice(group);
    out.extend_from_slice(body);
    true
}

/// DGRAM: the destination a message's first frame names: `ip:port` text (IPv4, or an
/// IPv6 address in brackets), port above 0, optionally ending in one NUL byte (libzmq's
/// received address frames carry one, so a reply can reuse the frame). `None` otherwise.
pub fn parse_dgram_address(frame: &[u8]) -> Option<SocketAddr> {
    let text = frame.strip_suffix(&[0]).unwrap_or(frame);
    let addr: SocketAddr = std::str::from_utf8(text).ok()?.parse().ok()?;
    (addr.port() != 0).then_some(addr)
}

/// DGRAM: the first frame of a received message, naming its sender as libzmq 4.3.5 does:
/// `ip:port` followed by one NUL byte (IPv6 senders, which libzmq cannot receive from,
/// as `[ip]:port`; an IPv4-mapped address as its IPv4 form).
pub fn dgram_address_frame(from: SocketAddr) -> bytes::Bytes {
    let from = SocketAddr::new(from.ip().to_canonical(), from.port());
    let mut text = from.to_string().into_bytes();
    text.push(0);
    text.into()
}

/// Splits a datagram into its group and body; `None` (dropped, as libzmq does) when it is
/// empty or its length byte reaches past its end.
pub fn decode_datagram(d: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = d.split_first()?;
    let len = len as usize;
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// Fuzz entry point (see `crate::fuzzing`): any datagram decodes or is refused without
/// panicking, and what decodes encodes back to the same bytes.
pub(crate) fn fuzz_datagram(data: &[u8]) {
    if let Some((group, body)) = decode_datagram(data) {
        assert!(group.len() <= 255);
        let mut out = Vec::new();
        if encode_datagram(group, body, &mut out) {
            assert_eq!(out, data);
        } else {
            assert!(data.len() > MAX_DATAGRAM);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_are_length_group_body() {
        let mut out = Vec::new();
        assert!(encode_datagram(b"tv", b"hello", &mut out));
        assert_eq!(out, b"\x02tvhello");
        assert_eq!(decode_datagram(&out), Some((&b"tv"[..], &b"hello"[..])));
        assert_eq!(decode_datagram(b"\x00"), Some((&b""[..], &b""[..])));
        assert_eq!(decode_datagram(b""), None);
        assert_eq!(decode_datagram(b"\x03ab"), None);
        assert!(!encode_datagram(&[1; 256], b"", &mut out));
        assert!(!encode_datagram(b"g", &[0; MAX_DATAGRAM - 1], &mut out));
        assert!(encode_datagram(b"g", &[0; MAX_DATAGRAM - 2], &mut out));
    }

    #[test]
    fn dgram_addresses_are_ip_port_text_with_libzmqs_nul() {
        let v4: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(&dgram_address_frame(v4)[..], b"127.0.0.1:5555\0");
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:7".parse().unwrap();
        assert_eq!(&dgram_address_frame(mapped)[..], b"10.0.0.1:7\0");
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(&dgram_address_frame(v6)[..], b"[::1]:9\0");
        for good in [&b"127.0.0.1:5555"[..], b"127.0.0.1:5555\0", b"[::1]:9"] {
            assert!(parse_dgram_address(good).is_some(), "{good:?}");
        }
        assert_eq!(
            parse_dgram_address(b"10.0.0.1:7\0"),
            Some("10.0.0.1:7".parse().unwrap())
        );
        for bad in [
            &b""[..],
            b"127.0.0.1",
            b"127.0.0.1:0",
            b"localhost:5",
            b"127.0.0.1:5\0\0",
            b"127.0.0.1:70000",
            b"\xff:1",
        ] {
            assert_eq!(parse_dgram_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_libzmq_forms() {
        let p = |a: &str| UdpEndpoint::parse(a, a);
        assert_eq!(
            p("127.0.0.1:5555").unwrap(),
            UdpEndpoint {
                iface: None,
                host: "127.0.0.1".into(),
                port: 5555
            }
        );
        let m = p("192.168.1.2;239.1.1.1:7").unwrap();
        assert_eq!(m.iface.as_deref(), Some("192.168.1.2"));
        assert_eq!(m.address(), "192.168.1.2;239.1.1.1:7");
        assert_eq!(p("[::1]:9").unwrap().address(), "[::1]:9");
        assert_eq!(p("*:*").unwrap().port, 0);
        for bad in ["x", ":5", "h:x", ";h:5", "a;b;h:5", "[::1:5", "h:70000"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
