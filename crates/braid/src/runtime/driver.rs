//! The driver: one tokio task per stack that moves packets between the TUN device and
//! the endpoint, runs its timers, and wakes the application's tasks.
//!
//! Each turn of the loop reads what the TUN device holds (up to a batch, without
//! waiting), hands it to the endpoint, runs due timers, drains the endpoint's packets
//! (up to a batch), writes them to the device, and only then wakes the tasks whose
//! connections changed, so that a task which sees the end of a stream knows that the
//! acknowledgment of the peer's FIN has already left. When there was nothing to read
//! and nothing more to send it sleeps until the device is readable, the application
//! asks for something, or the endpoint's next timer.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::Waker;

use braid_proto::endpoint::{EndpointEvent, EndpointStats};
use braid_proto::tcp::{TcpEvent, TcpState};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::IpPacket;
use tun_rs::{GROTable, VIRTIO_NET_HDR_LEN};

use super::shared::{Conn, Shared, State};

/// Packets written, and device reads, per turn of the loop at most.
const BATCH: usize = 64;

/// Packet buffers for reading. With offload one read can bring a 64 KiB segment that
/// tun-rs splits into MTU-sized packets, so a read is only tried while `SPLIT_ROOM`
/// buffers are free.
const RX_BUFS: usize = 256;
const SPLIT_ROOM: usize = 128;

/// How long the driver keeps running after the application dropped every handle, so
/// that connections can finish closing (FIN sent and acknowledged).
const LINGER: Duration = Duration::from_secs(10);

/// At most one log line about SYN cookies per this long: a flood must not flood the
/// log too.
const SYN_FLOOD_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Tells the log when listeners answer SYNs with cookies (their queue of half-open
/// connections overflowed: a SYN flood, or a burst of clients): a warning when it
/// starts, after a quiet spell, then a debug line per interval while it lasts, each
/// with the counts since the last line.
#[derive(Default)]
struct SynFloodLog {
    /// Cookies sent, accepted, rejected, and half-open entries pruned, as last told.
    told: [u64; 4],
    told_at: Option<Instant>,
}

impl SynFloodLog {
    fn observe(&mut self, now: Instant, stats: &EndpointStats, tun: &str) {
        let counts = [
            stats.syn_cookies_sent,
            stats.syn_cookies_accepted,
            stats.syn_cookies_rejected,
            stats.half_open_pruned,
        ];
        if counts == self.told
            || self
                .told_at
                .is_some_and(|t| now < t + SYN_FLOOD_LOG_INTERVAL)
        {
            return;
        }
        let [sent, accepted, rejected, pruned] = std::array::from_fn(|i| counts[i] - self.told[i]);
        let quiet_before = self
            .told_at
            .is_none_or(|t| now >= t + SYN_FLOOD_LOG_INTERVAL + SYN_FLOOD_LOG_INTERVAL);
        if quiet_before {
            tracing::warn!(
                tun,
                sent,
                accepted,
                rejected,
                pruned,
                "a listener's SYN queue is full (a SYN flood?): answering with SYN cookies"
            );
        } else {
            tracing::debug!(tun, sent, accepted, rejected, pruned, "SYN cookies");
        }
        self.told = counts;
        self.told_at = Some(now);
    }
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    device: tun_rs::AsyncDevice,
    offload: bool,
    buf_len: usize,
) {
    // The loop runs in a task of its own so that a panic in it (a bug in the core, say)
    // is caught here and reported to every handle, rather than leaving them waiting.
    let mut inner = AbortOnDrop(tokio::spawn({
        let shared = shared.clone();
        async move { drive(&shared, &device, offload, buf_len).await }
    }));
    let why = match (&mut inner.0).await {
        Ok(why) => why,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(tun = %shared.tun_name, "braid driver panicked: {msg}");
            format!("its driver panicked: {msg}")
        }
        Err(e) => format!("its driver was cancelled: {e}"),
    };
    tracing::debug!(tun = %shared.tun_name, "driver stopped: {why}");
    let mut wakers = Vec::new();
    {
        let mut st = shared.lock();
        st.stopped = Some(why);
        for c in st.conns.values_mut() {
            c.wake_all(&mut wakers);
        }
        for l in st.listeners.values_mut() {
            wakers.extend(l.waker.take());
        }
    }
    wakers.into_iter().for_each(Waker::wake);
    // The device closed with the inner task; the kernel deletes it and its routes.
}

