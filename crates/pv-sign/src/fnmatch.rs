//! POSIX `fnmatch` with `FNM_PATHNAME` (wildcards never match `/`) and
//! optionally `FNM_LEADING_DIR` (the pattern may match a leading part of
//! the string that is followed by `/`), as the device uses it. Bracket
//! expressions support ranges, `!`/`^` negation and `[:class:]` names.

/// Match `pattern` against `s`.
pub fn fnmatch(pattern: &str, s: &str, leading_dir: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    matches(&p, &s, leading_dir)
}

fn matches(p: &[char], s: &[char], leading_dir: bool) -> bool {
    let (mut pi, mut si) = (0, 0);
    while pi < p.len() {
        match p[pi] {
            '?' => {
                if si >= s.len() || s[si] == '/' {
                    return false;
                }
                pi += 1;
                si += 1;
            }
            '*' => {
                while pi < p.len() && p[pi] == '*' {
                    pi += 1;
                }
                if pi == p.len() {
                    // The rest must stay in this component, unless a
                    // leading-directory match may stop at a `/`.
                    return leading_dir || !s[si..].contains(&'/');
                }
                let mut k = si;
                loop {
                    if matches(&p[pi..], &s[k..], leading_dir) {
                        return true;
                    }
                    if k >= s.len() || s[k] == '/' {
                        return false;
                    }
                    k += 1;
                }
            }
            '[' => {
                if si >= s.len() || s[si] == '/' {
                    return false;
                }
                match bracket(&p[pi + 1..], s[si]) {
                    Some((hit, used)) => {
                        if !hit {
                            return false;
                        }
                        pi += 1 + used;
                        si += 1;
                    }
                    // An unterminated bracket is an ordinary character.
                    None => {
                        if s[si] != '[' {
                            return false;
                        }
                        pi += 1;
                        si += 1;
                    }
                }
            }
            c => {
                let (lit, step) = if c == '\\' && pi + 1 < p.len() {
                    (p[pi + 1], 2)
                } else {
                    (c, 1)
                };
                if si >= s.len() || s[si] != lit {
                    return false;
                }
                pi += step;
                si += 1;
            }
        }
    }
    si == s.len() || (leading_dir && s[si] == '/')
}

/// Evaluate a bracket expression whose body starts at `p` (after `[`).
/// Returns whether `c` matched and how many chars were consumed
/// (including the closing `]`), or `None` if there is no closing `]`.
fn bracket(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if ch == '[' && p.get(i + 1) == Some(&':') {
            if let Some(end) =
                (i + 2..p.len().saturating_sub(1)).find(|&j| p[j] == ':' && p[j + 1] == ']')
            {
                let name: String = p[i + 2..end].iter().collect();
                hit |= class(&name, c);
                i = end + 2;
                continue;
            }
        }
        let mut low = ch;
        i += 1;
        if low == '\\' {
            low = *p.get(i)?;
            i += 1;
        }
        let mut high = low;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&h| h != ']') {
            high = p[i + 1];
            i += 2;
            if high == '\\' {
                high = *p.get(i)?;
                i += 1;
            }
        }
        if low <= c && c <= high {
            hit = true;
        }
    }
}

fn class(name: &str, c: char) -> bool {
    match name {
        "alpha" => c.is_ascii_alphabetic(),
        "digit" => c.is_ascii_digit(),
        "alnum" => c.is_ascii_alphanumeric(),
        "upper" => c.is_ascii_uppercase(),
        "lower" => c.is_ascii_lowercase(),
        "space" => c.is_ascii_whitespace(),
        "punct" => c.is_ascii_punctuation(),
        "xdigit" => c.is_ascii_hexdigit(),
        "blank" => c == ' ' || c == '\t',
        "cntrl" => c.is_ascii_control(),
        "print" => c.is_ascii_graphic() || c == ' ',
        "graph" => c.is_ascii_graphic(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn pathname_wildcards_stop_at_slash() {
        assert!(fnmatch("app/*", "app/run.json", false));
        assert!(!fnmatch("app/*", "app/a/b", false));
        assert!(!fnmatch("*", "a/b", false));
        assert!(fnmatch("a/?/c", "a/b/c", false));
        assert!(!fnmatch("a?b", "a/b", false));
        assert!(fnmatch("[a-c]x", "bx", false));
        assert!(!fnmatch("[!a-c]x", "bx", false));
        assert!(fnmatch("[[:digit:]]*", "7up", false));
        assert!(fnmatch("a\\*", "a*", false));
        assert!(fnmatch("#spec", "#spec", false));
    }

    #[test]
    fn leading_dir() {
        assert!(fnmatch("app", "app", true));
        assert!(fnmatch("app", "app/x/y", true));
        assert!(!fnmatch("app", "apps/x", true));
        assert!(fnmatch("a*", "abc/def", true));
        assert!(!fnmatch("", "anything", true));
        assert!(fnmatch("", "", true));
    }
}
