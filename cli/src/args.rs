//! The argument types the subcommands share, for clap: value parsers (milliseconds,
//! counts, socket types, endpoints, `TYPE@EP` specs) and the socket options of `cat` and
//! `monitor` (`--type`, `--bind`, `--connect`, the security options).

use std::time::Duration;

use aiozmq::{Endpoint, SocketType};
use clap::ArgMatches;

use crate::security::Security;
#[cfg(doc)]
use crate::security::SecurityOpts;
use crate::{usage, Failure};

/// A duration in whole milliseconds, at least `MIN`.
pub fn parse_ms<const MIN: u64>(v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(ms) if ms >= MIN => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "takes milliseconds (a whole number, at least {MIN}), not '{v}'"
        )),
    }
}

/// A count of at least 1.
pub fn parse_count(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("takes a whole number of at least 1, not '{v}'")),
    }
}

/// A socket type name, any case, through the library's own table (so that every type it
/// knows is accepted).
pub fn parse_type(v: &str) -> Result<SocketType, String> {
    SocketType::from_any_name(v.as_bytes()).ok_or_else(|| {
        format!(
            "unknown socket type '{v}' (expected {})",
            type_names(&every_type())
        )
    })
}

/// Every socket type the library knows: its table of ZMTP types, STREAM and DGRAM.
pub fn every_type() -> Vec<SocketType> {
    SocketType::ALL
        .into_iter()
        .chain([SocketType::Stream, SocketType::Dgram])
        .collect()
}

/// `types`' names in lower case, comma-separated.
pub fn type_names(types: &[SocketType]) -> String {
    let names: Vec<String> = types
        .iter()
        .map(|t| t.as_str().to_ascii_lowercase())
        .collect();
    names.join(", ")
}

/// `--type`'s help: the list of types from the library's table.
fn type_help() -> String {
    format!(
        "The socket type: {} (any case; any type the library knows)",
        type_names(&every_type())
    )
}

/// `--bind EP`: the endpoint's syntax checked.
pub fn parse_bind(v: &str) -> Result<Attach, String> {
    Attach::parse(true, v)
}

/// `--connect EP`: the endpoint's syntax checked, and that it names a real address.
pub fn parse_connect(v: &str) -> Result<Attach, String> {
    Attach::parse(false, v)
}

/// The values of the options `ids` (each `Vec<T>` in `m`) merged in command-line order.
pub fn in_order<T: Clone + Send + Sync + 'static>(m: &ArgMatches, ids: &[&str]) -> Vec<T> {
    let mut all: Vec<(usize, T)> = Vec::new();
    for id in ids {
        if let (Some(values), Some(indices)) = (m.get_many::<T>(id), m.indices_of(id)) {
            all.extend(indices.zip(values.cloned()));
        }
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, v)| v).collect()
}

/// Where a socket attaches: bind or connect to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    Bind(String),
    Connect(String),
}

impl Attach {
    /// Checks the endpoint's syntax (and that a connect names a real address).
    pub fn parse(bind: bool, endpoint: &str) -> Result<Attach, String> {
        let parsed = Endpoint::parse(endpoint).map_err(|e| e.to_string())?;
        if let (false, Endpoint::Tcp { host, port, .. }) = (bind, &parsed) {
            if host == "*" || port.is_none() {
                return Err(format!("cannot connect to a wildcard address '{endpoint}'"));
            }
        }
        Ok(if bind {
            Attach::Bind(endpoint.to_string())
        } else {
            Attach::Connect(endpoint.to_string())
        })
    }
}

/// A socket given on the command line: `TYPE@EP` / `TYPE>EP`, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    pub socket_type: SocketType,
    pub attach: Vec<Attach>,
}

impl SocketSpec {
    pub fn parse(spec: &str) -> Result<SocketSpec, String> {
        let Some(at) = spec.find(['@', '>']) else {
            return Err(format!(
                "'{spec}' is not TYPE@ENDPOINT (bind) or TYPE>ENDPOINT (connect)"
            ));
        };
        let type_name = &spec[..at];
        let socket_type = SocketType::from_name(type_name.as_bytes()).ok_or_else(|| {
            format!(
                "unknown socket type '{type_name}' in '{spec}' (expected {})",
                type_names(&SocketType::ALL)
            )
        })?;
        let mut attach = Vec::new();
        for item in spec[at..].split(',') {
            let (bind, endpoint) = match item.split_at_checked(1) {
                Some(("@", ep)) => (true, ep),
                Some((">", ep)) => (false, ep),
                _ => {
                    return Err(format!(
                        "in '{spec}': '{item}' must start with '@' (bind) or '>' (connect)"
                    ))
                }
            };
            attach.push(Attach::parse(bind, endpoint).map_err(|e| format!("in '{spec}': {e}"))?);
        }
        Ok(SocketSpec {
            socket_type,
            attach,
        })
    }
}

