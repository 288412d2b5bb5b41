//! Remote references: URL joining, the device shorthand, clone names.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use reqwest::Url;

use super::{redact, RemoteError};
use crate::Result;

/// Port of the pvr endpoint of a device (the pvr-sdk container).
pub const DEVICE_PORT: u16 = 12368;

/// Append `elem` to the path of `url` the way Go's `path.Join` does
/// (`.`/`..`/empty segments cleaned, no trailing slash); the query is kept,
/// the fragment dropped.
pub fn join_path(url: &str, elem: &str) -> Result<String> {
    let mut u = parse_http_url(url)?;
    let joined = clean_path(&format!("{}/{elem}", u.path()));
    u.set_path(&joined);
    u.set_fragment(None);
    Ok(u.into())
}

/// `url` with a trailing slash on its path (`POST <objects-endpoint>/`).
pub fn with_trailing_slash(url: &str) -> Result<String> {
    let mut u = parse_http_url(url)?;
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u.set_fragment(None);
    Ok(u.into())
}

fn parse_http_url(url: &str) -> Result<Url> {
    let bad = |msg: String| RemoteError::BadUrl {
        url: redact(url),
        msg,
    };
    let u = Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("only http and https remotes are supported".into()).into());
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()).into());
    }
    Ok(u)
}

/// Go's `path.Clean` for absolute paths.
fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = vec![];
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// True if `location` (no fragment) is an http(s) URL.
pub fn is_url(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

/// Expand the device shorthand: a bare `IP` or `IP:port` that is not an
/// existing path (relative to `cwd`) stands for
/// `http://IP:<port, default 12368>/cgi-bin/pvr`. The fragment is kept;
/// anything else is returned unchanged.
pub fn expand_reference(reference: &str, cwd: &Path) -> String {
    let (loc, frag) = match reference.split_once('#') {
        Some((l, f)) => (l, Some(f)),
        None => (reference, None),
    };
    if loc.is_empty() || is_url(loc) || cwd.join(loc).exists() {
        return reference.to_string();
    }
    let host_port = if let Ok(ip) = loc.parse::<IpAddr>() {
        SocketAddr::new(ip, DEVICE_PORT).to_string()
    } else if let Ok(sa) = loc.parse::<SocketAddr>() {
        sa.to_string()
    } else {
        return reference.to_string();
    };
    let mut out = format!("http://{host_port}/cgi-bin/pvr");
    if let Some(f) = frag {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The directory `pvr clone <url>` creates without an explicit one: the last
/// path segment that names something (skipping `cgi-bin`, `pvr`,
/// `.pvrremote`, `state` and a trailing `steps/<rev>`), else the host
/// (a device: `http://10.0.0.5:12368/cgi-bin/pvr` → `10.0.0.5`).
pub fn clone_dir_name(url: &str) -> String {
    let loc = url.split_once('#').map_or(url, |(l, _)| l);
    let Ok(u) = Url::parse(loc) else {
        return String::new();
    };
    let mut segs: Vec<&str> = u
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    while let Some(last) = segs.last().copied() {
        let n = segs.len();
        if matches!(last, "cgi-bin" | "pvr" | ".pvrremote" | "state" | "steps") {
            segs.pop();
        } else if n >= 2 && segs[n - 2] == "steps" && last.parse::<i64>().is_ok() {
            segs.truncate(n - 2);
        } else {
            break;
        }
    }
    let name = match segs.last() {
        Some(s) => s.to_string(),
        None => u
            .host_str()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    };
    name.replace(['/', '\\', ':'], "_")
}
