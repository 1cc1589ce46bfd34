//! Crafted segments against a live connection between two braid endpoints, at the
//! edges of sequence space: segments that start at or before the peer's ISN, ACKs of
//! and before our own ISN, a DSS mapping of bytes before a subflow's first one, a FIN
//! ahead of the stream, octets that put the two ends out of step. What RFC 9293
//! §3.10.7.4 (RFC 5961 for ACKs, RFC 8684 §3.3.1 for the mapping) says must become
//! of each, checked on the receiving endpoint right after the injection.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use braid_proto::endpoint::{Connection, ConnectionId, EndpointConfig};
use braid_proto::tcp::{TcpState, TcpStats};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::{Dss, DssMapping, MptcpOption, SeqField};
use braid_proto::wire::tcp_option::TcpOption;
use braid_proto::wire::{ChecksumCheck, IpRepr, TcpFlags, TcpRepr};
use support::{addr, forge_segment, Forged, Pair};

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:80";
/// What the client uploads before the injection.
const SENT: usize = 5000;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// What each side put on the wire, from the link's point of view.
#[derive(Default)]
struct Wire {
    client_isn: u32,
    server_isn: u32,
    /// The client's last segment to the server: the template of forged ones.
    client_packet: Vec<u8>,
    /// The sequence number after the client's last segment, and its ACK.
    client_next: u32,
    client_ack: u32,
    /// Segments the server sent, and the acknowledgment number of its last one.
    server_segments: u64,
    server_ack: u32,
}

/// What the server's application read.
#[derive(Default)]
struct Reader {
    server: Option<ConnectionId>,
    received: Vec<u8>,
}

impl Reader {
    fn read(&mut self, pair: &mut Pair) {
        if let Some(server) = pair.accepted() {
            self.server = Some(server);
        }
        let mut buf = vec![0u8; 65536];
        let Some(c) = self
            .server
            .and_then(|id| pair.endpoints[1].connection_mut(id))
        else {
            return;
        };
        loop {
            let n = c.read(&mut buf);
            if n == 0 {
                break;
            }
            self.received.extend_from_slice(&buf[..n]);
        }
    }
}

/// A connection on which the client uploaded [`SENT`] bytes, all acknowledged and
/// read by the server.
struct Session {
    pair: Pair,
    server: ConnectionId,
    wire: Rc<RefCell<Wire>>,
    reader: Reader,
}

impl Session {
    fn new(mptcp: bool) -> Self {
        let mut config = EndpointConfig::default();
        config.mptcp.enabled = mptcp;
        let mut pair = Pair::new(config, Duration::from_millis(5));
        let wire = Rc::new(RefCell::new(Wire::default()));
        let seen = wire.clone();
        pair.mangle = Box::new(move |dir, _, packet| {
            let (_, payload) = IpRepr::parse(packet).expect("IP");
            let tcp = TcpRepr::parse(payload.payload, ChecksumCheck::Skip).expect("TCP");
            let mut w = seen.borrow_mut();
            if dir == 1 {
                w.server_segments += 1;
                w.server_ack = tcp.ack_number;
                if tcp.flags.syn() {
                    w.server_isn = tcp.seq_number;
                }
                return;
            }
            if tcp.flags.syn() {
                w.client_isn = tcp.seq_number;
                return;
            }
            w.client_packet = packet.to_vec();
            w.client_next = tcp.seq_number.wrapping_add(tcp.payload.len() as u32);
            w.client_ack = tcp.ack_number;
        });
        pair.endpoints[1].listen(addr(SERVER)).unwrap();
        let client = pair.endpoints[0]
            .connect(Instant::ZERO, addr(CLIENT), addr(SERVER))
            .unwrap();
        let up = pattern(SENT);
        let mut written = 0;
        let mut reader = Reader::default();
        pair.run_until(Instant::from_millis(5_000), |p| {
            reader.read(p);
            let Some(c) = p.endpoints[0].connection_mut(client) else {
                return false;
            };
            written += c.write(&up[written..]);
            reader.received.len() == SENT && c.bytes_in_flight() == 0
        });
        assert_eq!(reader.received, up, "the upload before the injection");
        Session {
            pair,
            server: reader.server.expect("accepted"),
            wire,
            reader,
        }
    }

    fn received(&self) -> &[u8] {
        &self.reader.received
    }

    /// Lets the pair exchange what is due for a moment, the server's application
    /// reading.
    fn settle(&mut self) {
        let deadline = self.pair.now + Duration::from_millis(100);
        let reader = &mut self.reader;
        self.pair.run_until(deadline, |p| {
            reader.read(p);
            false
        });
    }

    fn server(&self) -> &Connection {
        self.pair.endpoints[1]
            .connection(self.server)
            .expect("the server's connection")
    }

