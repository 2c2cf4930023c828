//! A real Apache Kafka broker for the compatibility tests: a single KRaft node (broker and
//! controller in one JVM) on loopback, its data log directory and its metadata log directory in
//! a directory the test owns.
//!
//! The jars come from `compat/kafka/pom.xml` (`.ci/run` resolves them into `target/kafka-lib/`;
//! `$STRATA_KAFKA_LIB` overrides); the clients are `compat/kafka/clients.py` (confluent-kafka and
//! kafka-python). [`kafka_available`] says what is missing, for [`super::skip`].
//!
//! The metadata log (`__cluster_metadata-0`) lives in its own directory (`metadata.log.dir`), so
//! the data log directory holds only topic partitions and the broker's checkpoint files: the
//! directory strata opens.

use std::fs;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::manifest_dir;

/// Where the broker's jars are: `$STRATA_KAFKA_LIB`, else `target/kafka-lib`.
pub(crate) fn kafka_lib() -> PathBuf {
    match std::env::var_os("STRATA_KAFKA_LIB") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => manifest_dir().join("target").join("kafka-lib"),
    }
}

/// The Kafka version of the resolved jars (from `kafka_2.13-<version>.jar`).
pub(crate) fn kafka_version() -> Option<String> {
    let entries = fs::read_dir(kafka_lib()).ok()?;
    entries.flatten().find_map(|e| {
        let name = e.file_name().into_string().ok()?;
        name.strip_prefix("kafka_2.13-")?.strip_suffix(".jar").map(str::to_owned)
    })
}

/// `compat/kafka/clients.py`.
pub(crate) fn clients_script() -> PathBuf {
    manifest_dir().join("compat").join("kafka").join("clients.py")
}

