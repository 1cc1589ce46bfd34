//! SYN cookies (RFC 4987 §3.6): when a listener's queue of half-open connections is
//! full, its SYN-ACK keeps what the handshake needs in the ISN it sends (and, with
//! timestamps, in the low bits of its TSval), and keeps no state. The third ACK
//! echoes the ISN plus one; a valid cookie there makes the connection.
//!
//! Linux's implementation is the model for what is carried where:
//!
//! ```text
//! ISN   = mask(4-tuple, peer ISN) + ( period mod 32 : 5 | MSS index : 3 | MAC : 24 )
//! TSval = millisecond clock + offset, low 5 bits replaced by
//!         ( SACK-permitted : 1 | peer's window shift : 4, 15 = none )
//! ```
//!
//! The MAC (keyed hash, `crate::secrets`) covers the 4-tuple, the peer's ISN, the
//! full period counter and the MSS index, so a cookie names one SYN and one time; the
//! mask hides the clock and the MSS, so cookie ISNs look like any other. The
//! options in the TSval are not authenticated: only the peer that got the SYN-ACK
//! can return them, and it could have asked for any of them in its SYN. Without
//! timestamps there is nowhere to keep window scaling and SACK, and, as Linux does,
//! a cookie SYN-ACK then offers neither. An MP_CAPABLE SYN's MPTCP key is also a
//! keyed hash of the cookie (`EndpointSecret::cookie_mptcp_key`), so that the key the
//! third ACK echoes is checked without state.

use std::net::SocketAddr;

use super::{mptcp, Connection, ConnectionId, Endpoint, MAX_PENDING_COOKIE_SYN_ACKS};
use crate::cc::NewReno;
use crate::mptcp::keys::LocalKey;
use crate::mptcp::SegmentOptions;
use crate::secrets::EndpointSecret;
use crate::seq::SeqNum;
use crate::tcp::{emit_segment, ReceivedOptions, SegmentIn, SubflowId, TcpConnection};
use crate::time::{Duration, Instant};
use crate::wire::TcpFlags;

/// RFC 4987 §3.6: the cookie's time counter moves every 64 seconds (Linux's
/// TCP_SYNCOOKIE_PERIOD is 60 s).
pub const COOKIE_PERIOD: Duration = Duration::from_secs(64);

/// A cookie is accepted in the period it was made in and this many after (Linux's
/// MAX_SYNCOOKIE_AGE): 128 to 192 s, time for a client's third ACK to be delayed or
/// retransmitted, short enough to bound the replay of a captured one.
pub const COOKIE_MAX_AGE_PERIODS: u64 = 2;

/// How long after a listener last sent a cookie a bare ACK to it may be one. Outside
/// this window, ACKs for no connection get a RST without a look, so that no
/// attacker's guess can succeed while no flood is on (Linux's
/// tcp_synq_no_recent_overflow).
pub const COOKIE_LIFETIME: Duration = Duration::from_secs(64 * (COOKIE_MAX_AGE_PERIODS + 1));

/// Bits of the ISN for the MAC: a forged third ACK passes with odds of about 2^-24
/// per try, with the mask and the period field also to match.
const MAC_BITS: u32 = 24;
/// Bits of the ISN for the MSS index.
const MSS_BITS: u32 = 3;
/// Bits of the ISN for the period counter, mod 32 (RFC 4987 §3.6's "t mod 32").
const PERIOD_BITS: u32 = 5;
const _: () = assert!(MAC_BITS + MSS_BITS + PERIOD_BITS == 32);
const _: () = assert!(MAX_WINDOW_SHIFT as u32 + 1 == NO_WINDOW_SCALE);

/// The MSS values a cookie can carry; a peer's MSS is rounded down to one of them
/// (to 536, the default of RFC 9293 §3.7.1, below all). The common ones: IPv6's
/// minimum MTU (1280 - 60), tunnels and VPNs, PPPoE and IPv6 on Ethernet (1500 - 60),
/// IPv4 on Ethernet, and 9000-octet jumbo frames.
pub const COOKIE_MSS_TABLE: [u16; 1 << MSS_BITS] = [536, 1220, 1300, 1380, 1420, 1440, 1460, 8940];

