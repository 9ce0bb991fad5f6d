//! The repository stands alone: nothing in it points a reader at design notes kept outside
//! it (a sibling folder of the team's, a build machine's path). What the product needs of
//! them is in `docs/` in the project's own words.

use std::path::{Path, PathBuf};

/// Built from pieces so that this file does not name what it looks for.
fn outside_references() -> Vec<String> {
    vec![
        format!("{}/{}", "..", "shared"),
        format!("{}{}", "DESIGN", ".md"),
        format!("{}{}", "ENTRA", ".md"),
        format!("{}{}", "STYLE", ".md"),
    ]
}

/// Every file of the repository, less what builds, tests and benchmarks produce.
fn repository_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(
                name.as_ref(),
                "target" | ".git" | ".venv" | "results" | "node_modules"
            ) {
                repository_files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    repository_files(root, &mut files);
    assert!(
        files.len() > 50,
        "only {} files found under {}",
        files.len(),
        root.display()
    );
    let patterns = outside_references();
    let mut found = Vec::new();
    for file in &files {
        // Binary files and databases left by a local run are not documentation.
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if patterns.iter().any(|p| line.contains(p.as_str())) {
                let shown = file.strip_prefix(root).unwrap_or(file).display();
                found.push(format!("{shown}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these point at files a user who clones scimgate does not have; say it in docs/ instead:\n{}",
        found.join("\n")
    );
}
