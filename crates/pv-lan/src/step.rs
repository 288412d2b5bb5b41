//! `GET /steps/<rev>`: the hub's step object for one revision of the
//! device (what `.pvrremote`'s `step-get-url` names and `pvr stepinfo`
//! prints), assembled from the control API's state, list of steps and
//! device metadata.

use pv_ctrl_client::Body;
use serde_json::{json, Value};

use crate::handlers::{passthrough, Ctx, Reply};

impl Ctx {
    /// The revision `current` names: the device metadata's
    /// `pantavisor.revision`.
    fn current_rev(&self) -> Result<String, Reply> {
        let meta = match self.call("GET", "/device-meta", Body::None)? {
            (200, b) => b,
            (s, b) => return Err(passthrough(s, &b)),
        };
        serde_json::from_slice::<Value>(&meta)
            .ok()
            .and_then(|v| {
                v.get("pantavisor.revision")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Reply::error(503, "the running revision is not known yet"))
    }

    /// `GET /steps/<rev>`: `id`, `rev`, `commit-msg`, `state`, `state-sha`,
    /// `progress`, `step-time`… as the hub answers. A local revision has
    /// `"rev": -1` and its name in `revlocal` (as a post's answer).
    pub fn step(&self, rev: &str) -> Reply {
        let build = || -> Result<Value, Reply> {
            let rev = if rev == "current" {
                self.current_rev()?
            } else {
                rev.to_string()
            };
            let state = match self.call("GET", &format!("/steps/{rev}"), Body::None)? {
                (200, b) => b,
                (s, b) => return Err(passthrough(s, &b)),
            };
            let state = pv_json::parse(&state)
                .map_err(|e| Reply::error(500, format!("state of {rev}: {e}")))?;
            let list = match self.call("GET", "/steps", Body::None)? {
                (200, b) => serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
                (s, b) => return Err(passthrough(s, &b)),
            };
            let entry = list
                .as_array()
                .and_then(|l| l.iter().find(|e| e["name"] == rev.as_str()))
                .cloned()
                .unwrap_or(Value::Null);
            Ok(step_object(&self.trail_id, &rev, state, &entry))
        };
        match build() {
            Ok(v) => Reply::Json(200, v),
            Err(r) => r,
        }
    }
}

/// The step object of revision `rev` from its state and its entry in the
/// control API's `GET /steps` (`{"name","date","commitmsg","progress"}`).
/// The times are the revision's install time (the device keeps no other).
pub(crate) fn step_object(trail_id: &str, rev: &str, state: Value, entry: &Value) -> Value {
    let state_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        pv_json::to_canonical(&state),
    ));
    let used: Vec<&str> = state
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "#spec" && !k.ends_with(".json"))
                .filter_map(|(_, v)| v.as_str())
                .collect()
        })
        .unwrap_or_default();
    let used = json!(used);
    let date = entry["date"].as_str().unwrap_or_default();
    let progress = match &entry["progress"] {
        Value::Null => json!({}),
        p => p.clone(),
    };
    let mut step = json!({
        "id": format!("{trail_id}-{rev}"),
        "owner": trail_id,
        "device": trail_id,
        "committer": "",
        "trail-id": trail_id,
        "rev": rev.parse::<i64>().map(Value::from).unwrap_or(json!(-1)),
        "commit-msg": entry["commitmsg"].as_str().unwrap_or_default(),
        "state": state,
        "state-sha": state_sha,
        "progress": progress,
        "step-time": date,
        "progress-time": date,
        "meta": {},
        "used_objects": used,
        "mark_public_processed": false,
        "garbage": false,
        "time-created": date,
        "time-modified": date,
    });
    if rev.parse::<i64>().is_err() {
        step["revlocal"] = json!(rev);
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn step_objects_of_numbered_and_local_revisions() {
        let state = pv_json::parse(
            format!(r##"{{"b.json":{{"x":1}},"#spec":"pantavisor-service-system@1","a/root.squashfs":"{SHA}"}}"##)
                .as_bytes(),
        )
        .unwrap();
        let entry = json!({"name": "3", "date": "2026-07-01T10:00:00Z", "commitmsg": "m",
            "progress": {"status": "DONE", "progress": 100}});
        let s = step_object("dev1", "3", state.clone(), &entry);
        assert_eq!(s["id"], "dev1-3");
        assert_eq!(s["rev"], 3);
        assert!(s.get("revlocal").is_none());
        assert_eq!(s["commit-msg"], "m");
        assert_eq!(s["progress"]["status"], "DONE");
        assert_eq!(s["step-time"], "2026-07-01T10:00:00Z");
        assert_eq!(s["used_objects"], json!([SHA]));
        let canonical = pv_json::to_canonical(&state);
        assert!(canonical.starts_with(br##"{"#spec""##));
        assert_eq!(
            s["state-sha"],
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&canonical))
        );
        let l = step_object("dev1", "locals/x", state, &Value::Null);
        assert_eq!(
            (l["rev"].clone(), l["revlocal"].clone()),
            (json!(-1), json!("locals/x"))
        );
        assert_eq!(l["progress"], json!({}));
        assert_eq!(l["commit-msg"], "");
    }
}
