//! Strings of actions: `${NAME}` / `${NAME:-fallback}` environment references (any action
//! string), and `{path}` event fields (topic names only). One parser serves the checker (which
//! reports malformed and unset variables) and the compiler (which resolves them).
use super::ir::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Env { name: String, fallback: Option<String> },
    /// `{path}`: the path's text, parsed by the caller.
    Field(String),
}

/// Splits an action string into pieces. `fields` allows `{path}` (topic names); elsewhere a
/// brace is literal text.
pub(crate) fn parse(s: &str, fields: bool) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("${") {
            let end = after.find('}').ok_or_else(|| "`${` without a closing `}`".to_string())?;
            let inner = &after[..end];
            let (name, fallback) = match inner.split_once(":-") {
                Some((n, f)) => (n, Some(f.to_string())),
                None => (inner, None),
            };
            if !is_env_name(name) {
                return Err(format!("`${{{inner}}}`: `{name}` is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"));
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Env { name: name.to_string(), fallback });
            rest = &after[end + 1..];
        } else if fields && c == '{' {
            let end = rest.find('}').ok_or_else(|| "`{` without a closing `}`".to_string())?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Field(rest[1..end].to_string()));
            rest = &rest[end + 1..];
        } else if fields && c == '}' {
            return Err("`}` without an opening `{`".to_string());
        } else {
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The environment as the compiler sees it: `None` when variables are not resolved (`match`,
/// `explain`, `test`, `lint --no-env`).
pub type Env<'a> = Option<&'a dyn Fn(&str) -> Option<String>>;

/// Variables without a fallback that are unset or empty.
pub(crate) fn unset_vars(pieces: &[Piece], env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Env { name, fallback: None } if env(name).is_none_or(|v| v.is_empty()) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// Resolves the variables of pieces without fields. Unset variables (already reported by the
/// checker when an environment is given) keep their `${NAME}` text.
pub(crate) fn resolve(pieces: &[Piece], env: Env) -> Secret {
    let mut shown = String::new();
    let mut value = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => {
                shown.push_str(t);
                value.push_str(t);
            }
            Piece::Env { name, fallback } => {
                shown.push_str(&format!("${{{name}}}"));
                let found = env.and_then(|e| e(name)).filter(|v| !v.is_empty());
                match (found, fallback) {
                    (Some(v), _) => value.push_str(&v),
                    (None, Some(f)) => value.push_str(f),
                    (None, None) => value.push_str(&format!("${{{name}}}")),
                }
            }
            Piece::Field(f) => {
                shown.push_str(&format!("{{{f}}}"));
                value.push_str(&format!("{{{f}}}"));
            }
        }
    }
    Secret::new(shown, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_fields() {
        let p = parse("events.{eventType}.${X:-d}", true).unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Text("events.".into()),
                Piece::Field("eventType".into()),
                Piece::Text(".".into()),
                Piece::Env { name: "X".into(), fallback: Some("d".into()) },
            ]
        );
        assert_eq!(parse("a{b}", false).unwrap(), vec![Piece::Text("a{b}".into())]);
        assert!(parse("${1X}", false).is_err());
        assert!(parse("a{b", true).is_err());
    }

    #[test]
    fn resolve_hides_values() {
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
        let s = resolve(&parse("Bearer ${TOKEN}", false).unwrap(), Some(&env));
        assert_eq!(s.expose(), "Bearer s3cret");
        assert_eq!(format!("{s} {s:?}"), "Bearer ${TOKEN} \"Bearer ${TOKEN}\"");
        let s = resolve(&parse("${MISSING:-dev}", false).unwrap(), Some(&env));
        assert_eq!(s.expose(), "dev");
    }
}
