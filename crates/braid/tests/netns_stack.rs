//! The stack's setup, errors and teardown, in network namespaces: each error says what
//! to do, and nothing braid creates outlives it.
//!
//! Needs root; skipped otherwise (fails instead with `BRAID_REQUIRE_NETNS=1`).

mod netns;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use braid::runtime::{Error, Stack, StackConfig};
use braid_testkit::lab::{netns_available, serial, spawn_in, wait};
use braid_testkit::linux_mptcp::Progress;
use braid_testkit::netns::Topology;
use netns::{async_exchange, linux_exchange, runtime, TIME_LIMIT};

/// Runs `f` in the client namespace of a fresh one-path topology, on a tokio runtime,
/// within the time limit.
fn in_client_ns<T, F, Fut>(topo: &Topology, f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = io::Result<T>>,
    T: Send + 'static,
{
    let rx = spawn_in(&topo.client, "braid", move || {
        runtime()?.block_on(async move {
            tokio::time::timeout(TIME_LIMIT, f())
                .await
                .map_err(|_| io::Error::other("time limit"))?
        })
    });
    wait(
        &rx,
        Instant::now() + TIME_LIMIT,
        "the braid side",
        &String::new,
    )
}

fn setup(test: &str) -> Option<(std::sync::MutexGuard<'static, ()>, Topology)> {
    if !netns_available(test) {
        return None;
    }
    let guard = serial();
    Some((guard, Topology::new(1).expect("build the namespaces")))
}

#[test]
fn an_address_the_kernel_holds_is_refused() {
    let Some((_g, topo)) = setup("an_address_the_kernel_holds_is_refused") else {
        return;
    };
    let kernel_ip = IpAddr::from(topo.paths[0].client_ip);
    let message = in_client_ns(&topo, move || async move {
        match Stack::new("braid0", &[kernel_ip], StackConfig::default()) {
            Err(e @ Error::AddressTaken { .. }) => Ok(e.to_string()),
            other => Err(io::Error::other(format!(
                "expected AddressTaken, got {other:?}"
            ))),
        }
    });
    assert!(message.contains("10.0.1.1"), "{message}");
    assert!(message.contains("interface"), "{message}");
}

#[test]
fn two_stacks_cannot_share_an_address_or_a_device() {
    let Some((_g, topo)) = setup("two_stacks_cannot_share_an_address_or_a_device") else {
        return;
    };
    let braid_ip = IpAddr::from(topo.paths[0].braid_ip);
    let (same_addr, same_dev) = in_client_ns(&topo, move || async move {
        let _first =
            Stack::new("braid0", &[braid_ip], StackConfig::default()).map_err(io::Error::from)?;
        let same_addr = Stack::new("braid1", &[braid_ip], StackConfig::default())
            .err()
            .map(|e| e.to_string());
        let same_dev = Stack::new("braid0", &["10.1.9.1".parse().unwrap()], Default::default())
            .err()
            .map(|e| e.to_string());
        Ok((same_addr, same_dev))
    });
    let same_addr = same_addr.expect("a second stack with the same address fails");
    assert!(same_addr.contains("already taken"), "{same_addr}");
    assert!(same_addr.contains("route"), "{same_addr}");
    let same_dev = same_dev.expect("a second stack on the same device fails");
    assert!(same_dev.contains("braid0 is already in use"), "{same_dev}");
}

#[test]
fn without_privileges_it_says_what_it_needs() {
    let Some((_g, topo)) = setup("without_privileges_it_says_what_it_needs") else {
        return;
    };
    let braid_ip = IpAddr::from(topo.paths[0].braid_ip);
    let message = in_client_ns(&topo, move || async move {
        // Only this thread becomes nobody: the raw system call, unlike libc's
        // setresuid, changes the calling thread alone. It never changes back; the thread
        // ends with the test.
        // SAFETY: a system call with integer arguments.
        if unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) } != 0 {
            return Err(io::Error::last_os_error());
        }
        match Stack::new("braid0", &[braid_ip], StackConfig::default()) {
            Err(e @ Error::PermissionDenied { .. }) => Ok(e.to_string()),
            other => Err(io::Error::other(format!(
                "expected PermissionDenied, got {other:?}"
            ))),
        }
    });
    assert!(message.contains("needs root or CAP_NET_ADMIN"), "{message}");
}

#[test]
fn forwarding_off_is_reported_with_the_sysctl_to_set() {
    let Some((_g, topo)) = setup("forwarding_off_is_reported_with_the_sysctl_to_set") else {
        return;
    };
    topo.client.sysctl("net.ipv4.ip_forward", "0").unwrap();
    let path = topo.paths[0].clone();
    let err = in_client_ns(&topo, move || async move {
        let stack = Stack::new("braid0", &[path.braid_ip.into()], StackConfig::default())
            .map_err(io::Error::from)?;
        let remote = SocketAddr::new(path.server_ip.into(), 5001);
        match stack
            .connect(SocketAddr::new(path.braid_ip.into(), 0), remote)
            .await
        {
            Ok(_) => Err(io::Error::other("connected without forwarding")),
            Err(e) => Ok(e),
        }
    });
    assert_eq!(err.kind(), io::ErrorKind::HostUnreachable);
    assert!(
        err.to_string().contains("sysctl -w net.ipv4.ip_forward=1"),
        "{err}"
    );
}

