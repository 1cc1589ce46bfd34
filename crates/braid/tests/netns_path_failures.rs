//! Paths failing for real under braid's MPTCP, against the Linux kernel's, in network
//! namespaces (the layout of docs/network-lab.md): braid on its TUN device in the
//! client namespace, Linux in the server namespace, one or two veth paths. Every case
//! runs with braid as the client and as the server (except where only one makes
//! sense: see each test).
//!
//! Every transfer is checked end to end: SHA-256 of every byte, both ways, and that
//! both ends read the end of the stream within a stated bound of the moment it was
//! due ([`EndBound`]): a connection that delivers everything and never closes fails.
//! A test that fails says what each end had, when, and what braid's capture shows:
//! which subflow each DATA_FIN, SYN and RST went on, braid's MPTCP counters and
//! subflows, Linux's `MPTcpExt` counters and `ss -tinaM`.
//!
//! The failures: a path's link going down for good or silenced without any link event
//! (iptables DROP), the first subflow's path and the other ([`path_fails`]); a path
//! flapping 20 times while the Linux host withdraws and re-adds its address each time
//! ([`twenty_flaps`]); a firewall dropping every SYN that carries option 30
//! ([`mptcp_syns_dropped`]); a server, Linux or braid, that forbids joins to its
//! initial address and port; and 5% loss each way on one path ([`lossy_path`]). Each end also compares
//! what it receives with what the other sends, byte by byte, so that a SHA-256 that
//! differs comes with where.
//!
//! The kernel of this machine has no netem: rates come from tbf, loss from iptables'
//! `statistic` match, the SYN filter is the `tcp` match's `--tcp-option 30` (iptables
//! 1.8.9, nf_tables backend; checked to drop MP_CAPABLE SYNs: Linux then connects
//! without MPTCP after 3 s).
//!
//! One lab at a time. On the project machine (2 cores) the tests that pass take
//! about 25 s together; all of them, with `--include-ignored`, about 140 s on the
//! code they were written against (the failing ones wait out their bounds), and
//! about 110 s with the defects fixed (each flap test about 13 s). Needs root; skipped otherwise (failed
//! with `BRAID_REQUIRE_NETNS=1`).
//!
//! Captures of braid's TUN device (headers and options; whole packets with
//! `BRAID_NETNS_PCAP_SNAPLEN=0`) are written to `BRAID_NETNS_PCAP=DIR` if set, with
//! captures of Linux's end of each path, and otherwise to the temporary directory
//! and deleted when the test passes.
//!
//! Tests marked `#[ignore = "issue 18: ..."]` fail on the code they were written
//! against; the reason names the defect.

mod netns;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use braid::capture::{decode, CaptureReader, Decoded};
use braid::runtime::{Stack, StackConfig, TcpStream};
use braid_proto::endpoint::Endpoint;
use braid_proto::mptcp::{MptcpStats, Phase};
use braid_proto::tcp::TcpState;
use braid_proto::wire::mptcp::{MpCapableVariant, MpJoin, MptcpOption};
use braid_testkit::lab::{spawn_in, wait};
use braid_testkit::linux_mptcp::{Exchange, Pattern, Progress, ProgressTimes};
use braid_testkit::netns::{EndpointFlag, FlapSchedule, Hook, PathEnd, Topology};
use braid_testkit::peer::{linux_client, linux_server, mptcp_counters, PeerOutcome, PeerPlan};
use braid_testkit::Lab;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 5001;
const BRAID_SEED: u64 = 0xb4a1d;
const LINUX_SEED: u64 = 0x11e7;
const MIB: u64 = 1 << 20;
/// The longest one test may take, from start to both ends done.
const LIMIT: Duration = Duration::from_secs(45);
/// Path rates in Mbit/s, each way, in the tests with two paths: those of the report
/// that found the DATA_FIN on a dead subflow.
const RATES_MBIT: [u32; 2] = [50, 20];

/// How long after it was due each end must read the end of the stream. Due: once the
/// sender shut down its side and the receiver has read every byte (whichever is
/// later).
#[derive(Debug, Clone, Copy)]
struct EndBound(Duration);

/// A DATA_FIN (or FIN) on a working subflow arrives within an RTT; one that went out
/// on a failed subflow is due again after the data-level retry, the largest RTO of
/// the usable subflows (200 ms to 1 s on these paths). 2 s allows for one retry after
/// a backed-off RTO; Linux, on the same paths, ends within one RTT.
const END_BOUND: EndBound = EndBound(Duration::from_secs(2));
/// With 5% loss, or after a path's RTO has been backed off by 20 outages, the DATA_FIN
/// or its acknowledgment may be lost once more: one more retry on top of
/// [`END_BOUND`].
const LOSSY_END_BOUND: EndBound = EndBound(Duration::from_secs(3));

// ---------------------------------------------------------------------------------
// The two roles and what each end does

/// braid's role; Linux has the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Client => "braid client, Linux server",
            Role::Server => "Linux client, braid server",
        }
    }
}

/// What the two ends send. Unless `server_answers_after_request`, both directions
/// run at once.
#[derive(Debug, Clone, Copy)]
struct Transfer {
    braid_sends: u64,
    linux_sends: u64,
    /// The server reads the whole request (to end of stream) before it sends its
    /// answer and shuts down: an end that never sees the request's end never
    /// answers.
    server_answers_after_request: bool,
}

/// How the lab is set up before the connection.
struct Setup {
    role: Role,
    /// braid's addresses (its TUN device's).
    braid_addrs: Vec<IpAddr>,
    config: StackConfig,
    transfer: Transfer,
    /// Holds braid's last bytes back until the test opens it.
    gate: Option<Arc<AtomicBool>>,
}

