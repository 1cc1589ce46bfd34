//! Shared by the `netns_*` tests: gating on root, running one topology at a time,
//! bounded waits, and bulk exchanges with SHA-256 on both ends.
//!
//! The topology itself is `braid::runtime::netns` (the benchmark uses it too).
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// A reproducible stream of bytes (xorshift64*), different for each seed.
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
}

/// What one end of an exchange sent and received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub sent: u64,
    pub sent_sha: [u8; 32],
    pub received: u64,
    pub received_sha: [u8; 32],
}

/// Byte counters of one end, for the message of a test that runs out of time.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub received: AtomicU64,
}

impl Progress {
    pub fn describe(&self, who: &str) -> String {
        format!(
            "{who} sent {} and received {} bytes",
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed)
        )
    }
}

const CHUNK: usize = 64 << 10;

/// The Linux end: sends `size` bytes of `Pattern::new(seed)` then FIN, while reading
/// to end of stream, on a std socket (blocking, with timeouts).
pub fn linux_exchange(
    stream: std::net::TcpStream,
    size: u64,
    seed: u64,
    progress: Arc<Progress>,
) -> io::Result<Exchange> {
    stream.set_read_timeout(Some(TIME_LIMIT))?;
    stream.set_write_timeout(Some(TIME_LIMIT))?;
    let mut writer = stream.try_clone()?;
    let sender_progress = progress.clone();
    let sender = std::thread::spawn(move || -> io::Result<[u8; 32]> {
        let mut pattern = Pattern::new(seed);
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut left = size;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            pattern.fill(&mut buf[..n]);
            sha.update(&buf[..n]);
            writer.write_all(&buf[..n])?;
            left -= n as u64;
            sender_progress.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        writer.shutdown(std::net::Shutdown::Write)?;
        Ok(sha.finalize().into())
    });
    let mut reader = stream;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut received = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        received += n as u64;
        progress.received.fetch_add(n as u64, Ordering::Relaxed);
    }
    let sent_sha = sender
        .join()
        .map_err(|_| io::Error::other("sender thread panicked"))??;
    Ok(Exchange {
        sent: size,
        sent_sha,
        received,
        received_sha: sha.finalize().into(),
    })
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
