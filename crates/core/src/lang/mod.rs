//! The routing language: rule files (DSL or YAML form) -> a checked, compiled [`RuleSet`].
//!
//! Stages, each in its own module: [`parse`] (DSL, pest) and [`yaml`] (the seed's YAML form) both
//! produce the [`ast`]; `check` reports every problem of the whole set as [`Diagnostic`]s (data,
//! rendered by [`diag`]); `compile` builds the immutable [`RuleSet`] that `eval` runs. Pure: file
//! contents, transform texts and the environment are passed in.
use std::cmp::Ordering;

pub mod ast;
mod check;
mod compile;
pub mod diag;
pub mod eventpattern;
mod glob;
mod eval;
mod ir;
mod matcher;
pub mod parse;
pub mod print;
pub mod ruleset;
pub mod ruletest;
mod template;
pub mod yaml;

pub use compile::transform_file_name;
pub use diag::{render_json, render_text, Code, Diagnostic, Severity, SourceFile};
pub use ir::{Secret, Transform, WebhookMethod, WebhookTarget};
pub use ruleset::{Delivery, DeliveryKind, Evaluation, Explanation, Payload, RuleExplanation, RuleSet};
pub use template::Env;

/// Everything the compiler reads. The caller (the binary's loader) reads the files.
pub struct CompileInput<'a> {
    /// Rule files (`*.rules`, `*.yaml`, `*.yml`) in file order (see [`compare_rule_paths`]).
    pub files: &'a [SourceFile],
    /// Every file of the transforms directory, `path` being the file name (`member_to_crm.json`).
    pub transforms: &'a [SourceFile],
    /// The transforms directory as the user named it, for messages.
    pub transforms_dir: &'a str,
    /// `Some`: resolve `${VAR}` and report unset ones (serve, lint); `None`: leave them.
    pub env: Env<'a>,
}

/// The compiler's answer: the rule set when there was no error, and every diagnostic.
pub struct Compiled {
    pub rule_set: Option<RuleSet>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity() == Severity::Error)
    }
}

/// Whether a path (relative to a rules directory) is a YAML-form rule file.
pub fn is_yaml_rule_file(path: &str) -> bool {
    (path.ends_with(".yaml") || path.ends_with(".yml")) && !is_test_file(path)
}

/// Whether a path is a rule test file (`*.test.yaml`, `*.test.yml`).
pub fn is_test_file(path: &str) -> bool {
    path.ends_with(".test.yaml") || path.ends_with(".test.yml")
}

/// Whether a path is a rule file of either form.
pub fn is_rule_file(path: &str) -> bool {
    path.ends_with(".rules") || is_yaml_rule_file(path)
}

/// File order: paths relative to the rules directory, compared segment by segment as bytes
/// (`a/x.rules` < `a-b.rules`, `10-x` < `9-y`).
pub fn compare_rule_paths(a: &str, b: &str) -> Ordering {
    a.split('/').map(str::as_bytes).cmp(b.split('/').map(str::as_bytes))
}

/// Parses one rule file by its extension (YAML form for `.yaml`/`.yml`, else the DSL).
pub fn parse_source(file: usize, source: &SourceFile) -> Result<ast::File, Vec<Diagnostic>> {
    if is_yaml_rule_file(&source.path) {
        yaml::parse_file(file, &source.text)
    } else {
        parse::parse_file(file, &source.text)
    }
}

/// Parses, checks and compiles a rule set. Diagnostics are sorted by file and position.
pub fn compile(input: &CompileInput) -> Compiled {
    let mut diagnostics = Vec::new();
    let mut parsed = Vec::new();
    for (i, f) in input.files.iter().enumerate() {
        // A YAML file with a structural error in one rule still has its other rules checked.
        if is_yaml_rule_file(&f.path) {
            let (ast, ds) = yaml::parse_file_partial(i, &f.text);
            parsed.extend(ast);
            diagnostics.extend(ds);
            continue;
        }
        match parse_source(i, f) {
            Ok(ast) => parsed.push(ast),
            Err(ds) => diagnostics.extend(ds),
        }
    }
    let complete = diagnostics.is_empty();
    let check_input = check::Input {
        files: input.files,
        transforms: input.transforms,
        transforms_dir: input.transforms_dir,
        env: input.env,
        complete,
    };
    let checked = check::check(&check_input, &parsed);
    diagnostics.extend(checked.diagnostics);
    diagnostics.sort_by_key(|d| (d.span.file, d.span.start));
    let has_errors = diagnostics.iter().any(|d| d.severity() == Severity::Error);
    let rule_set = if has_errors {
        None
    } else {
        let build = compile::Build {
            lets: &checked.lets,
            rules: checked.rules,
            default: checked.default,
            transforms: &checked.transforms,
            env: input.env,
            version: version(input),
        };
        match compile::build(build) {
            Ok(set) => Some(set),
            Err(d) => {
                diagnostics.push(d);
                None
            }
        }
    };
    Compiled { rule_set, diagnostics }
}

/// Hex SHA-256 over every rule and transform file (path and text, each length-prefixed).
fn version(input: &CompileInput) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (tag, files) in [("rules", input.files), ("transforms", input.transforms)] {
        h.update(tag.as_bytes());
        for f in files {
            for part in [f.path.as_bytes(), f.text.as_bytes()] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part);
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
