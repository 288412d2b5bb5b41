//! An export tarball from an untrusted source: reading it must never panic
//! and never write outside the pool it is given.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.tar");
    std::fs::write(&file, data).unwrap();
    let pool = pv_objects::ObjectStore::open(dir.path().join("objects")).unwrap();
    let _ = pv_export::read_export(&file, &pool);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name();
        assert!(name == "in.tar" || name == "objects", "unexpected {name:?}");
    }
});
