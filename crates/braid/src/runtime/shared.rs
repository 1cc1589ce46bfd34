//! The state the driver task and the application's handles share: the endpoint, and
//! per connection and listener the wakers of tasks waiting on them.
//!
//! One `std::sync::Mutex` guards it all. Critical sections are short (one endpoint
//! call, or a batch of packets in the driver) and never await, so a blocking mutex is
//! the right tool (tokio's own advice for this shape).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use braid_proto::endpoint::{ConnectionId, Endpoint};
use braid_proto::tcp::CloseReason;
use braid_proto::time::Instant;
use tokio::sync::Notify;

use super::setup::NamespaceFacts;

/// Real time as the core wants it: microseconds since the stack started, on the
/// monotonic clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    pub fn to_tokio(self, t: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(
            self.origin + std::time::Duration::from_micros(t.as_micros()),
        )
    }
}

/// The runtime's view of one connection.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    pub read_waker: Option<Waker>,
    /// Also the waker of a `connect` in progress.
    pub write_waker: Option<Waker>,
    pub connected: bool,
    pub closed: Option<CloseReason>,
    pub write_shutdown: bool,
    /// The application no longer holds the connection.
    pub dropped: bool,
    /// Local and peer address of a connection waiting to be accepted: it may end (a
    /// RST) before it is, and `accept` still returns it, as Linux does.
    pub queued_addrs: Option<(SocketAddr, SocketAddr)>,
}

impl Conn {
    pub fn wake_all(&mut self, wakers: &mut Vec<Waker>) {
        wakers.extend(self.read_waker.take());
        wakers.extend(self.write_waker.take());
    }
}

#[derive(Debug, Default)]
pub(crate) struct Listen {
    pub queue: VecDeque<ConnectionId>,
    pub waker: Option<Waker>,
}

pub(crate) struct State {
    pub endpoint: Endpoint,
    pub conns: HashMap<ConnectionId, Conn>,
    pub listeners: HashMap<SocketAddr, Listen>,
    /// Why the driver stopped, once it has.
    pub stopped: Option<String>,
    pub stats: RuntimeStats,
}

/// What the runtime counted, beyond the endpoint's own statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Packets read from the TUN device.
    pub tun_packets_in: u64,
    /// Packets written to the TUN device.
    pub tun_packets_out: u64,
    /// Packets read from the TUN device for an address that is not the stack's.
    pub foreign_packets: u64,
    /// Times the driver woke up.
    pub wakeups: u64,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Wakes the driver: the application did something that may need packets sent,
    /// or let go of a handle.
    pub driver: Notify,
    pub clock: Clock,
    pub addrs: Vec<IpAddr>,
    pub facts: NamespaceFacts,
    pub tun_name: String,
    /// Handles the application holds.
    pub handles: AtomicUsize,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the endpoint in some state; carrying on
        // with it is no worse than with any other connection state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn wake_driver(&self) {
        self.driver.notify_one();
    }

    /// The application holds one more handle (stack, listener or stream).
    pub fn handle_created(&self) {
        self.handles.fetch_add(1, Ordering::SeqCst);
    }

    /// The application let go of a handle; the driver stops after the last one.
    pub fn handle_dropped(&self) {
        self.handles.fetch_sub(1, Ordering::SeqCst);
        self.wake_driver();
    }

    /// No stack, listener or stream handle is left: nobody can use the stack.
    pub fn abandoned(&self) -> bool {
        self.handles.load(Ordering::SeqCst) == 0
    }
}

/// The error a handle reports once the driver is gone.
pub(crate) fn stopped_error(stopped: &Option<String>) -> Option<io::Error> {
    stopped.as_ref().map(|why| {
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            format!("the braid stack stopped: {why}"),
        )
    })
}

/// The error a connection that ended for `reason` reports to reads and writes.
pub(crate) fn close_error(reason: CloseReason) -> io::Error {
    let (kind, what) = match reason {
        CloseReason::Finished => (io::ErrorKind::BrokenPipe, "connection closed"),
        CloseReason::Refused => (io::ErrorKind::ConnectionRefused, "connection refused"),
        CloseReason::Reset => (io::ErrorKind::ConnectionReset, "connection reset by peer"),
        CloseReason::TimedOut => (io::ErrorKind::TimedOut, "connection timed out"),
        CloseReason::Aborted => (io::ErrorKind::ConnectionAborted, "connection aborted"),
        CloseReason::ProtocolError => (
            io::ErrorKind::ConnectionReset,
            "connection reset: the peer or a middlebox broke the MPTCP protocol",
        ),
    };
    io::Error::new(kind, what)
}
