import sys; sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from common import W
w = W('minimal')
O, DF, DE = 'modify-overwrite-beta', 'modify-default-beta', 'modify-define-beta'
G = [
 ('shift_rhs_hash_literal', 'shift', {"a": "#lit"}, {"a": 1}),
 ('shift_rhs_hash_inside_key', 'shift', {"a": "out.x#y"}, {"a": 1}),
 ('shift_lhs_double_star', 'shift', {"a**": "&"}, {"ab": 1}),
 ('remove_lhs_double_star', 'remove', {"**": ""}, {"a": 1}),
 ('shift_lhs_bare_hash', 'shift', {"#": "out"}, {"a": 1}),
 ('shift_lhs_escaped_star_in_glob', 'shift', {"a-*-\\*": "&"}, {"a-b-*": 1}),
 ('shift_lhs_bracket_index_key', 'shift', {"[0]": "x"}, ["first", "second"]),
 ('shift_rhs_escaped_brackets', 'shift', {"a": "out.\\[0\\]"}, {"a": 1}),
 ('shift_transpose_level_too_deep', 'shift', {"a": {"@(5,b)": "x"}}, {"a": 1, "b": 2}),
 ('shift_negative_key_on_array', 'shift', {"-1": "x"}, [1, 2]),
 ('shift_multi_output_aliasing', 'shift', {"a": ["x", "y"], "b": "y"}, {"a": [1], "b": 2}),
 ('chain_aliasing_downstream_mutation', None, [{"operation": "shift", "spec": {"a": ["x", "y"]}}, {"operation": "remove", "spec": {"x": {"k": ""}}}], {"a": {"k": 1, "j": 2}}),
 ('modify_ref_aliasing', O, {"r": "@(1,a)", "a": {"[0]": 9}}, {"a": [1, 2]}),
 ('modify_squashNulls_arg_mutates_source', O, {"r": "=squashNulls(@(1,a))"}, {"a": [None, 1]}),
 ('modify_recursivelySquashNulls_arg_mutates_source', O, {"r": "=recursivelySquashNulls(@(1,a))"}, {"a": {"b": None, "c": 1}}),
 ('modify_squash_empty_list_arg', O, {"r": "=squashNulls(@(1,a))"}, {"a": []}),
 ('modify_squashDuplicates_empty_list_arg', O, {"r": "=squashDuplicates(@(1,a))"}, {"a": []}),
 ('modify_squashNulls_multi_args_with_null', O, {"r": "=squashNulls(@(1,a),@(1,b))"}, {"a": None, "b": 1}),
 ('modify_sort_booleans', O, {"r": "=sort(@(1,a))"}, {"a": [True, False]}),
 ('modify_sort_single_null', O, {"r": "=sort(@(1,a))"}, {"a": [None]}),
 ('modify_divideAndRound_negative_scale', O, {"r": "=divideAndRound(-1,25,1)"}, {}),
 ('modify_divideAndRound_huge_scale_panic', O, {"r": "=divideAndRound(2147483647,1,3)"}, {}),
 ('modify_unknown_function', O, {"r": "=unknownFn(@(1,a))"}, {"a": 1}),
 ('modify_unknown_function_no_args', O, {"r": "=unknownFn()"}, {"r": 1}),
 ('modify_malformed_function_call', O, {"r": "=concat@(1,a))"}, {"a": "x"}),
 ('modify_function_name_whitespace', O, {"r": "=toUpper (x)"}, {"r": "q"}),
 ('modify_function_leading_space', O, {"r": "= concat(a)"}, {}),
 ('modify_bigint_abs', O, {"r": "=abs(@(1,a))"}, {"a": 9223372036854775808}),
 ('modify_bigint_toInteger', O, {"r": "=toInteger(@(1,a))"}, {"a": 9223372036854775808}),
 ('modify_bigint_toLong', O, {"r": "=toLong(@(1,a))"}, {"a": 9223372036854775808}),
 ('modify_bigint_toString', O, {"r": "=toString(@(1,a))"}, {"a": 9223372036854775808}),
 ('modify_bigint_max', O, {"r": "=max(@(1,a))"}, {"a": [9223372036854775808, 1]}),
 ('modify_bigint_intSum', O, {"r": "=intSum(@(1,a))"}, {"a": [9223372036854775808, 1]}),
 ('modify_numeric_string_beyond_long', O, {"r": "=toDouble(@(1,a))"}, {"a": "99999999999999999999"}),
 ('modify_plus_prefix_not_inherited', DF, {"+b": {"c": 1}}, {"b": {"c": "x"}}),
 ('modify_underscore_prefix_container_still_descends', O, {"_l": {"*": 0}}, {"l": [1, 2]}),
 ('modify_star_star_on_scalar_java_crash', O, {"*": {"*": 5}}, {"a": 1, "b": {"c": 2}}),
 ('default_top_level_array_input', 'default', {"a": 5}, [{"b": 1}]),
 ('default_empty_array_spec', 'default', [], {"a": 1}),
 ('default_negative_index_under_array_key', 'default', {"a[]": {"-1": 1}}, {"a": 1}),
 ('cardinality_star_on_top_level_array', 'cardinality', {"*": "MANY"}, [1, 2]),
 ('cardinality_at_on_root', 'cardinality', {"@": "ONE"}, [1, 2]),
]
for gid, op, spec, inp in G:
    if op is None: w.chain(spec, inp, id=gid)
    else: w.add(op, spec, inp, id=gid)
w.save()
