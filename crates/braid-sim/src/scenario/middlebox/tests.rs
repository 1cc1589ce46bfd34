//! The `middlebox` lists of scenario files.

use super::*;
use crate::report::Integrity;
use crate::scenario::spec::{Link, Middlebox};
use crate::scenario::{testing, RunOptions, Scenario};

/// Two hosts, one duplex link `path` with `extra` appended to the link's table, and
/// a request/response exchange over it (data both ways), in TOML.
fn scenario_with(extra: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_toml(&format!(
        r#"
        duration = "60s"
        host = [
          {{ name = "client", addresses = ["10.0.1.1"] }},
          {{ name = "server", addresses = ["10.0.1.2"] }},
        ]
        [tcp]
        mss = 500
        [[link]]
        name = "path"
        between = ["client", "server"]
        rate = "20Mbit"
        delay = "5ms"
        {extra}
        [[connection]]
        client = "client"
        server = "server"
        app = {{ type = "request_response", request = "30KB", response = "90KB", count = 2 }}
        "#
    ))
}

/// The same scenario made in Rust, `link` the link's parameters.
fn scenario_over(link: Link) -> Scenario {
    let (client, server) = ("10.0.1.1".parse().unwrap(), "10.0.1.2".parse().unwrap());
    let link = link.name("path");
    let spec = testing::exchanges(client, server, link, Size::kb(30), Size::kb(90));
    Scenario::from_spec(spec).unwrap()
}

fn error_of(extra: &str) -> String {
    scenario_with(extra).unwrap_err().to_string()
}

#[test]
fn every_middlebox_parses_into_its_directions() {
    let s = scenario_with(
        r#"
        middlebox = [
          { type = "strip_mptcp", on = "syn", direction = "forward" },
          { type = "strip_mptcp", on = "from_data_segment", segment = 10, max_flows = 8 },
          { type = "strip_option", kind = 30, direction = "reverse" },
          { type = "split", max_payload = "300" },
          { type = "coalesce", max_payload = "1KB", hold = "1ms", direction = "reverse" },
          { type = "seq_rewrite" },
          { type = "seq_rewrite", offset = 12345, direction = "forward" },
          { type = "nat", inside = "10.0.1.1", outside = "192.0.2.1", ports = [61000, 61999], max_mappings = 100 },
          { type = "payload_rewrite", segment = 5, offset = 2, xor = 0x20, times = 1 },
          { type = "payload_rewrite", contains = "abc", replace = "xyz", direction = "forward" },
        ]
        "#,
    )
    .unwrap();
    let ids = |l: usize| -> Vec<usize> { s.links[l].middleboxes.iter().map(|m| m.id).collect() };
    assert_eq!(ids(0), [0, 1, 3, 5, 6, 7, 8, 9]);
    assert_eq!(ids(1), [1, 2, 3, 4, 5, 7, 8]);
    let fwd: Vec<&MiddleboxSpec> = s.links[0].middleboxes.iter().map(|m| &m.spec).collect();
    assert_eq!(
        fwd,
        [
            &MiddleboxSpec::StripMptcp {
                which: Which::Syn,
                max_flows: StripMptcp::DEFAULT_MAX_FLOWS
            },
            &MiddleboxSpec::StripMptcp {
                which: Which::FromDataSegment(10),
                max_flows: 8
            },
            &MiddleboxSpec::Split { max_payload: 300 },
            &MiddleboxSpec::SeqRewrite { offset: None },
            &MiddleboxSpec::SeqRewrite {
                offset: Some(12345)
            },
            &MiddleboxSpec::Nat {
                inside: "10.0.1.1".parse().unwrap(),
                outside: "192.0.2.1".parse().unwrap(),
                ports: Some((61000..=61999, 100)),
            },
            &MiddleboxSpec::PayloadRewrite {
                select: Select::NthDataSegment(5),
                rewrite: Rewrite::Xor {
                    offset: 2,
                    mask: 0x20
                },
                times: Some(1),
                max_flows: PayloadRewriter::DEFAULT_MAX_FLOWS,
            },
            &MiddleboxSpec::PayloadRewrite {
                select: Select::Contains(b"abc".to_vec()),
                rewrite: Rewrite::Replace {
                    from: b"abc".to_vec(),
                    to: b"xyz".to_vec()
                },
                times: None,
                max_flows: PayloadRewriter::DEFAULT_MAX_FLOWS,
            },
        ]
    );
    assert_eq!(
        s.links[1].middleboxes[3].spec,
        MiddleboxSpec::Coalesce {
            max_payload: 1000,
            hold: Duration::from_millis(1),
            max_flows: SegmentCoalescer::DEFAULT_MAX_FLOWS,
        }
    );
}

