//! Request routing: which operation a method and a path name.
//!
//! The endpoint answers under `/cgi-bin/pvr` (what `pvr clone <ip>`
//! expands to), and also under `/cgi-bin` and `/`, so that both spellings
//! of the golden path work: `pvr clone http://<dev>:12368/cgi-bin` and
//! `pvr post http://<dev>:12368`. Every URL it hands out uses
//! `/cgi-bin/pvr`.

/// What a request asks for. Revisions are validated
/// ([`pv_types::is_revision_or_current`]): a number (`0`, `12`), `current`,
/// or `locals/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET [/steps/<rev>]/.pvrremote`
    Remote { rev: String },
    /// `GET /steps/<rev>/state`
    State { rev: String },
    /// `GET /steps/<rev>` — the step object (`.pvrremote`'s `step-get-url`).
    Step { rev: String },
    /// `GET /steps` — the device's revisions (pv-ctrl's list).
    Steps,
    /// `GET /steps/<rev>/progress`
    Progress { rev: String },
    /// `GET [/steps/<rev>]/objects/<sha>` — object info with a signed GET URL.
    ObjectInfo { sha: String },
    /// `POST [/steps/<rev>]/objects[/]` — announce an object to upload.
    ObjectAnnounce,
    /// `GET /blobs/<sha>?<signature>` — object bytes.
    BlobGet { sha: String, query: String },
    /// `PUT /blobs/<sha>?<signature>` — object bytes.
    BlobPut { sha: String, query: String },
    /// `POST /steps[/]` — post a revision (pvr's `post-url`).
    PostStep,
    /// `POST /auth/login` — exchange the token (as password) for a bearer token.
    Login,
    /// `/cgi-bin/pvtx/<op>[?query]` — the pvtx API (`op` is `begin`, `add`,
    /// …, `usermeta/save`; the method is checked by its handler).
    Pvtx { op: String, query: String },
}

/// Why a request has no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    NotFound,
    MethodNotAllowed,
}

