//! Reading rule code before it runs: which parts of `user` it reads (only those are
//! converted for each user) and whether a script may change `user` (then it runs on a
//! copy). Both scans are conservative: what they cannot follow counts as "everything".

/// Which top-level parts of `user` a rule set's Rhai reads. Only those are converted
/// for each user, so the per-user cost does not grow with everything the IdP sends.
/// Anything the scan cannot follow (`user` passed around, indexed, or inside a string
/// it cannot skip) means [`UserFields::All`]: slower, never different.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserFields {
    All,
    Only(Vec<String>),
}

pub(crate) fn fields_read<'a>(sources: impl IntoIterator<Item = &'a str>) -> UserFields {
    let mut names: Vec<String> = Vec::new();
    for source in sources {
        let code = without_strings(source);
        for end in uses_of_user(&code) {
            let rest = code[end..].trim_start();
            let Some(after_dot) = rest.strip_prefix('.') else {
                return UserFields::All;
            };
            let after_dot = after_dot.trim_start();
            let len = after_dot
                .bytes()
                .take_while(|b| ident(*b) || *b == b'$')
                .count();
            if len == 0 {
                return UserFields::All;
            }
            let name = after_dot[..len].to_owned();
            // A method on the whole map (`user.keys()`, `user.len()`) sees every field.
            if name != "attr" && after_dot[len..].trim_start().starts_with('(') {
                return UserFields::All;
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    UserFields::Only(names)
}

/// Whether a script might change `user` (which Rhai allows for properties of a constant
/// map, `user.title = "x"`, and for `this` in method-style calls). Such a script runs on
/// a copy; every other script shares the user's scope, which costs nothing. When in
/// doubt: true.
pub(crate) fn may_modify_user(source: &str) -> bool {
    let code = without_strings(source);
    for end in uses_of_user(&code) {
        // Walk the chain after `user`: `.name`, `[...]`, then look at what follows.
        let mut rest = code[end..].trim_start();
        loop {
            if let Some(after) = rest.strip_prefix('.') {
                let after = after.trim_start();
                let len = after
                    .bytes()
                    .take_while(|b| ident(*b) || *b == b'$')
                    .count();
                if len == 0 {
                    return true;
                }
                let name = &after[..len];
                rest = after[len..].trim_start();
                if rest.starts_with('(') && name != "attr" {
                    return true; // a method call may mutate `this`
                }
            } else if rest.starts_with('[') {
                match rest.find(']') {
                    Some(close) => rest = rest[close + 1..].trim_start(),
                    None => return true,
                }
            } else {
                break;
            }
        }
        let assigns = rest.starts_with('=') && !rest.starts_with("==")
            || [
                "+=", "-=", "*=", "/=", "%=", "**=", "<<=", ">>=", "&=", "|=", "^=",
            ]
            .iter()
            .any(|op| rest.starts_with(op));
        if assigns {
            return true;
        }
    }
    false
}

/// The code with comments and the contents of quoted literals blanked, so neither
/// `"Sales user"` nor `// the user's title` is taken for a use of `user`.
fn without_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
                out.push(c);
                continue;
            }
            out.push(if c == '\n' { '\n' } else { ' ' });
            continue;
        }
        match (c, chars.peek()) {
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            // Backtick strings interpolate code (`${user.title}`): left as they are, so
            // their text can only make the scan more careful, never miss a use.
            ('"' | '\'', _) => {
                quote = Some(c);
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where each use of the variable `user` ends in `code` (not `superuser`, `user_count`
/// or a property `x.user`).
fn uses_of_user(code: &str) -> Vec<usize> {
    let bytes = code.as_bytes();
    let mut ends = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("user") {
        let start = from + found;
        let end = start + 4;
        from = end;
        let left = start == 0 || !ident(bytes[start - 1]) && bytes[start - 1] != b'.';
        let right = end >= bytes.len() || !ident(bytes[end]);
        if left && right {
            ends.push(end);
        }
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_follows_property_access_and_skips_strings() {
        assert_eq!(
            fields_read(["user.enterprise.department == \"Sales user\" && user.title != ()"]),
            UserFields::Only(vec!["enterprise".into(), "title".into()])
        );
        assert_eq!(
            fields_read(["user.attr(\"urn:x:y\")"]),
            UserFields::Only(vec!["attr".into()])
        );
        assert_eq!(fields_read(["let u = user; u.title"]), UserFields::All);
        assert_eq!(fields_read(["user.keys().len()"]), UserFields::All);
        assert!(!may_modify_user(
            "let cc = user.attr(\"x\"); if user.title == \"a\" { 1 } user.name.givenName != ()"
        ));
        assert!(may_modify_user("user.title = \"x\";"));
        assert!(may_modify_user("user.name.givenName += \"x\";"));
        assert!(may_modify_user("user[\"title\"] = 1;"));
        assert!(may_modify_user("user.emails.push(1);"));
        assert!(!may_modify_user("let u = user; u.title = \"x\";"));
        assert_eq!(fields_read(["user[\"title\"]"]), UserFields::All);
        assert_eq!(
            fields_read(["superuser.x + user_count"]),
            UserFields::Only(vec![])
        );
        assert_eq!(
            fields_read(["member_of(\"Sales\")"]),
            UserFields::Only(vec![])
        );
        assert_eq!(
            fields_read(["`${user.roles.len()}`"]),
            UserFields::Only(vec!["roles".into()])
        );
        assert_eq!(
            fields_read(["// the user's `set`\nlet t = user.title; /* user */ t"]),
            UserFields::Only(vec!["title".into()])
        );
    }
}
