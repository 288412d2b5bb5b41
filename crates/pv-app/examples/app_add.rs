//! `app_add <checkout> <name> <from> [--type rootfs|docker]`: run `pvr app
//! add` through the library (used by bench/app-add-vs-mksquashfs.sh until
//! the CLI is wired).

use std::path::PathBuf;

use pv_app::{app_add, AppAddOptions, AppEnv, NoProgress, SourceType};
use pv_types::State;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 4 {
        eprintln!("usage: app_add <checkout> <name> <from> [rootfs|docker]");
        std::process::exit(2);
    }
    let checkout = PathBuf::from(&a[1]);
    let cache = checkout.join(".bench-cache");
    let pristine = State::new("pantavisor-service-system@1");
    let env = AppEnv {
        checkout: &checkout,
        pristine: &pristine,
        cache_dir: &cache,
        progress: &NoProgress,
    };
    let opts = AppAddOptions {
        from: Some(a[3].clone()),
        source_type: a.get(4).map(|t| t.parse::<SourceType>().expect("type")),
        ..Default::default()
    };
    match app_add(&env, &a[2], &opts) {
        Ok(r) => println!("{} {:?}", r.name, r.squashfs),
        Err(e) => {
            eprintln!("ERROR: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