/// MPTCP keys a cookie SYN-ACK may try, one after the other, for one whose token no
/// connection of ours has (RFC 8684 §3.1); if all collide, the SYN-ACK offers no
/// MPTCP, as Linux's does. With tokens of 32 bits, even a full table of thousands of
/// connections makes two collisions in a row a one-in-a-hundred-billion event.
pub const COOKIE_KEY_TRIES: u8 = 4;

/// The largest cookie SYN-ACK: IPv6 and TCP headers, 40 octets of options.
const MAX_SYN_ACK_LEN: usize = 40 + 60;

/// Low TSval bits that carry the options of a cookie SYN-ACK with timestamps.
pub const TIMESTAMP_OPTION_BITS: u32 = 5;
const TIMESTAMP_OPTION_MASK: u32 = (1 << TIMESTAMP_OPTION_BITS) - 1;
/// The window-shift field's value for "the SYN had no window scale option".
const NO_WINDOW_SCALE: u32 = 0xf;
const WINDOW_SCALE_MASK: u32 = 0xf;
const SACK_BIT: u32 = 1 << 4;
/// RFC 7323 §2.3: the largest window shift.
const MAX_WINDOW_SHIFT: u8 = 14;

/// The options of a SYN that a cookie SYN-ACK with timestamps keeps in its TSval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOptions {
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
}

/// The index of the largest table MSS that does not exceed the peer's.
fn mss_index(peer_mss: Option<u16>) -> u8 {
    let mss = peer_mss.unwrap_or(COOKIE_MSS_TABLE[0]);
    COOKIE_MSS_TABLE
        .iter()
        .rposition(|&m| m <= mss)
        .unwrap_or(0) as u8
}

/// The cookie period counter at `now`.
fn period(now: Instant) -> u64 {
    now.as_micros() / COOKIE_PERIOD.as_micros()
}

fn mac(
    secret: &EndpointSecret,
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNum,
    period: u64,
    mss_index: u8,
) -> u32 {
    secret.cookie_mac(local, remote, peer_isn, period, mss_index) & ((1 << MAC_BITS) - 1)
}

/// The ISN of a cookie SYN-ACK answering a SYN from `remote` to `local` with ISN
/// `peer_isn` and MSS option `peer_mss`.
pub fn make(
    secret: &EndpointSecret,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNum,
    peer_mss: Option<u16>,
) -> SeqNum {
    let period = period(now);
    let index = mss_index(peer_mss);
    let fields = ((period as u32 & ((1 << PERIOD_BITS) - 1)) << (MSS_BITS + MAC_BITS))
        | (u32::from(index) << MAC_BITS)
        | mac(secret, local, remote, peer_isn, period, index);
    SeqNum(fields.wrapping_add(secret.cookie_mask(local, remote, peer_isn)))
}

/// The MSS a cookie carries, if `cookie` is one this endpoint made for that SYN no
/// longer ago than [`COOKIE_MAX_AGE_PERIODS`] allow.
pub fn check(
    secret: &EndpointSecret,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNum,
    cookie: SeqNum,
) -> Option<u16> {
    let fields = cookie
        .0
        .wrapping_sub(secret.cookie_mask(local, remote, peer_isn));
    let period_low = u64::from(fields >> (MSS_BITS + MAC_BITS));
    let index = ((fields >> MAC_BITS) & ((1 << MSS_BITS) - 1)) as u8;
    let current = period(now);
    // The one period within the age window whose low bits match.
    let made = (0..=COOKIE_MAX_AGE_PERIODS)
        .filter_map(|age| current.checked_sub(age))
        .find(|p| p & ((1 << PERIOD_BITS) - 1) == period_low)?;
    let valid = fields & ((1 << MAC_BITS) - 1) == mac(secret, local, remote, peer_isn, made, index);
    valid.then_some(COOKIE_MSS_TABLE[usize::from(index)])
}

/// The TSval of a cookie SYN-ACK: `tsval` (the clock now) with its low bits replaced
/// by `options`, and never ahead of `tsval`, so that the connection's later TSvals
/// keep increasing (RFC 7323 §5.4).
pub fn encode_timestamp(tsval: u32, options: TimestampOptions) -> u32 {
    let shift = options
        .window_scale
        .map_or(NO_WINDOW_SCALE, |s| u32::from(s.min(MAX_WINDOW_SHIFT)));
    let bits = shift | if options.sack_permitted { SACK_BIT } else { 0 };
    let encoded = (tsval & !TIMESTAMP_OPTION_MASK) | bits;
    if encoded.wrapping_sub(tsval) as i32 > 0 {
        encoded.wrapping_sub(1 << TIMESTAMP_OPTION_BITS)
    } else {
        encoded
    }
}

