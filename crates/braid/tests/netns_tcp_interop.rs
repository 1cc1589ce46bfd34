//! braid's TCP against the Linux kernel's, through a TUN device, in network namespaces
//! (the layout of docs/network-lab.md): 64 MiB each way at once, SHA-256
//! compared at both ends, on a clean path (TUN offload on, so braid and the kernel
//! exchange 64 KiB segments) and with 1% random loss. With loss, iptables drops packets
//! as the kernel forwards them, so every packet is made one segment (offload off, veth
//! `gso_max_segs 1`): 1% of segments are lost, each on its own. A last pair of tests
//! keeps offload on under loss, where a drop takes out a whole burst.
//!
//! Needs root; skipped otherwise (fails instead with `BRAID_REQUIRE_NETNS=1`).
//! `BRAID_NETNS_MIB` changes the size.

mod netns;

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use braid::runtime::{Stack, StackConfig};
use braid_testkit::lab::{netns_available, serial, spawn_in, wait};
use braid_testkit::linux_mptcp::Progress;
use braid_testkit::netns::Topology;
use netns::{assert_exchanged, async_exchange, linux_exchange, runtime, transfer_size, TIME_LIMIT};

const PORT: u16 = 5001;
const BRAID_SEED: u64 = 0xb4a1d;
const LINUX_SEED: u64 = 0x11e7;

/// How the path between braid and Linux loses packets.
#[derive(Debug, Clone, Copy)]
enum Loss {
    None,
    /// This fraction of single segments.
    Segments(f64),
    /// This fraction of the kernel's packets, offload on: bursts of up to 64 KiB.
    Bursts(f64),
}

impl Loss {
    /// Sets the topology up, and says how braid's stack must be configured.
    fn apply(self, topo: &Topology) -> StackConfig {
        match self {
            Loss::None => StackConfig::default(),
            Loss::Segments(p) => {
                topo.one_segment_per_packet().expect("gso_max_segs 1");
                topo.drop_randomly(p).expect("add the iptables loss rule");
                StackConfig {
                    offload: false,
                    ..StackConfig::default()
                }
            }
            Loss::Bursts(p) => {
                topo.drop_randomly(p).expect("add the iptables loss rule");
                StackConfig::default()
            }
        }
    }
}

/// braid connects from its TUN in the client namespace to a Linux server in the other.
fn braid_client_to_linux_server(test: &str, loss: Loss) {
    if !netns_available(test) {
        return;
    }
    let _serial = serial();
    let started = Instant::now();
    let deadline = started + TIME_LIMIT;
    let size = transfer_size();
    let topo = Topology::new(1).expect("build the namespaces");
    let config = loss.apply(&topo);
    let path = topo.paths[0].clone();
    let server_addr = SocketAddr::new(path.server_ip.into(), PORT);
    let braid_ip = IpAddr::from(path.braid_ip);

    let linux_progress = Arc::new(Progress::default());
    let braid_progress = Arc::new(Progress::default());
    let (ready_tx, ready_rx) = mpsc::channel();
    let progress = linux_progress.clone();
    let linux = spawn_in(&topo.server, "linux-server", move || {
        let listener = std::net::TcpListener::bind(server_addr)?;
        ready_tx.send(()).expect("test waits");
        let (stream, _) = listener.accept()?;
        linux_exchange(stream, size, LINUX_SEED, progress)
    });
    ready_rx
        .recv_timeout(TIME_LIMIT)
        .expect("the Linux server listens");

    let progress = braid_progress.clone();
    let braid = spawn_in(&topo.client, "braid-client", move || {
        runtime()?.block_on(async move {
            let work = async {
                let stack = Stack::new("braid0", &[braid_ip], config)?;
                let stream = stack
                    .connect(SocketAddr::new(braid_ip, 0), server_addr)
                    .await?;
                let (r, w) = stream.into_split();
                let exchange = async_exchange(r, w, size, BRAID_SEED, progress).await?;
                // For the log: the connection as the exchange ends (its send buffer may
                // still hold data).
                for (_, _, info) in stack.connections() {
                    let t = info.stats;
                    eprintln!(
                        "braid: {:?}, {} segments ({} bytes) sent, {} retransmitted, {} fast recoveries, \
                         {} timeouts, srtt {:?}",
                        info.state,
                        t.segments_sent,
                        t.bytes_sent,
                        t.retransmitted_segments,
                        t.fast_recoveries,
                        t.timeouts,
                        info.srtt
                    );
                }
                stack.shutdown(std::time::Duration::from_secs(5)).await;
                std::io::Result::Ok(exchange)
            };
            tokio::time::timeout(TIME_LIMIT, work)
                .await
                .map_err(|_| std::io::Error::other("time limit"))?
        })
    });

    let report = || {
        format!(
            "{}; {}; loss rule dropped {:?} packets",
            braid_progress.describe("braid"),
            linux_progress.describe("Linux"),
            topo.dropped_packets().ok()
        )
    };
    let braid = wait(&braid, deadline, "the braid client", &report);
    let linux = wait(&linux, deadline, "the Linux server", &report);
    assert_exchanged(&braid, &linux, size);
    eprintln!(
        "{test}: {} MiB each way in {:.1}s; {}",
        size >> 20,
        started.elapsed().as_secs_f64(),
        report()
    );
}

