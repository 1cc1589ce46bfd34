//! docs/rfc8684-compliance.md stays true to the code: every row is well formed,
//! every file it names exists, every function and test it names is defined in the
//! file named with it, a test marked `(ignored)` is `#[ignore]`d and no other is,
//! and the summary and the list of gaps agree with the rows.
//!
//! The check reads files only (no build of what it checks), through a function from
//! a repository path to its text, so that its own tests run on made-up files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TABLE: &str = "docs/rfc8684-compliance.md";
const HEADER: &str = "| Id | Level | Requirement | Status | Code | Tests | Notes |";
const STATUSES: [&str; 4] = [
    "implemented",
    "partial",
    "not implemented",
    "not applicable",
];
const LEVELS: [&str; 7] = [
    "MUST",
    "MUST NOT",
    "SHOULD",
    "SHOULD NOT",
    "RECOMMENDED",
    "MAY",
    "—",
];
/// Statuses that are gaps: each such row is in the list of gaps, and only those.
const GAPS: [&str; 2] = ["partial", "not implemented"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Functions named in one file: `file:a,b` in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    file: String,
    functions: Vec<String>,
    /// Followed by `(ignored)`: tests that are `#[ignore]`d.
    ignored: bool,
}

#[derive(Debug)]
struct Row {
    line: usize,
    id: String,
    status: String,
    code: Vec<Named>,
    tests: Vec<Named>,
}

/// Everything wrong with the table at `doc`, one line each; `read` gives the text
/// of a file by its path from the repository's root.
fn check(doc: &str, read: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let rows = parse_rows(doc, &mut problems);
    if rows.is_empty() {
        problems.push("no rows found".to_string());
    }
    let mut seen = BTreeSet::new();
    let mut files: BTreeMap<String, Option<String>> = BTreeMap::new();
    for row in &rows {
        if !seen.insert(row.id.clone()) {
            problems.push(format!("line {}: {} is used twice", row.line, row.id));
        }
        let at = format!("line {} ({})", row.line, row.id);
        for named in row.code.iter().chain(&row.tests) {
            let text = files
                .entry(named.file.clone())
                .or_insert_with(|| read(&named.file));
            let Some(text) = text else {
                problems.push(format!("{at}: no file {}", named.file));
                continue;
            };
            for function in &named.functions {
                match defined_at(text, function) {
                    None => {
                        problems.push(format!("{at}: {} defines no `fn {function}`", named.file))
                    }
                    Some(offset) => {
                        let ignored = is_ignored(text, offset);
                        if ignored != named.ignored {
                            problems.push(format!(
                                "{at}: {function} is {}`#[ignore]`d but the table says {}",
                                if ignored { "" } else { "not " },
                                if named.ignored {
                                    "(ignored)"
                                } else {
                                    "nothing"
                                }
                            ));
                        }
                    }
                }
            }
        }
    }
    check_summary(doc, &rows, &mut problems);
    check_gaps(doc, &rows, &mut problems);
    problems
}

/// The rows of every requirement table, reporting malformed ones.
fn parse_rows(doc: &str, problems: &mut Vec<String>) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for (index, line) in doc.lines().enumerate() {
        let number = index + 1;
        if line == HEADER {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        match parse_row(number, line) {
            Ok(row) => rows.push(row),
            Err(problem) => problems.push(format!("line {number}: {problem}")),
        }
    }
    rows
}

