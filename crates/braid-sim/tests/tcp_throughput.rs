//! braid's TCP on simulated links, throughput asserted exactly (the simulator is
//! deterministic: these numbers are the same on every machine).

mod common;

use braid_sim::report::{Integrity, TransferReport};
use braid_sim::scenario::spec::{
    App, Cc, Connection, Link, LinkParams, Mptcp, ScheduleEntry, State, Tcp,
};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{Capture, RunOptions, Scenario};
use common::{ms, secs, two_hosts};

/// One bulk transfer of `bytes` from client to server over a 100 Mbit/s, 10 ms duplex
/// link with `link`'s other parameters, with TCP settings `tcp`. Returns the upload's
/// report.
fn bulk(bytes: Size, link: Link, tcp: Tcp, seed: u64) -> TransferReport {
    bulk_over(link.rate(Rate::mbit(100)).delay(ms(10)), bytes, tcp, seed)
}

/// [`bulk`] over `link` as given (its rate and delay included).
fn bulk_over(link: Link, bytes: Size, tcp: Tcp, seed: u64) -> TransferReport {
    let link = link.name("path");
    let spec = two_hosts(link)
        .duration(secs(120))
        // TCP's own numbers: no DSS overhead.
        .mptcp(Mptcp::default().enabled(false))
        .tcp(tcp)
        .connection(Connection::new("client", "server", App::Bulk { bytes }));
    let scenario = Scenario::from_spec(spec).unwrap_or_else(|e| panic!("{e}"));
    let result = scenario
        .run(&RunOptions {
            seed: Some(seed),
            capture: Capture::None,
        })
        .unwrap();
    let upload = result.report.connections[0].upload.clone();
    assert_eq!(upload.integrity, Integrity::Intact, "{upload:?}");
    assert_eq!(upload.bytes_delivered, upload.bytes_written);
    upload
}

/// 100 Mbit/s, 20 ms RTT: the bandwidth-delay product is 250 kB.
const BDP: u64 = 250_000;

#[test]
fn one_connection_fills_a_100_mbit_path_with_a_two_bdp_buffer() {
    // Both the bottleneck queue and the receive buffer hold 2·BDP.
    let queue = Link::default().queue(Size::bytes(2 * BDP));
    let tcp = Tcp::default()
        .cc(Cc::Cubic)
        .recv_buffer(Size::bytes(2 * BDP));
    let upload = bulk(Size::mb(100), queue, tcp, 1);
    let goodput = upload.goodput_bps.unwrap();
    // 95 Mbit/s of application data: 98.4% of the 96.5 Mbit/s that fits in
    // 1500-octet packets once IP, TCP and timestamps take their 52 octets.
    assert!(goodput >= 95e6, "goodput {goodput}");
    assert_eq!(upload.rto_count, 0);
}

#[test]
fn cubic_with_sack_beats_the_mathis_bound_at_one_percent_loss() {
    // RFC 3649/Mathis et al.: Reno averages 1.22·MSS / (RTT·√p).
    let mss_bits = 1448.0 * 8.0;
    let mathis = 1.22 * mss_bits / (0.020 * 0.01f64.sqrt());
    for seed in 1..=3 {
        let link = Link::default()
            .queue(Size::bytes(500_000))
            .forward(LinkParams::default().loss(0.01));
        let upload = bulk(Size::mb(20), link, Tcp::default().cc(Cc::Cubic), seed);
        let goodput = upload.goodput_bps.unwrap();
        assert!(
            goodput >= mathis,
            "seed {seed}: {goodput:.0} bit/s < Mathis {mathis:.0}"
        );
        assert!(upload.retransmitted_segments > 0);
    }
}

#[test]
fn rfc6298_an_outage_is_ridden_out_with_backed_off_timeouts() {
    // The path goes down for 5 s, one second into a 30 MB transfer.
    let link = Link::default()
        .queue(Size::bytes(500_000))
        .schedule(ScheduleEntry::at(secs(1)).state(State::Down))
        .schedule(ScheduleEntry::at(secs(6)).state(State::Up));
    let upload = bulk(Size::mb(30), link, Tcp::default().cc(Cc::Cubic), 1);
    assert!(upload.rto_count >= 3, "RTOs {}", upload.rto_count);
    let gap = upload.max_gap_us.unwrap();
    // The outage, then at most one backed-off RTO (≤ 3.2 s after five doublings of
    // the 200 ms floor) before the first retransmission gets through.
    assert!((5_000_000..9_000_000).contains(&gap), "gap {gap} us");
}

#[test]
fn cubic_leaves_slow_start_before_a_one_bdp_queue_overflows() {
    // The bench's Wi-Fi and cellular paths alone, a drop-tail queue of one
    // bandwidth-delay product, a receive window that never limits. Plain TCP's
    // ACK-train threshold, Linux's half minimum RTT, ends slow start before the
    // queue overflows; with the whole minimum RTT, as MPTCP subflows have it, the
    // queue dropped 220 and 68 segments (docs/tuning.md, "HyStart's ACK-train
    // threshold").
    for (rate, delay, bdp, at_most) in [
        (Rate::mbit(50), ms(10), 125_000, 3),
        (Rate::mbit(20), ms(30), 150_000, 0),
    ] {
        let link = Link::default()
            .rate(rate)
            .delay(delay)
            .queue(Size::bytes(bdp));
        let tcp = Tcp::default().cc(Cc::Cubic).recv_buffer(Size::mib(6));
        let upload = bulk_over(link, Size::mb(10), tcp, 1);
        assert!(
            upload.retransmitted_segments <= at_most,
            "{rate:?}: {} segments retransmitted",
            upload.retransmitted_segments
        );
        assert_eq!(upload.rto_count, 0);
    }
}
