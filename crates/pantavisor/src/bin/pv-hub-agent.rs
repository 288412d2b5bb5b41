//! `pv-hub-agent --storage DIR`: the hub client's requests of the runtime
//! (`pv_hub_proto::HubAgent`), made with `pv-hub-client` (HTTP/1.1 over
//! rustls). The runtime starts it from beside its own executable (or
//! `PV_HUB_AGENT_PATH`) with one end of a socketpair as stdin, so that no
//! HTTP or TLS code parses network input in PID 1: a panic here ends this
//! process, and the runtime starts another at its next request. It exits
//! when the socket ends.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn usage() -> ! {
    eprintln!("usage: pv-hub-agent --storage DIR (stdin: the runtime's socket)");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let storage = match &args[..] {
        [flag, dir] if flag == "--storage" => std::path::PathBuf::from(dir),
        _ => usage(),
    };
    let sock = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(e) => {
            eprintln!("pv-hub-agent: stdin: {e}");
            std::process::exit(2);
        }
    };
    if sock.peer_addr().is_err() {
        eprintln!("pv-hub-agent: stdin is not a socket");
        usage();
    }
    tracing_subscriber::registry()
        .with(pantavisor::stderr_layer())
        .init();
    if let Err(e) = pv_hub_client::agent::serve(sock, &storage) {
        eprintln!("pv-hub-agent: {e}");
        std::process::exit(1);
    }
}