fn parse_row(line: usize, text: &str) -> Result<Row, String> {
    let inner = text
        .strip_prefix('|')
        .and_then(|t| t.strip_suffix('|'))
        .ok_or("a row starts and ends with `|`")?;
    let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
    let [id, level, requirement, status, code, tests, notes] = cells[..] else {
        return Err(format!("{} cells, not 7", cells.len()));
    };
    if !is_id(id) {
        return Err(format!("malformed id `{id}`"));
    }
    if !LEVELS.contains(&level.trim_end_matches('†')) {
        return Err(format!("{id}: unknown level `{level}`"));
    }
    if requirement.is_empty() {
        return Err(format!("{id}: no requirement"));
    }
    if !STATUSES.contains(&status) {
        return Err(format!("{id}: unknown status `{status}`"));
    }
    let code = parse_names(code, "—").map_err(|e| format!("{id}: code: {e}"))?;
    let tests = parse_names(tests, "none").map_err(|e| format!("{id}: tests: {e}"))?;
    if status == "implemented" && code.is_empty() {
        return Err(format!("{id}: implemented, but by no code"));
    }
    if code.iter().any(|n| n.ignored) {
        return Err(format!("{id}: code cannot be `(ignored)`"));
    }
    if status != "implemented" && notes.is_empty() {
        return Err(format!("{id}: {status} without a note saying why"));
    }
    Ok(Row {
        line,
        id: id.to_string(),
        status: status.to_string(),
        code,
        tests,
    })
}

/// `s3.3.4-2`, `s4-1`, `rfc6528-1`.
fn is_id(id: &str) -> bool {
    let Some((section, number)) = id.rsplit_once('-') else {
        return false;
    };
    let number_ok = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    let section_ok = match section.strip_prefix('s') {
        Some(s) => {
            !s.is_empty()
                && s.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        }
        None => section == "rfc6528" || section == "rfc4987",
    };
    number_ok && section_ok
}

/// A cell of `` `file:a,b` `` items, each maybe followed by `(ignored)`; `empty`
/// alone means none.
fn parse_names(cell: &str, empty: &str) -> Result<Vec<Named>, String> {
    if cell == empty {
        return Ok(Vec::new());
    }
    let mut out: Vec<Named> = Vec::new();
    let mut rest = cell.trim_start();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("(ignored)") {
            let last = out.last_mut().ok_or("`(ignored)` before any test")?;
            if last.ignored {
                return Err("`(ignored)` twice".to_string());
            }
            last.ignored = true;
            rest = after.trim_start();
            continue;
        }
        let item = rest
            .strip_prefix('`')
            .ok_or_else(|| format!("expected `file:function` or `{empty}` at `{rest}`"))?;
        let (item, after) = item.split_once('`').ok_or("unclosed backquote")?;
        let (file, functions) = item
            .split_once(':')
            .ok_or_else(|| format!("`{item}` is not `file:function`"))?;
        if !file.starts_with("crates/") || !file.ends_with(".rs") {
            return Err(format!("`{file}` is not a Rust file under crates/"));
        }
        let functions: Vec<String> = functions.split(',').map(str::to_string).collect();
        if let Some(bad) = functions.iter().find(|f| !is_identifier(f)) {
            return Err(format!("`{bad}` in `{item}` is not a function name"));
        }
        out.push(Named {
            file: file.to_string(),
            functions,
            ignored: false,
        });
        rest = after.trim_start();
    }
    Ok(out)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(is_ident_char)
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Where `fn name` is defined in `text`: `name` whole, not the start of a longer one.
fn defined_at(text: &str, name: &str) -> Option<usize> {
    let needle = format!("fn {name}");
    text.match_indices(&needle).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
    })
}

/// Whether the function defined at byte `offset` carries `#[ignore]` among the
/// attributes and comments right above it.
fn is_ignored(text: &str, offset: usize) -> bool {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    text[..line_start]
        .lines()
        .rev()
        .map(str::trim_start)
        .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
        .any(|l| l.starts_with("#[ignore"))
}

/// The summary table counts the rows of each status.
fn check_summary(doc: &str, rows: &[Row], problems: &mut Vec<String>) {
    let mut counted = BTreeMap::new();
    for row in rows {
        *counted.entry(row.status.as_str()).or_insert(0usize) += 1;
    }
    let mut stated = BTreeMap::new();
    for line in section(doc, "## Summary") {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let [_, status, n, _] = cells[..] {
            if let Ok(n) = n.parse::<usize>() {
                stated.insert(status, n);
            }
        }
    }
    for status in STATUSES {
        let (counted, stated) = (
            counted.get(status).copied().unwrap_or(0),
            stated.get(status),
        );
        if stated != Some(&counted) {
            problems.push(format!(
                "summary: {status} has {counted} rows, the summary says {stated:?}"
            ));
        }
    }
}

