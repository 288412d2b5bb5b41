//! Read-only, auto-clearing loop devices for squashfs images.
//!
//! The kernel interface is a few ioctls on `/dev/loop-control` and
//! `/dev/loopN`; this is the only module of the crate with `unsafe` code,
//! each block limited to one ioctl on a file descriptor we own, with a
//! properly initialised `#[repr(C)]` argument.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

const LOOP_CTL_GET_FREE: u64 = 0x4C82;
const LOOP_CONFIGURE: u64 = 0x4C0A;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

nix::ioctl_none_bad!(loop_ctl_get_free, LOOP_CTL_GET_FREE);
nix::ioctl_write_ptr_bad!(loop_configure, LOOP_CONFIGURE, LoopConfig);

/// An attached loop device. It detaches by itself once it is unmounted and
/// this handle is dropped (auto-clear).
#[derive(Debug)]
pub struct LoopDevice {
    file: File,
    path: PathBuf,
}

impl LoopDevice {
    /// The device node, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Attach `image` read-only to a free loop device.
    pub fn attach_read_only(image: &Path) -> Result<LoopDevice> {
        let backing = File::open(image).map_err(|e| pv_fs::FsError::new("open", image, e))?;
        let ctl_path = Path::new("/dev/loop-control");
        let ctl = OpenOptions::new()
            .read(true)
            .write(true)
            .open(ctl_path)
            .map_err(|e| pv_fs::FsError::new("open", ctl_path, e))?;
        let mut last = None;
        for _ in 0..32 {
            // SAFETY: LOOP_CTL_GET_FREE takes no argument; `ctl` is an open fd.
            let n = unsafe { loop_ctl_get_free(ctl.as_raw_fd()) }
                .map_err(|e| Error::sys("find a free loop device", ctl_path, e))?;
            let path = PathBuf::from(format!("/dev/loop{n}"));
            let dev = match OpenOptions::new().read(true).open(&path) {
                Ok(f) => f,
                Err(e) => return Err(pv_fs::FsError::new("open", path, e).into()),
            };
            let mut name = [0u8; 64];
            let src = image.as_os_str().as_encoded_bytes();
            let k = src.len().min(63);
            name[..k].copy_from_slice(&src[..k]);
            let cfg = LoopConfig {
                fd: backing.as_raw_fd() as u32,
                block_size: 0,
                info: LoopInfo64 {
                    lo_device: 0,
                    lo_inode: 0,
                    lo_rdevice: 0,
                    lo_offset: 0,
                    lo_sizelimit: 0,
                    lo_number: 0,
                    lo_encrypt_type: 0,
                    lo_encrypt_key_size: 0,
                    lo_flags: LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR,
                    lo_file_name: name,
                    lo_crypt_name: [0; 64],
                    lo_encrypt_key: [0; 32],
                    lo_init: [0; 2],
                },
                reserved: [0; 8],
            };
            // SAFETY: `dev` is an open loop device fd and `cfg` a fully
            // initialised loop_config that outlives the call.
            match unsafe { loop_configure(dev.as_raw_fd(), &cfg) } {
                Ok(_) => return Ok(LoopDevice { file: dev, path }),
                // another process took it between GET_FREE and CONFIGURE
                Err(nix::errno::Errno::EBUSY) => {
                    last = Some(nix::errno::Errno::EBUSY);
                    continue;
                }
                Err(e) => return Err(Error::sys("attach loop device for", image, e)),
            }
        }
        Err(Error::sys(
            "attach loop device for",
            image,
            last.unwrap_or(nix::errno::Errno::EBUSY),
        ))
    }

    /// Keep the fd open as long as the caller wants (e.g. until mounted).
    pub fn file(&self) -> &File {
        &self.file
    }
}
