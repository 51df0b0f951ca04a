//! Checks of promises the repository makes about itself: CI runs exactly the test command the
//! README gives, the CI script is strict bash, and the architecture map names every package.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The one command in the first fenced block after `marker` in `markdown`.
fn fenced_command_after(markdown: &str, marker: &str) -> Result<String, String> {
    let (_, after) = markdown
        .split_once(marker)
        .ok_or(format!("no `{marker}` marker"))?;
    let mut lines = after.lines().map(str::trim).skip_while(|l| l.is_empty());
    let fence = lines.next().unwrap_or_default();
    if !fence.starts_with("```") {
        return Err(format!(
            "`{marker}` is not followed by a fenced block but by `{fence}`"
        ));
    }
    let body: Vec<&str> = lines
        .take_while(|l| !l.starts_with("```"))
        .filter(|l| !l.is_empty())
        .collect();
    match body.as_slice() {
        [command] => Ok((*command).to_owned()),
        other => Err(format!(
            "the block after `{marker}` holds {} lines, not one",
            other.len()
        )),
    }
}

/// The last line of a shell script that is neither blank nor a comment.
fn last_command(script: &str) -> Option<&str> {
    script
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
}

#[test]
fn ci_script_ends_by_running_exactly_the_readme_test_command() {
    let command = fenced_command_after(&read("README.md"), "<!-- test-command -->")
        .unwrap_or_else(|e| panic!("README.md: {e}"));
    let script = read(".ci/run");
    let last = last_command(&script).expect(".ci/run runs something");
    assert!(
        last == command || last.strip_prefix("exec ") == Some(&command),
        ".ci/run must end by running the README's test command `{command}`, but ends with `{last}`"
    );
}

#[test]
fn readme_command_parser_rejects_a_block_of_several_commands() {
    let markdown = "<!-- test-command -->\n```sh\ncargo build\ncargo test\n```\n";
    assert!(fenced_command_after(markdown, "<!-- test-command -->").is_err());
    let prose = "<!-- test-command -->\nrun the tests\n";
    assert!(fenced_command_after(prose, "<!-- test-command -->").is_err());
}

#[test]
fn ci_script_is_strict_bash() {
    let script = read(".ci/run");
    assert!(
        script.starts_with("#!/usr/bin/env bash\n"),
        ".ci/run starts with a bash shebang"
    );
    assert!(
        script.lines().any(|l| l.trim() == "set -euo pipefail"),
        ".ci/run stops at the first failing command (set -euo pipefail)"
    );
}

#[cfg(unix)]
#[test]
fn ci_script_is_executable() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(root().join(".ci/run"))
        .expect(".ci/run exists")
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, ".ci/run is executable (mode {mode:o})");
}

/// The package names of the workspace: every `Cargo.toml` one level under `crates/` and `apps/`,
/// and those of `tests/`, `benches/` and `xtask/` (the members of the root manifest).
fn workspace_package_names() -> Vec<String> {
    let mut manifests = vec![
        root().join("tests"),
        root().join("benches"),
        root().join("xtask"),
    ];
    for dir in ["crates", "apps"] {
        let Ok(entries) = fs::read_dir(root().join(dir)) else {
            continue;
        };
        manifests.extend(entries.map(|e| e.expect("readable directory entry").path()));
    }
    manifests
        .into_iter()
        .map(|dir| dir.join("Cargo.toml"))
        .filter(|manifest| manifest.is_file())
        .map(|manifest| {
            let text = fs::read_to_string(&manifest).expect("readable manifest");
            package_name(&text).unwrap_or_else(|| panic!("{} has no name", manifest.display()))
        })
        .collect()
}

/// The `name` of the `[package]` table of a manifest.
fn package_name(manifest: &str) -> Option<String> {
    let (_, package) = manifest.split_once("[package]")?;
    package
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split_once('='))
        .find(|(key, _)| key.trim() == "name")
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
}

#[test]
fn architecture_code_map_has_a_section_for_every_package() {
    let architecture = read("docs/ARCHITECTURE.md");
    let names = workspace_package_names();
    assert!(
        names.iter().any(|n| n == "godel-queue"),
        "found the packages: {names:?}"
    );
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| {
            !architecture
                .lines()
                .any(|l| l.starts_with("### ") && l.contains(&format!("`{name}`")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md has no `### ` section for {missing:?}"
    );
}
