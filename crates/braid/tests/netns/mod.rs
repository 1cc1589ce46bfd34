//! Shared by the `netns_*` tests: braid's end of a bulk exchange with SHA-256 (on any
//! tokio stream), the Linux end's, and the tokio runtime braid runs on.
//!
//! The namespaces, the gating on root, the Linux peers and the bounded waits are
//! `braid_testkit`'s (the benchmark and the CLI's tests use them too).
#![allow(dead_code)]

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use braid_testkit::linux_mptcp::{self, Exchange, ExchangeOptions, Pattern, Progress};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest any one interop test may run.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Bytes to move each way: 64 MiB, or `BRAID_NETNS_MIB` MiB.
pub fn transfer_size() -> u64 {
    std::env::var("BRAID_NETNS_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(64)
        << 20
}

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
        sender_progress.record_shut_down();
        io::Result::Ok(<[u8; 32]>::from(sha.finalize()))
    });
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut received = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            progress.record_end_of_stream();
            break;
        }
        sha.update(&buf[..n]);
        received += n as u64;
        progress.record_data(&buf[..n]);
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
