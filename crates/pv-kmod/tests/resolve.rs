//! Resolution over a fake modules directory written the way depmod does,
//! and the kernel view over fake /proc/modules and /sys/module trees.

use std::fs;
use std::path::Path;

use pv_kmod::{Error, KernelView, ModState, Modprobe, ModuleIndex, Resolved};

fn tree(dir: &Path) {
    let files = [
        "kernel/drivers/net/dummy.ko",
        "kernel/drivers/md/dm-crypt.ko.xz",
        "kernel/drivers/md/dm-mod.ko.xz",
        "kernel/drivers/md/dm-bufio.ko.xz",
        "kernel/crypto/xts.ko.zst",
        "kernel/net/wireless/cfg80211.ko",
        "kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko",
        "kernel/drivers/net/wireless/intel/iwlwifi/mvm/iwlmvm.ko",
        "kernel/drivers/net/usb/usbnet.ko",
        "kernel/drivers/net/usb/cdc_ether.ko",
        "kernel/drivers/net/usb/r8152.ko",
    ];
    for f in files {
        let p = dir.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"\x7fELF").unwrap();
    }
    fs::write(
        dir.join("modules.dep"),
        "kernel/drivers/net/dummy.ko:\n\
         kernel/drivers/md/dm-crypt.ko.xz: kernel/drivers/md/dm-mod.ko.xz kernel/drivers/md/dm-bufio.ko.xz\n\
         kernel/drivers/md/dm-mod.ko.xz:\n\
         kernel/drivers/md/dm-bufio.ko.xz:\n\
         kernel/crypto/xts.ko.zst:\n\
         kernel/net/wireless/cfg80211.ko:\n\
         kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko: kernel/net/wireless/cfg80211.ko\n\
         kernel/drivers/net/wireless/intel/iwlwifi/mvm/iwlmvm.ko: kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko kernel/net/wireless/cfg80211.ko\n\
         kernel/drivers/net/usb/usbnet.ko:\n\
         kernel/drivers/net/usb/cdc_ether.ko: kernel/drivers/net/usb/usbnet.ko\n\
         kernel/drivers/net/usb/r8152.ko: kernel/drivers/net/usb/usbnet.ko\n",
    )
    .unwrap();
    fs::write(
        dir.join("modules.alias"),
        "# Aliases extracted from modules themselves.\n\
         alias rtnl-link-dummy dummy\n\
         alias dm-crypt dm_crypt\n\
         alias crypto-xts xts\n\
         alias usb:v0BDAp8153d*dc*dsc*dp*ic*isc*ip*in* r8152\n\
         alias usb:v*p*d*dc*dsc*dp*ic02isc06ip00in* cdc_ether\n\
         alias pci:v00008086d00002723sv*sd*bc*sc*i* iwlwifi\n\
         alias net-pf-16-proto-[0-9]* ghost\n",
    )
    .unwrap();
    fs::write(
        dir.join("modules.softdep"),
        "# Soft dependencies extracted from modules themselves.\n\
         softdep iwlwifi pre: dummy post: iwlmvm\n\
         softdep dm_crypt pre: crypto-xts\n",
    )
    .unwrap();
    fs::write(
        dir.join("modules.builtin"),
        "kernel/crypto/aes_generic.ko\nkernel/drivers/block/zram/zram.ko\n",
    )
    .unwrap();
}

fn names(r: Resolved) -> Vec<String> {
    match r {
        Resolved::Modules(m) => m.into_iter().map(|e| e.name).collect(),
        Resolved::Builtin(b) => vec![format!("builtin:{b}")],
    }
}