/// The options a third ACK's TSecr brings back. Every value of the bits means
/// something: shifts 0 to 14, or none.
pub fn decode_timestamp(tsecr: u32) -> TimestampOptions {
    let shift = tsecr & WINDOW_SCALE_MASK;
    TimestampOptions {
        window_scale: (shift != NO_WINDOW_SCALE).then_some(shift as u8),
        sack_permitted: tsecr & SACK_BIT != 0,
    }
}

/// The TSval clock of a connection whose offset is `offset`, as the TCP engine
/// keeps it (milliseconds, `TcpConnection::ts_now`).
fn timestamp_clock(now: Instant, offset: u32) -> u32 {
    ((now.as_micros() / 1_000) as u32).wrapping_add(offset)
}

impl Endpoint {
    /// A listener that sent cookies recently, to which an ACK for no connection may
    /// bring one back.
    pub(super) fn cookie_listener(&self, now: Instant, local: SocketAddr) -> Option<SocketAddr> {
        if !self.config.syn_cookies {
            return None;
        }
        let listener = self.listener_for(local)?;
        let sent_at = self.listeners.get(&listener)?.cookies_sent_at?;
        (now < sent_at + COOKIE_LIFETIME).then_some(listener)
    }

    /// Answers a SYN that found `listener`'s half-open queue full with a SYN-ACK
    /// whose ISN is a cookie; nothing of the SYN is kept.
    pub(super) fn send_syn_cookie(
        &mut self,
        now: Instant,
        listener: SocketAddr,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &SegmentIn<'_>,
        options: &SegmentOptions,
    ) {
        if self.cookie_syn_acks.len() >= MAX_PENDING_COOKIE_SYN_ACKS {
            return;
        }
        let cookie = make(&self.secret, now, local, remote, seg.seq, seg.options.mss);
        let offer = match mptcp::capable_syn(options) {
            mptcp::CapableOffer::V1 { checksums } if self.config.mptcp.enabled => {
                let key = (0..COOKIE_KEY_TRIES)
                    .map(|attempt| {
                        LocalKey::new(self.secret.cookie_mptcp_key(local, remote, cookie, attempt))
                    })
                    .find(|key| !self.tokens.contains(key.token));
                if key.is_none() {
                    self.stats.mptcp_token_collisions += 1;
                }
                key.map(|key| mptcp::PassiveOffer {
                    key,
                    checksums: checksums || self.config.mptcp.checksums,
                    syn_window: u64::from(seg.window),
                    no_joins_here: !self.config.mptcp.allow_join_initial_address,
                })
            }
            mptcp::CapableOffer::OtherVersion => {
                self.stats.mptcp_version_fallbacks += 1;
                None
            }
            mptcp::CapableOffer::UnusableFlags => {
                self.stats.mptcp_flag_fallbacks += 1;
                None
            }
            _ => None,
        };
        // Offer only what the cookie can bring back: without timestamps, neither
        // window scaling nor SACK.
        let tcp_config = self.subflow_tcp_config(offer.is_some());
        let mut syn = *seg;
        let ts_offset = self.secret.timestamp_offset(local, remote);
        let syn_ack_ts_offset = if tcp_config.timestamps && seg.options.timestamps.is_some() {
            let carried = TimestampOptions {
                window_scale: seg
                    .options
                    .window_scale
                    .filter(|_| tcp_config.window_scaling),
                sack_permitted: seg.options.sack_permitted && tcp_config.sack,
            };
            let tsval = encode_timestamp(timestamp_clock(now, ts_offset), carried);
            tsval.wrapping_sub(timestamp_clock(now, 0))
        } else {
            syn.options.window_scale = None;
            syn.options.sack_permitted = false;
            syn.options.timestamps = None;
            ts_offset
        };
        // The SYN-ACK a half-open connection would send, but for the ISN and TSval:
        // made by one that is then dropped.
        let mut cc = NewReno::new();
        let mut tcp = TcpConnection::accept(
            tcp_config,
            local,
            remote,
            &syn,
            cookie,
            syn_ack_ts_offset,
            &mut cc,
            SubflowId(0),
            now,
        );
        let Some(syn_ack) = tcp.poll_transmit(now, &mut cc) else {
            return;
        };
        let mut tcp_options = std::mem::take(&mut self.options);
        tcp_options.clear();
        syn_ack.options.to_options(&mut tcp_options);
        if let Some(offer) = offer {
            tcp_options.push(offer.syn_ack_option());
        }
        let mut packet = [0u8; MAX_SYN_ACK_LEN];
        let len = emit_segment(&mut packet, local, remote, &syn_ack, &tcp_options);
        self.options = tcp_options;
        self.cookie_syn_acks.push_back(packet[..len].to_vec());
        self.stats.syn_cookies_sent += 1;
        if let Some(l) = self.listeners.get_mut(&listener) {
            l.cookies_sent_at = Some(now);
        }
    }

