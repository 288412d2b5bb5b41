//! Sessions: the API's own user token, kept in an `HttpOnly;
//! SameSite=Strict` cookie, and the CSRF token of the forms, derived from
//! it (a page of another site can neither read the cookie nor compute the
//! token).

use axum::extract::{Form, FromRequestParts, OptionalFromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use ph_server::AppState;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::layout::page;

/// The session cookie.
pub const COOKIE: &str = "ph_console";

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

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
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

fn login_form(error: Option<&str>) -> maud::Markup {
    html! {
        section.narrow {
            h1 { "Log in" }
            @if let Some(e) = error { p.error { (e) } }
            form method="post" action="/ui/login" {
                label { "User or email" input name="username" autofocus required; }
                label { "Password" input type="password" name="password" required; }
                button type="submit" { "Log in" }
            }
        }
    }
}

pub async fn login_page(Query(q): Query<LoginQuery>) -> Response {
    let e = (!q.e.is_empty()).then_some("Wrong user or password.");
    page("Log in", None, login_form(e)).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// Check the account as the API's `/auth/login` does, then set the cookie.
pub async fn login(State(hub): State<AppState>, Form(f): Form<LoginForm>) -> Response {
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
        let body = login_form(Some("Wrong user or password."));
        return (StatusCode::UNAUTHORIZED, page("Log in", None, body)).into_response();
    };
    let secs = hub.cfg.token_secs;
    let token = ph_server::users::user_token(&hub.keys, &a, name, secs);
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={secs}"),
        )],
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
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert_eq!(csrf_of("a").len(), 32);
    }
}
