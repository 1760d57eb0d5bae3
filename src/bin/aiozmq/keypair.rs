//! `aiozmq keypair`: a CURVE key pair in Z85.

use crate::args::{once, Args};
use crate::{runtime_error, usage, Failure};

const CMD: &str = "keypair";

const HELP: &str = "\
Usage: aiozmq keypair [--secret KEY]

Prints a new CURVE key pair (libzmq's zmq_curve_keypair), as two lines of 40 Z85
characters each:
  public: rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7
  secret: JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6
With --secret, prints the pair of an existing secret key instead (zmq_curve_public).
The keys go to the CURVE options of cat, monitor and proxy: a server takes its secret
key (--curve-secretkey) and gives its public key to clients (--curve-serverkey).

Options:
  --secret KEY   derive the public key of this secret key (40 Z85 characters)
  -h, --help     show this help

Exit status: 0 on success, 2 on a usage error (a malformed key).
";

pub fn help() -> String {
    HELP.to_string()
}

pub fn run(mut args: Args) -> Result<(), Failure> {
    let mut secret = None;
    while let Some((name, inline)) = args.next_option(CMD)? {
        match name.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--secret" => {
                let v = args.value(CMD, &name, inline)?;
                once(CMD, &name, &mut secret, v)?;
            }
            other => return Err(usage(Some(CMD), format!("unknown option '{other}'"))),
        }
    }
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
