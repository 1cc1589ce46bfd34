//! MPTCP through the middleboxes of RFC 8684 §3.7, between two braid hosts in the
//! simulator: options stripped on the SYN, the SYN-ACK, the third ACK or mid-stream
//! (fallback to TCP), segments split and coalesced and sequence numbers rewritten
//! (MPTCP continues), payload rewritten (undetectable without DSS checksums). Every
//! case checks the application's bytes both ways, and what was on the wire.

use std::cell::RefCell;
use std::rc::Rc;

use braid_proto::time::Duration;
use braid_proto::wire::tcp_option::mptcp_options;
use braid_proto::wire::{ChecksumCheck, IpRepr, TcpRepr};
use braid_sim::middlebox::{
    PayloadRewriter, Rewrite, SegmentCoalescer, SegmentSplitter, Select, SeqRewriter, StripMptcp,
    Tap, Which,
};
use braid_sim::report::{ConnectionReport, Integrity, Report};
use braid_sim::scenario::spec::{App, Connection, Host, Link, Mptcp, ScenarioSpec, Tcp};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{Built, Scenario};
use braid_sim::{LinkId, Simulator};

/// Request/response both ways over one lossy path, so that retransmissions cross the
/// middleboxes too; `mptcp` is the `[mptcp]` table.
fn scenario_with(mptcp: Mptcp) -> Scenario {
    let ip = |a: &str| a.parse().unwrap();
    let exchanges = App::RequestResponse {
        request: Size::kb(300),
        response: Size::kb(700),
        count: Some(3),
    };
    let lossy = Link::between("client", "server")
        .rate(Rate::mbit(20))
        .delay(Duration::from_millis(5))
        .loss(0.005)
        // Jumbo frames leave room for coalesced segments.
        .mtu(9000);
    let spec = ScenarioSpec::new("middleboxes")
        .duration(Duration::from_secs(60))
        // Segments as on Ethernet.
        .tcp(Tcp::default().mss(1460))
        .mptcp(mptcp)
        .host(Host::new("client").address(ip("10.0.1.1")))
        .host(Host::new("server").address(ip("10.0.1.2")))
        .link(lossy)
        .connection(Connection::new("client", "server", exchanges));
    Scenario::from_spec(spec).unwrap()
}

fn scenario() -> Scenario {
    scenario_with(Mptcp::default())
}

/// What the taps saw on the data segments after the handshake.
#[derive(Debug, Default, Clone, Copy)]
struct Wire {
    /// Data segments carrying a DSS (or MP_CAPABLE with data).
    mapped: u64,
    /// Data segments with no MPTCP option at all.
    plain: u64,
}

fn tap(wire: Rc<RefCell<Wire>>) -> impl braid_sim::Middlebox {
    Tap::new(move |_, packet: &[u8]| {
        let Ok((_, payload)) = IpRepr::parse(packet) else {
            return;
        };
        let Ok(tcp) = TcpRepr::parse(payload.payload, ChecksumCheck::Skip) else {
            return;
        };
        if tcp.payload.is_empty() {
            return;
        }
        let mut w = wire.borrow_mut();
        if mptcp_options(tcp.options).next().is_some() {
            w.mapped += 1;
        } else {
            w.plain += 1;
        }
    })
}

/// Runs the scenario with `setup` adding middleboxes to the forward and reverse
/// links; taps after them record what arrives.
fn run_with(setup: impl FnOnce(&mut Simulator, LinkId, LinkId)) -> (ConnectionReport, Wire, Built) {
    let (report, wire, built) = run_scenario(scenario(), setup);
    (report.connections[0].clone(), wire, built)
}

