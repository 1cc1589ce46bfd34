//! Signals waiting to go out on segments without data: address announcements and
//! removals (RFC 8684 §3.4), MP_FAIL (§3.7), and the infinite mapping that answers
//! the peer's MP_FAIL. MP_PRIO waits on its subflow (`Subflow::prio_due`), since it
//! names the subflow it travels on.

use std::collections::VecDeque;
use std::net::IpAddr;

use crate::crypto;
use crate::time::{Duration, Instant};
use crate::wire::mptcp::{AddAddr, AddrIdList, RemoveAddr};

/// An address signal waiting for a segment to carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    AddAddr(AddAddr),
    RemoveAddr(RemoveAddr),
}

/// An MP_FAIL to send (§3.7), with the DSN where the failure starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    /// Ours, for a mapping whose checksum failed: repeated until the peer answers
    /// (its MP_FAIL, or its infinite mapping); `sent_at` its last sending.
    Ours { dsn: u64, sent_at: Option<Instant> },
    /// The answer to the peer's MP_FAIL, sent once.
    Answer { dsn: u64 },
}

/// The connection's outgoing signals.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// Oldest first.
    queue: VecDeque<Signal>,
    mp_fail: Option<Fail>,
    /// The peer's MP_FAIL asks for an infinite mapping: the next chunk mapped
    /// carries it, and the connection falls back behind it.
    infinite_mapping_due: bool,
}

impl Signals {
    /// Announces our address `addr` (and `port`) under `id`, with the HMAC of §3.4.1
    /// keyed by our key first.
    pub(crate) fn announce(
        &mut self,
        local_key: u64,
        remote_key: u64,
        id: u8,
        addr: IpAddr,
        port: Option<u16>,
    ) {
        let hmac = crypto::add_addr_hmac(local_key, remote_key, id, addr, port);
        self.queue.push_back(Signal::AddAddr(AddAddr {
            addr_id: id,
            addr,
            port,
            truncated_hmac: Some(hmac),
        }));
    }

    /// Echoes the peer's announcement (§3.4.1: the same option without HMAC).
    pub(crate) fn echo(&mut self, announced: AddAddr) {
        self.queue.push_back(Signal::AddAddr(AddAddr {
            truncated_hmac: None,
            ..announced
        }));
    }

    /// Withdraws address ids, as many REMOVE_ADDR options as the list needs.
    pub(crate) fn remove(&mut self, ids: &[u8]) {
        for chunk in ids.chunks(AddrIdList::CAPACITY) {
            if let Some(addr_ids) = AddrIdList::new(chunk) {
                self.queue
                    .push_back(Signal::RemoveAddr(RemoveAddr { addr_ids }));
            }
        }
    }

    /// Address id `id` is in use again before its REMOVE_ADDR went out (an address
    /// that came back): the peer must not hear of its removal after the fact, which
    /// would close the new subflows from it.
    pub(crate) fn cancel_removal(&mut self, id: u8) {
        self.queue.retain_mut(|signal| {
            let Signal::RemoveAddr(r) = signal else {
                return true;
            };
            let rest: Vec<u8> = r
                .addr_ids
                .as_slice()
                .iter()
                .copied()
                .filter(|&i| i != id)
                .collect();
            match AddrIdList::new(&rest) {
                Some(addr_ids) => {
                    r.addr_ids = addr_ids;
                    true
                }
                None => false,
            }
        });
    }

    /// The next address signal, if one waits.
    pub(crate) fn next_address_signal(&self) -> Option<Signal> {
        self.queue.front().copied()
    }

    /// The address signal returned by [`next_address_signal`](Self::next_address_signal)
    /// went out.
    pub(crate) fn address_signal_sent(&mut self) {
        self.queue.pop_front();
    }

    /// Sends MP_FAIL for the mapping that failed at `dsn`, until answered.
    pub(crate) fn fail(&mut self, dsn: u64) {
        self.mp_fail = Some(Fail::Ours { dsn, sent_at: None });
    }

    /// Answers the peer's MP_FAIL at `dsn` with ours (Linux waits for it).
    pub(crate) fn answer_fail(&mut self, dsn: u64) {
        self.mp_fail = Some(Fail::Answer { dsn });
    }

    /// The DSN of the MP_FAIL waiting to go out at `now`: ours when never sent or
    /// unanswered for `rto`, or an answer.
    pub(crate) fn mp_fail_due(&self, now: Instant, rto: Duration) -> Option<u64> {
        match self.mp_fail? {
            Fail::Ours { dsn, sent_at: None } | Fail::Answer { dsn } => Some(dsn),
            Fail::Ours { dsn, .. } => self
                .mp_fail_resend_at(rto)
                .is_some_and(|t| t <= now)
                .then_some(dsn),
        }
    }

    /// Whether our own MP_FAIL waits for the peer's answer.
    pub(crate) fn awaiting_fail_answer(&self) -> bool {
        matches!(self.mp_fail, Some(Fail::Ours { .. }))
    }

