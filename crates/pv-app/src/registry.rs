//! A small client of the registry HTTP API v2 (the OCI distribution API):
//! manifests by tag or digest, blobs streamed to disk with their digest and
//! size checked, Bearer tokens from `WWW-Authenticate` challenges and basic
//! auth with `--username/--password`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use pv_fs::{AtomicFile, IoResultExt};
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;

use crate::error::{AppError, Result};
use crate::image::{verify, ManifestSource};
use crate::options::{Progress, ProgressEvent, RegistryOptions};
use crate::reference::ImageRef;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A connection to one repository of one registry.
pub struct Registry {
    client: Client,
    base: String,
    repo: String,
    registry: String,
    creds: Option<(String, String)>,
    auth: Option<HeaderValue>,
}

impl Registry {
    pub fn new(r: &ImageRef, opts: &RegistryOptions) -> Result<Self> {
        let plain = opts.insecure || r.is_loopback();
        let mut b = Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(None::<Duration>)
            .user_agent(concat!("pvr-rs/", env!("CARGO_PKG_VERSION")));
        if opts.insecure {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if r.is_loopback() {
            b = b.no_proxy();
        }
        let client = b.build().map_err(|e| AppError::Registry {
            registry: r.registry.clone(),
            msg: e.to_string(),
        })?;
        let creds = match (&opts.username, &opts.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u.clone(), p.clone())),
            _ => None,
        };
        Ok(Registry {
            client,
            base: format!("{}://{}", if plain { "http" } else { "https" }, r.registry),
            repo: r.repository.clone(),
            registry: r.registry.clone(),
            creds,
            auth: None,
        })
    }

    fn err(&self, msg: impl ToString) -> AppError {
        AppError::Registry {
            registry: self.registry.clone(),
            msg: msg.to_string(),
        }
    }

    /// GET `url`, answering one authentication challenge if needed.
    fn get(&mut self, url: &str, accept: Option<&str>) -> Result<Response> {
        for attempt in 0..2 {
            let mut req = self.client.get(url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if let Some(h) = &self.auth {
                req = req.header(AUTHORIZATION, h.clone());
            }
            let resp = req
                .send()
                .map_err(|e| self.err(format!("GET {url}: {e}")))?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            self.authenticate(&challenge)?;
        }
        unreachable!("loop returns")
    }

    fn authenticate(&mut self, challenge: &str) -> Result<()> {
        let (scheme, params) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => {
                let realm = param(&params, "realm")
                    .ok_or_else(|| self.err("bearer challenge without realm"))?;
                let mut url = reqwest::Url::parse(realm)
                    .map_err(|e| self.err(format!("token realm {realm}: {e}")))?;
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = param(&params, "service") {
                        q.append_pair("service", s);
                    }
                    let scope = param(&params, "scope")
                        .map(String::from)
                        .unwrap_or_else(|| format!("repository:{}:pull", self.repo));
                    q.append_pair("scope", &scope);
                }
                let mut req = self.client.get(url.clone());
                if let Some((u, p)) = &self.creds {
                    req = req.basic_auth(u, Some(p));
                }
                let resp = req
                    .send()
                    .map_err(|e| self.err(format!("token {url}: {e}")))?;
                if !resp.status().is_success() {
                    return Err(self.err(format!("token {url}: {}", resp.status())));
                }
                let body = resp
                    .bytes()
                    .map_err(|e| self.err(format!("token {url}: {e}")))?;
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| self.err(format!("token {url}: {e}")))?;
                let tok = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| self.err("token response without token"))?;
                self.auth = HeaderValue::from_str(&format!("Bearer {tok}")).ok();
                Ok(())
            }
            "basic" => {
                let (u, p) = self.creds.clone().ok_or_else(|| {
                    self.err("authentication required; use --username and --password")
                })?;
                let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                self.auth = HeaderValue::from_str(&format!("Basic {b64}")).ok();
                Ok(())
            }
            _ => Err(self.err(format!(
                "unsupported authentication challenge {challenge:?}"
            ))),
        }
    }

    /// The manifest (or index) for a tag or digest, with its digest.
    pub fn fetch_manifest(&mut self, reference: &str) -> Result<(Vec<u8>, String)> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repo);
        let resp = self.get(&url, Some(MANIFEST_TYPES))?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::UNAUTHORIZED {
            return Err(AppError::image(
                format!("{}/{}:{reference}", self.registry, self.repo),
                "image not found or you do not have access",
            ));
        }
        if !status.is_success() {
            return Err(self.err(format!("GET {url}: {status}")));
        }
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = resp
            .bytes()
            .map_err(|e| self.err(format!("GET {url}: {e}")))?
            .to_vec();
        let digest = crate::image::sha256_digest(&bytes);
        let what = format!("manifest {}/{}@{reference}", self.registry, self.repo);
        if reference.starts_with("sha256:") {
            verify(&what, reference, &bytes)?;
        } else if let Some(h) = header_digest.filter(|h| h.starts_with("sha256:")) {
            verify(&what, &h, &bytes)?;
        }
        Ok((bytes, digest))
    }

    fn blob_response(&mut self, digest: &str) -> Result<Response> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repo);
        let resp = self.get(&url, None)?;
        if !resp.status().is_success() {
            return Err(self.err(format!("GET {url}: {}", resp.status())));
        }
        Ok(resp)
    }

    /// Stream blob `digest` into `dest` (atomically), checking size and digest.
    pub fn download_blob(
        &mut self,
        digest: &str,
        size: Option<u64>,
        dest: &Path,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut resp = self.blob_response(digest)?;
        let total = size.or(resp.content_length());
        let mut out = pv_objects::HashingWriter::new(AtomicFile::create(dest)?);
        let mut buf = vec![0u8; 1 << 16];
        let mut done = 0u64;
        loop {
            let n = resp
                .read(&mut buf)
                .map_err(|e| self.err(format!("blob {digest}: {e}")))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).at("write", dest)?;
            done += n as u64;
            progress.event(ProgressEvent::Bytes {
                label: digest,
                done,
                total,
            });
        }
        if let Some(s) = size {
            if s != done {
                return Err(AppError::SizeMismatch {
                    what: format!("blob {digest}"),
                    expected: s,
                    actual: done,
                });
            }
        }
        let (id, _, out) = out.finish();
        let actual = format!("sha256:{}", id.to_hex());
        if actual != digest {
            return Err(AppError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest.to_string(),
                actual,
            });
        }
        out.commit()?;
        Ok(())
    }
}