#[test]
fn the_kernel_of_its_own_namespace_needs_no_forwarding() {
    let Some((_g, topo)) = setup("the_kernel_of_its_own_namespace_needs_no_forwarding") else {
        return;
    };
    topo.client.sysctl("net.ipv4.ip_forward", "0").unwrap();
    let path = topo.paths[0].clone();
    let kernel = SocketAddr::new(path.client_ip.into(), 5002);
    let size = 1 << 20;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let linux = spawn_in(&topo.client, "linux-server", move || {
        let listener = std::net::TcpListener::bind(kernel)?;
        ready_tx.send(()).expect("test waits");
        let (stream, _) = listener.accept()?;
        linux_exchange(stream, size, 2, Arc::new(Progress::default()))
    });
    ready_rx
        .recv_timeout(TIME_LIMIT)
        .expect("the Linux server listens");
    let braid = in_client_ns(&topo, move || async move {
        let stack = Stack::new("braid0", &[path.braid_ip.into()], StackConfig::default())
            .map_err(io::Error::from)?;
        let stream = stack
            .connect(SocketAddr::new(path.braid_ip.into(), 0), kernel)
            .await?;
        let (r, w) = stream.into_split();
        let ex = async_exchange(r, w, size, 1, Arc::new(Progress::default())).await?;
        stack.shutdown(Duration::from_secs(5)).await;
        Ok(ex)
    });
    let linux = wait(
        &linux,
        Instant::now() + TIME_LIMIT,
        "the Linux server",
        &String::new,
    );
    netns::assert_exchanged(&braid, &linux, size);
}

#[test]
fn a_port_nobody_listens_on_refuses_and_the_device_goes_away() {
    let Some((_g, topo)) = setup("a_port_nobody_listens_on_refuses_and_the_device_goes_away")
    else {
        return;
    };
    let path = topo.paths[0].clone();
    let err = in_client_ns(&topo, move || async move {
        let stack = Stack::new("braid0", &[path.braid_ip.into()], StackConfig::default())
            .map_err(io::Error::from)?;
        let remote = SocketAddr::new(path.server_ip.into(), 5999);
        let result = stack
            .connect(SocketAddr::new(path.braid_ip.into(), 0), remote)
            .await;
        stack.shutdown(Duration::from_secs(5)).await;
        match result {
            Ok(_) => Err(io::Error::other("connected to a closed port")),
            Err(e) => Ok(e),
        }
    });
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    // The driver stopped and closed the device: the kernel deleted it and its route.
    let links = topo.client.ip(&["-o", "link", "show"]).unwrap();
    assert!(!links.contains("braid0"), "{links}");
    let routes = topo.client.ip(&["route", "show"]).unwrap();
    assert!(!routes.contains("10.1.1.1"), "{routes}");
}

#[test]
fn a_dropped_listener_refuses_new_connections() {
    let Some((_g, topo)) = setup("a_dropped_listener_refuses_new_connections") else {
        return;
    };
    let path = topo.paths[0].clone();
    let braid_addr = SocketAddr::new(path.braid_ip.into(), 5003);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let braid = spawn_in(&topo.client, "braid", move || {
        runtime()?.block_on(async move {
            let stack = Stack::new("braid0", &[path.braid_ip.into()], StackConfig::default())
                .map_err(io::Error::from)?;
            let listener = stack.listen(braid_addr)?;
            let second = stack.listen(braid_addr).map(drop);
            drop(listener);
            tx.send(()).unwrap();
            let _ = tokio::time::timeout(TIME_LIMIT, done_rx).await;
            io::Result::Ok(second)
        })
    });
    rx.recv_timeout(TIME_LIMIT).expect("braid listened");
    let linux = spawn_in(&topo.server, "linux-client", move || {
        Ok(std::net::TcpStream::connect_timeout(&braid_addr, TIME_LIMIT).map(drop))
    });
    let connected = wait(
        &linux,
        Instant::now() + TIME_LIMIT,
        "the Linux client",
        &String::new,
    );
    let _ = done_tx.send(());
    let second = wait(&braid, Instant::now() + TIME_LIMIT, "braid", &String::new);
    assert_eq!(
        second
            .expect_err("a second listener on the same address fails")
            .kind(),
        io::ErrorKind::AddrInUse
    );
    assert_eq!(
        connected.expect_err("nobody listens any more").kind(),
        io::ErrorKind::ConnectionRefused
    );
}