    /// An MP_FAIL went out at `now`: an answer is done; ours waits for the peer's.
    pub(crate) fn mp_fail_sent(&mut self, now: Instant) {
        match &mut self.mp_fail {
            Some(Fail::Ours { sent_at, .. }) => *sent_at = Some(now),
            Some(Fail::Answer { .. }) => self.mp_fail = None,
            None => {}
        }
    }

    /// The peer answered our MP_FAIL.
    pub(crate) fn mp_fail_answered(&mut self) {
        if self.awaiting_fail_answer() {
            self.mp_fail = None;
        }
    }

    /// When our unanswered MP_FAIL goes out again: `rto` after it last did.
    pub(crate) fn mp_fail_resend_at(&self, rto: Duration) -> Option<Instant> {
        match self.mp_fail? {
            Fail::Ours {
                sent_at: Some(t), ..
            } => Some(t + rto),
            _ => None,
        }
    }

    /// Whether a signal waits for a segment without data now.
    pub(crate) fn pending(&self, now: Instant, rto: Duration) -> bool {
        !self.queue.is_empty() || self.mp_fail_due(now, rto).is_some()
    }

    /// The next chunk mapped carries the infinite mapping.
    pub(crate) fn infinite_mapping(&mut self) {
        self.infinite_mapping_due = true;
    }

    /// Whether the next chunk carries the infinite mapping; it is then no longer due.
    pub(crate) fn take_infinite_mapping(&mut self) -> bool {
        std::mem::take(&mut self.infinite_mapping_due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8684_s3_4_1_an_announcement_is_signed_and_its_echo_is_not() {
        let mut s = Signals::default();
        let addr: IpAddr = "10.0.2.1".parse().unwrap();
        s.announce(1, 2, 5, addr, None);
        let Some(Signal::AddAddr(a)) = s.next_address_signal() else {
            panic!("an ADD_ADDR waits");
        };
        assert_eq!(
            a.truncated_hmac,
            Some(crypto::add_addr_hmac(1, 2, 5, addr, None))
        );
        s.address_signal_sent();
        s.echo(a);
        let Some(Signal::AddAddr(echo)) = s.next_address_signal() else {
            panic!("the echo waits");
        };
        assert_eq!(echo.truncated_hmac, None);
        assert_eq!(echo.addr_id, 5);
    }

    #[test]
    fn rfc8684_s3_4_2_a_long_removal_takes_several_options() {
        let mut s = Signals::default();
        let ids: Vec<u8> = (1..=AddrIdList::CAPACITY as u8 + 1).collect();
        s.remove(&ids);
        s.address_signal_sent();
        let Some(Signal::RemoveAddr(r)) = s.next_address_signal() else {
            panic!("a second REMOVE_ADDR waits");
        };
        assert_eq!(r.addr_ids.as_slice(), &[AddrIdList::CAPACITY as u8 + 1]);
        s.address_signal_sent();
        assert!(!s.pending(Instant::ZERO, Duration::ZERO));
    }

    #[test]
    fn a_removal_not_yet_sent_is_withdrawn_when_the_address_comes_back() {
        let mut s = Signals::default();
        s.remove(&[0, 3]);
        s.cancel_removal(0);
        let Some(Signal::RemoveAddr(r)) = s.next_address_signal() else {
            panic!("REMOVE_ADDR of id 3 waits");
        };
        assert_eq!(r.addr_ids.as_slice(), &[3]);
        s.cancel_removal(3);
        assert!(!s.pending(Instant::ZERO, Duration::ZERO));
    }

    #[test]
    fn rfc8684_s3_7_our_mp_fail_is_repeated_until_answered() {
        let mut s = Signals::default();
        let rto = Duration::from_millis(200);
        let at = Instant::from_millis;
        s.fail(42);
        assert!(s.pending(at(0), rto));
        assert_eq!(s.mp_fail_due(at(0), rto), Some(42));
        s.mp_fail_sent(at(10));
        assert!(!s.pending(at(100), rto), "sent, not yet due again");
        assert_eq!(s.mp_fail_due(at(100), rto), None);
        assert!(s.pending(at(210), rto), "unanswered after an RTO");
        assert_eq!(s.mp_fail_due(at(210), rto), Some(42));
        s.mp_fail_answered();
        assert!(!s.pending(at(500), rto));
        assert_eq!(s.mp_fail_due(at(500), rto), None);
    }

    #[test]
    fn rfc8684_s3_7_an_answer_to_the_peers_mp_fail_goes_once() {
        let mut s = Signals::default();
        s.answer_fail(7);
        assert!(s.pending(Instant::ZERO, Duration::ZERO));
        s.mp_fail_sent(Instant::ZERO);
        assert_eq!(s.mp_fail_due(Instant::ZERO, Duration::ZERO), None);
        s.infinite_mapping();
        assert!(s.take_infinite_mapping());
        assert!(!s.take_infinite_mapping());
    }
}
