//! GRUB for BIOS machines from Debian's `grub-pc-bin`: a `core.img` with
//! every module the boot needs embedded (nothing is read from
//! `/boot/grub/i386-pc`), `boot.img` for the MBR, and the `grub.cfg` that
//! implements the try-boot protocol of spec §4.1 with the GRUB environment
//! block the runtime writes (`pv_boot::GrubEnv`, `<storage>/boot/grubenv`).

use std::path::{Path, PathBuf};
use std::process::Command;

use pv_fs::IoResultExt;

use crate::{Error, Result};

/// The label of the storage partition, as the default configuration
/// (`PV_STORAGE_DEVICE=LABEL=pvroot`) and GRUB's early search expect.
pub const STORAGE_LABEL: &str = "pvroot";

/// Where the BIOS platform files are.
pub const GRUB_PC_DIR: &str = "/usr/lib/grub/i386-pc";

/// Modules embedded in `core.img`.
pub const CORE_MODULES: &[&str] = &[
    "biosdisk",
    "part_msdos",
    "ext2",
    "search",
    "search_label",
    "normal",
    "configfile",
    "linux",
    "loadenv",
    "test",
    "echo",
    "serial",
    "terminal",
    "sleep",
    "reboot",
];

/// The config embedded in `core.img`: find the storage by its label.
pub fn early_config() -> String {
    format!("search --no-floppy --label {STORAGE_LABEL} --set=root\nset prefix=($root)/boot/grub\n")
}

/// `boot/grub/grub.cfg` of the storage: the try-boot protocol.
///
/// - no `pv_try`: boot `pv_rev` (`0` when unset);
/// - `pv_try` set and not yet attempted (`pv_trying` differs): record
///   `pv_trying=<pv_try>` in the env block first, then boot `pv_try`;
/// - `pv_try` set and already attempted: clear `pv_trying`, boot `pv_rev`
///   (the runtime, booted there, sees the failed try and clears `pv_try`).
///
/// The kernel and initrd are the trail's `.pv/` links; the command line is
/// `pv_rev=<rev>` then the revision's own words (`.pv/pv-cmdline`, from
/// `cmdline` in `bsp/run.json`). A revision that cannot be loaded falls
/// back to `pv_rev`.
pub const GRUB_CFG: &str = r#"# pvimage: try-boot with the GRUB environment block (spec 4.1)
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set envfile=/boot/grubenv
load_env -f ${envfile} pv_rev pv_try pv_trying
if [ -z "${pv_rev}" ]; then set pv_rev=0; fi
set boot_rev="${pv_rev}"
if [ -n "${pv_try}" ]; then
  if [ "${pv_trying}" = "${pv_try}" ]; then
    echo "pantavisor: revision ${pv_try} was tried and not committed"
    set pv_trying=
    save_env -f ${envfile} pv_trying
  else
    set pv_trying="${pv_try}"
    save_env -f ${envfile} pv_trying
    set boot_rev="${pv_try}"
  fi
fi

function pv_boot {
  set pv_cmdline=
  load_env -f /trails/$1/.pv/pv-cmdline pv_cmdline
  echo "pantavisor: booting revision $1"
  linux /trails/$1/.pv/pv-kernel.img pv_rev=$1 ${pv_cmdline}
  initrd /trails/$1/.pv/pv-initrd.img
  boot
}

pv_boot "${boot_rev}"
echo "pantavisor: revision ${boot_rev} cannot be loaded, booting ${pv_rev}"
pv_boot "${pv_rev}"
echo "pantavisor: nothing bootable; rebooting in 10 s"
sleep 10
reboot
"#;

/// The BIOS files of GRUB.
#[derive(Debug, Clone)]
pub struct GrubBios {
    pub dir: PathBuf,
}

impl GrubBios {
    /// The platform directory, or a clear error naming the package.
    pub fn find() -> Result<GrubBios> {
        let dir =
            PathBuf::from(std::env::var_os("PV_GRUB_PC_DIR").unwrap_or_else(|| GRUB_PC_DIR.into()));
        if !dir.join("boot.img").is_file() {
            return Err(Error::MissingTool {
                tool: "GRUB BIOS images (boot.img)",
                package: "grub-pc-bin",
            });
        }
        Ok(GrubBios { dir })
    }

    /// The MBR code: the first 440 bytes of `boot.img` (the disk
    /// signature and partition table stay ours). Its default says that
    /// `core.img` starts at sector 1, where [`crate::disk`] puts it.
    pub fn boot_code(&self) -> Result<[u8; 440]> {
        let p = self.dir.join("boot.img");
        let b = std::fs::read(&p).at("read", &p)?;
        if b.len() != 512 || b[510..] != [0x55, 0xaa] {
            return Err(Error::input(p, "not a GRUB boot.img"));
        }
        Ok(b[..440].try_into().unwrap())
    }

    /// `grub-mkimage -O i386-pc` with [`CORE_MODULES`] and
    /// [`early_config`].
    pub fn core_image(&self, work: &Path) -> Result<Vec<u8>> {
        let cfg = work.join("early.cfg");
        std::fs::write(&cfg, early_config()).at("write", &cfg)?;
        let out = work.join("core.img");
        let tool = find_tool("grub-mkimage", "grub-common")?;
        let o = Command::new(tool)
            .args(["-O", "i386-pc", "-d"])
            .arg(&self.dir)
            .arg("-c")
            .arg(&cfg)
            .args(["-p", "/boot/grub", "-o"])
            .arg(&out)
            .args(CORE_MODULES)
            .output()
            .at("run", Path::new("grub-mkimage"))?;
        if !o.status.success() {
            return Err(Error::Tool {
                tool: "grub-mkimage".into(),
                status: o.status.to_string(),
                stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            });
        }
        Ok(std::fs::read(&out).at("read", &out)?)
    }
}

/// A program on `PATH` or in the sbin directories.
pub fn find_tool(tool: &'static str, package: &'static str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(Error::MissingTool { tool, package })
}
