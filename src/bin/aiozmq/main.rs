//! `aiozmq`: the crate's command-line tool.
//!
//! One subcommand per tool (`aiozmq cat ...`, `aiozmq proxy ...`); `aiozmq --help` lists
//! them and `aiozmq COMMAND --help` describes each. Arguments are parsed by hand (no
//! dependency): long options take their value as the next argument or after `=`.
//!
//! Exit status: 0 on success, 1 on a runtime error (a bind that fails, a socket error,
//! a refused handshake), 2 on a usage error (the message says what is wrong and where to
//! find help), 3 when `--timeout` expired (cat, monitor), 128+N when ended by signal N
//! (130 for Ctrl-C).
//!
//! # Adding a command
//! Write a module with a `help() -> String` text and a `run(Args) -> Result<(), Failure>` entry point,
//! and add one [`Command`] entry to [`COMMANDS`]; the top-level help and `aiozmq help CMD`
//! follow from the table.

mod args;
mod cat;
mod format;
mod json;
mod keypair;
mod monitor;
mod proxy;
mod rpc;
mod runtime;
mod security;

use std::collections::VecDeque;
use std::process::ExitCode;

use args::Args;

/// One subcommand: its name, one-line summary, `--help` text and entry point.
struct Command {
    name: &'static str,
    summary: &'static str,
    help: fn() -> String,
    run: fn(Args) -> Result<(), Failure>,
}

/// Every subcommand, in the order `aiozmq --help` lists them.
const COMMANDS: &[Command] = &[
    Command {
        name: "cat",
        summary: "send lines from stdin as messages, print received messages",
        help: cat::help,
        run: cat::run,
    },
    Command {
        name: "monitor",
        summary: "print a socket's monitor events as they happen",
        help: monitor::help,
        run: monitor::run,
    },
    Command {
        name: "proxy",
        summary: "forward messages between two sockets (zmq_proxy_steerable)",
        help: proxy::help,
        run: proxy::run,
    },
    Command {
        name: "keypair",
        summary: "print a new CURVE key pair (Z85)",
        help: keypair::help,
        run: keypair::run,
    },
    Command {
        name: "rpc",
        summary: "call, notify, publish to or serve aiozmq RPC (JSON in and out)",
        help: rpc::help,
        run: rpc::run,
    },
];

fn help_text() -> String {
    let mut s = String::from(
        "aiozmq: ZeroMQ tools (pure Rust, interoperable with libzmq)\n\n\
         Usage: aiozmq COMMAND [OPTIONS]\n\nCommands:\n",
    );
    for c in COMMANDS {
        s.push_str(&format!("  {:<9} {}\n", c.name, c.summary));
    }
    s.push_str(&format!(
        "  {:<9} show this help, or a command's: aiozmq help cat\n",
        "help"
    ));
    s.push_str(
        "\nOptions:\n  -h, --help       show this help\n  -V, --version    show the version\n\n\
         Each command's --help describes it. Sockets are written TYPE@ENDPOINT to bind and\n\
         TYPE>ENDPOINT to connect in proxy, --type TYPE --bind/--connect ENDPOINT in cat\n\
         and monitor.\n\n\
         Exit status: 0 on success, 1 on a runtime error, 2 on a usage error, 3 when\n\
         --timeout expired (cat, monitor, rpc), 128+N when ended by signal N (130: Ctrl-C).\n",
    );
    s
}

fn main() -> ExitCode {
    let args: VecDeque<String> = std::env::args().skip(1).collect();
    match run(Args::new(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}

/// Why the tool stops with a non-zero status.
#[derive(Debug)]
pub enum Failure {
    /// Bad arguments (exit status 2).
    Usage {
        command: Option<&'static str>,
        message: String,
    },
    /// Something failed while running (exit status 1).
    Runtime {
        command: &'static str,
        message: String,
    },
    /// `--timeout` expired (exit status 3).
    Timeout {
        command: &'static str,
        message: String,
    },
    /// Ended by a signal (exit status 128 + the signal number; 130 for Ctrl-C).
    Signal(u8),
    /// Standard output was closed by its reader (`| head -1`): a quiet, successful end.
    StdoutClosed,
}

impl Failure {
    /// Prints the message on stderr and returns the exit status.
    fn report(self) -> ExitCode {
        match self {
            Failure::Usage { command, message } => {
                let (prefix, help) = match command {
                    Some(c) => (format!("aiozmq {c}"), format!("aiozmq {c} --help")),
                    None => ("aiozmq".to_string(), "aiozmq --help".to_string()),
                };
                eprintln!("{prefix}: {message}\nTry '{help}' for more information.");
                ExitCode::from(2)
            }
            Failure::Runtime { command, message } => {
                eprintln!("aiozmq {command}: error: {message}");
                ExitCode::from(1)
            }
            Failure::Timeout { command, message } => {
                eprintln!("aiozmq {command}: timeout: {message}");
                ExitCode::from(3)
            }
            Failure::Signal(n) => ExitCode::from(128 + n),
            Failure::StdoutClosed => ExitCode::SUCCESS,
        }
    }
}

/// A usage error of `command` (or of the top level).
pub fn usage(command: Option<&'static str>, message: impl Into<String>) -> Failure {
    Failure::Usage {
        command,
        message: message.into(),
    }
}

/// A runtime error of `command`.
pub fn runtime_error(command: &'static str, message: impl Into<String>) -> Failure {
    Failure::Runtime {
        command,
        message: message.into(),
    }
}

/// The top level: global options, then the subcommand dispatch.
fn run(mut args: Args) -> Result<(), Failure> {
    let Some(first) = args.next_raw() else {
        return Err(usage(None, "no command given"));
    };
    match first.as_str() {
        "-h" | "--help" => {
            print!("{}", help_text());
            Ok(())
        }
        "-V" | "--version" => {
            println!("aiozmq {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "help" => match args.next_raw().as_deref() {
            None => {
                print!("{}", help_text());
                Ok(())
            }
            Some(name) => match COMMANDS.iter().find(|c| c.name == name) {
                Some(c) => {
                    print!("{}", (c.help)());
                    Ok(())
                }
                None => Err(usage(None, format!("no help for unknown command '{name}'"))),
            },
        },
        other if other.starts_with('-') => Err(usage(None, format!("unknown option '{other}'"))),
        name => match COMMANDS.iter().find(|c| c.name == name) {
            Some(c) => (c.run)(args),
            None => Err(usage(None, format!("unknown command '{name}'"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help_and_a_listing() {
        let help = help_text();
        for c in COMMANDS {
            assert!(
                help.contains(&format!("  {} ", c.name)),
                "{} not listed",
                c.name
            );
            assert!(
                (c.help)().starts_with(&format!("Usage: aiozmq {}", c.name)),
                "{}'s help does not start with its usage line",
                c.name
            );
        }
    }

    #[test]
    fn top_level_errors_are_usage_errors() {
        let args = |v: &[&str]| Args::new(v.iter().map(|s| s.to_string()).collect());
        for bad in [&[][..], &["bogus"], &["--bogus"], &["help", "bogus"]] {
            assert!(
                matches!(run(args(bad)), Err(Failure::Usage { .. })),
                "{bad:?}"
            );
        }
    }
}
