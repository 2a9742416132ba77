//! Runs the Node.js client harness of `tests/js` from Rust tests.
//!
//! - [`prepare`] checks that `node` (20 or newer) is installed and that
//!   `tests/js/node_modules` holds the pinned packages, running `npm ci` once
//!   when it does not. The install is serialized across threads (a
//!   `OnceLock`) and across test processes (an exclusive `flock` on a file
//!   under `target/tmp`), so parallel test binaries (or nextest's one process
//!   per test) never run two installs at the same time.
//! - [`run_script`] runs one harness script with `TARGET` set, under a hard
//!   timeout, and captures its output; [`ScriptRun::assert_passed`] prints
//!   that output and panics, listing the `not ok` lines, unless it passed.
//!
//! The harness contract (see `tests/js/README.md`): one `ok - …` or
//! `not ok - …` line per scenario, a last line `N passed, N failed`, and exit
//! status 0 only if every scenario passed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

/// How long a harness script may run before it is killed. The scripts cap
/// themselves at 60 s (`HARD_CAP_MS`); this is the backstop.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long `npm ci` may run before it is killed.
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(600);

/// Written into `node_modules` after a successful `npm ci`: a copy of the
/// `package-lock.json` that was installed. `scripts/test` compares it with
/// the current lock file to decide whether to reinstall.
const STAMP: &str = ".tsio-installed-package-lock.json";

/// `tests/js`, where the harness lives.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("js")
}

/// Panics with how to get Chromium unless it is there: `CHROMIUM=<path>`, else
/// Debian's `/usr/bin/chromium` (the browser scripts launch the same one
/// through `tests/js/browser-launch.mjs`).
pub fn check_chromium() {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "the browser tests need Chromium at {}: install Debian's package \
         (`apt-get install -y chromium`, which `scripts/test` runs when it is missing) \
         or set CHROMIUM=<path to a Chromium binary>",
        path.display()
    );
}

/// Checks `node` and installs `tests/js/node_modules` if needed, once per
/// process. Blocking work runs off the async workers.
pub async fn prepare() {
    match tokio::task::spawn_blocking(prepare_blocking).await {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("preparing the Node harness: {e}"),
    }
}

/// Blocking version of [`prepare`].
pub fn prepare_blocking() {
    static READY: OnceLock<()> = OnceLock::new();
    // If the initializer panics the cell stays empty and the next caller
    // retries (and panics with the same explanation).
    READY.get_or_init(|| {
        check_node();
        ensure_node_modules();
    });
}

const INSTALL_NODE: &str = "install Node.js 20 (or newer) together with npm, e.g. from \
     https://nodejs.org or the NodeSource packages (Debian 12's own `nodejs` is 18, too old), \
     then run `npm ci --prefix tests/js` (or just use `scripts/test`, which does that)";

/// Panics with installation advice unless `node --version` reports 20+.
fn check_node() {
    let out = match Command::new("node").arg("--version").output() {
        Ok(out) => out,
        Err(e) => panic!(
            "the JS client tests need Node.js, but `node` could not be run ({e}): {INSTALL_NODE}"
        ),
    };
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if out.status.success() && m >= 20 => {}
        _ => panic!(
            "the JS client tests need Node.js 20 or newer, but `node --version` says {version:?} \
             ({}): {INSTALL_NODE}",
            out.status
        ),
    }
}

/// The packages `tests/js/package.json` pins, as `(name, version)`.
fn pinned_packages(js: &Path) -> Vec<(String, String)> {
    let path = js.join("package.json");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    json["dependencies"]
        .as_object()
        .map(|deps| {
            deps.iter()
                .map(|(name, v)| (name.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Why `node_modules` needs an install, or `None` if every pinned package is
/// there at its pinned version.
fn install_needed(js: &Path) -> Option<String> {
    let modules = js.join("node_modules");
    if !modules.is_dir() {
        return Some(format!("{} is missing", modules.display()));
    }
    for (name, pinned) in pinned_packages(js) {
        let manifest = modules.join(&name).join("package.json");
        let installed = fs::read_to_string(&manifest)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|j| j["version"].as_str().map(str::to_string));
        match installed {
            None => return Some(format!("package {name} is not installed")),
            // Only exact pins can be compared; ranges are left to npm.
            Some(v) if is_exact_version(&pinned) && v != pinned => {
                return Some(format!("package {name} is {v}, package.json pins {pinned}"));
            }
            Some(_) => {}
        }
    }
    None
}

fn is_exact_version(v: &str) -> bool {
    !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Runs `npm ci` in `tests/js` unless the pinned packages are installed.
fn ensure_node_modules() {
    let js = js_dir();
    if install_needed(&js).is_none() {
        return;
    }
    let lock_dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _lock = lock::exclusive(&lock_dir.join("tsio-npm-ci.lock"));
    // Another process may have installed while this one waited.
    let Some(reason) = install_needed(&js) else {
        return;
    };
    eprintln!("tests/js: {reason}; running `npm ci` in {}", js.display());
    let log_path = lock_dir.join("tsio-npm-ci.log");
    let log = fs::File::create(&log_path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
    let log_err = log.try_clone().expect("clone log file handle");
    let fix = "Fix: make sure npm (comes with Node.js 20+) is installed and the npm registry is \
               reachable, then run `npm ci --prefix tests/js` by hand (or `scripts/test`) and \
               rerun the tests";
    let mut child = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&js)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|e| panic!("`npm ci` in {} could not start ({e}). {fix}", js.display()));
    let started = Instant::now();
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > NPM_CI_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("waiting for `npm ci`: {e}"),
        }
    };
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!(
            "`npm ci` in {} failed ({s}). Its output:\n{output}\n{fix}",
            js.display()
        ),
        None => panic!(
            "`npm ci` in {} did not finish within {NPM_CI_TIMEOUT:?} and was killed. \
             Its output:\n{output}\n{fix}",
            js.display()
        ),
    }
    if let Some(reason) = install_needed(&js) {
        panic!(
            "`npm ci` in {} succeeded but {reason}. Its output:\n{output}\n{fix}",
            js.display()
        );
    }
    // Record what was installed, for `scripts/test`'s freshness check.
    let _ = fs::copy(
        js.join("package-lock.json"),
        js.join("node_modules").join(STAMP),
    );
}

/// The outcome of one harness script run.
#[derive(Debug)]
pub struct ScriptRun {
    /// The script, relative to `tests/js`.
    pub script: String,
    /// Exit status; `None` if it was killed on timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `node tests/js/<script>` with `TARGET=<target>` (other environment
/// variables such as `ONLY`, `VERBOSE` or `SCENARIO_TIMEOUT_MS` pass through),
/// killing it after `timeout`.
pub async fn run_script(script: &str, target: &str, timeout: Duration) -> ScriptRun {
    run_script_with_env(script, target, timeout, &[]).await
}

/// [`run_script`] with extra environment variables for the script.
pub async fn run_script_with_env(
    script: &str,
    target: &str,
    timeout: Duration,
    env: &[(&str, &str)],
) -> ScriptRun {
    let js = js_dir();
    let path = js.join(script);
    assert!(path.is_file(), "no harness script at {}", path.display());
    let started = Instant::now();
    let mut child = tokio::process::Command::new("node")
        .arg(&path)
        .env("TARGET", target)
        .envs(env.iter().copied())
        .current_dir(&js)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawning `node {}`: {e}", path.display()));
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => Some(status.unwrap_or_else(|e| panic!("waiting for node: {e}"))),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    ScriptRun {
        script: script.to_string(),
        status,
        stdout: collect(stdout).await,
        stderr: collect(stderr).await,
        elapsed: started.elapsed(),
    }
}

fn read_all<R>(mut pipe: R) -> tokio::task::JoinHandle<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf).await;
        buf
    })
}

