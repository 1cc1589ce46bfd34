//! `TcpStream`: one connection of a stack, with tokio's `AsyncRead` and `AsyncWrite`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use braid_proto::endpoint::{ConnectionId, Endpoint};
use braid_proto::tcp::{CloseReason, TcpState, TcpStats};
use braid_proto::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::shared::{close_error, stopped_error, Shared};

/// What every handle to one connection shares; dropping the last one closes it.
pub(crate) struct StreamInner {
    pub shared: Arc<Shared>,
    pub id: ConnectionId,
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

/// A TCP connection over a braid [`Stack`](super::Stack), used like
/// `tokio::net::TcpStream`.
///
/// Writes go into the connection's send buffer (so `flush` has nothing to do);
/// `shutdown` sends FIN after the buffered data, and reads return 0 once the peer's FIN
/// is reached. Dropping the stream closes the connection the way a kernel socket does:
/// FIN, or RST if received data was left unread.
pub struct TcpStream {
    inner: Arc<StreamInner>,
}

/// The reading half of a [`TcpStream`], from [`TcpStream::into_split`].
pub struct OwnedReadHalf {
    inner: Arc<StreamInner>,
}

/// The writing half of a [`TcpStream`], from [`TcpStream::into_split`]. Dropping it
/// shuts the write side down (FIN), as tokio's does.
pub struct OwnedWriteHalf {
    inner: Arc<StreamInner>,
}

impl TcpStream {
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: ConnectionId,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Self {
        shared.handle_created();
        TcpStream {
            inner: Arc::new(StreamInner {
                shared,
                id,
                local,
                peer,
            }),
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.local)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.peer)
    }

    /// Splits the stream into halves that can move to different tasks.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                inner: self.inner.clone(),
            },
            OwnedWriteHalf { inner: self.inner },
        )
    }

    /// The connection's counters, while the stack still holds it.
    pub fn tcp_stats(&self) -> Option<TcpStats> {
        self.inner.info().map(|i| i.stats)
    }

    /// State, RTT and counters of the connection, while the stack still holds it.
    pub fn info(&self) -> Option<StreamInfo> {
        self.inner.info()
    }

    /// Aborts the connection: RST to the peer, buffered data dropped.
    pub fn abort(&self) {
        let mut st = self.inner.shared.lock();
        if let Some(c) = st.endpoint.connection_mut(self.inner.id) {
            c.abort();
        }
        drop(st);
        self.inner.shared.wake_driver();
    }
}

/// A snapshot of a connection, for metrics and debugging.
#[derive(Debug, Clone, Copy)]
pub struct StreamInfo {
    pub state: TcpState,
    pub srtt: Option<Duration>,
    pub rto: Duration,
    pub cwnd: Option<u64>,
    pub bytes_in_flight: u64,
    pub stats: TcpStats,
}

pub(crate) fn info_of(endpoint: &Endpoint, id: ConnectionId) -> Option<StreamInfo> {
    let c = endpoint.connection(id)?;
    Some(StreamInfo {
        state: c.state(),
        srtt: c.srtt(),
        rto: c.rto(),
        cwnd: endpoint.cwnd(id),
        bytes_in_flight: c.bytes_in_flight(),
        stats: c.stats(),
    })
}

impl OwnedReadHalf {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.local)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.peer)
    }
}

impl OwnedWriteHalf {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.local)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.peer)
    }
}

impl StreamInner {
    fn info(&self) -> Option<StreamInfo> {
        info_of(&self.shared.lock().endpoint, self.id)
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        let Some(conn) = st.conns.get_mut(&self.id) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let Some(tcp) = st.endpoint.connection_mut(self.id) else {
            // The core dropped the connection: it ended, and everything it received
            // was read.
            return match conn.closed {
                None | Some(CloseReason::Finished) => Poll::Ready(Ok(())),
                Some(reason) => Poll::Ready(Err(close_error(reason))),
            };
        };
        let n = tcp.read(buf.initialize_unfilled());
        if n > 0 {
            buf.advance(n);
            drop(guard);
            // Reading opened the receive window: a window update may be owed.
            self.shared.wake_driver();
            return Poll::Ready(Ok(()));
        }
        if tcp.is_read_closed() {
            return Poll::Ready(Ok(()));
        }
        match conn.closed {
            Some(CloseReason::Finished) if tcp.state() == TcpState::Closed => {
                return Poll::Ready(Ok(()))
            }
            Some(CloseReason::Finished) | None => {}
            Some(reason) => return Poll::Ready(Err(close_error(reason))),
        }
        if let Some(e) = stopped_error(&st.stopped) {
            return Poll::Ready(Err(e));
        }
        conn.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        let Some(conn) = st.conns.get_mut(&self.id) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if conn.write_shutdown {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        // Nothing written now would ever be sent.
        if let Some(e) = stopped_error(&st.stopped) {
            return Poll::Ready(Err(e));
        }
        if let Some(reason) = conn.closed.filter(|r| *r != CloseReason::Finished) {
            return Poll::Ready(Err(close_error(reason)));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let Some(tcp) = st.endpoint.connection_mut(self.id) else {
            return Poll::Ready(Err(close_error(
                conn.closed.unwrap_or(CloseReason::Finished),
            )));
        };
        if !tcp.state().can_send() {
            return Poll::Ready(Err(close_error(
                conn.closed.unwrap_or(CloseReason::Finished),
            )));
        }
        let n = tcp.write(data);
        if n > 0 {
            drop(guard);
            self.shared.wake_driver();
            return Poll::Ready(Ok(n));
        }
        conn.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Closes the write side: FIN after the buffered data.
    fn shutdown_write(&self) {
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        let Some(conn) = st.conns.get_mut(&self.id) else {
            return;
        };
        if conn.write_shutdown {
            return;
        }
        conn.write_shutdown = true;
        if let Some(tcp) = st.endpoint.connection_mut(self.id) {
            // The core keeps what the application has not read after the connection
            // ends normally, until it is read.
            tcp.close();
        }
        drop(guard);
        self.shared.wake_driver();
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let now = self.shared.clock.now();
        let mut guard = self.shared.lock();
        let st = &mut *guard;
        let mut remove = true;
        if let Some(conn) = st.conns.get_mut(&self.id) {
            conn.dropped = true;
            remove = conn.closed.is_some();
            if let Some(tcp) = st.endpoint.connection_mut(self.id) {
                if tcp.readable() > 0 {
                    // RFC 9293 §3.10.4 / RFC 1122 §4.2.2.13, and Linux: closing with
                    // unread data resets the connection, so the peer learns it was lost.
                    tcp.abort();
                } else {
                    // The handle is gone: nothing will read or write again (a
                    // socket's close), which bounds how long FIN-WAIT-2 may last.
                    tcp.orphan(now);
                }
            } else {
                remove = true;
            }
        }
        if remove {
            st.conns.remove(&self.id);
        }
        drop(guard);
        self.shared.handle_dropped();
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.shutdown_write();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.poll_read(cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.shutdown_write();
        Poll::Ready(Ok(()))
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        self.inner.shutdown_write();
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.inner.local)
            .field("peer", &self.inner.peer)
            .finish()
    }
}
