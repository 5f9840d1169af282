//! The modify function library (`=toLower`, `=concat(..)`, ...), with the reference's argument
//! conventions, which decide what each function sees:
//! - a *single* function (toLower, abs, toInteger, ...) maps over a list argument, keeping the
//!   elements it can not convert;
//! - a *list* function (concat, avg, firstElement, ...) takes many arguments or one list, and
//!   does nothing for one non-list argument;
//! - an *arg-driven* function (join, split, leftPad, elementAt, divideAndRound) reads its first
//!   argument as a setting (separator, source, index) and the rest as data.
//!
//! Every function returns `None` when it does not apply, and the modify leaf then writes nothing.
//! Numbers keep the reference's Integer / Long / Double distinction ([`JNum`]).
use serde_json::Value;

mod lists;
mod math;
mod objects;
mod strings;

pub use objects::{java_str, java_to_string};

/// A number as the reference's Java code sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JNum {
    Int(i32),
    Long(i64),
    Double(f64),
}

impl JNum {
    /// The Java type Jackson gives a JSON number: Integer when it fits, then Long, else Double.
    pub fn of(v: &Value) -> Option<JNum> {
        let Value::Number(n) = v else { return None };
        let text = n.to_string();
        if text.contains(['.', 'e', 'E']) {
            return n.as_f64().map(JNum::Double);
        }
        match text.parse::<i64>() {
            Ok(i) => Some(i32::try_from(i).map(JNum::Int).unwrap_or(JNum::Long(i))),
            Err(_) => text.parse::<f64>().ok().map(JNum::Double),
        }
    }

    pub fn to_value(self) -> Value {
        match self {
            JNum::Int(i) => Value::from(i),
            JNum::Long(l) => Value::from(l),
            JNum::Double(d) => crate::number::double_value(d),
        }
    }

    pub fn double_value(self) -> f64 {
        match self {
            JNum::Int(i) => f64::from(i),
            JNum::Long(l) => l as f64,
            JNum::Double(d) => d,
        }
    }

    /// `Number.intValue()` (Java's narrowing: wraps for long, saturates for double).
    pub fn int_value(self) -> i32 {
        match self {
            JNum::Int(i) => i,
            JNum::Long(l) => l as i32,
            JNum::Double(d) => d as i32,
        }
    }

    pub fn long_value(self) -> i64 {
        match self {
            JNum::Int(i) => i64::from(i),
            JNum::Long(l) => l,
            JNum::Double(d) => d as i64,
        }
    }
}

/// `Objects.toNumber`: numbers as they are, strings parsed as Integer, then Long, then Double.
pub fn to_number(v: &Value) -> Option<JNum> {
    match v {
        Value::Number(_) => JNum::of(v),
        Value::String(s) => parse_java_number(s),
        _ => None,
    }
}

/// `Integer.parseInt`, then `Long.parseLong`, then `Double.parseDouble` of a string.
pub fn parse_java_number(s: &str) -> Option<JNum> {
    if let Some(i) = crate::keys::parse_java_int(s) {
        // parse_java_int keeps to the i32 range.
        return Some(JNum::Int(i as i32));
    }
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // Beyond the long range, `Long.parseLong` throws and `Double.parseDouble` reads it.
        if let Ok(n) = s.parse::<i64>() {
            return Some(JNum::Long(n));
        }
    }
    let t = s.trim();
    let t = t.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(t);
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let numeric = body == "NaN"
        || body == "Infinity"
        || (!body.is_empty() && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')));
    if !numeric {
        return None;
    }
    let rust_form = t.replace("Infinity", "inf");
    rust_form.parse::<f64>().ok().map(JNum::Double)
}

/// The stock functions, by the names specs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    ToLower,
    ToUpper,
    Concat,
    Join,
    Split,
    Substring,
    Trim,
    LeftPad,
    RightPad,
    Min,
    Max,
    Abs,
    Avg,
    IntSum,
    DoubleSum,
    LongSum,
    IntSubtract,
    DoubleSubtract,
    LongSubtract,
    Divide,
    DivideAndRound,
    ToInteger,
    ToDouble,
    ToLong,
    ToBoolean,
    ToString,
    Size,
    SquashNulls,
    RecursivelySquashNulls,
    SquashDuplicates,
    Noop,
    IsPresent,
    NotNull,
    IsNull,
    FirstElement,
    LastElement,
    ElementAt,
    ToList,
    Sort,
}

