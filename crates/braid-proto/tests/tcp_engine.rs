//! The TCP engine between two braid endpoints on virtual time, one test or more per
//! mechanism. Throughput on realistic links is tested in braid-sim.

mod support;

use braid_proto::endpoint::{ConnectionId, EndpointConfig, EndpointEvent};
use braid_proto::tcp::{CloseReason, TcpEvent, TcpState, TcpStats};
use braid_proto::time::{Duration, Instant};
use support::{addr, drop_data_once, tcp_fields, Pair};

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:80";

/// What a transfer from endpoint 0 to endpoint 1 produced.
#[derive(Debug, Default)]
struct Transfer {
    received: Vec<u8>,
    client: TcpStats,
    server: TcpStats,
    /// When the receiving application saw the end of the stream.
    done_at: Option<Instant>,
}

/// Reads everything `c` has ready into `into`; returns how much that was.
/// These tests are about TCP itself: MPTCP off.
fn tcp_only() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.mptcp.enabled = false;
    config
}

fn read_all(
    c: &mut braid_proto::endpoint::Connection,
    buf: &mut [u8],
    into: &mut Vec<u8>,
) -> usize {
    let before = into.len();
    loop {
        let n = c.read(buf);
        if n == 0 {
            return into.len() - before;
        }
        into.extend_from_slice(&buf[..n]);
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Sends `data` from endpoint 0 to endpoint 1, both close, and returns what 1 read.
fn transfer(pair: &mut Pair, data: &[u8], deadline: Instant) -> Transfer {
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let mut written = 0;
    let mut closed = false;
    let mut t = Transfer::default();
    let mut buf = vec![0u8; 65536];
    pair.run_until(deadline, |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            t.client = c.stats();
            if written < data.len() {
                written += c.write(&data[written..]);
            } else if !closed {
                c.close();
                closed = true;
            }
        }
        if let Some(server) = p.accepted() {
            if let Some(c) = p.endpoints[1].connection_mut(server) {
                read_all(c, &mut buf, &mut t.received);
                if c.is_read_closed() && c.state() == TcpState::CloseWait {
                    c.close();
                    t.done_at = Some(p.now);
                }
                t.server = c.stats();
            }
        }
        false
    });
    t
}

fn assert_intact(t: &Transfer, data: &[u8]) {
    assert_eq!(t.received.len(), data.len(), "length");
    assert!(t.received == data, "bytes differ");
}

#[test]
fn rfc9293_handshake_transfer_and_close() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    let data = pattern(1 << 20);
    let t = transfer(&mut pair, &data, Instant::from_millis(120_000));
    assert_intact(&t, &data);
    assert_eq!(t.client.timeouts, 0);
    assert_eq!(t.client.retransmitted_segments, 0);
    // Both ends finished; the active closer went through TIME-WAIT and is gone.
    assert_eq!(
        pair.endpoints[0].connection_ids().count(),
        0,
        "client lingered"
    );
    assert_eq!(
        pair.endpoints[1].connection_ids().count(),
        0,
        "server lingered"
    );
    let closed = |events: &[EndpointEvent]| {
        events.iter().any(|e| {
            matches!(
                e,
                EndpointEvent::Connection {
                    event: TcpEvent::Closed(CloseReason::Finished),
                    ..
                }
            )
        })
    };
    assert!(closed(&pair.events[0]) && closed(&pair.events[1]));
}

#[test]
fn rfc6675_a_burst_of_ten_lost_segments_is_repaired_without_a_timeout() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    pair.rate = 12_500_000; // 100 Mbit/s
    let mss = 1448;
    pair.drop = drop_data_once(200 * mss..210 * mss);
    let data = pattern(4 << 20);
    let t = transfer(&mut pair, &data, Instant::from_millis(60_000));
    assert_intact(&t, &data);
    assert_eq!(t.client.timeouts, 0, "repaired by SACK, not by the RTO");
    assert_eq!(t.client.fast_recoveries, 1);
    // The ten lost segments, and at most the one "rescue" retransmission RFC 6675
    // NextSeg() rule (4) allows per recovery episode.
    assert!(
        (10..=11).contains(&t.client.retransmitted_segments),
        "{}",
        t.client.retransmitted_segments
    );
}

