use super::*;

fn us(micros: u64) -> Instant {
    Instant::from_micros(micros)
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A packet of `len` bytes whose first four bytes number it.
fn pkt(id: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0; len.max(4)];
    p[..4].copy_from_slice(&id.to_be_bytes());
    p.truncate(len.max(4));
    p
}

fn id_of(p: &[u8]) -> u32 {
    u32::from_be_bytes(p[..4].try_into().unwrap())
}

/// Drives a link as the simulator does: offers at their times, polls at every
/// `next_event`. Returns the arrivals as (time, packet id).
fn drive(link: &mut Link, offers: Vec<(Instant, Vec<u8>)>) -> Vec<(Instant, u32)> {
    let mut offers = offers.into_iter().peekable();
    let mut arrivals = Vec::new();
    for _ in 0..10_000_000 {
        let next_offer = offers.peek().map(|(t, _)| *t);
        match (next_offer, link.next_event()) {
            (Some(o), Some(e)) if e < o => poll_all(link, e, &mut arrivals),
            (Some(_), _) => {
                let (t, p) = offers.next().unwrap();
                link.offer(t, p);
            }
            (None, Some(e)) => poll_all(link, e, &mut arrivals),
            (None, None) => return arrivals,
        }
    }
    panic!("link never went idle");
}

fn poll_all(link: &mut Link, at: Instant, arrivals: &mut Vec<(Instant, u32)>) {
    while let Some(p) = link.poll(at) {
        arrivals.push((at, id_of(&p)));
    }
}

/// `n` packets of `len` bytes, one every `gap`, from time zero.
fn paced(n: u32, len: usize, gap: Duration) -> Vec<(Instant, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                Instant::ZERO + gap.saturating_mul(u64::from(i)),
                pkt(i, len),
            )
        })
        .collect()
}

fn assert_conserved(link: &Link) {
    let s = link.stats();
    assert_eq!(
        s.offered + s.duplicated,
        s.delivered + s.dropped() + link.in_transit(),
        "{s:?}"
    );
}

#[test]
fn exact_serialization_and_propagation_delay() {
    // 1500 bytes at 10 Mbit/s is 1.2 ms on the wire, then 10 ms of propagation.
    let cfg = LinkConfig::new().rate_bps(10_000_000).delay(ms(10));
    let mut l = Link::new(cfg, 1);
    assert_eq!(l.offer(Instant::ZERO, pkt(0, 1500)), Verdict::Accepted);
    assert_eq!(l.next_event(), Some(us(1_200)));
    assert_eq!(l.poll(us(1_200)), None);
    assert_eq!(l.next_event(), Some(us(11_200)));
    assert_eq!(l.poll(us(11_199)), None);
    let p = l.poll(us(11_200)).expect("arrives at exactly 11.2 ms");
    assert_eq!(p.len(), 1500);
    assert_eq!(l.next_event(), None);
    assert_eq!(l.stats().delivered.bytes, 1500);
}

#[test]
fn back_to_back_packets_serialize_one_after_another() {
    let cfg = LinkConfig::new().rate_bps(10_000_000).delay(ms(10));
    let mut l = Link::new(cfg, 1);
    let arrivals = drive(
        &mut l,
        (0..3).map(|i| (Instant::ZERO, pkt(i, 1500))).collect(),
    );
    assert_eq!(
        arrivals,
        vec![(us(11_200), 0), (us(12_400), 1), (us(13_600), 2)]
    );
}

#[test]
fn fractional_transmission_times_do_not_drift() {
    // 1000 bytes at 3 Mbit/s: 2666.67 us each; three back to back end at exactly 8 ms.
    let cfg = LinkConfig::new().rate_bps(3_000_000);
    let mut l = Link::new(cfg, 1);
    let arrivals = drive(
        &mut l,
        (0..3).map(|i| (Instant::ZERO, pkt(i, 1000))).collect(),
    );
    assert_eq!(
        arrivals,
        vec![(us(2_666), 0), (us(5_333), 1), (us(8_000), 2)]
    );
    // After an idle gap the remainder starts from zero again.
    let arrivals = drive(&mut l, vec![(us(100_000), pkt(9, 1000))]);
    assert_eq!(arrivals, vec![(us(102_666), 9)]);
}