#[test]
fn a_run_through_byte_preserving_middleboxes_is_intact() {
    let link = Link::default()
        .loss(0.01)
        .middlebox(Middlebox::StripMptcp {
            on: StripOn::All,
            segment: None,
            max_flows: None,
            direction: None,
        })
        .middlebox(Middlebox::SeqRewrite {
            offset: None,
            direction: None,
        })
        .middlebox(Middlebox::Split {
            max_payload: Size(200),
            direction: Some(Direction::Forward),
        })
        .middlebox(Middlebox::Coalesce {
            max_payload: Size(1200),
            hold: Duration::from_millis(2).into(),
            max_flows: None,
            direction: Some(Direction::Reverse),
        });
    let s = scenario_over(link);
    let result = s.run(&RunOptions::default()).unwrap();
    let c = &result.report.connections[0];
    assert_eq!(c.upload.bytes_delivered, 60_000);
    assert_eq!(c.download.bytes_delivered, 180_000);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert_eq!(c.download.integrity, Integrity::Intact);
    // The stages are where the plan says, seq_rewrite one seeded box for both.
    let built = s.build(1);
    let (fwd, rev) = (built.links[0].0, built.links[1].0);
    let offset = |link| {
        built.sim.middlebox::<SeqRewriter>(link, 1).offset(
            "10.0.1.1:40000".parse().unwrap(),
            "10.0.1.2:5001".parse().unwrap(),
        )
    };
    assert_eq!(offset(fwd), offset(rev));
    assert_ne!(
        offset(fwd),
        s.build(2).sim.middlebox::<SeqRewriter>(fwd, 1).offset(
            "10.0.1.1:40000".parse().unwrap(),
            "10.0.1.2:5001".parse().unwrap()
        )
    );
    assert_eq!(
        built.sim.middlebox::<SegmentSplitter>(fwd, 2).max_payload(),
        200
    );
    assert_eq!(
        built
            .sim
            .middlebox::<SegmentCoalescer>(rev, 2)
            .max_payload(),
        1200
    );
}

#[test]
fn a_nat_is_one_box_on_both_directions() {
    let s = scenario_over(Link::default().middlebox(Middlebox::Nat {
        inside: "10.0.1.1".to_string(),
        outside: "192.0.2.1".to_string(),
        ports: Some([61000, 61000]),
        max_mappings: None,
    }));
    let mut built = s.build(1);
    built.run(s.duration, true);
    let (fwd, rev) = (built.links[0].0, built.links[1].0);
    let nat = built.sim.middlebox::<Shared<Nat>>(fwd, 0).clone();
    let same = built.sim.middlebox::<Shared<Nat>>(rev, 0);
    assert!(nat.borrow().translated_out > 50 && same.borrow().translated_in > 50);
    assert_eq!(nat.borrow().translated_in, same.borrow().translated_in);
    let server = built.host(1).connections().next().unwrap().clone();
    assert_eq!(server.remote, "192.0.2.1:61000".parse().unwrap());
    assert_eq!(server.received.bytes, 60_000);
}

#[test]
fn a_payload_rewrite_corrupts_what_tcp_delivers() {
    let corrupt = Middlebox::corrupt_once(3, Direction::Reverse);
    let s = scenario_over(Link::default().middlebox(corrupt));
    let r = s.run(&RunOptions::default()).unwrap().report;
    assert_eq!(r.connections[0].download.integrity, Integrity::Corrupt);
    assert_eq!(r.connections[0].upload.integrity, Integrity::Intact);
}

