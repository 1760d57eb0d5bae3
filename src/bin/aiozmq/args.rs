//! The hand-written argument parser shared by the subcommands, and the socket
//! descriptions they take (`TYPE@EP` specs, `--type`/`--bind`/`--connect`).

use std::collections::VecDeque;
use std::time::Duration;

use aiozmq::{Endpoint, SocketType};

use crate::security::Security;
use crate::{usage, Failure};

/// One parsed command-line item.
#[derive(Debug, PartialEq, Eq)]
pub enum Arg {
    /// `--name` or `-x`, with the value given inline after `=` if any.
    Option {
        name: String,
        inline: Option<String>,
    },
    /// Anything else (or anything after `--`).
    Positional(String),
}

/// A hand-written parser over the remaining arguments, shared by the subcommands.
#[derive(Debug)]
pub struct Args {
    rest: VecDeque<String>,
    only_positional: bool,
}

impl Args {
    pub fn new(rest: VecDeque<String>) -> Args {
        Args {
            rest,
            only_positional: false,
        }
    }

    /// The next argument as written.
    pub fn next_raw(&mut self) -> Option<String> {
        self.rest.pop_front()
    }

    /// The next option or positional argument.
    #[allow(clippy::should_implement_trait)] // not an iterator: `value` consumes too
    pub fn next(&mut self) -> Option<Arg> {
        let a = self.rest.pop_front()?;
        if self.only_positional || a == "-" || !a.starts_with('-') {
            return Some(Arg::Positional(a));
        }
        if a == "--" {
            self.only_positional = true;
            return self.next();
        }
        if a.starts_with("--") {
            if let Some((name, value)) = a.split_once('=') {
                return Some(Arg::Option {
                    name: name.to_string(),
                    inline: Some(value.to_string()),
                });
            }
        }
        Some(Arg::Option {
            name: a,
            inline: None,
        })
    }

    /// The value of option `name`: the inline one, else the next argument.
    pub fn value(
        &mut self,
        command: &'static str,
        name: &str,
        inline: Option<String>,
    ) -> Result<String, Failure> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .rest
                .pop_front()
                .ok_or_else(|| usage(Some(command), format!("option '{name}' needs a value"))),
        }
    }

    /// The next option as `(name, inline value)`; a positional argument is a usage error.
    pub fn next_option(
        &mut self,
        command: &'static str,
    ) -> Result<Option<(String, Option<String>)>, Failure> {
        match self.next() {
            None => Ok(None),
            Some(Arg::Option { name, inline }) => Ok(Some((name, inline))),
            Some(Arg::Positional(p)) => {
                Err(usage(Some(command), format!("unexpected argument '{p}'")))
            }
        }
    }
}

/// Rejects a value given to an option that takes none (`--flag=x`).
pub fn no_value(command: &'static str, name: &str, inline: Option<String>) -> Result<(), Failure> {
    match inline {
        None => Ok(()),
        Some(_) => Err(usage(
            Some(command),
            format!("option '{name}' takes no value"),
        )),
    }
}

/// A duration in whole milliseconds, at least `min`.
pub fn parse_ms(command: &'static str, name: &str, v: &str, min: u64) -> Result<Duration, Failure> {
    match v.parse::<u64>() {
        Ok(ms) if ms >= min => Ok(Duration::from_millis(ms)),
        _ => Err(usage(
            Some(command),
            format!("{name} takes milliseconds (a whole number, at least {min}), not '{v}'"),
        )),
    }
}

/// A count of at least 1.
pub fn parse_count(command: &'static str, name: &str, v: &str) -> Result<u64, Failure> {
    match v.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(usage(
            Some(command),
            format!("{name} takes a whole number of at least 1, not '{v}'"),
        )),
    }
}

/// Sets an option that may be given once.
pub fn once<T>(
    command: &'static str,
    name: &str,
    slot: &mut Option<T>,
    v: T,
) -> Result<(), Failure> {
    if slot.replace(v).is_some() {
        return Err(usage(Some(command), format!("{name} given twice")));
    }
    Ok(())
}

/// A socket type name, any case.
pub fn parse_type(command: &'static str, v: &str) -> Result<SocketType, Failure> {
    SocketType::from_any_name(v.as_bytes()).ok_or_else(|| {
        usage(
            Some(command),
            format!(
                "unknown socket type '{v}' (expected pair, pub, sub, req, rep, dealer, router, \
                 pull, push, xpub, xsub or stream)"
            ),
        )
    })
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
                "unknown socket type '{type_name}' in '{spec}' (expected pair, pub, sub, req, \
                 rep, dealer, router, pull, push, xpub or xsub)"
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

/// The socket options `cat` and `monitor` share: `--type`, `--bind`, `--connect`, the
/// security options, `--verbose`-free basics.
#[derive(Debug, Default)]
pub struct SocketArgs {
    pub socket_type: Option<SocketType>,
    pub attach: Vec<Attach>,
    pub security: Security,
}

impl SocketArgs {
    /// Takes option `name` if it is one of these; `Ok(false)` when it is not.
    pub fn option(
        &mut self,
        command: &'static str,
        name: &str,
        inline: Option<String>,
        args: &mut Args,
    ) -> Result<bool, Failure> {
        match name {
            "-t" | "--type" => {
                let v = args.value(command, name, inline)?;
                let t = parse_type(command, &v)?;
                once(command, "--type", &mut self.socket_type, t)?;
            }
            "-b" | "--bind" | "-c" | "--connect" => {
                let bind = matches!(name, "-b" | "--bind");
                let v = args.value(command, name, inline)?;
                let a = Attach::parse(bind, &v)
                    .map_err(|e| usage(Some(command), format!("{name}: {e}")))?;
                self.attach.push(a);
            }
            _ => return self.security.option(command, name, inline, args),
        }
        Ok(true)
    }

    /// Checks that the required options were given; returns the socket type.
    pub fn finish(&self, command: &'static str) -> Result<SocketType, Failure> {
        let t = self
            .socket_type
            .ok_or_else(|| usage(Some(command), "--type is required"))?;
        if self.attach.is_empty() {
            return Err(usage(
                Some(command),
                "give at least one --bind or --connect endpoint",
            ));
        }
        self.security.validate(command, None)?;
        Ok(t)
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
            "dealer@udp://x:1",
            "dealer>tcp://*:1",
            "dealer>tcp://h:*",
            "dealer@",
        ] {
            assert!(SocketSpec::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(
            parse_ms("cat", "--timeout", "250", 1).unwrap(),
            Duration::from_millis(250)
        );
        assert!(parse_ms("cat", "--timeout", "0", 1).is_err());
        assert!(parse_ms("cat", "--timeout", "-5", 0).is_err());
        assert!(parse_ms("cat", "--timeout", "1s", 0).is_err());
        assert_eq!(parse_count("cat", "--count", "3").unwrap(), 3);
        assert!(parse_count("cat", "--count", "0").is_err());
        assert!(parse_count("cat", "--count", "x").is_err());
    }
}
