//! `steps install <file.tgz> [locals/<name>]`: a tarball holding a state
//! `json` and an `objects/` directory is stored as a local revision: the
//! objects the device lacks are uploaded, then the state JSON (unless a
//! revision of that name exists), and the revision name is printed as
//! `{"revision":"<name>"}`.
//!
//! The tarball is read with the strict export reader (`pv-export`): only
//! `json` and `objects/<sha256>` regular files, every object hashed on the
//! way, every object the state names present. Anything else is refused
//! before a request is sent.

use std::io::Write;
use std::path::Path;

use pv_objects::ObjectStore;

use crate::run::{put_object, put_step, Answer, Ctx, EXIT_OK, EXIT_USAGE};
use pv_ctrl_client::{Body, ClientError};

fn names_in(a: &Answer, field: &str) -> Vec<String> {
    serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[field].as_str().map(str::to_string))
        .collect()
}

/// Run `steps install`; returns the exit status.
pub fn install(ctx: &mut Ctx, path: &Path, rev: Option<String>) -> Result<i32, ClientError> {
    if path.extension().and_then(|e| e.to_str()) != Some("tgz") {
        println!("ERROR: unknown file format");
        return Ok(EXIT_USAGE);
    }
    let input = |source| ClientError::Input {
        path: path.to_path_buf(),
        source,
    };
    let work = tempfile::tempdir().map_err(ClientError::Io)?;
    let pool = ObjectStore::open(work.path().join("objects"))
        .map_err(|e| ClientError::Io(std::io::Error::other(e)))?;
    let content = match pv_export::read_export(path, &pool) {
        Ok(c) => c,
        Err(e) => {
            println!("ERROR: wrong contents of compressed step: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let rev = match rev.filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => {
            let id = pv_objects::hash_reader(std::fs::File::open(path).map_err(input)?)
                .map_err(input)?;
            format!("locals/{id}")
        }
    };

    let listed = ctx.call("GET", "/objects", pv_ctrl_client::Body::None, None)?;
    if listed.status != 200 {
        return Ok(ctx.show(&listed));
    }
    let present = names_in(&listed, "sha256");
    // every object the tarball carried (verified), in name order
    for id in &content.written {
        let sha = id.to_string();
        if present.contains(&sha) {
            continue;
        }
        let a = put_object(ctx, &pool.path(id).to_string_lossy(), &sha)?;
        if a.status != 200 {
            return Ok(ctx.show(&a));
        }
    }

    let steps = ctx.call("GET", "/steps", pv_ctrl_client::Body::None, None)?;
    if steps.status != 200 {
        return Ok(ctx.show(&steps));
    }
    if !names_in(&steps, "name").contains(&rev) {
        let json = content.state.to_canonical();
        let a = put_step(ctx, Body::Bytes(&json), &rev)?;
        if a.status != 200 {
            return Ok(ctx.show(&a));
        }
    }
    let line = format!(
        "{{\"revision\":{}}}\n",
        serde_json::Value::String(rev.clone())
    );
    let _ = ctx.out.write_all(line.as_bytes());
    let _ = ctx.out.flush();
    Ok(EXIT_OK)
}