#[test]
fn dependencies_come_first_and_names_are_normalized() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let idx = ModuleIndex::load(d.path()).unwrap();
    // dm-crypt: the file name uses '-', the kernel name '_'
    let order = names(idx.resolve("dm-crypt").unwrap());
    assert_eq!(order.last().unwrap(), "dm_crypt");
    assert_eq!(order.len(), 4, "{order:?}");
    for dep in ["dm_mod", "dm_bufio", "xts"] {
        assert!(order.contains(&dep.to_string()), "{order:?}");
    }
    assert_eq!(names(idx.resolve("dm_crypt").unwrap()), order);
    // a dependency's own dependencies come before it
    let order = names(idx.resolve("iwlmvm").unwrap());
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(pos("cfg80211") < pos("iwlwifi") && pos("iwlwifi") < pos("iwlmvm"));
    // iwlwifi's soft pre-dependency comes along; its post one (iwlmvm) is
    // the module being loaded and is not visited twice
    assert_eq!(order, ["cfg80211", "dummy", "iwlwifi", "iwlmvm"]);
    let e = idx.resolve("dm-crypt").unwrap();
    let Resolved::Modules(m) = e else { panic!() };
    assert_eq!(
        idx.path_of(m.last().unwrap()),
        d.path().join("kernel/drivers/md/dm-crypt.ko.xz")
    );
}

#[test]
fn aliases_match_with_wildcards() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let idx = ModuleIndex::load(d.path()).unwrap();
    assert_eq!(names(idx.resolve("rtnl-link-dummy").unwrap()), ["dummy"]);
    // a device alias: the wildcards of depmod's patterns
    let r8152 = names(
        idx.resolve("usb:v0BDAp8153d3000dc00dsc00dp00icFFisc00ip00in00")
            .unwrap(),
    );
    assert_eq!(r8152, ["usbnet", "r8152"]);
    let cdc = names(
        idx.resolve("usb:v1234p5678d0001dc02dsc00dp00ic02isc06ip00in01")
            .unwrap(),
    );
    assert_eq!(cdc, ["usbnet", "cdc_ether"]);
    // character classes
    assert_eq!(idx.alias_matches("net-pf-16-proto-9"), ["ghost"]);
    assert!(idx.alias_matches("net-pf-16-proto-x").is_empty());
    // an alias naming a module that is not in modules.dep is not a match
    assert!(matches!(
        idx.resolve("net-pf-16-proto-9"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn softdeps_wrap_the_module() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let idx = ModuleIndex::load(d.path()).unwrap();
    let order = names(idx.resolve("iwlwifi").unwrap());
    assert_eq!(order, ["dummy", "cfg80211", "iwlwifi", "iwlmvm"]);
    // a softdep may name an alias
    let order = names(idx.resolve("dm_crypt").unwrap());
    assert_eq!(order.first().unwrap(), "xts", "{order:?}");
}

#[test]
fn missing_and_builtin_modules() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let idx = ModuleIndex::load(d.path()).unwrap();
    let e = idx.resolve("nosuchmod").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("module nosuchmod not found in {}", d.path().display())
    );
    assert_eq!(
        names(idx.resolve("zram").unwrap()),
        ["builtin:zram".to_string()]
    );
    // a dependency that modules.dep names but does not list itself
    fs::write(
        d.path().join("modules.dep"),
        "kernel/a.ko: kernel/b.ko\nkernel/c.ko: kernel/c2.ko\nkernel/c2.ko: kernel/c.ko\n",
    )
    .unwrap();
    let idx = ModuleIndex::load(d.path()).unwrap();
    let e = idx.resolve("a").unwrap_err();
    assert!(
        matches!(&e, Error::MissingDependency { module, dep, .. } if module == "a" && dep == "b"),
        "{e}"
    );
    assert!(matches!(idx.resolve("c"), Err(Error::Cycle(_))));
    let empty = tempfile::tempdir().unwrap();
    let e = ModuleIndex::load(empty.path()).unwrap_err();
    assert!(e.to_string().contains("no modules.dep"), "{e}");
}

fn fake_kernel(root: &Path) -> KernelView {
    let sys = root.join("sys/module");
    for (m, init, refcnt) in [("dm_mod", Some("live"), "1"), ("aes_generic", None, "")] {
        fs::create_dir_all(sys.join(m)).unwrap();
        if let Some(i) = init {
            fs::write(sys.join(m).join("initstate"), format!("{i}\n")).unwrap();
            fs::write(sys.join(m).join("refcnt"), format!("{refcnt}\n")).unwrap();
        }
    }
    fs::write(
        root.join("modules"),
        "dm_mod 184320 1 - Live 0x0000000000000000\n\
         dummy 16384 0 - Loading 0x0000000000000000\n\
         usbnet 57344 2 cdc_ether,r8152, Live 0x0000000000000000\n",
    )
    .unwrap();
    KernelView {
        proc_modules: root.join("modules"),
        sys_module: sys,
    }
}

