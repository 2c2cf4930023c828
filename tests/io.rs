//! The I/O gate: file helpers, fault injection, the directory lock and the
//! memory maps.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::ErrorKind;
use std::path::Path;

use strata::Error;
use strata::internals::io::fault::{self, FaultPlan, Op};
use strata::internals::io::{DirLock, IndexMap, ReadMap, file};

fn is_injected(err: &Error) -> bool {
    matches!(err, Error::Io { source, .. }
        if source.kind() == ErrorKind::Other && source.to_string().starts_with("injected fault: "))
}

#[test]
fn injected_write_fault_surfaces_as_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let f = file::create_new(&path).unwrap();
    let _g = fault::arm(FaultPlan::new().fail_every(Op::Write));
    let err = file::write_all_at(&f, &path, b"abc", 0).unwrap_err();
    assert!(is_injected(&err), "{err}");
    match &err {
        Error::Io { op, path: p, .. } => assert_eq!((*op, p.as_path()), ("write", path.as_path())),
        other => panic!("not an Io error: {other}"),
    }
    assert_eq!(file::len(&f, &path).unwrap(), 0);
}

#[test]
fn nth_call_fault_fails_only_that_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let f = file::create_new(&path).unwrap();
    let g = fault::arm(FaultPlan::new().fail_nth(Op::Sync, 2));
    assert!(file::sync_data(&f, &path).is_ok());
    assert!(is_injected(&file::sync_all(&f, &path).unwrap_err()));
    assert!(file::sync_data(&f, &path).is_ok());
    assert_eq!((g.calls(Op::Sync), g.injected()), (3, 1));
}

#[test]
fn fail_from_nth_keeps_failing_and_drop_disarms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let f = file::create_new(&path).unwrap();
    {
        let _g = fault::arm(FaultPlan::new().fail_from_nth(Op::Write, 2));
        assert!(file::append(&f, &path, b"a").is_ok());
        assert!(file::append(&f, &path, b"b").is_err());
        assert!(file::append(&f, &path, b"c").is_err());
    }
    assert!(file::append(&f, &path, b"d").is_ok());
    assert_eq!(file::read(&path).unwrap(), b"ad");
}

#[test]
fn named_fault_point_fails_only_while_armed() {
    assert!(fault::point("swap::after_rename").is_ok());
    let g = fault::arm(FaultPlan::new().fail_point("swap::after_rename"));
    assert!(fault::point("swap::before_rename").is_ok());
    assert!(is_injected(&fault::point("swap::after_rename").unwrap_err()));
    drop(g);
    assert!(fault::point("swap::after_rename").is_ok());
}

#[test]
fn faults_armed_on_one_thread_do_not_affect_another() {
    let _g = fault::arm(FaultPlan::new().fail_every(Op::Metadata).fail_point("p"));
    assert!(file::exists(Path::new(".")).is_err());
    std::thread::spawn(|| {
        assert!(file::exists(Path::new(".")).unwrap());
        assert!(fault::point("p").is_ok());
    })
    .join()
    .unwrap();
}

#[test]
fn nested_guard_restores_the_outer_plan() {
    let _outer = fault::arm(FaultPlan::new().fail_point("outer"));
    {
        let _inner = fault::arm(FaultPlan::new().fail_point("inner"));
        assert!(fault::point("outer").is_ok());
        assert!(fault::point("inner").is_err());
    }
    assert!(fault::point("outer").is_err());
    assert!(fault::point("inner").is_ok());
}

#[test]
fn second_lock_on_a_directory_fails_with_directory_locked() {
    let dir = tempfile::tempdir().unwrap();
    let lock = DirLock::acquire(dir.path()).unwrap();
    assert_eq!(lock.dir(), dir.path());
    match DirLock::acquire(dir.path()) {
        Err(Error::DirectoryLocked { path, .. }) => assert_eq!(path, dir.path()),
        other => panic!("expected DirectoryLocked, got {other:?}"),
    }
    drop(lock);
    DirLock::acquire(dir.path()).unwrap();
}

