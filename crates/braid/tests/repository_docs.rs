//! The repository's documents name only what exists: every file README.md,
//! ARCHITECTURE.md and docs/*.md mention is in the repository, and their links do not
//! leave it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file of the repository, as paths relative to its root with `/`.
fn files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        let rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if entry.file_type().expect("file type").is_dir() {
            out.push(format!("{rel}/"));
            files(&entry.path(), &rel, out);
        } else {
            out.push(rel);
        }
    }
}

fn documents() -> Vec<(String, String)> {
    let root = root();
    let mut names = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".md") {
            names.push(format!("docs/{name}"));
        }
    }
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root.join(&n)).expect("document");
            (n, text)
        })
        .collect()
}

/// Words that look like file names: `a/b.rs`, `name.md`, `dir/`.
fn file_mentions(text: &str) -> Vec<String> {
    const ENDINGS: [&str; 4] = [".rs", ".md", ".sh", ".toml"];
    // Files of the Linux kernel's tree, named as such.
    const ELSEWHERE: [&str; 1] = ["net/mptcp/"];
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "_-./".contains(c)))
        .map(|w| w.trim_start_matches("./").trim_end_matches('.'))
        .filter(|w| ENDINGS.iter().any(|e| w.ends_with(e)) && w.len() > 3)
        .filter(|w| !w.starts_with('.') && !w.contains("..") && !w.contains("//"))
        .filter(|w| !ELSEWHERE.iter().any(|e| w.starts_with(e)))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_file_the_documents_name_exists() {
    let mut all = Vec::new();
    files(&root(), "", &mut all);
    let mut missing = Vec::new();
    for (doc, text) in documents() {
        for name in file_mentions(&text) {
            // A bare name may live anywhere; a path must be the end of a real path.
            let found = all
                .iter()
                .any(|f| f == &name || f.ends_with(&format!("/{name}")));
            if !found {
                missing.push(format!("{doc}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named but not in the repository: {missing:#?}"
    );
}

#[test]
fn links_stay_inside_the_repository() {
    let root = root();
    let mut bad = Vec::new();
    for (doc, text) in documents() {
        let dir = Path::new(&doc).parent().unwrap_or(Path::new(""));
        for target in text.split("](").skip(1) {
            let target = target.split(')').next().unwrap_or("");
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() {
                continue;
            }
            let resolved = root.join(dir).join(path).canonicalize();
            let inside = resolved
                .as_ref()
                .is_ok_and(|p| p.starts_with(root.canonicalize().expect("root")));
            if path.contains("://") || resolved.is_ok() && !inside {
                bad.push(format!("{doc}: {target}"));
            } else if resolved.is_err() {
                bad.push(format!("{doc}: {target} (no such file)"));
            }
        }
        if text.contains("../shared") || text.contains("DESIGN.md") {
            bad.push(format!("{doc}: names a document outside the repository"));
        }
    }
    assert!(bad.is_empty(), "links that leave the repository: {bad:#?}");
}