    /// A bare ACK for no connection at a listener that sent cookies lately: if it
    /// is the third ACK of a cookie SYN-ACK, the connection is made from what the
    /// cookie carries, as if it had waited in the queue. Returns false (the caller
    /// answers with RST) if it holds no valid cookie; true if the connection was
    /// made, or the ACK dropped for a full accept queue or connection table (the
    /// peer's next segment may find room, as with Linux).
    pub(super) fn accept_syn_cookie(
        &mut self,
        now: Instant,
        listener: SocketAddr,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &SegmentIn<'_>,
        options: &SegmentOptions,
    ) -> bool {
        let peer_isn = seg.seq - 1u32;
        let cookie = seg.ack - 1u32;
        let Some(mss) = check(&self.secret, now, local, remote, peer_isn, cookie) else {
            self.stats.syn_cookies_rejected += 1;
            return false;
        };
        let timestamps = seg
            .options
            .timestamps
            .filter(|_| self.config.tcp.timestamps);
        let carried = match timestamps {
            Some((_, tsecr)) => decode_timestamp(tsecr),
            None => TimestampOptions {
                window_scale: None,
                sack_permitted: false,
            },
        };
        let l = self
            .listeners
            .get(&listener)
            .expect("a listener sent the cookie");
        if l.unaccepted >= self.config.accept_backlog {
            self.stats.accept_queue_overflows += 1;
            return true;
        }
        if self.connections.len() >= self.config.max_connections {
            self.stats.connection_limit_drops += 1;
            return true;
        }
        self.stats.syn_cookies_accepted += 1;
        let id = ConnectionId(self.next_id);
        let mut mptcp = None;
        if let (true, Some(capable)) = (self.config.mptcp.enabled, options.capable) {
            if let Some((_, echoed)) = capable.variant.keys() {
                let ours = (0..COOKIE_KEY_TRIES)
                    .any(|a| self.secret.cookie_mptcp_key(local, remote, cookie, a) == echoed);
                if !ours {
                    self.stats.mptcp_third_ack_fallbacks += 1;
                } else if let Some(key) = self.tokens.register_key(echoed, id) {
                    // The third ACK's A flag is what the SYN-ACK settled (§3.1).
                    mptcp = Some((key, capable.flags.checksum_required()));
                } else {
                    // Taken since the SYN-ACK: joins could not be told apart.
                    self.stats.mptcp_token_collisions += 1;
                }
            }
        }
        let syn = SegmentIn {
            seq: peer_isn,
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: seg.window,
            options: ReceivedOptions {
                mss: Some(mss),
                window_scale: carried.window_scale,
                sack_permitted: carried.sack_permitted,
                timestamps: timestamps.map(|(tsval, _)| (tsval, 0)),
                sack: None,
            },
            payload: &[],
        };
        let mut cc = self.config.congestion_control.build(mptcp.is_some());
        let mut tcp = TcpConnection::accept_from_cookie(
            self.subflow_tcp_config(mptcp.is_some()),
            local,
            remote,
            &syn,
            cookie,
            self.secret.timestamp_offset(local, remote),
            cc.as_mut(),
            SubflowId(0),
            now,
        );
        tcp.handle_segment(now, seg, cc.as_mut());
        let conn = match mptcp {
            Some((key, checksums)) => {
                let window = tcp.peer_window();
                let mut conn = crate::mptcp::MptcpConnection::accept(
                    self.mptcp_config(),
                    key,
                    tcp,
                    checksums,
                    window,
                );
                conn.complete_passive_open(now, seg, options);
                Connection::Mptcp(Box::new(conn))
            }
            None => Connection::Tcp(tcp),
        };
        // Counted half-open until `collect_events` sees it connected, as any other.
        if let Some(l) = self.listeners.get_mut(&listener) {
            l.half_open += 1;
        }
        let inserted = self.insert(conn, cc, Some(listener), false);
        debug_assert_eq!(inserted, id, "the key was registered for this id");
        self.after_activity(now, id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn secret() -> EndpointSecret {
        EndpointSecret::new(&mut SeededRng::new(5))
    }

    #[test]
    fn rfc4987_s3_6_a_cookie_checks_within_its_age_and_carries_the_mss() {
        let s = secret();
        let (l, r) = (addr("10.0.0.2:80"), addr("10.0.0.1:40000"));
        let made_at = Instant::from_millis(1_000_000);
        let c = make(&s, made_at, l, r, SeqNum(7), Some(1460));
        for later in [0, 1, 63, 64, 128] {
            let t = made_at + Duration::from_secs(later);
            assert_eq!(
                check(&s, t, l, r, SeqNum(7), c),
                Some(1460),
                "{later}s later"
            );
        }
        // Three periods on, whatever the phase: too old.
        let stale = made_at + Duration::from_secs(64 * 3);
        assert_eq!(check(&s, stale, l, r, SeqNum(7), c), None);
        // Another SYN, another 4-tuple, another secret, a changed bit: not ours.
        assert_eq!(check(&s, made_at, l, r, SeqNum(8), c), None);
        assert_eq!(
            check(&s, made_at, l, addr("10.0.0.1:40001"), SeqNum(7), c),
            None
        );
        assert_eq!(
            check(
                &EndpointSecret::new(&mut SeededRng::new(6)),
                made_at,
                l,
                r,
                SeqNum(7),
                c
            ),
            None
        );
        for bit in 0..32 {
            assert_eq!(
                check(&s, made_at, l, r, SeqNum(7), SeqNum(c.0 ^ (1 << bit))),
                None,
                "bit {bit}"
            );
        }
    }

    #[test]
    fn a_cookie_made_at_time_zero_checks() {
        let s = secret();
        let (l, r) = (addr("10.0.0.2:80"), addr("10.0.0.1:40000"));
        let c = make(&s, Instant::ZERO, l, r, SeqNum(0), None);
        assert_eq!(
            check(&s, Instant::from_millis(10), l, r, SeqNum(0), c),
            Some(536)
        );
    }

    #[test]
    fn the_mss_is_rounded_down_to_the_table() {
        assert_eq!(COOKIE_MSS_TABLE[usize::from(mss_index(Some(1460)))], 1460);
        assert_eq!(COOKIE_MSS_TABLE[usize::from(mss_index(Some(1400)))], 1380);
        assert_eq!(COOKIE_MSS_TABLE[usize::from(mss_index(Some(65535)))], 8940);
        assert_eq!(COOKIE_MSS_TABLE[usize::from(mss_index(Some(100)))], 536);
        assert_eq!(COOKIE_MSS_TABLE[usize::from(mss_index(None))], 536);
    }

    #[test]
    fn timestamp_options_round_trip_and_never_move_the_clock_forward() {
        for tsval in [0u32, 31, 32, 1_000_003, u32::MAX] {
            for window_scale in [None, Some(0), Some(7), Some(14)] {
                for sack_permitted in [false, true] {
                    let options = TimestampOptions {
                        window_scale,
                        sack_permitted,
                    };
                    let encoded = encode_timestamp(tsval, options);
                    assert_eq!(decode_timestamp(encoded), options);
                    let behind = tsval.wrapping_sub(encoded);
                    assert!(behind < 32, "{tsval}: {encoded} is {behind} behind");
                }
            }
        }
        // A shift over 14 is sent as 14 (RFC 7323 §2.3 uses it as 14 anyway).
        let big = TimestampOptions {
            window_scale: Some(15),
            sack_permitted: false,
        };
        assert_eq!(
            decode_timestamp(encode_timestamp(99, big)).window_scale,
            Some(14)
        );
    }
}