#[test]
fn unlimited_rate_has_no_serialization_delay() {
    let mut l = Link::new(LinkConfig::new().delay(ms(3)), 1);
    let arrivals = drive(&mut l, (0..3).map(|i| (us(5), pkt(i, 1500))).collect());
    assert_eq!(
        arrivals,
        vec![(us(3_005), 0), (us(3_005), 1), (us(3_005), 2)]
    );
}

#[test]
fn drop_tail_queue_overflows() {
    // One packet on the wire, two in 3000 bytes of queue, seven dropped.
    let cfg = LinkConfig::new()
        .rate_bps(10_000_000)
        .delay(ms(1))
        .queue_bytes(3000);
    let mut l = Link::new(cfg, 1);
    let verdicts: Vec<Verdict> = (0..10)
        .map(|i| l.offer(Instant::ZERO, pkt(i, 1500)))
        .collect();
    assert_eq!(&verdicts[..3], &[Verdict::Accepted; 3]);
    assert_eq!(&verdicts[3..], &[Verdict::Dropped(DropCause::Queue); 7]);
    assert_eq!(
        l.stats().dropped_queue,
        Counter {
            packets: 7,
            bytes: 7 * 1500
        }
    );
    assert_eq!(l.stats().max_queue_bytes, 3000);
    let arrivals = drive(&mut l, vec![]);
    assert_eq!(
        arrivals.iter().map(|a| a.1).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    // Once the queue has drained there is room again.
    assert_eq!(l.offer(us(50_000), pkt(10, 1500)), Verdict::Accepted);
    assert_conserved(&l);
}

#[test]
fn zero_queue_sends_only_when_idle() {
    let cfg = LinkConfig::new().rate_bps(1_000_000).queue_bytes(0);
    let mut l = Link::new(cfg, 1);
    assert_eq!(l.offer(Instant::ZERO, pkt(0, 100)), Verdict::Accepted);
    assert_eq!(
        l.offer(us(10), pkt(1, 100)),
        Verdict::Dropped(DropCause::Queue)
    );
    // 100 bytes at 1 Mbit/s: the transmitter is free again at 800 us.
    assert_eq!(l.offer(us(800), pkt(2, 100)), Verdict::Accepted);
}

#[test]
fn bernoulli_loss_rate_over_100k_packets() {
    let cfg = LinkConfig::new().loss(0.01);
    let mut l = Link::new(cfg, derive_seed(42, crate::rng::domain::LINK, 0));
    let mut lost = 0;
    for i in 0..100_000 {
        if l.offer(us(i), pkt(i as u32, 64)) == Verdict::Dropped(DropCause::Loss) {
            lost += 1;
        }
        while l.poll(us(i)).is_some() {}
    }
    // Binomial(100000, 0.01): mean 1000, standard deviation 31.5.
    assert!((1000 - 160..=1000 + 160).contains(&lost), "lost {lost}");
    // Pinned: the draws depend only on the seed (see rng.rs).
    assert_eq!(lost, PINNED_BERNOULLI_LOSSES);
    assert_eq!(l.stats().dropped_loss.packets, lost);
    assert_eq!(l.stats().delivered.packets, 100_000 - lost);
}

const PINNED_BERNOULLI_LOSSES: u64 = 1007;

/// Lengths of the runs of consecutive losses.
fn bursts(lost: &[bool]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut run = 0;
    for &l in lost {
        if l {
            run += 1;
        } else if run > 0 {
            out.push(run);
            run = 0;
        }
    }
    if run > 0 {
        out.push(run);
    }
    out
}

fn loss_pattern(cfg: LinkConfig, seed: u64, n: u64) -> Vec<bool> {
    let mut l = Link::new(cfg, seed);
    (0..n)
        .map(|i| {
            let v = l.offer(us(i), pkt(i as u32, 64));
            while l.poll(us(i)).is_some() {}
            v == Verdict::Dropped(DropCause::Loss)
        })
        .collect()
}

#[test]
fn gilbert_elliott_losses_come_in_bursts() {
    let model = GilbertElliott::gilbert(0.01, 0.25);
    let expected_rate = model.mean_loss(); // 0.01 / 0.26 = 3.85 %
    let lost = loss_pattern(LinkConfig::new().burst_loss(model), 7, 100_000);
    let rate = lost.iter().filter(|&&l| l).count() as f64 / lost.len() as f64;
    assert!((rate - expected_rate).abs() < 0.006, "loss rate {rate}");
    let b = bursts(&lost);
    let mean_burst = b.iter().sum::<usize>() as f64 / b.len() as f64;
    // Mean burst length is 1 / r = 4 packets.
    assert!((3.6..4.4).contains(&mean_burst), "mean burst {mean_burst}");

    // Independent losses at the same rate come mostly alone.
    let lost = loss_pattern(LinkConfig::new().loss(expected_rate), 7, 100_000);
    let b = bursts(&lost);
    let mean_burst = b.iter().sum::<usize>() as f64 / b.len() as f64;
    assert!(mean_burst < 1.1, "mean burst {mean_burst}");
}

#[test]
fn gilbert_elliott_loss_in_both_states() {
    let model = GilbertElliott {
        p: 0.05,
        r: 0.2,
        loss_good: 0.01,
        loss_bad: 0.5,
    };
    let lost = loss_pattern(LinkConfig::new().burst_loss(model), 3, 100_000);
    let rate = lost.iter().filter(|&&l| l).count() as f64 / lost.len() as f64;
    // (0.8 * 0.01 + 0.2 * 0.5) = 10.8 %
    assert!((rate - model.mean_loss()).abs() < 0.01, "loss rate {rate}");
}

#[test]
fn jitter_delays_without_reordering() {
    let cfg = LinkConfig::new().delay(ms(10)).jitter(ms(2));
    let mut l = Link::new(cfg, 5);
    let offers = paced(2_000, 100, Duration::from_micros(100));
    let arrivals = drive(&mut l, offers);
    assert_eq!(arrivals.len(), 2_000);
    let ids: Vec<u32> = arrivals.iter().map(|a| a.1).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "reordered by jitter");
    let delays: Vec<u64> = arrivals
        .iter()
        .map(|&(t, id)| t.as_micros() - u64::from(id) * 100)
        .collect();
    assert!(delays.iter().all(|d| (10_000..=12_000).contains(d)));
    let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
    assert!(distinct.len() > 100, "jitter has no spread");
}