/// The socket options `cat` and `monitor` share (with [`SecurityOpts`], which each command
/// flattens last: the security options' help heading applies to every option after them).
#[derive(clap::Args, Debug)]
pub struct SocketOpts {
    #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = parse_type, help = type_help())]
    pub socket_type: SocketType,
    /// Bind to EP (repeatable), e.g. tcp://*:5555, tcp://127.0.0.1:* (a free port; the
    /// status line shows it), ipc:///tmp/sock
    #[arg(short, long, value_name = "EP", value_parser = parse_bind)]
    pub bind: Vec<Attach>,
    /// Connect to EP (repeatable; in the background, with retries)
    #[arg(short, long, value_name = "EP", value_parser = parse_connect)]
    pub connect: Vec<Attach>,
}

/// [`SocketOpts`] checked: where the socket attaches, in command-line order, and its
/// security.
#[derive(Debug)]
pub struct SocketArgs {
    pub socket_type: SocketType,
    pub attach: Vec<Attach>,
    pub security: Security,
}

impl SocketArgs {
    /// Checks `opts` (parsed from `m`): the security options must fit together.
    pub fn new(
        command: &'static str,
        opts: SocketOpts,
        m: &ArgMatches,
    ) -> Result<SocketArgs, Failure> {
        // `cat`'s --connect-peer (PEER) attaches too.
        let peers = m.ids().any(|id| id.as_str() == "connect_peer");
        if opts.bind.is_empty() && opts.connect.is_empty() && !peers {
            return Err(usage(
                Some(command),
                "give at least one --bind or --connect endpoint",
            ));
        }
        let security = Security::from_matches(command, m)?;
        security.validate(command, None)?;
        Ok(SocketArgs {
            socket_type: opts.socket_type,
            attach: in_order(m, &["bind", "connect"]),
            security,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_specs() {
        let s = SocketSpec::parse("ROUTER@tcp://*:5555").unwrap();
        assert_eq!(s.socket_type, SocketType::Router);
        assert_eq!(s.attach, vec![Attach::Bind("tcp://*:5555".into())]);
        let s = SocketSpec::parse("xsub@tcp://*:*,>ipc:///tmp/x,@ipc://@y").unwrap();
        assert_eq!(s.socket_type, SocketType::XSub);
        assert_eq!(
            s.attach,
            vec![
                Attach::Bind("tcp://*:*".into()),
                Attach::Connect("ipc:///tmp/x".into()),
                Attach::Bind("ipc://@y".into()),
            ]
        );
        for bad in [
            "router",
            "rooter@tcp://*:1",
            "@tcp://*:1",
            "dealer@tcp://*:1,tcp://*:2",
            "dealer@nope://x:1",
            "dealer>tcp://*:1",
            "dealer>tcp://h:*",
            "dealer@",
        ] {
            assert!(SocketSpec::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_ms::<1>("250").unwrap(), Duration::from_millis(250));
        assert!(parse_ms::<1>("0").is_err());
        assert!(parse_ms::<0>("-5").is_err());
        assert!(parse_ms::<0>("1s").is_err());
        assert_eq!(parse_count("3").unwrap(), 3);
        assert!(parse_count("0").is_err());
        assert!(parse_count("x").is_err());
    }

    #[test]
    fn socket_types_any_case() {
        assert_eq!(parse_type("ROUTER").unwrap(), SocketType::Router);
        assert_eq!(parse_type("xPub").unwrap(), SocketType::XPub);
        assert!(parse_type("rooter").unwrap_err().contains("'rooter'"));
        assert_eq!(parse_type("Scatter").unwrap(), SocketType::Scatter);
        assert_eq!(parse_type("dgram").unwrap(), SocketType::Dgram);
        // The error lists every type of the library's table, STREAM and DGRAM.
        let e = parse_type("rooter").unwrap_err();
        for t in SocketType::ALL
            .into_iter()
            .chain([SocketType::Stream, SocketType::Dgram])
        {
            assert!(e.contains(&t.as_str().to_ascii_lowercase()), "{t}: {e}");
        }
    }

    #[test]
    fn spec_type_error_lists_the_library_table() {
        let e = SocketSpec::parse("rooter@tcp://*:1").unwrap_err();
        for t in SocketType::ALL {
            assert!(e.contains(&t.as_str().to_ascii_lowercase()), "{t}: {e}");
        }
        assert_eq!(
            SocketSpec::parse("server@tcp://*:1").unwrap().socket_type,
            SocketType::Server
        );
    }
}