/// Is `s` a sha256 in lowercase hex?
pub fn is_sha(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Split `<rev>/<rest…>` where rev is `locals/<name>` or one segment.
fn take_rev<'a>(segs: &'a [&'a str]) -> Option<(String, &'a [&'a str])> {
    match segs {
        ["locals", name, rest @ ..] if pv_types::check_local_name(name).is_ok() => {
            Some((format!("locals/{name}"), rest))
        }
        [rev, rest @ ..] if pv_types::is_revision_or_current(rev) => Some((rev.to_string(), rest)),
        _ => None,
    }
}

/// Route a request. `target` is the request target (path and query).
pub fn route(method: &str, target: &str) -> Result<Route, NoRoute> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if let Some(op) = path.strip_prefix("/cgi-bin/pvtx/") {
        let op = op.trim_end_matches('/');
        if !crate::pvtx_api::OPS.contains(&op) {
            return Err(NoRoute::NotFound);
        }
        return Ok(Route::Pvtx {
            op: op.to_string(),
            query: query.to_string(),
        });
    }
    let path = path
        .strip_prefix("/cgi-bin/pvr")
        .or_else(|| path.strip_prefix("/cgi-bin"))
        .unwrap_or(path);
    let trailing_slash = path.len() > 1 && path.ends_with('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.iter().any(|s| *s == ".." || *s == ".") {
        return Err(NoRoute::NotFound);
    }
    let want = |m: &str, r: Route| {
        if method == m {
            Ok(r)
        } else {
            Err(NoRoute::MethodNotAllowed)
        }
    };
    match segs.as_slice() {
        [".pvrremote"] => want(
            "GET",
            Route::Remote {
                rev: "current".into(),
            },
        ),
        ["auth", "login"] => want("POST", Route::Login),
        ["objects"] => want("POST", Route::ObjectAnnounce),
        ["objects", sha] if is_sha(sha) => want(
            "GET",
            Route::ObjectInfo {
                sha: sha.to_string(),
            },
        ),
        ["blobs", sha] if is_sha(sha) => match method {
            "GET" => Ok(Route::BlobGet {
                sha: sha.to_string(),
                query: query.to_string(),
            }),
            "PUT" => Ok(Route::BlobPut {
                sha: sha.to_string(),
                query: query.to_string(),
            }),
            _ => Err(NoRoute::MethodNotAllowed),
        },
        ["steps"] => match method {
            "GET" if !trailing_slash => Ok(Route::Steps),
            "GET" => Ok(Route::Steps),
            "POST" => Ok(Route::PostStep),
            _ => Err(NoRoute::MethodNotAllowed),
        },
        ["steps", rest @ ..] => {
            let (rev, rest) = take_rev(rest).ok_or(NoRoute::NotFound)?;
            match rest {
                [] => want("GET", Route::Step { rev }),
                [".pvrremote"] => want("GET", Route::Remote { rev }),
                ["state"] => want("GET", Route::State { rev }),
                ["progress"] => want("GET", Route::Progress { rev }),
                ["objects"] => want("POST", Route::ObjectAnnounce),
                ["objects", sha] if is_sha(sha) => want(
                    "GET",
                    Route::ObjectInfo {
                        sha: sha.to_string(),
                    },
                ),
                _ => Err(NoRoute::NotFound),
            }
        }
        _ => Err(NoRoute::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn the_three_bases_and_the_golden_path() {
        for base in ["", "/cgi-bin", "/cgi-bin/pvr"] {
            assert_eq!(
                route("GET", &format!("{base}/.pvrremote")),
                Ok(Route::Remote {
                    rev: "current".into()
                })
            );
            assert_eq!(route("POST", &format!("{base}/steps")), Ok(Route::PostStep));
            assert_eq!(
                route("POST", &format!("{base}/objects/")),
                Ok(Route::ObjectAnnounce)
            );
        }
        assert_eq!(
            route("GET", "/cgi-bin/pvr/steps/locals/x/state"),
            Ok(Route::State {
                rev: "locals/x".into()
            })
        );
        assert_eq!(
            route("GET", "/cgi-bin/pvr/steps/locals/x"),
            Ok(Route::Step {
                rev: "locals/x".into()
            })
        );
        assert_eq!(
            route("GET", "/cgi-bin/pvr/steps/current/"),
            Ok(Route::Step {
                rev: "current".into()
            })
        );
        assert_eq!(
            route("GET", "/cgi-bin/pvr/steps/3/.pvrremote"),
            Ok(Route::Remote { rev: "3".into() })
        );
        assert_eq!(
            route("GET", &format!("/cgi-bin/pvr/steps/current/objects/{SHA}")),
            Ok(Route::ObjectInfo { sha: SHA.into() })
        );
        assert_eq!(
            route(
                "PUT",
                &format!("/cgi-bin/pvr/blobs/{SHA}?expires=1&signature=ab")
            ),
            Ok(Route::BlobPut {
                sha: SHA.into(),
                query: "expires=1&signature=ab".into()
            })
        );
    }

    #[test]
    fn rejects_what_is_not_a_revision_or_an_object() {
        for bad in [
            "/steps/../state",
            "/steps/locals/../state",
            "/steps/locals/a/b/state",
            "/steps/abc/state",
            "/objects/E3B0",
            "/blobs/xyz",
            "/etc/passwd",
            &format!("/steps/locals/{}/state", "n".repeat(65)),
        ] {
            assert_eq!(route("GET", bad), Err(NoRoute::NotFound), "{bad}");
        }
        // the name rule is pv-types' (64 bytes); nothing is percent-decoded
        for name in ["n".repeat(64), "%2e%2e".to_string()] {
            assert_eq!(
                route("GET", &format!("/steps/locals/{name}/state")),
                Ok(Route::State {
                    rev: format!("locals/{name}")
                })
            );
        }
        assert_eq!(route("DELETE", "/steps"), Err(NoRoute::MethodNotAllowed));
        assert_eq!(
            route("PUT", "/cgi-bin/pvtx/remove?part=a"),
            Ok(Route::Pvtx {
                op: "remove".into(),
                query: "part=a".into()
            })
        );
        assert_eq!(
            route("POST", "/cgi-bin/pvtx/usermeta/save?key=k"),
            Ok(Route::Pvtx {
                op: "usermeta/save".into(),
                query: "key=k".into()
            })
        );
        for bad in [
            "/cgi-bin/pvtx/../pvr/steps",
            "/cgi-bin/pvtx/",
            "/cgi-bin/pvtx/x",
        ] {
            assert_eq!(route("GET", bad), Err(NoRoute::NotFound), "{bad}");
        }
        assert_eq!(route("GET", "/auth/login"), Err(NoRoute::MethodNotAllowed));
    }
}
