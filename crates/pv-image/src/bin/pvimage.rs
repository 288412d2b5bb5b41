//! `pvimage`: the build phase. `pvimage bsp` writes the `bsp/` part of a
//! revision; `pvimage build` makes a bootable disk image of a revision.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "pvimage",
    version,
    about = "Build BSPs and bootable disk images of Pantavisor revisions"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Loader {
    Grub,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the bsp/ part of a state into a checkout: kernel, initramfs,
    /// modules.squashfs, firmware.squashfs, run.json
    Bsp {
        /// The kernel image (bzImage)
        #[arg(long)]
        kernel: PathBuf,
        /// /lib/modules/<release> of that kernel
        #[arg(long)]
        modules: Option<PathBuf>,
        /// A firmware directory (becomes firmware.squashfs)
        #[arg(long)]
        firmware: Option<PathBuf>,
        /// Kernel command line words of the revision (after pv_rev=)
        #[arg(long)]
        cmdline: Option<String>,
        /// The initramfs's /etc/pantavisor.config (default: an embedded
        /// device, storage by label, no LAN endpoint)
        #[arg(long)]
        config: Option<PathBuf>,
        /// The static pantavisor binary (default: `pantavisor` beside pvimage)
        #[arg(long)]
        pantavisor: Option<PathBuf>,
        /// The static pv-xconnect binary (default: `pv-xconnect` beside the
        /// pantavisor binary, left out with a warning when there is none)
        #[arg(long)]
        xconnect: Option<PathBuf>,
        /// The static pv-hub-agent binary (default: `pv-hub-agent` beside
        /// the pantavisor binary, left out with a warning when there is none)
        #[arg(long)]
        hub_agent: Option<PathBuf>,
        /// Modules the initramfs carries, comma separated (default: the
        /// storage, loop, squashfs and overlay modules present)
        #[arg(long, value_delimiter = ',')]
        initrd_modules: Option<Vec<String>>,
        /// The checkout (bsp/ is written inside it)
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a bootable raw disk image from a checkout or an export
    Build {
        /// A pvr checkout, bare repository or .pvrexport.tgz
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Image size (e.g. 1G, 512M; default: fits the revision and updates)
        #[arg(long)]
        size: Option<String>,
        #[arg(long, value_enum, default_value = "grub")]
        bootloader: Loader,
        /// Where the device mounts the storage
        #[arg(long, default_value = "/storage")]
        mountpoint: String,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("pvimage: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Bsp {
            kernel,
            modules,
            firmware,
            cmdline,
            config,
            pantavisor,
            xconnect,
            hub_agent,
            initrd_modules,
            out,
        } => {
            let pantavisor = match pantavisor {
                Some(p) => p,
                None => std::env::current_exe()
                    .context("where is pvimage")?
                    .with_file_name("pantavisor"),
            };
            // a program beside pantavisor, unless named
            let beside = |named: Option<PathBuf>, name: &str, without: &str| {
                named.or_else(|| {
                    let beside = pantavisor.with_file_name(name);
                    if beside.is_file() {
                        return Some(beside);
                    }
                    eprintln!(
                        "pvimage: no {}: the initramfs has no {name} ({without})",
                        beside.display()
                    );
                    None
                })
            };
            let xconnect = beside(xconnect, "pv-xconnect", "no service mesh; see --xconnect");
            let hub_agent = beside(hub_agent, "pv-hub-agent", "no hub client; see --hub-agent");
            let r = pv_image::build_bsp(
                &pv_image::BspOptions {
                    kernel,
                    modules,
                    firmware,
                    cmdline,
                    config,
                    pantavisor,
                    xconnect,
                    hub_agent,
                    initrd_modules,
                },
                &out,
            )?;
            for (name, len) in &r.files {
                println!("bsp/{name}\t{len}");
            }
            if !r.initrd_modules.is_empty() {
                println!("initramfs modules: {}", r.initrd_modules.join(" "));
            }
            println!("now: pvr add . && pvr commit (in {})", out.display());
        }
        Cmd::Build {
            state,
            out,
            size,
            bootloader: Loader::Grub,
            mountpoint,
        } => {
            let size = size.map(|s| pv_image::parse_size(&s)).transpose()?;
            let t = Instant::now();
            let r = pv_image::build_image(&pv_image::ImageOptions {
                state,
                out: out.clone(),
                size,
                bootloader: pv_image::Bootloader::Grub,
                mountpoint,
            })?;
            println!(
                "{}: {} MiB image, {} MiB of storage content, core.img {} KiB, built in {:.1} s",
                out.display(),
                r.size >> 20,
                r.content >> 20,
                r.core_img >> 10,
                t.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
