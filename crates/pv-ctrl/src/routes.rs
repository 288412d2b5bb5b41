//! The route table: every method and path template the server answers.
//!
//! A template segment in braces (`{name}`) matches exactly one non-empty
//! path segment; empty segments (`//`, a trailing `/`) are ignored, as the
//! original splits paths. A path that matches no template is an unknown
//! endpoint; a path that matches only with another method gets "Method not
//! supported". `crates/pv-ctrl/openapi.json` documents exactly these routes
//! (a test keeps them in step).

use crate::error::ApiError;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Containers,
    ContainerAction,
    Groups,
    Signal,
    Commands,
    Objects,
    ObjectPut,
    ObjectGet,
    Steps,
    StepGet,
    LocalStepGet,
    LocalStepPut,
    StepProgress,
    LocalStepProgress,
    StepCommitMsg,
    LocalStepCommitMsg,
    UserMeta,
    UserMetaPut,
    UserMetaDelete,
    DeviceMeta,
    DeviceMetaPut,
    DeviceMetaDelete,
    XconnectGraph,
    BuildInfo,
    Drivers,
    DriversLoad,
    DriversUnload,
    DriverLoad,
    DriverUnload,
    Daemons,
    DaemonAction,
    Config,
    Config2,
    StorageGc,
    Wakelocks,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Host and `mgmt` containers only (403 otherwise).
    Mgmt,
    /// Any known caller.
    Any,
}

/// What the server does with a route's request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPolicy {
    /// Read and discard.
    Ignore,
    /// Read at most this many bytes; more → 507.
    Limit(usize),
    /// A state JSON, capped by [`crate::CtrlConfig::max_state_json`].
    StateJson,
    /// Streamed into the object pool.
    Object,
}

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `PUT`, `POST` or `DELETE`.
    pub method: &'static str,
    /// Path template, OpenAPI style.
    pub template: &'static str,
    pub endpoint: Endpoint,
    pub access: Access,
    pub body: BodyPolicy,
}

const fn r(
    method: &'static str,
    template: &'static str,
    endpoint: Endpoint,
    body: BodyPolicy,
) -> Route {
    Route {
        method,
        template,
        endpoint,
        access: Access::Mgmt,
        body,
    }
}

use crate::{MAX_ACTION_BODY as ACT, MAX_COMMIT_MSG as MSG, MAX_SMALL_BODY as SMALL};
use BodyPolicy::{Ignore, Limit};
use Endpoint as E;

/// Every route, in the order ties are broken.
pub const ROUTES: &[Route] = &[
    r("GET", "/containers", E::Containers, Ignore),
    r("PUT", "/containers/{name}", E::ContainerAction, Limit(ACT)),
    r("GET", "/groups", E::Groups, Ignore),
    Route {
        method: "POST",
        template: "/signal",
        endpoint: E::Signal,
        access: Access::Any,
        body: Limit(SMALL),
    },
    r("POST", "/commands", E::Commands, Limit(SMALL)),
    r("GET", "/objects", E::Objects, Ignore),
    r("PUT", "/objects/{sha}", E::ObjectPut, BodyPolicy::Object),
    r("GET", "/objects/{sha}", E::ObjectGet, Ignore),
    r("GET", "/steps", E::Steps, Ignore),
    r("GET", "/steps/locals/{name}", E::LocalStepGet, Ignore),
    r(
        "PUT",
        "/steps/locals/{name}",
        E::LocalStepPut,
        BodyPolicy::StateJson,
    ),
    r(
        "GET",
        "/steps/locals/{name}/progress",
        E::LocalStepProgress,
        Ignore,
    ),
    r(
        "PUT",
        "/steps/locals/{name}/commitmsg",
        E::LocalStepCommitMsg,
        Limit(MSG),
    ),
    r("GET", "/steps/{rev}", E::StepGet, Ignore),
    r("GET", "/steps/{rev}/progress", E::StepProgress, Ignore),
    r(
        "PUT",
        "/steps/{rev}/commitmsg",
        E::StepCommitMsg,
        Limit(MSG),
    ),
    r("GET", "/user-meta", E::UserMeta, Ignore),
    r("PUT", "/user-meta/{key}", E::UserMetaPut, Limit(SMALL)),
    r("DELETE", "/user-meta/{key}", E::UserMetaDelete, Ignore),
    r("GET", "/device-meta", E::DeviceMeta, Ignore),
    r("PUT", "/device-meta/{key}", E::DeviceMetaPut, Limit(SMALL)),
    r("DELETE", "/device-meta/{key}", E::DeviceMetaDelete, Ignore),
    r("GET", "/xconnect-graph", E::XconnectGraph, Ignore),
    r("GET", "/buildinfo", E::BuildInfo, Ignore),
    r("GET", "/drivers", E::Drivers, Ignore),
    r("PUT", "/drivers/load", E::DriversLoad, Ignore),
    r("PUT", "/drivers/unload", E::DriversUnload, Ignore),
    r("PUT", "/drivers/{name}/load", E::DriverLoad, Ignore),
    r("PUT", "/drivers/{name}/unload", E::DriverUnload, Ignore),
    r("GET", "/daemons", E::Daemons, Ignore),
    r("PUT", "/daemons/{name}", E::DaemonAction, Limit(ACT)),
    r("GET", "/config", E::Config, Ignore),
    r("GET", "/config2", E::Config2, Ignore),
    r("POST", "/storage/gc", E::StorageGc, Ignore),
    r("GET", "/wakelocks", E::Wakelocks, Ignore),
];

