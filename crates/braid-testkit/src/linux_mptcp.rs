//! A Linux MPTCP peer for interop tests: the kernel's own MPTCP, through ordinary
//! sockets opened with protocol 262 (`IPPROTO_MPTCP`), in-process.
//!
//! Nothing here enters a namespace: call these functions on a thread that runs inside
//! one ([`Netns::spawn`](crate::netns::Netns::spawn)); a socket belongs to the network
//! namespace of the thread that creates it. Sockets are std's [`TcpListener`] and
//! [`TcpStream`] (an MPTCP socket takes the TCP socket calls), so `Read`, `Write`,
//! `shutdown` and timeouts work as usual. The kernel's configuration (limits,
//! endpoints, counters, middleboxes) is on [`Netns`](crate::netns::Netns).
//!
//! Every wait is bounded: connecting, accepting and [`exchange`] take a timeout.
//!
//! # How Linux ends a connection
//!
//! From `net/mptcp/protocol.c` (`__mptcp_close`, `mptcp_disconnect`), checked on 6.18:
//!
//! - `close()` with everything read: DATA_FIN on the data level (and FIN on each
//!   subflow), the graceful end ([`Close::Graceful`]).
//! - `close()` while the socket still holds unread data (`mptcp_check_readable`):
//!   MP_FASTCLOSE, the MPTCP equivalent of a TCP reset, carried on a RST on every
//!   subflow. This has been so since "mptcp: use fastclose on more edge scenarios"
//!   (Linux 6.1).
//! - `close()` with `SO_LINGER {on, 0}`: MP_FASTCLOSE too, since upstream commit
//!   f14d6e9c3678 ("mptcp: fastclose msk when linger time is 0", 7.1-rc2, backported to
//!   the stable kernels; this machine's 6.18.44 has it). Before that, SO_LINGER 0 was
//!   ignored by MPTCP and the close was graceful ([`Close::LingerZero`]).
//! - `connect()` with `AF_UNSPEC` (`mptcp_disconnect`): MP_FASTCLOSE on every kernel
//!   with MPTCP ([`Close::Disconnect`]).
//! - An orphaned socket that does not finish closing within `net.mptcp.close_timeout`
//!   (default 60 s), and unaccepted connections when their listener closes: MP_FASTCLOSE.
//!
//! Each MP_FASTCLOSE counts `MPFastcloseTx` at the sender and `MPFastcloseRx` at the
//! receiver; the RST that carries it (with MP_TCPRST) counts `MPRstTx` / `MPRstRx`.
//! [`abort`] uses SO_LINGER 0 and then `AF_UNSPEC`, so it sends MP_FASTCLOSE on any
//! kernel, and a plain RST on a connection that fell back to TCP.
//!
//! # Kernel behaviours a test must allow for
//!
//! - Joins arrive at the listener: an ADD_ADDR without a port announces the
//!   connection's own port, so a server that should accept joins to its other
//!   addresses must listen on the wildcard address. A listener bound to one address
//!   answers a join to another with a RST.
//! - `mptcpi_subflows` counts subflows besides the initial one; `mptcpi_subflows_total`
//!   counts the initial one only while it is established (0 after the FINs).
//! - MPTCP_INFO fails with `EOPNOTSUPP` once a connection has fallen back to TCP. A
//!   client's socket stays an MPTCP one (`SO_PROTOCOL` 262); a server's accepted socket
//!   is plain TCP if the SYN had no MP_CAPABLE.
//! - After `net.mptcp.syn_retrans_before_tcp_fallback` (2) lost MP_CAPABLE SYNs, a
//!   client retries without MPTCP (`MPCapableSYNTXDrop`), and if that works, its
//!   namespace may stop trying MPTCP for `net.mptcp.blackhole_timeout` seconds
//!   (`MPCapableSYNTXDisabled`, `Blackhole`). A test that drops SYNs gets TCP.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

