//! Shared by the `netns_*` tests: gating on root, running one topology at a time,
//! bounded waits, and bulk exchanges with SHA-256 on both ends.
//!
//! The topology itself is `braid::runtime::netns` (the benchmark uses it too).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use braid::runtime::linux_mptcp::{self, Close, ExchangeOptions, MptcpInfo, Proto};
use braid::runtime::netns::{self, Netns};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest any one interop test may run.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Whether the test may run. Without root it is skipped with a message, unless
/// `BRAID_REQUIRE_NETNS=1`, which makes it fail instead.
pub fn netns_available(test: &str) -> bool {
    match netns::available() {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("BRAID_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
                panic!("{test}: network namespaces are required (BRAID_REQUIRE_NETNS=1) but {why}");
            }
            // Straight to the file descriptor: libtest captures `eprintln!`, and a skip
            // must be seen.
            let _ = writeln!(
                io::stderr(),
                "SKIPPED {test}: {why}. Run as root (or set BRAID_REQUIRE_NETNS=1 to make \
                 this a failure)."
            );
            false
        }
    }
}

/// One topology at a time: the tests measure nothing, but two 64 MiB exchanges on two
/// cores at once would only make each slower and their time limits tighter.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes to move each way: 64 MiB, or `BRAID_NETNS_MIB` MiB.
pub fn transfer_size() -> u64 {
    std::env::var("BRAID_NETNS_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(64)
        << 20
}

/// Runs `f` on a thread inside `ns`; its result arrives on the returned channel (a
/// panic drops the sender).
pub fn spawn_in<T, F>(ns: &Netns, name: &str, f: F) -> mpsc::Receiver<io::Result<T>>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    ns.spawn(name, move || {
        let _ = tx.send(f());
        Ok(())
    })
    .expect("spawn a thread in the namespace");
    rx
}

/// Waits for a result until `deadline`; panics with `what` and `progress` otherwise.
pub fn wait<T>(
    rx: &mpsc::Receiver<io::Result<T>>,
    deadline: Instant,
    what: &str,
    progress: &dyn Fn() -> String,
) -> T {
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what} failed: {e}; {}", progress()),
        Err(RecvTimeoutError::Timeout) => panic!(
            "{what} did not finish within {}s; {}",
            TIME_LIMIT.as_secs(),
            progress()
        ),
        Err(RecvTimeoutError::Disconnected) => panic!("{what} panicked; {}", progress()),
    }
}

pub use braid::runtime::linux_mptcp::{Exchange, Pattern, Progress};

const CHUNK: usize = 64 << 10;

/// The Linux end: sends `size` bytes of `Pattern::new(seed)` then FIN, while reading
/// to end of stream, on a std socket (blocking, with timeouts). TCP or MPTCP alike.
pub fn linux_exchange(
    stream: std::net::TcpStream,
    size: u64,
    seed: u64,
    progress: Arc<Progress>,
) -> io::Result<Exchange> {
    linux_mptcp::exchange(
        &stream,
        &ExchangeOptions::new(size, seed)
            .timeout(TIME_LIMIT)
            .progress(progress),
    )
}

/// The braid end, on any tokio stream: the same exchange as [`linux_exchange`].
pub async fn async_exchange<R, W>(
    mut reader: R,
    mut writer: W,
    size: u64,
    seed: u64,
    progress: Arc<Progress>,
) -> io::Result<Exchange>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let sender_progress = progress.clone();
    let sender = tokio::spawn(async move {
        let mut pattern = Pattern::new(seed);
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut left = size;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            pattern.fill(&mut buf[..n]);
            sha.update(&buf[..n]);
            writer.write_all(&buf[..n]).await?;
            left -= n as u64;
            sender_progress.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        writer.shutdown().await?;
        io::Result::Ok(<[u8; 32]>::from(sha.finalize()))
    });
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut received = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        received += n as u64;
        progress.received.fetch_add(n as u64, Ordering::Relaxed);
    }
    let sent_sha = sender.await.map_err(io::Error::other)??;
    Ok(Exchange {
        sent: size,
        sent_sha,
        received,
        received_sha: sha.finalize().into(),
    })
}

/// Both ends saw the same bytes each way.
pub fn assert_exchanged(braid: &Exchange, linux: &Exchange, size: u64) {
    assert_eq!(braid.sent, size);
    assert_eq!(linux.sent, size);
    assert_eq!(linux.received, size, "bytes Linux received from braid");
    assert_eq!(braid.received, size, "bytes braid received from Linux");
    assert_eq!(
        linux.received_sha, braid.sent_sha,
        "SHA-256 of braid -> Linux differs"
    );
    assert_eq!(
        braid.received_sha, linux.sent_sha,
        "SHA-256 of Linux -> braid differs"
    );
}

/// A tokio runtime for the braid end, built on (and so running in the namespace of)
/// the calling thread.
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

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
    /// end of stream, then close.
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
    let info_before = if plan.wait_subflows > 0 {
        linux_mptcp::wait_for_subflows(&stream, plan.wait_subflows, plan.exchange.timeout)?;
        linux_mptcp::mptcp_info(&stream).map_err(|e| e.to_string())
    } else {
        linux_mptcp::mptcp_info(&stream).map_err(|e| e.to_string())
    };
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

/// A Linux client in `ns`: connects to `remote` (from `local` if given) and carries
/// `plan` out.
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

/// The MPTCP counters of `ns` (names without the `MPTcpExt` prefix).
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
