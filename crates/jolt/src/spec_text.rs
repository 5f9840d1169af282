//! Spec file text: JSON with `//` line comments and `/* */` block comments, which the reference
//! (Jackson with ALLOW_COMMENTS) accepts. Comments are blanked out with spaces, keeping every
//! newline, so serde_json's line and column numbers still point into the original file.
use serde_json::Value;

use crate::SpecError;

pub fn parse(text: &str) -> Result<Value, SpecError> {
    let stripped = strip_comments(text)?;
    serde_json::from_str(&stripped).map_err(|e| SpecError {
        path: "$".into(),
        message: format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()),
    })
}

fn strip_comments(text: &str) -> Result<String, SpecError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            if b == b'"' {
                in_string = false;
            }
            i += 1;
        } else if b == b'"' {
            in_string = true;
            out.push(b);
            i += 1;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let start_line = text[..i].matches('\n').count() + 1;
            out.extend_from_slice(b"  ");
            i += 2;
            loop {
                if i >= bytes.len() {
                    return Err(SpecError {
                        path: "$".into(),
                        message: format!("the /* comment opened on line {start_line} is never closed"),
                    });
                }
                if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    out.extend_from_slice(b"  ");
                    i += 2;
                    break;
                }
                out.push(if bytes[i] == b'\n' { b'\n' } else { b' ' });
                i += 1;
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    // Only ASCII bytes were replaced (by ASCII), and whole comments at that, so the UTF-8 of
    // the rest is untouched; multi-byte characters inside comments became several spaces.
    String::from_utf8(out).map_err(|e| SpecError { path: "$".into(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_are_ignored_but_not_inside_strings() {
        let text = "// head\n{ /* a\n block */ \"url\": \"http://x/*y*/\", // tail\n \"n\": 1 }";
        assert_eq!(parse(text).unwrap(), json!({"url": "http://x/*y*/", "n": 1}));
    }

    #[test]
    fn an_unclosed_block_comment_is_an_error() {
        assert!(parse("{ /* never closed").unwrap_err().message.contains("never closed"));
    }

    #[test]
    fn errors_keep_the_original_line() {
        let err = parse("// one\n// two\n{ \"a\": }").unwrap_err();
        assert!(err.message.contains("line 3"), "{}", err.message);
    }
}