/// `IPPROTO_MPTCP`: the protocol number of an MPTCP socket.
pub const IPPROTO_MPTCP: i32 = 262;
/// `SOL_MPTCP`: the socket option level of MPTCP.
pub const SOL_MPTCP: i32 = 284;
/// `MPTCP_INFO`: `getsockopt(SOL_MPTCP, MPTCP_INFO)` returns a `struct mptcp_info`.
pub const MPTCP_INFO: i32 = 1;
/// `mptcpi_flags`: the connection fell back to TCP.
pub const MPTCP_INFO_FLAG_FALLBACK: u32 = 1 << 0;
/// `mptcpi_flags`: the peer's key is known (the MP_CAPABLE handshake completed).
pub const MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED: u32 = 1 << 1;

/// The protocol of a socket: the kernel's MPTCP, or plain TCP for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Mptcp,
    Tcp,
}

impl Proto {
    fn protocol(self) -> Protocol {
        match self {
            Proto::Mptcp => Protocol::MPTCP,
            Proto::Tcp => Protocol::TCP,
        }
    }
}

fn new_socket(proto: Proto, addr: &SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(proto.protocol()),
    )
    .map_err(|e| {
        if proto == Proto::Mptcp
            && matches!(
                e.raw_os_error(),
                Some(libc::EPROTONOSUPPORT | libc::ENOPROTOOPT | libc::EINVAL)
            )
        {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot open an MPTCP socket: {e} (kernel without CONFIG_MPTCP, or \
                     net.mptcp.enabled=0 in this namespace?)"
                ),
            )
        } else {
            e
        }
    })
}

/// An MPTCP listening socket on `addr` (`SO_REUSEADDR`, backlog 128). Port 0 picks
/// one: `local_addr()` tells which.
pub fn mptcp_listen(addr: SocketAddr) -> io::Result<TcpListener> {
    listen(Proto::Mptcp, addr)
}

/// A listening socket of either protocol.
pub fn listen(proto: Proto, addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = new_socket(proto, &addr)?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&SockAddr::from(addr))
        .map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Accepts one connection, waiting at most `timeout`. The stream is blocking. On an
/// MPTCP listener it is an MPTCP socket, or a TCP one if the client did not use MPTCP
/// ([`is_mptcp`] tells).
pub fn accept(listener: &TcpListener, timeout: Duration) -> io::Result<(TcpStream, SocketAddr)> {
    // Non-blocking while it waits, so that a connection gone between poll and accept
    // cannot block it; blocking again after.
    listener.set_nonblocking(true)?;
    let result = accept_nonblocking(listener, timeout);
    listener.set_nonblocking(false)?;
    let (stream, peer) = result?;
    stream.set_nonblocking(false)?;
    Ok((stream, peer))
}

fn accept_nonblocking(
    listener: &TcpListener,
    timeout: Duration,
) -> io::Result<(TcpStream, SocketAddr)> {
    let deadline = Instant::now() + timeout;
    // Each turn waits until the deadline at most; the count bounds the turns that
    // EINTR or a vanished connection may add.
    for _ in 0..1000 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd, for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, ms) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        match listener.accept() {
            Ok(accepted) => return Ok(accepted),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no connection to {} within {timeout:?}",
            listener
                .local_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string())
        ),
    ))
}

/// Connects an MPTCP socket to `remote`, from `local` if given (a port of 0 picks
/// one), giving up after `timeout`.
pub fn mptcp_connect(
    local: Option<SocketAddr>,
    remote: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    connect(Proto::Mptcp, local, remote, timeout)
}

/// Connects a socket of either protocol.
pub fn connect(
    proto: Proto,
    local: Option<SocketAddr>,
    remote: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = new_socket(proto, &remote)?;
    if let Some(local) = local {
        socket.set_reuse_address(true)?;
        socket
            .bind(&SockAddr::from(local))
            .map_err(|e| io::Error::new(e.kind(), format!("bind {local}: {e}")))?;
    }
    socket
        .connect_timeout(&SockAddr::from(remote), timeout)
        .map_err(|e| io::Error::new(e.kind(), format!("connect to {remote}: {e}")))?;
    Ok(socket.into())
}

/// Whether the socket is an MPTCP socket (`SO_PROTOCOL` is 262). A client's MPTCP
/// socket stays one after falling back to TCP; a server's accepted socket is a TCP
/// one when the client's SYN had no MP_CAPABLE.
pub fn is_mptcp(sock: &impl AsFd) -> io::Result<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid for writes of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            sock.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PROTOCOL,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value == IPPROTO_MPTCP)
}

