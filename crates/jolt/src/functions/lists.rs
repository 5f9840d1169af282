//! List functions: elementAt and sort (first/last element and toList are one-liners in mod.rs).
use serde_json::Value;

use super::JNum;

pub fn element_at(index: i32, args: Vec<Value>) -> Option<Value> {
    let index = usize::try_from(index).ok()?;
    args.into_iter().nth(index)
}

/// Sorts a list whose elements are all strings, all booleans, or all numbers of one Java type (a
/// list of one comes back as it is); anything else
/// is not `Comparable` to the reference and gives nothing.
pub fn sort(list: Vec<Value>) -> Option<Value> {
    let mut list = list;
    // `Arrays.sort` compares nothing in a list of one, so any one element comes back as it is
    // (`[null]`, `[{..}]`); from two on, every element must be comparable with the others.
    if list.len() < 2 {
        return Some(Value::Array(list));
    }
    if list.iter().all(Value::is_string) {
        // `String.compareTo`: by UTF-16 code units.
        list.sort_by(|a, b| a.as_str().unwrap_or("").encode_utf16().cmp(b.as_str().unwrap_or("").encode_utf16()));
        return Some(Value::Array(list));
    }
    if list.iter().all(Value::is_boolean) {
        // `Boolean.compareTo`: false before true.
        list.sort_by_key(|v| v.as_bool());
        return Some(Value::Array(list));
    }
    let nums: Vec<JNum> = list.iter().map(JNum::of).collect::<Option<_>>()?;
    let same_type = nums.windows(2).all(|w| std::mem::discriminant(&w[0]) == std::mem::discriminant(&w[1]));
    if !same_type {
        return None;
    }
    let mut pairs: Vec<(JNum, Value)> = nums.into_iter().zip(list).collect();
    pairs.sort_by(|(a, _), (b, _)| a.double_value().total_cmp(&b.double_value()));
    Some(Value::Array(pairs.into_iter().map(|(_, v)| v).collect()))
}
