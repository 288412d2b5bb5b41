use std::path::PathBuf;

use pv_types::ObjectId;

/// A runtime failure. Each variant says what failed at this layer; the
/// cause, when there is one, is its [`source`](std::error::Error::source)
/// (use [`chain`] for the whole story on one line).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    #[error(transparent)]
    Path(#[from] pv_fs::PathError),
    #[error(transparent)]
    Object(#[from] pv_objects::ObjectError),
    #[error(transparent)]
    Container(#[from] pv_container::Error),
    #[error(transparent)]
    Boot(#[from] pv_boot::BootError),
    #[error("container {container}: volume {volume} is not in revision {rev}")]
    VolumeMissing {
        container: String,
        volume: String,
        rev: String,
    },
    #[error("container {container}: {source}")]
    Disk {
        container: String,
        source: pv_disks::Error,
    },
    #[error("container {0}: no lxc config: a data container can only be MOUNTED")]
    NoLxcConfig(String),
    #[error("bsp/run.json: {0}")]
    BootFiles(String),
    #[error("invalid revision name {0:?}")]
    BadRevision(String),
    /// `trails/<rev>/.pvr/json` cannot be read.
    #[error("revision {rev}: State JSON not found")]
    StateNotFound {
        rev: String,
        #[source]
        source: pv_fs::FsError,
    },
    /// The state text is not a state.
    #[error("revision {rev}")]
    StateParse {
        rev: String,
        #[source]
        source: pv_types::StateError,
    },
    /// The state breaks the rules of its format.
    #[error("revision {rev}")]
    InvalidState {
        rev: String,
        #[source]
        source: pv_types::ValidationReport,
    },
    #[error("revision {rev}: object {id} is missing")]
    MissingObject { rev: String, id: ObjectId },
    #[error("key {key}: not an object id")]
    NotAnObjectId {
        key: String,
        #[source]
        source: pv_types::ObjectIdError,
    },
    #[error("object {key}")]
    ObjectUnreadable {
        key: String,
        #[source]
        source: pv_fs::FsError,
    },
    #[error("object {key} ({expected}) has bad checksum {actual}")]
    BadChecksum {
        key: String,
        expected: ObjectId,
        actual: ObjectId,
    },
    /// The signatures could not be checked at all.
    #[error("Signature validation failed")]
    Signature(#[source] pv_sign::DeviceError),
    /// The signatures were checked and `PV_SECUREBOOT_MODE` refuses them.
    #[error("{}", if *.uncovered { "State not fully covered by signatures" } else { "Signature validation failed" })]
    SignaturesRejected { uncovered: bool },
    #[error("factory revision {}", .path.display())]
    Factory {
        path: PathBuf,
        #[source]
        source: Box<pv_export::Error>,
    },
    #[error("factory revision {}", .path.display())]
    FactoryState {
        path: PathBuf,
        #[source]
        source: pv_types::StateError,
    },
    #[error("factory revision {}", .path.display())]
    FactoryInvalid {
        path: PathBuf,
        #[source]
        source: pv_types::ValidationReport,
    },
    #[error("storage {} is empty and no --factory state was given", .0.display())]
    NoRevision(PathBuf),
    #[error("configuration")]
    Config(#[from] pv_config::ConfigError),
}

/// Result of a runtime operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line, `outer: inner: …` (for logs,
/// progress details and API replies).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        // a transparent layer repeats its source's text
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_keeps_every_cause_once() {
        let e = Error::StateParse {
            rev: "3".into(),
            source: pv_types::State::from_slice(b"[]").unwrap_err(),
        };
        let cause = std::error::Error::source(&e)
            .expect("typed source")
            .to_string();
        assert_eq!(chain(&e), format!("revision 3: {cause}"));
        let fs = pv_fs::FsError::new(
            "read",
            std::path::Path::new("/x"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        let wrapped = Error::from(fs);
        let text = chain(&wrapped);
        assert!(text.contains("/x"), "{text}");
        assert_eq!(text.matches("/x").count(), 1, "{text}");
    }
}
