//! `examples/jupyter_kernel.rs` driven by Python's `jupyter_client` (pinned in
//! `interop/requirements.txt`) as a notebook drives a kernel: the kernelspec the example
//! writes is installed in a temporary `JUPYTER_PATH`, `KernelManager` starts the kernel from
//! it, and `interop/jupyter_driver.py` runs one scenario per test, printing `PASS <check>`
//! for each check that holds; each test asserts the exact list of checks.
//!
//! The example is built with `cargo build --example jupyter_kernel` in the test's own
//! profile and target directory (a no-op when `cargo test` already built it).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// How long one driver run may take (its own waits are 20 s each at most).
const DRIVER_LIMIT: Duration = Duration::from_secs(240);
/// How long the example may take to answer a command-line error.
const EXIT_LIMIT: Duration = Duration::from_secs(30);
/// The kernel's name in the temporary kernelspec directory.
const KERNEL_NAME: &str = "aiozmq_echo_test";
const DRIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/jupyter_driver.py");

/// `target/<profile>/examples`, derived from this test binary's own path
/// (`target/<profile>/deps/jupyter_kernel-<hash>`).
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .join("examples")
}

/// The example's binary, built once per test process.
fn kernel_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = examples_dir();
            let profile_dir = dir.parent().expect("target/<profile>");
            let target_dir = profile_dir.parent().expect("target");
            let mut cmd = std::process::Command::new(env!("CARGO"));
            cmd.arg("build")
                .arg("--manifest-path")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
                .arg("--target-dir")
                .arg(target_dir)
                .args(["--example", "jupyter_kernel"]);
            match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => {}
                Some("release") => {
                    cmd.arg("--release");
                }
                Some(other) => {
                    cmd.args(["--profile", other]);
                }
                None => panic!("no profile directory in {}", dir.display()),
            }
            let status = cmd
                .status()
                .expect("run cargo build --example jupyter_kernel");
            assert!(
                status.success(),
                "cargo build --example jupyter_kernel failed"
            );
            dir.join(format!("jupyter_kernel{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// A fresh directory under the cargo target dir for one test; removed by `cleanup` when
/// the test passes (kept for a look when it fails).
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("jupyter-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

fn cleanup(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs the example with `args` and returns its output (fails after [`EXIT_LIMIT`]).
async fn run_example(args: &[&str]) -> Output {
    let child = Command::new(kernel_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start jupyter_kernel");
    match tokio::time::timeout(EXIT_LIMIT, child.wait_with_output()).await {
        Ok(out) => out.expect("wait for jupyter_kernel"),
        Err(_) => panic!("jupyter_kernel {args:?} did not exit within {EXIT_LIMIT:?}"),
    }
}

/// Writes the kernelspec with the example itself (`--kernelspec`), as the README says.
async fn install_kernelspec(dir: &Path) -> PathBuf {
    let spec_dir = dir.join("kernels").join(KERNEL_NAME);
    let out = run_example(&["--kernelspec", spec_dir.to_str().expect("UTF-8 path")]).await;
    assert!(
        out.status.success(),
        "--kernelspec failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    spec_dir.join("kernel.json")
}

/// The driver command for `scenario`, with Jupyter's directories inside `dir`.
fn driver(dir: &Path, scenario: &str) -> Command {
    for sub in ["runtime", "data", "config", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create a Jupyter directory");
    }
    let mut cmd = Command::new(support::python::venv_python());
    cmd.arg("-u")
        .arg(DRIVER)
        .arg(scenario)
        .args(["--kernel-name", KERNEL_NAME, "--log"])
        .arg(dir.join("kernel.log"))
        .env("JUPYTER_PATH", dir)
        .env("JUPYTER_RUNTIME_DIR", dir.join("runtime"))
        .env("JUPYTER_DATA_DIR", dir.join("data"))
        .env("JUPYTER_CONFIG_DIR", dir.join("config"))
        .env("JUPYTER_PLATFORM_DIRS", "1")
        .env("TMPDIR", dir.join("tmp"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs a scenario to its end and asserts that it passed exactly the checks `want`.
async fn run_scenario(test: &str, scenario: &str, want: &[&str]) {
    let dir = scratch(test);
    install_kernelspec(&dir).await;
    let child = driver(&dir, scenario)
        .spawn()
        .expect("start jupyter_driver.py");
    let out = match tokio::time::timeout(DRIVER_LIMIT, child.wait_with_output()).await {
        Ok(out) => out.expect("wait for jupyter_driver.py"),
        Err(_) => panic!(
            "jupyter_driver.py {scenario} did not finish within {DRIVER_LIMIT:?} (kernel log: {})",
            dir.join("kernel.log").display()
        ),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(dir.join("kernel.log")).unwrap_or_default();
    let report = format!(
        "jupyter_driver.py {scenario} ({})\nstdout:\n{stdout}\nstderr:\n{}\nkernel log:\n{log}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    let passed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .collect();
    assert_eq!(passed, want, "{report}");
    assert_eq!(stdout.lines().last(), Some("DONE"), "{report}");
    cleanup(&dir);
}

#[tokio::test]
async fn kernelspec_names_this_binary() {
    let dir = scratch("kernelspec");
    let path = install_kernelspec(&dir).await;
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
        .expect("kernel.json is JSON");
    let exe = kernel_binary().canonicalize().expect("canonical path");
    assert_eq!(
        spec,
        json!({
            "argv": [exe.to_str().expect("UTF-8 path"), "-f", "{connection_file}"],
            "display_name": "Echo (aiozmq)",
            "language": "text",
            "interrupt_mode": "message",
            "metadata": {},
        })
    );
    cleanup(&dir);
}

#[tokio::test]
async fn command_line_errors_exit_with_a_message() {
    let out = run_example(&[]).await;
    assert_eq!(out.status.code(), Some(2), "no arguments: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: jupyter_kernel -f"));

    let dir = scratch("errors");
    let missing = dir.join("missing.json");
    let out = run_example(&["-f", missing.to_str().expect("UTF-8 path")]).await;
    assert_eq!(out.status.code(), Some(1), "missing file: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    // A scheme this kernel cannot check is refused before anything is bound.
    let file = dir.join("md5.json");
    let info = json!({
        "transport": "tcp", "ip": "127.0.0.1", "shell_port": 0, "iopub_port": 0,
        "stdin_port": 0, "control_port": 0, "hb_port": 0,
        "key": "secret", "signature_scheme": "hmac-md5",
    });
    std::fs::write(&file, info.to_string()).expect("write the connection file");
    let out = run_example(&["-f", file.to_str().expect("UTF-8 path")]).await;
    assert_eq!(out.status.code(), Some(1), "hmac-md5: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unsupported signature_scheme \"hmac-md5\""),
        "{out:?}"
    );
    cleanup(&dir);
}

#[tokio::test]
async fn notebook_session_through_jupyter_client() {
    run_scenario(
        "notebook",
        "notebook",
        &[
            "kernel_info_reply",
            "reply_header",
            "kernel_info_busy_idle",
            "execute_reply",
            "execute_iopub_order",
            "execute_input",
            "execute_stream",
            "execute_result",
            "iopub_headers",
            "iopub_unique_ids",
            "execution_count_increments",
            "silent_no_output",
            "silent_keeps_count",
            "no_history_output",
            "no_history_keeps_count",
            "blank_cell_no_output",
            "user_expressions",
            "is_complete",
            "comm_info",
            "comm_info_target",
            "comm_open_closed",
            "unknown_type_ignored",
            "unknown_type_busy_idle",
            "heartbeat_echo",
            "kernelspec_interrupt_mode",
            "interrupt_busy_idle",
            "interrupt_reply",
            "serves_after_interrupt",
            "restart_old_exited_cleanly",
            "restart_resets_count",
            "shutdown_reply",
            "shutdown_busy_idle",
            "shutdown_exit_status",
            "no_stray_iopub",
        ],
    )
    .await;
}

#[tokio::test]
async fn bad_signatures_are_dropped_and_logged() {
    run_scenario(
        "signature",
        "signature",
        &[
            "good_after_bad_answered",
            "reply_signed",
            "bad_not_answered",
            "bad_no_iopub",
            "bad_signatures_logged",
            "no_delimiter_logged",
            "serves_after_bad",
            "shutdown_exit_status",
        ],
    )
    .await;
}

#[tokio::test]
async fn empty_key_turns_signing_off() {
    run_scenario(
        "nokey",
        "nokey",
        &[
            "connection_file_empty_key",
            "execute_unsigned",
            "reply_unsigned",
            "any_signature_accepted",
            "shutdown_exit_status",
        ],
    )
    .await;
}

/// The kernel shares the driver's stderr, so the end of that stream (once the driver is
/// killed) is the moment the kernel itself has exited.
#[cfg(unix)]
#[tokio::test]
async fn kernel_exits_when_its_parent_dies() {
    let dir = scratch("orphan");
    install_kernelspec(&dir).await;
    let mut cmd = driver(&dir, "orphan");
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("start jupyter_driver.py");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stdout).lines();
    let line = match tokio::time::timeout(DRIVER_LIMIT, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        other => {
            let _ = child.kill().await;
            let mut err = String::new();
            let _ = tokio::time::timeout(EXIT_LIMIT, stderr.read_to_string(&mut err)).await;
            panic!("no KERNEL_PID line from the driver ({other:?}); stderr:\n{err}");
        }
    };
    assert!(line.starts_with("KERNEL_PID "), "unexpected line {line:?}");
    child.kill().await.expect("kill the driver");
    let mut log = String::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stderr.read_to_string(&mut log)).await;
    match read {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("reading the kernel's stderr failed: {e}"),
        Err(_) => panic!("the kernel ({line}) still runs 20 s after its parent died:\n{log}"),
    }
    assert!(
        log.contains("is gone: shutting down") && log.contains("shut down"),
        "the kernel's stderr:\n{log}"
    );
    cleanup(&dir);
}
