//! Helpers shared by the integration tests: where `../shared` is, the independent checkers
//! (`kafka_verify.py` and Kafka's own Java reader, `kverify`), the `logtool` example binary, the
//! partition fixtures, and a recursive copy for tests that must modify a fixture.
//!
//! Include with `mod common;`. Not every test file uses every helper, hence the `dead_code` allow.
//!
//! Tests that need something absent (no `../shared`, no `python3` with kafka-python, no built
//! `kverify`) call [`skip`] with the reason and return, so `cargo test` passes on a bare checkout.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub(crate) mod broker;
pub(crate) mod broker_files;
pub(crate) mod closed_store;
pub(crate) mod hand_batch;
pub(crate) mod json_line;
pub(crate) mod legacy;
pub(crate) mod strata_all;

/// The crate's root (where `Cargo.toml` is).
pub(crate) fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared directory: `$STRATA_SHARED` if set, else `../shared` beside the crate; `None` when
/// it does not exist.
pub(crate) fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("STRATA_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => manifest_dir().join("..").join("shared"),
    };
    if dir.is_dir() { Some(dir) } else { None }
}

/// Prints `skipped: <reason>` to stderr; the calling test then returns.
///
/// With `STRATA_REQUIRE_CHECKERS=1` in the environment (`.ci/run` sets it after installing the
/// checkers) a skip is a failure instead: there, everything a test needs must be present, so a
/// cross-check that silently did not run cannot pass the gate.
///
/// A skip is loud: libtest would report the test as `ok`, so the line goes to the real stderr
/// (past the test harness's capture, visible in a plain `cargo test`) and is appended to
/// [`SKIPS_FILE`] under the target directory, which `.ci/run` prints as a summary at the end.
pub(crate) fn skip(reason: &str) {
    if std::env::var_os("STRATA_REQUIRE_CHECKERS").is_some_and(|v| v == "1") {
        panic!("STRATA_REQUIRE_CHECKERS=1, yet this test would skip: {reason}");
    }
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.rsplit_once('-').map_or(s.clone(), |(name, _hash)| name.to_owned()))
        .unwrap_or_default();
    // One entry per skip from the first column; a reason's further lines (javac's errors) are
    // indented, so `.ci/run` counts entries, not lines (`skip_count`, `.ci/skips.sh`).
    let line = format!("{binary}::{test}: {}", reason.trim_end().replace('\n', "\n    "));
    // Once per test and reason (a proptest case may skip hundreds of times).
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    {
        let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(&line) {
            return;
        }
        seen.push(line.clone());
    }
    {
        use std::io::Write as _;
        // `std::io::stderr()` directly, not `eprintln!`: the harness captures only the macros.
        let _ = writeln!(io::stderr(), "\nSKIPPED (not checked, reported as ok): {line}");
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(SKIPS_FILE);
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        use std::io::Write as _;
        let _ = writeln!(f, "{line}");
    }
}

/// Where [`skip`] lists skipped tests, one `binary::test: reason` entry each (a reason's
/// further lines indented), in `target/tmp/` (`CARGO_TARGET_TMPDIR`). `.ci/run` empties it
/// before the tests and prints it after.
pub(crate) const SKIPS_FILE: &str = "skipped-checks.txt";

/// `<shared>/tools/kafka_verify.py`, if the shared directory has it.
pub(crate) fn kafka_verify_script() -> Option<PathBuf> {
    let script = shared_dir()?.join("tools").join("kafka_verify.py");
    if script.is_file() { Some(script) } else { None }
}

