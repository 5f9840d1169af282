//! Loading a rule set from disk: reads the rules and transforms directories and hands their
//! text to the pure compiler in switchboard-core. `serve`, `lint`, `explain`, `match` and `test`
//! all load through here, so they agree on which files form a set and in which order.
use std::path::{Path, PathBuf};

use switchboard_core::lang::{self, CompileInput, Diagnostic, RuleSet, SourceFile};

/// How to load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Resolve `${VAR}` from the process environment; an unset variable without a fallback is
    /// then an error (`serve`, and `lint` without `--no-env`). `match`, `explain`, `test` leave
    /// variables unresolved.
    pub resolve_env: bool,
}

/// Why a rule set did not load: the diagnostics (empty for an I/O error), and the text to show.
#[derive(Debug)]
pub struct LoadFailure {
    pub diagnostics: Vec<Diagnostic>,
    /// Rendered like rustc (or the I/O error): ready for stderr or a reload log line.
    pub rendered: String,
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.rendered.trim_end())
    }
}

impl std::error::Error for LoadFailure {}

/// The files and diagnostics of one check, whether or not it produced a rule set (for `lint`).
pub struct Checked {
    pub files: Vec<SourceFile>,
    pub compiled: lang::Compiled,
}

/// Loads the rule set of `rules_dir` (every `*.rules`, `*.yaml`, `*.yml` below it except
/// `*.test.yaml`), with the transforms of `transforms_dir`. Warnings do not stop a load.
pub fn load(rules_dir: &Path, transforms_dir: &Path, options: &LoadOptions) -> Result<RuleSet, LoadFailure> {
    let checked = check(&[rules_dir.to_path_buf()], transforms_dir, options)
        .map_err(|e| LoadFailure { diagnostics: Vec::new(), rendered: format!("{e:#}") })?;
    let Checked { files, compiled } = checked;
    match compiled.rule_set {
        Some(set) => Ok(set),
        None => {
            let errors: Vec<Diagnostic> = compiled
                .diagnostics
                .into_iter()
                .filter(|d| d.severity() == lang::Severity::Error)
                .collect();
            let rendered = lang::render_text(&files, &errors);
            Err(LoadFailure { diagnostics: errors, rendered })
        }
    }
}

/// Reads and compiles the rule files of `paths` (directories or single files) as ONE set.
/// An I/O error (a missing directory, an unreadable file) is an `Err`.
pub fn check(paths: &[PathBuf], transforms_dir: &Path, options: &LoadOptions) -> anyhow::Result<Checked> {
    let mut files = Vec::new();
    // A file named twice (`lint rules rules`, `lint rules rules/a.rules`, a link to it) is read
    // once: twice, each of its rules would be a duplicate of itself (E004).
    let mut seen = std::collections::HashSet::new();
    let mut first_time = |p: &Path| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            collect(path, path, &mut found)?;
            found.sort_by(|(a, _), (b, _)| lang::compare_rule_paths(a, b));
            for (rel, full) in found {
                if lang::is_rule_file(&rel) && first_time(&full) {
                    files.push(read(&full)?);
                }
            }
        } else if path.is_file() {
            if first_time(path) {
                files.push(read(path)?);
            }
        } else {
            anyhow::bail!("{}: no such file or directory", path.display());
        }
    }
    let transforms = read_transforms(transforms_dir)?;
    let env_lookup = |name: &str| std::env::var(name).ok();
    let transforms_dir_text = transforms_dir.display().to_string();
    let input = CompileInput {
        files: &files,
        transforms: &transforms,
        transforms_dir: &transforms_dir_text,
        env: if options.resolve_env { Some(&env_lookup) } else { None },
    };
    let compiled = lang::compile(&input);
    Ok(Checked { files, compiled })
}

/// Every `*.test.yaml` / `*.test.yml` below `dir`, in file order (for `switchboard test`).
pub fn test_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    collect(dir, dir, &mut found)?;
    found.sort_by(|(a, _), (b, _)| lang::compare_rule_paths(a, b));
    Ok(found.into_iter().filter(|(rel, _)| lang::is_test_file(rel)).map(|(_, full)| full).collect())
}

fn read(path: &Path) -> anyhow::Result<SourceFile> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(SourceFile { path: path.display().to_string(), text })
}

/// The `*.json` files of the transforms directory (none when it does not exist: a reference to
/// a transform is then reported as missing by the checker).
fn read_transforms(dir: &Path) -> anyhow::Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
    for entry in entries {
        let entry = entry.map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Hidden names are skipped, as in the rules directory (editor files, ConfigMap internals).
        if name.ends_with(".json") && !name.starts_with('.') && entry.path().is_file() {
            let text = std::fs::read_to_string(entry.path()).map_err(|e| anyhow::anyhow!("{}: {e}", entry.path().display()))?;
            out.push(SourceFile { path: name, text });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Files below `dir`, as (path relative to `root` with `/` separators, full path).
///
/// Names starting with `.` are skipped, files and directories alike: editors' swap and backup
/// files (`.a.rules.swp`), version control (`.git`), and the `..data` / `..2026_12_04_…`
/// directories of a Kubernetes ConfigMap volume, whose files are also linked from the top
/// level (following both would define every rule twice). Symbolic links are followed; a
/// directory reached twice (a link loop, or two links to one place) is read once.
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
    let mut visited = std::collections::HashSet::new();
    collect_in(root, dir, out, &mut visited)
}

fn collect_in(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>, visited: &mut std::collections::HashSet<PathBuf>) -> anyhow::Result<()> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    if !visited.insert(canonical) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect_in(root, &path, out, visited)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push((rel.join("/"), path));
        }
    }
    Ok(())
}
