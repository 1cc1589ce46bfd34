//! The runtime: one `braid-proto` [`Endpoint`] driven by a tokio task over a Linux TUN
//! device, with sockets shaped like tokio's.
//!
//! ```text
//!  application tasks                 driver task                      kernel
//!  TcpStream::poll_read/poll_write   TUN read -> Endpoint::handle      forwards braid's
//!  TcpListener::poll_accept    <-->  timers   -> handle_timeout   <--> packets (TUN <->
//!  (lock, call the connection,       poll_transmit -> TUN write        veth, ...) and
//!   wake the driver)                 events -> wake tasks              routes replies in
//! ```
//!
//! The application's calls lock the shared state and act on their connection directly
//! (no channel, no copy between tasks); anything that may owe packets wakes the driver.
//! The driver works in batches (everything the device holds, then everything the
//! endpoint has to send), and wakes the tasks whose connections changed after writing
//! the packets of that turn to the device. With [`StackConfig::offload`] (the default)
//! the device exchanges 64 KiB TCP segments with the kernel: tun-rs splits what the
//! kernel aggregated and coalesces braid's consecutive segments of a flow, which is
//! worth about 5x in throughput through a TUN device (see `examples/tun_throughput.rs`).
//!
//! A panic in the driver (a bug in the core) stops the stack: every handle then fails
//! with an error that quotes it, rather than waiting for ever.
//!
//! # The network around it
//!
//! braid owns addresses that the kernel of its network namespace does not: the stack
//! creates its TUN device (up, without an address) and a host route per local address
//! into it. Packets braid writes are forwarded by the kernel, so forwarding must be on
//! (`net.ipv4.ip_forward=1`) unless braid only talks to the kernel's own addresses.
//! The repository's docs/network-lab.md shows a full layout, policy routing by source
//! address included; the `braid-testkit` crate builds it in network namespaces for the
//! tests and benchmarks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use braid::runtime::{Stack, StackConfig};
//! use tokio::io::AsyncWriteExt;
//!
//! let stack = Stack::new("braid0", &["10.1.1.1".parse()?], StackConfig::default())?;
//! let mut stream = stack
//!     .connect("10.1.1.1:0".parse()?, "10.0.1.2:5001".parse()?)
//!     .await?;
//! stream.write_all(b"hello").await?;
//! stream.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! [`Endpoint`]: braid_proto::endpoint::Endpoint

mod driver;
mod error;
mod listener;
mod random;
mod setup;
mod shared;
mod stream;

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use braid_proto::endpoint::{ConnectionId, Endpoint, EndpointConfig, EndpointError, EndpointStats};
use tokio::task::JoinHandle;

pub use error::Error;
pub use listener::TcpListener;
pub use shared::RuntimeStats;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, StreamInfo, TcpStream};

use shared::{close_error, stopped_error, Clock, Conn, Shared, State};

/// How a stack is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackConfig {
    /// The endpoint's limits and TCP settings. The MSS is lowered to fit the MTU.
    pub endpoint: EndpointConfig,
    /// MTU of the TUN device.
    pub mtu: u16,
    /// Packets the kernel queues for braid on the TUN device before dropping (the
    /// device's txqueuelen; Linux's default for TUN is 500).
    pub tx_queue_len: u32,
    /// Exchange TCP segments larger than the MTU with the kernel (TSO/GSO through a
    /// virtio-net header): braid's consecutive segments of a flow are written as one,
    /// and the kernel hands over what it aggregated, split by tun-rs. Fewer system calls
    /// per byte, and the kernel forwards the large segments as they are. Falls back to a
    /// plain device where the kernel lacks it.
    pub offload: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            endpoint: EndpointConfig::default(),
            mtu: 1500,
            tx_queue_len: 1000,
            offload: true,
        }
    }
}

/// A braid TCP stack on its own TUN device.
///
/// Dropping the stack does not end the connections and listeners made from it: the
/// driver runs until every handle is gone and connections have finished closing (at
/// most 10 s more), then closes the TUN device, which the kernel deletes with its routes.
pub struct Stack {
    shared: Arc<Shared>,
    driver: Option<JoinHandle<()>>,
}