/// `Ok(())` when `kafka_verify.py` can run: the shared directory has it and `python3` imports
/// kafka-python. `Err` says what is missing (pass it to [`skip`]). Checked once per test binary.
pub(crate) fn kafka_verify_available() -> Result<(), String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABLE
        .get_or_init(|| {
            if kafka_verify_script().is_none() {
                return Err(
                    "no ../shared/tools/kafka_verify.py (set STRATA_SHARED to the shared dir)"
                        .to_owned(),
                );
            }
            match Command::new("python3").args(["-c", "import kafka"]).output() {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => Err(format!(
                    "python3 cannot import kafka-python (pip install kafka-python): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => Err(format!("cannot run python3: {e}")),
            }
        })
        .clone()
}

/// What a checker process did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifyOutcome {
    /// Exit status; `-1` when the process was ended by a signal. For `kafka_verify.py`: 0 clean,
    /// 1 at least one violation, 2 usage error or something could not be checked.
    pub(crate) status: i32,
    /// Everything it printed on stdout.
    pub(crate) stdout: String,
    /// Everything it printed on stderr.
    pub(crate) stderr: String,
}

impl VerifyOutcome {
    fn from_output(out: Output) -> Self {
        Self {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `status == 0`.
    pub(crate) fn ok(&self) -> bool {
        self.status == 0
    }
}

impl std::fmt::Display for VerifyOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `python3 <shared>/tools/kafka_verify.py DIR EXTRA_ARGS...`.
///
/// Panics when the script is absent or `python3` cannot be started: call
/// [`kafka_verify_available`] first and [`skip`] on `Err`.
pub(crate) fn kafka_verify(dir: &Path, extra_args: &[&str]) -> VerifyOutcome {
    let script = kafka_verify_script().unwrap_or_else(|| {
        panic!("kafka_verify.py not found: check kafka_verify_available() first")
    });
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .args(extra_args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    VerifyOutcome::from_output(out)
}

/// The JSON lines of `kafka_verify.py DIR --dump` (one `{"type":"batch",...}` line per batch,
/// each followed by its `{"type":"record",...}` lines). `Err` with the checker's output when it
/// exits non-zero (a violation, or something it could not check).
pub(crate) fn kafka_verify_dump(dir: &Path) -> Result<String, String> {
    let outcome = kafka_verify(dir, &["--dump"]);
    if outcome.ok() {
        Ok(outcome.stdout)
    } else {
        Err(format!("kafka_verify.py {} --dump: {outcome}", dir.display()))
    }
}

/// The built copy of Kafka's Java reader: `$STRATA_KVERIFY` (the path of its `run.sh`, as
/// `.ci/run` exports it), else `target/kverify/run.sh` if `.ci/run` built one there.
pub(crate) fn kverify_run_sh() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STRATA_KVERIFY").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() { Some(path) } else { None };
    }
    let run = manifest_dir().join("target").join("kverify").join("run.sh");
    let built = run.parent().is_some_and(|d| d.join("classes-lib").is_dir());
    if run.is_file() && built { Some(run) } else { None }
}

/// Kafka's own reader (kafka-clients 4.3.0 `FileRecords` + `ensureValid()`) on `dir`: `None` when
/// no built `kverify` is found (see [`kverify_run_sh`]), `Some(Ok(json_lines))` when it read every
/// batch, `Some(Err(..))` when it exited non-zero (CRC error, trailing bytes, ...).
///
/// The trailing `{"type":"summary",...}` line is removed, so on a valid directory the result
/// equals [`kafka_verify_dump`]'s byte for byte.
pub(crate) fn kverify_dump(dir: &Path) -> Option<Result<String, String>> {
    let run = kverify_run_sh()?;
    let out = match Command::new("sh").arg(&run).arg(dir).output() {
        Ok(out) => VerifyOutcome::from_output(out),
        Err(e) => return Some(Err(format!("cannot run sh {}: {e}", run.display()))),
    };
    if !out.ok() {
        return Some(Err(format!("kverify {}: {out}", dir.display())));
    }
    let mut dump = String::with_capacity(out.stdout.len());
    for line in out.stdout.lines() {
        if !line.starts_with("{\"type\":\"summary\"") {
            dump.push_str(line);
            dump.push('\n');
        }
    }
    Some(Ok(dump))
}

/// The `logtool` example binary that `cargo test` builds into `target/<profile>/examples/`.
/// Integration tests run from `target/<profile>/deps/`, so it is found from the test's own path.
///
/// Panics with instructions when it has not been built (e.g. `cargo test --test NAME` alone
/// builds no examples).
pub(crate) fn logtool_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("test binary {} has no grandparent dir", exe.display()));
    let bin = profile_dir.join(format!("logtool{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "logtool not built at {}: run `cargo build --features cli --bin logtool` first",
        bin.display()
    );
    bin
}

