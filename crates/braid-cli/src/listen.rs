//! `braid listen`: netcat's listener over a braid stack on a TUN device.
//!
//! Accepts one connection, writes what it receives to standard output, and exits when
//! the peer has finished sending (after closing its own side).

use std::net::SocketAddr;

use anyhow::{Context, Result};
use braid::runtime::Stack;
use tokio::io::AsyncWriteExt;

use crate::connect::{list, CLOSE_TIMEOUT};
use crate::paths::PathArgs;

pub fn run(tun: &str, paths: &PathArgs, port: u16, verbose: bool) -> Result<()> {
    let local = paths.primary();
    let config = paths.stack_config(false)?;
    let addrs = paths.addresses()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let stack = Stack::new(tun, &addrs, config)
            .with_context(|| format!("setting up TUN device {tun} for {}", list(&addrs)))?;
        let addr = SocketAddr::new(local, port);
        let listener = stack
            .listen(addr)
            .with_context(|| format!("listening on {addr}"))?;
        if verbose {
            eprintln!("listening on {addr}");
        }
        let (stream, peer) = listener.accept().await.context("accepting")?;
        if verbose {
            eprintln!("connection from {peer}");
        }
        drop(listener);
        let (mut from_peer, mut to_peer) = stream.into_split();
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut from_peer, &mut stdout)
            .await
            .context("receiving")?;
        stdout.flush().await?;
        to_peer.shutdown().await.context("closing the connection")?;
        drop((from_peer, to_peer));
        stack.shutdown(CLOSE_TIMEOUT).await;
        Ok(())
    })
}