#[test]
fn rfc5681_without_sack_newreno_repairs_a_burst() {
    let mut config = tcp_only();
    config.tcp.sack = false;
    let mut pair = Pair::new(config, Duration::from_millis(10));
    pair.rate = 12_500_000;
    let mss = 1448;
    pair.drop = drop_data_once(100 * mss..103 * mss);
    let data = pattern(2 << 20);
    let t = transfer(&mut pair, &data, Instant::from_millis(60_000));
    assert_intact(&t, &data);
    assert_eq!(
        t.client.timeouts, 0,
        "partial ACKs drive the repair (RFC 6582)"
    );
    assert_eq!(t.client.fast_recoveries, 1);
}

#[test]
fn rfc6298_rto_backs_off_through_an_outage_and_recovers() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    pair.rate = 1_250_000; // 10 Mbit/s
                           // Every packet sent between 1 s and 9 s is lost, both ways.
    let times = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = times.clone();
    let now = std::rc::Rc::new(std::cell::Cell::new(Instant::ZERO));
    let clock = now.clone();
    pair.drop = Box::new(move |dir, _, packet| {
        let t = clock.get();
        let lost = t >= Instant::from_millis(1_000) && t < Instant::from_millis(9_000);
        if lost && dir == 0 && tcp_fields(packet).3 > 0 {
            seen.borrow_mut().push(t);
        }
        lost
    });
    let data = pattern(4 << 20);
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let mut written = 0;
    let mut received = 0;
    let mut buf = vec![0u8; 65536];
    let mut stats = TcpStats::default();
    pair.run_until(Instant::from_millis(60_000), |p| {
        now.set(p.now);
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            written += c.write(&data[written..]);
            stats = c.stats();
        }
        if let Some(server) = p.accepted() {
            let c = p.endpoints[1].connection_mut(server).unwrap();
            received += read_all(c, &mut buf, &mut Vec::new());
        }
        received == data.len()
    });
    assert_eq!(received, data.len());
    assert!(stats.timeouts >= 3, "timeouts: {}", stats.timeouts);
    // RFC 6298 §5.5: each retransmission by timeout waits twice as long.
    let times = times.borrow();
    let retransmissions: Vec<Instant> = times
        .iter()
        .copied()
        .filter(|&t| t > Instant::from_millis(1_300))
        .collect();
    let gaps: Vec<u64> = retransmissions
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .filter(|&g| g > 100)
        .collect();
    assert!(gaps.len() >= 2, "gaps {gaps:?}");
    for w in gaps.windows(2) {
        assert!(w[1] >= w[0] * 2 - 2, "backoff not doubling: {gaps:?}");
    }
    // And the transfer resumed promptly once the path came back.
    assert!(
        pair.now < Instant::from_millis(30_000),
        "finished at {}",
        pair.now
    );
}

#[test]
fn rfc7323_window_scaling_fills_a_path_beyond_64_kib() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(50));
    pair.rate = 12_500_000; // 100 Mbit/s x 100 ms = 1.25 MB BDP
    let data = pattern(32 << 20);
    let t = transfer(&mut pair, &data, Instant::from_millis(60_000));
    assert_intact(&t, &data);
    let elapsed = t.done_at.unwrap() - Instant::ZERO;
    // With a 64 KiB window the transfer would take 32 MiB / (64 KiB / 100 ms) = 51 s.
    assert!(elapsed < Duration::from_secs(8), "took {elapsed}");
}

/// A side that only receives takes no RTT sample after the handshake, whose RTT had
/// none of the queue the transfer builds: it measures the RTT from the timestamps
/// its data comes back with (RFC 7323 §4.1, as Linux does for receive auto-tuning).
#[test]
fn rfc7323_the_receiver_measures_the_rtt_its_data_comes_back_with() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    pair.rate = 1_250_000; // 10 Mbit/s x 20 ms: the queue holds what is above 25 kB
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let data = pattern(4 << 20);
    let (mut written, mut received) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    let mut seen = None;
    pair.run_until(Instant::from_millis(10_000), |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            written += c.write(&data[written..]);
        }
        let Some(server) = p.accepted() else {
            return false;
        };
        let sender_srtt = p.endpoints[0].connection(client).and_then(|c| c.srtt());
        let c = p.endpoints[1].connection_mut(server).unwrap();
        read_all(c, &mut buf, &mut received);
        if received.len() >= 3 << 20 {
            let tcp = c.as_tcp().unwrap();
            seen = Some((
                sender_srtt.unwrap(),
                tcp.srtt().unwrap(),
                tcp.receive_rtt().unwrap(),
            ));
            return true;
        }
        false
    });
    let (sender_srtt, receiver_srtt, receive_rtt) = seen.expect("3 MiB arrived");
    // The queue the sender keeps is well past the 20 ms path...
    assert!(sender_srtt >= Duration::from_millis(30), "{sender_srtt}");
    // ...which the receiver's smoothed RTT, from the handshake, never saw...
    assert!(receiver_srtt < Duration::from_millis(22), "{receiver_srtt}");
    // ...and its receive RTT follows (millisecond ticks, smoothed differently).
    let gap = receive_rtt.as_micros().abs_diff(sender_srtt.as_micros());
    assert!(
        gap <= sender_srtt.as_micros() / 4 + 2_000,
        "{receive_rtt} vs {sender_srtt}"
    );
}

