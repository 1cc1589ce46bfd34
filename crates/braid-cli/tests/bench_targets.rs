//! The project's performance targets, asserted on the simulator (exact and
//! deterministic): each test runs only the `braid bench` cases its target is judged
//! on. Targets braid does not meet yet are `#[ignore]`d with the measured numbers
//! and what limits them; `cargo test -p braid-cli --test bench_targets -- --ignored`
//! runs them. `braid bench` prints every case.

use braid_cli::bench::aggregation::{self, Buffer, Family, Transport};
use braid_cli::bench::{fairness, handover, parallel_map};
use braid_proto::sched::SchedulerKind;
use braid_proto::time::Duration;

const SEED: u64 = braid_cli::bench::DEFAULT_SEED;

fn aggregation_runs(
    family: Family,
    lossless_only: bool,
    buffers: &[Buffer],
    transports: &[Transport],
) -> Vec<(String, Buffer, Transport, f64)> {
    let cases: Vec<aggregation::Case> = aggregation::cases()
        .into_iter()
        .filter(|c| c.family == family && (!lossless_only || c.loss == [0.0, 0.0]))
        .collect();
    let mut jobs = Vec::new();
    for c in &cases {
        for &b in buffers {
            for &t in transports {
                jobs.push((c, b, t));
            }
        }
    }
    parallel_map(&jobs, |&(c, b, t)| {
        let r = aggregation::run_one(c, b, t, SEED).unwrap_or_else(|e| panic!("{e:#}"));
        (c.name.clone(), b, t, r.fraction)
    })
}

#[test]
#[ignore = "target not met: lowest-rtt at 2·RTT_max·Σbw reaches 89.4% (10+10, 0/0 ms), 89.5% (1/25), 89.5% (25/1), 84.4% (15+5, 0/0), 90.4% (1/25), 89.5% (25/1) of the link sum; the wire allows at most 94.7% (1420 payload bytes per 1500-byte packet with timestamps and a 28-octet DSS, as Linux sends it), less with the other direction's ACKs on the same links; the rest is window blocking (no packet is dropped in these cases)"]
fn aggregation_reaches_95_percent_on_every_simult_flows_case() {
    let low = simult_flows_below(0.95);
    assert!(low.is_empty(), "below 95% of the link sum: {low:?}");
}

/// What Linux's own simult_flows selftest accepts (about 85% of the link sum), as a
/// floor while the 95% target is out of reach: each subflow's in-flight cap leaves
/// out the queue its ACKs wait in behind the other direction's data
/// (tcp/return_delay.rs), its delivery rate is bounded by the rate its bytes left at,
/// and penalisation looks at its own queue only. Before those three the six cases
/// reached 77.9-91.1%; then 85.8-90.5%.
#[test]
#[ignore = "target not met since the RFC 8684 §3.3.5 window fix (a DATA_ACK below the acknowledged data still moves the right edge): 15+5 Mbit/s 0/0 ms with a 64 KiB buffer reaches 84.4% of the link sum (85.8% before); the other five cases 89.4-90.4%"]
fn aggregation_reaches_linux_selftest_level_on_every_simult_flows_case() {
    let low = simult_flows_below(0.85);
    assert!(low.is_empty(), "below 85% of the link sum: {low:?}");
}

/// The simult_flows cases at 2·RTT_max·Σbw under lowest-rtt that reach less than
/// `fraction` of the link sum.
fn simult_flows_below(fraction: f64) -> Vec<(String, Buffer, Transport, f64)> {
    let runs = aggregation_runs(
        Family::SimultFlows,
        false,
        &[Buffer::TwoRttMaxSum],
        &[Transport::Mptcp(SchedulerKind::LowestRtt)],
    );
    assert_eq!(runs.len(), 6);
    runs.into_iter().filter(|r| r.3 < fraction).collect()
}

