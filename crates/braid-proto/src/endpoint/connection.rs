//! What the application holds: a plain TCP connection or an MPTCP one, behind one
//! set of stream methods.

use std::net::SocketAddr;

use crate::cc::CongestionControl;
use crate::mptcp::MptcpConnection;
use crate::tcp::{CloseReason, TcpConnection, TcpEvent, TcpState, TcpStats};
use crate::time::{Duration, Instant};

/// A connection of an [`Endpoint`](super::Endpoint).
#[derive(Debug)]
// Plain TCP is kept inline: it is the common case and the per-packet path.
#[allow(clippy::large_enum_variant)]
pub enum Connection {
    /// Plain TCP: MPTCP was off, or the peer did not offer it.
    Tcp(TcpConnection),
    /// MPTCP, including one that fell back to TCP after the handshake began.
    Mptcp(Box<MptcpConnection>),
}

macro_rules! delegate {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            Connection::Tcp($c) => $e,
            Connection::Mptcp($c) => $e,
        }
    };
}

impl Connection {
    pub fn state(&self) -> TcpState {
        delegate!(self, c => c.state())
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        delegate!(self, c => c.close_reason())
    }

    /// The local address of the connection (of its first subflow).
    pub fn local(&self) -> SocketAddr {
        delegate!(self, c => c.local())
    }

    pub fn remote(&self) -> SocketAddr {
        delegate!(self, c => c.remote())
    }

    pub fn write(&mut self, data: &[u8]) -> usize {
        delegate!(self, c => c.write(data))
    }

    pub fn send_capacity(&self) -> usize {
        delegate!(self, c => c.send_capacity())
    }

    pub fn send_queued(&self) -> usize {
        delegate!(self, c => c.send_queued())
    }

    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        delegate!(self, c => c.read(buf))
    }

    pub fn readable(&self) -> usize {
        delegate!(self, c => c.readable())
    }

    pub fn is_read_closed(&self) -> bool {
        delegate!(self, c => c.is_read_closed())
    }

    pub fn close(&mut self) {
        delegate!(self, c => c.close())
    }

    pub fn abort(&mut self) {
        delegate!(self, c => c.abort())
    }

    /// The owner lets go of the connection: it will neither read nor write again
    /// (a socket's `close()`, where [`close`](Self::close) is its `shutdown`). Plain
    /// TCP then gives FIN-WAIT-2 a time limit ([`crate::tcp::TcpConfig::fin_wait_2_timeout`]);
    /// MPTCP closes, its close timeout bounding the rest.
    pub fn orphan(&mut self, now: Instant) {
        match self {
            Connection::Tcp(c) => c.orphan(now),
            Connection::Mptcp(c) => c.close(),
        }
    }

    /// TCP counters; for MPTCP, summed over its subflows.
    pub fn stats(&self) -> TcpStats {
        match self {
            Connection::Tcp(c) => *c.stats(),
            Connection::Mptcp(c) => c.tcp_stats(),
        }
    }

    /// The smoothed RTT (of the first subflow, for MPTCP).
    pub fn srtt(&self) -> Option<Duration> {
        match self {
            Connection::Tcp(c) => c.srtt(),
            Connection::Mptcp(c) => c.subflows().next().and_then(|s| s.tcp.srtt()),
        }
    }

    /// The retransmission timeout (of the first subflow, for MPTCP).
    pub fn rto(&self) -> Duration {
        match self {
            Connection::Tcp(c) => c.rto(),
            Connection::Mptcp(c) => c
                .subflows()
                .next()
                .map_or(Duration::from_secs(1), |s| s.tcp.rto()),
        }
    }

    /// Bytes sent and not yet acknowledged, over every subflow.
    pub fn bytes_in_flight(&self) -> u64 {
        match self {
            Connection::Tcp(c) => c.bytes_in_flight(),
            Connection::Mptcp(c) => c.subflows().map(|s| s.tcp.bytes_in_flight()).sum(),
        }
    }

    pub fn is_mptcp(&self) -> bool {
        matches!(self, Connection::Mptcp(_))
    }

    pub fn as_tcp(&self) -> Option<&TcpConnection> {
        match self {
            Connection::Tcp(c) => Some(c),
            Connection::Mptcp(_) => None,
        }
    }

    pub fn as_tcp_mut(&mut self) -> Option<&mut TcpConnection> {
        match self {
            Connection::Tcp(c) => Some(c),
            Connection::Mptcp(_) => None,
        }
    }

    pub fn as_mptcp(&self) -> Option<&MptcpConnection> {
        match self {
            Connection::Tcp(_) => None,
            Connection::Mptcp(c) => Some(c),
        }
    }

    pub fn as_mptcp_mut(&mut self) -> Option<&mut MptcpConnection> {
        match self {
            Connection::Tcp(_) => None,
            Connection::Mptcp(c) => Some(c),
        }
    }

    pub(super) fn poll_event(&mut self) -> Option<TcpEvent> {
        delegate!(self, c => c.poll_event())
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        delegate!(self, c => c.poll_timeout())
    }

    pub(super) fn handle_timeout(&mut self, now: Instant, cc: &mut dyn CongestionControl) {
        delegate!(self, c => c.handle_timeout(now, cc))
    }

    pub fn is_done(&self) -> bool {
        delegate!(self, c => c.is_done())
    }
}
