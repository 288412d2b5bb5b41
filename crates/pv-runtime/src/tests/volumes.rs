//! What a container's start and stop ask of the kernel (spec §5.11), read
//! from the fake's record: the image from its revision through a loop
//! device, storage volumes by persistence, the config overlay's tmpfs, the
//! cgroup, and everything unmounted once it stopped.

use pv_container::volumes::VolumeSource;
use serde_json::json;

use super::rig::{Rev, Rig};
use crate::engine::Action;
use crate::system::fake::Call;

#[test]
fn a_start_mounts_each_volume_by_its_persistence_and_a_stop_unmounts_them() {
    let rev = Rev::default().with(
        "app/run.json",
        json!({
            "#spec": "service-manifest-run@1", "name": "app", "type": "lxc",
            "config": "lxc.container.conf", "root-volume": "root.squashfs", "volumes": [],
            "group": "app",
            "storage": {"perm": {"persistence": "permanent"},
                        "rev": {"persistence": "revision"},
                        "tmp": {"persistence": "boot"}},
        }),
    );
    let rig = Rig::with_factory(&rev);
    let mut dev = rig.boot();
    rig.ticks(&mut dev, 3);
    let l = rig.layout();
    let vol = l.voldir.join("app");
    let mounts: Vec<(VolumeSource, std::path::PathBuf)> = rig
        .sys
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Mount { source, target } if target.starts_with(&vol) => Some((source, target)),
            _ => None,
        })
        .collect();
    assert_eq!(
        mounts,
        vec![
            (
                VolumeSource::Image {
                    path: l.trail("0").join("app/root.squashfs"),
                    fstype: "squashfs".into()
                },
                vol.join("root.squashfs")
            ),
            (
                VolumeSource::Dir(l.disks().join("perm/app/perm")),
                vol.join("perm")
            ),
            (
                VolumeSource::Dir(l.disks().join("rev/0/app/rev")),
                vol.join("rev")
            ),
            (VolumeSource::Tmpfs, vol.join("tmp")),
            (VolumeSource::Tmpfs, vol.join("lxc-overlay")),
        ]
    );
    let base = l.cgroup_base();
    assert!(rig
        .sys
        .calls()
        .contains(&Call::CreateCgroup(format!("{base}/app"))));
    // a stop on request: SIGTERM, then the volumes go once it exited
    rig.sys.take_calls();
    let engine = dev.engine.as_mut().unwrap();
    engine.container_action("app", Action::Stop).unwrap();
    rig.ticks(&mut dev, 2);
    assert_eq!(rig.sys.running("app"), None);
    assert!(rig.sys.calls().contains(&Call::UnmountAll(vol.clone())));
    assert!(rig.sys.mounted().iter().all(|m| !m.starts_with(&vol)));
    assert!(rig.sys.running("sys").is_some(), "sys is not touched");
}