#[test]
fn mistakes_are_named_with_what_to_do() {
    for (extra, expected) in [
        (
            r#"middlebox = [{ type = "firewall" }]"#,
            "unknown variant `firewall`",
        ),
        (
            r#"middlebox = [{ type = "nat", inside = "10.0.1.1", outside = "192.0.2.1", direction = "forward" }]"#,
            "unknown field `direction`",
        ),
        (
            r#"middlebox = [{ type = "strip_mptcp", on = "sometimes" }]"#,
            "unknown variant `sometimes`",
        ),
        (
            r#"middlebox = [{ type = "split" }]"#,
            "missing field `max_payload`",
        ),
        (
            r#"middlebox = [{ type = "strip_option", kind = 1 }]"#,
            "link[0].middlebox[0].kind: 0 (EOL) and 1 (NOP) cannot be stripped",
        ),
        (
            r#"middlebox = [{ type = "split", max_payload = 100 }, { type = "strip_mptcp", on = "from_data_segment" }]"#,
            "link[0].middlebox[1].segment: missing: on = \"from_data_segment\" needs `segment`",
        ),
        (
            r#"middlebox = [{ type = "strip_mptcp", on = "syn", segment = 3 }]"#,
            "link[0].middlebox[0].segment: only with on = \"from_data_segment\"",
        ),
        (
            r#"middlebox = [{ type = "strip_mptcp", on = "from_data_segment", segment = 0 }]"#,
            "count from 1",
        ),
        (
            r#"middlebox = [{ type = "split", max_payload = 0 }]"#,
            "link[0].middlebox[0].max_payload: must be at least 1 byte",
        ),
        (
            r#"middlebox = [{ type = "coalesce", max_payload = 1460, hold = "1ms" }]"#,
            "link[0].middlebox[0].max_payload: 1460 bytes and up to 100 of headers exceed the link's mtu (1500), which would drop merged segments: lower `max_payload` to 1400 or raise `mtu`",
        ),
        (
            r#"middlebox = [{ type = "coalesce", max_payload = 1000, hold = "1ms", max_flows = 0 }]"#,
            "link[0].middlebox[0].max_flows: must be at least 1",
        ),
        (
            r#"middlebox = [{ type = "seq_rewrite", offset = 0 }]"#,
            "leave `offset` out for random offsets",
        ),
        (
            r#"middlebox = [{ type = "nat", inside = "10.0.9.9", outside = "192.0.2.1" }]"#,
            "link[0].middlebox[0].inside: 10.0.9.9 is not an address at either end of this link",
        ),
        (
            r#"middlebox = [{ type = "nat", inside = "10.0.1.1", outside = "10.0.1.2" }]"#,
            "outside: 10.0.1.2 is an address of host \"server\"; use one no host has",
        ),
        (
            r#"middlebox = [{ type = "nat", inside = "10.0.1.1", outside = "fd00::1" }]"#,
            "different IP versions",
        ),
        (
            r#"middlebox = [{ type = "nat", inside = "10.0.1.1", outside = "nat" }]"#,
            "link[0].middlebox[0].outside: \"nat\" is not an IP address",
        ),
        (
            r#"middlebox = [{ type = "nat", inside = "10.0.1.1", outside = "192.0.2.1", ports = [2000, 1000] }]"#,
            "ports: give [first, last] with 1 <= first <= last <= 65535",
        ),
        (
            r#"middlebox = [{ type = "nat", inside = "10.0.1.1", outside = "192.0.2.1", max_mappings = 5 }]"#,
            "max_mappings: only with `ports`",
        ),
        (
            r#"middlebox = [{ type = "payload_rewrite" }]"#,
            "link[0].middlebox[0]: give exactly one of `segment = N`",
        ),
        (
            r#"middlebox = [{ type = "payload_rewrite", segment = 1, replace = "x" }]"#,
            "replace: replaces the `contains` pattern: give `contains` too",
        ),
        (
            r#"middlebox = [{ type = "payload_rewrite", contains = "ab", replace = "x" }]"#,
            "replace: must have as many bytes as `contains` (2, not 1)",
        ),
        (
            r#"middlebox = [{ type = "payload_rewrite", segment = 1, xor = 0 }]"#,
            "xor: 0 changes nothing",
        ),
        (
            r#"middlebox = [{ type = "payload_rewrite", segment = 1, xor = 256 }]"#,
            "line 14, column 21: invalid value: integer `256`, expected u8",
        ),
    ] {
        let error = error_of(extra);
        assert!(error.contains(expected), "{extra}\n  gave: {error}");
    }
    // One-way links have no reverse direction.
    let mut one_way = testing::exchanges(
        "10.0.1.1".parse().unwrap(),
        "10.0.1.2".parse().unwrap(),
        Link::default(),
        Size::kb(1),
        Size::kb(1),
    );
    one_way.links[0] = Link::one_way("client", "server").middlebox(Middlebox::Split {
        max_payload: Size(100),
        direction: Some(Direction::Reverse),
    });
    let error = Scenario::from_spec(one_way).unwrap_err().to_string();
    assert_eq!(
        error,
        "link[0].middlebox[0].direction: a one-way link has no reverse direction"
    );
}
