//! `braid connect`: netcat's client over a braid stack on a TUN device.
//!
//! Sends standard input, half-closes (FIN) at its end, and writes what the peer sends to
//! standard output until the peer's FIN.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use braid::runtime::Stack;

use crate::paths::PathArgs;
use tokio::io::AsyncWriteExt;

/// How long to wait, after the exchange, for the last FIN and ACKs to leave.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(tun: &str, paths: &PathArgs, remote: &str) -> Result<()> {
    let local = paths.primary();
    let remote = resolve(remote, local)?;
    let config = paths.stack_config(true)?;
    let addrs = paths.addresses()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(async {
        let stack = Stack::new(tun, &addrs, config)
            .with_context(|| format!("setting up TUN device {tun} for {}", list(&addrs)))?;
        let stream = stack
            .connect(SocketAddr::new(local, 0), remote)
            .await
            .with_context(|| format!("connecting to {remote}"))?;
        let (mut from_peer, mut to_peer) = stream.into_split();
        let send = async {
            tokio::io::copy(&mut tokio::io::stdin(), &mut to_peer)
                .await
                .context("sending standard input")?;
            to_peer.shutdown().await.context("closing the connection")?;
            anyhow::Ok(())
        };
        let receive = async {
            let mut stdout = tokio::io::stdout();
            tokio::io::copy(&mut from_peer, &mut stdout)
                .await
                .context("receiving")?;
            stdout.flush().await?;
            anyhow::Ok(())
        };
        tokio::try_join!(send, receive)?;
        drop((from_peer, to_peer));
        stack.shutdown(CLOSE_TIMEOUT).await;
        anyhow::Ok(())
    });
    // Standard input is read on a blocking thread that may still wait for input.
    runtime.shutdown_background();
    result
}

/// `HOST:PORT` to an address of the same family as `local`.
fn resolve(remote: &str, local: IpAddr) -> Result<SocketAddr> {
    if let Ok(addr) = remote.parse::<SocketAddr>() {
        if addr.is_ipv4() != local.is_ipv4() {
            bail!("{remote} and the local address {local} are of different IP versions");
        }
        return Ok(addr);
    }
    let candidates = remote
        .to_socket_addrs()
        .with_context(|| format!("resolving {remote} (expected HOST:PORT)"))?;
    candidates
        .into_iter()
        .find(|a| a.is_ipv4() == local.is_ipv4())
        .with_context(|| format!("{remote} has no address of the same IP version as {local}"))
}

/// Addresses as "a, b and c" for messages.
pub(crate) fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
