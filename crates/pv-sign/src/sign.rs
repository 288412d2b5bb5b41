//! `pvr sig add` and `pvr sig update`: build the rules, select the payload
//! from the committed state, sign, and produce the `_sigs/<name>.json` bytes.

use pv_types::State;

use crate::encoding::b64url;
use crate::error::{ErrorKind, SignError, EXIT_BAD_PATTERN, EXIT_SIGN, EXIT_UPDATE, EXIT_USAGE};
use crate::glob::Glob;
use crate::gopath;
use crate::header::{self, PvsMatch};
use crate::jws::{self, is_pvs2, SigFile};
use crate::keys::{certificates_from_pem, PrivateKey};
use crate::payload::select;

/// A signing key plus the optional `x5c` chain to put in the header.
#[derive(Debug, Clone)]
pub struct Signer {
    pub key: PrivateKey,
    /// DER certificates, leaf first; empty means no `x5c` member.
    pub x5c: Vec<Vec<u8>>,
}

impl Signer {
    pub fn new(key: PrivateKey) -> Self {
        Signer {
            key,
            x5c: Vec::new(),
        }
    }

    /// Load `--key` and, unless `--x5c no`, the chain file. Errors carry
    /// exit status 127 (`sig add`); `sig update` callers may use
    /// [`SignError::exit_code`] as is or substitute 126.
    pub fn from_pem(
        key_pem: &[u8],
        key_source: &str,
        x5c_pem: Option<&[u8]>,
    ) -> Result<Signer, SignError> {
        let key =
            PrivateKey::from_pem(key_pem, key_source).map_err(|e| SignError::new(e, EXIT_SIGN))?;
        Ok(Signer {
            key,
            x5c: x5c_pem.map(certificates_from_pem).unwrap_or_default(),
        })
    }
}

/// A signature file ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedFile {
    /// The signature name (`app` for `_sigs/app.json`).
    pub name: String,
    /// The state key / tree path: `_sigs/<name>.json`.
    pub path: String,
    /// The canonical file content (no trailing newline).
    pub bytes: Vec<u8>,
    /// The rules encoded in the header.
    pub pvs: PvsMatch,
    /// The signed payload (canonical JSON).
    pub payload: Vec<u8>,
    /// The protected header JSON text.
    pub header_json: String,
}

/// Sign the entries of `state` selected by `pvs` as signature `name`.
pub fn sign_pvs(
    state: &State,
    name: &str,
    pvs: &PvsMatch,
    signer: &Signer,
    with_payload: bool,
) -> Result<SignedFile, ErrorKind> {
    let payload = select(state, pvs)?.payload();
    let header_json = header::build(signer.key.alg(), &signer.key.public_key(), pvs, &signer.x5c);
    let protected = b64url(header_json.as_bytes());
    let signature = signer.key.sign(&jws::signing_input(&protected, &payload));
    let bytes = jws::file_bytes(&protected, &signature, with_payload.then_some(&payload[..]));
    Ok(SignedFile {
        name: name.to_string(),
        path: gopath::join(&["_sigs", &format!("{name}.json")]),
        bytes,
        pvs: pvs.clone(),
        payload,
        header_json,
    })
}

/// What `sig add` signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigTarget {
    /// `--part P`: patterns relative to `P/`, plus `_config/P/**`.
    Part(String),
    /// `--raw NAME`: patterns used verbatim.
    Raw(String),
}

/// The inputs of `pvr sig add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigAddRequest {
    pub target: SigTarget,
    /// `-i` values; empty means the default `**`.
    pub include: Vec<String>,
    /// `-e` values; empty means the default `src.json`.
    pub exclude: Vec<String>,
    /// `--noconfig`: no `_config/P/**` include in part mode.
    pub noconfig: bool,
    /// `--with-payload`: keep the payload in the file.
    pub with_payload: bool,
    /// Raw mode self-exclusion. `false` (pvr's behaviour) appends the
    /// auto-exclude `_sigs/.json`; `true` appends `_sigs/<NAME>.json`.
    pub raw_excludes_itself: bool,
}

impl SigAddRequest {
    /// From the flags; an empty string counts as not given. Exit 5 when
    /// both or neither of `--part` / `--raw` are set.
    pub fn from_flags(
        part: Option<&str>,
        raw: Option<&str>,
        include: Vec<String>,
        exclude: Vec<String>,
        noconfig: bool,
        with_payload: bool,
    ) -> Result<SigAddRequest, SignError> {
        let part = part.filter(|p| !p.is_empty());
        let raw = raw.filter(|r| !r.is_empty());
        let target = match (part, raw) {
            (None, None) => return Err(SignError::new(ErrorKind::NoPartNorRaw, EXIT_USAGE)),
            (Some(_), Some(_)) => return Err(SignError::new(ErrorKind::PartAndRaw, EXIT_USAGE)),
            (Some(p), None) => SigTarget::Part(p.to_string()),
            (None, Some(r)) => SigTarget::Raw(r.to_string()),
        };
        Ok(SigAddRequest {
            target,
            include,
            exclude,
            noconfig,
            with_payload,
            raw_excludes_itself: false,
        })
    }

