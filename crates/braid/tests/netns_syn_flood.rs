//! A SYN flood against braid's stack in network namespaces (RFC 4987): a raw socket
//! sends 20,000 SYNs from spoofed sources in 1.7 s at a braid listener (as `braid
//! listen` runs it), and a Linux MPTCP client connects meanwhile and moves data.
//! braid's SYN cookies must let it in within a second, that is before Linux's first
//! SYN retransmission (its initial RTO is 1 s): its first SYN was answered. Before
//! cookies, the full queue of half-open connections kept clients out for minutes.
//!
//! Everything stays in the two namespaces the test creates: the spoofed sources are
//! in 198.18.0.0/15 (RFC 2544's benchmarking range), and braid's SYN-ACKs to them
//! die in the server namespace, which does not forward.
//!
//! Needs root; skipped otherwise (fails instead with `BRAID_REQUIRE_NETNS=1`).

mod netns;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use braid::runtime::{Stack, StackConfig};
use braid_proto::endpoint::EndpointStats;
use braid_proto::seq::SeqNum;
use braid_proto::tcp::{emit_segment, SegmentOut};
use braid_proto::wire::mptcp::{MpCapable, MpCapableFlags, MpCapableVariant, MptcpOption};
use braid_proto::wire::tcp_option::TcpOption;
use braid_proto::wire::TcpFlags;
use braid_testkit::lab::{spawn_in, wait};
use braid_testkit::linux_mptcp::{self, Close, Exchange, MptcpInfo, Progress, Proto};
use braid_testkit::Lab;
use netns::{assert_exchanged, async_exchange, linux_exchange, runtime, TIME_LIMIT};

const PORT: u16 = 5001;
/// The flood of the hardening issue: 20,000 SYNs in 1.7 s.
const FLOOD_SYNS: u32 = 20_000;
const FLOOD_DURATION: Duration = Duration::from_millis(1_700);
/// However slow the machine, the flood stops after this long.
const FLOOD_TIME_LIMIT: Duration = Duration::from_secs(10);
/// SYNs sent before the client connects: the listener's queue (256) is long full.
const SYNS_BEFORE_CONNECTING: u32 = 2_000;
/// Bytes each way once connected.
const SIZE: u64 = 4 << 20;

/// The `i`-th SYN of the flood, as an IPv4 packet from a spoofed source: Linux's
/// options, MP_CAPABLE on every other one.
fn flood_syn(i: u32, target: SocketAddrV4) -> Vec<u8> {
    let source = SocketAddr::from((
        Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8),
        1024 + (i % 60_000) as u16,
    ));
    let mix = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut options = vec![
        TcpOption::MaxSegmentSize(1460),
        TcpOption::SackPermitted,
        TcpOption::Timestamps {
            tsval: mix as u32,
            tsecr: 0,
        },
        TcpOption::WindowScale(7),
    ];
    if i % 2 == 0 {
        options.push(TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
            flags: MpCapableFlags(MpCapableFlags::HMAC_SHA256),
            variant: MpCapableVariant::Syn,
        })));
    }
    let syn = SegmentOut {
        seq: SeqNum((mix >> 32) as u32),
        ack: SeqNum(0),
        flags: TcpFlags::SYN,
        window: 64240,
        options: Default::default(),
        payload: [&[], &[]],
        stream_offset: 0,
        retransmission: false,
    };
    let mut packet = vec![0u8; 120];
    let len = emit_segment(&mut packet, source, SocketAddr::V4(target), &syn, &options);
    packet.truncate(len);
    packet
}

