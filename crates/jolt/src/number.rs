//! Numbers as the reference sees them: Jackson reads an integer literal as an Integer/Long and
//! anything with a fraction or exponent as a Double, and prints a Double with
//! `Double.toString` (`3.0`, `1.0E7`). The workspace's `arbitrary_precision` keeps the input's
//! digits, so numbers that pass through untouched print exactly as they came in.
use serde_json::{Number, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// Integer and Long (both print the same).
    Long(i64),
    Double(f64),
}

impl Num {
    pub fn of(n: &Number) -> Option<Num> {
        if let Some(i) = n.as_i64() {
            return Some(Num::Long(i));
        }
        let text = n.to_string();
        if !text.contains(['.', 'e', 'E']) {
            // A BigInteger beyond i64: the reference's arithmetic sees it as a double.
            return text.parse::<f64>().ok().map(Num::Double);
        }
        n.as_f64().map(Num::Double)
    }

    /// `Number.intValue()`: doubles truncate toward zero (saturating, as Java's cast does).
    pub fn int_value(self) -> i64 {
        match self {
            Num::Long(i) => i64::from(i as i32),
            Num::Double(d) => {
                if d.is_nan() {
                    0
                } else {
                    i64::from(d as i32)
                }
            }
        }
    }
}

/// A Double as the reference would print it.
pub fn double_value(d: f64) -> Value {
    let text = java_double_string(d);
    match text.parse::<Number>() {
        Ok(n) => Value::Number(n),
        // NaN and the infinities are not JSON numbers; Jackson writes them as these strings.
        Err(_) => Value::String(text),
    }
}

/// `Double.toString`: plain decimal in [1e-3, 1e7), computerized scientific notation outside.
pub fn java_double_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let magnitude = d.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let s = format!("{d}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{d:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') { mantissa.to_owned() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exponent}")
    }
}

/// `Object.toString()` of a scalar, as the reference uses when a scalar becomes a key or a string.
pub fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match Num::of(n) {
            Some(Num::Double(d)) => java_double_string(d),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double_string(3.0), "3.0");
        assert_eq!(java_double_string(2.5), "2.5");
        assert_eq!(java_double_string(1e7), "1.0E7");
        assert_eq!(java_double_string(1.5e-5), "1.5E-5");
        assert_eq!(java_double_string(-0.25), "-0.25");
    }

    #[test]
    fn int_value_truncates() {
        assert_eq!(Num::Double(3.9).int_value(), 3);
        assert_eq!(Num::Double(-3.9).int_value(), -3);
        assert_eq!(Num::Long(7).int_value(), 7);
    }
}