/// The list of gaps names exactly the partial and not implemented rows.
fn check_gaps(doc: &str, rows: &[Row], problems: &mut Vec<String>) {
    let expected: BTreeSet<&str> = rows
        .iter()
        .filter(|r| GAPS.contains(&r.status.as_str()))
        .map(|r| r.id.as_str())
        .collect();
    let mut listed = BTreeSet::new();
    for line in section(doc, "## Gaps") {
        if let Some(item) = line.strip_prefix("- ") {
            let id = item.split(':').next().unwrap_or("");
            if !listed.insert(id) {
                problems.push(format!("gaps: {id} is listed twice"));
            }
        }
    }
    for id in expected.difference(&listed) {
        problems.push(format!(
            "gaps: {id} is partial or not implemented but not listed"
        ));
    }
    for id in listed.difference(&expected) {
        problems.push(format!("gaps: {id} is listed but is no gap"));
    }
}

/// The lines from `heading` to the next heading.
fn section<'a>(doc: &'a str, heading: &'a str) -> impl Iterator<Item = &'a str> {
    doc.lines()
        .skip_while(move |l| *l != heading)
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
}

#[test]
fn the_compliance_table_names_only_what_exists() {
    let root = root();
    let doc = std::fs::read_to_string(root.join(TABLE)).expect("the compliance table");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).ok();
    let problems = check(&doc, &read);
    assert!(
        problems.is_empty(),
        "{TABLE} disagrees with the code:\n{}",
        problems.join("\n")
    );
}

// ---- The check itself -----------------------------------------------------------

const FILE: &str = "crates/x/src/lib.rs";
const TESTS: &str = "crates/x/tests/t.rs";

fn made_up_file(path: &str) -> Option<String> {
    match path {
        FILE => Some("pub fn token() {}\npub fn token_of() {}\nfn idsn<T>() {}\n".into()),
        TESTS => Some(
            "#[test]\nfn rfc8684_ok() {}\n\n/// Fails.\n#[test]\n#[ignore = \"why\"]\nfn rfc8684_fails() {}\n"
                .into(),
        ),
        _ => None,
    }
}

/// A table with the given rows, a summary and gaps that fit them.
fn table(rows: &[&str], summary: [usize; 4], gaps: &[&str]) -> String {
    let mut doc = String::from("## Summary\n\n| Status | Rows |\n|---|---|\n");
    for (status, n) in STATUSES.iter().zip(summary) {
        doc += &format!("| {status} | {n} |\n");
    }
    doc += "\n## Gaps\n\n";
    for gap in gaps {
        doc += &format!("- {gap}: why.\n");
    }
    doc += &format!("\n## §3.1\n\n{HEADER}\n|---|---|---|---|---|---|---|\n");
    for row in rows {
        doc += row;
        doc += "\n";
    }
    doc
}

const GOOD: &str = "| s3.1-1 | MUST | Keys. | implemented | `crates/x/src/lib.rs:token,idsn` | `crates/x/tests/t.rs:rfc8684_ok` `crates/x/tests/t.rs:rfc8684_fails` (ignored) | |";

fn problems_with(row: &str) -> Vec<String> {
    check(&table(&[GOOD, row], [2, 0, 0, 0], &[]), &made_up_file)
}

#[test]
fn a_table_that_fits_the_files_passes() {
    let doc = table(
        &[
            GOOD,
            "| s3.1-2 | SHOULD† | Flags. | partial | — | none | Half. |",
        ],
        [1, 1, 0, 0],
        &["s3.1-2"],
    );
    assert_eq!(check(&doc, &made_up_file), Vec::<String>::new());
}