/// A Linux client in the server namespace connects to braid listening on its TUN.
fn linux_client_to_braid_server(test: &str, loss: Loss) {
    if !netns_available(test) {
        return;
    }
    let _serial = serial();
    let started = Instant::now();
    let deadline = started + TIME_LIMIT;
    let size = transfer_size();
    let topo = Topology::new(1).expect("build the namespaces");
    let config = loss.apply(&topo);
    let path = topo.paths[0].clone();
    let braid_ip = IpAddr::from(path.braid_ip);
    let braid_addr = SocketAddr::new(braid_ip, PORT);

    let linux_progress = Arc::new(Progress::default());
    let braid_progress = Arc::new(Progress::default());
    let (ready_tx, ready_rx) = mpsc::channel();
    let progress = braid_progress.clone();
    let braid = spawn_in(&topo.client, "braid-server", move || {
        runtime()?.block_on(async move {
            let work = async {
                let stack = Stack::new("braid0", &[braid_ip], config)?;
                let listener = stack.listen(braid_addr)?;
                ready_tx.send(()).expect("test waits");
                let (stream, _peer) = listener.accept().await?;
                drop(listener);
                let (r, w) = stream.into_split();
                let exchange = async_exchange(r, w, size, BRAID_SEED, progress).await?;
                // For the log: the connection as the exchange ends (its send buffer may
                // still hold data).
                for (_, _, info) in stack.connections() {
                    let t = info.stats;
                    eprintln!(
                        "braid: {:?}, {} segments ({} bytes) sent, {} retransmitted, {} fast recoveries, \
                         {} timeouts, srtt {:?}",
                        info.state,
                        t.segments_sent,
                        t.bytes_sent,
                        t.retransmitted_segments,
                        t.fast_recoveries,
                        t.timeouts,
                        info.srtt
                    );
                }
                stack.shutdown(std::time::Duration::from_secs(5)).await;
                std::io::Result::Ok(exchange)
            };
            tokio::time::timeout(TIME_LIMIT, work)
                .await
                .map_err(|_| std::io::Error::other("time limit"))?
        })
    });
    ready_rx
        .recv_timeout(TIME_LIMIT)
        .expect("the braid server listens");

    let progress = linux_progress.clone();
    let linux = spawn_in(&topo.server, "linux-client", move || {
        let stream = std::net::TcpStream::connect_timeout(&braid_addr, TIME_LIMIT)?;
        linux_exchange(stream, size, LINUX_SEED, progress)
    });

    let report = || {
        format!(
            "{}; {}; loss rule dropped {:?} packets",
            braid_progress.describe("braid"),
            linux_progress.describe("Linux"),
            topo.dropped_packets().ok()
        )
    };
    let linux = wait(&linux, deadline, "the Linux client", &report);
    let braid = wait(&braid, deadline, "the braid server", &report);
    assert_exchanged(&braid, &linux, size);
    eprintln!(
        "{test}: {} MiB each way in {:.1}s; {}",
        size >> 20,
        started.elapsed().as_secs_f64(),
        report()
    );
}

#[test]
fn braid_client_linux_server_64mib_each_way() {
    braid_client_to_linux_server("braid_client_linux_server_64mib_each_way", Loss::None);
}

#[test]
fn braid_client_linux_server_64mib_each_way_1pct_loss() {
    braid_client_to_linux_server(
        "braid_client_linux_server_64mib_each_way_1pct_loss",
        Loss::Segments(0.01),
    );
}

#[test]
fn braid_client_linux_server_64mib_each_way_1pct_burst_loss() {
    braid_client_to_linux_server(
        "braid_client_linux_server_64mib_each_way_1pct_burst_loss",
        Loss::Bursts(0.01),
    );
}

#[test]
fn linux_client_braid_server_64mib_each_way() {
    linux_client_to_braid_server("linux_client_braid_server_64mib_each_way", Loss::None);
}

#[test]
fn linux_client_braid_server_64mib_each_way_1pct_loss() {
    linux_client_to_braid_server(
        "linux_client_braid_server_64mib_each_way_1pct_loss",
        Loss::Segments(0.01),
    );
}

#[test]
fn linux_client_braid_server_64mib_each_way_1pct_burst_loss() {
    linux_client_to_braid_server(
        "linux_client_braid_server_64mib_each_way_1pct_burst_loss",
        Loss::Bursts(0.01),
    );
}