impl Function {
    pub fn by_name(name: &str) -> Option<Function> {
        use Function::*;
        Some(match name {
            "toLower" => ToLower,
            "toUpper" => ToUpper,
            "concat" => Concat,
            "join" => Join,
            "split" => Split,
            "substring" => Substring,
            "trim" => Trim,
            "leftPad" => LeftPad,
            "rightPad" => RightPad,
            "min" => Min,
            "max" => Max,
            "abs" => Abs,
            "avg" => Avg,
            "intSum" => IntSum,
            "doubleSum" => DoubleSum,
            "longSum" => LongSum,
            "intSubtract" => IntSubtract,
            "doubleSubtract" => DoubleSubtract,
            "longSubtract" => LongSubtract,
            "divide" => Divide,
            "divideAndRound" => DivideAndRound,
            "toInteger" => ToInteger,
            "toDouble" => ToDouble,
            "toLong" => ToLong,
            "toBoolean" => ToBoolean,
            "toString" => ToString,
            "size" => Size,
            "squashNulls" => SquashNulls,
            "recursivelySquashNulls" => RecursivelySquashNulls,
            "squashDuplicates" => SquashDuplicates,
            "noop" => Noop,
            "isPresent" => IsPresent,
            "notNull" => NotNull,
            "isNull" => IsNull,
            "firstElement" => FirstElement,
            "lastElement" => LastElement,
            "elementAt" => ElementAt,
            "toList" => ToList,
            "sort" => Sort,
            _ => return None,
        })
    }

    /// What a `SingleFunction` does to one value (`call` maps it over a list's elements).
    fn of_one(self) -> Option<fn(&Value) -> Option<Value>> {
        use Function::*;
        Some(match self {
            ToLower => strings::to_lower,
            ToUpper => strings::to_upper,
            Trim => strings::trim,
            Abs => math::abs,
            ToInteger => objects::to_integer,
            ToDouble => objects::to_double,
            ToLong => objects::to_long,
            ToBoolean => objects::to_boolean,
            ToString => |v| Some(Value::String(java_to_string(v))),
            _ => return None,
        })
    }

    /// [`Function::call`] on borrowed arguments, for the functions (and shapes of arguments)
    /// that only read them: a single function on one value that is not a list, and concat of
    /// two or more. `None` when there is no such form: then `call` it with owned arguments.
    #[inline]
    pub fn call_borrowed(self, args: &[&Value]) -> Option<Option<Value>> {
        if let Some(f) = self.of_one() {
            // `single` -> `base` with one argument: a list is mapped (not here), null gives
            // nothing, anything else is converted.
            return match args {
                [Value::Array(_)] => None,
                [Value::Null] => Some(None),
                [one] => Some(f(one)),
                _ => None,
            };
        }
        match self {
            // `list_fn` -> `base` with two or more arguments: the list form, on all of them.
            Function::Concat if args.len() >= 2 => Some(strings::concat_of(args.iter().copied())),
            _ => None,
        }
    }

