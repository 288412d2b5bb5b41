//! Accounts: creation (verified or pending), password hashing (argon2),
//! token issuing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ph_store::{Account, NewAccount, Store};

use crate::tokens::{Claims, Keys, SCOPE_ALL};
use crate::util::{account_prn, new_id, random_lower, valid_user_nick};

/// Creating an account failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
    #[error("nick or email already taken")]
    Taken,
    #[error(transparent)]
    Store(ph_store::StoreError),
}

/// A PHC string of the password (argon2id, random salt).
pub fn hash_password(pw: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `pw` matches a PHC hash.
pub fn verify_password(pw: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Create a USER account; `verified: false` leaves a challenge to clear
/// with `GET /auth/verify` (returned in the account).
pub async fn add_user(
    store: &Store,
    nick: &str,
    email: &str,
    password: &str,
    verified: bool,
) -> Result<Account, UserError> {
    if nick.is_empty() || email.is_empty() || password.is_empty() {
        return Err(UserError::Invalid(
            "nick, email and password are required".into(),
        ));
    }
    if !valid_user_nick(nick) {
        return Err(UserError::Invalid(format!(
            "invalid nick {nick:?} (3 to 23 letters, digits, '_', '-', '.')"
        )));
    }
    if !email.contains('@') {
        return Err(UserError::Invalid(format!("invalid email {email:?}")));
    }
    let id = new_id();
    let pw = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .unwrap_or_default();
    let a = NewAccount {
        prn: account_prn(&id),
        id,
        nick: nick.into(),
        email: email.into(),
        password_hash: hash,
        challenge: if verified {
            String::new()
        } else {
            random_lower(24)
        },
        kind: "USER".into(),
    };
    store.db.create_account(&a).await.map_err(|e| match e {
        ph_store::StoreError::Conflict(_) => UserError::Taken,
        e => UserError::Store(e),
    })
}

/// What a token is for.
pub struct TokenFor<'a> {
    pub id: &'a str,
    pub prn: &'a str,
    pub nick: &'a str,
    pub kind: &'a str,
    pub roles: &'a str,
    pub scopes: &'a str,
    pub owner: Option<&'a str>,
    pub lifetime_secs: i64,
}

/// Sign a fresh token (orig_iat = now).
pub fn issue(keys: &Keys, t: &TokenFor) -> String {
    let now = ph_store::now_nanos() / 1_000_000_000;
    keys.sign(&Claims {
        exp: now + t.lifetime_secs,
        orig_iat: now,
        id: t.id.into(),
        prn: t.prn.into(),
        nick: t.nick.into(),
        roles: t.roles.into(),
        kind: t.kind.into(),
        scopes: if t.scopes.is_empty() {
            SCOPE_ALL.into()
        } else {
            t.scopes.into()
        },
        owner: t.owner.map(str::to_string),
    })
}

/// A token for a user account.
pub fn user_token(keys: &Keys, a: &Account, login: &str, lifetime_secs: i64) -> String {
    let roles = if a.kind == "ADMIN" { "admin" } else { "user" };
    issue(
        keys,
        &TokenFor {
            id: login,
            prn: &a.prn,
            nick: &a.nick,
            kind: "USER",
            roles,
            scopes: SCOPE_ALL,
            owner: None,
            lifetime_secs,
        },
    )
}

/// Create a device join token for `owner`; returns the record and the
/// token (base64 of 24 random bytes; only its sha256 is stored).
pub async fn add_join_token(
    store: &Store,
    owner: &str,
    nick: &str,
    default_user_meta: serde_json::Map<String, serde_json::Value>,
) -> Result<(ph_store::DeviceToken, String), ph_store::StoreError> {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::STANDARD.encode(raw);
    let now = ph_store::now_nanos();
    let id = new_id();
    let t = ph_store::DeviceToken {
        prn: format!("prn:::devices-tokens:/{id}"),
        id,
        owner: owner.to_string(),
        nick: nick.to_string(),
        token_sha: crate::util::sha256_hex(&raw),
        default_user_meta,
        disabled: false,
        created: now,
        modified: now,
    };
    store.db.create_device_token(&t).await?;
    Ok((t, token))
}
