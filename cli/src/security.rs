//! The security options (CURVE, PLAIN, ZAP) that `cat`, `monitor` and `proxy` share, and
//! the reporting of failed handshakes.

use aiozmq::security::curve::{parse_key, public_key_of};
use aiozmq::security::zap::Authenticator;
use aiozmq::security::SecurityConfig;
use aiozmq::{EventKind, MonitorEvent, Socket};

use crate::{usage, Failure};

/// The security options, for clap. Their values are read from the `ArgMatches` in
/// command-line order ([`Security::from_matches`], [`security_items`]): `proxy` applies each
/// to the socket option it follows, so the struct's fields are only clap's description.
#[derive(clap::Args, Debug, Default)]
#[command(
    next_help_heading = "Security options (KEY: 40 Z85 characters, as printed by aiozmq keypair)"
)]
#[allow(dead_code)] // read through ArgMatches, in order (see above)
pub struct SecurityOpts {
    /// Be the CURVE server (needs --curve-secretkey)
    #[arg(long, num_args = 0, default_missing_value = "true", action = clap::ArgAction::Append)]
    curve_server: Vec<bool>,
    /// Our secret key (server, or client)
    #[arg(long, value_name = "KEY")]
    curve_secretkey: Vec<String>,
    /// Our public key (optional: derived from the secret key)
    #[arg(long, value_name = "KEY")]
    curve_publickey: Vec<String>,
    /// Be a CURVE client of the server with this public key; without --curve-secretkey the
    /// client uses a new key pair
    #[arg(long, value_name = "KEY")]
    curve_serverkey: Vec<String>,
    /// Be the PLAIN server (any user name and password passes unless --zap-password is
    /// given)
    #[arg(long, num_args = 0, default_missing_value = "true", action = clap::ArgAction::Append)]
    plain_server: Vec<bool>,
    /// Be a PLAIN client with this user name
    #[arg(long, value_name = "USER")]
    plain_username: Vec<String>,
    /// The PLAIN client's password (default: empty)
    #[arg(long, value_name = "PASS")]
    plain_password: Vec<String>,
    /// CURVE server: allow this client public key (repeatable); without it every client
    /// that knows the server key is allowed. The --zap-* options install a ZAP handler
    /// (aiozmq::security::zap::Authenticator) on the socket
    #[arg(long, value_name = "KEY")]
    zap_allow_key: Vec<String>,
    /// PLAIN server: a user and password (repeatable)
    #[arg(long, value_name = "USER:PASS")]
    zap_password: Vec<String>,
    /// Accept connections from this address only (repeatable; with --plain-server, only
    /// together with --zap-password)
    #[arg(long, value_name = "IP")]
    zap_allow_address: Vec<String>,
    /// Refuse connections from this address (repeatable)
    #[arg(long, value_name = "IP")]
    zap_deny_address: Vec<String>,
}

/// The security options: clap's id, the option's name, whether it is a flag.
const SECURITY_ARGS: [(&str, &str, bool); 11] = [
    ("curve_server", "--curve-server", true),
    ("curve_secretkey", "--curve-secretkey", false),
    ("curve_publickey", "--curve-publickey", false),
    ("curve_serverkey", "--curve-serverkey", false),
    ("plain_server", "--plain-server", true),
    ("plain_username", "--plain-username", false),
    ("plain_password", "--plain-password", false),
    ("zap_allow_key", "--zap-allow-key", false),
    ("zap_password", "--zap-password", false),
    ("zap_allow_address", "--zap-allow-address", false),
    ("zap_deny_address", "--zap-deny-address", false),
];

/// One security option as given: its position among the arguments, its name, its value
/// (`None` for a flag).
pub type SecurityItem = (usize, &'static str, Option<String>);

/// Every security option in `m` (parsed with a flattened [`SecurityOpts`]), in command-line
/// order.
pub fn security_items(m: &clap::ArgMatches) -> Vec<SecurityItem> {
    let mut items = Vec::new();
    for (id, name, flag) in SECURITY_ARGS {
        // Flags are repeatable (each occurrence with its position, for proxy): an option of
        // no value that gives "true" each time.
        if m.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        let Some(indices) = m.indices_of(id) else {
            continue;
        };
        if flag {
            items.extend(indices.map(|i| (i, name, None)));
        } else if let Some(values) = m.get_many::<String>(id) {
            items.extend(indices.zip(values).map(|(i, v)| (i, name, Some(v.clone()))));
        }
    }
    items.sort_by_key(|(i, _, _)| *i);
    items
}

/// One socket's security settings, as given on the command line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Security {
    pub curve_server: bool,
    pub curve_serverkey: Option<[u8; 32]>,
    pub curve_publickey: Option<[u8; 32]>,
    pub curve_secretkey: Option<[u8; 32]>,
    pub plain_server: bool,
    pub plain_username: Option<String>,
    pub plain_password: Option<String>,
    pub zap_keys: Vec<[u8; 32]>,
    pub zap_passwords: Vec<(String, String)>,
    pub zap_allow: Vec<String>,
    pub zap_deny: Vec<String>,
}

