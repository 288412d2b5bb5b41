//! The build phase of a Pantavisor device (`pvimage`): the BSP part of a
//! revision ([`bsp`]: kernel, our initramfs, modules and firmware squashfs,
//! `bsp/run.json`) and bootable disk images ([`disk`]: an MBR, GRUB
//! ([`grub`]) and an ext4 storage partition holding the factory revision
//! as the runtime installs it).

pub mod bsp;
pub mod disk;
mod error;
pub mod grub;
pub mod initramfs;
pub mod modules;

pub use bsp::{build_bsp, BspOptions, BspReport};
pub use disk::{build_image, parse_size, Bootloader, ImageOptions, ImageReport};
pub use error::{Error, Result};
