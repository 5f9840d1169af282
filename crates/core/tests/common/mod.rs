//! Shared helpers of the core's language tests.
#![allow(dead_code)]

use switchboard_core::lang::{self, CompileInput, Compiled, RuleSet, SourceFile};

pub const MEMBER_TO_CRM: &str = r#"[{"operation":"shift","spec":{"subject":{"id":"crmRecord.memberId"}}}]"#;

/// Compiles files given as (path, text), with one transform `member_to_crm.json`.
pub fn compile(files: &[(&str, &str)]) -> (Vec<SourceFile>, Compiled) {
    compile_env(files, None)
}

pub fn compile_env(files: &[(&str, &str)], env: lang::Env) -> (Vec<SourceFile>, Compiled) {
    let files: Vec<SourceFile> =
        files.iter().map(|(p, t)| SourceFile { path: p.to_string(), text: t.to_string() }).collect();
    let transforms = vec![SourceFile { path: "member_to_crm.json".into(), text: MEMBER_TO_CRM.into() }];
    let compiled = lang::compile(&CompileInput { files: &files, transforms: &transforms, transforms_dir: "transforms", env });
    (files, compiled)
}

/// Compiles one DSL file that must have no errors.
pub fn set(text: &str) -> RuleSet {
    let (files, compiled) = compile(&[("test.rules", text)]);
    match compiled.rule_set {
        Some(s) => s,
        None => panic!("did not compile:\n{}", lang::render_text(&files, &compiled.diagnostics)),
    }
}

/// Compiles one YAML-form file that must have no errors.
pub fn set_yaml(text: &str) -> RuleSet {
    let (files, compiled) = compile(&[("test.yaml", text)]);
    match compiled.rule_set {
        Some(s) => s,
        None => panic!("did not compile:\n{}", lang::render_text(&files, &compiled.diagnostics)),
    }
}

/// Whether `cond` holds for `event` (a rule `r` with that condition fires).
pub fn holds(cond: &str, event: serde_json::Value) -> bool {
    let s = set(&format!("rule r {{\n  when {cond}\n  to topic \"t\"\n}}\n"));
    s.evaluate(&event).matched == ["r"]
}

/// The codes of every diagnostic of one DSL file.
pub fn codes(text: &str) -> Vec<String> {
    let (_, compiled) = compile(&[("test.rules", text)]);
    compiled.diagnostics.iter().map(|d| d.code.as_str()).collect()
}