    /// Calls the function with already evaluated arguments (an empty slice: called with none).
    pub fn call(self, args: Vec<Value>) -> Option<Value> {
        use Function::*;
        if let Some(f) = self.of_one() {
            return single(args, f);
        }
        match self {
            ToLower | ToUpper | Trim | Abs | ToInteger | ToDouble | ToLong | ToBoolean | ToString => {
                unreachable!("single functions are called above")
            }
            Concat => list_fn(args, strings::concat),
            Substring => list_fn(args, strings::substring),
            Join => arg_driven(args, as_string, |sep, rest| rest.and_then(|r| strings::join(&sep, r)), |_, _| None),
            Split => arg_driven(args, as_string, |sep, rest| rest.map(|r| map_or_keep(r, |v| strings::split(&sep, v))), |sep, v| {
                strings::split(&sep, v)
            }),
            LeftPad => arg_driven(args, as_string, |src, rest| rest.and_then(|r| strings::pad(true, &src, r)), |_, _| None),
            RightPad => arg_driven(args, as_string, |src, rest| rest.and_then(|r| strings::pad(false, &src, r)), |_, _| None),
            Min => base(args, math::min, math::number_itself),
            Max => base(args, math::max, math::number_itself),
            Avg => list_fn(args, math::avg),
            IntSum => list_fn(args, math::int_sum),
            DoubleSum => list_fn(args, math::double_sum),
            LongSum => list_fn(args, math::long_sum),
            IntSubtract => list_fn(args, math::int_subtract),
            DoubleSubtract => list_fn(args, math::double_subtract),
            LongSubtract => list_fn(args, math::long_subtract),
            Divide => list_fn(args, math::divide),
            DivideAndRound => arg_driven(args, as_int, |digits, rest| rest.and_then(|r| math::divide_and_round(digits, r)), |_, _| None),
            Size => objects::size(args),
            SquashNulls => squash(args, objects::squash_nulls),
            RecursivelySquashNulls => squash(args, objects::recursively_squash_nulls),
            SquashDuplicates => squash(args, objects::squash_duplicates),
            Noop => None,
            IsPresent => args.into_iter().next(),
            NotNull => args.into_iter().next().filter(|v| !v.is_null()),
            IsNull => args.into_iter().next().filter(Value::is_null),
            FirstElement => list_fn(args, |l| l.into_iter().next()),
            LastElement => list_fn(args, |l| l.into_iter().last()),
            ElementAt => arg_driven(args, as_int, |i, rest| rest.and_then(|r| lists::element_at(i, r)), |_, _| None),
            ToList => base(args, |l| Some(Value::Array(l)), |v| Some(Value::Array(vec![v]))),
            Sort => base(args, lists::sort, Some),
        }
    }
}

/// `BaseFunction`: no args -> nothing; one list -> the list form (nothing when empty); one
/// `null` -> nothing; one scalar -> the single form; several -> the list form.
fn base(
    args: Vec<Value>,
    on_list: impl FnOnce(Vec<Value>) -> Option<Value>,
    on_single: impl FnOnce(Value) -> Option<Value>,
) -> Option<Value> {
    let mut args = args;
    match args.len() {
        0 => None,
        1 => match args.pop()? {
            Value::Array(list) if list.is_empty() => None,
            Value::Array(list) => on_list(list),
            Value::Null => None,
            one => on_single(one),
        },
        _ => on_list(args),
    }
}

/// `SingleFunction`: one value converted, or each element of a list (keeping what fails).
fn single(args: Vec<Value>, f: impl Fn(&Value) -> Option<Value>) -> Option<Value> {
    base(args, |list| Some(map_or_keep(list, &f)), |one| f(&one))
}

fn map_or_keep(list: Vec<Value>, f: impl Fn(&Value) -> Option<Value>) -> Value {
    Value::Array(list.into_iter().map(|v| f(&v).unwrap_or(v)).collect())
}

/// `ListFunction`: only ever the list form.
fn list_fn(args: Vec<Value>, f: impl FnOnce(Vec<Value>) -> Option<Value>) -> Option<Value> {
    base(args, f, |_| None)
}

/// `SquashFunction`: one value squashed as it is, or several squashed as one list. As in the
/// reference, an empty list given alone yields nothing (it is spread into no arguments), and
/// several arguments yield nothing when one of them is null or missing.
fn squash(args: Vec<Value>, f: impl FnOnce(Value) -> Value) -> Option<Value> {
    let mut args = args;
    match args.len() {
        0 => None,
        1 => match args.pop()? {
            Value::Null => None,
            Value::Array(list) if list.is_empty() => None,
            one => Some(f(one)),
        },
        _ if args.iter().any(Value::is_null) => None,
        _ => Some(f(Value::Array(args))),
    }
}