/// Whether `name` is a segment's log file name: 20 digits then `.log`.
pub(crate) fn is_segment_log_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else { return false };
    let Some(stem) = name.strip_suffix(".log") else { return false };
    stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())
}

/// Every partition directory (one holding at least one `NNNNNNNNNNNNNNNNNNNN.log`) under
/// `<shared>/fixtures/`, recursively, sorted. Empty when there is no shared directory.
pub(crate) fn fixture_dirs() -> Vec<PathBuf> {
    let Some(shared) = shared_dir() else { return Vec::new() };
    fixture_dirs_under(&shared.join("fixtures"))
}

/// Every partition directory under `root`, recursively, sorted.
pub(crate) fn fixture_dirs_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        let mut is_partition = false;
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && is_segment_log_name(&entry.file_name()) {
                is_partition = true;
            }
        }
        if is_partition {
            found.push(dir);
        }
    }
    found.sort();
    found
}

/// One fixture directory by its path relative to `<shared>/fixtures/`, e.g.
/// `independent/kafka-clients-4.3.0/test-0`; `None` when absent.
pub(crate) fn fixture(relative: &str) -> Option<PathBuf> {
    let dir = shared_dir()?.join("fixtures").join(relative);
    if dir.is_dir() { Some(dir) } else { None }
}

/// Copies `src` into `dst` recursively (creating `dst`), leaving the copies writable even when
/// the originals are read-only (as `../shared` is). Use it before modifying a fixture: never
/// modify `../shared`.
pub(crate) fn copy_dir(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let to = dst.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            fs::copy(entry.path(), &to)?;
            let mut perms = fs::metadata(&to)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&to, perms)?;
        }
    }
    Ok(())
}

/// Checks a partition directory strata wrote in one session (close the log first, so the active
/// segment's indexes are trimmed and carry their final time-index entry):
/// `kafka_verify.py DIR --index-interval N --exact-rebuild` must pass, when `kverify` (Kafka's
/// Java reader) is built it must read every batch and print exactly what `kafka_verify.py --dump`
/// prints, and Kafka's own index checks ([`assert_kafka_index_check`]) must pass. Whatever
/// checker is unavailable is skipped with a message.
pub(crate) fn assert_kafka_accepts(dir: &Path, index_interval_bytes: u64) {
    assert_checkers(dir, index_interval_bytes, true);
}

