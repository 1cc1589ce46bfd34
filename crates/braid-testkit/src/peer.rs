//! A Linux peer inside a namespace: a server or a client thread that connects, carries
//! out a [`PeerPlan`] (wait for subflows, exchange, close) and reports what it saw, and
//! the kernel's MPTCP counters of its namespace.
//!
//! The socket calls themselves are [`crate::linux_mptcp`]'s; this module puts them on a
//! thread in the right namespace and bounds every wait.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use crate::lab::spawn_in;
use crate::linux_mptcp::{self, Close, Exchange, ExchangeOptions, MptcpInfo, Proto};
use crate::netns::Netns;

/// What a Linux peer ([`linux_server`], [`linux_client`]) does once connected.
#[derive(Debug, Clone)]
pub struct PeerPlan {
    pub proto: Proto,
    pub exchange: ExchangeOptions,
    /// Additional subflows to wait for (MPTCP_INFO) before the exchange; 0 for none.
    pub wait_subflows: u8,
    /// How the connection ends after the exchange.
    pub close: Close,
}

impl PeerPlan {
    /// MPTCP: send `send` bytes of `Pattern::new(seed)` then DATA_FIN while reading to
    /// end of stream, then close; 20 s for all of it.
    pub fn new(send: u64, seed: u64) -> Self {
        PeerPlan {
            proto: Proto::Mptcp,
            exchange: ExchangeOptions::new(send, seed).timeout(Duration::from_secs(20)),
            wait_subflows: 0,
            close: Close::Graceful,
        }
    }

    pub fn wait_subflows(mut self, subflows: u8) -> Self {
        self.wait_subflows = subflows;
        self
    }

    pub fn close(mut self, close: Close) -> Self {
        self.close = close;
        self
    }

    pub fn exchange(mut self, f: impl FnOnce(ExchangeOptions) -> ExchangeOptions) -> Self {
        self.exchange = f(self.exchange);
        self
    }
}

/// What a Linux peer saw.
#[derive(Debug)]
pub struct PeerOutcome {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// The connected socket is an MPTCP one (`SO_PROTOCOL`).
    pub mptcp: bool,
    /// MPTCP_INFO once connected (after waiting for subflows), and after the exchange;
    /// the error's text where the kernel refused (a connection that fell back).
    pub info_before: Result<MptcpInfo, String>,
    pub info_after: Result<MptcpInfo, String>,
    /// The exchange, or its error (a reset, for example).
    pub exchange: Result<Exchange, io::Error>,
}

fn run_peer(stream: std::net::TcpStream, plan: &PeerPlan) -> io::Result<PeerOutcome> {
    let local = stream.local_addr()?;
    let peer = stream.peer_addr()?;
    let mptcp = linux_mptcp::is_mptcp(&stream)?;
    if plan.wait_subflows > 0 {
        linux_mptcp::wait_for_subflows(&stream, plan.wait_subflows, plan.exchange.timeout)?;
    }
    let info_before = linux_mptcp::mptcp_info(&stream).map_err(|e| e.to_string());
    let exchange = linux_mptcp::exchange(&stream, &plan.exchange);
    let info_after = linux_mptcp::mptcp_info(&stream).map_err(|e| e.to_string());
    linux_mptcp::close(stream, plan.close)?;
    Ok(PeerOutcome {
        local,
        peer,
        mptcp,
        info_before,
        info_after,
        exchange,
    })
}

/// A Linux server in `ns`: listens on `addr` (returns once it does), accepts one
/// connection and carries `plan` out on it. Accepting waits as long as the exchange
/// may take.
///
/// Joins arrive at the listener too: to accept MP_JOINs to other addresses of the
/// namespace (those a `signal` endpoint without a port announces, or any the peer
/// tries), listen on the wildcard address (`0.0.0.0` or `[::]`). A listener bound to
/// one address answers a join to another with a RST.
pub fn linux_server(
    ns: &Netns,
    addr: SocketAddr,
    plan: PeerPlan,
) -> io::Result<mpsc::Receiver<io::Result<PeerOutcome>>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let rx = spawn_in(ns, "linux-server", move || {
        let listener = match linux_mptcp::listen(plan.proto, addr) {
            Ok(l) => {
                let _ = ready_tx.send(Ok(()));
                l
            }
            Err(e) => {
                let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e);
            }
        };
        let (stream, _) = linux_mptcp::accept(&listener, plan.exchange.timeout)?;
        run_peer(stream, &plan)
    });
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("the Linux server did not start listening")),
    }
}

/// A Linux client in `ns`: connects to `remote` (from `local` if given) within 5 s and
/// carries `plan` out.
pub fn linux_client(
    ns: &Netns,
    local: Option<SocketAddr>,
    remote: SocketAddr,
    plan: PeerPlan,
) -> mpsc::Receiver<io::Result<PeerOutcome>> {
    spawn_in(ns, "linux-client", move || {
        let stream = linux_mptcp::connect(plan.proto, local, remote, Duration::from_secs(5))?;
        run_peer(stream, &plan)
    })
}

/// The MPTCP counters of `ns` (names without the `MPTcpExt` prefix); panics if the
/// kernel has none.
pub fn mptcp_counters(ns: &Netns) -> Counters {
    Counters(ns.mptcp_counters().expect("read the MPTCP counters"))
}

/// Counters by name; asking for a name the kernel does not have is a test bug, and
/// panics rather than reading as zero.
#[derive(Debug, Clone)]
pub struct Counters(pub BTreeMap<String, u64>);

impl Counters {
    pub fn get(&self, name: &str) -> u64 {
        *self.0.get(name).unwrap_or_else(|| {
            panic!(
                "no counter {name}; this kernel has {:?}",
                self.0.keys().collect::<Vec<_>>()
            )
        })
    }

    /// The counters that are not zero, for messages.
    pub fn nonzero(&self) -> BTreeMap<&str, u64> {
        self.0
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }
}
