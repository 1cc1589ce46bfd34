//! `braid bench` as a program: arguments, and errors that say what to fix before any
//! simulation runs. (The suites themselves are measured in bench_targets.rs.)

use std::process::{Command, Output};

fn braid(args: &[&str]) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(args)
        .output()
        .expect("run braid");
    (
        status.code(),
        String::from_utf8(stdout).expect("UTF-8"),
        String::from_utf8(stderr).expect("UTF-8"),
    )
}

#[test]
fn help_names_the_suites_and_options() {
    let (code, out, _) = braid(&["bench", "--help"]);
    assert_eq!(code, Some(0));
    for word in [
        "aggregation",
        "handover",
        "fairness",
        "--json",
        "--plots",
        "--seed",
    ] {
        assert!(out.contains(word), "{word} missing from:\n{out}");
    }
}

#[test]
fn an_unknown_suite_is_refused_with_the_choices() {
    let (code, _, err) = braid(&["bench", "speed"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("aggregation, handover, fairness"), "{err}");
}

#[test]
fn plots_into_a_file_say_to_give_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plots.svg");
    std::fs::write(&file, "").unwrap();
    let (code, out, err) = braid(&["bench", "fairness", "--plots", file.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert!(
        err.contains("exists and is not a directory; give a directory"),
        "{err}"
    );
}

#[test]
fn plots_into_a_directory_that_cannot_be_made_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    let below = file.join("plots");
    let (code, _, err) = braid(&["bench", "handover", "--plots", below.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot create the directory"), "{err}");
}

#[test]
fn plots_into_a_read_only_directory_say_to_make_it_writable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes anyway: nothing to check then.
    if std::fs::write(ro.join("probe"), "").is_ok() {
        eprintln!("skipped: running as root, the directory is writable");
        return;
    }
    let (code, _, err) = braid(&["bench", "aggregation", "--plots", ro.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot write files there; make it writable (chmod u+w"),
        "{err}"
    );
}