    /// The signature name.
    pub fn name(&self) -> &str {
        match &self.target {
            SigTarget::Part(p) | SigTarget::Raw(p) => p,
        }
    }

    /// The include/exclude rules written into the header.
    pub fn rules(&self) -> PvsMatch {
        let or_default = |v: &[String], d: &str| -> Vec<String> {
            if v.is_empty() {
                vec![d.to_string()]
            } else {
                v.to_vec()
            }
        };
        let mut include = or_default(&self.include, "**");
        let mut exclude = or_default(&self.exclude, "src.json");
        match &self.target {
            SigTarget::Part(p) => {
                for pat in include.iter_mut().chain(exclude.iter_mut()) {
                    *pat = gopath::join(&[p, pat]);
                }
                if !self.noconfig {
                    include.push(gopath::join(&["_config", p, "**"]));
                }
                exclude.push(gopath::join(&["_sigs", &format!("{p}.json")]));
            }
            SigTarget::Raw(r) => {
                let own = if self.raw_excludes_itself {
                    r.as_str()
                } else {
                    ""
                };
                exclude.push(gopath::join(&["_sigs", &format!("{own}.json")]));
            }
        }
        PvsMatch { include, exclude }
    }
}

/// `pvr sig add`: sign the committed `state`. Errors exit 127.
pub fn sig_add(
    state: &State,
    req: &SigAddRequest,
    signer: &Signer,
) -> Result<SignedFile, SignError> {
    sign_pvs(state, req.name(), &req.rules(), signer, req.with_payload)
        .map_err(|e| SignError::new(e, EXIT_SIGN))
}

/// `sig update` / `sig ls` argument → pattern: `NAME` → `_sigs/NAME.json`,
/// anything ending in `.json` as is.
pub fn sig_path_for_arg(arg: &str) -> String {
    if arg.ends_with(".json") {
        arg.to_string()
    } else {
        format!("_sigs/{arg}.json")
    }
}