    fn server_stats(&self) -> TcpStats {
        self.server().stats()
    }

    /// A segment from the client's addresses with these fields.
    fn forge(&self, seq: u32, ack: u32, options: Vec<TcpOption<'_>>, payload: &[u8]) -> Vec<u8> {
        forge_segment(
            &self.wire.borrow().client_packet,
            Forged {
                seq,
                ack,
                flags: TcpFlags::ACK,
                options,
                raw_options: &[],
                payload,
            },
        )
    }

    /// Hands `packet` to the server at once.
    fn inject(&mut self, packet: &[u8]) {
        let now = self.pair.now;
        self.pair.endpoints[1].handle(now, packet);
    }
}

/// `junk` octets the server must not take as data, then the client's stream from its
/// first octet to `end`: the payload of a segment that starts `junk` octets before
/// the client's first data octet.
fn payload_from_before_the_stream(junk: usize, end: usize) -> Vec<u8> {
    let mut payload = vec![0xee; junk];
    payload.extend_from_slice(&pattern(end));
    payload
}

#[test]
fn rfc9293_s3_10_7_4_a_segment_from_before_the_peers_isn_that_reaches_the_window_is_trimmed() {
    // It starts 5 octets before the client's SYN and ends 100 octets past what the
    // server has: acceptable, its end is in the window; of its text only the part
    // from RCV.NXT on is new, and the octets at and before the SYN are no data.
    let mut s = Session::new(false);
    let before = s.server_stats();
    let isn = s.wire.borrow().client_isn;
    let ack = s.wire.borrow().client_ack;
    let packet = s.forge(
        isn.wrapping_sub(5),
        ack,
        vec![],
        &payload_from_before_the_stream(6, SENT + 100),
    );
    s.inject(&packet);
    // Checked at once: the client's next segments start before what the server now
    // holds, which the client never sent, and are rightly unacceptable.
    assert_eq!(
        s.server_stats().unacceptable_segments,
        before.unacceptable_segments
    );
    s.settle();
    assert_eq!(s.received(), pattern(SENT + 100), "the new part, in place");
    assert_eq!(
        s.wire.borrow().server_ack,
        isn.wrapping_add(1 + SENT as u32 + 100),
        "the server acknowledges the new part"
    );
}

#[test]
fn rfc9293_s3_10_7_4_a_segment_from_before_the_peers_isn_that_ends_before_rcv_nxt_is_acked_and_dropped(
) {
    // 100 octets from 5 before the client's SYN: all of it old.
    let mut s = Session::new(false);
    let before = s.server_stats();
    let segments_before = s.wire.borrow().server_segments;
    let isn = s.wire.borrow().client_isn;
    let ack = s.wire.borrow().client_ack;
    let packet = s.forge(isn.wrapping_sub(5), ack, vec![], &[0xee; 100]);
    s.inject(&packet);
    s.settle();
    assert_eq!(s.received(), pattern(SENT), "nothing taken");
    let after = s.server_stats();
    assert_eq!(
        after.unacceptable_segments,
        before.unacceptable_segments + 1
    );
    assert_eq!(
        s.wire.borrow().server_segments,
        segments_before + 1,
        "answered with one ACK"
    );
    assert_eq!(
        s.wire.borrow().server_ack,
        isn.wrapping_add(1 + SENT as u32)
    );
}

#[test]
fn rfc9293_s3_10_7_4_data_at_the_peers_isn_without_syn_is_taken_from_its_first_data_octet() {
    // Sequence number = the client's ISN, where its SYN was, but no SYN flag: the
    // first octet sits where the SYN did and is no data; the rest is the stream from
    // its first octet, 100 octets past what the server has.
    let mut s = Session::new(false);
    let before = s.server_stats();
    let isn = s.wire.borrow().client_isn;
    let ack = s.wire.borrow().client_ack;
    let packet = s.forge(
        isn,
        ack,
        vec![],
        &payload_from_before_the_stream(1, SENT + 100),
    );
    s.inject(&packet);
    assert_eq!(
        s.server_stats().unacceptable_segments,
        before.unacceptable_segments
    );
    s.settle();
    assert_eq!(s.received(), pattern(SENT + 100), "the new part, in place");
}

#[test]
fn rfc9293_s3_10_7_4_an_ack_of_our_isn_is_old_and_ignored_and_the_text_is_taken() {
    // The ACK is the server's ISN: it acknowledges not even the server's SYN.
    an_old_ack_is_ignored_and_the_text_is_taken(0);
}

#[test]
fn rfc9293_s3_10_7_4_an_ack_from_before_our_isn_within_the_window_is_old_and_ignored() {
    // 5 before the server's ISN: older still, but within MAX.SND.WND of SND.UNA.
    an_old_ack_is_ignored_and_the_text_is_taken(5);
}