/// `struct mptcp_info` (include/uapi/linux/mptcp.h), as far as the kernel fills it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MptcpInfo {
    /// Subflows besides the initial one (`mptcpi_subflows`).
    pub subflows: u8,
    /// ADD_ADDRs this end sent (`mptcpi_add_addr_signal`).
    pub add_addr_signal: u8,
    /// ADD_ADDRs accepted from the peer.
    pub add_addr_accepted: u8,
    pub subflows_max: u8,
    pub add_addr_signal_max: u8,
    pub add_addr_accepted_max: u8,
    /// `MPTCP_INFO_FLAG_*`.
    pub flags: u32,
    /// This end's token.
    pub token: u32,
    /// Data sequence numbers: next to write, oldest unacknowledged, next expected.
    pub write_seq: u64,
    pub snd_una: u64,
    pub rcv_nxt: u64,
    pub local_addr_used: u8,
    pub local_addr_max: u8,
    /// DSS checksums are in use on this connection.
    pub csum_enabled: bool,
    /// Data-level retransmissions (Linux >= 6.5; zero before).
    pub retransmits: u32,
    pub bytes_retrans: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub bytes_acked: u64,
    /// All subflows, the initial one included (Linux >= 6.6).
    pub subflows_total: Option<u8>,
    /// How many bytes the kernel filled in.
    pub len: usize,
}

impl MptcpInfo {
    pub fn fallback(&self) -> bool {
        self.flags & MPTCP_INFO_FLAG_FALLBACK != 0
    }

    pub fn remote_key_received(&self) -> bool {
        self.flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED != 0
    }

    /// Parses the bytes of a `struct mptcp_info` (C layout, native byte order). Fields
    /// beyond `bytes.len()` are zero (older kernels fill less).
    pub fn parse(bytes: &[u8]) -> MptcpInfo {
        let mut buf = [0u8; 96];
        let len = bytes.len().min(buf.len());
        buf[..len].copy_from_slice(&bytes[..len]);
        let u32_at = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_ne_bytes(buf[o..o + 8].try_into().unwrap());
        MptcpInfo {
            subflows: buf[0],
            add_addr_signal: buf[1],
            add_addr_accepted: buf[2],
            subflows_max: buf[3],
            add_addr_signal_max: buf[4],
            add_addr_accepted_max: buf[5],
            flags: u32_at(8),
            token: u32_at(12),
            write_seq: u64_at(16),
            snd_una: u64_at(24),
            rcv_nxt: u64_at(32),
            local_addr_used: buf[40],
            local_addr_max: buf[41],
            csum_enabled: buf[42] != 0,
            retransmits: u32_at(44),
            bytes_retrans: u64_at(48),
            bytes_sent: u64_at(56),
            bytes_received: u64_at(64),
            bytes_acked: u64_at(72),
            subflows_total: (len > 80).then_some(buf[80]),
            len,
        }
    }
}

/// `getsockopt(SOL_MPTCP, MPTCP_INFO)`. Fails with `EOPNOTSUPP` on a connection that
/// fell back to TCP (and on a plain TCP socket).
pub fn mptcp_info(sock: &impl AsFd) -> io::Result<MptcpInfo> {
    let mut buf = [0u8; 96];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf and len are valid for writes of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            sock.as_fd().as_raw_fd(),
            SOL_MPTCP,
            MPTCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("MPTCP_INFO: {e}")));
    }
    Ok(MptcpInfo::parse(&buf[..(len as usize).min(buf.len())]))
}

/// Waits until the connection has at least `subflows` subflows besides the initial
/// one (per [`MptcpInfo::subflows`]), polling every 5 ms for at most `timeout`.
pub fn wait_for_subflows(
    sock: &impl AsFd,
    subflows: u8,
    timeout: Duration,
) -> io::Result<MptcpInfo> {
    let deadline = Instant::now() + timeout;
    let mut info = mptcp_info(sock)?;
    // Bounded by the deadline, and by a count in case the clock misbehaves.
    for _ in 0..100_000 {
        if info.subflows >= subflows || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        info = mptcp_info(sock)?;
    }
    if info.subflows >= subflows {
        Ok(info)
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{} additional subflows after {timeout:?}, wanted {subflows}: {info:?}",
                info.subflows
            ),
        ))
    }
}