fn run_scenario(
    scenario: Scenario,
    setup: impl FnOnce(&mut Simulator, LinkId, LinkId),
) -> (Report, Wire, Built) {
    let mut built = scenario.build(1);
    let (fwd, rev) = (built.links[0].0, built.links[1].0);
    setup(&mut built.sim, fwd, rev);
    let wire = Rc::new(RefCell::new(Wire::default()));
    built.sim.add_middlebox(fwd, tap(wire.clone()));
    built.sim.add_middlebox(rev, tap(wire.clone()));
    let outcome = built.run(Duration::from_secs(60), true);
    let report = built.report("test", outcome, &[]);
    let w = *wire.borrow();
    (report, w, built)
}

fn assert_intact(c: &ConnectionReport) {
    for (t, bytes) in [(&c.upload, 900_000), (&c.download, 2_100_000)] {
        assert_eq!(t.bytes_delivered, bytes, "{} -> {}", t.from, t.to);
        assert_eq!(t.integrity, Integrity::Intact, "{} -> {}", t.from, t.to);
    }
}

#[test]
fn mptcp_runs_end_to_end_on_a_clean_path() {
    let (c, wire, _) = run_with(|_, _, _| {});
    assert_intact(&c);
    assert_eq!(wire.plain, 0, "{wire:?}");
}

#[test]
fn rfc8684_s3_7_mp_capable_stripped_from_the_syn_gives_plain_tcp() {
    let (c, wire, _) = run_with(|sim, fwd, _| sim.add_middlebox(fwd, StripMptcp::new(Which::Syn)));
    assert_intact(&c);
    assert_eq!(wire.mapped, 0, "{wire:?}");
}

#[test]
fn rfc8684_s3_7_mp_capable_stripped_from_the_syn_ack_gives_plain_tcp() {
    let (c, wire, _) =
        run_with(|sim, _, rev| sim.add_middlebox(rev, StripMptcp::new(Which::SynAck)));
    assert_intact(&c);
    // The client fell back at the SYN-ACK; the server at the third ACK.
    assert_eq!(wire.mapped, 0, "{wire:?}");
}

#[test]
fn rfc8684_s3_7_mp_capable_stripped_from_the_third_ack_gives_plain_tcp() {
    let (c, wire, _) =
        run_with(|sim, fwd, _| sim.add_middlebox(fwd, StripMptcp::new(Which::ThirdAck)));
    assert_intact(&c);
    // The client's first flight (an initial window) still carries MP_CAPABLE or DSS
    // before it sees the server's plain segments; after that, nothing.
    assert!(wire.mapped <= 10, "{wire:?}");
}

#[test]
fn rfc8684_s3_7_options_stripped_mid_stream_reset_the_subflow_rather_than_risk_the_stream() {
    // Once MPTCP ran, data without its mapping cannot be placed safely: the sender
    // still maps its data (and may send some again at the data level), so taking
    // the bytes as the stream's continuation could deliver a retransmission as new
    // data. The server resets the subflow (MP_TCPRST "middlebox interference"), as
    // Linux does; with no other path the connection ends in error, and what was
    // delivered is exactly what was written, up to where it stopped.
    // Each end then waits a close timeout for a subflow to come back; none can.
    let patient = Mptcp::default().close_timeout(Duration::from_secs(5));
    let (report, wire, _) = run_scenario(scenario_with(patient), |sim, fwd, _| {
        sim.add_middlebox(fwd, StripMptcp::new(Which::FromDataSegment(150)))
    });
    let c = &report.connections[0];
    assert_eq!(c.upload.integrity, Integrity::Incomplete, "{:?}", c.upload);
    assert!(c.upload.bytes_delivered > 100_000, "{:?}", c.upload);
    assert_ne!(c.download.integrity, Integrity::Corrupt, "{:?}", c.download);
    let reason = |side: &Option<braid_sim::report::SideReport>| {
        side.as_ref().expect("both ends ran").close_reason.clone()
    };
    assert_eq!(reason(&c.client).as_deref(), Some("Reset"));
    assert_eq!(reason(&c.server).as_deref(), Some("ProtocolError"));
    let server = c.server.as_ref().unwrap().mptcp.as_ref().expect("MPTCP");
    assert_eq!(server.counters.middlebox_resets, 1);
    // Closed after the close timeout, not before.
    let reset_at = server.subflows[0].closed_us.expect("the subflow was reset");
    let closed_at = c.server.as_ref().unwrap().closed_us.expect("closed");
    assert!(
        (5_000_000..5_500_000).contains(&(closed_at - reset_at)),
        "{reset_at} {closed_at}"
    );
    assert!(wire.mapped >= 140, "{wire:?}");
}

