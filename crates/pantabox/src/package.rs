//! Packages made on the device: an app built from a container image or a
//! rootfs the way `pvr app add` builds it, in a throw-away checkout, and
//! exported as a `json` + `objects/<sha>` tarball for a transaction.

use anyhow::{Context, Result};
use tempfile::TempDir;

/// A package file that lives as long as this value.
pub struct TempPackage {
    dir: TempDir,
}

impl TempPackage {
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("package.tar")
    }
}

/// Build app `name` from `from` (an image reference, an image archive or
/// layout, or a rootfs directory or tarball) in group `group` (the
/// checkout's default when `None`).
pub fn app_package(name: &str, from: &str, group: Option<&str>) -> Result<TempPackage> {
    let dir = tempfile::Builder::new()
        .prefix("pantabox-app")
        .tempdir()
        .context("a temporary directory")?;
    let checkout = dir.path().join("checkout");
    let config = dir.path().join("pvr");
    std::fs::create_dir_all(&checkout).with_context(|| format!("create {}", checkout.display()))?;
    let repo = pvr_core::Repo::init(&checkout, &config, None, None)?;
    let pristine = repo.pristine()?;
    let cache = config.join("cache");
    let env = pv_app::AppEnv {
        checkout: &checkout,
        pristine: &pristine,
        cache_dir: &cache,
        progress: &pv_app::NoProgress,
    };
    let opts = pv_app::AppAddOptions {
        from: Some(from.to_string()),
        group: group.filter(|g| !g.is_empty()).map(String::from),
        ..Default::default()
    };
    pv_app::app_add(&env, name, &opts).with_context(|| format!("make app {name} from {from}"))?;
    let quiet = pvr_core::progress::Progress::quiet();
    pvr_core::working::add(&repo, &[], false, &quiet)?;
    pvr_core::commit::commit(&repo, Some(name), &mut std::io::sink(), &quiet)?;
    let package = TempPackage { dir };
    let file = std::fs::File::create(package.path())
        .with_context(|| format!("create {}", package.path().display()))?;
    pvr_core::export::write_tar(&repo, &repo.pristine()?, std::io::BufWriter::new(file))?;
    Ok(package)
}