#[test]
fn reordering_holds_some_packets_back() {
    let cfg = LinkConfig::new()
        .delay(ms(10))
        .reorder(0.1, Duration::from_millis(5));
    let mut l = Link::new(cfg, 11);
    let arrivals = drive(&mut l, paced(1_000, 100, ms(1)));
    assert_eq!(arrivals.len(), 1_000, "reordering loses nothing");
    let reordered = l.stats().reordered.packets;
    assert!((60..=140).contains(&reordered), "reordered {reordered}");
    // Each held packet arrives 15 ms after it was sent, after the five behind it.
    let late: Vec<(Instant, u32)> = arrivals
        .iter()
        .copied()
        .filter(|&(t, id)| t.as_micros() - u64::from(id) * 1_000 == 15_000)
        .collect();
    assert_eq!(late.len() as u64, reordered);
    let inversions = arrivals.windows(2).filter(|w| w[0].1 > w[1].1).count();
    assert!(inversions > 0);
    // The others keep their order and their 10 ms.
    let on_time: Vec<u32> = arrivals
        .iter()
        .filter(|&&(t, id)| t.as_micros() - u64::from(id) * 1_000 == 10_000)
        .map(|a| a.1)
        .collect();
    assert_eq!(on_time.len() as u64, 1_000 - reordered);
    assert!(on_time.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn duplication_adds_adjacent_copies() {
    let cfg = LinkConfig::new().rate_bps(100_000_000).duplicate(0.2);
    let mut l = Link::new(cfg, 13);
    let arrivals = drive(&mut l, paced(1_000, 500, ms(1)));
    let dups = l.stats().duplicated.packets;
    assert!((140..=260).contains(&dups), "duplicated {dups}");
    assert_eq!(arrivals.len() as u64, 1_000 + dups);
    let repeats = arrivals.windows(2).filter(|w| w[0].1 == w[1].1).count() as u64;
    assert_eq!(repeats, dups);
    assert_conserved(&l);
}

#[test]
fn packets_over_the_mtu_are_dropped_and_counted() {
    let mut l = Link::new(LinkConfig::new().mtu(1500), 1);
    assert_eq!(
        l.offer(Instant::ZERO, pkt(0, 1501)),
        Verdict::Dropped(DropCause::Mtu)
    );
    assert_eq!(l.offer(Instant::ZERO, pkt(1, 1500)), Verdict::Accepted);
    assert_eq!(
        l.stats().dropped_mtu,
        Counter {
            packets: 1,
            bytes: 1501
        }
    );
    l.apply(us(1), LinkChange::Mtu(1280));
    assert_eq!(
        l.offer(us(2), pkt(2, 1500)),
        Verdict::Dropped(DropCause::Mtu)
    );
    assert_eq!(l.stats().dropped_mtu.packets, 2);
}

#[test]
fn scheduled_down_drops_everything_then_up_resumes() {
    // A packet every 10 ms, 15 ms of delay; down from 100 ms to 200 ms.
    let mut l = Link::new(LinkConfig::new().delay(ms(15)), 1);
    l.schedule(Instant::ZERO + ms(100), LinkChange::Down);
    l.schedule(Instant::ZERO + ms(200), LinkChange::Up);
    let arrivals = drive(&mut l, paced(30, 100, ms(10)));
    let ids: Vec<u32> = arrivals.iter().map(|a| a.1).collect();
    // Sent at 0..=80 ms arrive by 95 ms; 90 ms is on the wire at 100 ms and lost;
    // 100..=190 ms are offered while down (the change at 100 ms comes first).
    let expected: Vec<u32> = (0..=8).chain(20..30).collect();
    assert_eq!(ids, expected);
    assert_eq!(l.stats().dropped_down.packets, 11);
    assert_eq!(arrivals[9], (Instant::ZERO + ms(215), 20));
    assert_conserved(&l);
}

#[test]
fn down_with_hold_keeps_the_queue() {
    // 1000-byte packets at 1 Mbit/s take 8 ms each.
    let cfg = LinkConfig::new()
        .rate_bps(1_000_000)
        .delay(ms(1))
        .down_policy(DownPolicy::Hold);
    let mut l = Link::new(cfg, 1);
    l.schedule(us(4_000), LinkChange::Down);
    l.schedule(us(50_000), LinkChange::Up);
    let offers = vec![
        (Instant::ZERO, pkt(0, 1000)), // interrupted at 4 ms, starts over at 50 ms
        (us(10_000), pkt(1, 1000)),    // queued while down
    ];
    let arrivals = drive(&mut l, offers);
    assert_eq!(arrivals, vec![(us(59_000), 0), (us(67_000), 1)]);
    assert_eq!(l.stats().dropped(), Counter::default());
}

#[test]
fn rate_change_applies_to_later_transmissions() {
    let cfg = LinkConfig::new().rate_bps(10_000_000).delay(ms(10));
    let mut l = Link::new(cfg, 1);
    l.schedule(us(50_000), LinkChange::Rate(Some(1_000_000)));
    l.schedule(us(100_000), LinkChange::Delay(ms(20)));
    let offers = vec![
        (us(49_000), pkt(0, 1500)), // 1.2 ms at 10 Mbit/s, finishes after the change
        (us(60_000), pkt(1, 1500)), // 12 ms at 1 Mbit/s
        (us(120_000), pkt(2, 1500)), // 12 ms, then 20 ms of delay
    ];
    let arrivals = drive(&mut l, offers);
    assert_eq!(
        arrivals,
        vec![(us(60_200), 0), (us(82_000), 1), (us(152_000), 2)]
    );
}

#[test]
fn zero_rate_stalls_until_the_rate_comes_back() {
    let mut l = Link::new(LinkConfig::new().rate_bps(0), 1);
    l.schedule(us(1_000), LinkChange::Rate(Some(8_000_000)));
    // 1000 bytes at 8 Mbit/s: 1 ms.
    let arrivals = drive(&mut l, vec![(Instant::ZERO, pkt(0, 1000))]);
    assert_eq!(arrivals, vec![(us(2_000), 0)]);
}

#[test]
fn delay_decrease_does_not_reorder() {
    let mut l = Link::new(LinkConfig::new().delay(ms(50)), 1);
    l.schedule(us(1_000), LinkChange::Delay(ms(1)));
    let arrivals = drive(&mut l, vec![(us(0), pkt(0, 10)), (us(2_000), pkt(1, 10))]);
    assert_eq!(arrivals, vec![(us(50_000), 0), (us(50_000), 1)]);
}

#[test]
fn counters_balance_with_every_feature_on() {
    let cfg = LinkConfig::new()
        .rate_bps(20_000_000)
        .delay(ms(5))
        .jitter(ms(1))
        .loss(0.02)
        .burst_loss(GilbertElliott::gilbert(0.01, 0.3))
        .reorder(0.05, ms(3))
        .duplicate(0.05)
        .queue_bytes(20 * 1500)
        .mtu(1400);
    let mut l = Link::new(cfg, 99);
    l.schedule(us(300_000), LinkChange::Down);
    l.schedule(us(350_000), LinkChange::Up);
    let offers: Vec<_> = (0..5_000u32)
        .map(|i| {
            (
                us(u64::from(i) * 100),
                pkt(i, 200 + (i as usize * 37) % 1300),
            )
        })
        .collect();
    for (t, p) in offers {
        l.offer(t, p);
        assert_conserved(&l);
        while l.poll(t).is_some() {}
    }
    drive(&mut l, vec![]);
    assert_conserved(&l);
    let s = l.stats();
    for cause in [
        DropCause::Queue,
        DropCause::Loss,
        DropCause::Mtu,
        DropCause::Down,
    ] {
        assert!(s.dropped_by(cause).packets > 0, "no {cause:?} drops: {s:?}");
    }
    assert_eq!(l.in_transit(), Counter::default());
}

#[test]
fn same_seed_same_fate_and_features_do_not_share_draws() {
    let fate = |cfg: LinkConfig, seed| {
        let mut l = Link::new(cfg, seed);
        drive(&mut l, paced(5_000, 100, Duration::from_micros(200)))
            .into_iter()
            .map(|a| a.1)
            .collect::<std::collections::BTreeSet<u32>>()
    };
    let lossy = LinkConfig::new().delay(ms(10)).loss(0.05);
    assert_eq!(fate(lossy.clone(), 1), fate(lossy.clone(), 1));
    assert_ne!(fate(lossy.clone(), 1), fate(lossy.clone(), 2));
    // Turning jitter on changes timings, not which packets are lost.
    assert_eq!(fate(lossy.clone(), 1), fate(lossy.jitter(ms(3)), 1));
}
