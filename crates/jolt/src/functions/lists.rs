//! List functions: elementAt and sort (first/last element and toList are one-liners in mod.rs).
use serde_json::Value;

use super::JNum;

pub fn element_at(index: i32, args: Vec<Value>) -> Option<Value> {
    let index = usize::try_from(index).ok()?;
    args.into_iter().nth(index)
}

/// Sorts a list whose elements are all strings, or all numbers of one Java type; anything else
/// is not `Comparable` to the reference and gives nothing.
pub fn sort(list: Vec<Value>) -> Option<Value> {
    let mut list = list;
    if list.iter().all(Value::is_string) {
        list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
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
