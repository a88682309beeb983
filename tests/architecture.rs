//! The layering of `src/`, checked: each part imports only the parts below it.
//!
//! model imports only model and error; db adds model; engine adds db; leader
//! adds engine; client adds leader. Only lib.rs, testing.rs, ui and the
//! binary import client. A `crate::...` path that breaks this fails the test
//! with the file, the line and the rule.

use std::path::{Path, PathBuf};

/// The parts, and what each may import (besides itself).
const RULES: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("model", &["error"]),
    ("db", &["error", "model"]),
    ("engine", &["error", "model", "db"]),
    ("leader", &["error", "model", "db", "engine"]),
    ("client", &["error", "model", "db", "engine", "leader"]),
];

/// Parts that may import anything (they sit on top of the client).
const TOP: &[&str] = &["lib", "testing", "ui"];

/// The part a source file belongs to, from its path under `src/`.
fn part_of(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// The crate-level names a source file imports through `crate::` paths,
/// with their line numbers. Comments are skipped (doc links may name the
/// crate's root re-exports). `use crate::{a, b::c}` yields `a` and `b`.
fn crate_imports(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.push((index + 1, name));
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push((index + 1, name));
            }
            rest = after;
        }
    }
    found
}

/// The crate-level name as a part: a module's name, or `lib` for anything
/// re-exported at the crate root.
fn part_named(name: &str) -> &str {
    const MODULES: &[&str] = &[
        "error", "model", "db", "engine", "leader", "client", "testing", "ui",
    ];
    MODULES
        .iter()
        .find(|m| **m == name)
        .copied()
        .unwrap_or("lib")
}

/// The layering violations in one file of part `part`.
fn violations(file: &str, part: &str, source: &str) -> Vec<String> {
    if TOP.contains(&part) {
        return Vec::new();
    }
    let Some((_, allowed)) = RULES.iter().find(|(p, _)| *p == part) else {
        return vec![format!(
            "{file}: part {part:?} is not in the layering rules"
        )];
    };
    crate_imports(source)
        .into_iter()
        .filter(|(_, name)| {
            let target = part_named(name);
            target != part && !allowed.contains(&target)
        })
        .map(|(line, name)| {
            format!("{file}:{line}: {part} imports crate::{name}, but {part} may import only {allowed:?}")
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_part_imports_only_the_parts_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut parts_seen = std::collections::BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        // The binary is a separate crate: it reaches riverlite only through
        // the public API, never through `crate::` paths of the library.
        if relative.starts_with("bin") {
            continue;
        }
        let part = part_of(relative);
        parts_seen.insert(part.clone());
        let source = std::fs::read_to_string(&file).unwrap();
        problems.extend(violations(&relative.display().to_string(), &part, &source));
    }
    for part in ["model", "db", "engine", "leader", "client"] {
        assert!(parts_seen.contains(part), "src/{part}/ is missing");
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_forbidden_import_is_reported() {
    let model = "use crate::error::Result;\nuse crate::db::jobs;\n";
    let found = violations("model/job.rs", "model", model);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("model/job.rs:2: model imports crate::db"));

    let engine = "use crate::{model::JobRow, client::Client};\nfn f() { crate::leader::x(); }\n";
    let found = violations("engine/pool.rs", "engine", engine);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|p| p.contains("crate::client")));
    assert!(found.iter().any(|p| p.contains("crate::leader")));

    // The crate root re-exports the client, so it counts as the top.
    let found = violations("leader/rescuer.rs", "leader", "use crate::Client;\n");
    assert_eq!(found.len(), 1, "{found:?}");

    // Comments are not imports; the top may import anything.
    assert!(violations("model/x.rs", "model", "/// See [`crate::Client`].\n").is_empty());
    assert!(violations("testing.rs", "testing", "use crate::client::Client;\n").is_empty());
}
