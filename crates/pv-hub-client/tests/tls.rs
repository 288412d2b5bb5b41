//! HTTPS to a real TLS server (`openssl s_server -WWW`, serving files of a
//! temp directory) through the client's own TLS stack (rustls over ring):
//! a hub whose certificate chains to the configured CA answers; without
//! that CA the handshake is refused.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pv_hub_client::{Endpoint, Error, Hub};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl {args:?}");
}

/// A CA, a certificate for 127.0.0.1 signed by it, and `s_server -WWW` on
/// a free port serving `dir`.
fn serve(dir: &Path) -> (Server, u16) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=pv test CA",
            "-days",
            "1",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "hub.key",
            "-out",
            "hub.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "hub.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "hub.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-WWW", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", "hub.pem", "-key", "hub.key"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "s_server never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}

fn endpoint(port: u16, ca: Option<&Path>) -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port,
        ca_file: ca.map(Path::to_path_buf),
        proxy: None,
        user_agent: "pv-hub-client test".into(),
        timeout: Duration::from_secs(20),
    }
}

#[test]
fn https_with_the_configured_ca_and_refused_without_it() {
    if !pv_testkit::require_tool("openssl") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("devices")).unwrap();
    std::fs::write(
        d.path().join("devices/dev1"),
        r#"{"id":"dev1","owner":"prn:owner","nick":"over-tls"}"#,
    )
    .unwrap();
    let (_server, port) = serve(d.path());

    let hub = Hub::new(&endpoint(port, Some(&d.path().join("ca.pem")))).unwrap();
    assert!(hub.base_url().starts_with("https://"));
    let info = hub.device("dev1").unwrap();
    assert_eq!((info.id.as_str(), info.nick.as_str()), ("dev1", "over-tls"));

    let stranger = Hub::new(&endpoint(port, None)).unwrap();
    match stranger.device("dev1") {
        Err(Error::Http(..)) => {}
        other => panic!("a hub signed by an unknown CA must be refused, got {other:?}"),
    }
}
