use std::collections::VecDeque;

use super::*;
use crate::link::DropCause;
use crate::middlebox::DropIf;
use crate::nodes::{ConstantRateSender, CountingSink, Echo, Flow, PingPong, TestPacket};

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn at_ms(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

fn us(micros: u64) -> Instant {
    Instant::from_micros(micros)
}

#[test]
fn a_packet_arrives_after_exactly_serialization_plus_propagation() {
    let mut sim = Simulator::new(1);
    let tx = sim.add_node(ConstantRateSender::new(0, Flow::example(), 1500, ms(1)).count(1));
    let rx = sim.add_node(CountingSink::recording());
    let cfg = LinkConfig::new().rate_bps(10_000_000).delay(ms(10));
    let link = sim.add_link((tx, 0), (rx, 0), cfg);
    assert_eq!(sim.run_until_idle(at_ms(1_000)), RunOutcome::Idle);
    let sink = sim.node::<CountingSink>(rx);
    assert_eq!(sink.arrivals().len(), 1);
    assert_eq!(sink.arrivals()[0].at, us(11_200));
    assert_eq!(sink.min_delay, Some(Duration::from_micros(11_200)));
    assert_eq!(sim.now(), us(11_200));
    assert_eq!(sim.link_stats(link).delivered.bytes, 1500);
    assert_eq!(sim.link_sent(link).packets, 1);
}

#[test]
fn a_saturated_100_mbit_link_delivers_exactly_its_rate() {
    // The sender offers 200 Mbit/s; the link carries 100 Mbit/s: a 1500-byte packet
    // every 120 us, back to back from time zero. By 1 s, 8333 have left the link
    // (8333 * 120 us = 999.96 ms); each arrives 10 ms later.
    let mut sim = Simulator::new(7);
    let tx = sim.add_node(ConstantRateSender::with_rate(
        0,
        Flow::example(),
        1500,
        200_000_000,
    ));
    let rx = sim.add_node(CountingSink::new());
    let cfg = LinkConfig::new()
        .rate_bps(100_000_000)
        .delay(ms(10))
        .queue_bytes(100 * 1500);
    let link = sim.add_link((tx, 0), (rx, 0), cfg);
    assert_eq!(sim.run_until(at_ms(1_010)), RunOutcome::Deadline);
    assert_eq!(sim.now(), at_ms(1_010));

    let sink = sim.node::<CountingSink>(rx);
    assert_eq!(sink.received.packets, 8_333);
    assert_eq!(sink.received.bytes, 8_333 * 1500);
    assert_eq!(sink.reordered + sink.duplicates, 0);
    let stats = sim.link_stats(link);
    assert!(
        stats.dropped_queue.packets > 8_000,
        "the sender saturates the link"
    );
    assert_eq!(stats.max_queue_bytes, 100 * 1500);

    // Per 100 ms bin: 100 Mbit/s is 833.3 packets; the first bin starts 10 ms late.
    let series = sim.link_series(link);
    assert_eq!(series.total().packets, 8_333);
    assert_eq!(series.packets()[0], 749);
    for bin in series.bins().skip(1).take(9) {
        assert!((833..=834).contains(&bin.packets), "{bin:?}");
        let mbps = bin.bits_per_sec() / 1e6;
        assert!((99.9..100.1).contains(&mbps), "{mbps}");
    }
}

#[test]
fn ping_pong_round_trips_are_exact() {
    let mut sim = Simulator::new(3);
    let flow = Flow {
        dst_port: 7,
        ..Flow::example()
    };
    let ping = sim.add_node(PingPong::new(0, flow, 1500, 5, ms(500)));
    let echo = sim.add_node(Echo::new());
    let cfg = LinkConfig::new().rate_bps(10_000_000).delay(ms(10));
    sim.add_duplex((ping, 0), (echo, 0), cfg);
    assert_eq!(sim.run_until_idle(at_ms(10_000)), RunOutcome::Idle);
    let p = sim.node::<PingPong>(ping);
    assert!(p.done());
    assert_eq!(p.lost, 0);
    // 2 * (1.2 ms + 10 ms) each, one after the other.
    let rtts: Vec<u64> = p.rtts.iter().map(|(_, d)| d.as_micros()).collect();
    assert_eq!(rtts, vec![22_400; 5]);
    assert_eq!(sim.now(), us(5 * 22_400));
    assert_eq!(sim.node::<Echo>(echo).echoed.packets, 5);
}

#[test]
fn ping_pong_survives_loss_through_its_timeout() {
    let mut sim = Simulator::new(5);
    let ping = sim.add_node(PingPong::new(0, Flow::example(), 100, 200, ms(50)));
    let echo = sim.add_node(Echo::new());
    let cfg = LinkConfig::new().delay(ms(5)).loss(0.2);
    let (ab, ba) = sim.add_duplex((ping, 0), (echo, 0), cfg);
    assert_eq!(sim.run_until_idle(at_ms(100_000)), RunOutcome::Idle);
    let p = sim.node::<PingPong>(ping);
    assert!(p.done());
    let lost_on_links =
        sim.link_stats(ab).dropped_loss.packets + sim.link_stats(ba).dropped_loss.packets;
    assert_eq!(p.lost, lost_on_links);
    assert_eq!(p.lost + p.rtts.len() as u64, 200);
    assert!(p.rtts.iter().all(|(_, d)| *d == ms(10)));
}

#[test]
fn middleboxes_run_before_the_link() {
    let mut sim = Simulator::new(1);
    let tx = sim.add_node(ConstantRateSender::new(0, Flow::example(), 200, ms(1)).count(100));
    let rx = sim.add_node(CountingSink::new());
    let link = sim.add_link((tx, 0), (rx, 0), LinkConfig::new().delay(ms(1)));
    fn even(_: Instant, p: &[u8]) -> bool {
        TestPacket::parse(p).is_some_and(|t| t.seq % 2 == 0)
    }
    type DropEven = DropIf<fn(Instant, &[u8]) -> bool>;
    sim.add_middlebox(link, DropEven::new(even));
    sim.run_until_idle(at_ms(1_000));
    assert_eq!(sim.node::<CountingSink>(rx).received.packets, 50);
    assert_eq!(sim.link_sent(link).packets, 100);
    assert_eq!(sim.link_stats(link).offered.packets, 50);
    assert_eq!(sim.middlebox::<DropEven>(link, 0).dropped, 50);
}

/// Sends what a test pushes into it, at the time the simulator next polls it.
#[derive(Default)]
struct Manual {
    outbox: VecDeque<Vec<u8>>,
    inbox: Vec<(Instant, usize, Vec<u8>)>,
}

impl Node for Manual {
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: &[u8]) {
        self.inbox.push((now, iface, packet.to_vec()));
    }
    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        let p = self.outbox.pop_front()?;
        buf.extend_from_slice(&p);
        Some(p[0] as usize)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
}

