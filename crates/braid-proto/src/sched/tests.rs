use super::*;

fn info(id: u32, rtt_ms: Option<u64>, room: u64, backup: bool) -> SubflowInfo {
    SubflowInfo {
        id: SubflowId(id),
        srtt: rtt_ms.map(Duration::from_millis),
        min_rtt: rtt_ms.map(Duration::from_millis),
        room,
        cwnd: 14_200,
        in_flight: 14_200u64.saturating_sub(room),
        mss: 1420,
        backup,
        usable: true,
    }
}

fn ctx(waiting: u64, send_window: u64) -> SchedContext {
    SchedContext {
        waiting,
        send_window,
    }
}

#[test]
fn lowest_rtt_with_room_wins_and_unmeasured_rank_last() {
    let mut s = LowestRtt;
    let c = SchedContext::default();
    let subflows = [
        info(0, Some(30), 1000, false),
        info(1, Some(10), 1000, false),
        info(2, None, 1000, false),
    ];
    assert_eq!(s.pick(&subflows, &c), Some(SubflowId(1)));
    let full = [info(0, Some(30), 1000, false), info(1, Some(10), 0, false)];
    assert_eq!(s.pick(&full, &c), Some(SubflowId(0)));
    let unmeasured = [info(2, None, 10, false), info(3, None, 10, false)];
    assert_eq!(s.pick(&unmeasured, &c), Some(SubflowId(2)));
}

#[test]
fn rfc8684_s3_3_8_backups_only_when_no_regular_subflow_is_usable() {
    let c = SchedContext::default();
    let subflows = [info(0, Some(50), 0, false), info(1, Some(5), 1000, true)];
    let mut failed = subflows;
    failed[0].usable = false;
    for kind in ["lowest-rtt", "blest", "ecf", "redundant", "round-robin"] {
        let mut s = kind.parse::<SchedulerKind>().unwrap().build();
        // A faster backup is not used while a regular subflow exists, even a full one.
        assert_eq!(s.pick(&subflows, &c), None, "{kind}");
        assert_eq!(s.pick(&failed, &c), Some(SubflowId(1)), "{kind}");
    }
}

#[test]
fn round_robin_takes_turns_among_subflows_with_room() {
    let mut s = RoundRobin::default();
    let c = SchedContext::default();
    let subflows = [
        info(0, Some(10), 100, false),
        info(1, Some(50), 100, false),
        info(2, Some(20), 0, false),
    ];
    let picks: Vec<_> = (0..4).map(|_| s.pick(&subflows, &c).unwrap().0).collect();
    assert_eq!(picks, [0, 1, 0, 1]);
}

#[test]
fn blest_leaves_a_slow_subflow_idle_when_it_would_block_the_window() {
    let mut s = Blest::default();
    // Fast (10 ms) full, slow (100 ms) has room.
    let subflows = [
        info(0, Some(10), 0, false),
        info(1, Some(100), 14_200, false),
    ];
    // In one slow RTT the fast subflow sends about (10 + 4.5) * 10 segments: far more
    // than a 64 KB window leaves: wait.
    assert_eq!(s.pick(&subflows, &ctx(1 << 20, 64 << 10)), None);
    // A window of 4 MB has room for both.
    assert_eq!(
        s.pick(&subflows, &ctx(1 << 20, 4 << 20)),
        Some(SubflowId(1))
    );
}

#[test]
fn ecf_waits_for_the_fast_subflow_when_that_finishes_sooner() {
    let mut s = Ecf::default();
    let subflows = [
        info(0, Some(10), 0, false),
        info(1, Some(100), 14_200, false),
    ];
    // Two segments waiting: the fast subflow finishes them within 1.2 of its RTTs,
    // far sooner than one slow RTT.
    assert_eq!(s.pick(&subflows, &ctx(2840, 1 << 30)), None);
    // 2 MB waiting: the fast subflow alone needs many RTTs: use the slow one too.
    assert_eq!(
        s.pick(&subflows, &ctx(2 << 20, 1 << 30)),
        Some(SubflowId(1))
    );
}

#[test]
fn redundant_asks_for_copies_and_names_parse() {
    assert!(SchedulerKind::Redundant.build().redundant());
    assert!(!SchedulerKind::LowestRtt.build().redundant());
    assert_eq!("aggregate".parse(), Ok(SchedulerKind::Blest));
    assert_eq!("interactive".parse(), Ok(SchedulerKind::Ecf));
    assert_eq!("handover".parse(), Ok(SchedulerKind::LowestRtt));
    let e = "fastest".parse::<SchedulerKind>().unwrap_err().to_string();
    assert!(e.contains("lowest-rtt, blest"), "{e}");
}

#[test]
fn an_idle_subflow_ranks_by_its_minimum_rtt_not_a_queue_that_drained() {
    // Subflow 1 last carried data behind a 60 ms queue; it is idle now, so the next
    // segment sees its 5 ms path, not the 65 ms it measured then.
    let busy = SubflowInfo {
        srtt: Some(Duration::from_millis(30)),
        min_rtt: Some(Duration::from_millis(2)),
        ..info(0, Some(30), 1000, false)
    };
    let idle = SubflowInfo {
        srtt: Some(Duration::from_millis(65)),
        min_rtt: Some(Duration::from_millis(5)),
        in_flight: 0,
        ..info(1, Some(65), 14_200, false)
    };
    assert_eq!(idle.rtt(), Some(Duration::from_millis(5)));
    assert_eq!(busy.rtt(), Some(Duration::from_millis(30)));
    let c = SchedContext::default();
    assert_eq!(LowestRtt.pick(&[busy, idle], &c), Some(SubflowId(1)));
    // Once it has data in flight, its smoothed RTT counts again.
    let loaded = SubflowInfo {
        in_flight: 1420,
        ..idle
    };
    assert_eq!(LowestRtt.pick(&[busy, loaded], &c), Some(SubflowId(0)));
    assert!(LowestRtt.opportunistic_reinjection());
    assert!(!Blest::default().opportunistic_reinjection());
}
