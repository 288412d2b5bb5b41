//! The same store scenario against SQLite and a throwaway PostgreSQL
//! cluster (Debian's `postgresql`, see scripts/deps.sh). When PostgreSQL
//! is missing or cannot start, the test fails with the reason: it never
//! skips silently.

use ph_store::{
    now_nanos, Db, Device, FleetQuery, LogEntry, LogQuery, NewAccount, ObjectRecord, Rollout,
};
use pv_testkit::pg::PgCluster;
use serde_json::{json, Map};

/// Accounts, devices, objects (quota sum), logs (generated ids) and a
/// rollout whose concurrent compare-and-swap writes land exactly once.
async fn scenario(db: Db) {
    let now = now_nanos();
    db.create_account(&NewAccount {
        id: "a1".into(),
        prn: "prn:::accounts:/a1".into(),
        nick: "user1".into(),
        email: "u1@example.com".into(),
        password_hash: "x".into(),
        challenge: String::new(),
        kind: "USER".into(),
    })
    .await
    .unwrap();
    assert_eq!(db.account_by_nick("user1").await.unwrap().unwrap().id, "a1");
    let dev = Device {
        id: "d1".into(),
        prn: "prn:::devices:/d1".into(),
        nick: "dev1".into(),
        owner: "prn:::accounts:/a1".into(),
        secret: "s".into(),
        challenge: String::new(),
        public: true,
        user_meta: Map::new(),
        device_meta: Map::new(),
        created: now,
        modified: now,
    };
    db.create_device(&dev).await.unwrap();
    assert!(db.create_device(&dev).await.is_err(), "duplicate device");
    assert_eq!(db.device_by_id("d1").await.unwrap().unwrap(), dev);
    for (sid, size) in [("s1", 5), ("s2", 7)] {
        db.put_object(&ObjectRecord {
            storage_id: sid.into(),
            sha: format!("sha-{sid}"),
            owner: dev.owner.clone(),
            objectname: "f".into(),
            size,
            mime_type: String::new(),
            linked: String::new(),
            uploaded: false,
            created: now,
            modified: now,
        })
        .await
        .unwrap();
    }
    assert_eq!(db.object_usage(&dev.owner, "s1").await.unwrap(), 7);
    assert_eq!(db.object_usage(&dev.owner, "").await.unwrap(), 12);
    let logs: Vec<LogEntry> = (0..3)
        .map(|i| LogEntry {
            dev: dev.prn.clone(),
            own: dev.owner.clone(),
            created: now + i,
            msg: format!("line {i}"),
            ..Default::default()
        })
        .collect();
    db.insert_logs(&logs).await.unwrap();
    let (n, got) = db
        .query_logs(&LogQuery {
            own: dev.owner.clone(),
            page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert!(got.iter().all(|l| l.id > 0));

    let mut r = Rollout {
        id: "r1".into(),
        owner: dev.owner.clone(),
        status: "running".into(),
        reason: String::new(),
        commit_msg: "m".into(),
        state: json!({"#spec": "pantavisor-service-system@1"}),
        state_sha: "x".into(),
        threshold: 0.25,
        waves: json!([{"devices": ["d1"], "revs": {}, "started": false, "tolerated": 0}]),
        version: 0,
        created: now,
        modified: now,
    };
    db.create_rollout(&r, &["d1".into()]).await.unwrap();
    assert_eq!(db.rollout("r1").await.unwrap().unwrap().threshold, 0.25);
    assert_eq!(db.running_rollouts_of_device("d1").await.unwrap(), ["r1"]);
    let mut a = r.clone();
    let mut b = r.clone();
    a.waves[0]["started"] = json!(true);
    b.status = "paused".into();
    let (wa, wb) = tokio::join!(db.update_rollout(&mut a), db.update_rollout(&mut b));
    assert!(
        wa.unwrap() ^ wb.unwrap(),
        "exactly one writer of version 0 wins"
    );
    r = db.rollout("r1").await.unwrap().unwrap();
    assert_eq!(r.version, 1);
    r.status = "done".into();
    assert!(db.update_rollout(&mut r).await.unwrap());
    assert!(db
        .running_rollouts_of_device("d1")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(db.rollouts_of(&dev.owner).await.unwrap().len(), 1);

    fleet_filters(&db, &dev).await;
}

/// The fleet's metadata filter is an exact key/value match on either map,
/// never a match inside another key's text.
async fn fleet_filters(db: &Db, first: &Device) {
    let devices = [
        ("lab", json!({"site": "lab", "tier": "canary"}), json!({})),
        ("lab2", json!({"site": "lab2"}), json!({})),
        // `site` and `lab` as a key and value of a nested map
        ("nested", json!({"cfg": {"site": "lab"}}), json!({})),
        // the text `"site":"lab"` inside another key's value
        ("decoy", json!({"note": "\"site\":\"lab\""}), json!({})),
        (
            "arm",
            json!({}),
            json!({"arch": "aarch64", "cores": 4, "ok": true}),
        ),
        ("odd", json!({"a_b%": "50%", "q": "say \"hi\""}), json!({})),
    ];
    for (nick, user, device) in &devices {
        let mut d = first.clone();
        d.id = format!("f-{nick}");
        d.prn = format!("prn:::devices:/f-{nick}");
        d.nick = nick.to_string();
        d.user_meta = user.as_object().unwrap().clone();
        d.device_meta = device.as_object().unwrap().clone();
        db.create_device(&d).await.unwrap();
    }
    let matching = |filter: &'static str| async move {
        let q = FleetQuery {
            owner: first.owner.clone(),
            meta: Some(filter.into()),
            offset: 0,
            limit: 100,
        };
        let rows = db.fleet_page(&q).await.unwrap();
        let counts = db.fleet_counts(&q, 0).await.unwrap();
        assert_eq!(counts.total as usize, rows.len(), "{filter}");
        rows.into_iter().map(|r| r.nick).collect::<Vec<_>>()
    };
    assert_eq!(matching("site=lab").await, ["lab"]);
    assert_eq!(matching(" site = lab2 ").await, ["lab2"]);
    assert_eq!(matching("site=la").await, Vec::<String>::new());
    assert_eq!(matching("site").await, ["lab", "lab2"]);
    assert_eq!(matching("note").await, ["decoy"]);
    assert_eq!(matching("tier=canary").await, ["lab"]);
    // device-meta too, numbers and booleans as JSON writes them
    assert_eq!(matching("arch=aarch64").await, ["arm"]);
    assert_eq!(matching("cores=4").await, ["arm"]);
    assert_eq!(matching("ok=true").await, ["arm"]);
    assert_eq!(matching("arch=aarch").await, Vec::<String>::new());
    // SQL and JSON special characters are plain text
    assert_eq!(matching("a_b%=50%").await, ["odd"]);
    assert_eq!(matching("a%").await, Vec::<String>::new());
    assert_eq!(matching("q=say \"hi\"").await, ["odd"]);
    assert_eq!(matching("nothing").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    scenario(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backend() {
    let pg = PgCluster::start();
    let db = Db::open_url(&pg.url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", pg.url));
    // a second hub opening the same database finds the schema in place
    let again = Db::open_url(&pg.url).await.unwrap();
    again.ping().await.unwrap();
    scenario(db).await;
}