impl Stack {
    /// Creates the TUN device `tun_name` in the calling thread's network namespace,
    /// brings it up, routes each of `local_addrs` into it, and starts the driver task.
    ///
    /// Must be called from within a tokio runtime. Needs root or CAP_NET_ADMIN, and the
    /// `ip` command (iproute2).
    pub fn new(
        tun_name: &str,
        local_addrs: &[IpAddr],
        config: StackConfig,
    ) -> Result<Stack, Error> {
        if local_addrs.is_empty() {
            return Err(Error::NoAddress);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Io(io::Error::other(
                "Stack::new must be called from within a tokio runtime",
            ))
        })?;
        let facts = setup::namespace_facts()?;
        for &addr in local_addrs {
            setup::check_address_free(addr, &facts)?;
        }
        let (device, offload) = {
            let _enter = runtime.enter();
            setup::create_tun(tun_name, config.mtu, config.tx_queue_len, config.offload)?
        };
        for &addr in local_addrs {
            setup::add_host_route(addr, tun_name)?;
        }

        let mut endpoint_config = config.endpoint;
        // IPv4 and TCP headers take 40 octets, IPv6 and TCP 60.
        let headers = if local_addrs.iter().any(IpAddr::is_ipv6) {
            60
        } else {
            40
        };
        let max_mss = config.mtu.saturating_sub(headers).max(64);
        endpoint_config.tcp.mss = endpoint_config.tcp.mss.min(max_mss);
        // The largest packet the endpoint writes is MSS + 120 octets; the largest the
        // device hands us is the MTU.
        let buf_len = (endpoint_config.tcp.mss as usize + 120).max(config.mtu as usize) + 64;

