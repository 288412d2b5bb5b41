//! The product's own blob client for bench/hub-scale.sh: the device's
//! `pv-hub-client` (ureq), as Pantavisor uses it to upload its factory
//! objects and to download an update's objects into a file.
//!
//! ```text
//! blobclient put <signed-put-url> <file>
//! blobclient get <signed-get-url> <out-file>
//! ```
//!
//! Prints the seconds the transfer took (the hub's answer included; for
//! `get`, the bytes written to the page cache, as `cp` leaves them).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use pv_hub_client::{signed_path, Endpoint, Hub};

/// `http://host:port/…` → the endpoint of that hub.
fn endpoint(url: &str) -> Result<Endpoint> {
    let rest = url
        .strip_prefix("http://")
        .context("the bench client speaks plain http://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = authority
        .rsplit_once(':')
        .context("the URL names no port")?;
    Ok(Endpoint {
        host: format!("http://{host}"),
        port: port.parse().context("port")?,
        ca_file: None,
        proxy: None,
        user_agent: "blobclient".into(),
        timeout: std::time::Duration::from_secs(600),
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, url, file] = args.as_slice() else {
        bail!("usage: blobclient put|get <signed-url> <file>");
    };
    let hub = Hub::new(&endpoint(url)?)?;
    let t0 = Instant::now();
    match op.as_str() {
        "put" => {
            let path = signed_path(url).context("not a signed blob URL")?;
            hub.upload(&path, file.as_ref())?;
        }
        "get" => {
            let mut out = std::fs::File::create(file).with_context(|| format!("create {file}"))?;
            hub.download(url, 0, &mut out, &mut |_| {})?;
        }
        _ => bail!("{op}: put or get"),
    }
    println!("{:.3}", t0.elapsed().as_secs_f64());
    Ok(())
}