impl ManifestSource for Registry {
    fn label(&self) -> String {
        format!("{}/{}", self.registry, self.repo)
    }
    fn manifest(&mut self, digest: &str) -> Result<Vec<u8>> {
        Ok(self.fetch_manifest(digest)?.0)
    }
    fn small_blob(&mut self, digest: &str) -> Result<Vec<u8>> {
        let resp = self.blob_response(digest)?;
        let bytes = resp
            .bytes()
            .map_err(|e| self.err(format!("blob {digest}: {e}")))?
            .to_vec();
        verify(&format!("blob {digest}"), digest, &bytes)?;
        Ok(bytes)
    }
}

/// True if the file at `path` exists and has sha256 `digest`.
pub fn cached_blob_ok(path: &Path, digest: &str) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    match pv_objects::hash_reader(f) {
        Ok(id) => format!("sha256:{}", id.to_hex()) == digest,
        Err(_) => false,
    }
}

/// Split `Bearer realm="x",service="y"` into the scheme and its parameters.
fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = vec![];
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        params.push((key.trim().to_ascii_lowercase(), val));
    }
    (scheme.to_string(), params)
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_with_commas_in_scope() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(param(&p, "realm"), Some("https://auth.docker.io/token"));
        assert_eq!(
            param(&p, "scope"),
            Some("repository:library/nginx:pull,push")
        );
        assert_eq!(param(&p, "service"), Some("registry.docker.io"));
    }
}
