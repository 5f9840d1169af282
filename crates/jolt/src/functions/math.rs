//! Math functions, with the reference's typing: min/max keep the winner's type, the sums convert
//! each argument (`intSum` wraps like a Java int), the subtractions need both arguments of their
//! exact type, divide returns a Double.
use serde_json::Value;

use super::{parse_java_number, to_number, JNum};

/// The argument as min/max see it: numbers, and strings that parse as numbers.
fn numeric(v: &Value) -> Option<JNum> {
    match v {
        Value::String(s) => parse_java_number(s),
        _ => JNum::of(v),
    }
}

pub fn number_itself(v: Value) -> Option<Value> {
    v.is_number().then_some(v)
}

/// `Math.max`: the best Integer, Long and Double are tracked apart, then compared as longs.
pub fn max(args: Vec<Value>) -> Option<Value> {
    let (mut max_int, mut max_double, mut max_long) = (i32::MIN, -f64::MAX, i64::MIN);
    let mut found = false;
    for n in args.iter().filter_map(numeric) {
        found = true;
        match n {
            JNum::Int(i) => max_int = max_int.max(i),
            JNum::Double(d) => max_double = java_max(max_double, d),
            JNum::Long(l) => max_long = max_long.max(l),
        }
    }
    if !found {
        return None;
    }
    let d_long = max_double as i64;
    Some(if i64::from(max_int) >= d_long && i64::from(max_int) >= max_long {
        Value::from(max_int)
    } else if max_long >= d_long {
        Value::from(max_long)
    } else {
        crate::number::double_value(max_double)
    })
}

pub fn min(args: Vec<Value>) -> Option<Value> {
    let (mut min_int, mut min_double, mut min_long) = (i32::MAX, f64::MAX, i64::MAX);
    let mut found = false;
    for n in args.iter().filter_map(numeric) {
        found = true;
        match n {
            JNum::Int(i) => min_int = min_int.min(i),
            JNum::Double(d) => min_double = java_min(min_double, d),
            JNum::Long(l) => min_long = min_long.min(l),
        }
    }
    if !found {
        return None;
    }
    let d_long = min_double as i64;
    Some(if i64::from(min_int) <= d_long && i64::from(min_int) <= min_long {
        Value::from(min_int)
    } else if min_long <= d_long {
        Value::from(min_long)
    } else {
        crate::number::double_value(min_double)
    })
}

/// `java.lang.Math.max` propagates NaN.
fn java_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn java_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

pub fn abs(v: &Value) -> Option<Value> {
    Some(match numeric(v)? {
        JNum::Int(i) => Value::from(i.wrapping_abs()),
        JNum::Long(l) => Value::from(l.wrapping_abs()),
        JNum::Double(d) => crate::number::double_value(d.abs()),
    })
}

pub fn avg(args: Vec<Value>) -> Option<Value> {
    let nums: Vec<f64> = args.iter().filter_map(to_number).map(JNum::double_value).collect();
    if nums.is_empty() {
        return None;
    }
    Some(crate::number::double_value(nums.iter().sum::<f64>() / nums.len() as f64))
}

pub fn int_sum(args: Vec<Value>) -> Option<Value> {
    let sum = args.iter().filter_map(to_number).fold(0i32, |acc, n| acc.wrapping_add(n.int_value()));
    Some(Value::from(sum))
}

pub fn double_sum(args: Vec<Value>) -> Option<Value> {
    let sum = args.iter().filter_map(to_number).fold(0.0, |acc, n| acc + n.double_value());
    Some(crate::number::double_value(sum))
}

pub fn long_sum(args: Vec<Value>) -> Option<Value> {
    let sum = args.iter().filter_map(to_number).fold(0i64, |acc, n| acc.wrapping_add(n.long_value()));
    Some(Value::from(sum))
}

fn two(args: &[Value]) -> Option<(JNum, JNum)> {
    match args {
        [a, b] => Some((JNum::of(a)?, JNum::of(b)?)),
        _ => None,
    }
}

pub fn int_subtract(args: Vec<Value>) -> Option<Value> {
    match two(&args)? {
        (JNum::Int(a), JNum::Int(b)) => Some(Value::from(a.wrapping_sub(b))),
        _ => None,
    }
}

pub fn double_subtract(args: Vec<Value>) -> Option<Value> {
    match two(&args)? {
        (JNum::Double(a), JNum::Double(b)) => Some(crate::number::double_value(a - b)),
        _ => None,
    }
}

pub fn long_subtract(args: Vec<Value>) -> Option<Value> {
    match two(&args)? {
        (JNum::Long(a), JNum::Long(b)) => Some(Value::from(a.wrapping_sub(b))),
        _ => None,
    }
}

fn divide_f64(args: &[Value]) -> Option<f64> {
    let [numerator, denominator] = args else { return None };
    let (n, d) = (to_number(numerator)?.double_value(), to_number(denominator)?.double_value());
    (d != 0.0).then(|| n / d)
}

pub fn divide(args: Vec<Value>) -> Option<Value> {
    divide_f64(&args).map(crate::number::double_value)
}