/// Opportunistic reinjection and penalisation (Raiciu et al., NSDI 2012) in the
/// default scheduler: over Wi-Fi + cellular with the window at RTT_max·Σbw and twice
/// that, the slow path's data holds the window's left edge and the slow path is
/// penalised while it keeps a queue (at RTT_max·Σbw the in-flight cap now keeps it
/// from building one). Without that lowest-rtt reached 69.6% and 68.7% (no better
/// than Wi-Fi alone, 67.8% and 67.4%); now 84.7% and 90.4%. (At RTT_max·Σbw it was
/// 88.0% until a path's round trip was held to two thirds of the time the window
/// lasts: cellular's RTT is then always too long for more than 5 ms of queue and
/// ramps up more slowly; the same rule raised the simult_flows cases to
/// 85.8-90.5%.) With 1% loss on cellular, data cellular is repairing is sent again
/// on Wi-Fi, where the copy should arrive first.
#[test]
fn lowest_rtt_penalises_the_slow_path_and_beats_wifi_alone_by_far() {
    let wifi_cellular = |loss: bool| {
        aggregation::cases()
            .into_iter()
            .find(|c| c.family == Family::WifiCellular && (c.loss != [0.0, 0.0]) == loss)
            .expect("the Wi-Fi + cellular cases")
    };
    let jobs = [
        (wifi_cellular(false), Buffer::RttMaxSum),
        (wifi_cellular(false), Buffer::TwoRttMaxSum),
        (wifi_cellular(true), Buffer::TwoRttMaxSum),
    ];
    let runs = parallel_map(&jobs, |(case, b)| {
        aggregation::run_one(case, *b, Transport::Mptcp(SchedulerKind::LowestRtt), SEED)
            .unwrap_or_else(|e| panic!("{e:#}"))
    });
    let counters = |r: &aggregation::RunResult| {
        let client = r.report.connections[0].client.as_ref().expect("the client");
        client.mptcp.as_ref().expect("MPTCP").counters
    };
    let penalties: Vec<u64> = runs[..2].iter().map(|r| counters(r).penalties).collect();
    assert!(
        penalties.iter().any(|&p| p > 0),
        "no penalty: {penalties:?}"
    );
    for r in &runs[..2] {
        assert!(
            r.fraction >= 0.84,
            "{:?}: {:.1}% of the link sum",
            r.buffer,
            r.fraction * 100.0
        );
    }
    let lossy = counters(&runs[2]);
    assert!(
        lossy.opportunistic_bytes > 0,
        "no copy with loss on cellular: {lossy:?}"
    );
}

/// While the peer's window limits the connection, each subflow keeps to about twice
/// its bandwidth-delay product (sched/sharing), so the one the scheduler
/// prefers cannot take the whole window into its queue. On 10+10 Mbit/s at 0/0 ms
/// with a 64 KiB window, both directions at once, every scheduler reached 47–83%
/// without that rule (blest 60.1%, ecf 59.4%, redundant 47.2%); with it 87–91%.
#[test]
fn subflows_share_a_short_window_under_every_scheduler() {
    let case = aggregation::cases()
        .into_iter()
        .find(|c| {
            c.family == Family::SimultFlows && c.rates_mbit == [10, 10] && c.delays_ms == [0, 0]
        })
        .expect("the 10+10 Mbit/s 0/0 ms case");
    let runs = parallel_map(&aggregation::SCHEDULERS, |&s| {
        let r = aggregation::run_one(&case, Buffer::MaxBdp, Transport::Mptcp(s), SEED)
            .unwrap_or_else(|e| panic!("{e:#}"));
        (s, r.fraction)
    });
    for (scheduler, fraction) in runs {
        assert!(
            fraction >= 0.85,
            "{}: {:.1}% of the link sum",
            scheduler.name(),
            fraction * 100.0
        );
    }
}

/// 90.3% (63.2 of 70 Mbit/s; TCP over Wi-Fi alone 68.0%). It was 88.9% while Wi-Fi's
/// slow start overshot its 250 KB queue (212 drops): the ACK-train signal now ends
/// slow start once a round takes longer than the minimum RTT to cross the link.
#[test]
fn aggregation_reaches_90_percent_over_wifi_and_cellular() {
    let runs = aggregation_runs(
        Family::WifiCellular,
        true,
        &[Buffer::TwoRttMaxSum],
        &[Transport::Mptcp(SchedulerKind::LowestRtt)],
    );
    assert_eq!(runs.len(), 1);
    assert!(runs[0].3 >= 0.90, "{runs:?}");
}