/// How to end a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Close {
    /// `close()`: DATA_FIN if all data was read, MP_FASTCLOSE if some is unread.
    #[default]
    Graceful,
    /// `SO_LINGER {on, 0}` then `close()`: MP_FASTCLOSE on kernels with f14d6e9c3678
    /// (7.1, and the stable kernels it went to; 6.18.44 has it), graceful on older
    /// ones; a RST on a connection that fell back to TCP.
    LingerZero,
    /// `connect(AF_UNSPEC)` then `close()`: MP_FASTCLOSE on every kernel.
    Disconnect,
}

/// Ends the connection as `how` says.
pub fn close(stream: TcpStream, how: Close) -> io::Result<()> {
    match how {
        Close::Graceful => {}
        Close::LingerZero => SockRef::from(&stream).set_linger(Some(Duration::ZERO))?,
        Close::Disconnect => disconnect(&stream)?,
    }
    drop(stream);
    Ok(())
}

/// The abrupt end: MP_FASTCLOSE (or a RST after fallback) on any kernel, whether data
/// is unread or not. SO_LINGER 0, then `AF_UNSPEC`, then close.
pub fn abort(stream: TcpStream) -> io::Result<()> {
    SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    disconnect(&stream)?;
    drop(stream);
    Ok(())
}

/// `connect(AF_UNSPEC)`: the kernel's `disconnect`, MP_FASTCLOSE for MPTCP.
fn disconnect(stream: &TcpStream) -> io::Result<()> {
    // SAFETY: sockaddr is plain data; all zeros with the family set is a valid
    // AF_UNSPEC address.
    let mut addr: libc::sockaddr = unsafe { std::mem::zeroed() };
    addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    // SAFETY: a valid address of the length given, for the duration of the call.
    let r = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            &addr,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("connect(AF_UNSPEC): {e}")));
    }
    Ok(())
}

/// A reproducible stream of bytes (xorshift64*), different for each seed. Both ends of
/// an exchange generate it, so the receiver's SHA-256 can be compared with the
/// sender's.
#[derive(Debug, Clone)]
pub struct Pattern(u64);

impl Pattern {
    pub fn new(seed: u64) -> Self {
        Pattern(seed | 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// SHA-256 of the first `size` bytes of `Pattern::new(seed)`.
    pub fn sha256(seed: u64, size: u64) -> [u8; 32] {
        let mut pattern = Pattern::new(seed);
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut left = size;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            pattern.fill(&mut buf[..n]);
            sha.update(&buf[..n]);
            left -= n as u64;
        }
        sha.finalize().into()
    }
}

/// What one end of an exchange sent and received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub sent: u64,
    pub sent_sha: [u8; 32],
    pub received: u64,
    pub received_sha: [u8; 32],
}

/// Byte counters of one end, readable while the exchange runs (for the message of a
/// test that runs out of time), and when its stream reached the milestones a test of
/// the connection's end asks about ([`Progress::times`]).
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    times: Mutex<ProgressTimes>,
    check: Mutex<Option<PatternCheck>>,
}

/// What [`Progress::record_data`] compares the received bytes with.
#[derive(Debug)]
struct PatternCheck {
    pattern: Pattern,
    /// Bytes compared so far.
    offset: u64,
    first_difference: Option<Difference>,
    /// Pattern bytes made and not compared yet: the pattern comes in blocks of 8
    /// bytes, reads in any length.
    expected: Vec<u8>,
}

/// Where the bytes a receiver got first differed from what the sender sent: a
/// SHA-256 says that they differ, this says where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Offset in the stream of the first byte that differs.
    pub offset: u64,
    /// Up to 16 bytes from there: those sent, those received.
    pub expected: Vec<u8>,
    pub received: Vec<u8>,
    /// Of the chunk that held it (one read), how many bytes differ.
    pub differing_in_read: usize,
    /// That read's offset and length.
    pub read_offset: u64,
    pub read_len: usize,
}

/// When one end of an exchange reached each milestone, if it did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressTimes {
    /// It had written everything and shut down its sending side (FIN or DATA_FIN
    /// handed to its stack).
    pub shut_down: Option<Instant>,
    /// Its last read that returned data.
    pub last_data: Option<Instant>,
    /// Its read that returned end of stream.
    pub end_of_stream: Option<Instant>,
}

