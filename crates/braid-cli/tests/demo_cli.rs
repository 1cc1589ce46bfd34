//! `braid demo` run as a program: it runs unprivileged in the simulator, shows both
//! paths, the outage and the data intact, says the same thing for the same seed, and
//! gives the same facts as JSON.

mod common;

use common::braid;
use serde_json::Value;

/// `braid demo ARGS`, which must succeed without a word on stderr.
fn demo(args: &[&str]) -> String {
    let mut all = vec!["demo"];
    all.extend_from_slice(args);
    let run = braid(&all);
    assert_eq!(run.code, Some(0), "braid {all:?}: stderr: {}", run.stderr);
    assert_eq!(run.stderr, "", "braid {all:?}");
    run.stdout
}

/// The value after `label` on the first line holding it.
fn after<'a>(text: &'a str, label: &str) -> &'a str {
    let line = text
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"));
    line.split_once(label).unwrap().1.trim()
}

#[test]
fn the_demo_shows_both_paths_the_outage_and_intact_data() {
    let out = demo(&[]);
    for wanted in [
        "Wi-Fi",
        "cellular",
        "10.0.1.1",
        "10.0.2.1",
        "MP_CAPABLE",
        "MP_JOIN",
        "cellular subflow established",
        "Wi-Fi goes down",
        "failover done",
        "Wi-Fi is back",
        "Wi-Fi carries data again",
        "the last byte reaches the server",
        "data       intact",
        "(finished)",
    ] {
        assert!(out.contains(wanted), "no {wanted:?} in\n{out}");
    }
    // The same SHA-256 at both ends.
    let sent = after(&out, "SHA-256    sent");
    let received = after(&out, "received");
    assert_eq!(sent.len(), 64, "{out}");
    assert_eq!(sent, received);

    // One row per second, with both paths carrying data before the outage and only
    // cellular while Wi-Fi is down.
    let rows: Vec<Vec<f64>> = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("second"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(3)
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect();
    assert!(rows.len() >= 20, "{out}");
    assert!(rows[4][0] > 20.0 && rows[4][1] > 5.0, "{:?}", rows[4]);
    for row in &rows[9..12] {
        assert_eq!(row[0], 0.0, "Wi-Fi is down: {row:?}");
        assert!(row[1] > 10.0, "cellular: {row:?}");
    }
    assert!(rows[18][0] > 10.0, "Wi-Fi is back: {:?}", rows[18]);

    // The timeline is in time order.
    let times: Vec<f64> = out
        .lines()
        .skip_while(|l| l != &"What happened")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next()?.strip_suffix('s')?.parse().ok())
        .collect();
    assert!(times.len() >= 10, "{out}");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn the_same_seed_gives_the_same_output() {
    let a = demo(&[]);
    assert_eq!(a, demo(&["--seed", "1"]), "the default seed is 1");
    let b = demo(&["--seed", "7"]);
    assert_eq!(b, demo(&["--seed", "7"]));
    assert_ne!(a, b, "another seed: other keys, ports, sequence numbers");
    assert!(b.contains("seed 7"));
    assert!(b.contains("data       intact"), "{b}");
}

#[test]
fn the_json_holds_the_same_facts() {
    let text = demo(&[]);
    let out = demo(&["--json"]);
    let v: Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(v["seed"], 1);
    let paths: Vec<&str> = v["setup"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["Wi-Fi", "cellular"]);
    assert_eq!(v["setup"]["wifi_outages"][0]["down_us"], 8_000_000);
    assert_eq!(v["setup"]["wifi_outages"][0]["up_us"], 12_000_000);

    let t = &v["totals"];
    assert_eq!(t["protocol"], "mptcp");
    assert_eq!(t["integrity"], "intact");
    assert_eq!(t["sha256_sent"], t["sha256_received"]);
    assert_eq!(
        t["sha256_sent"].as_str().unwrap(),
        after(&text, "SHA-256    sent")
    );
    assert_eq!(t["bytes_sent"], t["bytes_delivered"]);
    for p in t["bytes_per_path"].as_array().unwrap() {
        assert!(p["bytes"].as_u64().unwrap() > 10_000_000, "{p}");
    }

    let kinds: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    for k in [
        "syn",
        "established",
        "join",
        "joined",
        "wifi_down",
        "failover",
        "wifi_up",
        "wifi_again",
        "close",
        "delivered",
        "closed",
    ] {
        assert!(kinds.contains(&k), "no {k} in {kinds:?}");
    }
    let per_second = v["per_second"].as_array().unwrap();
    assert!(per_second.len() >= 20);
    assert_eq!(per_second[10]["wifi_mbps"], 0.0);

    // The simulator's whole report comes along: two subflows at each end.
    let c = &v["report"]["connections"][0];
    assert_eq!(c["protocol"], "mptcp");
    for end in ["client", "server"] {
        let subflows = c[end]["mptcp"]["subflows"].as_array().unwrap();
        assert_eq!(subflows.len(), 2, "{end}");
        assert_eq!(subflows[1]["handshake"], "mp_join");
    }
}

#[test]
fn a_bad_seed_is_refused() {
    let run = braid(&["demo", "--seed", "many"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--seed"), "{}", run.stderr);
}
