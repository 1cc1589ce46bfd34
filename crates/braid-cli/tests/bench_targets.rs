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
#[ignore = "target not met: lowest-rtt at 2·RTT_max·Σbw reaches 83.1% (10+10, 0/0 ms), 75.1% (1/25), 76.6% (25/1), 80.5% (15+5, 0/0), 83.4% (1/25), 78.2% (25/1) of the link sum; the wire allows at most 94.7% (1420 payload bytes per 1500-byte packet with timestamps and a 28-octet DSS, as Linux sends it), less with the other direction's ACKs on the same links; the rest is window blocking that opportunistic reinjection and penalisation reduce but do not remove"]
fn aggregation_reaches_95_percent_on_every_simult_flows_case() {
    let runs = aggregation_runs(
        Family::SimultFlows,
        false,
        &[Buffer::TwoRttMaxSum],
        &[Transport::Mptcp(SchedulerKind::LowestRtt)],
    );
    assert_eq!(runs.len(), 6);
    let low: Vec<_> = runs.iter().filter(|r| r.3 < 0.95).collect();
    assert!(low.is_empty(), "below 95% of the link sum: {low:?}");
}

/// Opportunistic reinjection and penalisation (Raiciu et al., NSDI 2012) in the
/// default scheduler: over Wi-Fi + cellular with the window at RTT_max·Σbw and twice
/// that, the slow path's data holds the window's left edge; the fast path re-sends it
/// and the slow path is penalised. Without them lowest-rtt reached 69.6% and 68.7%
/// (no better than Wi-Fi alone, 67.8% and 67.4%); with them 81.7% and 88.3%.
#[test]
fn lowest_rtt_penalises_the_slow_path_and_beats_wifi_alone_by_far() {
    let case = aggregation::cases()
        .into_iter()
        .find(|c| c.family == Family::WifiCellular && c.loss == [0.0, 0.0])
        .expect("the Wi-Fi + cellular case");
    let buffers = [Buffer::RttMaxSum, Buffer::TwoRttMaxSum];
    let runs = parallel_map(&buffers, |&b| {
        aggregation::run_one(&case, b, Transport::Mptcp(SchedulerKind::LowestRtt), SEED)
            .unwrap_or_else(|e| panic!("{e:#}"))
    });
    for r in &runs {
        let client = r.report.connections[0].client.as_ref().expect("the client");
        let counters = &client.mptcp.as_ref().expect("MPTCP").counters;
        assert!(
            counters.opportunistic_bytes > 0 && counters.penalties > 0,
            "{:?}: {counters:?}",
            r.buffer
        );
        assert!(
            r.fraction >= 0.80,
            "{:?}: {:.1}% of the link sum",
            r.buffer,
            r.fraction * 100.0
        );
    }
}

#[test]
#[ignore = "target not met: lowest-rtt at 2·RTT_max·Σbw (1.05 MB) reaches 88.3% (61.8 of 70 Mbit/s; TCP over Wi-Fi alone 67.4%): in steady state the paths carry 47.5 + 19 Mbit/s (95%); the first second is lost to the join (two cellular RTTs after the server shows it has the keys) and the cellular slow start"]
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
#[ignore = "target not met: lowest-rtt is below TCP over the better path in 9 of 24 case/buffer pairs; in 3 of them (15+5 1/25 ms and Wi-Fi + cellular with and without loss, at max-BDP) MPTCP uses the better path alone and loses exactly the DSS overhead (1420 vs 1448 payload bytes per packet: 70.6% vs 72.0%, 66.7% vs 68.0%), which no scheduler can win back without the second path; the others are window blocking at small buffers: 10+10 1/25 and 25/1 ms at max-BDP 46.8% and 45.4% < 48.0%, 15+5 1/25 ms at RTT_max·Σbw 69.7% < 71.8%, 15+5 25/1 ms at max-BDP 53.1% < 63.1% and at RTT_max·Σbw 62.3% < 66.7%, Wi-Fi + 1%-loss cellular at RTT_max·Σbw 63.7% < 67.8%"]
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