#[test]
fn a_typo_in_a_function_or_test_name_is_caught() {
    let code =
        problems_with("| s3.1-2 | MAY | X. | implemented | `crates/x/src/lib.rs:tokne` | none | |");
    assert!(code[0].contains("defines no `fn tokne`"), "{code:?}");
    // A name that only starts a longer one is not found either.
    let prefix =
        problems_with("| s3.1-2 | MAY | X. | implemented | `crates/x/src/lib.rs:toke` | none | |");
    assert!(prefix[0].contains("`fn toke`"), "{prefix:?}");
    let test = problems_with("| s3.1-2 | MAY | X. | implemented | `crates/x/src/lib.rs:token` | `crates/x/tests/t.rs:rfc8684_k` | |");
    assert!(test[0].contains("`fn rfc8684_k`"), "{test:?}");
    let file =
        problems_with("| s3.1-2 | MAY | X. | implemented | `crates/x/src/lb.rs:token` | none | |");
    assert!(file[0].contains("no file crates/x/src/lb.rs"), "{file:?}");
}

#[test]
fn ignored_tests_are_marked_and_only_those() {
    let unmarked = problems_with("| s3.1-2 | MAY | X. | implemented | `crates/x/src/lib.rs:token` | `crates/x/tests/t.rs:rfc8684_fails` | |");
    assert!(unmarked[0].contains("is `#[ignore]`d"), "{unmarked:?}");
    let marked = problems_with("| s3.1-2 | MAY | X. | implemented | `crates/x/src/lib.rs:token` | `crates/x/tests/t.rs:rfc8684_ok` (ignored) | |");
    assert!(marked[0].contains("is not `#[ignore]`d"), "{marked:?}");
}

#[test]
fn malformed_rows_are_caught() {
    for (row, expected) in [
        (
            "| s3.1-2 | MUST | X. | done | — | none | n |",
            "unknown status",
        ),
        (
            "| s3.1-2 | OUGHT | X. | partial | — | none | n |",
            "unknown level",
        ),
        (
            "| 3.1-2 | MUST | X. | partial | — | none | n |",
            "malformed id",
        ),
        (
            "| s3.1-1 | MUST | X. | partial | — | none | n |",
            "used twice",
        ),
        ("| s3.1-2 | MUST | X. | partial | — | none |", "6 cells"),
        (
            "| s3.1-2 | MUST | X. | implemented | — | none | |",
            "by no code",
        ),
        (
            "| s3.1-2 | MUST | X. | partial | — | none | |",
            "without a note",
        ),
        (
            "| s3.1-2 | MUST | X. | partial | `lib.rs:token` | none | n |",
            "under crates/",
        ),
        (
            "| s3.1-2 | MUST | X. | partial | `crates/x/src/lib.rs` | none | n |",
            "not `file:function`",
        ),
        (
            "| s3.1-2 | MUST | X. | partial | — | `crates/x/tests/t.rs:a b` | n |",
            "not a function name",
        ),
    ] {
        let problems = problems_with(row);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{row}: {problems:?}"
        );
    }
}

#[test]
fn the_summary_and_the_gaps_must_follow_the_rows() {
    let partial = "| s3.1-2 | MUST | X. | partial | — | none | Half. |";
    let wrong_count = check(
        &table(&[GOOD, partial], [2, 0, 0, 0], &["s3.1-2"]),
        &made_up_file,
    );
    assert!(
        wrong_count
            .iter()
            .any(|p| p.contains("implemented has 1 rows"))
            && wrong_count.iter().any(|p| p.contains("partial has 1 rows")),
        "{wrong_count:?}"
    );
    let unlisted = check(&table(&[GOOD, partial], [1, 1, 0, 0], &[]), &made_up_file);
    assert!(
        unlisted[0].contains("s3.1-2 is partial or not implemented but not listed"),
        "{unlisted:?}"
    );
    let listed = check(&table(&[GOOD], [1, 0, 0, 0], &["s3.1-1"]), &made_up_file);
    assert!(
        listed[0].contains("s3.1-1 is listed but is no gap"),
        "{listed:?}"
    );
}
