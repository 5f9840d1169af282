import json, glob, re, collections, os
def err(x): return x['error'] if isinstance(x, dict) and 'phase' in x and set(x) <= {'error','phase'} else None
def cls(r):
    sp = json.dumps(r['spec']); j, o = r['java'], r['ours']; je, oe = err(j), err(o); inp = json.dumps(r['input'])
    if je:
        if 'not a valid RHS key' in je: return 'shift_rhs_hash_literal'
        if 'LHS # should start with a #' in je: return 'shift_rhs_hash_inside_key'
        if 'ArrayIndexOutOfBounds' in je and '**' in sp: return 'shift_lhs_double_star' if r['op']=='shift' else 'remove_lhs_double_star'
        if 'HashPathElement input is too short' in je: return 'shift_lhs_bare_hash'
        if 'should only have one' in je: return 'shift_lhs_escaped_star_in_glob'
        if 'NumberFormatException' in je: return 'shift_rhs_escaped_brackets'
        if 'top level Json Array' in je: return 'default_top_level_array_input'
        if 'Collection.toArray' in je: return 'default_empty_array_spec'
        if 'Index -' in je and r['op'] == 'default': return 'default_negative_index_under_array_key'
        if 'Index -' in je and '@(' in sp: return 'shift_transpose_level_too_deep'
        if 'Index -' in je: return 'shift_negative_key_on_array'
        if 'Should not come here' in je: return 'modify_star_star_on_scalar_java_crash'
        if 'parentContainer' in je: return 'cardinality_at_on_root'
        if 'ClassCastException' in je and r['op']=='cardinality': return 'cardinality_star_on_top_level_array'
    if je is None and oe and 'below a [] key' in oe: return 'default_negative_index_under_array_key'
    if oe and 'panicked' in oe: return 'modify_divideAndRound_huge_scale_panic'
    if '"[0]"' in sp or '"[1]"' in sp: 
        if r['op']=='shift': return 'shift_lhs_bracket_index_key'
    if r['op']=='shift' or r['op']=='chain':
        return 'aliasing(shift/chain)'
    if re.search(r'squashNulls\(@\(1,\w+\),@', sp): return 'modify_squashNulls_multi_args_with_null'
    if 'quashNulls(@' in sp and je is None and isinstance(j, dict) and 'r' not in j and 's' not in j: return 'modify_squash_empty_list_arg'
    if 'quashDuplicates(@' in sp: return 'modify_squashDuplicates_empty_list_arg'
    if 'quashNulls(@' in sp: return 'modify_squashNulls_arg_mutates_source'
    if '=sort' in sp: return 'modify_sort_booleans/null'
    if 'divideAndRound' in sp: return 'modify_divideAndRound_negative_scale'
    if 'unknownFn' in sp: return 'modify_unknown_function'
    if 'concat@' in sp: return 'modify_malformed_function_call'
    if '"= ' in sp or 'concat (' in sp or 'toUpper (' in sp: return 'modify_function_name_whitespace'
    if '99999999999999999999' in inp: return 'modify_numeric_string_beyond_long'
    if re.search(r'\d{19,}', inp): return 'modify_bigint_*'
    if '"+' in sp: return 'modify_plus_prefix_not_inherited'
    if '"_' in sp: return 'modify_underscore_prefix_container_still_descends'
    if '"@(1,' in sp: return 'modify_ref_aliasing'
    return 'UNCLASSIFIED'
g = collections.defaultdict(list)
per = collections.defaultdict(collections.Counter)
for f in sorted(glob.glob(os.path.join(os.environ['JDIFF_WORK'], 'results', '*.jsonl'))):
    if 'minimal' in f: continue
    for l in open(f):
        r = json.loads(l)
        per[r['op'] if r['op'] in ('shift','default','remove','cardinality','sort','chain','modify-overwrite-beta','modify-default-beta','modify-define-beta') else 'chainr-misc'][r['verdict']] += 1
        if r['verdict'] in ('agree',): continue
        if r['verdict'] == 'numform': g['NUMFORM'].append(r); continue
        g[cls(r)].append(r)
for op, c in sorted(per.items()): print(op, sum(c.values()), dict(c))
print()
for k, v in sorted(g.items(), key=lambda kv: -len(kv[1])): print(len(v), k)
json.dump({k: [x['id'] for x in v] for k, v in g.items()}, open(os.path.join(os.environ['JDIFF_WORK'], 'groups.json'), 'w'), indent=1)
for r in g.get('UNCLASSIFIED', [])[:30] + g.get('NUMFORM', []):
    print('UNCL/NUMF', r['id'], json.dumps(r['spec'])[:150], json.dumps(r['input'])[:100], '\n  J', json.dumps(r['java'])[:150], '\n  O', json.dumps(r['ours'])[:150])
