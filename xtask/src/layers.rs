//! `cargo xtask layers`: the crate layering rules of DESIGN §2, checked against `cargo metadata`.
//!
//! [`LAYERS`] is the one table saying what every workspace package is; [`check`] is a pure function
//! from a small model of the workspace ([`Package`], [`Dependency`]) to the rules it breaks, so the
//! rules are unit-tested on synthetic workspaces below, and the real workspace is checked by a
//! `#[test]` too, so plain `cargo test` catches a violation.
//!
//! Third-party crates are fenced a second way by `deny.toml` (`[bans]` with `wrappers`), which sees
//! the whole resolved graph; this check sees each package's declared dependencies and features.

use std::collections::BTreeSet;
use std::fmt;
use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::cargo;

/// What a workspace package is, which decides what it may depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Domain logic without I/O or an async runtime; may use only pure crates of a lower layer.
    /// Layer 0 (`godel-queue`) is standalone: it depends on no Godel crate at all.
    Pure(u8),
    /// `godel-engine`: the use cases; pure crates plus tokio (no net/fs/process), tracing, metrics.
    Application,
    /// A crate that carries one technology (a database, a protocol) behind the ports.
    Adapter,
    /// `godel`: the library others embed; may depend on everything in `crates/`.
    Facade,
    /// `godel-test-support`: fixtures; only ever a dev-dependency.
    TestSupport,
    /// A binary in `apps/`: depends on `godel` only, among Godel crates.
    App,
    /// `godel-e2e`: black-box tests of the built binaries.
    EndToEnd,
    /// `godel-benches`: benchmarks and the load programs.
    Benches,
    /// `xtask`: repository automation.
    Tooling,
}

/// Every workspace package and its [`Kind`]: the single place the layering of DESIGN §2 is written.
/// Planned crates are listed before they exist, so adding one cannot forget its layer.
const LAYERS: &[(&str, Kind)] = &[
    ("godel-queue", Kind::Pure(0)),
    ("godel-types", Kind::Pure(1)),
    ("godel-lifecycle", Kind::Pure(2)),
    ("godel-scheduling", Kind::Pure(2)),
    ("godel-federation", Kind::Pure(3)),
    ("godel-engine", Kind::Application),
    ("godel-sqlite", Kind::Adapter),
    ("godel-postgres", Kind::Adapter),
    ("godel-redis", Kind::Adapter),
    ("godel-openclaw", Kind::Adapter),
    ("godel-openclaw-sim", Kind::Adapter),
    ("godel-http", Kind::Adapter),
    ("godel", Kind::Facade),
    ("godel-test-support", Kind::TestSupport),
    ("godel-server", Kind::App),
    ("godel-cli", Kind::App),
    ("godel-e2e", Kind::EndToEnd),
    ("godel-benches", Kind::Benches),
    ("xtask", Kind::Tooling),
];

/// Third-party crates that do I/O or choose a technology: forbidden to pure crates and the engine.
const IO_CRATES: &[&str] = &[
    "sqlx",
    "redis",
    "deadpool-redis",
    "deadpool",
    "axum",
    "hyper",
    "tower",
    "tower-http",
    "tungstenite",
    "tokio-tungstenite",
    "reqwest",
    "config",
    "metrics-exporter-prometheus",
    "clap",
];

/// tokio features that do I/O or spawn processes: forbidden to the engine (`full` implies them).
const TOKIO_IO_FEATURES: &[&str] = &["net", "fs", "process", "full"];

/// How a dependency is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[build-dependencies]`; checked like a normal dependency.
    Build,
    /// `[dev-dependencies]`: tests, benches and examples only.
    Dev,
}

/// One declared dependency of a workspace package.
#[derive(Debug, Clone)]
pub(crate) struct Dependency {
    /// The depended-on package's name (not a rename).
    pub(crate) name: String,
    pub(crate) kind: DepKind,
    /// The features this declaration enables.
    pub(crate) features: Vec<String>,
    /// Whether only a feature of the depending crate turns it on (`optional = true`).
    pub(crate) optional: bool,
}

/// A workspace package, as far as the layering rules care.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) dependencies: Vec<Dependency>,
}

/// One broken rule: which crate, which dependency (if the rule is about one), and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) krate: String,
    pub(crate) dependency: Option<String>,
    pub(crate) rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dependency {
            Some(dep) => write!(f, "{} -> {}: {}", self.krate, dep, self.rule),
            None => write!(f, "{}: {}", self.krate, self.rule),
        }
    }
}