#[test]
fn rfc9293_s3_8_6_1_zero_window_is_probed_until_it_opens() {
    let mut config = tcp_only();
    config.tcp.initial_recv_buffer = 64 << 10;
    config.tcp.recv_buffer = 64 << 10;
    let mut pair = Pair::new(config, Duration::from_millis(10));
    let data = pattern(1 << 20);
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let mut written = 0;
    let mut received = 0;
    let mut buf = vec![0u8; 65536];
    let mut stats = TcpStats::default();
    pair.run_until(Instant::from_millis(120_000), |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            written += c.write(&data[written..]);
            stats = c.stats();
        }
        // The receiving application sleeps for 20 s, then reads everything.
        if p.now >= Instant::from_millis(20_000) {
            if let Some(server) = p.accepted() {
                let c = p.endpoints[1].connection_mut(server).unwrap();
                received += read_all(c, &mut buf, &mut Vec::new());
            }
        }
        received == data.len()
    });
    assert_eq!(received, data.len(), "{stats:?} now {}", pair.now);
    assert!(
        stats.zero_window_probes >= 3,
        "probes: {}",
        stats.zero_window_probes
    );
    assert_eq!(stats.timeouts, 0, "a zero window is not a loss");
}

/// The client's connection events.
fn client_events(pair: &Pair, id: ConnectionId) -> Vec<TcpEvent> {
    pair.events[0]
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Connection { connection, event } if *connection == id => Some(*event),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc9293_s3_10_7_1_a_closed_port_refuses_with_rst() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.run_until(Instant::from_millis(5_000), |_| false);
    assert_eq!(pair.endpoints[1].stats().resets_sent, 1);
    assert_eq!(
        client_events(&pair, client),
        [TcpEvent::Closed(CloseReason::Refused)]
    );
}

#[test]
fn rfc9293_abort_resets_the_peer() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    pair.run_until(Instant::from_millis(1_000), |_| false);
    pair.endpoints[0].connection_mut(client).unwrap().abort();
    pair.run_until(Instant::from_millis(5_000), |_| false);
    let server_reset = pair.events[1].iter().any(|e| {
        matches!(
            e,
            EndpointEvent::Connection {
                event: TcpEvent::Closed(CloseReason::Reset),
                ..
            }
        )
    });
    assert!(server_reset, "{:?}", pair.events[1]);
    assert_eq!(pair.endpoints[1].connection_ids().count(), 0);
}

#[test]
fn rfc5961_s3_2_an_inexact_rst_earns_a_challenge_ack() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    pair.run_until(Instant::from_millis(1_000), |_| false);
    // Forge a RST from the server, in the window but 100 octets off RCV.NXT.
    let server = pair.accepted().unwrap();
    let s = pair.endpoints[1].connection(server).unwrap();
    let _ = s;
    let (seq, ack) = {
        let c = pair.endpoints[0].connection(client).unwrap();
        let _ = c;
        // The client's view: its RCV.NXT is the server's ISS + 1; learn it from the
        // last packet the server sent.
        (0u32, 0u32)
    };
    let _ = (seq, ack);
    let mut last_from_server = Vec::new();
    pair.drop = Box::new(|_, _, _| false);
    pair.endpoints[1]
        .connection_mut(server)
        .unwrap()
        .write(b"x");
    let mut buf = vec![0u8; 2048];
    if let Some(len) = pair.endpoints[1].poll_transmit(pair.now, &mut buf) {
        last_from_server = buf[..len].to_vec();
    }
    let (server_seq, server_ack, _, len) = tcp_fields(&last_from_server);
    pair.endpoints[0].handle(pair.now, &last_from_server);
    let forged = support::forge(
        &last_from_server,
        server_seq.wrapping_add(len as u32 + 100),
        server_ack,
        braid_proto::wire::TcpFlags::RST,
    );
    pair.endpoints[0].handle(pair.now, &forged);
    let c = pair.endpoints[0].connection(client).unwrap();
    assert_eq!(
        c.state(),
        TcpState::Established,
        "an inexact RST must not reset"
    );
    assert_eq!(c.stats().challenge_acks, 1);
    // The exact one does.
    let exact = support::forge(
        &last_from_server,
        server_seq.wrapping_add(len as u32),
        server_ack,
        braid_proto::wire::TcpFlags::RST,
    );
    pair.endpoints[0].handle(pair.now, &exact);
    let c = pair.endpoints[0].connection(client).unwrap();
    assert_eq!(
        c.close_reason(),
        Some(CloseReason::Reset),
        "exact RST resets"
    );
}

