//! `braid connect` and `braid listen` against Linux, in network namespaces (the layout
//! of `braid_testkit::Topology`, docs/network-lab.md). Needs root; skipped otherwise,
//! failed instead with `BRAID_REQUIRE_NETNS=1`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use braid_testkit::netns::Netns;
use braid_testkit::Lab;

const TIME_LIMIT: Duration = Duration::from_secs(60);

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// `braid ARGS` inside `ns`.
fn braid_in(ns: &Netns, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_braid")])
        .args(args);
    cmd
}

/// Kills the child if the test ends (or panics) before it exits.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads all of `r` on a thread; the result comes on the channel.
fn read_all_in_thread(mut r: impl Read + Send + 'static) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = tx.send(r.read_to_end(&mut out).map(|_| out));
    });
    rx
}

#[test]
fn connect_sends_stdin_half_closes_and_prints_the_reply() {
    let Some(lab) = Lab::new("connect_sends_stdin_half_closes_and_prints_the_reply", 1) else {
        return;
    };
    let path = lab.paths[0].clone();
    let server = SocketAddr::new(path.server_ip.into(), 7001);
    let request = payload(1 << 20);

    // The Linux server reads to end of stream (braid's FIN), then answers and closes.
    let (ready_tx, ready_rx) = mpsc::channel();
    let linux = lab
        .server
        .spawn("linux-server", move || {
            let listener = TcpListener::bind(server)?;
            ready_tx.send(()).expect("test waits");
            let (mut stream, peer) = listener.accept()?;
            stream.set_read_timeout(Some(TIME_LIMIT))?;
            let mut got = Vec::new();
            stream.read_to_end(&mut got)?;
            let reply = format!("{} bytes from {}\n", got.len(), peer.ip());
            stream.write_all(reply.as_bytes())?;
            Ok(got)
        })
        .unwrap();
    ready_rx.recv_timeout(TIME_LIMIT).expect("Linux listens");

    let mut child = braid_in(
        &lab.client,
        &[
            "connect",
            "--tun",
            "braid0",
            "--local",
            "10.1.1.1",
            &server.to_string(),
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run braid connect");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = read_all_in_thread(child.stdout.take().unwrap());
    let stderr = read_all_in_thread(child.stderr.take().unwrap());
    let mut child = Reaper(child);
    std::thread::spawn(move || {
        let _ = stdin.write_all(&request);
        // Dropping stdin is the end of input: braid half-closes.
    });
    let out = stdout
        .recv_timeout(TIME_LIMIT)
        .expect("braid connect finishes")
        .unwrap();
    let status = child.0.wait().unwrap();
    let err = stderr.recv_timeout(TIME_LIMIT).unwrap().unwrap();
    assert!(
        status.success(),
        "braid connect failed: {}",
        String::from_utf8_lossy(&err)
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "1048576 bytes from 10.1.1.1\n"
    );
    let got = linux.join().unwrap().unwrap();
    assert!(got == payload(1 << 20), "the Linux server got other bytes");
}

#[test]
fn listen_prints_what_it_receives_and_exits_when_the_connection_ends() {
    let Some(lab) = Lab::new(
        "listen_prints_what_it_receives_and_exits_when_the_connection_ends",
        1,
    ) else {
        return;
    };
    let braid_addr: SocketAddr = "10.1.1.1:7002".parse().unwrap();

    let mut child = braid_in(
        &lab.client,
        &[
            "listen", "--tun", "braid0", "--local", "10.1.1.1", "--port", "7002", "-v",
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run braid listen");
    let stdout = read_all_in_thread(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut child = Reaper(child);
    // Wait for "listening on ..." (a blocking read, bounded by the child's own end).
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = stderr.read_line(&mut line);
        let _ = line_tx.send(line);
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    let line = line_rx
        .recv_timeout(TIME_LIMIT)
        .expect("braid listen starts");
    assert_eq!(line.trim(), "listening on 10.1.1.1:7002");

    let data = payload(3 << 20);
    let sent = data.clone();
    let linux = lab
        .server
        .spawn("linux-client", move || {
            let mut stream = TcpStream::connect_timeout(&braid_addr, TIME_LIMIT)?;
            stream.set_read_timeout(Some(TIME_LIMIT))?;
            stream.write_all(&sent)?;
            stream.shutdown(std::net::Shutdown::Write)?;
            // braid closes its side once it has read everything.
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest)?;
            Ok(rest.len())
        })
        .unwrap();
    let out = stdout
        .recv_timeout(TIME_LIMIT)
        .expect("braid listen finishes")
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "braid listen failed");
    assert!(
        out == data,
        "braid listen printed other bytes ({} bytes)",
        out.len()
    );
    assert_eq!(linux.join().unwrap().unwrap(), 0, "braid sent nothing back");
}

#[test]
fn connect_explains_a_taken_address() {
    let Some(lab) = Lab::new("connect_explains_a_taken_address", 1) else {
        return;
    };
    // 10.0.1.1 is the client namespace kernel's own address.
    let out = braid_in(
        &lab.client,
        &[
            "connect",
            "--tun",
            "braid0",
            "--local",
            "10.0.1.1",
            "10.0.1.2:7003",
        ],
    )
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("10.0.1.1 is already taken"), "{err}");
}