/// The next 100 octets of the client's stream, on a segment whose ACK is
/// `before_isn` octets before the server's ISN and whose window is zero. The server
/// sent nothing since its SYN, so the ACK lies within MAX.SND.WND below SND.UNA:
/// RFC 5961 §5.2 lets it through as an old duplicate, which RFC 9293 ignores
/// ("SEG.ACK =< SND.UNA ... can be ignored"), window included (only SND.UNA =<
/// SEG.ACK updates it); the segment's text is taken.
fn an_old_ack_is_ignored_and_the_text_is_taken(before_isn: u32) {
    let mut s = Session::new(false);
    let before = s.server_stats();
    let window_before = s.server().as_tcp().expect("plain TCP").peer_window();
    assert!(window_before > 0);
    let (isn, next) = {
        let w = s.wire.borrow();
        (w.server_isn, w.client_next)
    };
    let more = pattern(SENT + 100);
    let mut packet = s.forge(next, isn.wrapping_sub(before_isn), vec![], &more[SENT..]);
    set_window(&mut packet, 0);
    s.inject(&packet);
    assert_eq!(
        s.server().as_tcp().expect("plain TCP").peer_window(),
        window_before,
        "an old ACK does not move the window"
    );
    // Checked at once: the client's next segments start before what the server now
    // holds, which the client never sent, and are rightly unacceptable.
    let after = s.server_stats();
    assert_eq!(after.challenge_acks, before.challenge_acks);
    assert_eq!(after.unacceptable_segments, before.unacceptable_segments);
    s.settle();
    assert_eq!(s.received(), more, "the text is taken");
    assert_eq!(s.server().state(), TcpState::Established);
}

#[test]
fn rfc5961_s5_2_an_ack_from_before_our_isn_beyond_the_window_is_challenged() {
    // 2^30 before the server's ISN, so more than MAX.SND.WND before SND.UNA (RFC
    // 7323 keeps windows below 2^30; the server sent only its SYN): the segment is
    // dropped and answered with a challenge ACK.
    let mut s = Session::new(false);
    let before = s.server_stats();
    let (isn, next) = {
        let w = s.wire.borrow();
        (w.server_isn, w.client_next)
    };
    let packet = s.forge(next, isn.wrapping_sub(1 << 30), vec![], &[0xee; 100]);
    s.inject(&packet);
    assert_eq!(s.server_stats().challenge_acks, before.challenge_acks + 1);
    s.settle();
    assert_eq!(s.received(), pattern(SENT), "nothing taken");
}

/// Rewrites the window of an IPv4 TCP packet, checksum included.
fn set_window(packet: &mut [u8], window: u16) {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let src = std::net::IpAddr::from([packet[12], packet[13], packet[14], packet[15]]);
    let dst = std::net::IpAddr::from([packet[16], packet[17], packet[18], packet[19]]);
    let mut tcp = braid_proto::wire::TcpSegment::new_unchecked(&mut packet[ihl..]);
    tcp.set_window(window);
    tcp.fill_checksum(src, dst);
}

#[test]
fn rfc8684_s3_3_1_a_mapping_of_bytes_before_the_subflows_first_resets_the_subflow() {
    // A DSS on an in-window segment of the only subflow mapping 1000 octets from 256
    // before the subflow's SYN (relative subflow sequence number 2^32 - 256). No
    // subflow byte lies there: the mapping is invalid, and the subflow is reset as
    // for the other invalid mappings (a conflict with one already declared).
    let mut s = Session::new(true);
    let mptcp = s.server().as_mptcp().expect("MPTCP");
    assert_eq!(mptcp.stats().protocol_errors, 0);
    let remote_key = mptcp.remote_key().expect("keys known");
    let dsn = braid_proto::crypto::idsn(remote_key)
        .wrapping_add(1)
        .wrapping_add(SENT as u64);
    let (next, ack) = {
        let w = s.wire.borrow();
        (w.client_next, w.client_ack)
    };
    let dss = TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: None,
        mapping: Some(DssMapping {
            dsn: SeqField::U64(dsn),
            ssn: 0u32.wrapping_sub(256),
            data_level_length: 1000,
            checksum: None,
        }),
        data_fin: false,
    }));
    let packet = s.forge(next, ack, vec![dss], &[]);
    s.inject(&packet);
    let mptcp = s.server().as_mptcp().expect("MPTCP");
    assert_eq!(mptcp.stats().protocol_errors, 1);
    let subflow = mptcp.subflows().next().expect("the subflow");
    assert_eq!(subflow.tcp().state(), TcpState::Closed, "reset");
    s.settle();
    assert_eq!(s.received(), pattern(SENT), "nothing more delivered");
}