/// Both checkers on `dir`: `kafka_verify.py --index-interval N` (plus `--exact-rebuild` when
/// `exact`), then kverify's dump equal to `kafka_verify.py --dump`. Missing checkers skip.
fn assert_checkers(dir: &Path, index_interval_bytes: u64, exact: bool) {
    if let Err(reason) = kafka_verify_available() {
        skip(&reason);
        return;
    }
    let interval = index_interval_bytes.to_string();
    let mut args = vec!["--index-interval", interval.as_str()];
    if exact {
        args.push("--exact-rebuild");
    }
    let outcome = kafka_verify(dir, &args);
    assert!(outcome.ok(), "kafka_verify.py {} {}: {outcome}", dir.display(), args.join(" "));
    let Some(java) = kverify_dump(dir) else {
        skip("kverify (Kafka's Java reader) is not built; .ci/run builds it");
        return;
    };
    let java = java.unwrap_or_else(|e| panic!("{e}"));
    let python = kafka_verify_dump(dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(java, python, "kverify and kafka_verify.py disagree on {}", dir.display());
    assert_kafka_index_check(&[dir.to_path_buf()]);
}

/// Kafka's own index code on the `.index`, `.timeindex` and `.txnindex` files of `dirs` (see
/// [`broker::kafka_index_check`]: `DumpLogSegments --index-sanity-check` and
/// `--verify-index-only` from the Kafka release `compat/kafka` resolves, one JVM for all of
/// `dirs`). For directories closed cleanly. Skips, naming why, when the tool cannot be had (no
/// jars, no `javac`, or a source that does not compile).
pub(crate) fn assert_kafka_index_check(dirs: &[PathBuf]) {
    match broker::kafka_index_check(dirs) {
        Err(reason) => skip(&format!("Kafka's DumpLogSegments cannot run: {reason}")),
        Ok(result) => {
            result.unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// The `NNNNNNNNNNNNNNNNNNNN.log` files of a partition directory, sorted by base offset, with
/// their contents read with `std::fs` (not through strata).
pub(crate) fn segment_logs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(is_segment_log_name))
        .collect();
    logs.sort();
    logs.into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// Checks a partition directory whose history spans sessions (reopens, recoveries, appends after
/// a restart), where Kafka's one-session rebuild no longer applies: `kafka_verify.py DIR
/// --index-interval N` must pass (every invariant, including index spacing), and when `kverify`
/// is built it must read every batch exactly as `kafka_verify.py --dump` does. Whatever checker is
/// unavailable is skipped with a message. Kafka's own index checks run too
/// ([`assert_kafka_index_check`]).
pub(crate) fn assert_kafka_valid(dir: &Path, index_interval_bytes: u64) {
    assert_checkers(dir, index_interval_bytes, false);
}

// ---------------------------------------------------------------------------------------------
// Checking many directories at once (the compaction model and crash tests produce hundreds; one
// checker process for all of them keeps the tests fast).
// ---------------------------------------------------------------------------------------------

/// Runs `kafka_verify.py DIR EXTRA_ARGS...` on every directory of `dirs` inside ONE `python3`
/// process (the script is imported once; starting Python and importing kafka-python dominate a
/// single check). Returns each directory with its outcome, in order.
///
/// Panics when the script is absent or `python3` cannot be started: call
/// [`kafka_verify_available`] first and [`skip`] on `Err`.
pub(crate) fn kafka_verify_many(
    dirs: &[PathBuf],
    extra_args: &[&str],
) -> Vec<(PathBuf, VerifyOutcome)> {
    const DRIVER: &str = r#"
import contextlib, importlib.util, io, sys
script, n_extra = sys.argv[1], int(sys.argv[2])
extra, dirs = sys.argv[3:3 + n_extra], sys.argv[3 + n_extra:]
spec = importlib.util.spec_from_file_location("kafka_verify", script)
kv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kv)
for d in dirs:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = kv.main([d] + extra)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
        except Exception as e:
            print("exception: %r" % (e,))
            rc = 2
    sys.stdout.write("@@@ %d %s\n" % (rc, d))
    sys.stdout.write(out.getvalue())
"#;
    if dirs.is_empty() {
        return Vec::new();
    }
    let script = kafka_verify_script().unwrap_or_else(|| {
        panic!("kafka_verify.py not found: check kafka_verify_available() first")
    });
    let out = Command::new("python3")
        .args(["-c", DRIVER])
        .arg(&script)
        .arg(extra_args.len().to_string())
        .args(extra_args)
        .args(dirs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut results: Vec<(PathBuf, VerifyOutcome)> = Vec::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("@@@ ") {
            let (status, dir) = rest.split_once(' ').unwrap_or((rest, ""));
            let outcome = VerifyOutcome {
                status: status.parse().unwrap_or(-1),
                stdout: String::new(),
                stderr: String::new(),
            };
            results.push((PathBuf::from(dir), outcome));
        } else if let Some((_, last)) = results.last_mut() {
            last.stdout.push_str(line);
            last.stdout.push('\n');
        }
    }
    assert_eq!(
        results.len(),
        dirs.len(),
        "kafka_verify driver stopped early: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    results
}

/// Runs Kafka's Java reader (`kverify`) on all of `dirs` in ONE JVM: `None` when it is not built,
/// `Some(Err(..))` with its output when it exits non-zero (then run it per directory to find the
/// culprit), `Some(Ok(()))` when it read every batch of every directory.
pub(crate) fn kverify_many(dirs: &[PathBuf]) -> Option<Result<(), String>> {
    let run = kverify_run_sh()?;
    if dirs.is_empty() {
        return Some(Ok(()));
    }
    let out = match Command::new("sh").arg(&run).args(dirs).output() {
        Ok(out) => VerifyOutcome::from_output(out),
        Err(e) => return Some(Err(format!("cannot run sh {}: {e}", run.display()))),
    };
    if out.ok() {
        Some(Ok(()))
    } else {
        Some(Err(format!("kverify on {} dirs: {out}", dirs.len())))
    }
}

/// [`assert_kafka_valid`] for many directories at once: `kafka_verify.py DIR --index-interval N`
/// must pass on each, and Kafka's Java reader (when built) must read every batch of all of them.
/// (No Kafka index check: these are often copies of live or crashed stores, whose untrimmed
/// active indexes a broker would rebuild; see [`assert_kafka_index_check`].)
/// Whatever checker is unavailable is skipped with a message.
pub(crate) fn assert_kafka_valid_many(dirs: &[PathBuf], index_interval_bytes: u64) {
    if let Err(reason) = kafka_verify_available() {
        skip(&reason);
        return;
    }
    let interval = index_interval_bytes.to_string();
    for (dir, outcome) in kafka_verify_many(dirs, &["--index-interval", &interval]) {
        assert!(
            outcome.ok(),
            "kafka_verify.py {} --index-interval {interval}: {outcome}",
            dir.display()
        );
    }
    match kverify_many(dirs) {
        None => skip("kverify (Kafka's Java reader) is not built; .ci/run builds it"),
        Some(result) => result.unwrap_or_else(|e| panic!("{e}")),
    }
}

/// Names of the files in `dir` left behind by an interrupted cleaning or swap: those ending in
/// `.cleaned`, `.swap` or `.deleted`.
pub(crate) fn swap_leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
        .collect();
    names.sort();
    names
}

/// Every file and directory under `root` with its contents, length and modification time: equal
/// snapshots mean nothing was created, removed, renamed or written (read-only opens are checked so).
pub(crate) fn dir_snapshot(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display())) {
            let path = e.unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display())).path();
            let meta =
                fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let contents = if meta.is_dir() {
                stack.push(path.clone());
                Vec::new()
            } else {
                fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            };
            out.insert(path, (contents, meta.len(), meta.mtime(), meta.mtime_nsec()));
        }
    }
    out
}