fn key(command: &'static str, name: &str, v: &str) -> Result<[u8; 32], Failure> {
    if v.len() != 40 {
        return Err(usage(
            Some(command),
            format!(
                "{name} takes a key of 40 Z85 characters, not {} characters",
                v.len()
            ),
        ));
    }
    parse_key(v.as_bytes()).map_err(|_| {
        usage(
            Some(command),
            format!("{name}: '{v}' is not a valid Z85 key"),
        )
    })
}

fn set_once<T>(
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

impl Security {
    /// Whether any security option was given.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        *self == Security::default()
    }

    /// The security options in `m` (see [`security_items`]), each checked (the keys'
    /// syntax, once-only options given once); [`validate`](Self::validate) checks that they
    /// fit together.
    pub fn from_matches(command: &'static str, m: &clap::ArgMatches) -> Result<Security, Failure> {
        let mut s = Security::default();
        for (_, name, value) in security_items(m) {
            s.option(command, name, value)?;
        }
        Ok(s)
    }

    /// Takes security option `name` with its value (`None` for a flag).
    pub fn option(
        &mut self,
        command: &'static str,
        name: &str,
        value: Option<String>,
    ) -> Result<(), Failure> {
        match name {
            "--curve-server" | "--plain-server" => {
                let flag = if name == "--curve-server" {
                    &mut self.curve_server
                } else {
                    &mut self.plain_server
                };
                if std::mem::replace(flag, true) {
                    return Err(usage(Some(command), format!("{name} given twice")));
                }
                return Ok(());
            }
            _ => {}
        }
        let v = value.unwrap_or_default();
        match name {
            "--curve-serverkey" => set_once(
                command,
                name,
                &mut self.curve_serverkey,
                key(command, name, &v)?,
            )?,
            "--curve-publickey" => set_once(
                command,
                name,
                &mut self.curve_publickey,
                key(command, name, &v)?,
            )?,
            "--curve-secretkey" => set_once(
                command,
                name,
                &mut self.curve_secretkey,
                key(command, name, &v)?,
            )?,
            "--plain-username" => {
                if v.is_empty() || v.len() > 255 {
                    return Err(usage(
                        Some(command),
                        "--plain-username takes 1 to 255 bytes",
                    ));
                }
                set_once(command, name, &mut self.plain_username, v)?
            }
            "--plain-password" => {
                if v.len() > 255 {
                    return Err(usage(
                        Some(command),
                        "--plain-password takes at most 255 bytes",
                    ));
                }
                set_once(command, name, &mut self.plain_password, v)?
            }
            "--zap-allow-key" => self.zap_keys.push(key(command, name, &v)?),
            "--zap-password" => match v.split_once(':') {
                Some((user, pass)) if !user.is_empty() => self
                    .zap_passwords
                    .push((user.to_string(), pass.to_string())),
                _ => {
                    return Err(usage(
                        Some(command),
                        format!("--zap-password takes USER:PASSWORD, not '{v}'"),
                    ))
                }
            },
            "--zap-allow-address" => self.zap_allow.push(v),
            "--zap-deny-address" => self.zap_deny.push(v),
            _ => return Err(usage(Some(command), format!("unknown option '{name}'"))),
        }
        Ok(())
    }

    fn any_curve(&self) -> bool {
        self.curve_server
            || self.curve_serverkey.is_some()
            || self.curve_publickey.is_some()
            || self.curve_secretkey.is_some()
            || !self.zap_keys.is_empty()
    }

    fn any_plain(&self) -> bool {
        self.plain_server
            || self.plain_username.is_some()
            || self.plain_password.is_some()
            || !self.zap_passwords.is_empty()
    }

    /// Checks that the options make sense together; `role` names the socket (proxy).
    pub fn validate(&self, command: &'static str, role: Option<&str>) -> Result<(), Failure> {
        let err = |m: &str| {
            usage(
                Some(command),
                match role {
                    Some(r) => format!("{r}: {m}"),
                    None => m.to_string(),
                },
            )
        };
        if self.any_curve() && self.any_plain() {
            return Err(err("CURVE and PLAIN options cannot be mixed on one socket"));
        }
        if self.curve_server && self.curve_serverkey.is_some() {
            return Err(err(
                "--curve-server (be the server) and --curve-serverkey (be a client) \
                 exclude each other",
            ));
        }
        if self.curve_server && self.curve_secretkey.is_none() {
            return Err(err("--curve-server needs --curve-secretkey"));
        }
        if self.curve_publickey.is_some() && self.curve_secretkey.is_none() {
            return Err(err("--curve-publickey needs --curve-secretkey"));
        }
        if self.curve_secretkey.is_some() && !self.curve_server && self.curve_serverkey.is_none() {
            return Err(err(
                "--curve-secretkey needs --curve-server or --curve-serverkey",
            ));
        }
        if let (Some(p), Some(s)) = (self.curve_publickey, self.curve_secretkey) {
            if public_key_of(&s) != p {
                return Err(err(
                    "--curve-publickey is not the public key of --curve-secretkey",
                ));
            }
        }
        if self.plain_server && (self.plain_username.is_some() || self.plain_password.is_some()) {
            return Err(err(
                "--plain-server (be the server) and --plain-username/--plain-password \
                 (be a client) exclude each other",
            ));
        }
        if self.plain_password.is_some() && self.plain_username.is_none() {
            return Err(err("--plain-password needs --plain-username"));
        }
        if !self.zap_keys.is_empty() && !self.curve_server {
            return Err(err("--zap-allow-key needs --curve-server"));
        }
        if !self.zap_passwords.is_empty() && !self.plain_server {
            return Err(err("--zap-password needs --plain-server"));
        }
        let addresses = !self.zap_allow.is_empty() || !self.zap_deny.is_empty();
        if addresses && (self.curve_serverkey.is_some() || self.plain_username.is_some()) {
            return Err(err(
                "--zap-allow-address/--zap-deny-address apply to servers (and NULL sockets), \
                 not to CURVE or PLAIN clients",
            ));
        }
        if addresses && self.plain_server && self.zap_passwords.is_empty() {
            return Err(err(
                "with --plain-server, --zap-allow-address/--zap-deny-address need \
                 --zap-password users too",
            ));
        }
        Ok(())
    }

    /// The ZAP handler the `--zap-*` options describe, if any.
    fn authenticator(&self) -> aiozmq::Result<Option<Authenticator>> {
        let addresses = !self.zap_allow.is_empty() || !self.zap_deny.is_empty();
        if !addresses && self.zap_keys.is_empty() && self.zap_passwords.is_empty() {
            return Ok(None);
        }
        let mut auth = Authenticator::new();
        for a in &self.zap_allow {
            auth = auth.allow_address(a.clone());
        }
        for a in &self.zap_deny {
            auth = auth.deny_address(a.clone());
        }
        for (u, p) in &self.zap_passwords {
            auth = auth.password(u.clone(), p.clone());
        }
        for k in &self.zap_keys {
            auth = auth.allow_curve_key(k)?;
        }
        if self.curve_server && self.zap_keys.is_empty() {
            auth = auth.allow_any_curve();
        }
        Ok(Some(auth))
    }

    /// Whether the options choose no mechanism (NULL): only address rules may apply then.
    fn is_null(&self) -> bool {
        !self.curve_server
            && self.curve_serverkey.is_none()
            && !self.plain_server
            && self.plain_username.is_none()
    }

    /// The settings as the library's one representation, [`SecurityConfig`]. Address rules
    /// without CURVE or PLAIN (NULL with ZAP) have no `SecurityConfig` form: an error.
    pub fn to_config(&self) -> Result<SecurityConfig, String> {
        let e = |e: aiozmq::Error| e.to_string();
        let zap = self.authenticator().map_err(e)?;
        Ok(if self.curve_server {
            let config = SecurityConfig::curve_server(self.curve_secretkey.expect("validated"))
                .map_err(e)?;
            match zap {
                Some(auth) => config.with_zap(auth),
                None => config,
            }
        } else if let Some(server) = self.curve_serverkey {
            match self.curve_secretkey {
                Some(s) => SecurityConfig::curve_client_with_keys(server, public_key_of(&s), s),
                None => SecurityConfig::curve_client(server),
            }
            .map_err(e)?
        } else if self.plain_server {
            match zap {
                Some(auth) => SecurityConfig::plain_server(auth),
                None => SecurityConfig::PlainServer { zap: None },
            }
        } else if let Some(user) = &self.plain_username {
            SecurityConfig::plain_client(
                user.clone().into_bytes(),
                self.plain_password.clone().unwrap_or_default().into_bytes(),
            )
        } else if zap.is_some() {
            return Err(
                "--zap-allow-address/--zap-deny-address need --curve-server or --plain-server \
                 here"
                    .to_string(),
            );
        } else {
            SecurityConfig::None
        })
    }

    /// Applies the settings to `socket` (before it binds or connects) through
    /// [`SecurityConfig::apply`]; NULL with address rules installs the ZAP handler with a
    /// domain, since NULL consults ZAP only when the socket has one (as libzmq does).
    pub fn apply(&self, socket: &Socket) -> aiozmq::Result<()> {
        if self.is_null() {
            if let Some(auth) = self.authenticator()? {
                socket.set_zap_domain("global")?;
                socket.set_zap_handler(auth);
            }
            return Ok(());
        }
        self.to_config()
            .map_err(|why| aiozmq::Error::new(aiozmq::ErrorKind::InvalidInput, why))?
            .apply(socket)
    }
}

