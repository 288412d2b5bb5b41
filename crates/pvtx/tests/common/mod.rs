#![allow(dead_code)]
//! Packages made by our `pvr` (a checkout with a BSP, a signed app with a
//! config overlay and an unsigned app; `pvr export` of all or some parts)
//! and a runner for the `pvtx` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A binary of this workspace (see [`pv_testkit::workspace_bin`]).
pub fn workspace_bin(name: &str) -> PathBuf {
    pv_testkit::workspace_bin(env!("CARGO_BIN_EXE_pvtx"), env!("CARGO"), name)
}

/// The RSA test key of pv-sign.
pub fn signing_key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pv-sign/tests/data/rsa-pkcs1.key.pem")
}

/// A pvr checkout and its config dir.
pub struct Repo {
    pub root: PathBuf,
    pub cfg: PathBuf,
}

impl Repo {
    pub fn pvr(&self, args: &[&str]) -> String {
        let out = Command::new(workspace_bin("pvr"))
            .args(args)
            .current_dir(&self.root)
            .env("PVR_CONFIG_DIR", &self.cfg)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "pvr {args:?}: {text}");
        text
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    pub fn commit(&self, msg: &str) {
        self.pvr(&["add", "."]);
        self.pvr(&["commit", "-m", msg]);
    }

    /// Sign part `name` with the default rules, and commit.
    pub fn sign(&self, name: &str) {
        let key = signing_key();
        self.pvr(&[
            "sig",
            "--key",
            key.to_str().unwrap(),
            "--x5c",
            "no",
            "add",
            "--part",
            name,
        ]);
        self.commit(&format!("sign {name}"));
    }

    /// `pvr export [--parts …] <dest>`.
    pub fn export(&self, parts: Option<&str>, dest: &Path) {
        let d = dest.to_str().unwrap();
        match parts {
            Some(p) => self.pvr(&["export", "--parts", p, d]),
            None => self.pvr(&["export", d]),
        };
    }

    /// The committed state, canonical.
    pub fn state(&self) -> Vec<u8> {
        let s = pv_types::State::from_slice(&std::fs::read(self.root.join(".pvr/json")).unwrap())
            .unwrap();
        s.to_canonical()
    }
}

/// A container part `name` with its own random root.
pub fn add_app(r: &Repo, name: &str, seed: &str) {
    r.write(
        &format!("{name}/run.json"),
        serde_json::json!({"#spec": "service-manifest-run@1", "name": name,
            "config": "lxc.container.conf", "root-volume": "root.squashfs", "type": "lxc",
            "storage": {}, "volumes": []})
        .to_string()
        .as_bytes(),
    );
    r.write(
        &format!("{name}/root.squashfs"),
        format!("root of {name} {seed}").repeat(100).as_bytes(),
    );
    r.write(
        &format!("{name}/lxc.container.conf"),
        format!("conf {name}").as_bytes(),
    );
    r.write(
        &format!("{name}/src.json"),
        br##"{"#spec":"service-manifest-src@1"}"##,
    );
}

/// A repository with `bsp`, a signed `app` with `_config/app`, an
/// unsigned `web`, and `device.json`.
pub fn repo(dir: &Path) -> Repo {
    let r = Repo {
        root: dir.join("repo"),
        cfg: dir.join("pvr-config"),
    };
    std::fs::create_dir_all(&r.root).unwrap();
    r.pvr(&["init"]);
    r.write(
        "bsp/run.json",
        br#"{"initrd":"pantavisor","linux":"kernel.img"}"#,
    );
    r.write("bsp/kernel.img", b"a kernel");
    r.write("bsp/pantavisor", b"an initrd");
    add_app(&r, "app", "v1");
    r.write("_config/app/etc/motd", b"v1\n");
    add_app(&r, "web", "v1");
    r.write("device.json", br#"{"groups":[]}"#);
    r.commit("first");
    r.sign("app");
    r
}

/// Run `pvtx` with `PVTXDIR=txdir`; stdin from `input` if given.
pub fn pvtx(txdir: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pvtx"));
    c.args(args)
        .env("PVTXDIR", txdir)
        .env_remove("PVTX_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match input {
        None => c.output().unwrap(),
        Some(data) => {
            c.stdin(Stdio::piped());
            let mut child = c.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let data = data.to_vec();
            let t = std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(&data);
            });
            let out = child.wait_with_output().unwrap();
            t.join().unwrap();
            out
        }
    }
}

/// `pvtx …` must succeed; its stdout.
pub fn ok(txdir: &Path, args: &[&str]) -> String {
    let o = pvtx(txdir, args, None);
    assert!(
        o.status.success(),
        "pvtx {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `pvtx show`, canonical bytes without the newline.
pub fn show(txdir: &Path) -> Vec<u8> {
    let out = ok(txdir, &["show"]);
    out.strip_suffix('\n').unwrap().as_bytes().to_vec()
}

/// `pvtx …` must fail with `code`; its stderr.
pub fn fails(txdir: &Path, args: &[&str], code: i32) -> String {
    let o = pvtx(txdir, args, None);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "pvtx {args:?}: {err}");
    err
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