impl Progress {
    pub fn describe(&self, who: &str) -> String {
        format!(
            "{who} sent {} and received {} bytes",
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed)
        )
    }

    /// From now on, [`Progress::record_data`] compares what arrives with the first
    /// bytes of `Pattern::new(seed)`, and keeps where they first differ.
    pub fn expect_pattern(&self, seed: u64) {
        *self.check.lock().unwrap_or_else(|e| e.into_inner()) = Some(PatternCheck {
            pattern: Pattern::new(seed),
            offset: 0,
            first_difference: None,
            expected: Vec::new(),
        });
    }

    /// Where the data received first differed from the pattern given to
    /// [`Progress::expect_pattern`], if it did.
    pub fn first_difference(&self) -> Option<Difference> {
        self.check
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|c| c.first_difference.clone())
    }

    /// `data` was read, now: counted as [`Progress::record_received`] does, and
    /// compared with the expected pattern if there is one.
    pub fn record_data(&self, data: &[u8]) {
        self.record_received(data.len() as u64);
        let mut check = self.check.lock().unwrap_or_else(|e| e.into_inner());
        let Some(check) = check.as_mut() else {
            return;
        };
        if check.expected.len() < data.len() {
            let have = check.expected.len();
            let more = (data.len() - have).next_multiple_of(8);
            check.expected.resize(have + more, 0);
            check.pattern.fill(&mut check.expected[have..]);
        }
        if check.first_difference.is_none() {
            if let Some(at) = data.iter().zip(&check.expected).position(|(a, b)| a != b) {
                let end = (at + 16).min(data.len());
                check.first_difference = Some(Difference {
                    offset: check.offset + at as u64,
                    expected: check.expected[at..end].to_vec(),
                    received: data[at..end].to_vec(),
                    differing_in_read: data
                        .iter()
                        .zip(&check.expected)
                        .filter(|(a, b)| a != b)
                        .count(),
                    read_offset: check.offset,
                    read_len: data.len(),
                });
            }
        }
        check.expected.drain(..data.len());
        check.offset += data.len() as u64;
    }

    /// `n` bytes were read, now.
    pub fn record_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
        self.lock_times().last_data = Some(Instant::now());
    }

    /// The sending side was shut down, now.
    pub fn record_shut_down(&self) {
        self.lock_times().shut_down.get_or_insert(Instant::now());
    }

    /// A read returned end of stream, now.
    pub fn record_end_of_stream(&self) {
        self.lock_times()
            .end_of_stream
            .get_or_insert(Instant::now());
    }

    pub fn times(&self) -> ProgressTimes {
        *self.lock_times()
    }

    fn lock_times(&self) -> std::sync::MutexGuard<'_, ProgressTimes> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.times.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How much an [`exchange`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// To end of stream (the peer's DATA_FIN, or FIN after fallback).
    ToEof,
    /// Exactly this many bytes; fewer before end of stream is an error.
    Exactly(u64),
    /// Nothing.
    Nothing,
}

/// What an [`exchange`] does.
#[derive(Debug, Clone)]
pub struct ExchangeOptions {
    /// Bytes of `Pattern::new(seed)` to send.
    pub send: u64,
    pub seed: u64,
    /// `shutdown(Write)` once everything is sent (DATA_FIN): on by default.
    pub shutdown_write: bool,
    pub receive: Receive,
    /// Read first, and send only once reading is done (a server that answers a
    /// request once it has all of it): off by default, when both go at once.
    pub respond_after_receiving: bool,
    /// Once everything is sent, wait for this flag before shutting down (within the
    /// timeout): keeps the connection open in this direction while a test works on
    /// it. (Linux accepts no new subflow once it has sent its DATA_FIN.)
    pub hold_shutdown: Option<Arc<AtomicBool>>,
    /// For the whole exchange: every read and write waits at most until then.
    pub timeout: Duration,
    pub progress: Option<Arc<Progress>>,
}