        let endpoint = random::network_endpoint(endpoint_config)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                endpoint,
                conns: HashMap::new(),
                listeners: HashMap::new(),
                stopped: None,
                stats: RuntimeStats::default(),
            }),
            driver: tokio::sync::Notify::new(),
            clock: Clock::new(),
            addrs: local_addrs.to_vec(),
            facts,
            tun_name: tun_name.to_string(),
            handles: AtomicUsize::new(1),
        });
        let driver = runtime.spawn(driver::run(shared.clone(), device, offload, buf_len));
        tracing::debug!(tun = tun_name, addrs = ?local_addrs, offload, "braid stack up");
        Ok(Stack {
            shared,
            driver: Some(driver),
        })
    }

    /// The TUN device's name.
    pub fn tun_name(&self) -> &str {
        &self.shared.tun_name
    }

    /// The addresses braid owns.
    pub fn local_addrs(&self) -> &[IpAddr] {
        &self.shared.addrs
    }

    /// Opens a connection from `local` (port 0 picks a free one) to `remote`, and
    /// waits for the handshake.
    pub async fn connect(&self, local: SocketAddr, remote: SocketAddr) -> io::Result<TcpStream> {
        if !self.shared.addrs.contains(&local.ip()) {
            return Err(Error::NotLocal(local.ip()).into());
        }
        if let Some(sysctl) = self.shared.facts.forwarding_missing(remote.ip()) {
            return Err(Error::ForwardingDisabled {
                sysctl,
                remote: remote.ip(),
            }
            .into());
        }
        let (id, local) = {
            let mut st = self.shared.lock();
            if let Some(e) = stopped_error(&st.stopped) {
                return Err(e);
            }
            let local = if local.port() == 0 {
                SocketAddr::new(local.ip(), st.endpoint.ephemeral_port(local.ip()))
            } else {
                local
            };
            let now = self.shared.clock.now();
            let id = st
                .endpoint
                .connect(now, local, remote)
                .map_err(endpoint_error)?;
            st.conns.insert(id, Conn::default());
            (id, local)
        };
        self.shared.wake_driver();
        // Aborts the connection if this future is dropped before the handshake ends.
        let mut pending = PendingConnect {
            shared: &self.shared,
            id,
            done: false,
        };
        poll_fn(|cx| {
            let mut guard = self.shared.lock();
            let st = &mut *guard;
            let Some(conn) = st.conns.get_mut(&id) else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            if conn.connected {
                return Poll::Ready(Ok(()));
            }
            if let Some(reason) = conn.closed {
                st.conns.remove(&id);
                return Poll::Ready(Err(close_error(reason)));
            }
            if let Some(e) = stopped_error(&st.stopped) {
                return Poll::Ready(Err(e));
            }
            conn.write_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await?;
        pending.done = true;
        Ok(TcpStream::new(self.shared.clone(), id, local, remote))
    }

    /// Listens on `addr`: one of the stack's addresses, or the unspecified address for
    /// all of them.
    pub fn listen(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        if !addr.ip().is_unspecified() && !self.shared.addrs.contains(&addr.ip()) {
            return Err(Error::NotLocal(addr.ip()).into());
        }
        let mut st = self.shared.lock();
        if let Some(e) = stopped_error(&st.stopped) {
            return Err(e);
        }
        st.endpoint.listen(addr).map_err(endpoint_error)?;
        st.listeners.insert(addr, Default::default());
        drop(st);
        if !self.shared.facts.forwarding_v4 && addr.is_ipv4() {
            tracing::warn!(
                "IP forwarding is off in this network namespace: only the kernel's own \
                 addresses can reach {addr}; run `sysctl -w net.ipv4.ip_forward=1` for others"
            );
        }
        Ok(TcpListener::new(self.shared.clone(), addr))
    }

    /// Every connection the endpoint holds (TIME-WAIT included), with its addresses.
    pub fn connections(&self) -> Vec<(SocketAddr, SocketAddr, StreamInfo)> {
        let st = self.shared.lock();
        st.endpoint
            .connection_ids()
            .filter_map(|id| {
                let c = st.endpoint.connection(id)?;
                Some((c.local(), c.remote(), stream::info_of(&st.endpoint, id)?))
            })
            .collect()
    }

    /// Runs `f` on the core's endpoint, under the stack's lock: for what the handles
    /// do not show, such as an MPTCP connection's phase, counters and subflows
    /// (`endpoint.connection(id)?.as_mptcp()`). The driver waits while `f` runs: keep
    /// it short.
    pub fn inspect<R>(&self, f: impl FnOnce(&Endpoint) -> R) -> R {
        f(&self.shared.lock().endpoint)
    }

    /// Local address `addr` went away (its interface went down, say): MPTCP
    /// connections announce its removal (REMOVE_ADDR) and reset the subflows that use
    /// it, moving their data to the others, and the path manager stops using it. The
    /// TUN device still takes packets for it: braid keeps owning the address.
    pub fn remove_local_address(&self, addr: IpAddr) -> io::Result<()> {
        self.with_local_address(addr, |endpoint, now| {
            endpoint.remove_local_address(now, addr)
        })
    }

    /// Makes local address `addr` a backup path (`backup`) or a regular one: MPTCP
    /// connections tell the peer with MP_PRIO on the subflows that use it (RFC 8684
    /// §3.3.8), and the path manager's endpoint for it takes the flag.
    pub fn set_address_backup(&self, addr: IpAddr, backup: bool) -> io::Result<()> {
        self.with_local_address(addr, |endpoint, now| {
            endpoint.set_address_backup(now, addr, backup)
        })
    }

    /// Calls `f` on the endpoint for one of the stack's addresses, then wakes the
    /// driver for the packets that may be owed.
    fn with_local_address(
        &self,
        addr: IpAddr,
        f: impl FnOnce(&mut Endpoint, braid_proto::time::Instant),
    ) -> io::Result<()> {
        if !self.shared.addrs.contains(&addr) {
            return Err(Error::NotLocal(addr).into());
        }
        let mut st = self.shared.lock();
        if let Some(e) = stopped_error(&st.stopped) {
            return Err(e);
        }
        let now = self.shared.clock.now();
        f(&mut st.endpoint, now);
        drop(st);
        self.shared.wake_driver();
        Ok(())
    }

    /// The endpoint's counters and the runtime's.
    pub fn stats(&self) -> (EndpointStats, RuntimeStats) {
        let st = self.shared.lock();
        (*st.endpoint.stats(), st.stats)
    }

    /// Drops this handle and waits, at most `timeout`, for the driver to stop: for
    /// every connection to finish closing once its streams are dropped. Call it before
    /// a program exits so that the last FIN and ACKs leave.
    pub async fn shutdown(mut self, timeout: std::time::Duration) {
        let driver = self.driver.take();
        drop(self);
        if let Some(mut driver) = driver {
            if tokio::time::timeout(timeout, &mut driver).await.is_err() {
                driver.abort();
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shared.handle_dropped();
    }
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("tun", &self.shared.tun_name)
            .field("addrs", &self.shared.addrs)
            .finish()
    }
}

struct PendingConnect<'a> {
    shared: &'a Shared,
    id: ConnectionId,
    done: bool,
}

impl Drop for PendingConnect<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut st = self.shared.lock();
        if let Some(tcp) = st.endpoint.connection_mut(self.id) {
            tcp.abort();
        }
        st.conns.remove(&self.id);
        drop(st);
        self.shared.wake_driver();
    }
}

fn endpoint_error(e: EndpointError) -> io::Error {
    let kind = match e {
        EndpointError::AddressInUse(_) => io::ErrorKind::AddrInUse,
        EndpointError::TooManyConnections(_) => io::ErrorKind::OutOfMemory,
        EndpointError::AddressFamilyMismatch => io::ErrorKind::InvalidInput,
    };
    io::Error::new(kind, e)
}
