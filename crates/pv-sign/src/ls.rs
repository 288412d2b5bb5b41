//! `pvr sig ls`: verify the selected signatures against the committed state
//! and print which keys they protect, exclude or do not see.

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde_json::{Map, Value};

use pv_json::pretty::{self, Numbers, Strings, Style};
use pv_types::State;

use crate::encoding::{b64std_nopad, b64url, b64url_decode};
use crate::error::{ErrorKind, SignError, EXIT_MISSING, EXIT_VERIFY};
use crate::jws::{is_pvs2, SigFile};
use crate::sign::sig_path_for_arg;
use crate::verify::{verify, TrustSource, Verified};

/// `json.MarshalIndent(v, "", "    ")` spelling.
const LS_STYLE: Style = Style {
    indent: "    ",
    strings: Strings::GoHtml,
    numbers: Numbers::Canonical,
};

/// Options of `sig ls`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LsOptions {
    /// `ls --with-sigs`: add the full JWS objects under `sigs`.
    pub with_sigs: bool,
    /// Group flag `--with-payload`: re-attach the payload in each JWS
    /// object, in standard base64 without padding as pvr does.
    pub with_payload: bool,
}

/// The result of a successful `sig ls`.
#[derive(Debug, Clone, PartialEq)]
pub struct LsOutput {
    /// Exactly what goes to stdout (ends with a newline).
    pub stdout: String,
    /// Warning lines for stderr (each without newline).
    pub warnings: Vec<String>,
    /// Per signature: its path and verification details.
    pub verified: Vec<(String, Verified)>,
}

/// The signature paths `sig ls ARGS…` looks at: `NAME` → `_sigs/NAME.json`,
/// `*.json` as is; no argument → every pvs@2 value of the state (sorted).
pub fn ls_targets(state: &State, args: &[String]) -> Vec<String> {
    if args.is_empty() {
        state
            .iter()
            .filter(|(_, v)| is_pvs2(v))
            .map(|(k, _)| k.clone())
            .collect()
    } else {
        args.iter().map(|a| sig_path_for_arg(a)).collect()
    }
}

/// `pvr sig ls`. `read` loads a signature file from the working tree
/// (relative path); `NotFound` there exits 125. Trust is resolved per
/// signature, as pvr does, so with no signature nothing is read.
/// Verification failures exit 13.
pub fn sig_ls(
    state: &State,
    args: &[String],
    trust: &TrustSource,
    opts: LsOptions,
    now: SystemTime,
    mut read: impl FnMut(&str) -> std::io::Result<Vec<u8>>,
) -> Result<LsOutput, SignError> {
    let mut warnings = Vec::new();
    let mut verified = Vec::new();
    let mut sigs = Vec::new();
    for path in ls_targets(state, args) {
        let fail = |e: ErrorKind| SignError::new(e, EXIT_VERIFY).at(&path);
        let (trust, w) = trust.resolve().map_err(fail)?;
        warnings.extend(w);
        let bytes = match read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(
                    SignError::new(ErrorKind::MissingFile(path.clone()), EXIT_MISSING).at(&path),
                )
            }
            Err(e) => {
                return Err(fail(ErrorKind::Malformed {
                    path: path.clone(),
                    why: e.to_string(),
                }))
            }
        };
        let sig = SigFile::parse(&bytes, &path).map_err(fail)?;
        let (v, w) = verify(state, &sig, &trust, now).map_err(fail)?;
        warnings.extend(w);
        sigs.push(full_jws(&sig, &v, opts.with_payload));
        verified.push((path.clone(), v));
    }
    let stdout = render(&verified, opts.with_sigs.then_some(&sigs[..]));
    Ok(LsOutput {
        stdout,
        warnings,
        verified,
    })
}

/// The JWS object as go-jose's full serialization prints it.
fn full_jws(sig: &SigFile, v: &Verified, with_payload: bool) -> Value {
    let mut m = Map::new();
    let payload = if with_payload {
        Some(b64std_nopad(&v.payload))
    } else {
        sig.payload
            .as_deref()
            .and_then(b64url_decode)
            .filter(|p| !p.is_empty())
            .map(|p| b64url(&p))
    };
    if let Some(p) = payload {
        m.insert("payload".into(), Value::String(p));
    }
    m.insert(
        "protected".into(),
        Value::String(b64url(sig.header.reserialized().as_bytes())),
    );
    m.insert(
        "signature".into(),
        Value::String(b64url(&sig.signature_bytes())),
    );
    Value::Object(m)
}

/// The merged summary: protected = union; excluded = union minus
/// protected; notseen = union minus both; all sorted, empty lists left out.
pub fn summary(verified: &[(String, Verified)]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut protected = BTreeSet::new();
    let mut excluded = BTreeSet::new();
    let mut notseen = BTreeSet::new();
    for (_, v) in verified {
        protected.extend(v.selection.selected.keys().cloned());
        excluded.extend(v.selection.excluded.iter().cloned());
        notseen.extend(v.selection.notseen.iter().cloned());
    }
    let excluded: BTreeSet<String> = excluded.difference(&protected).cloned().collect();
    let notseen = notseen
        .into_iter()
        .filter(|k| !protected.contains(k) && !excluded.contains(k))
        .collect();
    (
        protected.into_iter().collect(),
        excluded.into_iter().collect(),
        notseen,
    )
}

fn render(verified: &[(String, Verified)], sigs: Option<&[Value]>) -> String {
    let (protected, excluded, notseen) = summary(verified);
    let list = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    let mut fields: Vec<(&str, Value)> = Vec::new();
    for (name, items) in [
        ("protected", protected),
        ("excluded", excluded),
        ("notseen", notseen),
    ] {
        if !items.is_empty() {
            fields.push((name, list(items)));
        }
    }
    if let Some(s) = sigs.filter(|s| !s.is_empty()) {
        fields.push(("sigs", Value::Array(s.to_vec())));
    }
    if fields.is_empty() {
        return "{}\n".into();
    }
    let mut out = String::from("{");
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let body = pretty::to_string(value, LS_STYLE).replace('\n', "\n    ");
        out.push_str(&format!("\n    \"{name}\": {body}"));
    }
    out.push_str("\n}\n");
    out
}