#[test]
fn rfc7323_s5_paws_drops_an_old_duplicate() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    let data = pattern(200_000);
    let captured = std::rc::Rc::new(std::cell::RefCell::new(None));
    let keep = captured.clone();
    pair.drop = Box::new(move |dir, _, packet| {
        if dir == 0 && tcp_fields(packet).3 > 0 && keep.borrow().is_none() {
            *keep.borrow_mut() = Some(packet.to_vec());
        }
        false
    });
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let mut written = 0;
    pair.run_until(Instant::from_millis(10_000), |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            written += c.write(&data[written..]);
        }
        false
    });
    let server = pair.accepted().unwrap();
    let before = pair.endpoints[1].connection(server).unwrap().stats();
    // Replay the first data segment, now carrying a stale timestamp.
    let old = captured.borrow().clone().unwrap();
    pair.endpoints[1].handle(pair.now, &old);
    let after = pair.endpoints[1].connection(server).unwrap().stats();
    assert_eq!(after.paws_drops, before.paws_drops + 1);
    assert_eq!(
        after.bytes_received, before.bytes_received,
        "the duplicate was not taken as data"
    );
}

#[test]
fn syn_queue_overflow_drops_syns_beyond_the_backlog() {
    // Without SYN cookies (tests/syn_flood.rs has them).
    let config = EndpointConfig {
        syn_backlog: 2,
        syn_cookies: false,
        ..Default::default()
    };
    let mut pair = Pair::new(config, Duration::from_millis(10));
    // Lose every handshake-completing ACK, so connections stay half-open.
    pair.drop = Box::new(|dir, _, packet| {
        let (_, _, flags, len) = tcp_fields(packet);
        dir == 0 && !flags.syn() && flags.ack() && len == 0
    });
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    for port in 0..5 {
        let local = addr(&format!("10.0.0.1:{}", 41000 + port));
        pair.endpoints[0]
            .connect(pair.now, local, addr(SERVER))
            .unwrap();
    }
    pair.run_until(Instant::from_millis(500), |_| false);
    assert_eq!(pair.endpoints[1].stats().syn_queue_overflows, 3);
    assert_eq!(pair.endpoints[1].connection_ids().count(), 2);
}

#[test]
fn rfc9293_simultaneous_close_passes_through_closing_to_time_wait() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    pair.run_until(Instant::from_millis(1_000), |_| false);
    let server = pair.accepted().unwrap();
    pair.endpoints[0].connection_mut(client).unwrap().close();
    pair.endpoints[1].connection_mut(server).unwrap().close();
    pair.run_until(Instant::from_millis(2_000), |_| false);
    for (e, id) in [(0, client), (1, server)] {
        let c = pair.endpoints[e].connection(id).unwrap();
        assert_eq!(c.state(), TcpState::TimeWait, "endpoint {e}");
    }
    // RFC 9293 §3.10.7.4: TIME-WAIT lasts 2·MSL (60 s here), then the TCB goes.
    pair.run_until(Instant::from_millis(61_500), |_| false);
    assert_eq!(pair.endpoints[0].connection_ids().count(), 0);
    assert_eq!(pair.endpoints[1].connection_ids().count(), 0);
}

#[test]
fn rfc9293_s3_8_4_keepalive_detects_a_dead_peer() {
    let mut config = tcp_only();
    config.tcp.keepalive = Some(braid_proto::tcp::Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(2),
        probes: 3,
    });
    let mut pair = Pair::new(config, Duration::from_millis(10));
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    pair.run_until(Instant::from_millis(1_000), |_| false);
    // The server vanishes.
    pair.drop = Box::new(|_, _, _| true);
    pair.run_until(Instant::from_millis(30_000), |_| false);
    assert_eq!(
        client_events(&pair, client).last(),
        Some(&TcpEvent::Closed(CloseReason::TimedOut))
    );
}

