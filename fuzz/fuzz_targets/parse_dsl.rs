//! Fuzzes the DSL parser and the whole compile pipeline behind it: any input must give an AST
//! or diagnostics (never a panic), diagnostics must render, and a parsed file must print to text
//! that parses again and prints the same (the round-trip property on arbitrary inputs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::lang::{self, parse, print, CompileInput, SourceFile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse::parse_file(0, text) {
        Ok(ast) => {
            let printed = print::file(&ast);
            let again = parse::parse_file(0, &printed).expect("printed DSL parses");
            assert_eq!(printed, print::file(&again), "round trip");
        }
        Err(diagnostics) => {
            let files = [SourceFile { path: "fuzz.rules".into(), text: text.into() }];
            let _ = lang::render_text(&files, &diagnostics);
        }
    }
    let files = [SourceFile { path: "fuzz.rules".into(), text: text.into() }];
    let compiled = lang::compile(&CompileInput { files: &files, transforms: &[], transforms_dir: "transforms", env: None });
    let _ = lang::render_text(&files, &compiled.diagnostics);
    if let Some(set) = compiled.rule_set {
        let event = serde_json::json!({"eventType": "a.b", "data": {"amount": 5, "items": [{"sku": "x"}]}});
        let _ = set.explain(&event);
    }
});
