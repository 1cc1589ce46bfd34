//! What can go wrong setting up a stack, worded so that the reader knows what to do.

use std::io;
use std::net::IpAddr;

/// An error creating a [`Stack`](super::Stack).
///
/// Connections report `std::io::Error`, as tokio's sockets do; an `Error` converts
/// into one with the matching [`io::ErrorKind`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating TUN device {name} needs root or CAP_NET_ADMIN ({source})")]
    PermissionDenied { name: String, source: io::Error },
    #[error(
        "/dev/net/tun is missing: load the tun module (`modprobe tun`), or pass the device \
         into the container (`--device /dev/net/tun`)"
    )]
    NoTunDevice,
    #[error("TUN device {name} is already in use by another process")]
    TunBusy { name: String },
    #[error("cannot create TUN device {name}: {source}")]
    Tun { name: String, source: io::Error },
    #[error("{addr} is already taken in this network namespace: {detail}")]
    AddressTaken { addr: IpAddr, detail: String },
    #[error("a stack needs at least one local address")]
    NoAddress,
    #[error(
        "IP forwarding is off in this network namespace, so the kernel will not forward \
         braid's packets to {remote}: run `sysctl -w {sysctl}=1` in this namespace"
    )]
    ForwardingDisabled {
        sysctl: &'static str,
        remote: IpAddr,
    },
    #[error("the `ip` command was not found: install iproute2")]
    IpMissing,
    #[error("`ip {args}` failed: {stderr}")]
    IpCommand { args: String, stderr: String },
    #[error("{0} is not an address of this stack")]
    NotLocal(IpAddr),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
            Error::NoTunDevice | Error::IpMissing => io::ErrorKind::NotFound,
            Error::TunBusy { .. } | Error::AddressTaken { .. } => io::ErrorKind::AddrInUse,
            Error::NotLocal(_) => io::ErrorKind::AddrNotAvailable,
            Error::ForwardingDisabled { .. } => io::ErrorKind::HostUnreachable,
            Error::NoAddress => io::ErrorKind::InvalidInput,
            Error::Io(e) => e.kind(),
            Error::Tun { source, .. } => source.kind(),
            Error::IpCommand { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
