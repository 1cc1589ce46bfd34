//! Throughput of braid's TCP through its TUN device against Linux's TCP over the same
//! veth, measured in one run.
//!
//! ```text
//! sudo cargo run --release -p braid --example tun_throughput [-- MIB [ROUNDS]]
//! ```
//!
//! Builds the netns layout of `braid_testkit::netns::Topology` (one path), then, for
//! each round, times `MIB` MiB (default 256, 3 rounds):
//!
//! - braid -> Linux: braid in the client namespace sends to a Linux server across the
//!   veth (through TUN and the kernel's forwarding);
//! - Linux -> braid: the Linux server sends to braid;
//! - Linux -> Linux: a kernel socket in the client namespace sends to the same server
//!   over the same veth.
//!
//! The clock runs from the receiver's first byte to its end of stream. Prints the
//! median and the best round of each. Needs root; everything lives in namespaces it
//! deletes. `BRAID_OFFLOAD=0` runs braid's TUN device without offload (one packet per
//! system call); `BRAID_VERBOSE=1` prints braid's connection counters after each run.
//!
//! Linux -> Linux uses TSO/GSO and GRO end to end (64 KiB segments across the veth);
//! braid's own segments are MSS-sized, and only the TUN offload lets it exchange
//! 64 KiB segments with the kernel.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use braid::runtime::{Stack, StackConfig};
use braid_testkit::netns::{self, Topology};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 256 << 10;
const TIME_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    if let Err(why) = netns::available() {
        eprintln!("tun_throughput: {why}");
        std::process::exit(2);
    }
    let size = mib << 20;
    let topo = Topology::new(1).expect("build the namespaces");
    let path = topo.paths[0].clone();
    let server_ip = IpAddr::from(path.server_ip);
    let braid_ip = IpAddr::from(path.braid_ip);

    // One Linux server for every run: it sinks what it is sent (reporting how long from
    // first byte to end of stream), or sends `size` bytes when the first byte it gets
    // is b'D' (download).
    let sink_addr = SocketAddr::new(server_ip, 5201);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel::<Duration>();
    topo.server
        .spawn("linux-server", move || {
            let listener = TcpListener::bind(sink_addr)?;
            ready_tx.send(()).unwrap();
            for stream in listener.incoming() {
                let mut stream = stream?;
                stream.set_read_timeout(Some(TIME_LIMIT))?;
                stream.set_write_timeout(Some(TIME_LIMIT))?;
                let mut buf = vec![0u8; CHUNK];
                let n = stream.read(&mut buf)?;
                if n == 1 && buf[0] == b'D' {
                    let mut left = size;
                    while left > 0 {
                        let n = left.min(CHUNK as u64) as usize;
                        stream.write_all(&buf[..n])?;
                        left -= n as u64;
                    }
                    stream.shutdown(std::net::Shutdown::Write)?;
                    let _ = stream.read(&mut buf);
                    continue;
                }
                let start = Instant::now();
                let mut got = n as u64;
                loop {
                    let n = stream.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    got += n as u64;
                }
                assert_eq!(got, size, "the server got every byte");
                let _ = result_tx.send(start.elapsed());
            }
            Ok(())
        })
        .expect("start the Linux server");
    ready_rx
        .recv_timeout(TIME_LIMIT)
        .expect("the server listens");

    // braid, in the client namespace: its runtime runs on threads born there. Each
    // transfer gets a fresh stack (and TUN device), so that runs do not share state.
    let (braid_tx, braid_rx) = mpsc::channel::<(bool, mpsc::Sender<io::Result<Duration>>)>();
    topo.client
        .spawn("braid", move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            while let Ok((download, reply)) = braid_rx.recv() {
                let run = async {
                    let config = StackConfig {
                        offload: std::env::var("BRAID_OFFLOAD").map_or(true, |v| v != "0"),
                        ..StackConfig::default()
                    };
                    let stack =
                        Stack::new("braid0", &[braid_ip], config).map_err(io::Error::from)?;
                    let mut s = stack
                        .connect(SocketAddr::new(braid_ip, 0), sink_addr)
                        .await?;
                    let mut buf = vec![0u8; CHUNK];
                    let elapsed = if download {
                        s.write_all(b"D").await?;
                        let start = Instant::now();
                        let mut got = 0u64;
                        loop {
                            let n = s.read(&mut buf).await?;
                            if n == 0 {
                                break;
                            }
                            got += n as u64;
                        }
                        assert_eq!(got, size, "braid got every byte");
                        let elapsed = start.elapsed();
                        s.shutdown().await?;
                        elapsed
                    } else {
                        let mut left = size;
                        while left > 0 {
                            let n = left.min(CHUNK as u64) as usize;
                            s.write_all(&buf[..n]).await?;
                            left -= n as u64;
                        }
                        s.shutdown().await?;
                        // The server's FIN: it has everything.
                        let n = s.read(&mut buf).await?;
                        assert_eq!(n, 0, "the server sends nothing back");
                        Duration::ZERO
                    };
                    if std::env::var("BRAID_VERBOSE").is_ok() {
                        eprintln!("  {:?}\n  {:?}", s.info(), stack.stats());
                    }
                    drop(s);
                    // The device goes away with the driver, so the next stack can
                    // take its name.
                    stack.shutdown(Duration::from_secs(15)).await;
                    io::Result::Ok(elapsed)
                };
                let r = rt.block_on(async {
                    tokio::time::timeout(TIME_LIMIT, run)
                        .await
                        .unwrap_or_else(|_| Err(io::Error::other("time limit")))
                });
                let _ = reply.send(r);
            }
            io::Result::Ok(())
        })
        .expect("start braid");

    let braid_run = |download: bool| -> Duration {
        let (tx, rx) = mpsc::channel();
        braid_tx.send((download, tx)).unwrap();
        let client = rx
            .recv_timeout(TIME_LIMIT + TIME_LIMIT)
            .expect("braid run ends");
        let client = client.expect("braid run");
        if download {
            client
        } else {
            result_rx.recv_timeout(TIME_LIMIT).expect("server result")
        }
    };
    let linux_run = || -> Duration {
        // From the client namespace's kernel (10.0.1.1) over the same veth.
        topo.client
            .spawn("linux-client", move || {
                let socket = std::net::TcpStream::connect_timeout(&sink_addr, TIME_LIMIT)?;
                send_all(socket, size)
            })
            .unwrap()
            .join()
            .unwrap()
            .expect("Linux client");
        result_rx.recv_timeout(TIME_LIMIT).expect("server result")
    };

    let mut up = Vec::new();
    let mut down = Vec::new();
    let mut kernel = Vec::new();
    for round in 1..=rounds {
        up.push(braid_run(false));
        down.push(braid_run(true));
        kernel.push(linux_run());
        eprintln!(
            "round {round}: braid->Linux {:.2}, Linux->braid {:.2}, Linux->Linux {:.2} Gbit/s",
            gbps(size, up[round - 1]),
            gbps(size, down[round - 1]),
            gbps(size, kernel[round - 1])
        );
    }
    println!("{mib} MiB per transfer, {rounds} rounds, one veth path, MTU 1500");
    for (name, times) in [
        ("braid -> Linux (TUN)", &mut up),
        ("Linux -> braid (TUN)", &mut down),
        ("Linux -> Linux (veth)", &mut kernel),
    ] {
        times.sort();
        println!(
            "{name:24} median {:6.2} Gbit/s   best {:6.2} Gbit/s",
            gbps(size, times[times.len() / 2]),
            gbps(size, times[0])
        );
    }
}

fn send_all(mut socket: TcpStream, size: u64) -> io::Result<()> {
    socket.set_write_timeout(Some(TIME_LIMIT))?;
    socket.set_read_timeout(Some(TIME_LIMIT))?;
    let buf = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        socket.write_all(&buf[..n])?;
        left -= n as u64;
    }
    socket.shutdown(std::net::Shutdown::Write)?;
    let mut rest = [0u8; 1];
    let _ = socket.read(&mut rest);
    Ok(())
}

fn gbps(bytes: u64, t: Duration) -> f64 {
    bytes as f64 * 8.0 / t.as_secs_f64() / 1e9
}
