//! Requests to the control socket, for tests: through `pv-ctrl-client`,
//! the client `pvcontrol` and the LAN endpoint use.

use std::path::Path;
use std::time::Duration;

/// Send one request; returns (status, body).
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut c = pv_ctrl_client::Client::new(socket);
    c.timeout = Duration::from_secs(30);
    c.call(method, path, pv_ctrl_client::Body::Bytes(body), None)
        .map(|(head, body)| (head.status, body))
        .map_err(std::io::Error::other)
}
