//! Reading packet captures (pcap, pcapng) for offline analysis: the engine of
//! `braid pcap`. [`CaptureReader`] yields IP packets, [`decode`] reads them as TCP
//! segments, [`describe`] names MPTCP option fields after RFC 8684, and
//! [`ConnectionTracker`] groups subflows into MPTCP connections.

mod connections;
pub mod describe;
mod reader;
mod segment;

pub use connections::{
    AddressAnnouncement, AddressRemoval, Connection, ConnectionReport, ConnectionTracker, Fallback,
    Host, PriorityChange, Subflow, SubflowKind,
};
pub use reader::{
    CaptureError, CaptureFormat, CaptureOrigin, CaptureReader, CapturedPacket, LinkType,
    SkippedFrames,
};
pub use segment::{decode, Decoded, Segment};