#[test]
fn rfc9293_s3_5_simultaneous_open_establishes_both_sides() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    let a = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    let b = pair.endpoints[1]
        .connect(pair.now, addr(SERVER), addr(CLIENT))
        .unwrap();
    pair.run_until(Instant::from_millis(1_000), |_| false);
    assert_eq!(
        pair.endpoints[0].connection(a).unwrap().state(),
        TcpState::Established
    );
    assert_eq!(
        pair.endpoints[1].connection(b).unwrap().state(),
        TcpState::Established
    );
    pair.endpoints[0].connection_mut(a).unwrap().write(b"ping");
    pair.run_until(Instant::from_millis(2_000), |_| false);
    let mut buf = [0u8; 16];
    assert_eq!(
        pair.endpoints[1].connection_mut(b).unwrap().read(&mut buf),
        4
    );
    assert_eq!(&buf[..4], b"ping");
}

/// Segments the client sent carrying payload, for small writes every 1 ms.
fn segments_for_small_writes(nagle: bool) -> u64 {
    let mut config = tcp_only();
    config.tcp.nagle = nagle;
    let mut pair = Pair::new(config, Duration::from_millis(20));
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    pair.run_until(Instant::from_millis(100), |_| false);
    // 100 writes of 10 bytes, one per millisecond.
    for i in 0..100u64 {
        pair.run_until(Instant::from_millis(100 + i), |_| false);
        pair.endpoints[0]
            .connection_mut(client)
            .unwrap()
            .write(&[b'x'; 10]);
    }
    pair.run_until(Instant::from_millis(2_000), |_| false);
    let c = pair.endpoints[0].connection(client).unwrap();
    assert_eq!(c.stats().bytes_sent, 1000);
    c.stats().segments_sent
}

#[test]
fn rfc9293_s3_7_4_nagle_coalesces_small_writes_and_can_be_turned_off() {
    let with = segments_for_small_writes(true);
    let without = segments_for_small_writes(false);
    // Without Nagle every write is a segment; with it, one per round trip (40 ms).
    assert!(without >= 100, "without Nagle: {without}");
    assert!(with <= 10, "with Nagle: {with}");
}

#[test]
fn rfc5681_s4_2_delayed_acks_acknowledge_every_second_segment() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    pair.rate = 1_250_000;
    let data = pattern(1 << 20);
    let t = transfer(&mut pair, &data, Instant::from_millis(60_000));
    assert_intact(&t, &data);
    let data_segments = t.client.segments_sent;
    let acks = t.server.segments_sent;
    assert!(
        acks * 2 <= data_segments + 20,
        "acks {acks} for {data_segments} segments"
    );
    assert!(
        acks * 3 >= data_segments,
        "acks {acks} for {data_segments} segments"
    );
}