#[test]
fn rfc9293_s3_10_7_4_a_fin_ahead_of_the_stream_does_not_hide_the_peers_fin() {
    // A FIN with one octet, 100 octets past what the server has: in the window, out
    // of order, held. Segments are processed in sequence, so the FIN the stream
    // reaches first is the one that counts: the client's own, right at RCV.NXT.
    let mut s = Session::new(false);
    let (next, ack) = {
        let w = s.wire.borrow();
        (w.client_next, w.client_ack)
    };
    let mut packet = s.forge(next.wrapping_add(100), ack, vec![], &[0xee]);
    set_flags(&mut packet, TcpFlags::FIN | TcpFlags::ACK);
    s.inject(&packet);
    assert_eq!(s.server().state(), TcpState::Established);
    let client = s.pair.endpoints[0]
        .connection_ids()
        .next()
        .expect("the client's connection");
    s.pair.endpoints[0]
        .connection_mut(client)
        .expect("the client's connection")
        .close();
    s.settle();
    assert_eq!(s.server().state(), TcpState::CloseWait);
    assert!(s.server().is_read_closed());
    assert_eq!(s.received(), pattern(SENT), "nothing of the forged segment");
}

#[test]
fn rfc9293_s3_10_7_4_a_fin_the_stream_went_past_does_not_hide_the_peers_fin() {
    // The same forged FIN, then the client sends 5000 octets more, in segments that
    // each cover far more than the octet before the forged FIN: the stream goes past
    // it without reaching it alone, so it ends nothing. The client's own FIN does.
    let mut s = Session::new(false);
    let (next, ack) = {
        let w = s.wire.borrow();
        (w.client_next, w.client_ack)
    };
    let mut packet = s.forge(next.wrapping_add(100), ack, vec![], &[0xee]);
    set_flags(&mut packet, TcpFlags::FIN | TcpFlags::ACK);
    s.inject(&packet);
    let client = s.pair.endpoints[0]
        .connection_ids()
        .next()
        .expect("the client's connection");
    let more = pattern(SENT + 5000);
    let c = s.pair.endpoints[0]
        .connection_mut(client)
        .expect("the client's connection");
    assert_eq!(c.write(&more[SENT..]), 5000);
    c.close();
    s.settle();
    assert_eq!(s.server().state(), TcpState::CloseWait);
    assert!(s.server().is_read_closed());
    let received = s.received();
    assert_eq!(received.len(), SENT + 5000);
    // The forged octet came first, and TCP keeps the first copy of an octet.
    assert_eq!(received[SENT + 100], 0xee);
    assert_eq!(received[..SENT + 100], more[..SENT + 100]);
    assert_eq!(received[SENT + 101..], more[SENT + 101..]);
}

#[test]
fn rfc5961_s7_ends_out_of_step_do_not_ack_each_other_forever() {
    // 56 forged octets at the client's next sequence number: the server takes them
    // and acknowledges octets the client never sent. The client drops that ACK and
    // answers it (RFC 5961 §5.2); its answer starts before what the server now
    // holds, so the server drops it and answers it, and so on: an ACK loop, one
    // round trip (10 ms) per turn, unless pure ACKs that answer nothing acceptable
    // are answered at most twice a second.
    let mut s = Session::new(false);
    let (next, ack) = {
        let w = s.wire.borrow();
        (w.client_next, w.client_ack)
    };
    let packet = s.forge(next, ack, vec![], &[0xee; 56]);
    s.inject(&packet);
    let segments_before = s.wire.borrow().server_segments;
    let deadline = s.pair.now + Duration::from_secs(2);
    s.pair.run_until(deadline, |_| false);
    let segments = s.wire.borrow().server_segments - segments_before;
    assert!(
        (1..=6).contains(&segments),
        "{segments} segments from the server in two seconds"
    );
    let client = s.pair.endpoints[0]
        .connection_ids()
        .next()
        .expect("the client's connection");
    let client_stats = s.pair.endpoints[0].connection(client).unwrap().stats();
    assert!(
        client_stats.unacceptable_acks_skipped + s.server_stats().unacceptable_acks_skipped > 0
    );
}

/// Rewrites the flags of an IPv4 TCP packet, checksum included.
fn set_flags(packet: &mut [u8], flags: TcpFlags) {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let src = std::net::IpAddr::from([packet[12], packet[13], packet[14], packet[15]]);
    let dst = std::net::IpAddr::from([packet[16], packet[17], packet[18], packet[19]]);
    let mut tcp = braid_proto::wire::TcpSegment::new_unchecked(&mut packet[ihl..]);
    tcp.set_flags(flags);
    tcp.fill_checksum(src, dst);
}
