//! `TcpListener`: accepts connections to one address of a stack.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::shared::{stopped_error, Shared};
use super::stream::TcpStream;

/// Accepts TCP connections, like `tokio::net::TcpListener`. Dropping it stops
/// listening and resets connections that were never accepted.
pub struct TcpListener {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl TcpListener {
    pub(crate) fn new(shared: Arc<Shared>, addr: SocketAddr) -> Self {
        shared.handle_created();
        TcpListener { shared, addr }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    /// Waits for the next connection whose handshake completed.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        loop {
            let Some(listen) = st.listeners.get_mut(&self.addr) else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            let Some(id) = listen.queue.pop_front() else {
                if let Some(e) = stopped_error(&st.stopped) {
                    return Poll::Ready(Err(e));
                }
                listen.waker = Some(cx.waker().clone());
                return Poll::Pending;
            };
            st.endpoint.accepted(id);
            // The driver recorded the addresses when the handshake completed: the
            // connection may have ended (a RST) since, and the endpoint dropped it.
            // Like Linux, accept still returns it; its reads and writes report how
            // it ended.
            let Some((local, peer)) = st.conns.get_mut(&id).and_then(|c| c.queued_addrs.take())
            else {
                st.conns.remove(&id);
                continue;
            };
            drop(guard);
            return Poll::Ready(Ok((
                TcpStream::new(self.shared.clone(), id, local, peer),
                peer,
            )));
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        st.endpoint.unlisten(self.addr);
        if let Some(listen) = st.listeners.remove(&self.addr) {
            for id in listen.queue {
                if let Some(tcp) = st.endpoint.connection_mut(id) {
                    tcp.abort();
                }
                st.endpoint.accepted(id);
                st.conns.remove(&id);
            }
        }
        drop(guard);
        self.shared.handle_dropped();
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.addr)
            .finish()
    }
}