#[test]
#[ignore = "target not met: lowest-rtt is below TCP over the better path in 2 of the 18 lossless case/buffer pairs (15+5 1/25 ms and Wi-Fi + cellular, at max-BDP), where MPTCP uses the better path alone and loses exactly the DSS overhead (1420 vs 1448 payload bytes per packet: 70.6% vs 72.0%, 66.7% vs 68.0%), which lowest-rtt cannot win back without the second path"]
fn aggregation_is_never_below_the_best_single_path() {
    let mut below = Vec::new();
    for family in [Family::SimultFlows, Family::WifiCellular] {
        let runs = aggregation_runs(
            family,
            false,
            &Buffer::ALL,
            &[
                Transport::Mptcp(SchedulerKind::LowestRtt),
                Transport::Tcp(0),
                Transport::Tcp(1),
            ],
        );
        for chunk in runs.chunks(3) {
            let best = chunk[1].3.max(chunk[2].3);
            if chunk[0].3 < best {
                below.push(format!(
                    "{} at {}: {:.1}% < {:.1}%",
                    chunk[0].0,
                    chunk[0].1.name(),
                    100.0 * chunk[0].3,
                    100.0 * best
                ));
            }
        }
    }
    assert!(below.is_empty(), "{below:#?}");
}

/// The handover cases a target is judged on: every scheduler with the default path
/// manager, and the default scheduler with the others.
fn handover_runs(failure: handover::Failure) -> Vec<handover::RunResult> {
    let cases: Vec<handover::Case> = handover::cases()
        .into_iter()
        .filter(|c| {
            c.failure == failure
                && (c.pm == handover::PmSetting::Default || c.scheduler == SchedulerKind::LowestRtt)
        })
        .collect();
    assert_eq!(cases.len(), 7);
    parallel_map(&cases, |c| {
        handover::run_one(c, SEED).unwrap_or_else(|e| panic!("{e:#}"))
    })
}

#[track_caller]
fn nothing_lost(runs: &[handover::RunResult]) {
    for r in runs {
        assert_eq!(r.bytes_lost(), 0, "{:?}", r.case);
        assert!(r.intact, "SHA-256 differs: {:?}", r.case);
        assert_eq!(r.pattern_errors, 0, "{:?}", r.case);
    }
}

#[test]
fn handover_with_a_link_down_event_waits_at_most_the_cellular_rtt_plus_50ms() {
    let runs = handover_runs(handover::Failure::LinkDown);
    nothing_lost(&runs);
    for r in &runs {
        let gap = r.gap().expect("a wait after the failure");
        let srtt = r.srtt_at_gap_end.expect("the cellular subflow's srtt");
        assert!(
            gap <= srtt + Duration::from_millis(50),
            "{:?}: gap {gap}, cellular srtt {srtt}",
            r.case
        );
    }
}

#[test]
fn handover_of_a_silent_failure_waits_at_most_1s() {
    let runs = handover_runs(handover::Failure::Silent);
    nothing_lost(&runs);
    for r in &runs {
        let gap = r.gap().expect("a wait after the failure");
        assert!(gap <= Duration::from_secs(1), "{:?}: gap {gap}", r.case);
    }
}

#[test]
fn coupled_controllers_take_half_the_bottleneck() {
    let cases: Vec<fairness::Case> = fairness::cases()
        .into_iter()
        .filter(|c| fairness::COUPLED.contains(&c.cc))
        .collect();
    assert_eq!(cases.len(), 6);
    let runs = parallel_map(&cases, |c| {
        fairness::run_one(c, SEED).unwrap_or_else(|e| panic!("{e:#}"))
    });
    for r in &runs {
        assert!(
            (0.40..=0.60).contains(&r.share()),
            "{:?}: MPTCP share {:.1}%",
            r.case,
            100.0 * r.share()
        );
    }
}
