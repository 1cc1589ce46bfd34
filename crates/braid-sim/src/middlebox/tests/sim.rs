//! The middleboxes on simulated paths, between two braid TCP endpoints: TCP (which
//! knows nothing of MPTCP options) must get every byte through the ones that keep the
//! byte stream, and must not notice the one that does not.

use std::net::SocketAddr;

use braid_proto::time::Duration;

use super::*;
use crate::report::{ConnectionReport, Integrity};
use crate::scenario::spec::{Link, Mptcp};
use crate::scenario::units::Size;
use crate::scenario::{testing, Built, Scenario};
use crate::sim::{LinkId, Simulator};

const CLIENT_V4: &str = "10.0.1.1";
const SERVER_V4: &str = "10.0.1.2";

/// A request/response exchange (data both ways) over one lossy path, with SACK, so
/// that retransmissions and SACK blocks cross the middleboxes too.
fn scenario(client: &str, server: &str) -> Scenario {
    let (client, server) = (client.parse().unwrap(), server.parse().unwrap());
    let lossy = Link::default().loss(0.01);
    let spec = testing::exchanges(client, server, lossy, Size::kb(60), Size::kb(150))
        .mptcp(Mptcp::default().enabled(false));
    Scenario::from_spec(spec).unwrap()
}

/// Runs the scenario with middleboxes added on the forward (client -> server) and
/// reverse links; returns the connection's report and the simulator.
fn run_with(
    scenario: &Scenario,
    setup: impl FnOnce(&mut Simulator, LinkId, LinkId),
) -> (ConnectionReport, Built) {
    let mut built = scenario.build(1);
    let (fwd, rev) = (built.links[0].0, built.links[1].0);
    setup(&mut built.sim, fwd, rev);
    let outcome = built.run(Duration::from_secs(60), true);
    let report = built.report("test", outcome, &[]);
    (report.connections[0].clone(), built)
}

fn assert_intact(c: &ConnectionReport) {
    for (t, bytes) in [(&c.upload, 120_000), (&c.download, 300_000)] {
        assert_eq!(t.bytes_delivered, bytes, "{} -> {}", t.from, t.to);
        assert_eq!(t.integrity, Integrity::Intact, "{} -> {}", t.from, t.to);
    }
}

#[test]
fn tcp_gets_through_split_and_coalesced_segments() {
    let (c, built) = run_with(&scenario(CLIENT_V4, SERVER_V4), |sim, fwd, rev| {
        sim.add_middlebox(fwd, SegmentSplitter::new(120));
        sim.add_middlebox(rev, SegmentCoalescer::new(1400, Duration::from_millis(1)));
    });
    assert_intact(&c);
    let split = built.sim.middlebox::<SegmentSplitter>(built.links[0].0, 0);
    assert!(split.segments_split > 100, "{}", split.segments_split);
    let merge = built.sim.middlebox::<SegmentCoalescer>(built.links[1].0, 0);
    assert!(merge.merged_sent > 10, "{}", merge.merged_sent);
}

#[test]
fn tcp_gets_through_sequence_rewriting_both_ways() {
    for (client, server) in [(CLIENT_V4, SERVER_V4), ("fd00::1", "fd00::2")] {
        let (c, built) = run_with(&scenario(client, server), |sim, fwd, rev| {
            // Two instances with one seed: one box for both directions.
            sim.add_middlebox(fwd, SeqRewriter::new(99));
            sim.add_middlebox(rev, SeqRewriter::new(99));
        });
        assert_intact(&c);
        let rewritten = built.sim.middlebox::<SeqRewriter>(built.links[1].0, 0);
        assert!(rewritten.packets_rewritten > 100);
        // Loss made the receivers send SACK blocks, which had to be shifted too.
        assert!(c.upload.retransmitted_segments + c.download.retransmitted_segments > 0);
    }
}

#[test]
fn tcp_gets_through_a_nat_that_translates_ports() {
    for (client, server, outside) in [
        (CLIENT_V4, SERVER_V4, "192.0.2.1"),
        ("fd00::1", "fd00::2", "2001:db8::1"),
    ] {
        let nat = Shared::new(
            Nat::new(client.parse().unwrap(), outside.parse().unwrap())
                .with_ports(61000..=61010, 16),
        );
        let (_, built) = run_with(&scenario(client, server), |sim, fwd, rev| {
            sim.add_middlebox(fwd, nat.clone());
            sim.add_middlebox(rev, nat.clone());
        });
        // The report pairs the two ends by address, which the NAT changed: compare
        // the hosts' own records.
        let one = |host: usize| {
            let mut records = built.host(host).connections();
            let r = records.next().expect("a connection").clone();
            assert!(records.next().is_none());
            r
        };
        let (client_end, server_end) = (one(0), one(1));
        let outside = SocketAddr::new(outside.parse().unwrap(), 61000);
        assert_eq!(server_end.remote, outside);
        assert_eq!(client_end.remote, server_end.local);
        for (from, to, bytes) in [
            (&client_end, &server_end, 120_000),
            (&server_end, &client_end, 300_000),
        ] {
            assert_eq!((from.sent.bytes, to.received.bytes), (bytes, bytes));
            assert_eq!(from.sent.sha256(), to.received.sha256());
        }
        let nat = nat.borrow();
        assert!(nat.translated_out > 100 && nat.translated_in > 100);
        assert_eq!(nat.dropped_unmapped, 0);
        // The same stage, found through the chain.
        let found = built.sim.middlebox::<Shared<Nat>>(built.links[1].0, 0);
        assert_eq!(found.borrow().translated_in, nat.translated_in);
    }
}

#[test]
fn tcp_does_not_notice_a_payload_rewrite() {
    let (c, built) = run_with(&scenario(CLIENT_V4, SERVER_V4), |sim, _fwd, rev| {
        let xor = Rewrite::Xor {
            offset: 3,
            mask: 0x40,
        };
        sim.add_middlebox(
            rev,
            PayloadRewriter::new(Select::NthDataSegment(50), xor).times(1),
        );
    });
    let rw = built.sim.middlebox::<PayloadRewriter>(built.links[1].0, 0);
    assert_eq!(rw.rewritten, 1);
    // Every byte delivered, no retransmission for it: the TCP checksum was right.
    assert_eq!(c.download.bytes_delivered, 300_000);
    assert_eq!(c.download.integrity, Integrity::Corrupt);
    assert_eq!(c.upload.integrity, Integrity::Intact);
}
