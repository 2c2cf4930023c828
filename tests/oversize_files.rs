//! Files read whole (offset checkpoints, `leader-epoch-checkpoint`, producer snapshots,
//! `.txnindex`, `partition.metadata`) longer than any file of their kind are refused before a
//! byte is allocated for them, naming the file: each kind has its own limit, far below the
//! 2 GiB cap every file shared before (one file just under it cost a 2-4 GiB buffer).
//!
//! The check runs in a child process whose address space is capped at 1 GiB (`ulimit -v`): a
//! read that allocated a file's length fails there (the child aborts, and the test with it)
//! instead of filling the machine's memory.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use strata::Error;
use strata::Store;

use common::closed_store::{count, make, open};

/// A `VmXxx:` field of `/proc/self/status`, in bytes.
fn vm(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn offline_naming(store: &Store, partition: i32, file: &str) {
    match store.partition("t", partition) {
        Err(Error::PartitionOffline { cause, .. }) => {
            assert!(cause.contains(file), "t-{partition}: {cause}");
            // Refused by its length before any allocation, not by a failed allocation (the
            // child's address space is capped: an allocation of the file's size fails too).
            assert!(cause.contains("past the longest such file"), "t-{partition}: {cause}");
        }
        other => panic!("t-{partition}: {:?}", other.map(|l| l.log_end_offset())),
    }
}

/// Set in the child process that runs the check.
const CHILD: &str = "STRATA_OVERSIZE_FILES_CHILD";
const TEST: &str = "planted_sparse_files_just_under_two_gib_are_refused_before_any_allocation";

#[test]
fn planted_sparse_files_just_under_two_gib_are_refused_before_any_allocation() {
    if std::env::var_os(CHILD).is_some() {
        refused_unread();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .args(["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\"", exe.to_str().unwrap()])
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the check, in a child with 1 GiB of address space, failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The check itself (in the child).
fn refused_unread() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path(), 4, 50);
    std::fs::remove_file(tmp.path().join(".kafka_cleanshutdown")).unwrap();
    // 2 GiB less a byte each, sparse (no disk blocks): the old cap (an int) let them through.
    let len = u64::try_from(i32::MAX).unwrap();
    let sparse = |path: PathBuf| {
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path);
        f.unwrap().set_len(len).unwrap();
        path
    };
    let epochs = sparse(tmp.path().join("t-0").join("leader-epoch-checkpoint"));
    let snapshot = sparse(tmp.path().join("t-1").join(format!("{:020}.snapshot", 50)));
    let txns = sparse(tmp.path().join("t-2").join(format!("{:020}.txnindex", 0)));
    let metadata = sparse(tmp.path().join("t-3").join("partition.metadata"));
    let recovery = sparse(tmp.path().join("recovery-point-offset-checkpoint"));
    // The peak resident size starts again from what is resident now.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = vm("VmRSS:");

    let store = open(tmp.path()).unwrap();
    // The epoch checkpoint and partition.metadata take their partitions offline, naming them.
    offline_naming(&store, 0, "leader-epoch-checkpoint");
    offline_naming(&store, 3, "partition.metadata");
    // The snapshot is skipped as corrupt (and removed), the `.txnindex` rebuilt (its segment's
    // `.log` holds no marker), the checkpoint ignored.
    assert_eq!(count(&store, "t", 1), 50);
    assert!(!snapshot.exists());
    assert_eq!(count(&store, "t", 2), 50);
    assert!(!txns.exists() || std::fs::metadata(&txns).unwrap().len() < 1 << 20);
    assert!(
        store.ignored_entries().iter().any(|(p, why)| *p == recovery && why.contains("length")),
        "{:?}",
        store.ignored_entries()
    );
    let (peak, size) = (vm("VmHWM:"), vm("VmPeak:"));
    store.close().unwrap();
    eprintln!(
        "resident: {} MiB before the open, peak {} MiB; address space peak {} MiB",
        before >> 20,
        peak >> 20,
        size >> 20
    );
    assert!(
        peak.saturating_sub(before) < 64 << 20,
        "resident memory grew by {} MiB while files of 2 GiB were refused",
        peak.saturating_sub(before) >> 20
    );
    for left in [&epochs, &metadata] {
        assert_eq!(std::fs::metadata(left).unwrap().len(), len, "an offline partition is left");
    }
}

/// `logtool dump` reads the state files it dumps with the store's own
/// limits: a planted sparse file is refused by its length, as the store
/// refuses it, where the tool read every file up to the 2 GiB cap (2.1 GB
/// of memory for a sparse `partition.metadata`; "cannot allocate" under a
/// 1 GiB address space). Found by an audit of hostile files (2026-12-03).
#[test]
fn logtool_dump_refuses_oversize_state_files_by_their_length() {
    let bin = common::logtool_bin_built();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    std::fs::create_dir_all(&dir).unwrap();
    let len = u64::try_from(i32::MAX).unwrap();
    for name in [
        "partition.metadata",
        "leader-epoch-checkpoint",
        "recovery-point-offset-checkpoint",
        "00000000000000000000.snapshot",
    ] {
        let path = dir.join(name);
        std::fs::File::create(&path).unwrap().set_len(len).unwrap();
        // 1 GiB of address space: a read that allocates the file's length fails.
        let out = Command::new("sh")
            .args(["-c", "ulimit -v 1048576 && exec \"$0\" dump \"$1\""])
            .arg(&bin)
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: {stderr}");
        assert!(stderr.contains("past the longest such file"), "{name}: {stderr}");
        std::fs::remove_file(&path).unwrap();
    }
}
