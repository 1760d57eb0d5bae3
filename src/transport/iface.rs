//! Network interface names where libzmq takes them in place of an address: the host of
//! a bound `tcp://eth0:*`, the source of `tcp://eth0;host:port`, the interface of
//! `udp://eth0;239.1.1.1:port`. libzmq (ip_resolver's resolve_nic_name) looks the name
//! up among the system's interfaces (getifaddrs) and takes that interface's first
//! address of the family in use: IPv4, or IPv6 with ZMQ_IPV6. A name matching no
//! interface is `ENODEV` there, and here.

use crate::{Error, ErrorKind};
use std::io;
use std::net::IpAddr;

/// The system's interfaces and their addresses (link-local IPv6 addresses, which need a
/// scope to be bound, are not listed). None where the system cannot list them: no name
/// is then an interface's, and libzmq too answers `ENODEV` when getifaddrs fails.
fn interfaces() -> Vec<if_addrs::Interface> {
    if_addrs::get_if_addrs().unwrap_or_default()
}

/// The addresses of the interface `name` (both families, in the system's order); empty
/// when no interface has that name or it has no address.
pub(crate) fn addresses(name: &str) -> Vec<IpAddr> {
    interfaces()
        .into_iter()
        .filter(|i| i.name == name)
        .map(|i| i.ip())
        .collect()
}

/// The first address of the interface `name` of the family in use: IPv6 when `ipv6`,
/// else IPv4, as libzmq picks it. `None` when no interface has that name, or it has no
/// address of that family.
pub(crate) fn address(name: &str, ipv6: bool) -> Option<IpAddr> {
    addresses(name).into_iter().find(|a| a.is_ipv6() == ipv6)
}

/// The index of the interface `name` (IPv6 multicast names its interface by index);
/// `None` when no interface has that name.
pub(crate) fn index(name: &str) -> Option<u32> {
    interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .and_then(|i| i.index)
}

/// libzmq's `ENODEV` for a name that is no interface (nor address or host), carried as
/// an io::Error for the transport's io::Result functions.
pub(crate) fn no_device(name: &str, what: &str) -> io::Error {
    Error::new(
        ErrorKind::NoDevice,
        format!("{name:?} is no network interface{what}"),
    )
    .into()
}

/// Linux names its loopback interface `lo`.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The loopback interface resolves to its IPv4 address; a made-up name to nothing.
    #[test]
    fn loopback_by_name() {
        assert_eq!(
            address("lo", false),
            Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        );
        assert!(index("lo").is_some());
        assert_eq!(address("nosuch-if0", false), None);
        assert!(addresses("nosuch-if0").is_empty());
        let e = crate::Error::from(no_device("nosuch-if0", ""));
        assert_eq!(e.kind(), ErrorKind::NoDevice);
    }
}