/// `divideAndRound(digits, a, b)`: `new BigDecimal(a / b).setScale(digits, HALF_UP)`, i.e.
/// rounding the exact binary value of the quotient half away from zero, at `digits` places after
/// the point (before it when negative: `-1` rounds to tens, as `setScale(-1)` does).
pub fn divide_and_round(digits: i32, args: Vec<Value>) -> Option<Value> {
    let q = divide_f64(&args)?;
    if !q.is_finite() {
        return None;
    }
    // The reference's setScale multiplies the unscaled BigInteger by 10^digits; past BigInteger's
    // range (2^31 bits, about 646,456,993 decimal digits) it throws and nothing is written.
    if digits > 646_456_000 {
        return None;
    }
    // A double's exact value has at most 1,074 digits after the point: from there on rounding
    // changes nothing (and the digits need not be printed).
    if digits > 1_100 {
        return Some(crate::number::double_value(q));
    }
    // The exact decimal expansion: Rust prints the exact binary value, and 1,100 places hold all
    // of it, so nothing is rounded in the printing (2.675 is 2.67499999999999982236431605…,
    // which rounds to 2.67). The first digit dropped then settles HALF_UP on its own.
    let exact = format!("{:.1100}", q.abs());
    let (int_part, frac) = exact.split_once('.').unwrap_or((&exact, ""));
    // How many digits of `int_part + frac` are kept; left-padded with zeros so at least one is.
    let kept_len = int_part.len() as i64 + i64::from(digits);
    if kept_len < 0 {
        // Below a tenth of the unit rounded to: zero (BigDecimal has no negative zero).
        return Some(crate::number::double_value(0.0));
    }
    let pad = usize::from(kept_len == 0);
    let all: Vec<u8> = std::iter::repeat_n(b'0', pad).chain(int_part.bytes()).chain(frac.bytes()).collect();
    let kept_len = usize::try_from(kept_len).unwrap_or(0) + pad;
    let mut kept = all[..kept_len].to_vec();
    if all.get(kept_len).is_some_and(|&b| b >= b'5') {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, b'1');
                break;
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    // kept × 10^-digits, parsed (correctly rounded) as one decimal number.
    let text = format!("{}e{}", String::from_utf8(kept).ok()?, -i64::from(digits));
    let value: f64 = text.parse().ok()?;
    Some(crate::number::double_value(if q < 0.0 && value != 0.0 { -value } else { value }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn min_and_max_keep_the_winners_type() {
        assert_eq!(max(vec![json!(1), json!(2.5), json!("3")]), Some(json!(3)));
        assert_eq!(min(vec![json!(1.5), json!(2), json!("x")]), Some(json!(1.5)));
        assert_eq!(max(vec![json!("a")]), None);
    }

    #[test]
    fn divide_and_round_rounds_half_up() {
        assert_eq!(divide_and_round(2, vec![json!(30), json!(7)]), Some(json!(4.29)));
        assert_eq!(divide_and_round(2, vec![json!(1), json!(8)]), Some(json!(0.13)));
        assert_eq!(divide(vec![json!(1), json!(0)]), None);
    }

    /// What the reference (jolt-core 0.1.8, BigDecimal.setScale) gave for each, run side by side.
    #[test]
    fn divide_and_round_takes_any_scale_as_the_reference_does() {
        // As numbers: the text of a double result is Java's (`30.0`, `1.0E20`).
        let dr = |digits: i32, a: Value, b: Value| divide_and_round(digits, vec![a, b]).map(|v| v.as_f64().expect("a number"));
        // A negative scale rounds before the point.
        assert_eq!(dr(-1, json!(25), json!(1)), Some(30.0));
        assert_eq!(dr(-1, json!(24), json!(1)), Some(20.0));
        assert_eq!(dr(-1, json!(-25), json!(1)), Some(-30.0));
        assert_eq!(dr(-2, json!(1250), json!(1)), Some(1300.0));
        assert_eq!(dr(-3, json!(1), json!(3)), Some(0.0));
        assert_eq!(dr(-400, json!(1e300), json!(1)), Some(0.0));
        assert_eq!(dr(-20, json!(1e20), json!(1)), Some(1e20));
        assert_eq!(dr(-1, json!(0.5), json!(0.1)), Some(10.0));
        // The exact binary value is rounded, not its shortest decimal form.
        assert_eq!(dr(2, json!(2.675), json!(1)), Some(2.67));
        assert_eq!(dr(2, json!(1.005), json!(1)), Some(1.0));
        assert_eq!(dr(1, json!(0.15), json!(1)), Some(0.1));
        assert_eq!(dr(1, json!(0.25), json!(1)), Some(0.3));
        // A huge scale keeps the quotient (it used to panic in the formatter); past BigInteger's
        // range the reference throws and writes nothing.
        assert_eq!(dr(2000, json!(1), json!(3)), Some(1.0 / 3.0));
        assert_eq!(dr(10_000_000, json!(1), json!(3)), Some(1.0 / 3.0));
        assert_eq!(dr(1_000_000_000, json!(1), json!(3)), None);
        assert_eq!(dr(i32::MAX, json!(1), json!(3)), None);
        assert_eq!(dr(i32::MIN, json!(1), json!(3)), Some(0.0));
        // A negative quotient that rounds to zero is 0.0, not -0.0.
        assert_eq!(divide_and_round(2, vec![json!(-1), json!(1000)]).map(|v| v.to_string()), Some("0.0".to_owned()));
    }

    #[test]
    fn subtractions_need_their_exact_types() {
        assert_eq!(int_subtract(vec![json!(6), json!(2)]), Some(json!(4)));
        assert_eq!(int_subtract(vec![json!(6.0), json!(2)]), None);
        assert_eq!(double_subtract(vec![json!(6.0), json!(2.5)]), Some(json!(3.5)));
    }
}