/// Aborts the inner task when the outer one is dropped (`Stack::shutdown` aborting it,
/// or the runtime shutting down).
struct AbortOnDrop(tokio::task::JoinHandle<String>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn drive(
    shared: &Arc<Shared>,
    device: &tun_rs::AsyncDevice,
    offload: bool,
    buf_len: usize,
) -> String {
    // Without offload a read is one packet, into the first buffer given.
    let (rx_bufs, room) = if offload {
        (RX_BUFS, SPLIT_ROOM)
    } else {
        (BATCH, 1)
    };
    // With offload, a read lands here whole (header and up to 64 KiB) before tun-rs
    // splits it into `rx`.
    let raw_len = if offload {
        VIRTIO_NET_HDR_LEN + 65535
    } else {
        0
    };
    let mut raw = vec![0u8; raw_len];
    let mut rx: Vec<Vec<u8>> = (0..rx_bufs).map(|_| vec![0u8; buf_len]).collect();
    let mut rx_len = vec![0usize; rx_bufs];
    // Packets to write start after room for the virtio-net header, which tun-rs fills
    // in (and ignores without offload). With offload, tun-rs appends the payload of
    // the segments that follow in the same flow to the first one (GRO), but only into
    // a buffer that holds the largest segment (64 KiB) without growing.
    let tx_capacity = if offload {
        2 * VIRTIO_NET_HDR_LEN + 65535
    } else {
        VIRTIO_NET_HDR_LEN + buf_len
    };
    let mut tx: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| Vec::with_capacity(tx_capacity))
        .collect();
    let mut gro = GROTable::default();
    let mut wakers: Vec<Waker> = Vec::new();
    let mut linger_until: Option<Instant> = None;
    let mut syn_flood_log = SynFloodLog::default();
    loop {
        let mut n_rx = 0;
        let mut reads = 0;
        let mut rx_full = false;
        loop {
            if n_rx + room > rx_bufs || reads == BATCH {
                rx_full = true;
                break;
            }
            match device.try_recv_multiple(&mut raw, &mut rx[n_rx..], &mut rx_len[n_rx..], 0) {
                Ok(n) => {
                    n_rx += n;
                    reads += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error().is_some() => {
                    return format!("reading from TUN device {}: {e}", shared.tun_name);
                }
                // A packet tun-rs could not split or check: it is lost, as on a link.
                Err(e) => {
                    reads += 1;
                    tracing::debug!(tun = %shared.tun_name, "unusable packet from TUN: {e}");
                }
            }
        }

        let (n_tx, deadline, stop) = {
            let mut st = shared.lock();
            st.stats.wakeups += 1;
            let now = shared.clock.now();
            for (packet, &len) in rx.iter().zip(&rx_len).take(n_rx) {
                let packet = &packet[..len];
                st.stats.tun_packets_in += 1;
                if is_for(packet, &shared.addrs) {
                    st.endpoint.handle(now, packet);
                } else {
                    st.stats.foreign_packets += 1;
                }
            }
            if st.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                st.endpoint.handle_timeout(now);
            }
            syn_flood_log.observe(now, st.endpoint.stats(), &shared.tun_name);
            dispatch_events(&mut st, &mut wakers);
            let mut n_tx = 0;
            while n_tx < BATCH {
                let buf = &mut tx[n_tx];
                buf.resize(VIRTIO_NET_HDR_LEN + buf_len, 0);
                match st
                    .endpoint
                    .poll_transmit(now, &mut buf[VIRTIO_NET_HDR_LEN..])
                {
                    Some(len) => {
                        buf.truncate(VIRTIO_NET_HDR_LEN + len);
                        n_tx += 1;
                    }
                    None => break,
                }
            }
            if dispatch_events(&mut st, &mut wakers) {
                // Dispatching aborted a connection nobody will accept: its RST is owed.
                shared.wake_driver();
            }
            st.stats.tun_packets_out += n_tx as u64;
            let mut deadline = st.endpoint.poll_timeout();
            let mut stop = None;
            // Nobody can use the stack any more: let connections finish closing, then
            // stop.
            if shared.abandoned() {
                let linger = *linger_until.get_or_insert(now + LINGER);
                if !busy(&st) {
                    stop = Some("every handle was dropped");
                } else if linger <= now {
                    stop = Some("every handle was dropped (connections still closing)");
                } else {
                    deadline = Some(deadline.map_or(linger, |d| d.min(linger)));
                }
            }
            (n_tx, deadline, stop)
        };

        if n_tx > 0 {
            if let Err(e) = device
                .send_multiple(&mut gro, &mut tx[..n_tx], VIRTIO_NET_HDR_LEN)
                .await
            {
                match e.raw_os_error() {
                    Some(libc::EBADF) | Some(libc::EBADFD) => {
                        return format!("writing to TUN device {}: {e}", shared.tun_name);
                    }
                    // The kernel refused a packet (no route, say): it is lost, as on a
                    // link. tun-rs has written the others.
                    _ => tracing::debug!(tun = %shared.tun_name, "TUN write failed: {e}"),
                }
            }
        }
        wakers.drain(..).for_each(Waker::wake);
        if let Some(why) = stop {
            return why.to_string();
        }
        if rx_full || n_tx == BATCH {
            // More is waiting; let other tasks run between batches.
            tokio::task::yield_now().await;
            continue;
        }
        let sleep = deadline.map(|d| tokio::time::sleep_until(shared.clock.to_tokio(d)));
        tokio::select! {
            biased;
            r = device.readable() => {
                if let Err(e) = r {
                    return format!("waiting on TUN device {}: {e}", shared.tun_name);
                }
            }
            _ = shared.driver.notified() => {}
            _ = async { sleep.expect("guarded").await }, if sleep.is_some() => {}
        }
    }
}