fn as_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// The reference checks `instanceof Integer`: a JSON integer within i32.
fn as_int(v: &Value) -> Option<i32> {
    match JNum::of(v)? {
        JNum::Int(i) => Some(i),
        _ => None,
    }
}

/// `ArgDrivenFunction`: one list argument is spread; the first argument is the setting when it
/// has the right type and there are at least two; with exactly two, a list second argument goes
/// to the list form and a scalar to the single form; more go to the list form as a list.
fn arg_driven<S>(
    args: Vec<Value>,
    special: impl Fn(&Value) -> Option<S>,
    on_list: impl FnOnce(S, Option<Vec<Value>>) -> Option<Value>,
    on_single: impl FnOnce(S, &Value) -> Option<Value>,
) -> Option<Value> {
    let mut args = args;
    if args.len() == 1 && args[0].is_array() {
        if let Some(Value::Array(list)) = args.pop() {
            args = list;
        }
    }
    if args.len() < 2 {
        return None;
    }
    let setting = special(&args[0])?;
    if args.len() == 2 {
        match args.pop()? {
            Value::Array(list) => on_list(setting, Some(list)),
            one => on_single(setting, &one),
        }
    } else {
        args.remove(0);
        on_list(setting, Some(args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, args: Value) -> Option<Value> {
        let Value::Array(args) = args else { panic!("args must be a list") };
        Function::by_name(name).unwrap().call(args)
    }

    #[test]
    fn single_functions_map_over_lists_keeping_failures() {
        assert_eq!(call("toUpper", json!([["a", 1, "b"]])), Some(json!(["A", 1, "B"])));
        assert_eq!(call("toInteger", json!(["12"])), Some(json!(12)));
        assert_eq!(call("toDouble", json!([3])), Some(json!(3.0)));
    }

    /// The borrowed form, where it has one, gives what `call` gives on owned copies.
    #[test]
    fn borrowed_calls_agree_with_owned_calls() {
        let values = [json!("MiXed "), json!(" 12 "), json!(-3), json!(2.5), json!(true), json!(null), json!(["a", 1]), json!({"k": "v"}), json!([])];
        let names = ["toLower", "toUpper", "trim", "abs", "toInteger", "toDouble", "toLong", "toBoolean", "toString", "concat", "join", "size"];
        let mut checked = 0;
        for name in names {
            let f = Function::by_name(name).unwrap();
            for a in &values {
                if let Some(borrowed) = f.call_borrowed(&[a]) {
                    assert_eq!(borrowed, f.call(vec![a.clone()]), "{name}({a})");
                    checked += 1;
                }
                for b in &values {
                    for args in [vec![a, b], vec![a, &values[5], b]] {
                        if let Some(borrowed) = f.call_borrowed(&args) {
                            assert_eq!(borrowed, f.call(args.iter().map(|v| (*v).clone()).collect()), "{name}{args:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        // Every single function on each non-list value, and concat on every pair and triple.
        assert_eq!(checked, 9 * 7 + 2 * 81);
    }

    #[test]
    fn list_functions_ignore_one_scalar() {
        assert_eq!(call("concat", json!(["a"])), None);
        assert_eq!(call("concat", json!(["a", 1, null, "b"])), Some(json!("a1b")));
        assert_eq!(call("firstElement", json!([[3, 4]])), Some(json!(3)));
    }

    #[test]
    fn arg_driven_functions_read_their_setting_first() {
        assert_eq!(call("join", json!(["-", "a", "b"])), Some(json!("a-b")));
        assert_eq!(call("elementAt", json!([1, [5, 6, 7]])), Some(json!(6)));
        assert_eq!(call("leftPad", json!(["7", 3, "0"])), Some(json!("007")));
    }

    #[test]
    fn java_number_parsing_keeps_types() {
        assert_eq!(parse_java_number("12"), Some(JNum::Int(12)));
        assert_eq!(parse_java_number("12345678901"), Some(JNum::Long(12345678901)));
        assert_eq!(parse_java_number("1.5"), Some(JNum::Double(1.5)));
        assert_eq!(parse_java_number("abc"), None);
    }
}