impl ExchangeOptions {
    /// Send `send` bytes then shut down writing, while reading to end of stream, within
    /// 60 s.
    pub fn new(send: u64, seed: u64) -> Self {
        ExchangeOptions {
            send,
            seed,
            shutdown_write: true,
            receive: Receive::ToEof,
            respond_after_receiving: false,
            hold_shutdown: None,
            timeout: Duration::from_secs(60),
            progress: None,
        }
    }

    pub fn receive(mut self, receive: Receive) -> Self {
        self.receive = receive;
        self
    }

    pub fn shutdown_write(mut self, shutdown: bool) -> Self {
        self.shutdown_write = shutdown;
        self
    }

    pub fn respond_after_receiving(mut self, respond: bool) -> Self {
        self.respond_after_receiving = respond;
        self
    }

    pub fn hold_shutdown(mut self, until: Arc<AtomicBool>) -> Self {
        self.hold_shutdown = Some(until);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }
}

const CHUNK: usize = 64 << 10;

/// Time left until `deadline`, or a timeout error naming `what`.
fn left(deadline: Instant, what: &dyn Fn() -> String) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out {}", what()),
        ));
    }
    Ok(left)
}

fn context(e: io::Error, what: String) -> io::Error {
    let kind = match e.kind() {
        // SO_RCVTIMEO / SO_SNDTIMEO expiring reads as EAGAIN.
        io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut,
        k => k,
    };
    io::Error::new(kind, format!("{what}: {e}"))
}

/// Sends and receives on `stream` at once, as `opts` says (sending on a second thread
/// when doing both; or one after the other with
/// [`ExchangeOptions::respond_after_receiving`]), and returns what went each way with SHA-256 of both. Blocking
/// calls with `SO_SNDTIMEO`/`SO_RCVTIMEO` set to the time left, so the whole exchange
/// ends within `opts.timeout`. The stream stays open: end it with [`close`] or
/// [`abort`].
pub fn exchange(stream: &TcpStream, opts: &ExchangeOptions) -> io::Result<Exchange> {
    let deadline = Instant::now() + opts.timeout;
    let progress = opts.progress.clone().unwrap_or_default();
    let sends = opts.send > 0 || opts.shutdown_write;
    let receives = opts.receive != Receive::Nothing;
    let sender = if sends && receives && !opts.respond_after_receiving {
        let writer = stream.try_clone()?;
        let (send, seed) = (opts.send, opts.seed);
        let shutdown = opts.shutdown_write.then(|| opts.hold_shutdown.clone());
        let progress = progress.clone();
        Some(
            std::thread::Builder::new()
                .name("mptcp-sender".into())
                .spawn(move || send_pattern(&writer, send, seed, shutdown, deadline, &progress))?,
        )
    } else {
        None
    };
    let (received, received_sha) = if receives {
        receive(stream, opts.receive, deadline, &progress)?
    } else {
        (0, Sha256::new().finalize().into())
    };
    let sent_sha = match sender {
        Some(sender) => sender
            .join()
            .map_err(|_| io::Error::other("sender thread panicked"))??,
        None if sends => send_pattern(
            stream,
            opts.send,
            opts.seed,
            opts.shutdown_write.then(|| opts.hold_shutdown.clone()),
            deadline,
            &progress,
        )?,
        None => Sha256::new().finalize().into(),
    };
    Ok(Exchange {
        sent: opts.send,
        sent_sha,
        received,
        received_sha,
    })
}