/// Some connection has more to say than its final ACKs (TIME-WAIT and CLOSED are done).
fn busy(st: &State) -> bool {
    st.endpoint.connection_ids().any(|id| {
        st.endpoint
            .connection(id)
            .is_some_and(|c| !matches!(c.state(), TcpState::TimeWait | TcpState::Closed))
    })
}

/// Whether `packet` is addressed to one of the stack's addresses. The kernel routes only
/// those into the device, but a misconfigured route must not make braid answer for
/// addresses that are not its own.
fn is_for(packet: &[u8], addrs: &[IpAddr]) -> bool {
    IpPacket::new_checked(packet).is_ok_and(|p| addrs.contains(&p.dst_addr()))
}

/// Turns the endpoint's events into wake-ups. Returns whether it queued packets (a
/// RST for a connection no listener wants).
fn dispatch_events(st: &mut State, wakers: &mut Vec<Waker>) -> bool {
    let mut queued = false;
    while let Some(event) = st.endpoint.poll_event() {
        match event {
            EndpointEvent::Accepted {
                listener,
                connection,
                local,
                remote,
            } => {
                if let Some(l) = st.listeners.get_mut(&listener) {
                    l.queue.push_back(connection);
                    wakers.extend(l.waker.take());
                    st.conns.insert(
                        connection,
                        Conn {
                            connected: true,
                            queued_addrs: Some((local, remote)),
                            ..Conn::default()
                        },
                    );
                } else {
                    // The listener went away while the handshake ran.
                    if let Some(c) = st.endpoint.connection_mut(connection) {
                        c.abort();
                        queued = true;
                    }
                    st.endpoint.accepted(connection);
                }
            }
            EndpointEvent::Connection { connection, event } => {
                let Some(c) = st.conns.get_mut(&connection) else {
                    continue;
                };
                match event {
                    TcpEvent::Connected => {
                        c.connected = true;
                        wakers.extend(c.write_waker.take());
                    }
                    TcpEvent::Readable | TcpEvent::PeerFinished => {
                        wakers.extend(c.read_waker.take());
                    }
                    TcpEvent::Writable => wakers.extend(c.write_waker.take()),
                    TcpEvent::RetransmissionTimeout => {}
                    TcpEvent::Closed(reason) => {
                        c.closed = Some(reason);
                        c.wake_all(wakers);
                        if c.dropped {
                            st.conns.remove(&connection);
                        }
                    }
                }
            }
            // Subflows and addresses: nothing here waits on them.
            EndpointEvent::Mptcp { .. } => {}
        }
    }
    queued
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_packets_for_the_stacks_addresses_are_taken() {
        let ours: Vec<IpAddr> = vec!["10.1.1.1".parse().unwrap()];
        // An IPv4 header (20 octets) from 10.0.1.2 to `dst`, no payload.
        let packet = |dst: [u8; 4]| {
            let mut p = vec![0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 1, 2];
            p.extend_from_slice(&dst);
            p
        };
        assert!(is_for(&packet([10, 1, 1, 1]), &ours));
        assert!(!is_for(&packet([10, 1, 1, 2]), &ours));
        assert!(!is_for(&[0x45, 0, 0], &ours));
        assert!(!is_for(&[], &ours));
    }
}