/// The pipe's contents; gives up after a few seconds in case something
/// else still holds the pipe open.
async fn collect(reader: tokio::task::JoinHandle<Vec<u8>>) -> String {
    let abort = reader.abort_handle();
    match tokio::time::timeout(Duration::from_secs(5), reader).await {
        Ok(Ok(buf)) => String::from_utf8_lossy(&buf).into_owned(),
        Ok(Err(e)) => format!("<reading output failed: {e}>"),
        Err(_) => {
            abort.abort();
            "<output pipe still open 5 s after exit; not read>".to_string()
        }
    }
}

impl ScriptRun {
    /// The `(passed, failed)` counts from the final summary line, if any.
    pub fn summary(&self) -> Option<(u32, u32)> {
        self.stdout.lines().rev().find_map(|line| {
            let (passed, failed) = line.trim().split_once(" passed, ")?;
            let failed = failed.strip_suffix(" failed")?;
            Some((passed.parse().ok()?, failed.parse().ok()?))
        })
    }

    /// The `not ok - …` lines.
    pub fn failures(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("not ok"))
            .collect()
    }

    /// Passed: exit status 0 and a summary line with no failure.
    pub fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success()) && matches!(self.summary(), Some((_, 0)))
    }

    /// Prints the captured output (shown by the test runner on failure, or
    /// always with `--nocapture`) and panics unless the script passed.
    pub fn assert_passed(&self) {
        let outcome = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after the {SCRIPT_TIMEOUT:?} timeout"),
        };
        println!(
            "==== node tests/js/{} ({outcome}, {:.1} s) stdout ====\n{}",
            self.script,
            self.elapsed.as_secs_f64(),
            self.stdout.trim_end()
        );
        if !self.stderr.trim().is_empty() {
            println!("==== stderr ====\n{}", self.stderr.trim_end());
        }
        println!("==== end of node tests/js/{} ====", self.script);
        if self.passed() {
            if let Some((0, _)) = self.summary() {
                println!("warning: no scenario ran (is ONLY set?)");
            }
            return;
        }
        // The full list is printed above; the panic message keeps the first ones.
        const LISTED: usize = 15;
        let all = self.failures();
        let mut failures: Vec<String> = all.iter().take(LISTED).map(|l| l.to_string()).collect();
        if all.len() > LISTED {
            failures.push(format!(
                "… and {} more `not ok` lines (see stdout above)",
                all.len() - LISTED
            ));
        }
        let summary = match self.summary() {
            Some((p, f)) => format!("{p} passed, {f} failed"),
            None => "no `N passed, N failed` summary line".to_string(),
        };
        panic!(
            "node tests/js/{} failed ({outcome}; {summary}){}{}",
            self.script,
            if failures.is_empty() { "" } else { ":\n  " },
            failures.join("\n  ")
        );
    }
}

/// An exclusive advisory lock on a file, released when the guard drops (or
/// when the process dies, so a crashed test never leaves it stuck).
mod lock {
    use std::fs::{self, File, OpenOptions};
    use std::path::Path;

    pub struct Guard {
        _file: File,
    }

    pub fn exclusive(path: &Path) -> Guard {
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("opening lock file {}: {e}", path.display()));
        flock(&file, path);
        Guard { _file: file }
    }

    fn flock(file: &File, path: &Path) {
        // Blocks until no other test process holds the lock.
        file.lock()
            .unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
    }
}