/// Our FIN waits behind unsent data while the peer's data and FIN arrive (CLOSE-WAIT);
/// it then leaves (LAST-ACK) and its ACK ends the connection before the application
/// reads. What the peer sent must still be read, in full.
#[test]
fn data_received_before_our_fin_is_acknowledged_is_not_lost() {
    let Some((_g, topo)) = setup("data_received_before_our_fin_is_acknowledged_is_not_lost") else {
        return;
    };
    let path = topo.paths[0].clone();
    let server = SocketAddr::new(path.server_ip.into(), 5004);
    // Less than braid's first receive window, so that it all arrives unread.
    let from_linux = 60 << 10;
    let from_braid = 2 << 20;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<usize>();
    let linux = spawn_in(&topo.server, "linux-server", move || {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind(server)?;
        ready_tx.send(()).expect("test waits");
        let (mut stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(TIME_LIMIT))?;
        // Reading nothing, Linux keeps most of braid's data unsent (its window), and
        // braid's FIN behind it. Once braid has shut down: Linux's data and FIN, then
        // reading, which lets braid's data and FIN out.
        go_rx.recv_timeout(TIME_LIMIT).map_err(io::Error::other)?;
        stream.write_all(&vec![7u8; from_linux])?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut got = Vec::new();
        stream.read_to_end(&mut got)?;
        // braid's FIN is in, and acknowledged.
        let _ = eof_tx.send(got.len());
        Ok(got.len())
    });
    ready_rx.recv_timeout(TIME_LIMIT).expect("Linux listens");
    let read = in_client_ns(&topo, move || async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stack = Stack::new("braid0", &[path.braid_ip.into()], StackConfig::default())
            .map_err(io::Error::from)?;
        let mut stream = stack
            .connect(SocketAddr::new(path.braid_ip.into(), 0), server)
            .await?;
        // Far more than Linux's first window.
        stream.write_all(&vec![9u8; from_braid]).await?;
        stream.shutdown().await?;
        go_tx.send(()).map_err(io::Error::other)?;
        let linux_got = eof_rx.await.map_err(io::Error::other)?;
        assert_eq!(linux_got, from_braid);
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await?;
        drop(stream);
        stack.shutdown(Duration::from_secs(5)).await;
        Ok(got.len())
    });
    let linux_got = wait(
        &linux,
        Instant::now() + TIME_LIMIT,
        "the Linux server",
        &String::new,
    );
    assert_eq!(linux_got, from_braid);
    assert_eq!(
        read, from_linux,
        "bytes braid read after its FIN was acknowledged"
    );
}

/// A connection the peer resets before the application accepts it is still accepted,
/// as Linux does, and its reads and writes report the reset: an accept loop learns
/// what happened instead of waiting for a connection that is gone.
#[test]
fn a_connection_reset_before_accept_is_accepted_and_reports_the_reset() {
    let Some((_g, topo)) =
        setup("a_connection_reset_before_accept_is_accepted_and_reports_the_reset")
    else {
        return;
    };
    let path = topo.paths[0].clone();
    let braid_addr = SocketAddr::new(path.braid_ip.into(), 5005);
    let (listening_tx, listening_rx) = std::sync::mpsc::channel::<()>();
    let (reset_tx, reset_rx) = tokio::sync::oneshot::channel::<()>();
    let braid = spawn_in(&topo.client, "braid", move || {
        runtime()?.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let stack = Stack::new("braid0", &[path.braid_ip.into()], StackConfig::default())
                .map_err(io::Error::from)?;
            let listener = stack.listen(braid_addr)?;
            listening_tx.send(()).map_err(io::Error::other)?;
            tokio::time::timeout(TIME_LIMIT, reset_rx)
                .await
                .map_err(io::Error::other)?
                .map_err(io::Error::other)?;
            // Let the RST arrive and end the connection before accepting it.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let (mut stream, peer) = tokio::time::timeout(TIME_LIMIT, listener.accept())
                .await
                .map_err(|_| {
                io::Error::other("accept waited for a connection that is gone")
            })??;
            let mut buf = vec![0u8; 64 << 10];
            let read = loop {
                match stream.read(&mut buf).await {
                    Ok(0) => break Ok(0),
                    Ok(_) => continue,
                    Err(e) => break Err(e),
                }
            };
            let write = stream.write_all(b"after the reset").await;
            io::Result::Ok((peer, read, write))
        })
    });
    listening_rx
        .recv_timeout(TIME_LIMIT)
        .expect("braid listens");
    let linux = spawn_in(&topo.server, "linux-client", move || {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect_timeout(&braid_addr, TIME_LIMIT)?;
        let local = stream.local_addr()?;
        stream.write_all(b"a request nobody reads")?;
        braid_testkit::linux_mptcp::abort(stream)?;
        Ok(local)
    });
    let linux_addr = wait(
        &linux,
        Instant::now() + TIME_LIMIT,
        "the Linux client",
        &String::new,
    );
    reset_tx.send(()).expect("braid waits for the reset");
    let (peer, read, write) = wait(&braid, Instant::now() + TIME_LIMIT, "braid", &String::new);
    assert_eq!(peer, linux_addr);
    assert_eq!(
        read.expect_err("the read reports the reset").kind(),
        io::ErrorKind::ConnectionReset
    );
    assert_eq!(
        write.expect_err("the write reports the reset").kind(),
        io::ErrorKind::ConnectionReset
    );
}
