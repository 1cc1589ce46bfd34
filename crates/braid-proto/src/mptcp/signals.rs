//! Signals waiting to go out on segments without data: address announcements and
//! removals (RFC 8684 §3.4), MP_FAIL (§3.7), and the infinite mapping that answers
//! the peer's MP_FAIL. MP_PRIO waits on its subflow (`Subflow::prio_due`), since it
//! names the subflow it travels on.

use std::collections::VecDeque;
use std::net::IpAddr;

use crate::crypto;
use crate::wire::mptcp::{AddAddr, AddrIdList, RemoveAddr};

/// An address signal waiting for a segment to carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    AddAddr(AddAddr),
    RemoveAddr(RemoveAddr),
}

/// The connection's outgoing signals.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// Oldest first.
    queue: VecDeque<Signal>,
    /// An MP_FAIL to send, with the DSN where the failure starts.
    mp_fail: Option<u64>,
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

    /// The next address signal, if one waits.
    pub(crate) fn next_address_signal(&self) -> Option<Signal> {
        self.queue.front().copied()
    }

    /// The address signal returned by [`next_address_signal`](Self::next_address_signal)
    /// went out.
    pub(crate) fn address_signal_sent(&mut self) {
        self.queue.pop_front();
    }

    /// Sends MP_FAIL for the mapping that failed at `dsn`.
    pub(crate) fn fail(&mut self, dsn: u64) {
        self.mp_fail = Some(dsn);
    }

    pub(crate) fn mp_fail(&self) -> Option<u64> {
        self.mp_fail
    }

    pub(crate) fn mp_fail_sent(&mut self) {
        self.mp_fail = None;
    }

    /// Whether a signal waits for a segment without data.
    pub(crate) fn pending(&self) -> bool {
        !self.queue.is_empty() || self.mp_fail.is_some()
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
        assert!(!s.pending());
    }

    #[test]
    fn mp_fail_waits_until_sent() {
        let mut s = Signals::default();
        s.fail(42);
        assert!(s.pending());
        assert_eq!(s.mp_fail(), Some(42));
        s.mp_fail_sent();
        assert!(!s.pending());
        s.infinite_mapping();
        assert!(s.take_infinite_mapping());
        assert!(!s.take_infinite_mapping());
    }
}
