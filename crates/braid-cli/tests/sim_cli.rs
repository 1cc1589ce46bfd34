//! `braid sim` run as a program: the example scenario as a table, as JSON and with
//! captures; the same seed twice; bad input.

mod common;

use std::path::{Path, PathBuf};

use common::braid;
use serde_json::Value;

/// `braid sim ARGS`, which must succeed without a word on stderr.
fn sim_ok(args: &[&str]) -> String {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    let run = braid(&all);
    assert_eq!(run.code, Some(0), "braid {all:?}: stderr: {}", run.stderr);
    assert_eq!(run.stderr, "", "braid {all:?}");
    run.stdout
}

/// `braid sim ARGS`, which must fail with one line on stderr; returns that line.
fn sim_fails(args: &[&str]) -> String {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    let run = braid(&all);
    assert_eq!(
        run.code,
        Some(1),
        "braid {all:?} should fail: {}",
        run.stdout
    );
    assert_eq!(run.stdout, "", "braid {all:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line of error: {:?}", run.stderr);
    assert!(lines[0].starts_with("braid: "), "{}", lines[0]);
    lines[0].to_string()
}

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios/two-hosts-bulk.toml")
        .display()
        .to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("braid-sim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn prints_a_table_of_metrics() {
    let out = sim_ok(&[&example()]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("scenario two-hosts-bulk  seed 1  completed at "),
        "{out}"
    );
    let upload = lines
        .iter()
        .find(|l| l.starts_with("bulk") && l.contains("client->server"))
        .unwrap_or_else(|| panic!("no upload row:\n{out}"));
    assert!(upload.contains("10.00 MB  10.00 MB"), "{upload}");
    assert!(upload.contains("Mbit/s"), "{upload}");
    assert!(upload.ends_with("intact"), "{upload}");
    assert!(out.contains("pattern errors 0"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("path") && l.contains("client->server")),
        "{out}"
    );
}

#[test]
fn json_holds_every_metric() {
    let out = sim_ok(&[&example(), "--json"]);
    let v: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["scenario"], "two-hosts-bulk");
    assert_eq!(v["seed"], 1);
    assert_eq!(v["outcome"], "completed");
    let c = &v["connections"][0];
    assert_eq!(c["name"], "bulk");
    let up = &c["upload"];
    assert_eq!(up["bytes_written"], 10_000_000);
    assert_eq!(up["bytes_delivered"], 10_000_000);
    assert_eq!(up["integrity"], "intact");
    let goodput = up["goodput_bps"].as_f64().unwrap();
    assert!(goodput > 0.0 && goodput <= 100e6, "{goodput}");
    assert!(up["max_gap_us"].as_u64().unwrap() > 0);
    assert!(up["retransmitted_segments"].is_u64());
    assert!(up["rto_count"].is_u64());
    assert_eq!(
        c["client"]["sha256_written"],
        c["server"]["sha256_delivered"]
    );
    // Throughput over time: per connection end and per subflow, in bins.
    let series = &c["server"]["delivered_series"];
    assert_eq!(series["bin_us"], 100_000);
    let total: u64 = series["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .sum();
    assert_eq!(total, 10_000_000);
    assert!(c["server"]["subflows"][0]["received_series"]["bytes"].is_array());
    assert_eq!(v["links"].as_array().unwrap().len(), 2);
}

#[test]
fn the_same_seed_gives_the_same_output_and_captures() {
    let (a, b) = (temp_dir("a"), temp_dir("b"));
    let run = |dir: &Path| {
        sim_ok(&[
            &example(),
            "--seed",
            "5",
            "--json",
            "--pcap",
            dir.to_str().unwrap(),
        ])
    };
    let (out_a, out_b) = (run(&a), run(&b));
    let strip = |s: &str, dir: &Path| s.replace(dir.to_str().unwrap(), "DIR");
    let v: Value = serde_json::from_str(&out_a).unwrap();
    assert_eq!(v["seed"], 5);
    assert_eq!(out_a, out_b, "same seed, different metrics");
    for name in ["path.client-server.pcap", "path.server-client.pcap"] {
        let (x, y) = (
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
        );
        assert_eq!(&x[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "{name}: pcap magic");
        assert!(x.len() > 1000, "{name}");
        assert_eq!(x, y, "{name} differs between runs");
    }
    assert!(v["links"][0]["pcap"] == "path.client-server.pcap");
    // Another seed, other bytes.
    let c = temp_dir("c");
    let out_c = sim_ok(&[&example(), "--seed", "6", "--pcap", c.to_str().unwrap()]);
    assert!(
        strip(&out_c, &c).contains("DIR/path.client-server.pcap"),
        "{out_c}"
    );
    assert_ne!(
        std::fs::read(a.join("path.client-server.pcap")).unwrap(),
        std::fs::read(c.join("path.client-server.pcap")).unwrap()
    );
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn bad_input_is_one_clear_line() {
    let line = sim_fails(&["/nonexistent/scenario.toml"]);
    assert!(
        line.starts_with("braid: cannot read /nonexistent/scenario.toml: "),
        "{line}"
    );

    let dir = temp_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };

    let f = write("syntax.toml", "duration = \"1s\n");
    let line = sim_fails(&[&f]);
    assert!(
        line.starts_with(&format!("braid: {f}: line 1, column ")),
        "{line}"
    );

    let f = write(
        "typo.toml",
        "[[host]]\nname = \"a\"\nadress = [\"10.0.0.1\"]\n",
    );
    let line = sim_fails(&[&f]);
    assert!(
        line.contains(&format!("{f}: line 3, column 1: unknown field `adress`")),
        "{line}"
    );

    let f = write(
        "invalid.toml",
        "[[host]]\nname = \"a\"\naddresses = [\"10.0.0.1\"]\n[[link]]\nbetween = [\"a\", \"b\"]\n",
    );
    let line = sim_fails(&[&f]);
    assert_eq!(
        line,
        format!("braid: {f}: link[0].between[1]: no host named \"b\" (hosts: a)")
    );

    // A capture directory that cannot be made.
    let line = sim_fails(&[&example(), "--pcap", "/proc/braid-cannot-write-here"]);
    assert!(
        line.contains("cannot create /proc/braid-cannot-write-here"),
        "{line}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_arguments_are_refused() {
    let run = braid(&["sim", &example(), "--seed", "many"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("invalid value 'many'"),
        "{}",
        run.stderr
    );
}
