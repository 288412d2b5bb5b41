//! The index files of a modules directory (`/lib/modules/<release>`), as
//! `depmod` writes them: `modules.dep`, `modules.alias`, `modules.softdep`
//! and `modules.builtin`, and the resolution of a name into the ordered
//! list of module files to insert.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::{normalize, Error, Result};

/// One module known to `modules.dep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEntry {
    /// Normalized name (`-` → `_`, no extension).
    pub name: String,
    /// Path relative to the modules directory (`kernel/drivers/net/dummy.ko.xz`).
    pub rel: String,
    /// Names of the modules it depends on, as `modules.dep` lists them.
    pub deps: Vec<String>,
}

/// A `softdep` line: modules to load before and after a module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoftDep {
    pub pre: Vec<String>,
    pub post: Vec<String>,
}

/// The parsed index of one modules directory.
#[derive(Debug, Clone, Default)]
pub struct ModuleIndex {
    pub dir: PathBuf,
    pub modules: BTreeMap<String, ModuleEntry>,
    /// `(pattern, module)` in file order.
    pub aliases: Vec<(glob::Pattern, String)>,
    pub softdeps: BTreeMap<String, SoftDep>,
    pub builtin: BTreeSet<String>,
}

/// What a name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Modules to insert, dependencies first (the named ones last).
    Modules(Vec<ModuleEntry>),
    /// Built into the kernel: nothing to insert.
    Builtin(String),
}

/// The module name of a path like `kernel/net/x-y.ko.zst` → `x_y`.
pub fn name_of_path(rel: &str) -> String {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    let stem = base.split(".ko").next().unwrap_or(base);
    normalize(stem)
}

