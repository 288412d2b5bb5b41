//! What a bootloader reads in a trail: the `.pv/` hard links to the BSP's
//! kernel, initrd and fdt (or FIT image), and `.pv/pv-cmdline`, a GRUB
//! environment block holding `pv_cmdline`, the revision's kernel command
//! line words from `bsp/run.json` (`cmdline`, our addition; grub.cfg loads
//! it with `load_env`, see docs/compat.md).

use std::fs;
use std::path::Path;

use pv_boot::{BootEnv, EnvVars, GrubEnv};
use pv_fs::IoResultExt;
use pv_types::manifest::{self, BspRunJson};
use pv_types::State;

use crate::{Error, Result};

/// The GRUB env block of a trail that holds its kernel command line.
pub const CMDLINE_FILE: &str = "pv-cmdline";
/// The variable of [`CMDLINE_FILE`].
pub const CMDLINE_VAR: &str = "pv_cmdline";

/// Write the boot files of `state` into the trail directory `trail` (its
/// objects are already there). A state without `bsp/run.json` has none.
pub fn write(trail: &Path, state: &State) -> Result<()> {
    let Some(v) = state.get("bsp/run.json") else {
        return Ok(());
    };
    let bsp: BspRunJson = manifest::parse(v).map_err(|e| Error::BootFiles(e.to_string()))?;
    let pv = trail.join(".pv");
    fs::create_dir_all(&pv).at("create directory", &pv)?;
    let bsp_dir = trail.join("bsp");
    for (name, file) in bsp.boot_links() {
        let src = pv_fs::safe_join(&bsp_dir, &file)?;
        if !src.is_file() {
            // an app-only or appengine BSP need not ship boot images
            continue;
        }
        let dst = pv.join(name);
        let _ = fs::remove_file(&dst);
        fs::hard_link(&src, &dst).at("hard link", &dst)?;
    }
    let mut vars = EnvVars::new();
    vars.set(CMDLINE_VAR, bsp.cmdline.as_deref().unwrap_or(""));
    GrubEnv::new(pv.join(CMDLINE_FILE)).write(&vars)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(run: &str) -> State {
        State::from_slice(
            format!(
                r##"{{"#spec":"pantavisor-service-system@1","bsp/run.json":{run},"bsp/kernel.img":"{k}","bsp/pantavisor":"{k}"}}"##,
                k = "0".repeat(64)
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn links_and_cmdline() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("bsp")).unwrap();
        fs::write(d.path().join("bsp/kernel.img"), b"k").unwrap();
        fs::write(d.path().join("bsp/pantavisor"), b"i").unwrap();
        let s = state(r#"{"linux":"kernel.img","initrd":"pantavisor","cmdline":"quiet pv_x=1"}"#);
        write(d.path(), &s).unwrap();
        assert_eq!(fs::read(d.path().join(".pv/pv-kernel.img")).unwrap(), b"k");
        assert_eq!(fs::read(d.path().join(".pv/pv-initrd.img")).unwrap(), b"i");
        let env = GrubEnv::new(d.path().join(".pv/pv-cmdline"))
            .read()
            .unwrap();
        assert_eq!(env.get(CMDLINE_VAR), Some("quiet pv_x=1"));
        // again (a reinstall): links replaced, not an error
        write(d.path(), &s).unwrap();
    }

    #[test]
    fn escaping_paths_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = state(r#"{"linux":"../../etc/passwd"}"#);
        assert!(write(d.path(), &s).is_err());
    }
}
