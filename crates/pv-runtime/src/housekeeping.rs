//! Storage and host chores of a start: what interrupted writes and a
//! runtime that died left behind, and the `current` links.

use tracing::warn;

use crate::layout::Layout;
use crate::system::System;

/// Point `trails/current` and `logs/current` at `rev` (atomic replace).
pub fn point_current(layout: &Layout, rev: &str) {
    for dir in [layout.trails(), layout.logs()] {
        let link = dir.join("current");
        let tmp = dir.join(format!(".current{}link", pv_fs::TEMP_MARKER));
        let _ = std::fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(rev, &tmp).is_ok() {
            let _ = pv_fs::rename_durable(&tmp, &link);
        }
    }
}

/// Remove temp files of interrupted writes (boot env, metadata, config,
/// progress records); objects and trails have their own cleanup.
pub fn clean_temp_files(layout: &Layout) {
    fn walk(dir: &std::path::Path, depth: usize) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_file() && pv_fs::is_temp_name(&name) {
                let _ = std::fs::remove_file(e.path());
            } else if ft.is_dir() && !ft.is_symlink() && depth > 0 {
                walk(&e.path(), depth - 1);
            }
        }
    }
    walk(&layout.boot(), 1);
    walk(&layout.cache(), 2);
    walk(&layout.config_dir(), 1);
    // progress and commit records: trails/<rev>/.pv and trails/locals/<n>/.pv
    for base in [layout.trails(), layout.trails().join("locals")] {
        let Ok(rd) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in rd.flatten() {
            walk(&e.path().join(".pv"), 0);
            walk(&e.path().join(".pvr"), 0);
        }
    }
}

/// A runtime that died without shutting down (power cut in a test, a
/// crash) may have left containers running and volumes mounted on this
/// host: stop them before anything starts again.
pub fn reap_previous_instance(sys: &dyn System, layout: &Layout) {
    for name in sys.stop_leftover_containers(&layout.cgroup_base()) {
        warn!("stopped container {name} left running by a previous instance");
    }
    for d in [layout.voldir.clone(), layout.containers()] {
        if !sys.mounts_under(&d).is_empty() {
            warn!(
                "unmounting what a previous instance left under {}",
                d.display()
            );
            let _ = sys.unmount_all(&d);
        }
    }
    // disks last: the volumes on them are unmounted now
    crate::disks::reap(layout);
}
