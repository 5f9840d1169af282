import sys, itertools; sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from common import W
# ---------------- default
w = W('default_edge')
D = 'default'
INS = [{}, {"a": None}, {"a": 1}, {"a": {"b": 1}}, {"a": [1, 2]}, {"a": [{"b": 1}, {"c": 2}, None, 5]}, {"a": "s"},
       {"x": {"p": 1}, "y": {"q": 2}, "z": 3, "w": None, "v": [1]}, [], [{"b": 1}, None], None, "str", 5,
       {"rating-1": {"v": 1}, "rating-2": {}, "other": {}}, {"a": {"b": None}}, {"a": []}, {"a": {}}]
SPECS = [{"a": 5}, {"a": None}, {"a": {"b": 2}}, {"a": {"c": 3}}, {"a": []}, {"a": [9]}, {"a": {}}, {"a": [1, 2, 3]},
         {"*": {"d": 4}}, {"*": 7}, {"*": None}, {"a|x": {"d": 4}}, {"a|b|c": 1}, {"x|a": {"k": 1}, "a": {"k": 2}},
         {"a[]": {"0": "z", "1": "y", "5": "q"}}, {"a[]": {"*": {"d": 1}}}, {"a[]": {"1": {"d": 1}}}, {"a[]": 5}, {"a[]": []},
         {"a": {"*": {"d": 1}}}, {"a": {"0": 1}}, {"a[]": {"0": 1}}, {"[]": {"0": 1}}, {"*[]": {"0": 1}},
         {"rating-*": {"v": 0}}, {"rating-*|other": {"v": 0}}, {"*": {"*": 1}}, {"a": {"b": {"c": {"d": 1}}}}, {"a.b": 1}, {"a\\.b": 1},
         {"a": {"b|c": 1}}, {"*": {"b": 2}, "a": {"b": 3}}, {"a": {"b": 3}, "*": {"b": 2, "c": 4}}, {"a": "=concat(x)"}, {"@a": 1}, {"$a": 1}, {"&": 1}, {"#a": 1},
         {"a*": 1}, {"*a": 1}, {"a-*": 1}, {"": 1}, {"a[]": None}, {"a": [None]}, {"a": [{"b": 2}]}, {"a[]": {"-1": 1}}, {"a[]": {"x": 1}}, {"a[]": {"01": 1}}]
for s in SPECS:
    for i in INS:
        w.add(D, s, i)
