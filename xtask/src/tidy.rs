//! `cargo xtask tidy`: repository hygiene that a compiler does not check.
//!
//! Every `.rs` file under `crates/`, `apps/`, `xtask/`, `tests/` and `benches/` starts with a `//!`
//! header (after optional inner attributes) saying what it is, and no test is switched off with an
//! ignore attribute or turned around with a should-panic attribute: a test asserts something that
//! could fail, and runs. Also a `#[test]`, so plain `cargo test` enforces it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::project_root;

/// The folders whose Rust files are checked, relative to the workspace root.
const ROOTS: &[&str] = &["crates", "apps", "xtask", "tests", "benches"];

/// `cargo xtask tidy`: prints one line per problem and fails if there is any.
pub(crate) fn run() -> Result<()> {
    let root = project_root();
    let problems = check_tree(&root)?;
    if problems.is_empty() {
        println!("tidy: ok");
        return Ok(());
    }
    for p in &problems {
        println!("tidy: {p}");
    }
    bail!("{} tidy problem(s)", problems.len())
}

/// The problems of every `.rs` file under [`ROOTS`], as `path: problem` lines.
fn check_tree(root: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for dir in ROOTS {
        collect_rust_files(&root.join(dir), &mut files)?;
    }
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        problems.extend(
            check_file(&text)
                .into_iter()
                .map(|p| format!("{shown}: {p}")),
        );
    }
    Ok(problems)
}

/// Recursively collects `.rs` files under `dir`, skipping build output and hidden folders.
fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect_rust_files(&path, files)?;
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// The problems of one Rust source file.
fn check_file(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !starts_with_doc_header(text) {
        problems.push("does not start with a `//!` header saying what it is".to_owned());
    }
    // Built by concatenation so that this file does not flag itself.
    let ignore = concat!("#[", "ignore");
    let should_panic = concat!("#[", "should_panic");
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let ignored = line.find(ignore).is_some_and(|at| {
            matches!(
                line[at + ignore.len()..].chars().next(),
                Some(']' | ' ' | '=')
            )
        });
        if ignored {
            problems.push(format!(
                "line {}: ignored test; make it run or delete it",
                n + 1
            ));
        }
        if line.contains(should_panic) {
            problems.push(format!(
                "line {}: should-panic test; return and assert an error value instead",
                n + 1
            ));
        }
    }
    problems
}

/// Whether the first line that is not blank or part of an inner attribute (`#![...]`, possibly over
/// several lines) starts with `//!`.
fn starts_with_doc_header(text: &str) -> bool {
    let mut open_brackets = 0usize;
    for line in text.lines() {
        let trimmed = line.trim();
        if open_brackets > 0 || trimmed.starts_with("#![") {
            open_brackets += trimmed.matches('[').count();
            open_brackets = open_brackets.saturating_sub(trimmed.matches(']').count());
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        return trimmed.starts_with("//!");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const IGNORE: &str = concat!("#[", "ignore]");
    const SHOULD_PANIC: &str = concat!("#[", "should_panic]");

    #[test]
    fn the_repository_is_tidy() {
        let problems = check_tree(&project_root()).expect("the tree is readable");
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn file_with_a_doc_header_is_tidy() {
        assert!(check_file("//! What this is.\n\nfn main() {}\n").is_empty());
    }

    #[test]
    fn doc_header_may_follow_inner_attributes() {
        let text = concat!(
            "#![cfg_attr(\n    docsrs,\n    feature(doc_cfg)\n)]\n",
            "#![forbid(unsafe_code)]\n\n//! Doc.\n",
        );
        assert!(check_file(text).is_empty(), "{:?}", check_file(text));
    }

    #[test]
    fn file_without_a_doc_header_is_reported() {
        assert_eq!(check_file("// a plain comment\nfn main() {}\n").len(), 1);
        assert_eq!(check_file("use std::fs;\n//! Too late.\n").len(), 1);
        assert_eq!(check_file("").len(), 1);
    }

    #[test]
    fn ignored_test_is_reported() {
        let text = format!("//! Doc.\n#[test]\n{IGNORE}\nfn slow() {{}}\n");
        assert_eq!(
            check_file(&text),
            ["line 3: ignored test; make it run or delete it"]
        );
        let with_reason = format!("//! Doc.\n{} = \"slow\"]\n", IGNORE.trim_end_matches(']'));
        assert_eq!(check_file(&with_reason).len(), 1);
    }

    #[test]
    fn should_panic_test_is_reported() {
        let text = format!("//! Doc.\n#[test]\n    {SHOULD_PANIC}\nfn boom() {{}}\n");
        assert_eq!(check_file(&text).len(), 1);
    }

    #[test]
    fn forbidden_attributes_in_comments_or_other_names_are_not_reported() {
        let text = format!("//! Doc.\n// {IGNORE} is forbidden\n#[ignored_by_nothing]\n");
        assert!(check_file(&text).is_empty(), "{:?}", check_file(&text));
    }
}
