//! The benchmarked specs, shared by the criterion bench and the `jolt_throughput` example (which
//! `bench/peers/jolt-java/run.sh` compares with the Java reference on the same files): the
//! reference's chainr/integration cases, and transforms/member_to_crm.json on a seed member event.
use std::path::{Path, PathBuf};

use serde_json::Value;
use switchboard_jolt::{parse_spec_text, Chain};

pub struct Case {
    pub name: String,
    pub chain: Chain,
    pub input: Value,
    /// What the output must be (checked once before timing, so a fast wrong answer fails).
    pub expected: Option<Value>,
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_spec_text(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn shared_dir() -> PathBuf {
    std::env::var_os("SWITCHBOARD_SHARED")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../../shared"))
}

pub fn load() -> Vec<Case> {
    let manifest_dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    let integration = shared_dir().join("conformance/jolt/chainr/integration");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&integration)
        .unwrap_or_else(|e| panic!("{}: {e}", integration.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases: Vec<Case> = files
        .iter()
        .map(|path| {
            let doc = read(path);
            let name = format!("integration/{}", path.file_stem().unwrap_or_default().to_string_lossy());
            let chain = Chain::from_json(&doc["spec"]).unwrap_or_else(|e| panic!("{name}: {e}"));
            Case { name, chain, input: doc["input"].clone(), expected: Some(doc["expected"].clone()) }
        })
        .collect();
    let spec = read(&manifest_dir.join("../../transforms/member_to_crm.json"));
    cases.push(Case {
        name: "member_to_crm".into(),
        chain: Chain::from_json(&spec).unwrap_or_else(|e| panic!("member_to_crm: {e}")),
        input: read(&manifest_dir.join("benches/member_event.json")),
        expected: None,
    });
    cases
}