/// `cargo xtask layers`: reads the workspace, prints one line per violation, fails if there is any.
pub(crate) fn run() -> Result<()> {
    let packages = workspace_packages()?;
    let violations = check(&packages);
    if violations.is_empty() {
        println!(
            "layers: {} workspace packages follow the layering rules",
            packages.len()
        );
        return Ok(());
    }
    for v in &violations {
        println!("layers: {v}");
    }
    bail!(
        "{} layering violation(s); see DESIGN §2 and xtask/src/layers.rs",
        violations.len()
    )
}

/// The rules of DESIGN §2 applied to `packages` (the workspace members); empty when all hold.
pub(crate) fn check(packages: &[Package]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for package in packages {
        let Some(kind) = kind_of(&package.name) else {
            violations.push(Violation {
                krate: package.name.clone(),
                dependency: None,
                rule: "unknown crate, add it to the layer table in xtask/src/layers.rs".into(),
            });
            continue;
        };
        for dep in &package.dependencies {
            if dep.name == package.name {
                continue; // a crate's dev-dependency on itself (to turn on a test feature)
            }
            if let Some(rule) = broken_rule(kind, dep) {
                violations.push(Violation {
                    krate: package.name.clone(),
                    dependency: Some(dep.name.clone()),
                    rule,
                });
            }
        }
    }
    violations
}

/// The rule a package of `kind` breaks by declaring `dep`, if any.
fn broken_rule(kind: Kind, dep: &Dependency) -> Option<String> {
    let godel_dep = is_godel(&dep.name).then(|| kind_of(&dep.name));
    if let Some(None) = godel_dep {
        return Some(
            "unknown godel crate, add it to the layer table in xtask/src/layers.rs".into(),
        );
    }
    if dep.kind == DepKind::Dev {
        return None; // dev-dependencies build tests only; layering is about what ships
    }
    let dep_kind = godel_dep.flatten();
    if dep_kind == Some(Kind::TestSupport) {
        // An adapter's fixtures (feature `test-util`) may use it; nothing that ships by default.
        return (!dep.optional).then(|| {
            "godel-test-support may be used only as a dev-dependency or an optional one (behind a \
             test feature)"
                .into()
        });
    }
    let io = IO_CRATES.contains(&dep.name.as_str());
    match kind {
        Kind::Pure(layer) => match dep_kind {
            Some(_) if layer == 0 => {
                Some("godel-queue is standalone: it may depend on no other godel crate".into())
            }
            Some(Kind::Pure(lower)) if lower < layer => None,
            Some(_) => Some(format!(
                "a pure crate (layer {layer}) may depend only on pure godel crates of a lower layer"
            )),
            None if io => Some("a pure crate may not depend on an I/O technology".into()),
            None if dep.name == "tokio" => {
                Some("a pure crate may use tokio only as a dev-dependency".into())
            }
            None => None,
        },
        Kind::Application => match dep_kind {
            Some(Kind::Pure(_)) => None,
            Some(_) => Some("godel-engine may depend only on pure godel crates".into()),
            None if io => Some("godel-engine may not depend on an I/O technology".into()),
            None if dep.name == "tokio" => {
                let io_features: Vec<&str> = dep
                    .features
                    .iter()
                    .map(String::as_str)
                    .filter(|f| TOKIO_IO_FEATURES.contains(f))
                    .collect();
                (!io_features.is_empty()).then(|| {
                    format!(
                        "godel-engine may use tokio only without net/fs/process (enables {})",
                        io_features.join(", ")
                    )
                })
            }
            None => None,
        },
        Kind::Adapter => match dep_kind {
            Some(Kind::Pure(_) | Kind::Application) => None,
            Some(Kind::Adapter) => Some("an adapter may not depend on another adapter".into()),
            Some(_) => Some("an adapter may depend only on pure crates and godel-engine".into()),
            None => None,
        },
        Kind::Facade => match dep_kind {
            Some(Kind::Pure(_) | Kind::Application | Kind::Adapter) | None => None,
            Some(_) => Some("godel may depend only on the crates in crates/".into()),
        },
        Kind::TestSupport => match dep_kind {
            Some(Kind::Pure(_) | Kind::Application | Kind::Adapter | Kind::Facade) | None => None,
            Some(_) => Some("godel-test-support may depend only on the crates in crates/".into()),
        },
        Kind::App => match dep_kind {
            Some(Kind::Facade) | None => None,
            Some(_) => Some("an app may depend only on `godel` among godel crates".into()),
        },
        Kind::EndToEnd | Kind::Benches | Kind::Tooling => None,
    }
}

fn kind_of(name: &str) -> Option<Kind> {
    LAYERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, kind)| *kind)
}

fn is_godel(name: &str) -> bool {
    name == "godel" || name.starts_with("godel-")
}

