import sys, itertools; sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from common import W
VALUES = [None, True, False, 0, 1, -1, 7, 1.0, -1.5, 2.5, 0.1, 1e20, 2147483647, 2147483648, -2147483649,
          9223372036854775807, 9223372036854775808, -9223372036854775809, 123123123123123123123123123123,
          "1", "-1", "1.5", " 3 ", "3 ", "+4", "abc", "", " ", "TRUE", "true", "False", "false", "yes", "1e3", "0x10", "NaN", "Infinity", "-0", "1.0",
          "9999999999", "99999999999999999999", "a,b,,c", "  padded  ", "MiXeD", "ß", "é",
          [], [1, 2, 3], [3, 1, 2], ["b", "a", "c"], [1, "a", None, 2.5], [None], [None, None], [1.5, 2.5], [1, 2.0], ["1", "2"], ["2", "10", "1"],
          [[1, None], {"x": None}], [True, False], [1, 1, 2, 2, 1], ["a", "a", "b"], [{"a": 1}, {"a": 1}], [2147483647, 1], [1, 2147483648],
          {}, {"a": 1, "b": None}, {"a": {"b": None, "c": [None, 1]}, "d": None}, {"k": "v"}]
FUNCS = ["toLower", "toUpper", "trim", "abs", "toInteger", "toDouble", "toLong", "toBoolean", "toString", "size", "squashNulls",
         "recursivelySquashNulls", "squashDuplicates", "toList", "sort", "firstElement", "lastElement", "min", "max", "avg",
         "intSum", "doubleSum", "longSum", "intSubtract", "doubleSubtract", "longSubtract", "divide", "noop", "isPresent",
         "notNull", "isNull", "concat", "join", "split", "substring", "leftPad", "rightPad", "elementAt", "divideAndRound"]
w = W('funcs_self')
for f in FUNCS:
    for v in VALUES:
        w.add('modify-overwrite-beta', {"v": "=" + f}, {"v": v})
w.save()
w = W('funcs_arg1')
for f in FUNCS:
    for v in VALUES:
        w.add('modify-overwrite-beta', {"r": "=%s(@(1,a))" % f}, {"a": v})
w.save()
# two-arg combos
V2 = [None, 0, 1, -1, 2, 3, 1.5, -2.5, 2147483647, 9223372036854775807, "2", "x", "abc", "a.b", "", [1, 2], [], {"a": 1}, True]
w = W('funcs_arg2')
for f in ["min", "max", "avg", "intSum", "doubleSum", "longSum", "intSubtract", "doubleSubtract", "longSubtract", "divide",
          "concat", "join", "split", "substring", "leftPad", "rightPad", "elementAt", "divideAndRound", "toList", "squashNulls", "sort", "firstElement", "size"]:
    for a, b in itertools.product(V2, V2):
        w.add('modify-overwrite-beta', {"r": "=%s(@(1,a),@(1,b))" % f}, {"a": a, "b": b})
w.save()
# three-arg combos for the 3-arg functions
V3a = ["abcdef", "", "x", 12345, None, [1, 2]]
V3n = [-1, 0, 1, 2, 3, 6, 7, 10, "2", 1.5, None, "x"]
w = W('funcs_arg3')
for f in ["substring", "leftPad", "rightPad"]:
    for s in V3a:
        for a in V3n:
            for b in V3n + ["0", "ab", "", " "]:
                w.add('modify-overwrite-beta', {"r": "=%s(@(1,s),@(1,a),@(1,b))" % f}, {"s": s, "a": a, "b": b})
for d in [-1, 0, 1, 2, 3, 10, 1.5, "2", None]:
    for a, b in [(1, 3), (2, 3), (10, 4), (1.005, 1), (2.675, 1), (1, 0), (0, 0), (-1, 3), (5, 2), (1e20, 3), ("7", "2"), (None, 1), (7, None), (2.5, 1), (0.125, 1), (-2.5, 1)]:
        w.add('modify-overwrite-beta', {"r": "=divideAndRound(@(1,d),@(1,a),@(1,b))"}, {"d": d, "a": a, "b": b})
for idx in [-1, 0, 1, 2, 3, "1", 1.0, 1.5, None, "x"]:
    for lst in [[5, 6, 7], [], [None, 1], "abc", None, {"a": 1}]:
        w.add('modify-overwrite-beta', {"r": "=elementAt(@(1,i),@(1,l))"}, {"i": idx, "l": lst})
        w.add('modify-overwrite-beta', {"r": "=elementAt(@(1,l),@(1,i))"}, {"i": idx, "l": lst})
