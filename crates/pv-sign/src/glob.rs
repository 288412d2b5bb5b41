//! Glob matching over state keys with the semantics of the `doublestar` v1
//! library pvr uses: the pattern and the key are split on `/`; a component
//! that is exactly `**` matches zero or more key components (at the end: one
//! or more); inside a component `*` matches any run, `?` one character,
//! `[a-z]` / `[^a-z]` a class, `{a,b}` alternatives, `\x` a literal `x`.
//! So `app/**` matches `app/x` and `app/x/y` but not `app`; `**` matches
//! every key including `#spec`; `*.json` matches only top-level keys.

use crate::error::ErrorKind;

/// A validated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    components: Vec<Vec<char>>,
}

impl Glob {
    /// Check the syntax of `pattern` (unclosed `[` / `{`, empty class,
    /// dangling `\`, misplaced `-`).
    pub fn new(pattern: &str) -> Result<Glob, ErrorKind> {
        let components: Vec<Vec<char>> = split(pattern, '/')
            .into_iter()
            .map(|c| c.chars().collect())
            .collect();
        if components.iter().any(|c| !valid_component(c)) {
            return Err(ErrorKind::BadPattern(pattern.to_string()));
        }
        Ok(Glob {
            source: pattern.to_string(),
            components,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True if the whole of `key` matches.
    pub fn matches(&self, key: &str) -> bool {
        let names: Vec<Vec<char>> = split(key, '/')
            .into_iter()
            .map(|c| c.chars().collect())
            .collect();
        match_components(&self.components, &names)
    }
}

/// Compile a list of patterns.
pub fn compile(patterns: &[String]) -> Result<Vec<Glob>, ErrorKind> {
    patterns.iter().map(|p| Glob::new(p)).collect()
}

/// Split on `sep` unless the separator is preceded by a backslash.
fn split(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut prev = '\0';
    for c in s.chars() {
        if c == sep && prev != '\\' {
            out.push(String::new());
        } else {
            out.last_mut().expect("non-empty").push(c);
        }
        prev = c;
    }
    out
}

fn match_components(pat: &[Vec<char>], name: &[Vec<char>]) -> bool {
    if pat.is_empty() || name.is_empty() {
        return pat.is_empty() && name.is_empty();
    }
    let (mut pi, mut ni) = (0, 0);
    while pi < pat.len() && ni < name.len() {
        if pat[pi] == ['*', '*'] {
            pi += 1;
            if pi >= pat.len() {
                return true;
            }
            return (ni..name.len()).any(|n| match_components(&pat[pi..], &name[n..]));
        }
        if !match_component(&pat[pi], &name[ni]) {
            return false;
        }
        pi += 1;
        ni += 1;
    }
    pi >= pat.len() && ni >= name.len()
}

/// Index of the first `c` in `s` not preceded by a backslash.
fn find_unescaped(s: &[char], c: char) -> Option<usize> {
    (0..s.len()).find(|&i| s[i] == c && (i == 0 || s[i - 1] != '\\'))
}

fn match_component(pat: &[char], name: &[char]) -> bool {
    if pat.is_empty() {
        return name.is_empty();
    }
    if name.is_empty() && pat != ['*'] {
        return false;
    }
    let (mut pi, mut ni) = (0, 0);
    while pi < pat.len() && ni < name.len() {
        match pat[pi] {
            '\\' => {
                pi += 1;
                if pat.get(pi) != Some(&name[ni]) {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
            '*' => {
                pi += 1;
                if pi >= pat.len() {
                    return true;
                }
                return (ni..name.len()).any(|n| match_component(&pat[pi..], &name[n..]));
            }
            '[' => {
                let Some(len) = find_unescaped(&pat[pi + 1..], ']') else {
                    return false;
                };
                let class = &pat[pi + 1..pi + 1 + len];
                if class_matches(class, name[ni]) != Some(true) {
                    return false;
                }
                pi += len + 2;
                ni += 1;
            }
            '{' => {
                let Some(len) = find_unescaped(&pat[pi + 1..], '}') else {
                    return false;
                };
                let body: String = pat[pi + 1..pi + 1 + len].iter().collect();
                let rest = &pat[pi + len + 2..];
                return split(&body, ',').iter().any(|alt| {
                    let mut p: Vec<char> = alt.chars().collect();
                    p.extend_from_slice(rest);
                    match_component(&p, &name[ni..])
                });
            }
            c if c == '?' || c == name[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => return false,
        }
    }
    let rest = &pat[pi..];
    (ni >= name.len() && (rest.is_empty() || rest == ['*'])) || rest == ['*', '*']
}

/// `Some(matched)` for a well-formed class body, `None` if malformed.
fn class_matches(class: &[char], c: char) -> Option<bool> {
    if class.is_empty() {
        return None;
    }
    let negate = class[0] == '^';
    let mut i = usize::from(negate);
    let mut hit = false;
    let take = |i: &mut usize| -> Option<char> {
        let mut ch = *class.get(*i)?;
        *i += 1;
        if ch == '\\' {
            ch = *class.get(*i)?;
            *i += 1;
        }
        Some(ch)
    };
    while i < class.len() {
        if class[i] == '-' {
            return None;
        }
        let low = take(&mut i)?;
        let mut high = low;
        if class.get(i) == Some(&'-') {
            i += 1;
            if class.get(i).is_none_or(|&h| h == '-') {
                return None;
            }
            high = take(&mut i)?;
        }
        if low <= c && c <= high {
            hit = true;
        }
    }
    Some(hit != negate)
}

fn valid_component(pat: &[char]) -> bool {
    let mut i = 0;
    while i < pat.len() {
        match pat[i] {
            '\\' => {
                if i + 1 >= pat.len() {
                    return false;
                }
                i += 2;
            }
            '[' => {
                let Some(len) = find_unescaped(&pat[i + 1..], ']') else {
                    return false;
                };
                if class_matches(&pat[i + 1..i + 1 + len], 'a').is_none() {
                    return false;
                }
                i += len + 2;
            }
            '{' => {
                let Some(len) = find_unescaped(&pat[i + 1..], '}') else {
                    return false;
                };
                let body: String = pat[i + 1..i + 1 + len].iter().collect();
                if !split(&body, ',').iter().all(|alt| {
                    let v: Vec<char> = alt.chars().collect();
                    valid_component(&v)
                }) {
                    return false;
                }
                i += len + 2;
            }
            _ => i += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, k: &str) -> bool {
        Glob::new(p).unwrap().matches(k)
    }

    #[test]
    fn doublestar_components() {
        assert!(m("app/**", "app/run.json"));
        assert!(m("app/**", "app/a/b/c"));
        assert!(!m("app/**", "app"));
        assert!(!m("app/**", "apps/x"));
        assert!(m("**", "#spec"));
        assert!(m("**", "a/b/c"));
        assert!(m("**/src.json", "src.json"));
        assert!(m("**/src.json", "a/b/src.json"));
        assert!(m("a/**/b.json", "a/b.json"));
        assert!(m("a/**/b.json", "a/x/y/b.json"));
        assert!(!m("a/**/b.json", "a/x/y/c.json"));
        assert!(m("_config/app/**", "_config/app/etc/motd"));
    }

    #[test]
    fn single_star_stays_in_a_component() {
        assert!(m("app1/*.json", "app1/run.json"));
        assert!(!m("app1/*.json", "app1/conf/extra.json"));
        assert!(!m("*.json", "app/run.json"));
        assert!(m("*", "device.json"));
        assert!(!m("src.json", "app/src.json"));
        assert!(m("#spec", "#spec"));
        assert!(m("a**", "abc"));
    }

    #[test]
    fn classes_alternatives_escapes() {
        assert!(m("bsp/[a-k]*", "bsp/kernel.img"));
        assert!(!m("bsp/[^a-k]*", "bsp/kernel.img"));
        assert!(m("{app,bsp}/run.json", "bsp/run.json"));
        assert!(m("x/{a,b}*.json", "x/bz.json"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("?pp/x", "app/x"));
    }

    #[test]
    fn bad_patterns() {
        for p in ["a[", "a[]", "a{b", "a\\", "[-a]", "[a-]"] {
            assert!(Glob::new(p).is_err(), "{p}");
        }
    }
}
