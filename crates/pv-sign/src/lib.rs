//! `pvs@2` signatures over Pantavisor states, as `pvr sig` writes and
//! checks them and as the device runtime verifies them.
//!
//! A signature is a file `_sigs/<name>.json` inside the state:
//! `{"#spec":"pvs@2","protected":…,"signature":…}` in canonical JSON, a
//! flattened JWS with a detached payload. The protected header names the
//! algorithm (`RS256`, `ES256`, `ES384`, `ES512`), embeds the signer's
//! public key as a JWK, optionally an `x5c` certificate chain, and holds
//! the rules `pvs.include` / `pvs.exclude`: glob patterns over state keys.
//! The payload is the canonical JSON of the committed-state entries the
//! rules select.
//!
//! Entry points (all pure: the caller reads and writes files):
//! * [`sig_add`] / [`sig_update`] produce the signature file bytes;
//! * [`sig_ls`] verifies signatures and renders `pvr sig ls` output;
//! * [`uncovered_keys`] reports keys no signature covers (strict mode);
//! * [`device_verify`] / [`device_payload`] verify the way the runtime
//!   does, from the raw stored state text.
//!
//! Errors are [`SignError`]s: `Display` is the stderr line, and
//! [`SignError::exit_code`] the status the original pvr exits with.

mod coverage;
mod device;
mod encoding;
mod error;
mod fnmatch;
mod glob;
mod gopath;
mod header;
mod jws;
mod keys;
mod ls;
mod payload;
mod pem;
mod rawjson;
mod sign;
mod verify;
mod x509;

pub use coverage::{state_signatures, uncovered_by_state_signatures, uncovered_keys};
pub use device::{
    device_match, device_payload, device_verify, DeviceError, DeviceReport, DeviceSignature,
    DeviceTrust, SecureBootMode,
};
pub use encoding::{b64std_nopad, b64url, b64url_decode};
pub use error::{
    ErrorKind, KeyError, SignError, EXIT_BAD_PATTERN, EXIT_MISSING, EXIT_SIGN, EXIT_UPDATE,
    EXIT_USAGE, EXIT_VERIFY,
};
pub use fnmatch::fnmatch;
pub use glob::Glob;
pub use header::{Header, PvsMatch};
pub use jws::{is_pvs2, signing_input, SigFile, PVS_SPEC};
pub use keys::{certificates_from_pem, Alg, HashAlg, PrivateKey, PublicKey, SigForm};
pub use ls::{ls_targets, sig_ls, summary, LsOptions, LsOutput};
pub use payload::{payload, select, Selection};
pub use sign::{
    sig_add, sig_path_for_arg, sig_update, sign_pvs, update_targets, SigAddRequest, SigTarget,
    SignedFile, Signer,
};
pub use verify::{verify, verify_with_keys, Trust, TrustSource, Verified};
pub use x509::{verify_chain, CertPool, Certificate, EKU_CODE_SIGNING};
