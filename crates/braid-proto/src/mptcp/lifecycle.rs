//! The connection as the application sees it: whether it is open, closing its
//! subflows, or over and why, and the stream events ([`TcpEvent`]) owed to the
//! application.

use std::collections::VecDeque;

use crate::tcp::{CloseReason, TcpEvent};
use crate::time::Instant;

/// How far the connection's end has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Open,
    /// Our DATA_FIN is acknowledged: the subflows are closing (RFC 8684 §3.3.3).
    ClosingSubflows,
    Closed {
        reason: CloseReason,
        /// We sent MP_FASTCLOSE (§3.5): our RSTs carry it.
        fastclose: bool,
    },
}

/// The application's view of the connection.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    end: End,
    events: VecDeque<TcpEvent>,
    connected: bool,
    peer_fin_reported: bool,
    /// Readable bytes last reported with [`TcpEvent::Readable`].
    readable_reported: usize,
    /// A write found the send buffer full: [`TcpEvent::Writable`] is owed once
    /// acknowledgments make room.
    write_blocked: bool,
    /// When the last subflow went away, while none is back.
    paths_lost_since: Option<Instant>,
    /// When both DATA_FINs were first found acknowledged with subflows still
    /// closing.
    lingering_since: Option<Instant>,
}

impl Lifecycle {
    pub(crate) fn new() -> Self {
        Lifecycle {
            end: End::Open,
            events: VecDeque::new(),
            connected: false,
            peer_fin_reported: false,
            readable_reported: 0,
            write_blocked: false,
            paths_lost_since: None,
            lingering_since: None,
        }
    }

    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.end == End::Open
    }

    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        match self.end {
            End::Closed { reason, .. } => Some(reason),
            _ => None,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.close_reason().is_some()
    }

    /// Whether our RSTs carry MP_FASTCLOSE.
    pub(crate) fn fastclose(&self) -> bool {
        matches!(
            self.end,
            End::Closed {
                fastclose: true,
                ..
            }
        )
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    /// The connection works: MPTCP established or fallen back.
    pub(crate) fn connected(&mut self) {
        if !self.connected {
            self.connected = true;
            self.events.push_back(TcpEvent::Connected);
        }
    }

    /// Our DATA_FIN is acknowledged: the subflows close. Returns whether this is
    /// news.
    pub(crate) fn close_subflows(&mut self) -> bool {
        let news = self.end == End::Open;
        if news {
            self.end = End::ClosingSubflows;
        }
        news
    }

    pub(crate) fn closing_subflows(&self) -> bool {
        self.end == End::ClosingSubflows
    }

    /// The connection is over; the first reason given counts.
    pub(crate) fn finish(&mut self, reason: CloseReason, fastclose: bool) {
        if !self.is_closed() {
            self.end = End::Closed { reason, fastclose };
            self.events.push_back(TcpEvent::Closed(reason));
        }
    }

    /// Every subflow is gone: the time that first happened (now, if it is news).
    pub(crate) fn paths_lost(&mut self, now: Instant) -> Instant {
        *self.paths_lost_since.get_or_insert(now)
    }

    /// A subflow is there again.
    pub(crate) fn paths_back(&mut self) {
        self.paths_lost_since = None;
    }

    /// Since when the connection has had no subflow, while it waits for one.
    pub(crate) fn paths_lost_since(&self) -> Option<Instant> {
        // Also while the subflows close (our DATA_FIN acknowledged): the peer's data
        // may still need a path.
        self.paths_lost_since.filter(|_| !self.is_closed())
    }

    /// Both DATA_FINs are acknowledged but subflows are still closing: the time
    /// that was first seen (now, if it is news).
    pub(crate) fn lingering(&mut self, now: Instant) -> Instant {
        *self.lingering_since.get_or_insert(now)
    }

    pub(crate) fn lingering_since(&self) -> Option<Instant> {
        self.lingering_since
    }

    /// A write did not fit: the application hears when there is room again.
    pub(crate) fn write_blocked(&mut self) {
        self.write_blocked = true;
    }

    /// The application read: what is left counts as reported.
    pub(crate) fn read(&mut self, readable: usize) {
        self.readable_reported = readable;
    }

    /// Events owed for the stream's state: new data to read, room to write, the
    /// peer's end of the stream.
    pub(crate) fn report(&mut self, readable: usize, writable: usize, peer_finished: bool) {
        if readable > self.readable_reported {
            self.events.push_back(TcpEvent::Readable);
        }
        self.readable_reported = readable;
        if self.write_blocked && writable > 0 {
            self.write_blocked = false;
            self.events.push_back(TcpEvent::Writable);
        }
        if !self.peer_fin_reported && peer_finished {
            self.peer_fin_reported = true;
            self.events.push_back(TcpEvent::PeerFinished);
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<TcpEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_reported_once_each() {
        let mut l = Lifecycle::new();
        l.connected();
        l.connected();
        l.report(10, 0, false);
        l.report(10, 0, false);
        l.write_blocked();
        l.report(10, 5, true);
        l.report(10, 5, true);
        let events: Vec<_> = std::iter::from_fn(|| l.poll_event()).collect();
        assert_eq!(
            events,
            [
                TcpEvent::Connected,
                TcpEvent::Readable,
                TcpEvent::Writable,
                TcpEvent::PeerFinished
            ]
        );
    }

    #[test]
    fn the_close_timeout_runs_while_the_subflows_close_but_not_once_closed() {
        // Our DATA_FIN acknowledged, the peer's data still owed: losing every path
        // must still end the connection some day.
        let mut l = Lifecycle::new();
        l.close_subflows();
        let t = Instant::from_millis(5);
        assert_eq!(l.paths_lost(t), t);
        assert_eq!(l.paths_lost_since(), Some(t));
        l.finish(CloseReason::TimedOut, false);
        assert_eq!(l.paths_lost_since(), None);
    }

    #[test]
    fn the_first_reason_to_close_counts() {
        let mut l = Lifecycle::new();
        assert!(l.close_subflows());
        assert!(!l.close_subflows());
        assert!(!l.is_open());
        l.finish(CloseReason::Aborted, true);
        l.finish(CloseReason::Reset, false);
        assert_eq!(l.close_reason(), Some(CloseReason::Aborted));
        assert!(l.fastclose());
        assert_eq!(l.poll_event(), Some(TcpEvent::Closed(CloseReason::Aborted)));
        assert_eq!(l.poll_event(), None);
    }
}
