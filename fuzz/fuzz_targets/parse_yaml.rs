//! Fuzzes the YAML form: any input must give an AST or diagnostics, never a panic, and the
//! diagnostics must render (their spans map character positions back to byte offsets).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::lang::{self, CompileInput, SourceFile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let files = [SourceFile { path: "fuzz.yaml".into(), text: text.into() }];
    let compiled = lang::compile(&CompileInput { files: &files, transforms: &[], transforms_dir: "transforms", env: None });
    let _ = lang::render_text(&files, &compiled.diagnostics);
    let _ = lang::render_json(&files, &compiled.diagnostics);
});