/// Whether the event is a failed handshake.
pub fn is_handshake_failure(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::HandshakeFailedNoDetail
            | EventKind::HandshakeFailedProtocol
            | EventKind::HandshakeFailedAuth
    )
}

/// A monitor event as one line: `NAME VALUE ENDPOINT [REASON]`.
pub fn event_line(ev: &MonitorEvent) -> String {
    let mut line = format!("{} {} {}", ev.kind.name(), ev.value, ev.endpoint);
    if let Some(r) = ev.reason.as_deref().filter(|r| !r.is_empty()) {
        line.push(' ');
        line.push_str(&r.replace(['\n', '\r'], " "));
    }
    line.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        _security: SecurityOpts,
    }

    fn parse(v: &[&str]) -> Result<Security, Failure> {
        use clap::CommandFactory;
        let m = Cli::command()
            .try_get_matches_from(std::iter::once("cat").chain(v.iter().copied()))
            .map_err(|e| usage(Some("cat"), e.to_string()))?;
        let s = Security::from_matches("cat", &m)?;
        s.validate("cat", None)?;
        Ok(s)
    }

    #[test]
    fn options() {
        let (public, secret) = aiozmq::curve_keypair();
        let (server_public, _) = aiozmq::curve_keypair();
        let s = parse(&["--curve-server", "--curve-secretkey", &secret]).unwrap();
        assert!(s.curve_server);
        assert_eq!(
            s.curve_secretkey,
            Some(parse_key(secret.as_bytes()).unwrap())
        );
        parse(&[
            "--curve-serverkey",
            &server_public,
            "--curve-publickey",
            &public,
            "--curve-secretkey",
            &secret,
        ])
        .unwrap();
        parse(&["--curve-serverkey", &server_public]).unwrap();
        let s = parse(&[
            "--plain-server",
            "--zap-password=admin:s3:cret",
            "--zap-allow-address",
            "127.0.0.1",
        ])
        .unwrap();
        assert_eq!(
            s.zap_passwords,
            vec![("admin".to_string(), "s3:cret".to_string())]
        );
        parse(&["--plain-username", "u", "--plain-password", ""]).unwrap();
        parse(&["--zap-allow-address", "127.0.0.1"]).unwrap();
        assert!(parse(&[]).unwrap().is_empty());

        let bad: &[&[&str]] = &[
            &["--curve-server"],
            &["--curve-serverkey", "short"],
            &["--curve-serverkey", &"~".repeat(40)],
            &["--curve-secretkey", &secret],
            &[
                "--curve-serverkey",
                &server_public,
                "--curve-publickey",
                &public,
            ],
            &[
                "--curve-serverkey",
                &server_public,
                "--curve-publickey",
                &server_public,
                "--curve-secretkey",
                &secret,
            ],
            &[
                "--curve-server",
                "--curve-secretkey",
                &secret,
                "--curve-serverkey",
                &public,
            ],
            &[
                "--curve-server",
                "--curve-secretkey",
                &secret,
                "--plain-server",
            ],
            &["--plain-server", "--plain-username", "u"],
            &["--plain-password", "p"],
            &["--plain-username", ""],
            &["--zap-allow-key", &public],
            &["--zap-password", "u:p"],
            &["--plain-server", "--zap-password", "nocolon"],
            &["--plain-server", "--zap-allow-address", "127.0.0.1"],
            &[
                "--curve-serverkey",
                &server_public,
                "--zap-allow-address",
                "1.2.3.4",
            ],
            &["--curve-server=yes", "--curve-secretkey", &secret],
            &["--plain-server", "--plain-server"],
            &["--curve-serverkey"],
        ];
        for b in bad {
            assert!(
                matches!(parse(b), Err(Failure::Usage { .. })),
                "{b:?} should be a usage error"
            );
        }
    }

    #[test]
    fn event_lines() {
        let ev = MonitorEvent {
            kind: EventKind::Connected,
            value: 7,
            endpoint: "tcp://127.0.0.1:5555".into(),
            reason: None,
        };
        assert_eq!(event_line(&ev), "CONNECTED 7 tcp://127.0.0.1:5555");
        let ev = MonitorEvent {
            kind: EventKind::HandshakeFailedAuth,
            value: 400,
            endpoint: "tcp://h:1".into(),
            reason: Some("denied\nby ZAP".into()),
        };
        assert_eq!(
            event_line(&ev),
            "HANDSHAKE_FAILED_AUTH 400 tcp://h:1 denied by ZAP"
        );
    }
}
