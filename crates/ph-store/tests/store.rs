//! The store on a real SQLite file and a local blob directory.

use bytes::Bytes;
use ph_store::{BlobError, BlobRange, NewStep, Store, StoreError, Trail};
use serde_json::json;
use sha2::Digest;

fn body(
    parts: &[&[u8]],
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    futures_util::stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect::<Vec<_>>(),
    )
}

fn sha(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

#[tokio::test]
async fn blobs_are_published_only_when_verified() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open_dir(t.path()).await.unwrap();
    let b = &store.blobs;
    let s = sha(b"hello world");
    let blobs_dir = t.path().join("objects/blobs");
    // wrong bytes, short, long: refused, nothing left behind
    let e = b
        .put_verified(&s, 11, body(&[b"hello", b" worlD"]))
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::Sha { .. }), "{e}");
    let e = b.put_verified(&s, 11, body(&[b"hello"])).await.unwrap_err();
    assert!(matches!(e, BlobError::Length { got: 5, want: 11 }), "{e}");
    let e = b
        .put_verified(&s, 11, body(&[b"hello world!"]))
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::Length { .. }), "{e}");
    assert_eq!(b.size(&s).await.unwrap(), None);
    assert_eq!(std::fs::read_dir(&blobs_dir).unwrap().count(), 0);
    // the right bytes in chunks
    b.put_verified(&s, 11, body(&[b"hello", b" world"]))
        .await
        .unwrap();
    assert_eq!(b.size(&s).await.unwrap(), Some(11));
    // again (already there): verified, not rewritten; wrong bytes still refused
    b.put_verified(&s, 11, body(&[b"hello world"]))
        .await
        .unwrap();
    assert!(b
        .put_verified(&s, 11, body(&[b"hello worlD"]))
        .await
        .is_err());
    let r = b
        .get(&s, Some(BlobRange::Bounded(6..11)), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.size, r.range.clone()), (11, 6..11));
    let got: Vec<Bytes> = futures_util::TryStreamExt::try_collect(r.stream)
        .await
        .unwrap();
    assert_eq!(got.concat(), b"world");
    assert!(b.get(&sha(b"x"), None, false).await.unwrap().is_none());
}

#[tokio::test]
async fn interrupted_uploads_leave_nothing_behind() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open_dir(t.path()).await.unwrap();
    let blobs_dir = t.path().join("objects/blobs");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let s = sha(&big);
    // the client goes away after two chunks: an error from the body
    let parts: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::copy_from_slice(&big[..1 << 20])),
        Ok(Bytes::copy_from_slice(&big[1 << 20..2 << 20])),
        Err(std::io::Error::other("connection reset")),
    ];
    let e = store
        .blobs
        .put_verified(&s, big.len() as u64, futures_util::stream::iter(parts))
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::Body(_)), "{e}");
    assert_eq!(std::fs::read_dir(&blobs_dir).unwrap().count(), 0);
    // a name that is not a sha never reaches the directory
    let e = store
        .blobs
        .put_verified("../x", 1, body(&[b"x"]))
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::Name(_)), "{e}");
    // the whole body in uneven chunks: stored byte for byte
    let chunks: Vec<&[u8]> = big.chunks(777_777).collect();
    store
        .blobs
        .put_verified(&s, big.len() as u64, body(&chunks))
        .await
        .unwrap();
    assert_eq!(std::fs::read(blobs_dir.join(&s)).unwrap(), big);
    let r = store.blobs.get(&s, None, false).await.unwrap().unwrap();
    let got: Vec<Bytes> = futures_util::TryStreamExt::try_collect(r.stream)
        .await
        .unwrap();
    assert_eq!(got.concat(), big);
    // a temp file left by a crash is removed when the store opens again
    let leftover = blobs_dir.join(format!(".{s}{}1-1", pv_fs::TEMP_MARKER));
    std::fs::write(&leftover, b"half").unwrap();
    drop(store);
    let _store = Store::open_dir(t.path()).await.unwrap();
    assert!(!leftover.exists());
    assert!(blobs_dir.join(&s).exists());
}

fn step(trail: &str, rev: Option<i64>) -> NewStep {
    NewStep {
        trail_id: trail.into(),
        rev,
        owner: "prn:::accounts:/a".into(),
        device: format!("prn:::devices:/{trail}"),
        committer: String::new(),
        commit_msg: "m".into(),
        state: json!({"#spec": "pantavisor-service-system@1"}),
        state_sha: "x".into(),
        progress: json!({"status": "NEW"}),
        status: "NEW".into(),
        meta: json!({}),
        objects: vec!["aa".into()],
        progress_time: 0,
    }
}

#[tokio::test]
async fn steps_follow_the_rev_rules() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open_dir(t.path()).await.unwrap();
    let db = &store.db;
    let tr = Trail {
        id: "t1".into(),
        owner: "prn:::accounts:/a".into(),
        device: "prn:::devices:/t1".into(),
        factory_state: json!({}),
        last_insync: 0,
        last_touched: 0,
        created: 0,
        modified: 0,
    };
    db.create_trail(&tr, &step("t1", Some(0))).await.unwrap();
    assert!(matches!(
        db.create_trail(&tr, &step("t1", Some(0))).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(db.add_step(&step("t1", None)).await.unwrap().rev, 1);
    assert!(matches!(
        db.add_step(&step("t1", Some(1))).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        db.add_step(&step("t1", Some(5))).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(db.add_step(&step("t1", Some(2))).await.unwrap().rev, 2);
    assert!(db
        .set_step_progress("t1", 1, &json!({"status":"DONE"}), "DONE")
        .await
        .unwrap());
    assert!(!db
        .set_step_progress("t1", 9, &json!({}), "X")
        .await
        .unwrap());
    let f = ph_store::StepFilter {
        status_in: Some(vec!["NEW".into(), "QUEUED".into()]),
        ..Default::default()
    };
    let revs: Vec<i64> = db
        .steps("t1", &f)
        .await
        .unwrap()
        .iter()
        .map(|s| s.rev)
        .collect();
    assert_eq!(revs, [0, 2]);
    let f = ph_store::StepFilter {
        status_not_in: Some(vec!["NEW".into()]),
        ..Default::default()
    };
    let revs: Vec<i64> = db
        .steps("t1", &f)
        .await
        .unwrap()
        .iter()
        .map(|s| s.rev)
        .collect();
    assert_eq!(revs, [1]);
    // a state edit only while NEW
    assert!(db
        .set_step_state_if_new("t1", 2, &json!({}), "y", &[])
        .await
        .unwrap());
    assert!(!db
        .set_step_state_if_new("t1", 1, &json!({}), "y", &[])
        .await
        .unwrap());
    assert_eq!(db.latest_step("t1").await.unwrap().unwrap().rev, 2);
}