#[test]
fn bytes_from_read_map_outlive_the_map_handle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000000.log");
    std::fs::write(&path, b"hello, segment").unwrap();
    let f = file::open_read(&path).unwrap();
    let map = ReadMap::map(&f, &path, 14).unwrap();
    let view = map.bytes(7, 14, 14);
    drop(map);
    drop(f);
    file::remove_file(&path).unwrap();
    assert_eq!(&view[..], b"segment");
    let clone = view.slice(1..4);
    drop(view);
    assert_eq!(&clone[..], b"egm");
}

#[test]
fn read_map_longer_than_the_file_views_only_the_published_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("active.log");
    let f = file::create_new(&path).unwrap();
    file::write_all_at(&f, &path, b"first", 0).unwrap();
    let map = ReadMap::map(&f, &path, 1 << 20).unwrap();
    assert_eq!(map.len(), 1 << 20);
    assert_eq!(&map.bytes(0, 1 << 20, 5)[..], b"first");
    file::write_all_at(&f, &path, b"+second", 5).unwrap();
    assert_eq!(&map.bytes(0, 100, 12)[..], b"first+second");
    assert_eq!(&map.bytes(6, 12, 12)[..], b"second");
}

#[test]
fn read_map_views_inside_an_earlier_view_stay_within_each_callers_published_length() {
    // Views reuse the longest view made so far: one asking less must still
    // get exactly its range, and one asking more must see the new bytes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("active.log");
    let f = file::create_new(&path).unwrap();
    file::write_all_at(&f, &path, b"first+second", 0).unwrap();
    let map = ReadMap::map(&f, &path, 1 << 20).unwrap();
    assert_eq!(&map.bytes(0, 100, 12)[..], b"first+second");
    assert_eq!(&map.bytes(0, 100, 5)[..], b"first", "clamped to the published length asked");
    assert_eq!(&map.bytes(2, 4, 12)[..], b"rs");
    file::write_all_at(&f, &path, b"+third", 12).unwrap();
    assert_eq!(&map.bytes(6, 100, 18)[..], b"second+third");
    let copy = map.clone();
    assert_eq!(&copy.bytes(13, 18, 18)[..], b"third");
    assert_eq!(&copy.bytes(0, 18, 18)[..], b"first+second+third");
}

#[test]
fn read_map_clamps_out_of_range_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    std::fs::write(&path, b"0123456789").unwrap();
    let f = file::open_read(&path).unwrap();
    let map = ReadMap::map(&f, &path, 10).unwrap();
    assert_eq!(&map.bytes(8, 50, 50)[..], b"89");
    assert!(map.bytes(9, 3, 10).is_empty());
    assert!(map.bytes(20, 30, 10).is_empty());
    assert!(map.bytes(0, 10, 0).is_empty());
}

#[test]
fn read_map_of_length_zero_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.log");
    let f = file::create_new(&path).unwrap();
    let map = ReadMap::map(&f, &path, 0).unwrap();
    assert!(map.is_empty());
    assert!(map.bytes(0, 10, 10).is_empty());
    assert!(ReadMap::empty().bytes(0, 10, 10).is_empty());
    assert_eq!(ReadMap::default().len(), 0);
}

#[test]
fn index_map_writes_read_back_and_survive_resize() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.index");
    let f = file::create_new(&path).unwrap();
    file::set_len(&f, &path, 16).unwrap();
    let mut map = IndexMap::open(&path, true).unwrap();
    map.write_at(8, &[1, 2, 3, 4]).unwrap();
    map.flush().unwrap();
    let mut buf = [0; 4];
    map.read_at(8, &mut buf).unwrap();
    assert_eq!(buf, [1, 2, 3, 4]);
    assert!(map.write_at(14, &[0; 4]).is_err());
    assert!(map.read_at(usize::MAX, &mut buf).is_err());
    map.resize(12).unwrap();
    assert_eq!((map.len(), file::len(&f, &path).unwrap()), (12, 12));
    assert_eq!(map.as_slice(), &[0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    map.resize(0).unwrap();
    assert!(map.is_empty());
    assert!(IndexMap::open(&path, false).unwrap().is_empty());
}

#[test]
fn read_only_index_map_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.index");
    std::fs::write(&path, [7; 8]).unwrap();
    let mut map = IndexMap::open(&path, false).unwrap();
    assert!(map.write_at(0, &[0]).is_err());
    assert!(map.resize(16).is_err());
    assert_eq!(map.as_slice(), &[7; 8]);
}