/// The state keys `sig update ARGS…` re-signs: pvs@2 values of `state`
/// whose key matches one of the patterns (default `_sigs/*.json`), sorted.
/// A bad pattern exits 123.
pub fn update_targets(state: &State, args: &[String]) -> Result<Vec<String>, SignError> {
    let mut patterns: Vec<String> = args.iter().map(|a| sig_path_for_arg(a)).collect();
    if patterns.is_empty() {
        patterns.push("_sigs/*.json".into());
    }
    let globs = patterns
        .iter()
        .map(|p| Glob::new(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SignError::new(e, EXIT_BAD_PATTERN))?;
    Ok(state
        .iter()
        .filter(|(k, v)| is_pvs2(v) && globs.iter().any(|g| g.matches(k)))
        .map(|(k, _)| k.clone())
        .collect())
}

/// `pvr sig update` for one target: reuse the rules of the existing file
/// (`existing`, read from the working tree at `path`) and re-sign the
/// committed `state`. The result is named after `path`'s base name. Errors
/// exit 126.
pub fn sig_update(
    state: &State,
    path: &str,
    existing: &[u8],
    signer: &Signer,
    with_payload: bool,
) -> Result<SignedFile, SignError> {
    let fail = |e: ErrorKind| SignError::new(e, EXIT_UPDATE).at(path);
    let value = pv_json::parse(existing).map_err(|e| {
        fail(ErrorKind::Malformed {
            path: path.into(),
            why: e.to_string(),
        })
    })?;
    let obj = value.as_object().ok_or_else(|| {
        fail(ErrorKind::Malformed {
            path: path.into(),
            why: "not a JSON object".into(),
        })
    })?;
    let sig = SigFile::from_jws_members(obj, path).map_err(fail)?;
    let base = path.rsplit('/').next().unwrap_or(path);
    let name = base.strip_suffix(".json").unwrap_or(base);
    let pvs = PvsMatch {
        include: sig
            .header
            .include
            .clone()
            .unwrap_or_else(|| vec!["*".into()]),
        exclude: sig
            .header
            .exclude
            .clone()
            .unwrap_or_else(|| vec!["**/src.json".into(), format!("_sigs/{name}.json")]),
    };
    sign_pvs(state, name, &pvs, signer, with_payload).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        part: Option<&str>,
        raw: Option<&str>,
        i: &[&str],
        e: &[&str],
        noconfig: bool,
    ) -> SigAddRequest {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        SigAddRequest::from_flags(part, raw, v(i), v(e), noconfig, false).unwrap()
    }

    fn signer() -> Signer {
        Signer::from_pem(include_bytes!("../tests/data/es384.key.pem"), "k", None).unwrap()
    }

    #[test]
    fn part_and_raw_rules() {
        let r = req(Some("app"), None, &[], &[], false).rules();
        assert_eq!(
            r,
            PvsMatch::new(
                ["app/**", "_config/app/**"],
                ["app/src.json", "_sigs/app.json"]
            )
        );
        let r = req(Some("app"), None, &[], &[], true).rules();
        assert_eq!(
            r,
            PvsMatch::new(["app/**"], ["app/src.json", "_sigs/app.json"])
        );
        let r = req(Some("app"), None, &["./x//y/", "../z"], &["a"], false).rules();
        assert_eq!(r.include, ["app/x/y", "z", "_config/app/**"]);
        assert_eq!(r.exclude, ["app/a", "_sigs/app.json"]);
        let r = req(None, Some("x"), &[], &[], false).rules();
        assert_eq!(r, PvsMatch::new(["**"], ["src.json", "_sigs/.json"]));
        let mut fixed = req(None, Some("x"), &["x/**"], &[], false);
        fixed.raw_excludes_itself = true;
        assert_eq!(fixed.rules().exclude, ["src.json", "_sigs/x.json"]);
        assert_eq!(
            SigAddRequest::from_flags(Some(""), Some(""), vec![], vec![], false, false)
                .unwrap_err()
                .exit_code(),
            EXIT_USAGE
        );
    }

    #[test]
    fn with_payload_keeps_payload_and_update_reuses_rules() {
        let state = State::from_slice(br##"{"#spec":"s","a/x":"1","a/src.json":{"k":1},"b":"2"}"##)
            .unwrap();
        let mut r = req(Some("a"), None, &[], &[], false);
        r.with_payload = true;
        let signed = sig_add(&state, &r, &signer()).unwrap();
        let v = pv_json::parse(&signed.bytes).unwrap();
        assert_eq!(v["payload"], b64url(br#"{"a/x":"1"}"#));
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["#spec", "payload", "protected", "signature"]
        );

        // sig update reads the rules back from the file, wherever it is.
        let up = sig_update(&state, "other/dir/a.json", &signed.bytes, &signer(), false).unwrap();
        assert_eq!(up.path, "_sigs/a.json");
        assert_eq!(up.pvs, signed.pvs);
        assert!(!pv_json::parse(&up.bytes)
            .unwrap()
            .as_object()
            .unwrap()
            .contains_key("payload"));
        let e = sig_update(&state, "_sigs/a.json", b"{}", &signer(), false).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_UPDATE);
    }

    #[test]
    fn update_defaults_for_missing_rules() {
        let state = State::from_slice(br##"{"#spec":"s","x":"1","a/src.json":{}}"##).unwrap();
        let header = r#"{"alg":"ES384","pvs":{"include":null},"typ":"PVS"}"#;
        let file = format!(
            r##"{{"#spec":"pvs@2","protected":"{}","signature":"AA"}}"##,
            b64url(header.as_bytes())
        );
        let up = sig_update(&state, "_sigs/n.json", file.as_bytes(), &signer(), false).unwrap();
        assert_eq!(
            up.pvs,
            PvsMatch::new(["*"], ["**/src.json", "_sigs/n.json"])
        );
        assert_eq!(up.payload, br##"{"#spec":"s","x":"1"}"##);
    }

    #[test]
    fn update_target_patterns() {
        let sig = r##"{"#spec":"pvs@2","protected":"e30","signature":"AA"}"##;
        let state = State::from_slice(
            format!(r##"{{"#spec":"s","_sigs/a.json":{sig},"_sigs/b.json":{sig},"x/c.json":{sig},"_sigs/d.json":{{}}}}"##)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            update_targets(&state, &[]).unwrap(),
            ["_sigs/a.json", "_sigs/b.json"]
        );
        let args = ["b".to_string(), "x/*.json".to_string()];
        assert_eq!(
            update_targets(&state, &args).unwrap(),
            ["_sigs/b.json", "x/c.json"]
        );
        let bad = update_targets(&state, &["x[.json".to_string()]).unwrap_err();
        assert_eq!(bad.exit_code(), EXIT_BAD_PATTERN);
    }
}
