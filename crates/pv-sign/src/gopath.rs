//! Slash-path joining with Go `path.Join` / `path.Clean` rules, which pvr
//! uses to prefix part-mode patterns (`app` + `./x//y/` → `app/x/y`).

/// Lexically clean a slash path: collapse `//`, drop `.`, resolve `..`
/// against preceding elements, drop a trailing `/`; empty becomes `.`.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for elem in path.split('/') {
        match elem {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            e => parts.push(e),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Join non-empty elements with `/` and clean the result; all empty gives "".
pub fn join(elems: &[&str]) -> String {
    let nonempty: Vec<&str> = elems.iter().copied().filter(|e| !e.is_empty()).collect();
    if nonempty.is_empty() {
        return String::new();
    }
    clean(&nonempty.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_join_rules() {
        assert_eq!(join(&["app", "**"]), "app/**");
        assert_eq!(join(&["app", "./x//y/"]), "app/x/y");
        assert_eq!(join(&["app", "../x"]), "x");
        assert_eq!(join(&["app", "/abs"]), "app/abs");
        assert_eq!(join(&["app", ""]), "app");
        assert_eq!(join(&["_sigs", ".json"]), "_sigs/.json");
        assert_eq!(join(&["", ""]), "");
        assert_eq!(join(&["a", "../.."]), "..");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("a/.."), ".");
    }
}