#[test]
fn kernel_view_reads_sys_and_proc() {
    let d = tempfile::tempdir().unwrap();
    let k = fake_kernel(d.path());
    assert!(k.supports_modules());
    assert_eq!(k.state("dm_mod"), ModState::Live);
    assert_eq!(k.state("dummy"), ModState::Transient);
    assert_eq!(k.state("usbnet"), ModState::Live);
    assert_eq!(k.state("aes_generic"), ModState::Builtin);
    assert_eq!(k.state("dm_crypt"), ModState::Absent);
    assert_eq!(k.refcount("dm_mod"), Some(1));
    assert_eq!(k.refcount("usbnet"), Some(2));
    assert_eq!(k.refcount("nothing"), None);
}

#[test]
fn loaded_modules_are_not_inserted_again() {
    let d = tempfile::tempdir().unwrap();
    tree(&d.path().join("lib"));
    let mut mp = Modprobe::open(&d.path().join("lib")).unwrap();
    mp.kernel = fake_kernel(d.path());
    // everything dummy needs is present (Loading counts as present): no syscall
    let r = mp.load("rtnl-link-dummy", "numdummies=2").unwrap();
    assert!(r.inserted.is_empty());
    assert_eq!(r.present, ["dummy"]);
    assert!(mp.is_loaded("dummy"));
    assert!(mp.is_loaded("zram"));
    assert!(!mp.is_loaded("dm-crypt"));
    let r = mp.load("zram", "").unwrap();
    assert_eq!(r.present, ["zram"]);
    // unloading something not loaded is a clear error, not a syscall
    let e = mp.unload("xts").unwrap_err();
    assert_eq!(e.to_string(), "module xts is not loaded");
}

#[test]
fn a_kernel_without_modules_says_so() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let mut mp = Modprobe::open(d.path()).unwrap();
    mp.kernel = KernelView {
        proc_modules: d.path().join("no/proc/modules"),
        sys_module: d.path().join("no/sys/module"),
    };
    let e = mp.load("dummy", "").unwrap_err();
    assert!(matches!(e, Error::NoModuleSupport), "{e}");
}

#[test]
fn compressed_images_are_decompressed() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let payload: Vec<u8> = (0..20_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let gz = d.path().join("m.ko.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&payload).unwrap();
    fs::write(&gz, e.finish().unwrap()).unwrap();
    let xz = d.path().join("m.ko.xz");
    let mut out = vec![];
    lzma_rs::xz_compress(&mut payload.as_slice(), &mut out).unwrap();
    fs::write(&xz, out).unwrap();
    let zst = d.path().join("m.ko.zst");
    let mut out = vec![];
    ruzstd::encoding::compress(
        payload.as_slice(),
        &mut out,
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    fs::write(&zst, out).unwrap();
    let plain = d.path().join("m.ko");
    fs::write(&plain, &payload).unwrap();
    for p in [&gz, &xz, &zst, &plain] {
        assert_eq!(pv_kmod::read_image(p).unwrap(), payload, "{}", p.display());
    }
    fs::write(&xz, b"not xz").unwrap();
    let e = pv_kmod::read_image(&xz).unwrap_err();
    assert!(e.to_string().contains("cannot decompress"), "{e}");
}

#[test]
fn modprobe_command_line() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        pv_kmod::modprobe_main(&args(&["-q", "--", "nosuch"]), d.path()),
        1
    );
    assert_eq!(pv_kmod::modprobe_main(&args(&["nosuch"]), d.path()), 1);
    assert_eq!(pv_kmod::modprobe_main(&args(&["-x", "dummy"]), d.path()), 1);
    assert_eq!(pv_kmod::modprobe_main(&args(&["-q"]), d.path()), 1);
    // a built-in is there already, whatever the kernel
    assert_eq!(pv_kmod::modprobe_main(&args(&["-q", "zram"]), d.path()), 0);
}
