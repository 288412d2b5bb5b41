//! `steps install <file.tgz> [locals/<name>]`: a tarball holding a state
//! `json` and an `objects/` directory is stored as a local revision: the
//! objects the device lacks are uploaded, then the state JSON (unless a
//! revision of that name exists), and the revision name is printed as
//! `{"revision":"<name>"}`.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::run::{put_object, put_step, Answer, Ctx, EXIT_OK, EXIT_USAGE};
use pv_ctrl_client::ClientError;

fn names_in(a: &Answer, field: &str) -> Vec<String> {
    serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[field].as_str().map(str::to_string))
        .collect()
}

fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

fn unpack(path: &Path, into: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    tar::Archive::new(flate2::read::GzDecoder::new(f)).unpack(into)
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
    unpack(path, work.path()).map_err(input)?;
    let json = work.path().join("json");
    let objects = work.path().join("objects");
    if !json.is_file() || !objects.is_dir() {
        println!("ERROR: wrong contents of compressed step");
        return Ok(EXIT_USAGE);
    }
    let rev = match rev.filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => format!("locals/{}", file_sha256(path).map_err(input)?),
    };

    let listed = ctx.call("GET", "/objects", pv_ctrl_client::Body::None, None)?;
    if listed.status != 200 {
        return Ok(ctx.show(&listed));
    }
    let present = names_in(&listed, "sha256");
    let mut entries: Vec<_> = std::fs::read_dir(&objects)
        .map_err(input)?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let sha = e.file_name().to_string_lossy().into_owned();
        if present.contains(&sha) {
            continue;
        }
        let a = put_object(ctx, &e.path().to_string_lossy(), &sha)?;
        if a.status != 200 {
            return Ok(ctx.show(&a));
        }
    }

    let steps = ctx.call("GET", "/steps", pv_ctrl_client::Body::None, None)?;
    if steps.status != 200 {
        return Ok(ctx.show(&steps));
    }
    if !names_in(&steps, "name").contains(&rev) {
        let a = put_step(ctx, &json, &rev)?;
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
