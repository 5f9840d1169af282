//! Property: DSL text -> AST -> DSL text round-trips. Random ASTs are printed, parsed back and
//! printed again; the two texts must be equal (so the parser keeps everything the printer
//! writes, quoting and escapes included).
use proptest::prelude::*;
use serde_json::Number;
use switchboard_core::lang::ast::*;
use switchboard_core::lang::{parse, print};

fn sp<T>(v: T) -> Spanned<T> {
    Spanned::new(v, Span::default())
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        "[a-z\"\\\\é /#*?.-]{0,6}".prop_map(Literal::String),
        any::<i64>().prop_map(|n| Literal::Number(n.into())),
        prop::sample::select(vec![0.5f64, -2.25, 1e300, 3.0e-5])
            .prop_map(|f| Literal::Number(Number::from_f64(f).unwrap_or_else(|| 0.into()))),
        any::<bool>().prop_map(Literal::Bool),
        Just(Literal::Null),
    ]
}

fn number() -> impl Strategy<Value = Literal> {
    any::<i32>().prop_map(|n| Literal::Number(i64::from(n).into()))
}

fn path() -> impl Strategy<Value = Path> {
    let field = prop::sample::select(vec!["eventType", "data", "in", "a-b", "first name", "x", "_y", "not", "é"])
        .prop_map(|s| Segment::Field(s.to_string()));
    let seg = prop_oneof![3 => field.clone(), 1 => (0usize..4).prop_map(Segment::Index)];
    (field, prop::collection::vec(seg, 0..3)).prop_map(|(first, rest)| {
        let mut segments = vec![first];
        segments.extend(rest);
        Path { segments, span: Span::default() }
    })
}

fn list() -> impl Strategy<Value = Vec<Spanned<Literal>>> {
    prop::collection::vec(literal().prop_map(sp), 0..3)
}

fn text() -> impl Strategy<Value = Spanned<String>> {
    "[a-z0-9.*?/ \"\\\\]{0,6}".prop_map(sp)
}

fn operator() -> impl Strategy<Value = Operator> {
    let ord = prop::sample::select(vec![OrdOp::Lt, OrdOp::Le, OrdOp::Gt, OrdOp::Ge]);
    let regex = prop::sample::select(vec!["a.*", r"payment\..*", "a/b", r"x\\", "[0-9]+", r"\d+\/"]);
    prop_oneof![
        literal().prop_map(|l| Operator::Eq(sp(l))),
        literal().prop_map(|l| Operator::Ne(sp(l))),
        (ord, number()).prop_map(|(o, l)| Operator::Ord(o, sp(l))),
        (number(), number()).prop_map(|(a, b)| Operator::Between(sp(a), sp(b))),
        list().prop_map(Operator::In),
        list().prop_map(Operator::NotIn),
        (regex, prop::sample::select(vec!["", "i"]))
            .prop_map(|(p, f)| Operator::Matches { pattern: sp(p.to_string()), flags: f.to_string() }),
        text().prop_map(Operator::Like),
        text().prop_map(Operator::StartsWith),
        text().prop_map(Operator::EndsWith),
        text().prop_map(Operator::EqualsIgnoreCase),
        literal().prop_map(|l| Operator::Contains(sp(l))),
        list().prop_map(Operator::ContainsAny),
        list().prop_map(Operator::ContainsAll),
        text().prop_map(Operator::InCidr),
        Just(Operator::Exists),
    ]
}

fn cond(kind: ConditionKind) -> Condition {
    Condition { kind, span: Span::default() }
}

fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        4 => (path(), operator()).prop_map(|(path, op)| cond(ConditionKind::Predicate(Predicate { path, op }))),
        1 => prop::sample::select(vec!["high_value", "lv_2"]).prop_map(|n| cond(ConditionKind::LetRef(n.to_string()))),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| cond(ConditionKind::Or(v))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| cond(ConditionKind::And(v))),
            inner.clone().prop_map(|c| cond(ConditionKind::Not(Box::new(c)))),
            inner.clone().prop_map(|c| cond(ConditionKind::Group(Box::new(c)))),
            (any::<bool>(), path(), inner)
                .prop_map(|(all, path, c)| cond(ConditionKind::Quantifier { all, path, condition: Box::new(c) })),
        ]
    })
}

fn duration() -> impl Strategy<Value = Spanned<Duration>> {
    (0u64..5000, prop::sample::select(vec!["ms", "s", "m", "h"]))
        .prop_map(|(n, u)| sp(Duration::parse(&format!("{n}{u}")).unwrap_or(Duration { amount: 1, unit: DurationUnit::Seconds })))
}

fn action() -> impl Strategy<Value = Action> {
    let header = (text(), text()).prop_map(|(name, value)| Header { name, value }).boxed();
    let topic = (text(), prop::collection::vec(path(), 0..2), prop::collection::vec(text(), 0..2), prop::collection::vec(header.clone(), 0..2))
        .prop_map(|(name, keys, transforms, headers)| ActionKind::Topic { name, keys, transforms, headers });
    let option = prop_oneof![
        prop::sample::select(vec![HttpMethod::Post, HttpMethod::Put, HttpMethod::Patch]).prop_map(|m| WebhookOption::Method(sp(m))),
        header.prop_map(WebhookOption::Header),
        duration().prop_map(WebhookOption::Timeout),
        (0u64..20, prop::option::of((duration(), duration())))
            .prop_map(|(n, backoff)| WebhookOption::Retry { attempts: sp(n), backoff }),
        text().prop_map(WebhookOption::Sign),
    ];
    let webhook = (text(), prop::option::of(text()), prop::option::of(prop::collection::vec(option, 0..4)))
        .prop_map(|(url, transform, options)| ActionKind::Webhook { url, transform, options });
    prop_oneof![topic, webhook, Just(ActionKind::Store), Just(ActionKind::Drop), Just(ActionKind::Stop)]
        .prop_map(|kind| Action { kind, span: Span::default() })
}

fn file() -> impl Strategy<Value = File> {
    let rule = (
        prop::sample::select(vec!["r1", "payment_events.to-finance", "_x"]),
        prop::option::of(text()),
        prop::option::of(any::<i64>()),
        condition(),
        prop::collection::vec(action(), 0..3),
    )
        .prop_map(|(name, description, priority, condition, actions)| {
            Item::Rule(Rule {
                name: sp(name.to_string()),
                descriptions: description.into_iter().collect(),
                priorities: priority.into_iter().map(sp).collect(),
                condition,
                actions,
                span: Span::default(),
            })
        });
    let let_def = condition().prop_map(|c| Item::Let(LetDef { name: sp("high_value".into()), condition: c, span: Span::default() }));
    let default = prop::collection::vec(action(), 0..2).prop_map(|actions| Item::Default(DefaultBlock { actions, span: Span::default() }));
    prop::collection::vec(prop_oneof![3 => rule, 1 => let_def, 1 => default], 0..4).prop_map(|items| File { items })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dsl_text_ast_text_round_trips(f in file()) {
        let text = print::file(&f);
        let parsed = parse::parse_file(0, &text);
        prop_assert!(parsed.is_ok(), "did not parse:\n{text}\n{parsed:?}");
        let again = print::file(&parsed.unwrap_or_default());
        prop_assert_eq!(text, again);
    }
}

#[test]
fn the_spec_example_round_trips() {
    let text = include_str!("lang/spec_example.rules");
    let first = print::file(&parse::parse_file(0, text).expect("the spec example parses"));
    let second = print::file(&parse::parse_file(0, &first).expect("its printed form parses"));
    assert_eq!(first, second);
}