/// 10.1.1.1:PORT, 10.0.1.2:PORT...
fn v4(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// braid's configuration with path manager endpoints (`"10.1.2.1,subflow"`) and at
/// most `subflows` subflows beyond the first.
fn config(endpoints: &[String], subflows: u8) -> StackConfig {
    let mut config = StackConfig::default();
    let pm = &mut config.endpoint.mptcp.path_manager;
    pm.endpoints = endpoints
        .iter()
        .map(|e| e.parse().expect("an endpoint"))
        .collect();
    pm.limits.subflows = subflows;
    pm.assign_ids();
    pm.validate().expect("a valid path manager configuration");
    config
}

/// tbf at `mbit` Mbit/s on both ends of path `index`: each direction carries at most
/// that much.
fn limit_rate(lab: &Topology, index: usize, mbit: u32) {
    let path = &lab.paths[index];
    for (ns, dev) in [
        (&lab.client, &path.client_dev),
        (&lab.server, &path.server_dev),
    ] {
        ns.exec(
            "tc",
            &[
                "qdisc",
                "replace",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                &format!("{mbit}mbit"),
                "burst",
                "64kb",
                "latency",
                "50ms",
            ],
        )
        .expect("tc qdisc tbf");
    }
}

/// The two-path lab every two-path test starts from, for `role`: braid's second
/// address joins (client), or Linux's does (server).
///
/// - braid client: a `subflow` endpoint on 10.1.2.1, so braid joins the Linux server
///   (listening on every address, limits 8/8) from it, over path 2.
/// - braid server on 10.1.1.1: the Linux client (limits 8/8) has a `subflow` endpoint
///   on 10.0.2.2 bound to s2, and joins braid's 10.1.1.1 over path 2; braid's replies
///   to 10.0.2.2 go back by path 2 (a rule, as a host with a route per interface).
fn two_paths(lab: &Lab, role: Role, transfer: Transfer, rates: Option<[u32; 2]>) -> Setup {
    let (p1, p2) = (&lab.paths[0], &lab.paths[1]);
    if let Some(rates) = rates {
        limit_rate(lab, 0, rates[0]);
        limit_rate(lab, 1, rates[1]);
    }
    lab.server.mptcp_limits(8, 8).expect("ip mptcp limits");
    match role {
        Role::Client => Setup {
            role,
            braid_addrs: vec![p1.braid_ip.into(), p2.braid_ip.into()],
            config: config(&[format!("{},subflow", p2.braid_ip)], 2),
            transfer,
            gate: None,
        },
        Role::Server => {
            lab.server
                .mptcp_endpoint_add(
                    p2.server_ip.into(),
                    Some(&p2.server_dev),
                    &[EndpointFlag::Subflow],
                    None,
                )
                .expect("Linux's subflow endpoint");
            route_replies_to_path2(lab);
            Setup {
                role,
                braid_addrs: vec![p1.braid_ip.into()],
                config: StackConfig::default(),
                transfer,
                gate: None,
            }
        }
    }
}

/// braid's packets from 10.1.1.1 to Linux's 10.0.2.2 leave by path 2, like those of a
/// host with a route per interface: Linux binds the subflow of its `dev s2` endpoint
/// to s2 and resets one whose replies arrive on s1.
fn route_replies_to_path2(lab: &Lab) {
    let (p1, p2) = (&lab.paths[0], &lab.paths[1]);
    lab.client
        .ip(&[
            "rule",
            "add",
            "from",
            &p1.braid_ip.to_string(),
            "to",
            &p2.server_ip.to_string(),
            "table",
            "2",
            "pref",
            "100",
        ])
        .expect("route braid's replies to 10.0.2.2 by path 2");
}

/// The one-path lab: braid on 10.1.1.1, Linux on 10.0.1.2.
fn one_path(lab: &Lab, role: Role, transfer: Transfer) -> Setup {
    Setup {
        role,
        braid_addrs: vec![lab.paths[0].braid_ip.into()],
        config: StackConfig::default(),
        transfer,
        gate: None,
    }
}

// ---------------------------------------------------------------------------------
// A running transfer

/// braid's view of its MPTCP connection at one moment.
#[derive(Debug, Clone)]
struct MptcpView {
    state: TcpState,
    phase: Phase,
    stats: MptcpStats,
    subflows: Vec<SubflowView>,
}

#[derive(Debug, Clone)]
struct SubflowView {
    local: SocketAddr,
    remote: SocketAddr,
    state: TcpState,
    usable: bool,
    stale: bool,
    timeouts: u64,
    bytes_sent: u64,
    bytes_received: u64,
}

impl MptcpView {
    fn describe(&self) -> String {
        let mut s = format!(
            "braid's connection: {:?}, {:?}; {} subflows (local, remote, state, usable, \
             stale, RTOs, bytes out/in):",
            self.state,
            self.phase,
            self.subflows.len()
        );
        for f in &self.subflows {
            let _ = write!(
                s,
                "\n    {} <-> {} {:?} usable={} stale={} rto={} {}/{}",
                f.local,
                f.remote,
                f.state,
                f.usable,
                f.stale,
                f.timeouts,
                f.bytes_sent,
                f.bytes_received
            );
        }
        let counters: Vec<String> = self
            .stats
            .counters()
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = write!(s, "\n  braid's MPTCP counters: {}", counters.join(" "));
        s
    }
}

/// braid's MPTCP connection in `endpoint`, if it has one (not after a fallback to a
/// plain TCP connection the listener took).
fn view(endpoint: &Endpoint) -> Option<MptcpView> {
    endpoint.connection_ids().find_map(|id| {
        let c = endpoint.connection(id)?;
        let m = c.as_mptcp()?;
        Some(MptcpView {
            state: c.state(),
            phase: m.phase(),
            stats: *m.stats(),
            subflows: m
                .subflows()
                .map(|s| SubflowView {
                    local: s.tcp().local(),
                    remote: s.tcp().remote(),
                    state: s.tcp().state(),
                    usable: s.is_usable(),
                    stale: s.is_stale(),
                    timeouts: s.tcp().stats().timeouts,
                    bytes_sent: s.tcp().stats().bytes_sent,
                    bytes_received: s.tcp().stats().bytes_received,
                })
                .collect(),
        })
    })
}

/// What braid's end reports when it is done.
#[derive(Debug)]
struct BraidDone {
    exchange: Exchange,
    /// braid's connection was plain TCP (a listener that took a SYN without
    /// MP_CAPABLE), not an MPTCP one.
    plain_tcp: bool,
}

/// A transfer under way: braid's stack and connection on a thread in the client
/// namespace, the Linux peer on one in the server namespace, and a capture of
/// braid's TUN device.
struct Running<'a> {
    test: &'a str,
    lab: &'a Lab,
    role: Role,
    transfer: Transfer,
    stack: Option<Arc<Stack>>,
    /// braid's last view of its MPTCP connection, kept every 2 ms: the core drops a
    /// connection the moment it ends.
    last_view: Arc<Mutex<Option<MptcpView>>>,
    braid_result: Receiver<io::Result<BraidDone>>,
    linux_result: Receiver<io::Result<PeerOutcome>>,
    braid: Arc<Progress>,
    linux: Arc<Progress>,
    /// When braid's connect returned, or its listener accepted.
    connected_at: Arc<Mutex<Option<Instant>>>,
    started: Instant,
    started_wall: SystemTime,
    /// What the test did to the paths, and when.
    events: Vec<(Instant, String)>,
    capture: Option<Capture>,
}