#[test]
fn node_mut_polls_the_node_at_the_current_time() {
    let mut sim = Simulator::new(1);
    let a = sim.add_node(Manual::default());
    let b = sim.add_node(Manual::default());
    sim.add_link((a, 0), (b, 2), LinkConfig::new().delay(ms(3)));
    sim.run_until(at_ms(50));
    // Interface 0 has a link; interface 1 has none.
    sim.node_mut::<Manual>(a)
        .outbox
        .extend([vec![0, 1, 2], vec![1, 9]]);
    assert_eq!(sim.run_until_idle(at_ms(1_000)), RunOutcome::Idle);
    let inbox = &sim.node::<Manual>(b).inbox;
    assert_eq!(inbox, &vec![(at_ms(53), 2, vec![0, 1, 2])]);
    assert_eq!(
        sim.unrouted(a),
        Counter {
            packets: 1,
            bytes: 2
        }
    );
}

#[test]
fn link_changes_at_run_time_and_on_schedule() {
    let mut sim = Simulator::new(1);
    let tx = sim.add_node(ConstantRateSender::new(0, Flow::example(), 100, ms(10)).count(30));
    let rx = sim.add_node(CountingSink::recording());
    let link = sim.add_link((tx, 0), (rx, 0), LinkConfig::new().delay(ms(1)));
    sim.schedule(link, at_ms(100), LinkChange::Down);
    sim.schedule(link, at_ms(200), LinkChange::Up);
    sim.run_until(at_ms(250));
    // From 250 ms the delay is 5 ms, applied from outside the schedule.
    sim.link_mut(link)
        .apply(at_ms(250), LinkChange::Delay(ms(5)));
    sim.run_until_idle(at_ms(1_000));
    let sink = sim.node::<CountingSink>(rx);
    let seqs: Vec<u64> = sink.arrivals().iter().map(|a| a.seq).collect();
    assert_eq!(seqs, (0..10).chain(20..30).collect::<Vec<_>>());
    assert_eq!(sim.link_stats(link).dropped_by(DropCause::Down).packets, 10);
    let delays: Vec<u64> = sink
        .arrivals()
        .iter()
        .map(|a| (a.at - Instant::from_millis(a.seq * 10)).as_millis())
        .collect();
    // Packet 25 left at 250 ms, before the change.
    assert_eq!(&delays[10..17], &[1, 1, 1, 1, 1, 1, 5]);
}

/// A node that always wants its timer now: a bug the event limit must catch.
struct Spinner;

impl Node for Spinner {
    fn handle_packet(&mut self, _: Instant, _: usize, _: &[u8]) {}
    fn poll_transmit(&mut self, _: Instant, _: &mut Vec<u8>) -> Option<usize> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Some(Instant::ZERO)
    }
    fn handle_timeout(&mut self, _: Instant) {}
}

/// A node that always has another packet.
struct Firehose;

impl Node for Firehose {
    fn handle_packet(&mut self, _: Instant, _: usize, _: &[u8]) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        buf.push(0x45);
        Some(0)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _: Instant) {}
}

