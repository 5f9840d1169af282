import sys, random; sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from common import W
rnd = random.Random(12345)
KEYS = ["a", "b", "c", "a-1", "a-2", "b-1", "x-y-z", "0", "1", "2", "k.d"]
LHS = ["*", "a", "b", "a-*", "*-1", "*-*", "a|b", "0", "1", "*-*-*", "x-*-z", "@", "$", "#v", "&", "c|*"]
def rinput(d):
    if d == 0 or rnd.random() < 0.25:
        return rnd.choice([1, 2.5, "s", "a", "b-1", None, True, 0, "0"])
    if rnd.random() < 0.3:
        return [rinput(d - 1) for _ in range(rnd.randint(0, 3))]
    return {k: rinput(d - 1) for k in rnd.sample(KEYS, rnd.randint(1, 4))}
def rref(depth):
    c = rnd.random()
    n = rnd.randint(0, depth)
    if c < 0.3: return "&%d" % n if rnd.random() < 0.5 else "&"
    if c < 0.45: return "&(%d,%d)" % (n, rnd.randint(0, 2))
    if c < 0.55: return "@(%d,%s)" % (n + 1, rnd.choice(["a", "b", "a-1", "0", "c"]))
    if c < 0.6: return "@(%d,&)" % n if False else "lit"
    return rnd.choice(["o", "p", "q", "r"])
def rrhs(depth):
    parts = [rref(depth) for _ in range(rnd.randint(1, 3))]
    s = ".".join(parts)
    r = rnd.random()
    if r < 0.15: s += "[]"
    elif r < 0.25: s += "[#%d]" % rnd.randint(1, depth + 1)
    elif r < 0.32: s += "[&%d]" % rnd.randint(0, depth)
    if rnd.random() < 0.1: return [s, rrhs(depth)]
    return s
def rspec(depth, maxd):
    spec = {}
    for k in rnd.sample(LHS, rnd.randint(1, 3)):
        if k in ("$", "#v"):
            spec[k] = rrhs(depth)
        elif depth < maxd and rnd.random() < 0.5 and k != "@":
            spec[k] = rspec(depth + 1, maxd)
        else:
            spec[k] = rrhs(depth)
    return spec
w = W('rand_shift')
for i in range(3000):
    w.add('shift', rspec(0, rnd.randint(0, 3)), rinput(rnd.randint(1, 4)))
w.save()