/// [`logtool_bin`], after making sure the example is built and current: `cargo test --test NAME`
/// builds no binaries of other features, so this runs `cargo build --features cli --bin logtool` once per test binary (in the
/// test's own profile) when started by cargo, and otherwise uses what is there.
pub(crate) fn logtool_bin_built() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(cargo) = std::env::var_os("CARGO") {
            let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
            let profile = exe
                .parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| panic!("test binary {} has no profile dir", exe.display()));
            let mut build = Command::new(cargo);
            // The binary needs the `cli` feature (clap), whatever features the tests run with.
            build.current_dir(manifest_dir()).args([
                "build",
                "--features",
                "cli",
                "--bin",
                "logtool",
            ]);
            match profile.as_str() {
                "debug" => {}
                "release" => {
                    build.arg("--release");
                }
                other => {
                    build.args(["--profile", other]);
                }
            }
            let out = build.output().unwrap_or_else(|e| panic!("cannot run cargo build: {e}"));
            assert!(
                out.status.success(),
                "cargo build --features cli --bin logtool: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        logtool_bin()
    })
    .clone()
}

/// Runs `logtool [--dir D]... [--json] ARGS...` (the freshly built example) with `stdin`
/// piped in, and returns its output whatever the exit status.
pub(crate) fn logtool_run(dirs: &[&Path], json: bool, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write as _;
    let mut cmd = Command::new(logtool_bin_built());
    for d in dirs {
        cmd.arg("--dir").arg(d);
    }
    if json {
        cmd.arg("--json");
    }
    let mut child = cmd
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start logtool: {e}"));
    // A command that fails before reading stdin may close it: ignore a broken pipe.
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("logtool did not finish: {e}"))
}