/// The workspace members and their declared dependencies, from `cargo metadata --no-deps`.
fn workspace_packages() -> Result<Vec<Package>> {
    let output = cargo(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .context("failed to run `cargo metadata`")?;
    if !output.status.success() {
        bail!("`cargo metadata` failed ({})", output.status);
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("`cargo metadata` printed invalid JSON")?;
    parse_metadata(&metadata)
}

/// The workspace members of a `cargo metadata --format-version 1` document.
fn parse_metadata(metadata: &Value) -> Result<Vec<Package>> {
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("metadata has no `workspace_members` array")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut packages = Vec::new();
    for package in metadata["packages"]
        .as_array()
        .context("metadata has no `packages` array")?
    {
        let id = package["id"].as_str().context("package without an id")?;
        if !members.contains(id) {
            continue;
        }
        let name = package["name"].as_str().context("package without a name")?;
        let mut dependencies = Vec::new();
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"]
                .as_str()
                .with_context(|| format!("{name}: nameless dep"))?;
            let kind = match dep["kind"].as_str() {
                None => DepKind::Normal,
                Some("build") => DepKind::Build,
                Some("dev") => DepKind::Dev,
                Some(other) => bail!("{name} -> {dep_name}: unknown dependency kind `{other}`"),
            };
            let features = dep["features"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            dependencies.push(Dependency {
                name: dep_name.to_owned(),
                kind,
                features,
                optional: dep["optional"].as_bool().unwrap_or(false),
            });
        }
        packages.push(Package {
            name: name.to_owned(),
            dependencies,
        });
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, kind: DepKind) -> Dependency {
        Dependency {
            name: name.into(),
            kind,
            features: Vec::new(),
            optional: false,
        }
    }

    fn package(name: &str, dependencies: Vec<Dependency>) -> Package {
        Package {
            name: name.into(),
            dependencies,
        }
    }

    /// The violations of a one-package workspace, as `(dependency, rule)` lines.
    fn violations_of(p: Package) -> Vec<String> {
        check(&[p]).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_real_workspace_follows_the_layering_rules() {
        let packages = workspace_packages().expect("cargo metadata works");
        assert!(
            packages.iter().any(|p| p.name == "godel-queue"),
            "godel-queue is a workspace member"
        );
        let violations = check(&packages);
        assert!(
            violations.is_empty(),
            "layering violations: {violations:#?}"
        );
    }

    #[test]
    fn every_layer_table_entry_is_a_godel_crate_or_xtask() {
        for (name, _) in LAYERS {
            assert!(is_godel(name) || *name == "xtask", "{name}");
        }
    }

    #[test]
    fn pure_crate_depending_on_sqlx_is_rejected() {
        let v = violations_of(package("godel-types", vec![dep("sqlx", DepKind::Normal)]));
        assert_eq!(
            v,
            ["godel-types -> sqlx: a pure crate may not depend on an I/O technology"]
        );
    }

    #[test]
    fn pure_crate_may_use_sqlx_in_tests() {
        let v = violations_of(package("godel-types", vec![dep("sqlx", DepKind::Dev)]));
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn pure_crate_with_tokio_as_normal_dependency_is_rejected() {
        let v = violations_of(package("godel-queue", vec![dep("tokio", DepKind::Normal)]));
        assert_eq!(
            v,
            ["godel-queue -> tokio: a pure crate may use tokio only as a dev-dependency"]
        );
    }

    #[test]
    fn pure_crate_may_use_tokio_as_dev_dependency() {
        let v = violations_of(package("godel-lifecycle", vec![dep("tokio", DepKind::Dev)]));
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn godel_queue_depending_on_godel_types_is_rejected() {
        let v = violations_of(package(
            "godel-queue",
            vec![dep("godel-types", DepKind::Normal)],
        ));
        assert_eq!(
            v,
            [
                "godel-queue -> godel-types: godel-queue is standalone: it may depend on no other godel crate"
            ]
        );
    }

    #[test]
    fn godel_queue_may_enable_its_own_test_feature_in_tests() {
        let v = violations_of(package(
            "godel-queue",
            vec![dep("godel-queue", DepKind::Dev)],
        ));
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn pure_crate_may_depend_on_a_lower_layer_only() {
        let lower = package(
            "godel-federation",
            vec![dep("godel-lifecycle", DepKind::Normal)],
        );
        assert!(violations_of(lower).is_empty());
        let same = package(
            "godel-lifecycle",
            vec![dep("godel-scheduling", DepKind::Normal)],
        );
        assert_eq!(
            violations_of(same),
            [
                "godel-lifecycle -> godel-scheduling: a pure crate (layer 2) may depend only on pure godel crates of a lower layer"
            ]
        );
        let higher = package("godel-types", vec![dep("godel-engine", DepKind::Normal)]);
        assert_eq!(violations_of(higher).len(), 1);
    }

    #[test]
    fn adapter_depending_on_another_adapter_is_rejected() {
        let v = violations_of(package(
            "godel-http",
            vec![
                dep("godel-engine", DepKind::Normal),
                dep("godel-redis", DepKind::Normal),
                dep("axum", DepKind::Normal),
            ],
        ));
        assert_eq!(
            v,
            ["godel-http -> godel-redis: an adapter may not depend on another adapter"]
        );
    }

    #[test]
    fn engine_with_tokio_net_is_rejected_and_with_rt_sync_time_accepted() {
        let mut tokio = dep("tokio", DepKind::Normal);
        tokio.features = vec!["rt".into(), "sync".into(), "time".into()];
        assert!(violations_of(package("godel-engine", vec![tokio.clone()])).is_empty());
        tokio.features.push("net".into());
        assert_eq!(
            violations_of(package("godel-engine", vec![tokio])),
            [
                "godel-engine -> tokio: godel-engine may use tokio only without net/fs/process (enables net)"
            ]
        );
    }

    #[test]
    fn engine_depending_on_an_adapter_or_io_crate_is_rejected() {
        let v = violations_of(package(
            "godel-engine",
            vec![
                dep("godel-sqlite", DepKind::Normal),
                dep("reqwest", DepKind::Normal),
            ],
        ));
        assert_eq!(v.len(), 2, "{v:?}");
    }

    #[test]
    fn app_may_depend_on_godel_only() {
        let ok = package(
            "godel-server",
            vec![dep("godel", DepKind::Normal), dep("clap", DepKind::Normal)],
        );
        assert!(violations_of(ok).is_empty());
        let v = violations_of(package(
            "godel-cli",
            vec![dep("godel-engine", DepKind::Normal)],
        ));
        assert_eq!(
            v,
            ["godel-cli -> godel-engine: an app may depend only on `godel` among godel crates"]
        );
    }

    #[test]
    fn test_support_as_a_normal_dependency_is_rejected() {
        let v = violations_of(package(
            "godel",
            vec![dep("godel-test-support", DepKind::Normal)],
        ));
        assert_eq!(
            v,
            [
                "godel -> godel-test-support: godel-test-support may be used only as a \
                 dev-dependency or an optional one (behind a test feature)"
            ]
        );
        let dev = package(
            "godel-server",
            vec![dep("godel-test-support", DepKind::Dev)],
        );
        assert!(violations_of(dev).is_empty());
        let mut behind_a_feature = dep("godel-test-support", DepKind::Normal);
        behind_a_feature.optional = true;
        assert!(violations_of(package("godel-postgres", vec![behind_a_feature])).is_empty());
    }

    #[test]
    fn unknown_godel_crate_is_rejected() {
        let v = violations_of(package("godel-gizmo", vec![]));
        assert_eq!(
            v,
            ["godel-gizmo: unknown crate, add it to the layer table in xtask/src/layers.rs"]
        );
    }

    #[test]
    fn dependency_on_an_unknown_godel_crate_is_rejected() {
        let v = violations_of(package("godel", vec![dep("godel-gizmo", DepKind::Normal)]));
        assert_eq!(
            v,
            [
                "godel -> godel-gizmo: unknown godel crate, add it to the layer table in xtask/src/layers.rs"
            ]
        );
    }

    #[test]
    fn metadata_is_parsed_into_members_with_kinds_and_features() {
        let metadata = serde_json::json!({
            "workspace_members": ["path+file:///w/crates/engine#godel-engine@0.1.0"],
            "packages": [
                {
                    "id": "path+file:///w/crates/engine#godel-engine@0.1.0",
                    "name": "godel-engine",
                    "dependencies": [
                        { "name": "tokio", "kind": null, "features": ["rt", "net"] },
                        { "name": "proptest", "kind": "dev", "features": [] },
                        { "name": "cc", "kind": "build", "features": [] }
                    ]
                },
                {
                    "id": "registry+https://github.com/rust-lang/crates.io-index#tokio@1.0.0",
                    "name": "tokio",
                    "dependencies": []
                }
            ]
        });
        let packages = parse_metadata(&metadata).expect("valid metadata");
        assert_eq!(packages.len(), 1, "only workspace members are kept");
        let deps = &packages[0].dependencies;
        assert_eq!(deps[0].kind, DepKind::Normal);
        assert_eq!(deps[0].features, ["rt", "net"]);
        assert_eq!(deps[1].kind, DepKind::Dev);
        assert_eq!(deps[2].kind, DepKind::Build);
        assert_eq!(
            check(&packages).len(),
            1,
            "tokio with net is caught from parsed metadata"
        );
    }
}
