//! `aiozmq keypair`: a CURVE key pair in Z85.

use crate::{runtime_error, usage, Failure};

const CMD: &str = "keypair";

const ABOUT: &str = "\
Prints a new CURVE key pair (libzmq's zmq_curve_keypair), as two lines of 40 Z85
characters each:
  public: rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7
  secret: JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6
With --secret, prints the pair of an existing secret key instead (zmq_curve_public).
The keys go to the CURVE options of cat, monitor and proxy: a server takes its secret
key (--curve-secretkey) and gives its public key to clients (--curve-serverkey).";

/// `aiozmq keypair`'s options, as clap parses them.
#[derive(clap::Args, Debug)]
#[command(
    about = "Print a new CURVE key pair (Z85)",
    long_about = ABOUT,
    after_long_help = "Exit status: 0 on success, 2 on a usage error (a malformed key).",
    help_template = crate::HELP_TEMPLATE
)]
pub struct KeypairOpts {
    /// Derive the public key of this secret key (40 Z85 characters)
    #[arg(long, value_name = "KEY")]
    secret: Option<String>,
}

pub fn run(o: KeypairOpts) -> Result<(), Failure> {
    let secret = o.secret;
    let (public, secret) = match secret {
        None => aiozmq::curve_keypair(),
        Some(s) => {
            if s.len() != 40 {
                return Err(usage(
                    Some(CMD),
                    format!("--secret takes 40 Z85 characters, not {}", s.len()),
                ));
            }
            let public = aiozmq::curve_public(&s)
                .map_err(|_| usage(Some(CMD), format!("--secret: '{s}' is not valid Z85")))?;
            (public, s)
        }
    };
    let text = format!("public: {public}\nsecret: {secret}\n");
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())
        .map_err(|e| runtime_error(CMD, format!("cannot write to stdout: {e}")))
}