/// `Ok(version)` when a broker can run here: `java` starts, the jars are resolved and `python3`
/// imports confluent-kafka and kafka-python. `Err` names what is missing and how to get it.
/// Checked once per test binary.
pub(crate) fn kafka_available() -> Result<String, String> {
    static AVAILABLE: OnceLock<Result<String, String>> = OnceLock::new();
    AVAILABLE
        .get_or_init(|| {
            match Command::new("java").arg("-version").output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => {
                    return Err(format!(
                        "`java -version` failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                Err(e) => return Err(format!("no Java to run a Kafka broker (`java`: {e})")),
            }
            let Some(version) = kafka_version() else {
                return Err(format!(
                    "no Kafka jars in {} (run `mvn -q -f compat/kafka/pom.xml \
                     dependency:copy-dependencies`, as .ci/run does)",
                    kafka_lib().display()
                ));
            };
            let probe = "import confluent_kafka, kafka";
            match Command::new("python3").args(["-c", probe]).output() {
                Ok(out) if out.status.success() => Ok(version),
                Ok(out) => Err(format!(
                    "python3 cannot import confluent-kafka and kafka-python (pip install \
                     confluent-kafka kafka-python): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => Err(format!("cannot run python3: {e}")),
            }
        })
        .clone()
}

/// A free TCP port on 127.0.0.1 (bound and released; another process could take it first,
/// which start-up would then report).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}")).port()
}

/// A fixed cluster ID (16 bytes, base64url without padding, as `StorageTool random-uuid` prints).
const CLUSTER_ID: &str = "c3RyYXRhLWNvbXBhdC0xMQ";

/// One single-node KRaft broker. Dropping it kills the JVM if it still runs.
pub(crate) struct Broker {
    root: PathBuf,
    data: PathBuf,
    port: u16,
    controller_port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Broker {
    /// Writes `server.properties` under `root` (data log dir `root/data`, metadata log dir
    /// `root/meta`) with `extra` broker settings appended, and formats both directories with
    /// `kafka.tools.StorageTool format --standalone`. Panics with the tool's output on failure.
    pub(crate) fn format(root: &Path, extra: &[(&str, &str)]) -> Broker {
        let data = root.join("data");
        let meta = root.join("meta");
        let (port, controller_port) = (free_port(), free_port());
        let mut props = format!(
            "process.roles=broker,controller\n\
             node.id=1\n\
             controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             inter.broker.listener.name=PLAINTEXT\n\
             log.dirs={}\n\
             metadata.log.dir={}\n\
             num.partitions=1\n\
             offsets.topic.replication.factor=1\n\
             offsets.topic.num.partitions=1\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n\
             transaction.state.log.num.partitions=1\n\
             group.initial.rebalance.delay.ms=0\n\
             log.cleaner.backoff.ms=300\n\
             log.retention.check.interval.ms=500\n\
             log.initial.task.delay.ms=0\n",
            data.display(),
            meta.display()
        );
        for (k, v) in extra {
            props.push_str(&format!("{k}={v}\n"));
        }
        fs::create_dir_all(root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        let write = |name: &str, text: &str| {
            let path = root.join(name);
            fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        };
        write("server.properties", &props);
        // Kafka's command-line tools (Broker::tool) log warnings to stderr, not to the broker's log.
        write(
            "tools-log4j2.properties",
            "rootLogger.level=WARN\n\
             rootLogger.appenderRef.err.ref=E\n\
             appender.err.type=Console\n\
             appender.err.name=E\n\
             appender.err.target=SYSTEM_ERR\n\
             appender.err.layout.type=PatternLayout\n\
             appender.err.layout.pattern=%p %m (%c)%n\n",
        );
        write(
            "log4j2.properties",
            &format!(
                "rootLogger.level=INFO\n\
                 rootLogger.appenderRef.file.ref=F\n\
                 appender.file.type=File\n\
                 appender.file.name=F\n\
                 appender.file.fileName={}\n\
                 appender.file.layout.type=PatternLayout\n\
                 appender.file.layout.pattern=[%d] %p %m (%c)%n\n",
                root.join("server.log").display()
            ),
        );
        let broker = Broker {
            root: root.to_path_buf(),
            data,
            port,
            controller_port,
            child: None,
            starts: 0,
        };
        let out = broker
            .java("kafka.tools.StorageTool")
            .args(["format", "-t", CLUSTER_ID, "--standalone", "-c"])
            .arg(root.join("server.properties"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run java: {e}"));
        assert!(
            out.status.success(),
            "StorageTool format failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        broker
    }

    /// `java` with the broker's class path, a small heap and the log4j2 file, running `class`.
    fn java(&self, class: &str) -> Command {
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.root.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(format!("{}/*", kafka_lib().display()))
            .arg(class);
        cmd
    }

    /// Runs Kafka's command-line tool `class` from the resolved jars (what `bin/kafka-*.sh`
    /// runs, e.g. `org.apache.kafka.tools.consumer.group.ConsumerGroupCommand` for
    /// `kafka-consumer-groups.sh`) with `--bootstrap-server <this broker>` and `args`. Returns
    /// its stdout and stderr; panics when it cannot run or exits with a failure (some tools
    /// print an `Error:` and exit 0: the caller checks the output).
    pub(crate) fn tool(&self, class: &str, args: &[&str]) -> (String, String) {
        let out = Command::new("timeout")
            .args(["300", "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.root.join("tools-log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(format!("{}/*", kafka_lib().display()))
            .arg(class)
            .args(["--bootstrap-server", &self.bootstrap()])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run java {class}: {e}"));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(
            out.status.success(),
            "{class} {args:?} failed ({}):\n{stdout}\n--- stderr ---\n{}",
            out.status,
            tail_lines(&stderr, 40)
        );
        (stdout, stderr)
    }

    /// The data log directory (`log.dirs`).
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data
    }

    /// `127.0.0.1:<port>` for clients.
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's log file of this run.
    pub(crate) fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// Starts the JVM and waits (up to 180 s) until the log says `Kafka Server started`. The
    /// previous run's log is kept as `server.log.<n>`. Panics with the log's tail on failure.
    pub(crate) fn start(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let log = self.log_file();
        if log.exists() {
            let kept = self.root.join(format!("server.log.{}", self.starts));
            fs::rename(&log, &kept).unwrap_or_else(|e| panic!("rename {}: {e}", log.display()));
        }
        self.starts += 1;
        let console = fs::File::create(self.root.join("console.txt"))
            .unwrap_or_else(|e| panic!("create console.txt: {e}"));
        let console_err = console.try_clone().unwrap_or_else(|e| panic!("dup: {e}"));
        let child = self
            .java("kafka.Kafka")
            .arg(self.root.join("server.properties"))
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the broker: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if self.log_contains("Kafka Server started") {
                return;
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                panic!("the broker exited at start-up ({status}):\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "the broker did not start within 180 s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_contains(&self, needle: &str) -> bool {
        fs::read_to_string(self.log_file()).is_ok_and(|t| t.contains(needle))
    }

    /// The last 60 lines of the broker's log and its console output.
    pub(crate) fn log_tail(&self) -> String {
        let tail = |path: PathBuf| {
            let mut text = String::new();
            if let Ok(mut f) = fs::File::open(&path) {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
                let _ = f.read_to_string(&mut text);
            }
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        format!(
            "--- {} ---\n{}\n--- console ---\n{}",
            self.log_file().display(),
            tail(self.log_file()),
            tail(self.root.join("console.txt"))
        )
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let _ =
                Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status();
        }
    }

    /// A clean stop: SIGTERM (Kafka's shutdown hook flushes, writes its checkpoints and the
    /// clean-shutdown file) and a wait of up to 120 s. Panics if it does not exit or exits with
    /// a failure.
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    // The JVM exits 143 (128 + SIGTERM) after its shutdown hooks ran.
                    assert!(
                        status.success() || status.code() == Some(143),
                        "the broker stopped with {status}:\n{}",
                        self.log_tail()
                    );
                    assert!(
                        self.data.join(".kafka_cleanshutdown").exists(),
                        "stopped, but no clean-shutdown file in {}:\n{}",
                        self.data.display(),
                        self.log_tail()
                    );
                    return;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the broker did not stop within 120 s:\n{}", self.log_tail());
                }
            }
        }
    }

    /// An unclean stop: SIGKILL, as a power cut would leave the process (the page cache stays).
    pub(crate) fn kill(&mut self) {
        self.signal("KILL");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Runs `compat/kafka/clients.py CMD <bootstrap> ARGS...` and returns its stdout; panics with
    /// its stderr and the broker's log tail when it fails or runs longer than 300 s.
    pub(crate) fn clients(&self, cmd: &str, args: &[&str]) -> String {
        let mut child = Command::new("timeout")
            .args(["300", "python3"])
            .arg(clients_script())
            .arg(cmd)
            .arg(self.bootstrap())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
        let mut stdout = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let status = child.wait().unwrap_or_else(|e| panic!("clients.py: {e}"));
        assert!(
            status.success(),
            "clients.py {cmd} {args:?} failed ({status}):\n{stdout}\n--- stderr ---\n{}\n{}",
            tail_lines(&stderr, 40),
            self.log_tail()
        );
        stdout
    }
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `compat/kafka/src/KafkaIndexCheck.java` compiled against the resolved jars (see
/// [`compiled_tool`]).
fn index_check_classes() -> Result<PathBuf, String> {
    static CLASSES: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLASSES.get_or_init(|| compiled_tool("KafkaIndexCheck", "kafka-index-check")).clone()
}

/// `compat/kafka/src/KafkaStateFiles.java` compiled against the resolved jars (see
/// [`compiled_tool`]).
fn state_files_classes() -> Result<PathBuf, String> {
    static CLASSES: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLASSES.get_or_init(|| compiled_tool("KafkaStateFiles", "kafka-state-files")).clone()
}

/// `compat/kafka/src/<class>.java` compiled against the resolved jars into
/// `target/<dir>-<version>-<crc>/` on first use, `<crc>` the source's CRC-32 in 8 hex digits
/// (`.ci/run`'s `compile_kafka_tool` compiles it there first): compiled into a private directory
/// and renamed into place, so concurrent test processes never see half a build; one directory
/// per Kafka version, as the classes it calls differ between versions, and per source, so an
/// edited tool is never run from an older build. `Err` says why it cannot be had: no jars, no
/// `javac`, or the source does not compile (with javac's errors), which the caller's skip
/// reports (and fails, with `STRATA_REQUIRE_CHECKERS=1`).
fn compiled_tool(class: &str, dir: &str) -> Result<PathBuf, String> {
    let version = kafka_version().ok_or_else(|| {
        format!(
            "no Kafka jars in {} (mvn -q -f compat/kafka/pom.xml dependency:copy-dependencies, \
             as .ci/run does)",
            kafka_lib().display()
        )
    })?;
    let source = manifest_dir().join(format!("compat/kafka/src/{class}.java"));
    let bytes = fs::read(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &bytes);
    let target = manifest_dir().join("target");
    let classes = target.join(format!("{dir}-{version}-{crc:08x}"));
    if classes.join(format!("{class}.class")).is_file() {
        return Ok(classes);
    }
    let private = target.join(format!("{dir}.{}", std::process::id()));
    let out = Command::new("javac")
        .arg("-d")
        .arg(&private)
        .arg("-cp")
        .arg(format!("{}/*", kafka_lib().display()))
        .arg(&source)
        .output()
        .map_err(|e| format!("no javac to compile {class}.java (`javac`: {e})"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&private);
        return Err(format!(
            "{class}.java does not compile against Kafka {version} (javac {}):\n{}{}",
            out.status,
            tail_lines(&String::from_utf8_lossy(&out.stdout), 20),
            tail_lines(&String::from_utf8_lossy(&out.stderr), 40)
        ));
    }
    // Another process may have won the race: either copy is the same build.
    if fs::rename(&private, &classes).is_err() {
        let _ = fs::remove_dir_all(&private);
    }
    Ok(classes)
}

/// Kafka's own readers of the files beside the segments (`compat/kafka/src/KafkaStateFiles.java`,
/// one JVM for all of `files`): producer `.snapshot`s, `leader-epoch-checkpoint`, the
/// `*-offset-checkpoint` files, `partition.metadata` and `.kafka_cleanshutdown`. `Err(reason)`
/// when the tool cannot be had (see [`compiled_tool`]); `Ok(Err(output))` when a reader threw;
/// `Ok(Ok(lines))` with what each
/// file held, by file: `S ...` producer entries, `E epoch start`, `O topic partition offset`,
/// `M version topicId`, `C brokerEpoch` (the tool's doc comment has the fields).
pub(crate) fn kafka_state_files(
    files: &[PathBuf],
) -> Result<Result<std::collections::BTreeMap<PathBuf, Vec<String>>, String>, String> {
    let classes = state_files_classes()?;
    let out = Command::new("java")
        .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp"])
        .arg(format!("{}/*:{}", kafka_lib().display(), classes.display()))
        .arg("KafkaStateFiles")
        .args(files)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => return Ok(Err(format!("cannot run java: {e}"))),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Ok(Err(format!(
            "Kafka's readers refused a file ({}):\n{}\n--- stderr ---\n{}",
            out.status,
            tail_lines(&stdout, 20),
            tail_lines(&String::from_utf8_lossy(&out.stderr), 40)
        )));
    }
    let mut read = std::collections::BTreeMap::new();
    let mut current: Option<PathBuf> = None;
    for line in stdout.lines() {
        if let Some(path) = line.strip_prefix("@ ") {
            current = Some(PathBuf::from(path));
            read.insert(PathBuf::from(path), Vec::new());
        } else if let Some(path) = &current {
            read.entry(path.clone()).or_insert_with(Vec::new).push(line.to_owned());
        }
    }
    Ok(Ok(read))
}

/// Kafka's own checks on the index files of the partition directories `dirs`, in one JVM
/// (`compat/kafka/src/KafkaIndexCheck.java`): `DumpLogSegments --index-sanity-check` on every
/// `.index` and `.timeindex` (Kafka's `sanityCheck`, which a broker runs at load: each must print
/// `passed sanity check`, or `is empty`), then `--verify-index-only` (every entry checked against
/// the `.log`: no mismatch may be reported); `.txnindex` files are read by Kafka's
/// `TransactionIndex` in both passes. `Err(reason)` when the tool cannot be had (see
/// [`compiled_tool`]), `Ok(Err(output))` when Kafka reports a problem, `Ok(Ok(count))` with the
/// number of index files checked.
///
/// For directories closed cleanly: a live or crashed store's active indexes are not trimmed yet,
/// which Kafka's sanity check rejects (a broker then rebuilds them at load).
pub(crate) fn kafka_index_check(dirs: &[PathBuf]) -> Result<Result<usize, String>, String> {
    let classes = index_check_classes()?;
    let mut files = Vec::new();
    let mut checked = 0;
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let numbered = name.len() > 20 && name.bytes().take(20).all(|b| b.is_ascii_digit());
            if !numbered || !e.path().is_file() {
                continue;
            }
            if name.ends_with(".index") || name.ends_with(".timeindex") {
                checked += 1;
                files.push(e.path());
            } else if name.ends_with(".txnindex") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    // Empty files have nothing for Kafka to check (it prints `is empty`): no JVM for them.
    if files.iter().all(|f| fs::metadata(f).is_ok_and(|m| m.len() == 0)) {
        return Ok(Ok(0));
    }
    let out = Command::new("java")
        .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp"])
        .arg(format!("{}/*:{}", kafka_lib().display(), classes.display()))
        .arg("KafkaIndexCheck")
        .args(&files)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => return Ok(Err(format!("cannot run java: {e}"))),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let sanity_pass = stdout.split("@@ verify").next().unwrap_or("");
    let passed = sanity_pass.matches(" passed sanity check.").count()
        + sanity_pass.matches(" is empty.").count();
    let reported = format!("{stdout}\n{}", without_empty_batch_mismatches(&stderr));
    let problem = [
        "Mismatches in",
        "The following indexed offsets are not found in",
        "Found timestamp mismatch in",
        "Found out of order timestamp in",
        "Exception",
        "Ignoring unknown file",
    ]
    .iter()
    .find(|needle| reported.contains(*needle));
    if !out.status.success() || passed != checked || problem.is_some() {
        return Ok(Err(format!(
            "Kafka's DumpLogSegments index checks ({}; {passed} of {checked} index files passed \
             the sanity check{}):\n{}\n--- stderr ---\n{}",
            out.status,
            problem.map_or(String::new(), |p| format!("; reported `{p}`")),
            tail_lines(&stdout, 60),
            tail_lines(&stderr, 60)
        )));
    }
    Ok(Ok(files.len()))
}

/// DumpLogSegments' stderr without the time-index "mismatches" that only say the indexed batch
/// holds no record (`log timestamp: -1`): the tool takes a batch's max timestamp from its
/// records, but a compacted segment keeps emptied batches (producer state, markers) with their
/// header's max timestamp, and Kafka's own cleaner indexes that timestamp
/// (`MemoryRecords.filterTo` counts a retained empty batch in the segment's max timestamp), so
/// the tool flags Kafka's own cleaned segments the same way.
fn without_empty_batch_mismatches(stderr: &str) -> String {
    let mut out = Vec::new();
    let lines: Vec<&str> = stderr.lines().collect();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        if line.starts_with("Found timestamp mismatch in") {
            let details: Vec<&str> =
                lines.iter().skip(i + 1).take_while(|l| l.starts_with("  ")).copied().collect();
            if !details.iter().all(|d| d.ends_with("log timestamp: -1")) {
                out.push(*line);
                out.extend(details.iter().copied());
            }
            i += 1 + details.len();
        } else {
            out.push(*line);
            i += 1;
        }
    }
    out.join("\n")
}