#[test]
fn runaway_nodes_hit_the_event_limit() {
    let config = SimConfig {
        max_events_per_run: 1_000,
        max_transmits_per_poll: 10,
        ..SimConfig::default()
    };
    let mut sim = Simulator::with_config(config.clone());
    sim.add_node(Spinner);
    assert_eq!(sim.run_until(at_ms(1)), RunOutcome::EventLimit);
    assert_eq!(sim.events_processed(), 1_000);
    assert_eq!(sim.now(), Instant::ZERO);

    let mut sim = Simulator::with_config(config);
    let f = sim.add_node(Firehose);
    let sink = sim.add_node(CountingSink::new());
    let link = sim.add_link((f, 0), (sink, 0), LinkConfig::new());
    assert_eq!(sim.run_until_idle(at_ms(1)), RunOutcome::EventLimit);
    assert!(sim.link_sent(link).packets <= 10 * 1_000);
    assert!(sim.link_sent(link).packets >= 10);
}

#[test]
fn step_processes_one_event_at_a_time() {
    let mut sim = Simulator::new(1);
    let tx = sim.add_node(ConstantRateSender::new(0, Flow::example(), 100, ms(5)).count(2));
    let rx = sim.add_node(CountingSink::new());
    sim.add_link((tx, 0), (rx, 0), LinkConfig::new().delay(ms(1)));
    let mut times = Vec::new();
    while let Some(t) = sim.step() {
        times.push(t.as_micros());
        assert!(times.len() < 100);
    }
    // Poll of each new node at 0 (sender sends #0), link delivers at 1 ms, sender's
    // timer at 5 ms (#1), delivery at 6 ms.
    assert_eq!(times, vec![0, 0, 1_000, 5_000, 6_000]);
    assert_eq!(sim.next_event(), None);
}

#[test]
fn events_at_the_same_instant_run_in_scheduling_order() {
    // Two senders, each to its own sink over identical links: their packets arrive at
    // the same instants, and the sinks see them in the order the links were scheduled.
    let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut sim = Simulator::new(1);
    let mut sinks = Vec::new();
    for i in 0..3 {
        let tx = sim.add_node(ConstantRateSender::new(0, Flow::example(), 100, ms(1)).count(3));
        let rx = sim.add_node(CountingSink::new());
        let link = sim.add_link((tx, 0), (rx, 0), LinkConfig::new().delay(ms(2)));
        let order = std::rc::Rc::clone(&order);
        sim.add_middlebox(
            link,
            crate::middlebox::Tap::new(move |now: Instant, _: &[u8]| {
                order.borrow_mut().push((now.as_micros(), i))
            }),
        );
        sinks.push(rx);
    }
    sim.run_until_idle(at_ms(100));
    let seen = order.borrow().clone();
    assert_eq!(
        seen,
        vec![
            (0, 0),
            (0, 1),
            (0, 2),
            (1_000, 0),
            (1_000, 1),
            (1_000, 2),
            (2_000, 0),
            (2_000, 1),
            (2_000, 2)
        ]
    );
}

/// Accepts `room` bytes, then fails.
struct Cramped {
    room: usize,
}

impl std::io::Write for Cramped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.room {
            return Err(std::io::Error::other("disk full"));
        }
        self.room -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_capture_stops_itself_not_the_simulation() {
    let mut sim = Simulator::new(1);
    let tx = sim.add_node(ConstantRateSender::new(0, Flow::example(), 100, ms(1)).count(10));
    let rx = sim.add_node(CountingSink::new());
    let link = sim.add_link((tx, 0), (rx, 0), LinkConfig::new());
    sim.capture_to(link, Cramped { room: 24 + 3 * 116 }, 65_535)
        .unwrap();
    sim.run_until_idle(at_ms(100));
    assert_eq!(sim.node::<CountingSink>(rx).received.packets, 10);
    assert_eq!(
        sim.capture_error(link).map(|e| e.to_string()),
        Some("disk full".to_string())
    );
    assert!(sim.pcap(link).is_none());
    sim.flush_captures().unwrap();
}

#[test]
fn a_change_scheduled_in_the_past_applies_now() {
    let mut sim = Simulator::new(1);
    let tx = sim.add_node(ConstantRateSender::new(0, Flow::example(), 100, ms(10)).count(10));
    let rx = sim.add_node(CountingSink::new());
    let link = sim.add_link((tx, 0), (rx, 0), LinkConfig::new().delay(ms(1)));
    sim.run_until(at_ms(45));
    sim.schedule(link, at_ms(5), LinkChange::Down);
    sim.run_until_idle(at_ms(1_000));
    // Packets 0..=4 were sent before 45 ms; the rest find the link down.
    assert_eq!(sim.node::<CountingSink>(rx).received.packets, 5);
    assert_eq!(sim.link_stats(link).dropped_down.packets, 5);
}