/// Starts the transfer `setup` describes in `lab`: braid's stack first, the capture
/// of its device, then the connection (braid connects to 10.0.1.2, or Linux to
/// 10.1.1.1).
fn start<'a>(test: &'a str, lab: &'a Lab, setup: Setup, linux_plan: PeerPlan) -> Running<'a> {
    let Setup {
        role,
        braid_addrs,
        config,
        transfer,
        gate,
    } = setup;
    let p1 = &lab.paths[0];
    let (braid, linux) = (Arc::<Progress>::default(), Arc::<Progress>::default());
    // Each end knows what the other sends: a SHA-256 that differs comes with where.
    braid.expect_pattern(LINUX_SEED);
    linux.expect_pattern(BRAID_SEED);
    let linux_plan = {
        let linux = linux.clone();
        linux_plan.exchange(|e| {
            e.progress(linux).timeout(LIMIT).respond_after_receiving(
                transfer.server_answers_after_request && role == Role::Client,
            )
        })
    };
    let linux_result_early = match role {
        Role::Client => Some(
            linux_server(
                &lab.server,
                v4(Ipv4Addr::UNSPECIFIED, PORT),
                linux_plan.clone(),
            )
            .expect("the Linux server listens"),
        ),
        Role::Server => None,
    };
    let last_view = Arc::new(Mutex::new(None));
    let connected_at = Arc::new(Mutex::new(None));
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<Arc<Stack>>>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let braid_result = {
        let (last_view, connected_at, progress) =
            (last_view.clone(), connected_at.clone(), braid.clone());
        let (local, remote) = (v4(p1.braid_ip, 0), v4(p1.server_ip, PORT));
        let listen = v4(p1.braid_ip, PORT);
        let answers_after_request = transfer.server_answers_after_request && role == Role::Server;
        spawn_in(&lab.client, "braid", move || {
            netns::runtime()?.block_on(async move {
                let made = (|| {
                    let stack = Arc::new(Stack::new("braid0", &braid_addrs, config)?);
                    let listener = match role {
                        Role::Server => Some(stack.listen(listen)?),
                        Role::Client => None,
                    };
                    io::Result::Ok((stack, listener))
                })();
                let (stack, listener) = match made {
                    Ok(made) => made,
                    Err(e) => {
                        let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                        return Err(e);
                    }
                };
                let _ = ready_tx.send(Ok(stack.clone()));
                // The test starts its capture of the device before the first SYN.
                tokio::task::block_in_place(|| go_rx.recv_timeout(Duration::from_secs(10)))
                    .map_err(|_| io::Error::other("no go from the test"))?;
                let monitor = {
                    let (stack, last_view) = (stack.clone(), last_view.clone());
                    tokio::spawn(async move {
                        loop {
                            if let Some(v) = stack.inspect(view) {
                                *last_view.lock().unwrap() = Some(v);
                            }
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                    })
                };
                let work = async {
                    let stream = match listener {
                        None => stack.connect(local, remote).await?,
                        Some(listener) => listener.accept().await?.0,
                    };
                    *connected_at.lock().unwrap() = Some(Instant::now());
                    let plain_tcp = stack.inspect(view).is_none();
                    let exchange = braid_exchange(
                        stream,
                        transfer.braid_sends,
                        answers_after_request,
                        gate,
                        progress,
                    )
                    .await?;
                    io::Result::Ok(BraidDone {
                        exchange,
                        plain_tcp,
                    })
                };
                let result = tokio::time::timeout(LIMIT, work)
                    .await
                    .unwrap_or_else(|_| Err(io::Error::other("braid: time limit")));
                monitor.abort();
                let _ = monitor.await;
                if let Some(v) = stack.inspect(view) {
                    *last_view.lock().unwrap() = Some(v);
                }
                // The last FINs and ACKs leave before the runtime goes, once the test
                // has let go of its handle.
                for _ in 0..1000 {
                    if Arc::strong_count(&stack) == 1 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if let Ok(stack) = Arc::try_unwrap(stack) {
                    stack.shutdown(Duration::from_secs(2)).await;
                }
                result
            })
        })
    };
    let stack = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("braid's stack starts")
        .expect("braid's stack");
    let capture = Capture::start(test, lab);
    let started = Instant::now();
    let started_wall = SystemTime::now();
    go_tx.send(()).expect("braid waits for the go");
    let linux_result = match linux_result_early {
        Some(rx) => rx,
        None => linux_client(&lab.server, None, v4(p1.braid_ip, PORT), linux_plan),
    };
    Running {
        test,
        lab,
        role,
        transfer,
        stack: Some(stack),
        last_view,
        braid_result,
        linux_result,
        braid,
        linux,
        connected_at,
        started,
        started_wall,
        events: Vec::new(),
        capture,
    }
}

/// The Linux peer's plan: send `bytes` of the Linux pattern and shut down, reading to
/// end of stream; then close.
fn linux_plan(bytes: u64) -> PeerPlan {
    PeerPlan::new(bytes, LINUX_SEED)
}

/// braid's end: `sends` bytes of braid's pattern then shutdown, while reading to end
/// of stream (or, when `answers_after_request`, reading first). With a `gate`, the
/// last [`HELD_BACK`] bytes wait until the test opens it (for at most [`LIMIT`]), so
/// that the stream is still open while the test works on the paths.
async fn braid_exchange(
    stream: TcpStream,
    sends: u64,
    answers_after_request: bool,
    gate: Option<Arc<AtomicBool>>,
    progress: Arc<Progress>,
) -> io::Result<Exchange> {
    let (mut reader, mut writer) = stream.into_split();
    let receiver_progress = progress.clone();
    let sender = async move {
        let mut pattern = Pattern::new(BRAID_SEED);
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut left = sends;
        while left > 0 {
            if left <= HELD_BACK {
                if let Some(gate) = &gate {
                    // Every 5 ms, bounded by the time limit.
                    for _ in 0..LIMIT.as_millis() / 5 {
                        if gate.load(Ordering::Relaxed) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            let n = left.min(CHUNK as u64) as usize;
            pattern.fill(&mut buf[..n]);
            sha.update(&buf[..n]);
            writer.write_all(&buf[..n]).await?;
            progress_sent(&progress, n);
            left -= n as u64;
        }
        writer.shutdown().await?;
        progress.record_shut_down();
        io::Result::Ok(<[u8; 32]>::from(sha.finalize()))
    };
    let receiver = async move {
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0u64;
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                receiver_progress.record_end_of_stream();
                break;
            }
            sha.update(&buf[..n]);
            received += n as u64;
            receiver_progress.record_data(&buf[..n]);
        }
        io::Result::Ok((received, <[u8; 32]>::from(sha.finalize())))
    };
    let ((received, received_sha), sent_sha) = if answers_after_request {
        let got = receiver.await?;
        (got, sender.await?)
    } else {
        let sending = tokio::spawn(sender);
        let got = receiver.await?;
        (got, sending.await.map_err(io::Error::other)??)
    };
    Ok(Exchange {
        sent: sends,
        sent_sha,
        received,
        received_sha,
    })
}

/// What braid's end reads and writes at a time.
const CHUNK: usize = 64 << 10;
/// What braid's end holds back until the test opens its gate.
const HELD_BACK: u64 = MIB;

fn progress_sent(progress: &Progress, n: usize) {
    progress.sent.fetch_add(n as u64, Ordering::Relaxed);
}

/// How one direction of the stream ended.
#[derive(Debug, Clone, Copy)]
struct DirectionEnd {
    /// From the moment the end was due to the receiver's reading it.
    after_due: Duration,
}

/// What a finished transfer saw.
struct Finished {
    linux: PeerOutcome,
    braid: BraidDone,
    /// braid's last view of its MPTCP connection.
    view: Option<MptcpView>,
    /// Each direction's end: braid -> Linux, Linux -> braid.
    ends: [DirectionEnd; 2],
    /// When the later of the two ends of the stream was read.
    ended_at: Instant,
    /// The longest time each receiver (Linux, braid) went without new bytes while
    /// some were still to come, from [`Running::finish`] on.
    longest_gaps: [Duration; 2],
    capture: CaptureSummary,
}

impl Running<'_> {
    fn stack(&self) -> &Stack {
        self.stack.as_ref().expect("the stack, until finish")
    }

    /// Notes what the test did, for the failure messages.
    fn event(&mut self, what: impl Into<String>) {
        self.events.push((Instant::now(), what.into()));
    }

    fn mptcp_now(&self) -> Option<MptcpView> {
        self.stack().inspect(view)
    }

    /// Waits until braid's end has received `braid` bytes or Linux's `linux` bytes,
    /// whichever first, for at most `timeout`.
    fn wait_progress(&self, braid: u64, linux: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while received(&self.braid) < braid && received(&self.linux) < linux {
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "the transfer did not reach braid {braid} or Linux {linux} received \
                     bytes within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits for braid's connection to be established, for at most `within`; returns
    /// how long after the start it was.
    fn wait_connected(&self, within: Duration) -> Duration {
        let deadline = self.started + within;
        loop {
            if let Some(at) = *self.connected_at.lock().unwrap() {
                return at - self.started;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("braid's connection was not up within {within:?}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Times (since the start) and text of what the test did.
    fn events_text(&self) -> String {
        self.events
            .iter()
            .map(|(at, what)| format!("{:.3}s {what}", (*at - self.started).as_secs_f64()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Everything known about the transfer, for a failure message: both ends'
    /// progress and times, braid's connection, Linux's counters and sockets, braid's
    /// capture.
    fn diagnosis(&self) -> String {
        let since = |t: Option<Instant>| {
            t.map_or("never".to_string(), |t| {
                format!("{:.3}s", (t - self.started).as_secs_f64())
            })
        };
        let times = |who: &str, p: &Progress| {
            let t: ProgressTimes = p.times();
            format!(
                "{}; shut down {}, last data {}, end of stream {}",
                p.describe(who),
                since(t.shut_down),
                since(t.last_data),
                since(t.end_of_stream)
            )
        };
        let view = self
            .stack
            .as_ref()
            .and_then(|s| s.inspect(view))
            .or_else(|| self.last_view.lock().unwrap().clone());
        let capture = self
            .capture
            .as_ref()
            .map_or("(no capture)".to_string(), |c| {
                c.summary(self.started_wall).describe()
            });
        format!(
            "{} ({}), {:.3}s after the start.\n  What the test did: {}\n  {}\n  {}\n  {}\n  \
             Linux's MPTCP counters: {:?}\n  Linux's sockets (ss -tinaM):\n{}\n  {}",
            self.test,
            self.role.name(),
            self.started.elapsed().as_secs_f64(),
            self.events_text(),
            times("braid", &self.braid),
            times("Linux", &self.linux),
            view.map_or("braid has no MPTCP connection".to_string(), |v| v
                .describe()),
            mptcp_counters(&self.lab.server).nonzero(),
            indent(&self.lab.server.sockets(), 4),
            capture
        )
    }

    /// Panics with `what` and the diagnosis.
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.diagnosis())
    }

    /// Waits until both ends have read the end of the stream, each within `bound` of
    /// the moment it was due; then for both ends' results, and checks every byte both
    /// ways. Panics with the diagnosis when an end misses its bound or the transfer
    /// stalls.
    fn finish(mut self, bound: EndBound) -> Finished {
        let directions = [
            (
                "braid -> Linux",
                self.braid.clone(),
                self.linux.clone(),
                self.transfer.braid_sends,
            ),
            (
                "Linux -> braid",
                self.linux.clone(),
                self.braid.clone(),
                self.transfer.linux_sends,
            ),
        ];
        let deadline = self.started + LIMIT;
        let mut ends = [None, None];
        let mut last_change = [(0u64, Instant::now()); 2];
        let mut longest_gaps = [Duration::ZERO; 2];
        // Bounded by the deadline (and the count, 1 ms apart, in case the clock
        // misbehaves).
        for _ in 0..LIMIT.as_millis() {
            for (i, (name, sender, receiver, size)) in directions.iter().enumerate() {
                if ends[i].is_some() {
                    continue;
                }
                let now = Instant::now();
                let got = received(receiver);
                if got != last_change[i].0 || got >= *size {
                    longest_gaps[i] = longest_gaps[i].max(now - last_change[i].1);
                    last_change[i] = (got, now);
                }
                let (s, r) = (sender.times(), receiver.times());
                let due = match (s.shut_down, received(receiver) >= *size) {
                    (Some(shut), true) => Some(r.last_data.map_or(shut, |l| l.max(shut))),
                    _ => None,
                };
                match (due, r.end_of_stream) {
                    (_, Some(eof)) => {
                        let after_due =
                            due.map_or(Duration::ZERO, |due| eof.saturating_duration_since(due));
                        if after_due > bound.0 {
                            self.fail(&format!(
                                "{name}: the end of the stream came {after_due:?} after it was \
                                 due, beyond the bound of {:?}",
                                bound.0
                            ));
                        }
                        ends[i] = Some(DirectionEnd { after_due });
                    }
                    (Some(due), None) if due.elapsed() > bound.0 => self.fail(&format!(
                        "{name}: every byte arrived and the sender shut down {:.3}s ago, but \
                         the receiver has not seen the end of the stream (bound {:?})",
                        due.elapsed().as_secs_f64(),
                        bound.0
                    )),
                    _ => {}
                }
            }
            if ends.iter().all(Option::is_some) || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if ends.iter().any(Option::is_none) {
            self.fail(&format!("the transfer did not end within {LIMIT:?}"));
        }
        let progress = {
            let (b, l) = (self.braid.clone(), self.linux.clone());
            move || format!("{}; {}", b.describe("braid"), l.describe("Linux"))
        };
        for (who, p) in [("Linux", &self.linux), ("braid", &self.braid)] {
            if let Some(d) = p.first_difference() {
                self.fail(&format!(
                    "{who} received bytes that were not sent: {d:?}\n(capture with the \
                     payload: BRAID_NETNS_PCAP=DIR BRAID_NETNS_PCAP_SNAPLEN=0)"
                ));
            }
        }
        // Before braid's device goes with its stack.
        let capture = self
            .capture
            .take()
            .map(|c| c.summary(self.started_wall))
            .unwrap_or_default();
        // Both ends have read the end: their results follow at once.
        let results_by = Instant::now() + Duration::from_secs(10);
        self.stack = None;
        let linux = wait(&self.linux_result, results_by, "the Linux end", &progress);
        let braid = wait(&self.braid_result, results_by, "braid's end", &progress);
        let linux_exchange = linux
            .exchange
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: Linux's exchange failed: {e}", self.test));
        let t = self.transfer;
        assert_eq!(
            linux_exchange.received, t.braid_sends,
            "bytes Linux received from braid"
        );
        assert_eq!(
            braid.exchange.received, t.linux_sends,
            "bytes braid received from Linux"
        );
        assert_eq!(
            linux_exchange.received_sha,
            Pattern::sha256(BRAID_SEED, t.braid_sends),
            "SHA-256 of braid -> Linux differs"
        );
        assert_eq!(
            braid.exchange.received_sha,
            Pattern::sha256(LINUX_SEED, t.linux_sends),
            "SHA-256 of Linux -> braid differs"
        );
        let view = self.last_view.lock().unwrap().clone();
        let ended_at = [&self.braid, &self.linux]
            .iter()
            .filter_map(|p| p.times().end_of_stream)
            .max()
            .expect("both ends read the end of the stream");
        Finished {
            linux,
            braid,
            view,
            ends: ends.map(|e| e.expect("checked above")),
            ended_at,
            longest_gaps,
            capture,
        }
    }
}

fn received(p: &Progress) -> u64 {
    p.received.load(Ordering::Relaxed)
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| format!("{pad}{}", l.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------
// braid's capture

/// dumpcap on braid's TUN device: every packet braid sent or received, headers and
/// options only. Stopped (SIGINT, by process id) when summarized or dropped; the file
/// is deleted when the test passes unless `BRAID_NETNS_PCAP` names its directory.
struct Capture {
    child: Mutex<Option<std::process::Child>>,
    file: PathBuf,
    keep: bool,
    /// With `BRAID_NETNS_PCAP`, also what Linux's end of each path saw (`sN`), to
    /// tell what braid sent from what Linux received.
    linux_side: Vec<std::process::Child>,
}

/// How long after the last packet of interest dumpcap surely has it: more than its
/// read timeout.
const CAPTURE_SETTLE: Duration = Duration::from_millis(400);

/// dumpcap on `dev` in `ns` into `file`, or why not.
fn dumpcap(
    ns: &str,
    dev: &str,
    snaplen: &str,
    file: &std::path::Path,
) -> io::Result<std::process::Child> {
    let _ = std::fs::remove_file(file);
    let child = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "dumpcap", "-q", "-P"])
        .args(["-s", snaplen, "-i", dev, "-w"])
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // dumpcap creates the file once it captures.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(child)
}

impl Capture {
    fn start(test: &str, lab: &Lab) -> Option<Capture> {
        let (dir, keep) = match std::env::var("BRAID_NETNS_PCAP") {
            Ok(dir) => (PathBuf::from(dir), true),
            Err(_) => (std::env::temp_dir(), false),
        };
        let file = dir.join(format!("{test}-{}.pcap", std::process::id()));
        // Headers and options are enough to see how the stream ended; 0 keeps
        // whole packets, to see what bytes went.
        let snaplen =
            std::env::var("BRAID_NETNS_PCAP_SNAPLEN").unwrap_or_else(|_| "200".to_string());
        let child = match dumpcap(lab.client.name(), "braid0", &snaplen, &file) {
            Ok(child) => child,
            Err(e) => {
                eprintln!("{test}: no capture: dumpcap (Debian's wireshark-common): {e}");
                return None;
            }
        };
        let linux_side = if keep {
            lab.paths
                .iter()
                .filter_map(|p| {
                    let file = dir.join(format!(
                        "{test}-{}-{}.pcap",
                        std::process::id(),
                        p.server_dev
                    ));
                    dumpcap(lab.server.name(), &p.server_dev, &snaplen, &file).ok()
                })
                .collect()
        } else {
            Vec::new()
        };
        Some(Capture {
            child: Mutex::new(Some(child)),
            file,
            keep,
            linux_side,
        })
    }

    /// Stops dumpcap, which writes what it holds and exits; returns what it said
    /// about the packets it received and dropped.
    fn stop(&self) -> Option<String> {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(child) = child {
            // dumpcap stops reading at the signal: what the kernel still holds for
            // it is lost. The kernel hands packets over in blocks, a block at the
            // latest when dumpcap's read timeout (250 ms) expires; so wait longer
            // than that, and until the file stops growing (checked every 100 ms,
            // for at most 3 s in all).
            std::thread::sleep(CAPTURE_SETTLE);
            let size = || std::fs::metadata(&self.file).map_or(0, |m| m.len());
            let mut last = size();
            for _ in 0..26 {
                std::thread::sleep(Duration::from_millis(100));
                let now = size();
                if now == last {
                    break;
                }
                last = now;
            }
            // SAFETY: kill takes a pid and a signal; the pid is our own child's.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let out = child.wait_with_output().ok()?;
            let said = String::from_utf8_lossy(&out.stderr).into_owned();
            return said
                .lines()
                .find(|l| l.contains("received/dropped"))
                .map(str::to_string);
        }
        None
    }

    /// Stops the capture (it is over once summarized; braid's device must still be
    /// there, or dumpcap loses what it had not read) and reads what matters for the
    /// end of a stream from it.
    fn summary(&self, started: SystemTime) -> CaptureSummary {
        let dumpcap = self.stop();
        let mut summary = CaptureSummary::read(&self.file, started);
        summary.dumpcap = dumpcap;
        summary
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
        for child in &mut self.linux_side {
            // SAFETY: as in `stop`.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let _ = child.wait();
        }
        if !self.keep && !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.file);
        } else {
            eprintln!("capture of braid's device: {}", self.file.display());
        }
    }
}

/// One segment of interest in braid's capture.
#[derive(Debug, Clone)]
struct Seen {
    /// Seconds since the test started.
    at: f64,
    src: SocketAddr,
    dst: SocketAddr,
    what: String,
}

/// What braid's capture says about how the connection tried to end.
#[derive(Debug, Default)]
struct CaptureSummary {
    /// SYNs (MP_CAPABLE, MP_JOIN or plain), both ways.
    syns: Vec<Seen>,
    /// Segments with a DATA_FIN, both ways.
    data_fins: Vec<Seen>,
    /// Segments with FIN or RST, both ways.
    fins_and_resets: Vec<Seen>,
    /// Segments without SYN that carry MP_CAPABLE (the third ACK and its repeats).
    mp_capable_acks: Vec<Seen>,
    error: Option<String>,
    /// dumpcap's count of packets received and dropped.
    dumpcap: Option<String>,
}

impl CaptureSummary {
    fn read(file: &std::path::Path, started: SystemTime) -> CaptureSummary {
        let mut summary = CaptureSummary::default();
        let mut reader = match CaptureReader::open(file) {
            Ok(r) => r,
            Err(e) => {
                summary.error = Some(format!("cannot read {}: {e}", file.display()));
                return summary;
            }
        };
        let start = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        // Bounded by the file: each turn reads one packet.
        while let Ok(Some(packet)) = reader.next_packet() {
            let Some((ip, payload_len)) = uncut(&packet.ip) else {
                continue;
            };
            let Ok(Decoded::Tcp(seg)) = decode(&ip) else {
                continue;
            };
            let at = packet.timestamp.as_secs_f64() - start.as_secs_f64();
            let flags = seg.tcp.flags;
            let seen = |what: String| Seen {
                at,
                src: seg.src,
                dst: seg.dst,
                what,
            };
            let options: Vec<MptcpOption> = seg.mptcp_options().collect();
            if flags.syn() {
                let kind = options
                    .iter()
                    .find_map(|o| match o {
                        MptcpOption::MpCapable(_) => Some("MP_CAPABLE"),
                        MptcpOption::MpJoin(MpJoin::Syn { .. } | MpJoin::SynAck { .. }) => {
                            Some("MP_JOIN")
                        }
                        _ => None,
                    })
                    .unwrap_or("plain");
                let ack = if flags.ack() { "SYN-ACK" } else { "SYN" };
                summary.syns.push(seen(format!("{ack} {kind}")));
            }
            if flags.fin() || flags.rst() {
                let reason = options
                    .iter()
                    .find_map(|o| match o {
                        MptcpOption::MpTcpRst(r) => Some(format!(" MP_TCPRST {:?}", r.reason)),
                        MptcpOption::MpFastclose(_) => Some(" MP_FASTCLOSE".to_string()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let kind = if flags.rst() { "RST" } else { "FIN" };
                summary
                    .fins_and_resets
                    .push(seen(format!("{kind}{reason}")));
            }
            for o in &options {
                match o {
                    MptcpOption::Dss(d) if d.data_fin => {
                        summary
                            .data_fins
                            .push(seen(format!("DATA_FIN ({payload_len} bytes of payload)")));
                    }
                    MptcpOption::MpCapable(c) if !flags.syn() => {
                        let kind = match c.variant {
                            MpCapableVariant::AckWithData { .. } => "MP_CAPABLE with data",
                            _ => "MP_CAPABLE",
                        };
                        summary.mp_capable_acks.push(seen(kind.to_string()));
                    }
                    _ => {}
                }
            }
        }
        summary
    }

    fn describe(&self) -> String {
        if let Some(e) = &self.error {
            return format!("braid's capture: {e}");
        }
        let list = |name: &str, seen: &[Seen]| {
            // The first and last ones: enough to see where they went.
            const SHOWN: usize = 12;
            let mut s = format!("{name}: {}", seen.len());
            for (i, x) in seen.iter().enumerate() {
                if i == SHOWN / 2 && seen.len() > SHOWN {
                    let _ = write!(s, "\n      ... {} more", seen.len() - SHOWN);
                }
                if i >= SHOWN / 2 && i < seen.len().saturating_sub(SHOWN / 2) && seen.len() > SHOWN
                {
                    continue;
                }
                let _ = write!(s, "\n      {:8.3}s {} > {} {}", x.at, x.src, x.dst, x.what);
            }
            s
        };
        format!(
            "braid's capture (its TUN device; times since the start; {}):\n    {}\n    \
             DATA_FINs by subflow and direction: {}\n    {}\n    {}",
            self.dumpcap.as_deref().unwrap_or("dumpcap said nothing"),
            list("SYNs", &self.syns),
            self.data_fins_by_subflow(|_| true).join("; "),
            list("FINs and RSTs", &self.fins_and_resets),
            list("MP_CAPABLE on segments without SYN", &self.mp_capable_acks),
        )
    }

    /// The DATA_FINs sent from an address that `from` accepts, by subflow and
    /// direction: "src > dst: count, first at, last at".
    fn data_fins_by_subflow(&self, from: impl Fn(IpAddr) -> bool) -> Vec<String> {
        let mut by_subflow: Vec<(SocketAddr, SocketAddr, usize, f64, f64)> = Vec::new();
        for s in self.data_fins.iter().filter(|s| from(s.src.ip())) {
            match by_subflow.iter_mut().find(|e| (e.0, e.1) == (s.src, s.dst)) {
                Some(entry) => {
                    entry.2 += 1;
                    entry.4 = s.at;
                }
                None => by_subflow.push((s.src, s.dst, 1, s.at, s.at)),
            }
        }
        by_subflow
            .iter()
            .map(|(a, b, n, first, last)| format!("{a} > {b}: {n}, {first:.3}s to {last:.3}s"))
            .collect()
    }

    /// The DATA_FINs braid sent (from one of `braid`'s addresses).
    fn data_fins_from(&self, braid: &[IpAddr]) -> Vec<String> {
        self.data_fins_by_subflow(|ip| braid.contains(&ip))
    }
}

/// A TCP packet of the capture, cut at the snap length, made whole enough to decode:
/// its IP length field (and IPv4 header checksum) now say what was captured. Returns
/// it with the TCP payload length of the packet that was sent. None for what is not
/// a TCP packet with its whole TCP header (IPv6 extension headers included: the lab
/// has none).
fn uncut(ip: &[u8]) -> Option<(Vec<u8>, usize)> {
    let be16 = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes(
            ip.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let mut whole = ip.to_vec();
    let (header_len, sent_len) = match ip.first()? >> 4 {
        4 if *ip.get(9)? == 6 => {
            let header_len = usize::from(ip[0] & 0xf) * 4;
            let sent_len = be16(2)?;
            whole[2..4].copy_from_slice(&u16::try_from(ip.len()).ok()?.to_be_bytes());
            whole[10..12].fill(0);
            let sum = whole[..header_len]
                .chunks(2)
                .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
                .sum::<u32>();
            let folded = (sum & 0xffff) + (sum >> 16);
            let folded = (folded & 0xffff) + (folded >> 16);
            whole[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
            (header_len, sent_len)
        }
        6 if *ip.get(6)? == 6 => {
            whole[4..6].copy_from_slice(&u16::try_from(ip.len() - 40).ok()?.to_be_bytes());
            (40, 40 + be16(4)?)
        }
        _ => return None,
    };
    let tcp_header_len = usize::from(ip.get(header_len + 12)? >> 4) * 4;
    if ip.len() < header_len + tcp_header_len {
        return None;
    }
    Some((whole, sent_len.checked_sub(header_len + tcp_header_len)?))
}

// ---------------------------------------------------------------------------------
// 1. Empty request, empty response

/// The client sends nothing and shuts down at once; the server reads to the end of
/// the request, then answers nothing and shuts down. Both ends read the end of the
/// stream within [`END_BOUND`] of the other's shutdown.
fn empty_request_and_response(test: &str, role: Role) {
    let Some(lab) = Lab::new(test, 1) else {
        return;
    };
    let transfer = Transfer {
        braid_sends: 0,
        linux_sends: 0,
        server_answers_after_request: true,
    };
    let run = start(test, &lab, one_path(&lab, role, transfer), linux_plan(0));
    let done = run.finish(END_BOUND);
    let braid_ips: Vec<IpAddr> = vec![lab.paths[0].braid_ip.into()];
    eprintln!(
        "{test}: ends {:?} after due (braid -> Linux, Linux -> braid); braid's DATA_FINs: \
         {:?}; braid's MP_CAPABLE without SYN: {}; braid plain TCP: {}; Linux {:?}",
        done.ends.map(|e| e.after_due),
        done.capture.data_fins_from(&braid_ips),
        done.capture
            .mp_capable_acks
            .iter()
            .filter(|s| braid_ips.contains(&s.src.ip()))
            .count(),
        done.braid.plain_tcp,
        mptcp_counters(&lab.server).nonzero()
    );
    assert!(done.linux.mptcp, "an MPTCP connection");
}

/// The case of the report: `braid connect < /dev/null` to a Linux server that sends
/// nothing. braid repeats MP_CAPABLE on every pure ACK until the server sends a DSS
/// (`writer::write_options` returns before the DSS while `!keys_acked`), so its
/// DATA_FIN never leaves and the server never answers.
#[test]
fn empty_request_and_response_braid_client() {
    empty_request_and_response("empty_request_and_response_braid_client", Role::Client);
}

#[test]
fn empty_request_and_response_braid_server() {
    empty_request_and_response("empty_request_and_response_braid_server", Role::Server);
}

// ---------------------------------------------------------------------------------
// 2. A path fails mid-transfer: its link goes down, or it goes silent

/// How a path fails.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// braid's end of the link goes down and stays down ([`Topology::link_down`] at
    /// the client end: its routes go, the server's end loses its carrier).
    LinkDown,
    /// Every packet on the path is dropped, both ways, with no link event
    /// ([`Topology::block_path`]).
    Blackhole,
}

/// Both directions at once, braid's three times the longer, so that braid still
/// sends for seconds after Linux's data and DATA_FIN are in (both directions carry
/// the same rate): braid's DATA_FIN then rides on no acknowledgment of Linux's data,
/// as after an upload. (With 8 MiB against 4, Linux's last retransmissions sometimes
/// came as braid's DATA_FIN was due, and braid's acknowledgments of them carried it
/// on the working subflow: 1 run in 3 passed.)
const FAILOVER_TRANSFER: Transfer = Transfer {
    braid_sends: 12 * MIB,
    linux_sends: 4 * MIB,
    server_answers_after_request: false,
};

/// Path `index` (0: the first subflow's) fails as `failure` says once Linux has
/// received 2 MiB (when Linux's end has about as much left to send), and stays
/// failed. The other path carries the rest: every byte both ways, and both ends of
/// the stream within [`END_BOUND`]. The transfer ends within 15 s of the failure
/// (what is left of braid's, 10 MiB, takes 4.2 s at 20 Mbit/s).
fn path_fails(test: &str, role: Role, index: usize, failure: Failure) {
    let Some(lab) = Lab::new(test, 2) else {
        return;
    };
    let setup = two_paths(&lab, role, FAILOVER_TRANSFER, Some(RATES_MBIT));
    let transfer = setup.transfer;
    let mut run = start(test, &lab, setup, linux_plan(transfer.linux_sends));
    run.wait_progress(2 * MIB, 2 * MIB, Duration::from_secs(10));
    let at = (received(&run.braid), received(&run.linux));
    match failure {
        Failure::LinkDown => lab.link_down(index, PathEnd::Client).expect("link down"),
        Failure::Blackhole => lab.block_path(index).expect("blackhole"),
    }
    run.event(format!("path {} {failure:?}", index + 1));
    let failed_at = Instant::now();
    let before = run.mptcp_now();
    let done = run.finish(END_BOUND);
    let took = done.ended_at.saturating_duration_since(failed_at);
    assert!(
        at.0 < transfer.linux_sends && at.1 < transfer.braid_sends,
        "the path failed mid-transfer, both ways: braid/Linux had received {at:?}"
    );
    if let Failure::Blackhole = failure {
        assert!(
            lab.blocked_packets(index).unwrap() >= 1,
            "the blackhole dropped packets"
        );
    }
    let braid_ips: Vec<IpAddr> = lab.paths.iter().map(|p| p.braid_ip.into()).collect();
    eprintln!(
        "{test}: path {} {failure:?} at braid/Linux received {:.1}/{:.1} MiB; done {:.2}s \
         later (longest delivery gap after: to Linux {:?}, to braid {:?}); ends {:?} after due \
         (braid -> Linux, Linux -> braid); braid's DATA_FINs: {:?}; {}; Linux {:?}",
        index + 1,
        at.0 as f64 / MIB as f64,
        at.1 as f64 / MIB as f64,
        took.as_secs_f64(),
        done.longest_gaps[0],
        done.longest_gaps[1],
        done.ends.map(|e| e.after_due),
        done.capture.data_fins_from(&braid_ips),
        done.view
            .as_ref()
            .or(before.as_ref())
            .map_or(String::new(), |v| v.describe()),
        mptcp_counters(&lab.server).nonzero()
    );
    assert!(
        took < Duration::from_secs(15),
        "the transfer ended {took:?} after the path failed"
    );
}

/// The report's case: the first subflow's link goes down mid-upload. Everything
/// arrives over path 2, but braid's DATA_FIN goes only to the first usable subflow,
/// the dead one (`MptcpConnection::request_window_update` takes
/// `SubflowSet::first_usable_mut`, which does not skip stale subflows), and so do
/// its retries.
#[test]
fn link_down_first_subflows_path_braid_client() {
    path_fails(
        "link_down_first_subflows_path_braid_client",
        Role::Client,
        0,
        Failure::LinkDown,
    );
}

#[test]
fn link_down_first_subflows_path_braid_server() {
    path_fails(
        "link_down_first_subflows_path_braid_server",
        Role::Server,
        0,
        Failure::LinkDown,
    );
}

#[test]
fn link_down_joined_subflows_path_braid_client() {
    path_fails(
        "link_down_joined_subflows_path_braid_client",
        Role::Client,
        1,
        Failure::LinkDown,
    );
}

#[test]
fn link_down_joined_subflows_path_braid_server() {
    path_fails(
        "link_down_joined_subflows_path_braid_server",
        Role::Server,
        1,
        Failure::LinkDown,
    );
}

#[test]
fn blackhole_first_subflows_path_braid_client() {
    path_fails(
        "blackhole_first_subflows_path_braid_client",
        Role::Client,
        0,
        Failure::Blackhole,
    );
}

#[test]
fn blackhole_first_subflows_path_braid_server() {
    path_fails(
        "blackhole_first_subflows_path_braid_server",
        Role::Server,
        0,
        Failure::Blackhole,
    );
}

#[test]
fn blackhole_joined_subflows_path_braid_client() {
    path_fails(
        "blackhole_joined_subflows_path_braid_client",
        Role::Client,
        1,
        Failure::Blackhole,
    );
}

#[test]
fn blackhole_joined_subflows_path_braid_server() {
    path_fails(
        "blackhole_joined_subflows_path_braid_server",
        Role::Server,
        1,
        Failure::Blackhole,
    );
}

// ---------------------------------------------------------------------------------
// 3. A path flaps 20 times

/// How the flapping path goes: 20 times down for 150 ms, then up for 250 ms once
/// braid has a new subflow on it (or [`REJOIN_WAIT`] has passed).
const FLAPS: FlapSchedule = FlapSchedule {
    count: 20,
    down: Duration::from_millis(150),
    up: Duration::from_millis(250),
};
/// How long after the path is back braid must have a new subflow on it: the join
/// follows Linux's new endpoint within a few RTTs (a run saw 2 us to 400 ms).
const REJOIN_WAIT: Duration = Duration::from_secs(2);
/// Both paths at 4 Mbit/s (at most 1 MB/s each way), so that data flows through
/// most of the flaps.
const FLAP_RATE_MBIT: u32 = 4;
const FLAP_TRANSFER: Transfer = Transfer {
    braid_sends: 8 * MIB,
    linux_sends: 4 * MIB,
    server_answers_after_request: false,
};

/// The Linux host's second link (s2, path 2) flaps 20 times mid-transfer, and its
/// address manager does what a host's does: it withdraws the address while the link
/// is down (`ip mptcp endpoint delete`: Linux closes the subflows from it) and adds
/// it back once the link is up. Each flap ends the subflow on path 2 and calls for a
/// new one:
///
/// - braid client: Linux's `signal` endpoint 10.0.2.2 is withdrawn (REMOVE_ADDR) and
///   announced again (ADD_ADDR); braid's `fullmesh` endpoint 10.1.2.1 joins it again.
/// - braid server: Linux's `subflow` endpoint 10.0.2.2 goes and comes back, and
///   Linux joins braid again from it.
///
/// After every flap braid must have a new usable subflow with 10.0.2.2 within
/// [`REJOIN_WAIT`]: 20 subflows come and go, beyond the default `max_subflows` (8).
/// Both ends hold their last bytes and their end of the stream until the flaps are
/// over, so that the flaps come mid-transfer whatever the speed (Linux accepts no
/// join once it has sent its DATA_FIN: `__mptcp_finish_join` wants an established
/// connection). Every byte both ways, and both ends of the stream within
/// [`LOSSY_END_BOUND`]: by then path 1 is healthy, but the subflows of path 2 may
/// have backed off their RTOs, and the DATA_FIN's retry follows the largest RTO of
/// the usable subflows. The flaps take about 10 s when every rejoin is quick.
///
/// (A flap that ends a subflow without the hosts' help does not make a test of
/// braid: behind a NAT that forgets its mappings, Linux keeps the old subflows,
/// which nothing resets, and after eight of them refuses joins itself. Linux's own
/// path manager does not re-create a subflow that was reset, either.)
fn twenty_flaps(test: &str, role: Role) {
    let Some(lab) = Lab::new(test, 2) else {
        return;
    };
    let (p1, p2) = (&lab.paths[0], &lab.paths[1]);
    limit_rate(&lab, 0, FLAP_RATE_MBIT);
    limit_rate(&lab, 1, FLAP_RATE_MBIT);
    lab.server.mptcp_limits(8, 8).expect("ip mptcp limits");
    let gate = Arc::new(AtomicBool::new(false));
    let linux_addr = IpAddr::from(p2.server_ip);
    let linux_flag = match role {
        Role::Client => EndpointFlag::Signal,
        Role::Server => EndpointFlag::Subflow,
    };
    let add_linux_endpoint = || {
        lab.server
            .mptcp_endpoint_add(linux_addr, Some(&p2.server_dev), &[linux_flag], None)
    };
    add_linux_endpoint().expect("Linux's endpoint on 10.0.2.2");
    let setup = match role {
        Role::Client => Setup {
            role,
            braid_addrs: vec![p1.braid_ip.into(), p2.braid_ip.into()],
            config: config(&[format!("{},subflow,fullmesh", p2.braid_ip)], 2),
            transfer: FLAP_TRANSFER,
            gate: Some(gate.clone()),
        },
        Role::Server => {
            route_replies_to_path2(&lab);
            Setup {
                role,
                braid_addrs: vec![p1.braid_ip.into()],
                config: StackConfig::default(),
                transfer: FLAP_TRANSFER,
                gate: Some(gate.clone()),
            }
        }
    };
    let linux_plan = {
        let gate = gate.clone();
        linux_plan(FLAP_TRANSFER.linux_sends).exchange(|e| e.hold_shutdown(gate))
    };
    let mut run = start(test, &lab, setup, linux_plan);
    let on_path2 = |s: &SubflowView| s.remote.ip() == linux_addr;
    // The subflows braid has had with 10.0.2.2, so that a new one can be told from an
    // old one.
    let tuples = |v: &MptcpView| -> BTreeSet<(SocketAddr, SocketAddr)> {
        v.subflows
            .iter()
            .filter(|s| on_path2(s))
            .map(|s| (s.local, s.remote))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = loop {
        if let Some(v) = run
            .mptcp_now()
            .filter(|v| v.subflows.iter().any(|s| s.usable && on_path2(s)))
        {
            break tuples(&v);
        }
        if Instant::now() >= deadline {
            run.fail("braid had no usable subflow with 10.0.2.2 within 5 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    run.wait_progress(u64::MAX, MIB, Duration::from_secs(10));
    let mut missed = Vec::new();
    let mut rejoin_times = Vec::new();
    let running = std::cell::RefCell::new(&mut run);
    let flaps = lab.flap_path(
        1,
        PathEnd::Server,
        FLAPS,
        Instant::now() + Duration::from_secs(60),
        |i| {
            running
                .borrow_mut()
                .event(format!("flap {}: s2 down", i + 1));
            lab.server.mptcp_endpoint_delete(linux_addr)?;
            // Linux closes the subflows from its worker, after the command returns;
            // an endpoint added back before that may open nothing.
            wait_until_linux_closed_subflows_from(&lab, linux_addr, Duration::from_secs(1))
        },
        |i| {
            let run = running.borrow();
            add_linux_endpoint()?;
            let up = Instant::now();
            // Bounded by REJOIN_WAIT.
            loop {
                let fresh = run.mptcp_now().is_some_and(|v| {
                    v.subflows
                        .iter()
                        .any(|s| s.usable && on_path2(s) && !seen.contains(&(s.local, s.remote)))
                });
                if fresh {
                    rejoin_times.push(up.elapsed());
                    break;
                }
                if up.elapsed() >= REJOIN_WAIT {
                    missed.push(i + 1);
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if let Some(v) = run.mptcp_now() {
                seen.extend(tuples(&v));
            }
            Ok(())
        },
    );
    let flaps = flaps.unwrap_or_else(|e| run.fail(&format!("flapping path 2: {e}")));
    let during = (received(&run.braid), received(&run.linux));
    gate.store(true, Ordering::Relaxed);
    run.event(format!(
        "{} flaps done; both ends send the rest and shut down",
        flaps.len()
    ));
    let flapping = flaps
        .last()
        .map_or(Duration::ZERO, |f| f.up_at - flaps[0].down_at);
    let last_view = run.mptcp_now();
    let done = run.finish(LOSSY_END_BOUND);
    eprintln!(
        "{test}: {} flaps of s2 in {flapping:.2?}, by when braid/Linux had received \
         {:.1}/{:.1} MiB; braid had a new subflow with 10.0.2.2 after {} of them (in {:?}), \
         not after flaps {missed:?}; ends {:?} after due (braid -> Linux, Linux -> braid); \
         {}; Linux {:?}",
        flaps.len(),
        during.0 as f64 / MIB as f64,
        during.1 as f64 / MIB as f64,
        rejoin_times.len(),
        rejoin_times,
        done.ends.map(|e| e.after_due),
        done.view
            .as_ref()
            .or(last_view.as_ref())
            .map_or(String::new(), |v| v.describe()),
        mptcp_counters(&lab.server).nonzero()
    );
    assert!(
        missed.is_empty(),
        "braid had no new subflow with 10.0.2.2 within {REJOIN_WAIT:?} after flaps \
         {missed:?} of {}",
        flaps.len()
    );
}

/// Waits until the Linux namespace has no established TCP socket (subflow) from
/// `addr`, for at most `timeout`, checking every 10 ms. (A subflow closed with data
/// unacknowledged stays in FIN-WAIT-1 while its path is down.)
fn wait_until_linux_closed_subflows_from(
    lab: &Lab,
    addr: IpAddr,
    timeout: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let filter = format!("src {addr}");
    loop {
        let out = lab
            .server
            .exec("ss", &["-tnH", "state", "established", &filter])?;
        if out.trim().is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("Linux still has subflows from {addr} after {timeout:?}: {out}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Subflows are never removed from a connection (`SubflowSet` only grows), and
/// `MptcpConnection::may_add_subflow` counts them all against `max_subflows` (8):
/// after about seven flaps braid opens no more joins.
#[test]
fn twenty_flaps_of_linux_address_braid_client() {
    twenty_flaps("twenty_flaps_of_linux_address_braid_client", Role::Client);
}

/// The same limit on the accepting side: `may_add_subflow` refuses Linux's joins once
/// eight subflows, ended ones included, have been.
#[test]
fn twenty_flaps_of_linux_address_braid_server() {
    twenty_flaps("twenty_flaps_of_linux_address_braid_server", Role::Server);
}

// ---------------------------------------------------------------------------------
// 4. A firewall drops SYNs that carry option 30

/// How soon a connection must be up when every SYN with option 30 dies, by who
/// opens it, a second of margin included. Linux retries without MPTCP after
/// `net.mptcp.syn_retrans_before_tcp_fallback` (2) unanswered retransmissions, at
/// 3 s (its first SYN retransmissions are 1 s apart, net.ipv4.tcp_syn_linear_timeouts).
/// braid after as many (`MptcpConfig::syn_retransmissions_before_fallback`), at 7 s:
/// its SYN timer backs off from 1 s.
fn fallback_connect_within(role: Role) -> Duration {
    match role {
        Role::Server => Duration::from_secs(4),
        Role::Client => Duration::from_secs(8),
    }
}

/// A firewall in braid's namespace drops every SYN carrying option 30 (MP_CAPABLE and
/// MP_JOIN alike), whichever way it goes. The connection must come up as plain TCP
/// within [`fallback_connect_within`] and carry every byte, with both ends of the
/// stream within [`END_BOUND`].
fn mptcp_syns_dropped(test: &str, role: Role) {
    let Some(lab) = Lab::new(test, 1) else {
        return;
    };
    let rules = lab
        .client
        .drop_syns_with_tcp_option(30, Hook::Incoming)
        .expect("iptables --tcp-option 30");
    let transfer = Transfer {
        braid_sends: 2 * MIB,
        linux_sends: 2 * MIB,
        server_answers_after_request: false,
    };
    let mut run = start(
        test,
        &lab,
        one_path(&lab, role, transfer),
        linux_plan(transfer.linux_sends),
    );
    run.event("SYNs with option 30 dropped from the start");
    let connected = run.wait_connected(fallback_connect_within(role));
    let done = run.finish(END_BOUND);
    let dropped = lab
        .client
        .iptables_packets(&rules[0])
        .expect("rule counter");
    eprintln!(
        "{test}: connected after {connected:?}; {dropped} SYNs dropped; braid plain TCP: {}, \
         braid's view {:?}; Linux MPTCP: {}; ends {:?} after due; Linux {:?}",
        done.braid.plain_tcp,
        done.view
            .as_ref()
            .map(|v| (v.phase, v.stats.fallback_no_mp_capable)),
        done.linux.mptcp,
        done.ends.map(|e| e.after_due),
        mptcp_counters(&lab.server).nonzero()
    );
    assert!(dropped >= 1, "the firewall dropped MP_CAPABLE SYNs");
    match role {
        Role::Client => {
            assert!(!done.linux.mptcp, "Linux accepted a plain TCP connection");
            let v = done.view.as_ref().expect("braid's connection");
            assert_eq!(v.phase, Phase::Fallback, "{}", v.describe());
        }
        Role::Server => {
            assert!(
                done.braid.plain_tcp,
                "braid accepted a plain TCP connection"
            );
            assert!(
                mptcp_counters(&lab.server).get("MPCapableSYNTXDrop") >= 1,
                "Linux gave up on MPTCP's SYN"
            );
        }
    }
}

/// braid's third SYN retransmission, at 7 s, goes without MP_CAPABLE.
#[test]
fn mptcp_syns_dropped_connects_as_tcp_braid_client() {
    mptcp_syns_dropped(
        "mptcp_syns_dropped_connects_as_tcp_braid_client",
        Role::Client,
    );
}

#[test]
fn mptcp_syns_dropped_connects_as_tcp_braid_server() {
    mptcp_syns_dropped(
        "mptcp_syns_dropped_connects_as_tcp_braid_server",
        Role::Server,
    );
}

// ---------------------------------------------------------------------------------
// 5. A server that forbids joins to its initial address

/// `net.mptcp.allow_join_initial_addr_port=0`: the Linux server's MP_CAPABLE SYN-ACK
/// carries the C flag (RFC 8684 §3.1), and braid, with a `subflow` endpoint on
/// 10.1.2.1 that would join 10.0.1.2:5001, must not send any MP_JOIN there; it may
/// join 10.0.2.2, which Linux announces. Every byte both ways, both ends within
/// [`END_BOUND`].
#[test]
fn no_join_to_initial_address_when_linux_server_forbids_it() {
    let test = "no_join_to_initial_address_when_linux_server_forbids_it";
    let Some(lab) = Lab::new(test, 2) else {
        return;
    };
    let (p1, p2) = (&lab.paths[0], &lab.paths[1]);
    lab.server
        .mptcp_allow_join_initial_addr_port(false)
        .expect("net.mptcp.allow_join_initial_addr_port");
    lab.server
        .mptcp_endpoint_add(
            p2.server_ip.into(),
            Some(&p2.server_dev),
            &[EndpointFlag::Signal],
            None,
        )
        .expect("Linux's signal endpoint");
    let transfer = Transfer {
        braid_sends: 4 * MIB,
        linux_sends: 4 * MIB,
        server_answers_after_request: false,
    };
    let setup = two_paths(&lab, Role::Client, transfer, Some(RATES_MBIT));
    let run = start(test, &lab, setup, linux_plan(transfer.linux_sends));
    let done = run.finish(END_BOUND);
    let initial = v4(p1.server_ip, PORT);
    let joins_to_initial: Vec<&Seen> = done
        .capture
        .syns
        .iter()
        .filter(|s| s.dst == initial && s.what == "SYN MP_JOIN")
        .collect();
    let c = mptcp_counters(&lab.server);
    eprintln!(
        "{test}: joins to {initial}: {joins_to_initial:?}; {}; Linux {:?}",
        done.view.as_ref().map_or(String::new(), |v| v.describe()),
        c.nonzero()
    );
    assert!(
        joins_to_initial.is_empty(),
        "braid sent MP_JOIN to the initial address and port, which the C flag forbids: \
         {joins_to_initial:?}"
    );
}

/// The other way round: braid's server with `MptcpConfig::allow_join_initial_address`
/// off sets the C flag, and the Linux client, whose `subflow` endpoint on 10.0.2.2
/// would join braid's 10.1.1.1:5001, sends no MP_JOIN there. Every byte both ways,
/// both ends within [`END_BOUND`].
#[test]
fn no_join_to_initial_address_when_braid_server_forbids_it() {
    let test = "no_join_to_initial_address_when_braid_server_forbids_it";
    let Some(lab) = Lab::new(test, 2) else {
        return;
    };
    let transfer = Transfer {
        braid_sends: 4 * MIB,
        linux_sends: 4 * MIB,
        server_answers_after_request: false,
    };
    let mut setup = two_paths(&lab, Role::Server, transfer, Some(RATES_MBIT));
    setup.config.endpoint.mptcp.allow_join_initial_address = false;
    let run = start(test, &lab, setup, linux_plan(transfer.linux_sends));
    let done = run.finish(END_BOUND);
    let initial = v4(lab.paths[0].braid_ip, PORT);
    let joins_to_initial: Vec<&Seen> = done
        .capture
        .syns
        .iter()
        .filter(|s| s.dst == initial && s.what == "SYN MP_JOIN")
        .collect();
    let c = mptcp_counters(&lab.server);
    eprintln!(
        "{test}: joins to {initial}: {joins_to_initial:?}; {}; Linux {:?}",
        done.view.as_ref().map_or(String::new(), |v| v.describe()),
        c.nonzero()
    );
    assert!(
        joins_to_initial.is_empty(),
        "Linux sent MP_JOIN to braid's initial address and port despite the C flag: \
         {joins_to_initial:?}"
    );
}

// ---------------------------------------------------------------------------------
// 6. Loss on one path

/// 5% of the packets on the first subflow's path are lost, each way, from the start
/// (iptables' `statistic` match, one segment per packet: braid without offload, the
/// veths with `gso_max_segs 1`). Every byte both ways, both ends of the stream within
/// [`LOSSY_END_BOUND`].
fn lossy_path(test: &str, role: Role) {
    let Some(lab) = Lab::new(test, 2) else {
        return;
    };
    lab.one_segment_per_packet().expect("gso_max_segs 1");
    let rules = lab
        .drop_randomly_on_path(0, 0.05)
        .expect("iptables statistic");
    let transfer = Transfer {
        braid_sends: 4 * MIB,
        linux_sends: 2 * MIB,
        server_answers_after_request: false,
    };
    let mut setup = two_paths(&lab, role, transfer, Some(RATES_MBIT));
    setup.config.offload = false;
    let mut run = start(test, &lab, setup, linux_plan(transfer.linux_sends));
    run.event("5% loss each way on path 1 from the start");
    let done = run.finish(LOSSY_END_BOUND);
    let dropped: u64 = rules
        .iter()
        .map(|r| lab.client.iptables_packets(r).unwrap_or(0))
        .sum();
    let braid_ips: Vec<IpAddr> = lab.paths.iter().map(|p| p.braid_ip.into()).collect();
    eprintln!(
        "{test}: {dropped} packets dropped on path 1; ends {:?} after due (braid -> Linux, \
         Linux -> braid); braid's DATA_FINs: {:?} (dumpcap: {:?}); {}; Linux {:?}",
        done.ends.map(|e| e.after_due),
        done.capture.data_fins_from(&braid_ips),
        done.capture.dumpcap,
        done.view.as_ref().map_or(String::new(), |v| v.describe()),
        mptcp_counters(&lab.server).nonzero()
    );
    assert!(dropped >= 10, "the path lost packets: {dropped}");
}

/// About 1 run in 20 (6 of about 140 earlier; 2 of 40 on 2026-12-08), Linux delivers
/// some of braid's bytes at the wrong place in the stream. A capture with payloads
/// (`BRAID_NETNS_PCAP=DIR BRAID_NETNS_PCAP_SNAPLEN=0`) of a failing run shows it
/// exactly: the bytes Linux handed its reader at offset 2840 are those braid sent on
/// the joined subflow at subflow sequence 1421 under the DSS mapping (DSN offset
/// 19880, subflow sequence 1, 14200 bytes); Linux's DATA_ACK was 1420 then. So Linux
/// mapped the join's first data to DSN = its DATA_ACK of the moment, which is what
/// its `subflow_check_data_avail` does on its fallback path (`map_seq =
/// msk->ack_seq`), reached for a status MAPPING_INVALID or MAPPING_DUMMY. But the
/// kernel's own tracepoints (mptcp:get_mapping_status, mptcp:subflow_check_data_avail,
/// enabled through tracefs during a failing run) say otherwise: every mapping Linux
/// read is one braid sent, every status MAPPING_OK or MAPPING_EMPTY, and no mapping
/// covers the misplaced offset but the first subflow's, whose retransmission reached
/// Linux's side of the path with the right bytes (its capture). braid's bytes for
/// each DSN are the same on every subflow that carried them. So the misplacement
/// seems to happen inside Linux 6.18's receive path, in a traffic pattern braid
/// produces (losses on the first path, the same DSN ranges carried again on the
/// join); not proven. Two Linux hosts on the same paths (unshaped) stay intact:
/// 100 of 100 runs of
/// `netns_linux_mptcp_harness::linux_against_linux_with_5_percent_loss_on_path_1`.
#[test]
#[ignore = "issue 18: about 1 run in 20 Linux delivers the first bytes of braid's joined subflow at its DATA_ACK instead of their DSN"]
fn five_percent_loss_on_first_subflows_path_braid_client() {
    lossy_path(
        "five_percent_loss_on_first_subflows_path_braid_client",
        Role::Client,
    );
}

#[test]
fn five_percent_loss_on_first_subflows_path_braid_server() {
    lossy_path(
        "five_percent_loss_on_first_subflows_path_braid_server",
        Role::Server,
    );
}