/// Sends `size` bytes of the pattern; then, if `shutdown` is given, shuts down
/// writing, once its flag (if any) is set.
fn send_pattern(
    mut stream: &TcpStream,
    size: u64,
    seed: u64,
    shutdown: Option<Option<Arc<AtomicBool>>>,
    deadline: Instant,
    progress: &Progress,
) -> io::Result<[u8; 32]> {
    let mut pattern = Pattern::new(seed);
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    let what = |sent: u64| format!("sending, after {sent} of {size} bytes");
    while sent < size {
        let n = (size - sent).min(CHUNK as u64) as usize;
        pattern.fill(&mut buf[..n]);
        sha.update(&buf[..n]);
        let mut off = 0;
        // Each write moves at least one byte or fails; bounded by the deadline.
        while off < n {
            stream.set_write_timeout(Some(left(deadline, &|| what(sent))?))?;
            match stream.write(&buf[off..n]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, what(sent))),
                Ok(w) => {
                    off += w;
                    sent += w as u64;
                    progress.sent.fetch_add(w as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(context(e, what(sent))),
            }
        }
    }
    if let Some(hold) = shutdown {
        if let Some(flag) = hold {
            // Every 5 ms until the flag or the deadline.
            while !flag.load(Ordering::Relaxed) {
                left(deadline, &|| {
                    format!("waiting to shut down after {size} bytes")
                })?;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        stream
            .shutdown(Shutdown::Write)
            .map_err(|e| context(e, format!("shutdown(Write) after {size} bytes")))?;
        progress.record_shut_down();
    }
    Ok(sha.finalize().into())
}

fn receive(
    mut stream: &TcpStream,
    how: Receive,
    deadline: Instant,
    progress: &Progress,
) -> io::Result<(u64, [u8; 32])> {
    let want = match how {
        Receive::Exactly(n) => Some(n),
        _ => None,
    };
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut received = 0u64;
    let what = |received: u64| format!("receiving, after {received} bytes");
    loop {
        let room = match want {
            Some(n) if received >= n => break,
            Some(n) => (n - received).min(CHUNK as u64) as usize,
            None => CHUNK,
        };
        stream.set_read_timeout(Some(left(deadline, &|| what(received))?))?;
        let n = match stream.read(&mut buf[..room]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(context(e, what(received))),
        };
        if n == 0 {
            progress.record_end_of_stream();
            if let Some(want) = want {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("end of stream after {received} of {want} bytes"),
                ));
            }
            break;
        }
        sha.update(&buf[..n]);
        received += n as u64;
        progress.record_data(&buf[..n]);
    }
    Ok((received, sha.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mptcp_info_layout_follows_the_uapi_struct() {
        let mut b = [0u8; 96];
        b[0] = 2;
        b[2] = 1;
        b[8..12].copy_from_slice(&3u32.to_ne_bytes());
        b[12..16].copy_from_slice(&0xdead_beefu32.to_ne_bytes());
        b[32..40].copy_from_slice(&77u64.to_ne_bytes());
        b[42] = 1;
        b[64..72].copy_from_slice(&123u64.to_ne_bytes());
        b[80] = 3;
        let info = MptcpInfo::parse(&b);
        assert_eq!(info.subflows, 2);
        assert_eq!(info.add_addr_accepted, 1);
        assert!(info.fallback() && info.remote_key_received());
        assert_eq!(info.token, 0xdead_beef);
        assert_eq!(info.rcv_nxt, 77);
        assert!(info.csum_enabled);
        assert_eq!(info.bytes_received, 123);
        assert_eq!(info.subflows_total, Some(3));
        // An older kernel's shorter struct: the newer fields read as absent.
        assert_eq!(MptcpInfo::parse(&b[..72]).subflows_total, None);
    }

    #[test]
    fn progress_finds_the_first_byte_that_differs_whatever_the_reads() {
        let mut bytes = vec![0u8; 10_000];
        Pattern::new(9).fill(&mut bytes[..]);
        let whole = Progress::default();
        whole.expect_pattern(9);
        for piece in bytes.chunks(1420) {
            whole.record_data(piece);
        }
        assert_eq!(whole.first_difference(), None);
        bytes[5_000] ^= 1;
        let damaged = Progress::default();
        damaged.expect_pattern(9);
        for piece in bytes.chunks(333) {
            damaged.record_data(piece);
        }
        let d = damaged.first_difference().expect("a difference");
        assert_eq!((d.offset, d.differing_in_read), (5_000, 1));
        assert_eq!(d.read_offset, 4_995);
        assert_eq!(damaged.received.load(Ordering::Relaxed), 10_000);
    }

    #[test]
    fn pattern_sha_matches_the_bytes() {
        let mut bytes = vec![0u8; 100_000];
        Pattern::new(7).fill(&mut bytes[..]);
        let mut p = Pattern::new(7);
        let mut pieces = vec![0u8; 100_000];
        p.fill(&mut pieces[..CHUNK]);
        p.fill(&mut pieces[CHUNK..]);
        assert_eq!(bytes, pieces);
        assert_eq!(
            Pattern::sha256(7, 100_000),
            <[u8; 32]>::from(Sha256::digest(&bytes))
        );
    }
}
