//! Golden tests for the diagnostics: every directory under tests/diagnostics/ is one rule set;
//! its rendered diagnostics (text, then the `lint --format json` document) must equal
//! `<dir>.expected`. Run with `UPDATE_GOLDEN=1` to rewrite the expected files after a deliberate
//! change, and review the diff.
use std::path::Path;

use switchboard_core::lang::{self, CompileInput, SourceFile};

fn env(name: &str) -> Option<String> {
    match name {
        "SET_VAR" => Some("value".into()),
        "EMPTY_VAR" => Some(String::new()),
        _ => None,
    }
}

fn render(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("case dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by(|a, b| lang::compare_rule_paths(a, b));
    let case = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let files: Vec<SourceFile> = names
        .iter()
        .map(|n| SourceFile {
            path: format!("{case}/{n}"),
            text: std::fs::read_to_string(dir.join(n)).expect("read"),
        })
        .collect();
    let transforms = vec![
        SourceFile { path: "member_to_crm.json".into(), text: include_str!("../../../transforms/member_to_crm.json").into() },
        SourceFile { path: "broken.json".into(), text: "{ nope".into() },
        SourceFile { path: "bad_spec.json".into(), text: r#"[{"operation": "teleport", "spec": {}}]"#.into() },
    ];
    let compiled = lang::compile(&CompileInput { files: &files, transforms: &transforms, transforms_dir: "transforms", env: Some(&env) });
    let mut out = lang::render_text(&files, &compiled.diagnostics);
    out.push_str("--- json\n");
    out.push_str(&serde_json::to_string_pretty(&lang::render_json(&files, &compiled.diagnostics)).expect("json"));
    out.push('\n');
    out.push_str(&format!("--- loads: {}\n", compiled.rule_set.is_some()));
    out
}

#[test]
fn diagnostics_match_their_golden_files() {
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/diagnostics");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut dirs: Vec<_> = std::fs::read_dir(&root).expect("tests/diagnostics").map(|e| e.expect("entry").path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    let mut failures = Vec::new();
    for dir in dirs {
        let actual = render(&dir);
        let expected_path = dir.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &actual).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!("{}:\n--- expected\n{expected}\n--- actual\n{actual}", dir.display()));
        }
    }
    assert!(failures.is_empty(), "golden mismatches (UPDATE_GOLDEN=1 to accept):\n{}", failures.join("\n"));
}
