//! Registry image references: `[host[:port]/]name[:tag][@digest]`.

use crate::error::{AppError, Result};

/// Docker Hub's registry host (short names like `nginx` resolve to it).
pub const DOCKER_HUB: &str = "registry-1.docker.io";

/// A parsed registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]` of the registry API.
    pub registry: String,
    /// Repository path in the registry (`library/nginx`).
    pub repository: String,
    /// The name as the user wrote it, without tag or digest (`nginx`,
    /// `127.0.0.1:5000/app`): pvr's `docker_name`.
    pub name: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |msg: &str| AppError::image(s, msg);
        if s.is_empty() || s.contains(char::is_whitespace) || s.contains("://") {
            return Err(bad("not a valid image reference"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !d.starts_with("sha256:")
                    || d.len() != 71
                    || !d[7..].bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(bad("digest must be sha256:<64 hex>"));
                }
                (r, Some(d.to_ascii_lowercase()))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if name.is_empty() || tag.as_deref() == Some("") {
            return Err(bad("empty name or tag"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((host, path))
                if host.contains('.') || host.contains(':') || host == "localhost" =>
            {
                let host = if host == "docker.io" || host == "index.docker.io" {
                    DOCKER_HUB
                } else {
                    host
                };
                let repo = if host == DOCKER_HUB && !path.contains('/') {
                    format!("library/{path}")
                } else {
                    path.to_string()
                };
                (host.to_string(), repo)
            }
            _ if name.contains('/') => (DOCKER_HUB.to_string(), name.to_string()),
            _ => (DOCKER_HUB.to_string(), format!("library/{name}")),
        };
        if repository.split('/').any(|c| {
            c.is_empty()
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        }) {
            return Err(bad("invalid repository name"));
        }
        Ok(ImageRef {
            registry,
            repository,
            name: name.to_string(),
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest if pinned, else the tag
    /// (default `latest`).
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// True for registries reached over plain http without `--insecure`.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => &self.registry,
        };
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }
}

/// pvr's split of `--from` into `docker_name` and `docker_tag`: the tag is
/// what follows the last `:` after the last `/` (default `latest`); a
/// digest reference keeps its digest in the name and has no tag.
pub fn split_name_tag(from: &str) -> (String, Option<String>) {
    if from.contains('@') {
        return (from.to_string(), None);
    }
    let last_slash = from.rfind('/').map(|i| i + 1).unwrap_or(0);
    match from[last_slash..].rfind(':') {
        Some(i) => (
            from[..last_slash + i].to_string(),
            Some(from[last_slash + i + 1..].to_string()),
        ),
        None => (from.to_string(), Some("latest".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            (DOCKER_HUB, "library/nginx")
        );
        assert_eq!(r.reference(), "latest");
        let r = ImageRef::parse("127.0.0.1:5000/team/app:1.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.name, "127.0.0.1:5000/team/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert!(r.is_loopback());
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("localhost:5000/x@{d}")).unwrap();
        assert_eq!(r.reference(), d);
        assert!(ImageRef::parse("registry.example.com/A").is_err());
        assert!(!ImageRef::parse("registry.example.com/a")
            .unwrap()
            .is_loopback());
    }

    #[test]
    fn name_tag_split() {
        assert_eq!(
            split_name_tag("nginx"),
            ("nginx".into(), Some("latest".into()))
        );
        assert_eq!(
            split_name_tag("host:5000/app:1"),
            ("host:5000/app".into(), Some("1".into()))
        );
        assert_eq!(
            split_name_tag("host:5000/app"),
            ("host:5000/app".into(), Some("latest".into()))
        );
    }
}
