#!/usr/bin/env python3
"""Differential driver: runs every case in $JDIFF_WORK/cases/*.jsonl through the Java reference
(one JVM, the CLI in java/) and through `$JDIFF_BIN jolt` (one process per case), and compares.
Results go to $JDIFF_WORK/results/. Run by run.sh.
Case line: {"id", "spec", "input", "context"?}  or with "input_raw"/"spec_raw" (raw JSON text)."""
import json, sys, os, glob, subprocess, tempfile, concurrent.futures as cf, collections

ROOT = os.environ['JDIFF_WORK']
BIN = os.environ['JDIFF_BIN']
HERE = os.path.dirname(os.path.abspath(__file__))

def load_cases(files):
    cases = []
    for f in files:
        base = os.path.splitext(os.path.basename(f))[0]
        for n, line in enumerate(open(f)):
            line = line.strip()
            if not line: continue
            c = json.loads(line)
            c['id'] = '%s:%s' % (base, c.get('id', n))
            spec_txt = c.pop('spec_raw', None)
            if spec_txt is None: spec_txt = json.dumps(c['spec'])
            spec = json.loads(spec_txt)
            if isinstance(spec, dict):
                spec_txt = '[' + spec_txt + ']'
                spec = [spec]
            c['spec_txt'] = spec_txt
            c['spec'] = spec
            inp = c.pop('input_raw', None)
            c['input_txt'] = inp if inp is not None else json.dumps(c.get('input'))
            if 'context' in c and c['context'] is not None:
                c['context_txt'] = json.dumps(c['context'])
            cases.append(c)
    return cases

def run_java(cases):
    lines = []
    for c in cases:
        s = '{"id":%s,"spec":%s,"input":%s' % (json.dumps(c['id']), c['spec_txt'], c['input_txt'])
        if 'context_txt' in c: s += ',"context":' + c['context_txt']
        lines.append(s + '}')
    p = subprocess.run([HERE + '/j.sh'], input='\n'.join(lines) + '\n', capture_output=True, text=True)
    res = {}
    for l in p.stdout.splitlines():
        try:
            r = json.loads(l)
        except Exception:
            continue
        res[r['id']] = r
    if p.stderr.strip():
        sys.stderr.write(p.stderr[-3000:])
    return res

def run_ours(c, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    sp, ip = d + '/spec.json', d + '/input.json'
    open(sp, 'w').write(c['spec_txt']); open(ip, 'w').write(c['input_txt'])
    args = [BIN, 'jolt', sp, ip]
    if 'context_txt' in c:
        cp = d + '/ctx.json'; open(cp, 'w').write(c['context_txt']); args += ['--context', cp]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return {'ok': False, 'phase': 'timeout', 'error': 'timeout'}
    if p.returncode == 0:
        try:
            return {'ok': True, 'output': json.loads(p.stdout)}
        except Exception as e:
            return {'ok': False, 'phase': 'badjson', 'error': 'unparseable stdout: ' + p.stdout[:300]}
    phase = {2: 'spec', 1: 'transform'}.get(p.returncode, 'rc%d' % p.returncode)
    return {'ok': False, 'phase': phase, 'error': (p.stderr.strip() or p.stdout.strip())[:500]}

def isnum(x): return isinstance(x, (int, float)) and not isinstance(x, bool)

def cmp(a, b, ordered, notes, path='$'):
    """Returns True if equal (numbers by value). notes collects number-form / order differences."""
    if isnum(a) and isnum(b):
        if a != b: return False
        if type(a) != type(b): notes.append(('numform', path, a, b))
        return True
    if type(a) != type(b): return False
    if isinstance(a, dict):
        if set(a) != set(b): return False
        if list(a) != list(b):
            if ordered: return False
            notes.append(('keyorder', path))
        return all(cmp(a[k], b[k], ordered, notes, path + '.' + k) for k in a)
    if isinstance(a, list):
        if len(a) != len(b): return False
        return all(cmp(x, y, ordered, notes, '%s[%d]' % (path, i)) for i, (x, y) in enumerate(zip(a, b)))
    return a == b

def op_of(c):
    ops = sorted({str(s.get('operation', '?')) if isinstance(s, dict) else '?' for s in c['spec']}) if isinstance(c['spec'], list) else ['?']
    return ops[0] if len(ops) == 1 else ('chain' if ops else 'empty')

def main():
    files = sys.argv[1:] or sorted(glob.glob(ROOT + '/cases/*.jsonl'))
    cases = load_cases(files)
    ids = collections.Counter(c['id'] for c in cases)
    dup = [i for i, n in ids.items() if n > 1]
    if dup: sys.exit('duplicate ids: %s' % dup[:10])
    java = run_java(cases)
    tmp = tempfile.mkdtemp(prefix='jd')
    with cf.ThreadPoolExecutor(16) as ex:
        ours = list(ex.map(lambda c: run_ours(c, tmp), cases))
    subprocess.run(['rm', '-rf', tmp])
    stats = collections.defaultdict(collections.Counter)
    os.makedirs(ROOT + '/results', exist_ok=True)
    outs = {}
    for c, o in zip(cases, ours):
        j = java.get(c['id'], {'ok': False, 'phase': 'missing', 'error': 'no java result'})
        op = op_of(c)
        ordered = any(isinstance(s, dict) and s.get('operation') == 'sort' for s in c['spec'])
        notes = []
        if j['ok'] and o['ok']:
            verdict = 'agree' if cmp(j['output'], o['output'], ordered, notes) else 'MISMATCH'
            if verdict == 'agree' and any(n[0] == 'numform' for n in notes): verdict = 'numform'
        elif not j['ok'] and not o['ok']:
            verdict = 'agree' if j.get('phase') == o.get('phase') else 'FAILPHASE'
        else:
            verdict = 'MISMATCH'
        stats[op][verdict] += 1
        rec = {'id': c['id'], 'op': op, 'verdict': verdict, 'spec': c['spec'], 'input': json.loads(c['input_txt']),
               'context': json.loads(c['context_txt']) if 'context_txt' in c else None,
               'java': j.get('output') if j['ok'] else {'error': j.get('error'), 'phase': j.get('phase')},
               'ours': o.get('output') if o['ok'] else {'error': o.get('error'), 'phase': o.get('phase')},
               'notes': [list(map(str, n)) for n in notes]}
        fn = c['id'].split(':')[0]
        if fn not in outs: outs[fn] = open(ROOT + '/results/' + fn + '.jsonl', 'w')
        outs[fn].write(json.dumps(rec) + '\n')
    for f in outs.values(): f.close()
    tot = collections.Counter()
    for op in sorted(stats):
        print(op, dict(stats[op])); tot.update(stats[op])
    print('TOTAL', sum(tot.values()), dict(tot))

if __name__ == '__main__':
    main()