/// A route matched by a request, with the path segments that filled its
/// `{...}` holes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: &'static Route,
    pub params: Vec<&'a str>,
}

/// The non-empty segments of `path`.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn fit<'a>(template: &str, segs: &[&'a str]) -> Option<Vec<&'a str>> {
    let tsegs = segments(template);
    if tsegs.len() != segs.len() {
        return None;
    }
    let mut params = vec![];
    for (t, s) in tsegs.iter().zip(segs) {
        if t.starts_with('{') {
            params.push(*s);
        } else if t != s {
            return None;
        }
    }
    Some(params)
}

fn literal_count(template: &str) -> usize {
    segments(template)
        .iter()
        .filter(|s| !s.starts_with('{'))
        .count()
}

/// Route `method` + `path` (no query string). `uri` names the request in
/// the unknown-endpoint error.
pub fn match_route<'a>(method: &str, path: &'a str, uri: &str) -> Result<Matched<'a>, ApiError> {
    let segs = segments(path);
    let mut path_known = false;
    let mut best: Option<Matched<'a>> = None;
    for route in ROUTES {
        let Some(params) = fit(route.template, &segs) else {
            continue;
        };
        path_known = true;
        if route.method != method {
            continue;
        }
        let better = best
            .as_ref()
            .is_none_or(|b| literal_count(route.template) > literal_count(b.route.template));
        if better {
            best = Some(Matched { route, params });
        }
    }
    match best {
        Some(m) => Ok(m),
        None if path_known => Err(ApiError::method_not_supported()),
        None => Err(ApiError::unknown_endpoint(uri)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(method: &str, path: &str) -> Result<(Endpoint, Vec<String>), ApiError> {
        match_route(method, path, path).map(|m| {
            (
                m.route.endpoint,
                m.params.iter().map(|s| s.to_string()).collect(),
            )
        })
    }

    #[test]
    fn literal_and_templated() {
        assert_eq!(ep("GET", "/containers").unwrap().0, E::Containers);
        assert_eq!(
            ep("PUT", "/containers/app").unwrap(),
            (E::ContainerAction, vec!["app".to_string()])
        );
        assert_eq!(ep("PUT", "/drivers/load").unwrap().0, E::DriversLoad);
        assert_eq!(
            ep("PUT", "/drivers/wifi/load").unwrap(),
            (E::DriverLoad, vec!["wifi".to_string()])
        );
        assert_eq!(ep("GET", "/steps/locals/x").unwrap().0, E::LocalStepGet);
        assert_eq!(ep("GET", "/steps/current").unwrap().0, E::StepGet);
        assert_eq!(ep("GET", "/steps/0/progress").unwrap().0, E::StepProgress);
        assert_eq!(
            ep("GET", "/steps/locals/x/progress").unwrap().0,
            E::LocalStepProgress
        );
        assert_eq!(ep("GET", "//containers/").unwrap().0, E::Containers);
    }

    #[test]
    fn errors() {
        assert_eq!(
            ep("GET", "/nope").unwrap_err().body(),
            r#"{"Error":"unknown endpoint: /nope"}"#
        );
        assert_eq!(
            ep("POST", "/containers").unwrap_err(),
            ApiError::method_not_supported()
        );
        assert_eq!(
            ep("GET", "/user-meta/key").unwrap_err(),
            ApiError::method_not_supported()
        );
        assert_eq!(ep("PUT", "/steps/locals/a/b").unwrap_err().status(), 400);
        assert!(ep("HEAD", "/containers").is_err());
    }

    #[test]
    fn templates_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    (a.method, a.template) != (b.method, b.template),
                    "{} {}",
                    a.method,
                    a.template
                );
            }
        }
    }
}
