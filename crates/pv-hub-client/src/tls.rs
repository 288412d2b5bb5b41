//! The certificates a TLS hub is verified against: the platform's trust
//! store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, else the distribution's bundle,
//! as `rustls-native-certs` finds them; unreadable ones are skipped) and
//! the configured CA file (`PH_CREDS_CAFILE`), every certificate of which
//! must be a valid trust anchor.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use ureq::tls::{Certificate, PemItem, RootCerts};

use crate::{Error, Result};

/// The roots for the TLS hub at `base`; an error when `ca_file` is
/// unreadable or holds no valid certificate, or when there is no root at
/// all.
pub(crate) fn roots(base: &str, ca_file: Option<&Path>) -> Result<RootCerts> {
    // the process's TLS crypto: ring (a binary that links another provider
    // too, e.g. a test harness, keeps whichever was installed first)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut certs = match ca_file {
        Some(f) => ca_certificates(f)?,
        None => Vec::new(),
    };
    certs.extend(
        rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .filter(|c| trust_anchor(c).is_ok())
            .map(|c| Certificate::from_der(c).to_owned()),
    );
    if certs.is_empty() {
        return Err(Error::Config(
            base.into(),
            "no CA certificate: none in the system's trust store and no PH_CREDS_CAFILE".into(),
        ));
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// Whether rustls takes this DER certificate as a trust anchor.
fn trust_anchor(der: &[u8]) -> std::result::Result<(), rustls::Error> {
    rustls::RootCertStore::empty().add(CertificateDer::from(der))
}

/// Every certificate of a PEM file, each checked to be a trust anchor.
fn ca_certificates(f: &Path) -> Result<Vec<Certificate<'static>>> {
    let bad = |e: String| Error::Config(f.display().to_string(), e);
    let pem = std::fs::read(f).map_err(|source| Error::Io {
        op: "read",
        path: f.into(),
        source,
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
            trust_anchor(c.der()).map_err(|e| bad(e.to_string()))?;
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(bad("no PEM certificate".into()));
    }
    Ok(certs)
}