/// stdout's lines of a `logtool --json` command that must succeed.
pub(crate) fn logtool_ok(dirs: &[&Path], args: &[&str], stdin: &[u8]) -> Vec<String> {
    let out = logtool_run(dirs, true, args, stdin);
    assert!(
        out.status.success(),
        "logtool {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

/// A seeded splitmix64: random test data that is the same on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Fisher-Yates shuffle.
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = usize::try_from(self.below(i as u64 + 1)).unwrap_or(0);
            v.swap(i, j);
        }
    }
}

/// Whether this process should run the body of test `name`. True in the child (the test binary
/// re-run with `env=name`, under `ulimit -n fd_limit` when given); in the parent, runs that
/// child, asserts it passed (a signal is a failure, so a SIGBUS cannot kill the suite) and
/// returns false.
pub(crate) fn in_child(env: &str, name: &str, fd_limit: Option<u32>) -> bool {
    if std::env::var(env).as_deref() == Ok(name) {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let limit = fd_limit.map_or(String::new(), |n| format!("ulimit -n {n} && "));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{limit}exec \"$0\" --exact {name} --nocapture --test-threads 1"))
        .arg(&exe)
        .env(env, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child running {name} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "the child ran no test: {stdout}");
    false
}

/// Waits until every one of `counters` (progress a background thread publishes: reads done,
/// passes finished) has grown by at least `by` from its value at the call, and panics naming
/// `what` after 60 s. A test whose claim needs those threads to run while it works calls this
/// between steps instead of hoping the scheduler ran them: on a loaded machine a thread can wait
/// seconds for a core.
pub(crate) fn wait_until_each_grows(
    counters: &[std::sync::atomic::AtomicU64],
    by: u64,
    what: &str,
) {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let from: Vec<u64> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.iter().zip(&from).any(|(c, &f)| c.load(Ordering::SeqCst) < f + by) {
        assert!(Instant::now() < deadline, "{what}: no progress in 60 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Writes an offset commit of `group` for `topic`-`partition` straight into the store's
/// `__consumer_offsets`, as a Kafka cluster's log holds commits of partitions it no longer
/// has (a topic deleted, or commits adopted from a broker): `Groups::commit` refuses a
/// partition the store lacks. The store must already have `__consumer_offsets` (commit
/// something first); the commit is seen once the store is reopened.
pub(crate) fn raw_commit(
    store: &strata::Store,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) {
    use strata::internals::format::group_record::{GroupKey, OffsetCommit, partition_for_group};
    let partitions = store.partition_count("__consumer_offsets").unwrap();
    let key = GroupKey::Offset { group: group.into(), topic: topic.into(), partition };
    let value = OffsetCommit {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 0,
        expire_timestamp: None,
    };
    let record = strata::Record::new(key.encode().unwrap(), value.encode().unwrap());
    let log = store.partition("__consumer_offsets", partition_for_group(group, partitions));
    log.unwrap().append(&[record]).unwrap();
}

/// What `sendfile(file, slice.position, slice.bytes.len())` sends: the bytes at the slice's
/// position in `file` (the file [`strata::FileSlice::file`] gave).
pub(crate) fn sent_from(file: &std::fs::File, slice: &strata::FileSlice) -> Vec<u8> {
    let mut sent = vec![0u8; slice.bytes.len()];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut sent, slice.position).unwrap();
    sent
}