/// Sends the flood through a raw socket (the IP header is ours), paced to
/// [`FLOOD_DURATION`], counting into `sent`. Returns how many left and how long it
/// took.
fn flood(target: SocketAddrV4, sent: Arc<AtomicU32>) -> io::Result<(u32, Duration)> {
    // SAFETY: a system call with integer arguments; the descriptor it returns is
    // owned from here on.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let to = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(*target.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let start = Instant::now();
    for i in 0..FLOOD_SYNS {
        let due = FLOOD_DURATION * i / FLOOD_SYNS;
        let elapsed = start.elapsed();
        if elapsed > FLOOD_TIME_LIMIT {
            break;
        }
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
        let packet = flood_syn(i, target);
        // SAFETY: the buffer and the address outlive the call, their lengths are theirs.
        let n = unsafe {
            libc::sendto(
                socket.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            // A full queue on the way loses the SYN, as a link would.
            if e.raw_os_error() != Some(libc::ENOBUFS) {
                return Err(e);
            }
            continue;
        }
        sent.fetch_add(1, Ordering::Relaxed);
    }
    Ok((sent.load(Ordering::Relaxed), start.elapsed()))
}

/// What braid's side saw: the exchange, whether the connection was MPTCP, and the
/// endpoint's counters at the end.
type BraidOutcome = (Exchange, bool, EndpointStats);

/// What the Linux client saw: how long `connect` took, the exchange, MPTCP_INFO
/// (the error's text if the kernel has none: the connection fell back to TCP).
type LinuxOutcome = (Duration, Exchange, Result<MptcpInfo, String>);

#[test]
fn rfc4987_a_linux_mptcp_client_connects_within_a_second_while_raw_syns_flood_braid() {
    let test = "rfc4987_a_linux_mptcp_client_connects_within_a_second_while_raw_syns_flood_braid";
    let Some(lab) = Lab::new(test, 1) else {
        return;
    };
    let braid_ip = lab.paths[0].braid_ip;
    let target = SocketAddrV4::new(braid_ip, PORT);
    let (bp, lp) = (Arc::<Progress>::default(), Arc::<Progress>::default());

    // braid: a stack listening as `braid listen` does; one connection accepted. It
    // stays up until the flood is over, to count all of it.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let flood_over = Arc::new(AtomicBool::new(false));
    let braid_progress = bp.clone();
    let until_flood_over = flood_over.clone();
    let braid = spawn_in(&lab.client, "braid", move || -> io::Result<BraidOutcome> {
        runtime()?.block_on(async move {
            let stack = Stack::new("braid0", &[braid_ip.into()], StackConfig::default())?;
            // The stack's endpoint draws from the OS-seeded generator, not the
            // simulator's seeded one (its Debug names the source and hides its state).
            let source = stack.inspect(|e| format!("{e:?}").contains("random: OsSeededChaCha(..)"));
            if !source {
                return Err(io::Error::other(
                    "the stack's endpoint has another generator",
                ));
            }
            let listener = stack.listen(SocketAddr::V4(target))?;
            let _ = ready_tx.send(());
            let work = async {
                let (stream, peer) = listener.accept().await?;
                let mptcp = stack.inspect(|e| {
                    e.connection_ids()
                        .filter_map(|id| e.connection(id))
                        .any(|c| c.remote() == peer && c.is_mptcp())
                });
                let (reader, writer) = stream.into_split();
                let exchange = async_exchange(reader, writer, SIZE, 1, braid_progress).await?;
                io::Result::Ok((exchange, mptcp))
            };
            let (exchange, mptcp) = tokio::time::timeout(TIME_LIMIT, work)
                .await
                .map_err(|_| io::Error::other("braid: time limit"))??;
            let waiting_since = Instant::now();
            while !until_flood_over.load(Ordering::Relaxed) && waiting_since.elapsed() < TIME_LIMIT
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // What the device still holds.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stats = stack.inspect(|e| *e.stats());
            stack.shutdown(Duration::from_secs(2)).await;
            Ok((exchange, mptcp, stats))
        })
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("braid listens");

    // The flood, from the server namespace.
    let sent = Arc::new(AtomicU32::new(0));
    let counted = sent.clone();
    let flooder = spawn_in(&lab.server, "syn-flood", move || flood(target, counted));
    let waiting_since = Instant::now();
    while sent.load(Ordering::Relaxed) < SYNS_BEFORE_CONNECTING {
        assert!(
            waiting_since.elapsed() < FLOOD_TIME_LIMIT,
            "the flood did not get going"
        );
        std::thread::sleep(Duration::from_millis(1));
    }

    // The Linux MPTCP client, from the same namespace, in the middle of the flood.
    let linux_progress = lp.clone();
    let linux = spawn_in(
        &lab.server,
        "linux-client",
        move || -> io::Result<LinuxOutcome> {
            let started = Instant::now();
            let stream = linux_mptcp::connect(
                Proto::Mptcp,
                None,
                SocketAddr::V4(target),
                Duration::from_secs(10),
            )?;
            let took = started.elapsed();
            let exchange = linux_exchange(stream.try_clone()?, SIZE, 2, linux_progress)?;
            let info = linux_mptcp::mptcp_info(&stream).map_err(|e| e.to_string());
            linux_mptcp::close(stream, Close::Graceful)?;
            Ok((took, exchange, info))
        },
    );
    let progress = || format!("{}; {}", bp.describe("braid"), lp.describe("Linux"));
    let deadline = Instant::now() + TIME_LIMIT;
    let (took, linux_exchange, info) = wait(&linux, deadline, "the Linux client", &progress);
    let (flood_sent, flood_took) = wait(&flooder, deadline, "the flood", &String::new);
    flood_over.store(true, Ordering::Relaxed);
    let (braid_exchange, braid_mptcp, stats) = wait(&braid, deadline, "braid", &progress);
    eprintln!(
        "{test}: Linux connected in {:.1} ms, {} SYNs flooded in {:.2} s; braid: {} cookies \
         sent, {} accepted, {} rejected, {} SYNs over the queue, {} half-open pruned",
        took.as_secs_f64() * 1000.0,
        flood_sent,
        flood_took.as_secs_f64(),
        stats.syn_cookies_sent,
        stats.syn_cookies_accepted,
        stats.syn_cookies_rejected,
        stats.syn_queue_overflows,
        stats.half_open_pruned,
    );
    assert!(took < Duration::from_secs(1), "connecting took {took:?}");
    assert_exchanged(&braid_exchange, &linux_exchange, SIZE);
    assert!(
        info.as_ref()
            .is_ok_and(|i| !i.fallback() && i.remote_key_received()),
        "Linux's MPTCP_INFO: {info:?}"
    );
    assert!(braid_mptcp, "braid's end is MPTCP");
    assert!(
        stats.syn_queue_overflows > 0 && stats.syn_cookies_sent > 0,
        "the flood filled the queue: {stats:?}"
    );
}
