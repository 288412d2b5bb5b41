//! pvflasher on real targets: files (every compression, holes for empty
//! blocks) and loop devices (exact result over old contents, too small,
//! mounted refused).

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pv_flasher::source::Format;

const MIB: usize = 1 << 20;

/// 8 MiB: data, a 3 MiB run of zeros, data, zeros up to the end.
fn image_bytes() -> Vec<u8> {
    let mut v = vec![0u8; 8 * MIB];
    let mut x: u32 = 12345;
    for (i, b) in v.iter_mut().enumerate() {
        if i < 2 * MIB + 100 || (5 * MIB..6 * MIB).contains(&i) {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            *b = (x >> 16) as u8 | 1;
        }
    }
    v
}

fn write_formats(dir: &Path, raw: &[u8]) -> Vec<(PathBuf, Format)> {
    let p = dir.join("disk.img");
    std::fs::write(&p, raw).unwrap();
    let gz = dir.join("disk.img.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    e.write_all(raw).unwrap();
    e.finish().unwrap();
    let bz = dir.join("disk.img.bz2");
    let mut e = bzip2::write::BzEncoder::new(
        std::fs::File::create(&bz).unwrap(),
        bzip2::Compression::fast(),
    );
    e.write_all(raw).unwrap();
    e.finish().unwrap();
    let xz = dir.join("disk.img.xz");
    let mut e = xz2::write::XzEncoder::new(std::fs::File::create(&xz).unwrap(), 1);
    e.write_all(raw).unwrap();
    e.finish().unwrap();
    vec![
        (p, Format::Raw),
        (gz, Format::Gzip),
        (bz, Format::Bzip2),
        (xz, Format::Xz),
    ]
}

#[test]
fn every_format_to_a_sparse_file() {
    let d = tempfile::tempdir().unwrap();
    let raw = image_bytes();
    for (img, format) in write_formats(d.path(), &raw) {
        let out = d.path().join("out.img");
        // an older, longer file at the target is replaced
        std::fs::write(&out, vec![0xaau8; 9 * MIB]).unwrap();
        let r = pv_flasher::flash(&img, &out, true, false).unwrap();
        assert_eq!(r.format, format, "{}", img.display());
        assert_eq!(r.bytes, raw.len() as u64);
        assert!(r.verified);
        assert!(std::fs::read(&out).unwrap() == raw, "{}", img.display());
        // the zero blocks are holes: well under 8 MiB allocated
        assert!(r.skipped >= 4 * MIB as u64, "{r:?}");
        let md = std::fs::metadata(&out).unwrap();
        assert!(
            md.blocks() * 512 < 5 * MIB as u64,
            "{} bytes allocated",
            md.blocks() * 512
        );
    }
}

#[test]
fn cli_copy_and_refusals() {
    let d = tempfile::tempdir().unwrap();
    let raw = image_bytes();
    let imgs = write_formats(d.path(), &raw);
    let out = d.path().join("t.img");
    let o = Command::new(env!("CARGO_BIN_EXE_pvflasher"))
        .args(["copy", "-q"])
        .arg(&imgs[1].0)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("verified"));
    assert!(std::fs::read(&out).unwrap() == raw);
    // a directory is no target; a missing image changes nothing
    let o = Command::new(env!("CARGO_BIN_EXE_pvflasher"))
        .args(["copy", "-q"])
        .arg(&imgs[0].0)
        .arg(d.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = pv_flasher::flash(&d.path().join("nope"), &out, true, false).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    assert!(std::fs::read(&out).unwrap() == raw);
}

struct Loop(String);
impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

fn attach(file: &Path) -> Loop {
    let o = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Loop(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

#[test]
fn loop_devices() {
    if !pv_testkit::require_root()
        || !pv_testkit::require_tools(&["losetup", "mkfs.ext4", "mount", "umount"])
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let raw = image_bytes();
    let imgs = write_formats(d.path(), &raw);
    // old contents everywhere: the empty blocks must come out as zeros
    let backing = d.path().join("dev.bin");
    std::fs::write(&backing, vec![0x5au8; 12 * MIB]).unwrap();
    let dev = attach(&backing);
    let r = pv_flasher::flash(&imgs[3].0, Path::new(&dev.0), true, false).unwrap();
    assert!(r.verified && r.skipped > 0);
    let got = std::fs::read(&backing).unwrap();
    assert!(got[..raw.len()] == raw[..]);
    assert!(
        got[raw.len()..].iter().all(|b| *b == 0x5a),
        "beyond the image: untouched"
    );

    // a device smaller than the image
    let small = d.path().join("small.bin");
    std::fs::write(&small, vec![0u8; 4 * MIB]).unwrap();
    let sdev = attach(&small);
    let e = pv_flasher::flash(&imgs[0].0, Path::new(&sdev.0), true, false).unwrap_err();
    assert!(matches!(e, pv_flasher::Error::TooSmall { .. }), "{e}");

    // mounted: the device itself, and the file behind it
    let fsfile = d.path().join("fs.bin");
    std::fs::write(&fsfile, vec![0u8; 16 * MIB]).unwrap();
    assert!(Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&fsfile)
        .status()
        .unwrap()
        .success());
    let fdev = attach(&fsfile);
    let mnt = d.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    assert!(Command::new("mount")
        .arg(&fdev.0)
        .arg(&mnt)
        .status()
        .unwrap()
        .success());
    // ext4 never writes its first 1 KiB; the image starts with data
    let head = |p: &Path| std::fs::read(p).unwrap()[..1024].to_vec();
    let before = head(&fsfile);
    let e1 = pv_flasher::flash(&imgs[0].0, Path::new(&fdev.0), true, false);
    let e2 = pv_flasher::flash(&imgs[0].0, &fsfile, true, false);
    let _ = Command::new("umount").arg(&mnt).status();
    let e1 = e1.unwrap_err().to_string();
    let e2 = e2.unwrap_err().to_string();
    assert!(
        e1.contains("is mounted") && e1.contains(&*mnt.to_string_lossy()),
        "{e1}"
    );
    assert!(e2.contains("through /dev/loop"), "{e2}");
    assert!(head(&fsfile) == before, "nothing written");
}