/// Moves packets between two endpoints with no delay until both are quiet.
fn exchange(
    a: &mut braid_proto::endpoint::Endpoint,
    b: &mut braid_proto::endpoint::Endpoint,
    now: Instant,
) {
    let mut buf = vec![0u8; 65536];
    for _ in 0..100 {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            b.handle(now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle(now, &buf[..n]);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

#[test]
fn acks_handled_in_a_batch_before_polling_do_not_resend_acknowledged_data() {
    // Recovery starts on duplicate ACKs, then, before the sender polls, an ACK
    // covers the "lost" segment (it was only late): nothing is left to resend.
    use braid_proto::endpoint::Endpoint;
    let mut client = Endpoint::new(tcp_only(), 1);
    let mut server = Endpoint::new(tcp_only(), 2);
    server.listen(addr(SERVER)).unwrap();
    let now = Instant::from_millis(1);
    let cid = client.connect(now, addr(CLIENT), addr(SERVER)).unwrap();
    exchange(&mut client, &mut server, now);
    let mut buf = vec![0u8; 65536];
    client
        .connection_mut(cid)
        .unwrap()
        .write(&vec![1u8; 10 * 1448]);
    let mut segments = Vec::new();
    while let Some(n) = client.poll_transmit(now, &mut buf) {
        segments.push(buf[..n].to_vec());
    }
    assert_eq!(segments.len(), 10);
    let mut acks = Vec::new();
    for seg in segments[1..].iter().chain(&segments[..1]) {
        server.handle(now, seg);
        while let Some(n) = server.poll_transmit(now, &mut buf) {
            acks.push(buf[..n].to_vec());
        }
    }
    for ack in &acks {
        client.handle(now, ack);
    }
    assert_eq!(client.connection(cid).unwrap().stats().fast_recoveries, 1);
    let mut resent = 0;
    while client.poll_transmit(now, &mut buf).is_some() {
        resent += 1;
    }
    assert_eq!(resent, 0, "everything was acknowledged");
}

#[test]
fn a_new_connection_is_sent_after_an_earlier_one_was_dropped() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let first = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.run_until(Instant::from_millis(100), |_| false);
    // The server closes first, so the client closes passively and is dropped at once.
    let server = pair.accepted().unwrap();
    pair.endpoints[1].connection_mut(server).unwrap().close();
    pair.run_until(Instant::from_millis(200), |_| false);
    pair.endpoints[0].connection_mut(first).unwrap().close();
    pair.run_until(Instant::from_millis(300), |_| false);
    assert!(pair.endpoints[0].connection(first).is_none());
    let second = pair.endpoints[0]
        .connect(pair.now, addr("10.0.0.1:40001"), addr(SERVER))
        .unwrap();
    pair.run_until(Instant::from_millis(400), |_| false);
    assert_eq!(
        pair.endpoints[0].connection(second).unwrap().state(),
        TcpState::Established
    );
}

#[test]
fn received_data_outlives_a_normal_close_until_it_is_read() {
    let mut pair = Pair::new(tcp_only(), Duration::from_millis(10));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.run_until(Instant::from_millis(100), |_| false);
    let c = pair.endpoints[0].connection_mut(client).unwrap();
    c.write(&[5u8; 1000]);
    c.close();
    pair.run_until(Instant::from_millis(200), |_| false);
    // The server closes without reading; its FIN is acknowledged, the connection ends.
    let server = pair.accepted().unwrap();
    pair.endpoints[1].connection_mut(server).unwrap().close();
    pair.run_until(Instant::from_millis(300), |_| false);
    let s = pair.endpoints[1]
        .connection_mut(server)
        .expect("kept for its unread data");
    assert_eq!(s.state(), TcpState::Closed);
    let mut buf = [0u8; 2000];
    assert_eq!(s.read(&mut buf), 1000);
    pair.run_until(Instant::from_millis(400), |_| false);
    assert!(
        pair.endpoints[1].connection(server).is_none(),
        "dropped once read"
    );
}

#[test]
fn rfc9293_s3_10_7_1_resets_for_segments_of_no_connection_take_their_numbers_from_it() {
    use braid_proto::endpoint::Endpoint;
    use braid_proto::wire::TcpFlags;
    let mut server = Endpoint::new(tcp_only(), 2);
    let mut client = Endpoint::new(tcp_only(), 1);
    let now = Instant::from_millis(1);
    client.connect(now, addr(CLIENT), addr(SERVER)).unwrap();
    let mut buf = vec![0u8; 2048];
    let n = client.poll_transmit(now, &mut buf).unwrap();
    let syn = buf[..n].to_vec();
    let (syn_seq, _, _, _) = tcp_fields(&syn);
    // A SYN (no ACK): <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    server.handle(now, &syn);
    let n = server.poll_transmit(now, &mut buf).unwrap();
    let (seq, ack, flags, _) = tcp_fields(&buf[..n]);
    assert_eq!((seq, ack), (0, syn_seq.wrapping_add(1)));
    assert_eq!(flags, TcpFlags::RST | TcpFlags::ACK);
    // A segment with ACK: <SEQ=SEG.ACK><CTL=RST>.
    let stray = support::forge(&syn, 1000, 777_777, TcpFlags::ACK);
    server.handle(now, &stray);
    let n = server.poll_transmit(now, &mut buf).unwrap();
    let (seq, _, flags, _) = tcp_fields(&buf[..n]);
    assert_eq!(seq, 777_777);
    assert_eq!(flags, TcpFlags::RST);
    // A RST is never answered.
    let rst = support::forge(&syn, 1000, 0, TcpFlags::RST);
    server.handle(now, &rst);
    assert!(server.poll_transmit(now, &mut buf).is_none());
    assert_eq!(server.stats().resets_sent, 2);
}

#[test]
fn rfc9293_s3_10_7_3_syn_sent_ignores_a_rst_that_does_not_acknowledge_its_syn() {
    use braid_proto::endpoint::Endpoint;
    use braid_proto::wire::TcpFlags;
    let mut client = Endpoint::new(tcp_only(), 1);
    let now = Instant::from_millis(1);
    let id = client.connect(now, addr(CLIENT), addr(SERVER)).unwrap();
    let mut buf = vec![0u8; 2048];
    let n = client.poll_transmit(now, &mut buf).unwrap();
    let syn = buf[..n].to_vec();
    let (syn_seq, _, _, _) = tcp_fields(&syn);
    // Reply as if from the server: swap the addresses by forging from a mirrored SYN.
    let mirrored = mirror(&syn);
    // A RST without ACK: ignored (RFC 5961 §3 for SYN-SENT).
    client.handle(now, &support::forge(&mirrored, 5, 0, TcpFlags::RST));
    assert_eq!(client.connection(id).unwrap().state(), TcpState::SynSent);
    // A RST acknowledging something else: ignored too.
    client.handle(
        now,
        &support::forge(
            &mirrored,
            5,
            syn_seq.wrapping_add(99),
            TcpFlags::RST | TcpFlags::ACK,
        ),
    );
    assert_eq!(client.connection(id).unwrap().state(), TcpState::SynSent);
    // One acknowledging the SYN refuses the connection.
    client.handle(
        now,
        &support::forge(
            &mirrored,
            5,
            syn_seq.wrapping_add(1),
            TcpFlags::RST | TcpFlags::ACK,
        ),
    );
    let c = client.connection(id).unwrap();
    assert_eq!(c.close_reason(), Some(CloseReason::Refused));
    // It is dropped once the endpoint has nothing more to send for it.
    assert!(client.poll_transmit(now, &mut [0u8; 2048]).is_none());
    assert!(client.connection(id).is_none());
}

/// The packet with source and destination (addresses and ports) swapped.
fn mirror(packet: &[u8]) -> Vec<u8> {
    let mut p = packet.to_vec();
    let (src, dst) = (p[12..16].to_vec(), p[16..20].to_vec());
    p[12..16].copy_from_slice(&dst);
    p[16..20].copy_from_slice(&src);
    let ihl = (p[0] & 0x0f) as usize * 4;
    let (sport, dport) = (p[ihl..ihl + 2].to_vec(), p[ihl + 2..ihl + 4].to_vec());
    p[ihl..ihl + 2].copy_from_slice(&dport);
    p[ihl + 2..ihl + 4].copy_from_slice(&sport);
    p
}

#[test]
fn segments_never_span_a_boundary_the_layer_above_marked() {
    // What MPTCP needs: each segment within one DSS mapping (RFC 8684 §3.3.1).
    let mut config = tcp_only();
    config.tcp.nagle = false;
    let mut pair = Pair::new(config, Duration::from_millis(10));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.run_until(Instant::from_millis(100), |_| false);
    let lengths = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = lengths.clone();
    // Record payload lengths, and lose every first transmission so that the
    // retransmissions (after the RTO) must respect the boundaries too.
    let mut first = true;
    pair.drop = Box::new(move |dir, _, packet| {
        let len = tcp_fields(packet).3;
        if dir == 0 && len > 0 {
            seen.borrow_mut().push(len);
            if first {
                first = len != 700;
                return true;
            }
        }
        false
    });
    let c = pair.endpoints[0].connection_mut(client).unwrap();
    for chunk in [1000usize, 700, 3000] {
        assert_eq!(c.write(&vec![9u8; chunk]), chunk);
        c.as_tcp_mut().unwrap().mark_segment_boundary();
    }
    pair.run_until(Instant::from_millis(5_000), |_| false);
    let lengths = lengths.borrow();
    // Each mapping-sized chunk is cut at its boundary, first time and every time.
    assert_eq!(lengths[..4], [1000, 700, 1448, 1448], "{lengths:?}");
    let retransmitted: Vec<usize> = lengths[5..].to_vec();
    assert!(retransmitted.starts_with(&[1000]), "{lengths:?}");
    let server = pair.accepted().unwrap();
    let mut buf = vec![0u8; 8192];
    assert_eq!(
        pair.endpoints[1]
            .connection_mut(server)
            .unwrap()
            .read(&mut buf),
        4700
    );
}
