import sys; sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from common import W
w = W('unit_shiftr')
S = 'shift'
# ShiftrUnitTest.shiftrTestCases
w.add(S, {"tuna-*-marlin-*": {"rating-*": "&(1,2).&.value"}}, {"tuna-A-marlin-AAA": {"rating-BBB": "bar"}})
w.add(S, {"tuna-*-marlin-*": {"rating-*": ["&(1,2).&.value", "foo"]}}, {"tuna-A-marlin-AAA": {"rating-BBB": "bar"}})
w.add(S, {"tuna|marlin": "&-write"}, {"tuna": "snapper"})
w.add(S, {"rating-*": {"&(0,1)": {"match": "&"}}}, {"rating-a": {"a": {"match": "a-match"}, "random": {"match": "noise"}}, "rating-c": {"c": {"match": "c-match"}, "random": {"match": "noise"}}})
w.add(S, {"tuna-*-marlin-*": {"rating-*": "tuna[&(1,1)].marlin[&(1,2)].&(0,1)"}}, {"tuna-2-marlin-3": {"rating-BBB": "bar"}, "tuna-1-marlin-0": {"rating-AAA": "mahi"}})
# badSpecs
inp = {"tuna-A-marlin-AAA": {"rating-BBB": "bar"}, "tuna": "x"}
for spec in [None, [], {}, {"tuna": {}},
             {"tuna-*-marlin-*": {"rating-@": "&(1,2).&.value"}},
             {"tuna-*-marlin-*": {"rating-*": "&(1,2).@.value"}},
             {"tuna-*-marlin-*": {"rating-*": "&(1,2).@(data.&(1,1).value"}},
             {"tuna-*-marlin-*": {"rating-*": "&(1,2).*.value"}},
             {"tuna-*-marlin-*": {"rating-*": "&(1,2).$.value"}},
             {"tuna-*-marlin-*": {"rating-*": ["&(1,2).photos[&(0,1)]-subArray[&(1,2)].value", "foo"]}},
             {"tuna-*-marlin-*": {"rating-&(1,2)-*": ["&(1,2).value", "foo"]}},
             {"tuna": "marlin[-1]"}]:
    w.add(S, spec, inp)
# validRHS: use them as output paths
src = {"a": {"b": {"c": 1}, "x": "X"}, "c": "C", "b": "B", "abc": "ABC", "v": 5}
for rhs in ["@a", "@abc", "@a.b.c", "@(a.b\\.c)", "@a.b.@c", "@(a[2].&).b.@c", "a[&2].@b[1].c", "test.@(2,foo\\.bar)",
            "@", "a@", "@a@b", "@(a.b.&(2,2)", "@(a.b.&(2,2).d", "@(a.b.@c).d", "@(a.*.c)", "@(a.$2.c)"]:
    w.add(S, {"v": rhs}, src)
    w.add(S, {"a": {"x": rhs}}, {"a": {"x": "X", "b": "bb", "c": "cc", "abc": "q"}, "foo.bar": "FB"})
# KeyOrderingTest -> which computed key wins
w.add(S, {"*": {"a": "star.&1"}, "&": {"a": "amp.&1"}}, {"k": {"a": 1}})
w.add(S, {"rating-*": {"a": "r.&1"}, "rating-range-*": {"a": "rr.&1"}, "&": {"a": "amp.&1"}, "tuna-&(0)": {"a": "t.&1"}}, {"rating-range-x": {"a": 1}, "rating-x": {"a": 2}, "tuna-": {"a": 3}})
w.add(S, {"&": {"a": "x"}, "&(0,1)": {"a": "y"}}, {"k": {"a": 1}})
w.add(S, {"aaaa-*": {"a": "A*"}, "bbbb-*": {"a": "B*"}, "aaaa-&": {"a": "A&"}, "bbbb-&(0)": {"a": "B&"}}, {"aaaa-1": {"a": 1}, "bbbb-2": {"a": 2}})
w.add(S, {"a*": "one", "*b": "two", "*": "three"}, {"ab": 1, "a": 2, "b": 3, "c": 4})
w.add(S, {"a-*": "one.&", "a-*-*": "two.&", "*": "three.&"}, {"a-b": 1, "a-b-c": 2, "a--": 3, "a-": 4, "x": 5})
w.save()

w = W('unit_defaultr')
D = 'default'
w.add(D, {"tuna*": "marlin"}, {})
w.add(D, {"array": [], "map": {}}, {})
w.add(D, {"array": ["a"], "map": {"b": "b"}}, {"array": [], "map": {}})
w.save()

w = W('unit_fixtures_missing')
# modifier valueCheck fixtures missing from our copy
for op in ['modify-overwrite-beta', 'modify-default-beta', 'modify-define-beta']:
    w.add(op, {"data": {"a?": "x", "b?": "y", "c": "z"}}, {"data": {"a": "a", "c": None}}, {})
    w.add(op, {"data": {"a?": "x", "b?": "y", "c": "z"}}, {"data": None}, {})
    w.add(op, {"data": {"a?": "x", "b?": "y", "c": "z"}}, {"data": {}}, {})
    w.add(op, {"data": {"[0]": "x", "[1]?": "y", "[3]": "d", "[4]?": "e"}}, {"data": None}, {})
    w.add(op, {"data": {"[0]": "x", "[1]?": "y", "[3]": "d", "[4]?": "e"}}, {"data": []}, {})
    w.add(op, {"data": {"[0]": "x", "[1]?": "y", "[3]": "d", "[4]?": "e"}}, {"data": ["a", None, "c"]}, {})
    w.add(op, {"data": {"[0]": "x", "[1]?": "y", "[3]": "d", "[4]?": "e"}}, {"data": ["a", "b", "c", "d", "e", "f"]}, {})
C = 'cardinality'
w.add(C, {"photos": {"url": "ONE", "caption": "MANY"}}, {"photos": "scalar"})
w.add(C, {"photos": {"url": "ONE", "caption": "MANY"}}, {"photos": None})
w.add(C, {"photos": {"url": "ONE", "caption": "MANY"}}, {"photos": 5})
w.add(C, {"rating-*-*": "ONE", "rating-multi": "MANY"}, {"rating-primary": [5, 4], "rating-quality-1": [4, 5], "rating-quality-2": [5, 4], "rating-multi": 3})
w.add(C, {"photos-*": {"url": "ONE", "caption": "MANY"}}, {"photos": {"url": ["a", "b"], "caption": "Nice"}})
w.add(C, {"photos": {"url": "ONE"}}, {"photos": {"url": None}})
w.add(C, {"photos": {"url": "MANY"}}, {"photos": {"url": None}})
w.add('remove', {"*": {"a": ""}}, {"x": [{"a": 1, "b": 2}], "y": {"a": 1, "b": 2}})
w.save()
