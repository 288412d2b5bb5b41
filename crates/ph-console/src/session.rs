//! Sessions: the API's own user token, kept in an `HttpOnly;
//! SameSite=Strict` cookie, and the CSRF token of the forms, derived from
//! it (a page of another site can neither read the cookie nor compute the
//! token). The login form, before any session, has its own token: a
//! random one in a cookie of its own and in the form, which must match
//! (double submit).

use axum::extract::{Form, FromRequestParts, OptionalFromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use maud::html;
use ph_server::AppState;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::layout::page;

/// The session cookie.
pub const COOKIE: &str = "ph_console";
/// The login form's pre-session CSRF cookie.
pub const LOGIN_COOKIE: &str = "ph_console_login";
/// Its lifetime: a login form older than this must be loaded again.
const LOGIN_SECS: u64 = 3600;

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub prn: String,
    pub nick: String,
    /// The token forms must carry back.
    pub csrf: String,
    /// The API token the cookie holds (for in-process API calls).
    pub token: String,
}

fn csrf_of(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ph-console csrf\0");
    h.update(token.as_bytes());
    hex::encode(&h.finalize()[..16])
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE)
}

/// The login form's token from its cookie, if it is one of ours.
fn login_token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Equal strings, compared in a time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session of a request, if its cookie holds a valid user token.
pub fn session_of(hub: &AppState, headers: &HeaderMap) -> Option<Session> {
    let token = cookie_token(headers)?;
    let c = hub.keys.verify(token)?;
    if c.kind != "USER" || c.roles == "anon" {
        return None;
    }
    Some(Session {
        prn: c.prn,
        nick: c.nick,
        csrf: csrf_of(token),
        token: token.to_string(),
    })
}

impl Session {
    /// 403 unless a form carries this session's CSRF token.
    pub fn check(&self, csrf: &str) -> Result<(), Response> {
        if csrf == self.csrf {
            Ok(())
        } else {
            Err((StatusCode::FORBIDDEN, "bad or missing CSRF token").into_response())
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Redirect;
    async fn from_request_parts(parts: &mut Parts, hub: &AppState) -> Result<Self, Redirect> {
        session_of(hub, &parts.headers).ok_or_else(|| Redirect::to("/ui/login"))
    }
}

impl OptionalFromRequestParts<AppState> for Session {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        hub: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(session_of(hub, &parts.headers))
    }
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    e: String,
}

fn login_form(csrf: &str, error: Option<&str>) -> maud::Markup {
    html! {
        section.narrow {
            h1 { "Log in" }
            @if let Some(e) = error { p.error { (e) } }
            form method="post" action="/ui/login" {
                input type="hidden" name="csrf" value=(csrf);
                label { "User or email" input name="username" autofocus required; }
                label { "Password" input type="password" name="password" required; }
                button type="submit" { "Log in" }
            }
        }
    }
}

fn login_cookie(token: &str, secs: u64) -> String {
    format!("{LOGIN_COOKIE}={token}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age={secs}")
}

/// The login form, with the token of the browser's login cookie (a new
/// one when it has none).
pub async fn login_page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let e = (!q.e.is_empty()).then_some("Wrong user or password.");
    let token = match login_token(&headers) {
        Some(t) => t.to_string(),
        None => ph_server::util::random_lower(32),
    };
    (
        [(header::SET_COOKIE, login_cookie(&token, LOGIN_SECS))],
        page("Log in", None, login_form(&token, e)),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    username: String,
    password: String,
}

/// Check the login form's token against its cookie, then the account as
/// the API's `/auth/login` does, then set the session cookie.
pub async fn login(
    State(hub): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let Some(token) = login_token(&headers).filter(|t| same(t, &f.csrf)) else {
        let body = html! {
            section.narrow {
                h1 { "Log in" }
                p.error { "This login form is not valid any more. " a href="/ui/login" { "Log in again" } }
            }
        };
        return (StatusCode::FORBIDDEN, page("Log in", None, body)).into_response();
    };
    let name = f.username.trim();
    let db = &hub.store.db;
    let account = if name.contains('@') {
        db.account_by_email(name).await
    } else {
        db.account_by_nick(name).await
    };
    let account = match account {
        Ok(Some(a)) if a.challenge.is_empty() => Some(a),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("console login: {e}");
            None
        }
    };
    let ok = match &account {
        Some(a) => {
            let (pw, hash) = (f.password.clone(), a.password_hash.clone());
            tokio::task::spawn_blocking(move || ph_server::users::verify_password(&pw, &hash))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    let Some(a) = account.filter(|_| ok) else {
        let body = login_form(token, Some("Wrong user or password."));
        return (StatusCode::UNAUTHORIZED, page("Log in", None, body)).into_response();
    };
    let secs = hub.cfg.token_secs;
    let session = ph_server::users::user_token(&hub.keys, &a, name, secs);
    (
        AppendHeaders([
            (
                header::SET_COOKIE,
                format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={secs}"),
            ),
            // the form's token is spent
            (header::SET_COOKIE, login_cookie("", 0)),
        ]),
        Redirect::to("/ui/fleet"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(s: Session, Form(f): Form<CsrfForm>) -> Response {
    if let Err(r) = s.check(&f.csrf) {
        return r;
    }
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        Redirect::to("/ui/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; ph_console=tok.en; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_token(&h), Some("tok.en"));
        h.insert(header::COOKIE, "ph_consolex=1".parse().unwrap());
        assert_eq!(cookie_token(&h), None);
    }

    #[test]
    fn login_tokens_are_ours_and_compared_whole() {
        let mut h = HeaderMap::new();
        let t = "abcdefghij0123456789abcdefghij01";
        h.insert(
            header::COOKIE,
            format!("ph_console=x; ph_console_login={t}")
                .parse()
                .unwrap(),
        );
        assert_eq!(login_token(&h), Some(t));
        h.insert(header::COOKIE, "ph_console_login=short".parse().unwrap());
        assert_eq!(login_token(&h), None);
        assert!(same(t, t));
        assert!(!same(t, &t[..31]));
        assert!(!same("abc", "abd"));
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert_eq!(csrf_of("a").len(), 32);
    }
}
