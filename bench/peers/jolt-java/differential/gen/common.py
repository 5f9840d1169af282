import json, os
OUT = os.path.join(os.environ['JDIFF_WORK'], 'cases')
class W:
    def __init__(self, name):
        self.name = name; self.cases = []
    def add(self, op, spec, inp, ctx=None, id=None, raw_input=None):
        c = {'id': id if id is not None else len(self.cases), 'spec': {'operation': op, 'spec': spec} if op else spec}
        if op in ('sort',) and spec is None: c['spec'] = {'operation': 'sort'}
        if raw_input is not None: c['input_raw'] = raw_input
        else: c['input'] = inp
        if ctx is not None: c['context'] = ctx
        self.cases.append(c)
    def chain(self, chain, inp, ctx=None, id=None):
        c = {'id': id if id is not None else len(self.cases), 'spec': chain, 'input': inp}
        if ctx is not None: c['context'] = ctx
        self.cases.append(c)
    def save(self):
        with open(os.path.join(OUT, self.name + '.jsonl'), 'w') as f:
            for c in self.cases: f.write(json.dumps(c) + '\n')
        print(self.name, len(self.cases))