/// Aliases compare with `-` and `_` as one character, as modprobe does;
/// a `-` inside a `[...]` class is a range and stays.
pub fn alias_normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_class = false;
    for c in s.chars() {
        match c {
            '[' => in_class = true,
            ']' => in_class = false,
            '-' if !in_class => {
                out.push('_');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io {
            op: "read",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

impl ModuleIndex {
    /// Read the index of `dir`. `modules.dep` is required; the other files
    /// are used when present.
    pub fn load(dir: &Path) -> Result<ModuleIndex> {
        let dep_path = dir.join("modules.dep");
        let dep = read_optional(&dep_path)?.ok_or_else(|| Error::NoIndex(dir.to_path_buf()))?;
        let mut idx = ModuleIndex {
            dir: dir.to_path_buf(),
            ..Default::default()
        };
        idx.parse_dep(&dep);
        if let Some(s) = read_optional(&dir.join("modules.alias"))? {
            idx.parse_alias(&s)?;
        }
        if let Some(s) = read_optional(&dir.join("modules.softdep"))? {
            idx.parse_softdep(&s);
        }
        if let Some(s) = read_optional(&dir.join("modules.builtin"))? {
            idx.builtin = s
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| name_of_path(l.trim()))
                .collect();
        }
        Ok(idx)
    }

    fn parse_dep(&mut self, text: &str) {
        for line in text.lines() {
            let Some((m, deps)) = line.split_once(':') else {
                continue;
            };
            let rel = m.trim().to_string();
            if rel.is_empty() {
                continue;
            }
            let name = name_of_path(&rel);
            let deps = deps.split_whitespace().map(name_of_path).collect();
            self.modules
                .insert(name.clone(), ModuleEntry { name, rel, deps });
        }
    }

    fn parse_alias(&mut self, text: &str) -> Result<()> {
        for line in text.lines() {
            let mut it = line.split_whitespace();
            if it.next() != Some("alias") {
                continue;
            }
            let (Some(pat), Some(module)) = (it.next(), it.next()) else {
                continue;
            };
            let p = glob::Pattern::new(&alias_normalize(pat)).map_err(|e| Error::BadIndex {
                file: self.dir.join("modules.alias"),
                detail: format!("alias {pat}: {e}"),
            })?;
            self.aliases.push((p, normalize(module)));
        }
        Ok(())
    }

    fn parse_softdep(&mut self, text: &str) {
        for line in text.lines() {
            let mut it = line.split_whitespace();
            if it.next() != Some("softdep") {
                continue;
            }
            let Some(module) = it.next() else { continue };
            let sd = self.softdeps.entry(normalize(module)).or_default();
            let mut post = false;
            for w in it {
                match w {
                    "pre:" => post = false,
                    "post:" => post = true,
                    m if post => sd.post.push(normalize(m)),
                    m => sd.pre.push(normalize(m)),
                }
            }
        }
    }

    /// The modules whose aliases match `name` (fnmatch semantics, `*`
    /// crossing `/` too), in file order, without repeats.
    pub fn alias_matches(&self, name: &str) -> Vec<String> {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        let name = alias_normalize(name);
        let mut out: Vec<String> = vec![];
        for (p, m) in &self.aliases {
            if p.matches_with(&name, opts) && !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }

    /// Resolve a module name or alias the way `modprobe` does: a module of
    /// `modules.dep`, else the modules its aliases name, else a built-in.
    /// The result lists every file to insert, dependencies (and `pre:`
    /// softdeps) before the modules that need them, `post:` softdeps after.
    pub fn resolve(&self, name: &str) -> Result<Resolved> {
        let n = normalize(name);
        let targets: Vec<String> = if self.modules.contains_key(&n) {
            vec![n.clone()]
        } else {
            let via_alias: Vec<String> = self
                .alias_matches(name)
                .into_iter()
                .filter(|m| self.modules.contains_key(m) || self.builtin.contains(m))
                .collect();
            if via_alias.is_empty() {
                if self.builtin.contains(&n) {
                    return Ok(Resolved::Builtin(n));
                }
                return Err(Error::NotFound {
                    name: name.to_string(),
                    dir: self.dir.clone(),
                });
            }
            via_alias
        };
        let mut order = vec![];
        let mut done = BTreeSet::new();
        for t in &targets {
            if self.builtin.contains(t) && !self.modules.contains_key(t) {
                continue;
            }
            self.visit(t, &mut order, &mut done, &mut vec![], true)?;
        }
        if order.is_empty() {
            return Ok(Resolved::Builtin(targets[0].clone()));
        }
        Ok(Resolved::Modules(order))
    }

    /// Depth-first: dependencies, then `m`. `stack` detects cycles.
    fn visit(
        &self,
        m: &str,
        order: &mut Vec<ModuleEntry>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
        softdeps: bool,
    ) -> Result<()> {
        if done.contains(m) {
            return Ok(());
        }
        if stack.iter().any(|s| s == m) {
            stack.push(m.to_string());
            return Err(Error::Cycle(stack.join(" -> ")));
        }
        let Some(entry) = self.modules.get(m) else {
            if self.builtin.contains(m) {
                return Ok(());
            }
            return Err(Error::MissingDependency {
                module: stack.last().cloned().unwrap_or_default(),
                dep: m.to_string(),
                dir: self.dir.clone(),
            });
        };
        stack.push(m.to_string());
        let sd = if softdeps {
            self.softdeps.get(m).cloned()
        } else {
            None
        };
        // soft dependencies are best effort, as in modprobe: one that is
        // missing, or already on the way (a module that softdeps back on
        // what needs it), is skipped
        let soft_ok =
            |p: &String, stack: &Vec<String>| self.modules.contains_key(p) && !stack.contains(p);
        for p in sd.iter().flat_map(|s| self.soft_targets(&s.pre)) {
            if soft_ok(&p, stack) {
                self.visit(&p, order, done, stack, false)?;
            }
        }
        // modules.dep lists the closure, deepest last: visiting in reverse
        // keeps depmod's order while still placing each dep after its own
        for d in entry.deps.iter().rev() {
            self.visit(d, order, done, stack, softdeps)?;
        }
        stack.pop();
        done.insert(m.to_string());
        order.push(entry.clone());
        for p in sd.iter().flat_map(|s| self.soft_targets(&s.post)) {
            if soft_ok(&p, stack) {
                self.visit(&p, order, done, stack, false)?;
            }
        }
        Ok(())
    }

    /// Soft dependency names, aliases resolved (`crypto-crc32c`).
    fn soft_targets(&self, names: &[String]) -> Vec<String> {
        let mut out = vec![];
        for n in names {
            if self.modules.contains_key(n) {
                out.push(n.clone());
            } else {
                out.extend(
                    self.alias_matches(n)
                        .into_iter()
                        .filter(|m| self.modules.contains_key(m)),
                );
            }
        }
        out
    }

    /// The absolute path of a module file.
    pub fn path_of(&self, e: &ModuleEntry) -> PathBuf {
        if e.rel.starts_with('/') {
            PathBuf::from(&e.rel)
        } else {
            self.dir.join(&e.rel)
        }
    }
}