w.save()
# ---------------- remove
w = W('remove_edge')
R = 'remove'
RIN = [{"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2, 3], "f": [{"g": 1, "h": 2}, {"g": 3}], "a.b": 4, "*": 5, "0": 6, "ab": 7, "ba": 8, "a-b": 9},
       [{"a": 1, "b": 2}, {"a": 3}, 7, None], [1, 2, 3], None, "s"]
RSPECS = [{"a": ""}, {"a": "x"}, {"a": None}, {"a": 5}, {"a": []}, {"b": {"c": ""}}, {"b": {"*": ""}}, {"*": ""}, {"a*": ""}, {"*b": ""}, {"a|ab": ""}, {"a-*": ""},
          {"e": {"0": ""}}, {"e": {"1": "", "0": ""}}, {"e": {"5": ""}}, {"e": {"-1": ""}}, {"e": {"*": ""}}, {"e": {"[0]": ""}}, {"e": {"x": ""}},
          {"f": {"*": {"g": ""}}}, {"f": {"0": {"g": ""}}}, {"f": {"*": {"*": ""}}}, {"0": ""}, {"1": ""}, {"*": {"a": ""}}, {"0": {"a": ""}}, {"a.b": ""}, {"a\\.b": ""},
          {"\\*": ""}, {"&": ""}, {"@": ""}, {"$": ""}, {"#": ""}, {"**": ""}, {"a": {"x": ""}}, {"b": {"c": {"q": ""}}}, {"b": ""}, {"b": {}}, {}, {"*": {}},
          {"b": {"c": "", "*": ""}}, {"[1]": ""}, {"e": {"0": "", "1": "", "2": ""}}, {"e": {"2|0": ""}}, {"f": {"1": ""}, "e": {"1": ""}}]
for s in RSPECS:
    for i in RIN:
        w.add(R, s, i)
w.save()
# ---------------- cardinality
w = W('card_edge')
C = 'cardinality'
CIN = [{"a": [1, 2], "b": 3, "c": None, "d": [], "e": {"x": [1]}, "f": [[1, 2], 3], "g": [{"k": [1, 2]}, {"k": 3}], "h": {"k": 1}, "i": [None, 2]},
       [{"a": [1, 2]}, {"a": 3}], None, 5, [1, 2]]
CSPECS = [{"a": "ONE"}, {"a": "MANY"}, {"b": "ONE"}, {"b": "MANY"}, {"c": "ONE"}, {"c": "MANY"}, {"d": "ONE"}, {"d": "MANY"}, {"e": "ONE"}, {"e": "MANY"},
          {"f": "ONE"}, {"g": "ONE"}, {"g": {"*": {"k": "ONE"}}}, {"g": {"0": {"k": "ONE"}}}, {"g": {"k": "ONE"}}, {"h": "MANY"}, {"h": {"k": "MANY"}}, {"i": "ONE"},
          {"*": "ONE"}, {"*": "MANY"}, {"a|b": "MANY"}, {"a": "one"}, {"a": "Many"}, {"a": "BOTH"}, {"a": 1}, {"a": None}, {"a": ["ONE"]},
          {"a": {"@": "ONE"}}, {"g": {"@": "ONE"}}, {"g": {"@": "ONE", "*": {"k": "ONE"}}}, {"b": {"@": "MANY"}}, {"e": {"@": "MANY", "x": "ONE"}},
          {"e": {"x": {"@": "ONE"}}}, {"@": "MANY"}, {"@": "ONE"}, {"0": {"a": "ONE"}}, {"*": {"a": "ONE"}}, {"[0]": "ONE"}, {"0": "MANY"}, {"a*": "MANY"}, {"&": "ONE"}, {"$": "ONE"}, {"#a": "ONE"}]
for s in CSPECS:
    for i in CIN:
        w.add(C, s, i)
w.save()
# ---------------- sort
w = W('sort_edge')
for i in [{"b": 1, "a": 2, "C": 3, "~x": 4, "_y": 5, "1": 6, "10": 7, "2": 8, "": 9, " ": 10, "é": 11, "Z": 12},
          {"z": {"y": 1, "x": [{"b": 1, "a": 2}, 3]}, "a": [{"d": {"f": 1, "e": 2}}]}, [{"b": 1, "a": 2}, {"d": 1, "c": 2}],
          {"~b": 1, "~a": 2, "b": 3, "a": 4, "~": 5}, None, "s", 5, [], {}, {"B": 1, "a": 2, "A": 3, "b": 4}, {"a1": 1, "a10": 2, "a2": 3, "a": 4, "a-": 5, "a_": 6}]:
    w.add('sort', None, i)
    w.add('sort', {}, i)
    w.add('sort', {"a": "b"}, i)
w.save()
# ---------------- modify paths
w = W('modify_paths')
MIN = [{"a": 1, "b": {"c": "x", "d": None}, "l": [1, 2, 3], "lm": [{"k": 1}, {"k": 2}, {}], "n": None, "s": "str", "e": [], "em": {}}, {}, [], None, [1, 2], {"l": None}]
MSPECS = [{"a": 5}, {"z": 5}, {"n": 5}, {"a": None}, {"a": {"x": 1}}, {"a": [1]}, {"s": {"x": 1}}, {"l": {"[1]": 9}}, {"l": {"[5]": 9}}, {"l": {"[0]": 9, "[2]": 8}},
          {"l": {"*": 0}}, {"l": {"*": "=toString"}}, {"l": {"1": 9}}, {"lm": {"*": {"k": "=intSum(@(1,k),10)"}}}, {"lm": {"[1]": {"k": 9, "j": 8}}}, {"lm": {"[*]": {"k": 0}}},
          {"lm": {"*": {"j": "@(1,k)"}}}, {"lm": {"*": {"j": "@(2,a)"}}}, {"lm": {"*": {"j": "@(3,a)"}}}, {"lm": {"*": {"j": "@(4,a)"}}}, {"lm": {"*": {"j": "@(9,a)"}}},
          {"b": {"*": "=toUpper"}}, {"b": {"c?": "y", "d?": "y", "z?": "y"}}, {"b?": {"c": "y"}}, {"z?": {"c": "y"}}, {"n?": 1}, {"n": {"x": 1}}, {"b": {"c": {"x": 1}}},
          {"*": "=toString"}, {"*": 5}, {"*": {"*": 5}}, {"a|s": "=toString"}, {"b|z": {"q": 1}}, {"b": {"c|d": 1}}, {"a*": 1}, {"*s": 1},
          {"e": {"[0]": 1}}, {"e": {"[2]": 1}}, {"em": {"x": 1}}, {"[0]": 5}, {"[1]": 5}, {"[3]": 5}, {"*": {"[0]": 5}}, {"l": {"[-1]": 5}}, {"l": {"[a]": 5}}, {"l": {"[]": 5}},
          {"x": "@(1,a)"}, {"x": "@(1,b.c)"}, {"x": "@(1,l[1])"}, {"x": "@(1,lm[1].k)"}, {"x": "@(1,missing)"}, {"x": "@(0,a)"}, {"x": "@(2,a)"}, {"x": "@a"}, {"x": "@(1,b)"},
          {"x": "^value"}, {"x": "^ctx"}, {"x": "^ctx.k"}, {"x": "^(ctx.k)"}, {"x": "@(1,^ctx)"}, {"x": "=concat(^value,'-',^ctx.k)"}, {"x": "=concat(@(1,a),^ctx.k)"}, {"x": "=toUpper(^ctx.k)"},
          {"x": "^"}, {"x": "^missing"}, {"x": "^ctx.l[0]"}, {"x": "^ctx.l"},
          {"+a": 5}, {"+z": 5}, {"~a": 5}, {"~z": 5}, {"~n": 5}, {"_a": 5}, {"_z": 5}, {"_n": 5}, {"+l": {"[0]": 0}}, {"~l": {"[9]": 0}}, {"_l": {"*": 0}},
          {"+b": {"c": 1, "~d": 2, "_z": 3}}, {"a+": 1}, {"++a": 1}, {"+*": 1}, {"~*": 1}, {"+a?": 1}, {"a?+": 1},
          {"a": "=intSum(@(1,a),1)"}, {"a": "=intSum(@(0),1)"}, {"a": "=intSum(@0,1)"}, {"a": "=intSum(@,1)"}, {"a": "=intSum(@(0,),1)"}, {"a": "=divide(@(1,a),0)"},
          {"l": "=size"}, {"l": "=sort"}, {"b": "=size"}, {"s": "=size"}, {"s": "=split('t',@(1,s))"}, {"l": ["=toString", "=size"]}, {"a": ["=toString"]}, {"a": []},
          {"l": "=firstElement"}, {"l": "=elementAt(1)"}, {"l": "=elementAt(@(1,l),1)"}, {"l": "=join(',')"}, {"l": "=join(',',@(1,l))"}, {"l": "=concat"}, {"s": "=concat(@(1,s),'!')"}, {"s": "=concat('!')"},
          {"a": "=noop"}, {"n": "=noop"}, {"z": "=noop"}, {"z": "=toString"}, {"z": "=concat('x')"}, {"z": "=isPresent"}, {"z": "=notNull"}, {"n": "=notNull"}, {"n": "=isNull"}, {"n": "=toString"}, {"a": "=isNull"},
          {"lm": {"*": "=size"}}, {"lm": {"*": {"k": "=toString", "new": "=concat(@(1,k),'!')"}}}, {"l": {"[1]": "=toString"}}, {"l": {"*": "=intSum(@(0),@(2,a))"}}]
CTX = {"value": "V", "ctx": {"k": "K", "l": [1, 2]}}
for s in MSPECS:
    for i in MIN:
        for op in ['modify-overwrite-beta', 'modify-default-beta', 'modify-define-beta']:
            w.add(op, s, i, CTX)
w.save()
# ---------------- chainr-level
w = W('chainr_edge')
for ch in [[], [{}], [{"operation": "shift"}], [{"operation": "default"}], [{"operation": "remove"}], [{"operation": "cardinality"}], [{"operation": "sort"}],
           [{"operation": "modify-overwrite-beta"}], [{"operation": "shift", "spec": None}], [{"operation": "shift", "spec": []}], [{"operation": "shift", "spec": "x"}],
           [{"operation": "shift", "spec": {"a": "b"}}, {"operation": "sort"}], [{"operation": "com.bazaarvoice.jolt.Shiftr", "spec": {"a": "b"}}],
           [{"operation": "Shiftr", "spec": {"a": "b"}}], [{"operation": "SHIFT", "spec": {"a": "b"}}], [{"operation": " shift", "spec": {"a": "b"}}],
           [{"operation": "shift", "spec": {"a": "b"}, "extra": 1}], [{"spec": {"a": "b"}}], [{"operation": 5, "spec": {}}], [{"operation": None, "spec": {}}], [5], ["shift"], [None],
           [{"operation": "default", "spec": []}], [{"operation": "default", "spec": {}}], [{"operation": "remove", "spec": {}}], [{"operation": "remove", "spec": []}],
           [{"operation": "cardinality", "spec": {}}], [{"operation": "modify-overwrite-beta", "spec": {}}], [{"operation": "modify-overwrite-beta", "spec": []}],
           [{"operation": "modify-default-beta", "spec": None}], [{"operation": "sort", "spec": None}], [{"operation": "sort", "spec": "x"}],
           [{"operation": "shift", "spec": {"a": "b"}}, {"operation": "shift", "spec": {"b": "c"}}], [{"operation": "shift", "spec": {"*": "&"}}, {"operation": "modify-overwrite-beta", "spec": {"a": "=toUpper"}}]]:
    for i in [{"a": "x", "b": 2}, None, [1]]:
        w.chain(ch, i)
w.save()