w.save()
# literal args
LIT = ["=concat('a','b')", "=concat(a,b)", "=concat(a, b)", "=concat( a , b )", "=concat('a,b',c)", "=concat('e(,f,)g',x)", "=concat(abc,,pqr,)",
       "=concat()", "=concat", "=concat(@(1,s),'-',@(1,n))", "=concat(@(1,s),@(1,missing))", "=concat(@(1,missing))",
       "=join(',',@(1,l))", "=join(', ',@(1,l))", "=join('',@(1,l))", "=join(-,@(1,l))", "=join(',',@(1,s),@(1,n),@(1,l))", "=join(',')", "=join(,@(1,l))",
       "=split(',',@(1,csv))", "=split('\\\\.',@(1,dots))", "=split('.',@(1,dots))", "=split('|',@(1,pipes))", "=split('\\\\|',@(1,pipes))", "=split('[eE]',@(1,s))", "=split('\\\\s+',@(1,ws))", "=split(',',@(1,trailing))", "=split('',@(1,s))", "=split(',',@(1,n))", "=split(@(1,csv))",
       "=substring(@(1,s),0,2)", "=substring(@(1,s),2,1)", "=substring(@(1,s),-1,2)", "=substring(@(1,s),0,100)", "=substring(@(1,s),0,6)", "=substring(@(1,s),6,6)", "=substring(@(1,s),'1','3')", "=substring(@(1,s),1)", "=substring(@(1,s))", "=substring(@(1,n),0,2)", "=substring(@(1,s),1.0,3)",
       "=leftPad(@(1,s),10,'x')", "=leftPad(@(1,s),10,x)", "=leftPad(@(1,s),10,'xy')", "=leftPad(@(1,s),10,'')", "=leftPad(@(1,s),2,'x')", "=leftPad(@(1,s),-1,'x')", "=leftPad(@(1,n),5,'0')", "=leftPad(@(1,s),10, )", "=leftPad(@(1,s),10,' ')", "=leftPad(@(1,s),'10','x')", "=leftPad(@(1,s),10)",
       "=rightPad(@(1,s),10,'x')", "=rightPad(@(1,s),10,'xy')", "=rightPad(@(1,n),5,'0')", "=rightPad(@(1,s),0,'x')", "=rightPad(@(1,s),6,'x')",
       "=divideAndRound(2,@(1,n),3)", "=divideAndRound(0,@(1,n),3)", "=divideAndRound(2,10,3)", "=divideAndRound(-1,@(1,n),3)", "=divide(@(1,n),2)", "=divide(10,4)", "=divide(@(1,n),0)", "=divide(@(1,n))", "=divide(@(1,n),2,2)",
       "=intSum(1,2,3)", "=intSum(@(1,n),'5',x)", "=doubleSum(1,2.5)", "=longSum(@(1,n),1)", "=intSubtract(@(1,n),1)", "=intSubtract(1)", "=doubleSubtract(5,2.5)", "=longSubtract(5,2,1)",
       "=min(1,2,3)", "=min(@(1,n),-5)", "=max(1,'7',3)", "=max(a,b)", "=avg(1,2)", "=avg(@(1,n),2,'3')", "=abs(-5)", "=abs('-5')",
       "=toInteger('12')", "=toInteger(12.9)", "=toInteger(-12.9)", "=toLong('12.5')", "=toDouble('1e2')", "=toBoolean('TRUE')", "=toBoolean(' true')", "=toString(5)", "=toString(@(1,l))", "=toString(@(1,m))", "=toString(1.0)", "=toString(@(1,f))",
       "=toUpper(@(1,s))", "=toLower('ABC')", "=trim('  x  ')", "=size('abc')", "=size(@(1,l))", "=size(@(1,m))", "=size(@(1,n))", "=size()",
       "=firstElement(@(1,l))", "=lastElement(@(1,l))", "=elementAt(@(1,l),1)", "=elementAt(1,@(1,l))", "=elementAt(@(1,l),5)", "=elementAt(@(1,l),-1)", "=elementAt(@(1,l))",
       "=toList(@(1,s))", "=toList(@(1,l))", "=toList(@(1,m))", "=toList(@(1,missing))", "=sort(@(1,l))", "=sort(@(1,m))", "=squashNulls(@(1,l))", "=squashDuplicates(@(1,l))",
       "=isPresent(@(1,missing))", "=isPresent(@(1,n))", "=notNull(@(1,nul))", "=isNull(@(1,nul))", "=isNull(@(1,missing))", "=noop(@(1,n))",
       "=unknownFn(@(1,n))", "=concat(@(1,s)", "=concat@(1,s))", "concat(@(1,s))", "=", "==", "= concat(a)", "=concat (a)", "=toUpper(@(1,s))a", "=concat(@1,s)", "=concat(@(s))", "=concat(@s)", "=concat(@(0,s))", "=concat(@(2,s))", "=concat(@(10,s))", "=concat(@(1,m.k))", "=concat(@(1,l[0]))", "=concat(@(1,l.0))", "=concat(@(1,&))", "=concat(@(1,*))", "=concat(@(1,s),@(1,m))",
       "@(1,s)", "@(1,missing)", "@(1,l)", "@(1,m)", "@(1,l[1])", "@(1,m.k)", "@(0,s)", "@(2,s)", "@s", "@", "@(1,n)", "$", "&", "#lit", "^value", "^key", "plain text", 5, 5.5, True, None, [1, "=concat(a,b)"], {"x": "=concat(a,b)"}]
w = W('funcs_literal')
base = {"s": "abcdef", "n": 7, "f": 1.5, "l": [3, None, 1, "x"], "m": {"k": "v", "j": None}, "csv": "a,b,,c,", "dots": "a.b.c", "pipes": "a|b", "ws": " a  b ", "trailing": "a,b,,,", "nul": None}
for i, rhs in enumerate(LIT):
    for op in ['modify-overwrite-beta', 'modify-default-beta', 'modify-define-beta']:
        w.add(op, {"r": rhs}, base, id='%d-%s' % (i, op[7:]))
        if op == 'modify-overwrite-beta':
            w.add(op, {"s": rhs}, base, id='%d-self' % i)
w.save()
