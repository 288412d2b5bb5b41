//! Error types. [`SignError`] carries the exit status pvr uses for the
//! failing step; its `Display` is the complete stderr line (no newline).

/// A key file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no valid PEM encoded sign key found in {0}")]
    NoPrivateKey(String),
    #[error("encrypted private key in {0} is not supported")]
    Encrypted(String),
    #[error("private key in {source_name} cannot be parsed: {why}")]
    Unparsable { source_name: String, why: String },
    #[error("no valid PEM encoded verify key found in {0}")]
    NoPublicKey(String),
}

/// What went wrong, independent of the command it happened in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// `sig add` with both `--part` and `--raw` (text as pvr prints it).
    #[error("ERROR: part and raw flag cannot be used at same time; see --help")]
    PartAndRaw,
    /// `sig add` with neither `--part` nor `--raw`.
    #[error("ERROR: no part nor raw name provided; see --help")]
    NoPartNorRaw,
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("syntax error in pattern {0:?}")]
    BadPattern(String),
    /// The signature file has no `#spec` (text as pvr prints it).
    #[error("ERROR: pvs signature does not have a #spec element")]
    NoSpec,
    /// The signature file's `#spec` is not `pvs@2` (text as pvr prints it).
    #[error("ERROR: pvs signature must be of #spec pvs@2")]
    WrongSpec,
    #[error("malformed pvs signature {path}: {why}")]
    Malformed { path: String, why: String },
    /// No candidate key verified the signature (text as pvr prints it; the
    /// payload is the canonical JSON rebuilt from the committed state).
    #[error("could not verify payload {payload} (error= go-jose/go-jose: error in cryptographic primitive)")]
    NotVerified { payload: String },
    /// Neither `--pubkey` keys nor a usable certificate chain.
    #[error("no pubKeys available. Neither as parameters nor from x5c header nor from root pool")]
    NoVerificationKeys,
    #[error("Using system cert pool not supported anymore")]
    SystemPoolUnsupported,
    /// A selected signature file is missing (text as pvr prints it).
    #[error("ERROR: signature file does not exist with name {0}")]
    MissingFile(String),
    #[error("state is not a JSON object: {0}")]
    State(String),
}

/// An error of a `sig` operation with the exit status of the original pvr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct SignError {
    pub kind: ErrorKind,
    /// Process exit status for this failure (5, 13, 123, 125, 126, 127).
    pub exit_code: i32,
    /// The signature file concerned, when there is one.
    pub path: Option<String>,
}

impl SignError {
    pub fn new(kind: impl Into<ErrorKind>, exit_code: i32) -> Self {
        SignError {
            kind: kind.into(),
            exit_code,
            path: None,
        }
    }

    pub fn at(mut self, path: &str) -> Self {
        self.path = Some(path.to_string());
        self
    }

    pub fn exit_code(&self) -> i32 {
        self.exit_code
    }
}

/// Exit status of `sig add` argument errors.
pub const EXIT_USAGE: i32 = 5;
/// Exit status of `sig ls` verification failures.
pub const EXIT_VERIFY: i32 = 13;
/// Exit status of `sig update` for a bad NAME/PATH pattern.
pub const EXIT_BAD_PATTERN: i32 = 123;
/// Exit status of `sig ls` for a missing signature file.
pub const EXIT_MISSING: i32 = 125;
/// Exit status of `sig update` signing failures.
pub const EXIT_UPDATE: i32 = 126;
/// Exit status of `sig add` signing failures.
pub const EXIT_SIGN: i32 = 127;
