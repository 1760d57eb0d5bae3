//! `aiozmq`: the crate's command-line tool.
//!
//! One subcommand per tool (`aiozmq cat ...`, `aiozmq proxy ...`), parsed by clap: `aiozmq
//! --help` lists them, `aiozmq COMMAND --help` describes each, `aiozmq completions SHELL`
//! prints a shell completion script and `aiozmq man` the manual page.
//!
//! Exit status: 0 on success, 1 on a runtime error (a bind that fails, a socket error,
//! a refused handshake), 2 on a usage error (the message says what is wrong and where to
//! find help), 3 when `--timeout` expired (cat, monitor, rpc), 128+N when ended by signal N
//! (130 for Ctrl-C).
//!
//! # Adding a command
//! Write a module with a clap `Args` struct (its doc comments are the help) and a
//! `run(args, &ArgMatches) -> Result<(), Failure>` entry point, and add one variant to
//! [`Command`]: the help, the completions and the manual page follow from it.

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

use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Every help text starts with its usage line, then the description (as the tool's help
/// always did).
const HELP_TEMPLATE: &str = "\
{usage-heading} {usage}

{about-with-newline}
{all-args}{after-help}";

const TOP_AFTER_HELP: &str = "\
Each command's --help describes it. Sockets are written TYPE@ENDPOINT to bind and
TYPE>ENDPOINT to connect in proxy, --type TYPE --bind/--connect ENDPOINT in cat and
monitor.

Exit status: 0 on success, 1 on a runtime error, 2 on a usage error, 3 when --timeout
expired (cat, monitor, rpc), 128+N when ended by signal N (130: Ctrl-C).";

/// aiozmq: ZeroMQ tools (pure Rust, interoperable with libzmq)
#[derive(Parser, Debug)]
#[command(
    name = "aiozmq",
    version,
    help_template = HELP_TEMPLATE,
    after_help = TOP_AFTER_HELP,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands, in the order `aiozmq --help` lists them.
#[derive(Subcommand, Debug)]
#[command(help_template = HELP_TEMPLATE)]
enum Command {
    Cat(cat::CatOpts),
    Monitor(monitor::MonitorOpts),
    Proxy(proxy::ProxyOpts),
    Keypair(keypair::KeypairOpts),
    Rpc(rpc::RpcOpts),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    #[command(
        help_template = HELP_TEMPLATE,
        long_about = "Prints the completion script of SHELL on stdout, e.g.\n  \
                      aiozmq completions bash > ~/.local/share/bash-completion/completions/aiozmq\n  \
                      aiozmq completions zsh > \"${fpath[1]}/_aiozmq\"\n  \
                      aiozmq completions fish > ~/.config/fish/completions/aiozmq.fish"
    )]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff, for man)
    #[command(
        help_template = HELP_TEMPLATE,
        long_about = "Prints the manual page of aiozmq and of each command in roff on stdout, \
                      e.g.\n  aiozmq man > ~/.local/share/man/man1/aiozmq.1\n  \
                      aiozmq man | man -l -"
    )]
    Man,
}

/// The tool's clap command, with every subcommand (also for completions and the man page).
fn cli_command() -> clap::Command {
    Cli::command()
}

fn main() -> ExitCode {
    let matches = match cli_command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_failure(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_failure(e),
    };
    let sub = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    match run(cli.command, &sub) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}

/// clap's own outcome: the help or the version on stdout (status 0), a usage error on
/// stderr (status 2).
fn clap_failure(e: clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
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

/// Runs the subcommand; `m` holds its own matches (the order of repeated options).
fn run(command: Command, m: &ArgMatches) -> Result<(), Failure> {
    match command {
        Command::Cat(o) => cat::run(o, m),
        Command::Monitor(o) => monitor::run(o, m),
        Command::Proxy(o) => proxy::run(o, m),
        Command::Keypair(o) => keypair::run(o),
        Command::Rpc(o) => rpc::run(o, m),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cli_command(), "aiozmq", &mut out);
            write_stdout("completions", &out)
        }
        Command::Man => write_stdout("man", &man_page()),
    }
}

/// The manual page: aiozmq(1) with each command's page after it (as `git help` pages are
/// grouped), in roff.
fn man_page() -> Vec<u8> {
    let mut out = Vec::new();
    let cmd = cli_command();
    // Writing to a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut out);
    for sub in cmd.get_subcommands() {
        let name = format!("aiozmq-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("aiozmq {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        let _ = clap_mangen::Man::new(sub).title(name).render(&mut out);
    }
    out
}

fn write_stdout(command: &'static str, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::StdoutClosed),
        Err(e) => Err(runtime_error(
            command,
            format!("cannot write to stdout: {e}"),
        )),
    }
}

/// For unit tests: parses `args` as subcommand `name` with options `T`; clap's errors
/// (and its help) are usage errors.
#[cfg(test)]
pub fn test_parse<T: clap::Args + FromArgMatches>(
    name: &'static str,
    args: &[&str],
) -> Result<(T, ArgMatches), Failure> {
    let m = T::augment_args(clap::Command::new(name))
        .try_get_matches_from(std::iter::once(name).chain(args.iter().copied()))
        .map_err(|e| usage(Some(name), e.to_string()))?;
    let t = T::from_arg_matches(&m).map_err(|e| usage(Some(name), e.to_string()))?;
    Ok((t, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        cli_command().debug_assert();
    }

    #[test]
    fn top_level_errors_are_usage_errors() {
        for bad in [&[][..], &["bogus"], &["--bogus"], &["help", "bogus"]] {
            let e = cli_command()
                .try_get_matches_from(std::iter::once("aiozmq").chain(bad.iter().copied()))
                .expect_err("a usage error");
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }
}