#[test]
fn write_atomic_replaces_the_file_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recovery-point-offset-checkpoint");
    file::write_atomic(&path, b"0\n1\nt 0 5\n").unwrap();
    file::write_atomic(&path, b"0\n1\nt 0 9\n").unwrap();
    assert_eq!(file::read(&path).unwrap(), b"0\n1\nt 0 9\n");
    assert_eq!(file::read_dir(dir.path()).unwrap(), vec![path]);
}

/// A failed replacement keeps the old bytes and leaves no `path.tmp` behind
/// (on a full disk its blocks are wanted back at once).
#[test]
fn failed_write_atomic_keeps_the_old_contents_and_removes_its_temp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log-start-offset-checkpoint");
    file::write_atomic(&path, b"old").unwrap();
    for op in [Op::Open, Op::Write, Op::Sync, Op::Rename] {
        let g = fault::arm(FaultPlan::new().fail_every(op));
        assert!(is_injected(&file::write_atomic(&path, b"new").unwrap_err()), "{op:?}");
        let unsynced = file::write_replace_unsynced(&path, b"new");
        // No fsync there: a failing one does not stop it.
        assert_eq!(unsynced.as_ref().is_err_and(is_injected), op != Op::Sync, "{op:?}");
        drop(g);
        if op == Op::Sync {
            file::write_atomic(&path, b"old").unwrap();
        }
        assert_eq!(file::read(&path).unwrap(), b"old", "{op:?}");
        assert_eq!(file::read_dir(dir.path()).unwrap(), vec![path.clone()], "{op:?}");
    }
}

#[test]
fn read_up_to_at_stops_at_the_end_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    std::fs::write(&path, b"abcdef").unwrap();
    let f = file::open_rw(&path).unwrap();
    let mut buf = [0; 8];
    assert_eq!(file::read_up_to_at(&f, &path, &mut buf, 2).unwrap(), 4);
    assert_eq!(&buf[..4], b"cdef");
    let err = file::read_exact_at(&f, &path, &mut buf, 2).unwrap_err();
    assert!(
        matches!(err, Error::Io { ref source, .. } if source.kind() == ErrorKind::UnexpectedEof)
    );
}

#[test]
fn rename_and_remove_report_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b.deleted"));
    std::fs::write(&a, b"x").unwrap();
    file::rename(&a, &b).unwrap();
    assert!(!file::exists(&a).unwrap() && file::exists(&b).unwrap());
    assert!(file::remove_file(&a).is_err());
    assert!(!file::remove_file_if_exists(&a).unwrap());
    assert!(file::remove_file_if_exists(&b).unwrap());
    let sub = dir.path().join("t-0").join("x");
    file::create_dir_all(&sub).unwrap();
    file::remove_dir_all(&dir.path().join("t-0")).unwrap();
    assert_eq!(file::with_suffix(&b, ".swap"), dir.path().join("b.deleted.swap"));
}

#[test]
fn observer_sees_each_completed_operation_in_order_with_rename_targets() {
    use std::cell::RefCell;
    use std::path::PathBuf;
    use std::rc::Rc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a");
    type Seen = Vec<(Op, PathBuf, Option<PathBuf>)>;
    let seen: Rc<RefCell<Seen>> = Rc::default();
    let sink = Rc::clone(&seen);
    let guard = fault::observe(move |d| {
        sink.borrow_mut().push((d.op, d.path.to_path_buf(), d.to.map(Path::to_path_buf)));
    });
    file::write_atomic(&path, b"x").unwrap();
    // A failed operation is not reported.
    assert!(file::remove_file(&dir.path().join("missing")).is_err());
    drop(guard);
    file::write_atomic(&path, b"y").unwrap();
    let tmp = dir.path().join("a.tmp");
    let ops: Vec<_> =
        seen.borrow().iter().map(|(op, p, to)| (*op, p.clone(), to.clone())).collect();
    assert_eq!(
        ops,
        vec![
            (Op::Open, tmp.clone(), None),
            (Op::Write, tmp.clone(), None),
            (Op::Sync, tmp.clone(), None),
            (Op::Rename, tmp, Some(path)),
            (Op::SyncDir, dir.path().to_path_buf(), None),
        ]
    );
}