#[test]
fn rfc8684_s3_3_1_mappings_survive_split_segments() {
    let (c, wire, _) = run_with(|sim, fwd, rev| {
        sim.add_middlebox(fwd, SegmentSplitter::new(300));
        sim.add_middlebox(rev, SegmentSplitter::new(500));
    });
    assert_intact(&c);
    assert_eq!(wire.plain, 0, "MPTCP stays on: {wire:?}");
}

#[test]
fn rfc8684_s3_3_1_mappings_survive_coalesced_segments() {
    let (c, wire, built) = run_with(|sim, fwd, rev| {
        sim.add_middlebox(fwd, SegmentCoalescer::new(4000, Duration::from_millis(1)));
        sim.add_middlebox(rev, SegmentCoalescer::new(4000, Duration::from_millis(1)));
    });
    assert_intact(&c);
    assert_eq!(wire.plain, 0, "MPTCP stays on: {wire:?}");
    let merged = built.sim.middlebox::<SegmentCoalescer>(built.links[1].0, 0);
    assert!(merged.merged_sent > 50, "{}", merged.merged_sent);
}

#[test]
fn rfc8684_s3_3_mptcp_survives_rewritten_sequence_numbers() {
    let (c, wire, _) = run_with(|sim, fwd, rev| {
        sim.add_middlebox(fwd, SeqRewriter::new(7));
        sim.add_middlebox(rev, SeqRewriter::new(7));
    });
    assert_intact(&c);
    assert_eq!(wire.plain, 0, "{wire:?}");
}

/// Flips the byte at offset 10 of the 20th data segment on `link`.
fn corrupt_once(sim: &mut Simulator, link: LinkId) {
    let xor = Rewrite::Xor {
        offset: 10,
        mask: 0xff,
    };
    let rewrite = PayloadRewriter::new(Select::NthDataSegment(20), xor);
    sim.add_middlebox(link, rewrite.times(1));
}

#[test]
fn rfc8684_s3_3_1_without_checksums_a_rewritten_payload_goes_undetected() {
    // RFC 8684 §3.3.1 makes DSS checksums the only defence against payload-rewriting
    // middleboxes; off (Linux's default), the corruption reaches the application,
    // exactly as with TCP.
    let (c, _, _) = run_with(|sim, fwd, _| corrupt_once(sim, fwd));
    assert_eq!(c.upload.bytes_delivered, 900_000);
    assert_ne!(c.upload.integrity, Integrity::Intact);
    assert_eq!(c.download.integrity, Integrity::Intact);
}

#[test]
fn rfc8684_s3_7_with_checksums_a_rewritten_payload_is_caught_and_the_stream_stays_intact() {
    // One path: the receiver's checksum fails, it sends MP_FAIL, the sender re-sends
    // from the failed mapping behind an infinite mapping, and both go on as TCP.
    let checksums = scenario_with(Mptcp::default().checksums(true));
    let (report, wire, _) = run_scenario(checksums, |sim, fwd, _| corrupt_once(sim, fwd));
    assert_intact(&report.connections[0]);
    assert!(wire.plain > 0, "plain TCP after the failure: {wire:?}");
    let server = report.connections[0].server.as_ref().unwrap();
    let m = server.mptcp.as_ref().unwrap();
    assert_eq!(m.counters.checksum_failures, 1);
    assert_eq!(m.counters.mp_fail_sent, 1);
    assert_eq!(m.counters.infinite_mappings_received, 1);
}
