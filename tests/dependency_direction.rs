//! The crates' dependencies point one way (docs/design.md §2, docs/architecture.md):
//! core depends on nothing of ours, rules only on core (the domain vocabulary: catalogue,
//! rule source); store on core; crm and notify on store; scim (ingest) on store only,
//! never on rules, CRM, notifications or the scheduler; the scheduler on the domain
//! crates; only the application layer (app) and the front end (server) see everything.
//! A new dependency against these arrows fails here.

use std::collections::{BTreeMap, BTreeSet};

/// What each production crate may depend on, of ours.
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("scimgate-core", &[][..]),
        ("scimgate-rules", &["scimgate-core"][..]),
        ("scimgate-store", &["scimgate-core"][..]),
        ("scimgate-crm", &["scimgate-core", "scimgate-store"][..]),
        ("scimgate-notify", &["scimgate-core", "scimgate-store"][..]),
        ("scimgate-scim", &["scimgate-core", "scimgate-store"][..]),
        (
            "scimgate-scheduler",
            &[
                "scimgate-core",
                "scimgate-store",
                "scimgate-crm",
                "scimgate-notify",
                "scimgate-rules",
            ][..],
        ),
        (
            "scimgate-ui",
            &["scimgate-core", "scimgate-store", "scimgate-app"][..],
        ),
        (
            "scimgate-app",
            &[
                "scimgate-core",
                "scimgate-store",
                "scimgate-crm",
                "scimgate-notify",
                "scimgate-rules",
                "scimgate-scheduler",
            ][..],
        ),
    ])
}

/// Arrows that exist today against the design, each to be cut. Remove a line when its
/// arrow is gone; the test fails if a listed arrow no longer exists, so the list cannot
/// go stale.
const KNOWN_VIOLATIONS: &[(&str, &str)] = &[];

/// Each workspace crate's normal (not dev, not build) dependencies: among ours, and
/// whether it uses sqlx.
fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let mut graph = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|d| d.starts_with("scimgate") || *d == "sqlx")
            .map(str::to_owned)
            .collect();
        graph.insert(name, deps);
    }
    graph
}

#[test]
fn dependencies_point_one_way() {
    let graph = workspace_graph();
    let allowed = allowed();
    let mut against = Vec::new();
    let mut stale = Vec::new();
    for (krate, may) in &allowed {
        let deps = graph
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        for dep in deps.iter().filter(|d| d.starts_with("scimgate")) {
            let known = KNOWN_VIOLATIONS.contains(&(*krate, dep.as_str()));
            if !may.contains(&dep.as_str()) && !known {
                against.push(format!("{krate} -> {dep}"));
            }
        }
    }
    for (krate, dep) in KNOWN_VIOLATIONS {
        if !graph.get(*krate).is_some_and(|deps| deps.contains(*dep)) {
            stale.push(format!("{krate} -> {dep}"));
        }
    }
    assert!(
        against.is_empty(),
        "dependencies against the design's arrows: {against:?}"
    );
    assert!(
        stale.is_empty(),
        "these arrows are gone: remove them from KNOWN_VIOLATIONS: {stale:?}"
    );
    // Every production crate is covered (a new one must say what it may use).
    let covered: BTreeSet<&str> = allowed.keys().copied().collect();
    let production: BTreeSet<&str> = graph
        .keys()
        .map(String::as_str)
        .filter(|name| {
            name.starts_with("scimgate-")
                && !matches!(*name, "scimgate-server" | "scimgate-testkit")
                && !name.ends_with("bench")
        })
        .collect();
    assert_eq!(
        production, covered,
        "a crate without its allowed dependencies"
    );
}

/// All SQL is the store's (docs/architecture.md): no other production crate depends on
/// sqlx, and none reaches for the store's pool.
#[test]
fn only_the_store_writes_sql() {
    let graph = workspace_graph();
    let with_sqlx: Vec<&String> = graph
        .iter()
        .filter(|(name, deps)| {
            deps.contains("sqlx") && !matches!(name.as_str(), "scimgate-store" | "scimgate-testkit")
        })
        .map(|(name, _)| name)
        .collect();
    assert!(
        with_sqlx.is_empty(),
        "sqlx outside the store: {with_sqlx:?}"
    );
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut found = Vec::new();
    for krate in std::fs::read_dir(&crates).expect("crates/") {
        let krate = krate.expect("entry").path();
        let name = krate.file_name().unwrap().to_string_lossy().into_owned();
        if matches!(name.as_str(), "store" | "testkit") {
            continue;
        }
        for file in rust_files(&krate.join("src")) {
            let text = std::fs::read_to_string(&file).expect("readable");
            if text.contains("sqlx::query") || text.contains(".pool()") {
                found.push(file.display().to_string());
            }
        }
    }
    assert!(found.is_empty(), "SQL outside the store: {found:?}");
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
