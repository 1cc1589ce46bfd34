//! The receiver's half of the data sequence mapping, RFC 8684 §3.3.1.
//!
//! RFC 8684 §3.3.1: "The data sequence mapping specifies a mapping from the subflow
//! sequence space to the data sequence space. This is expressed in terms of starting
//! sequence numbers for the subflow and the data level, and a length of bytes for which
//! this mapping is valid."
//!
//! One [`MappingReceiver`] serves one subflow. The subflow's TCP receiver hands it the
//! payload in order ([`MappingReceiver::on_data`], relative sequence numbers: the first
//! payload byte is 1) and every DSS mapping it sees ([`MappingReceiver::on_mapping`]);
//! the receiver hands back [`Delivery`] values through a callback: data-level chunks
//! `(dsn, bytes)`, DATA_FINs, checksum failures, fallback, and bytes it had to drop.
//! The callback borrows the bytes, from the caller's slice when they can be delivered
//! at once or from the receiver's own buffer otherwise, so the common case copies
//! nothing.
//!
//! Pieces may split or coalesce segments arbitrarily: RFC 8684 §3.3.1 chose "explicit
//! mapping for a range of data ... rather than per-packet signaling to assist with
//! compatibility with situations where TCP/IP segments are coalesced or split across
//! the network path". A mapping is a range of subflow bytes, not a segment.
//!
//! When must the mapping arrive? RFC 8684 §3.3.1: "A data sequence mapping does not
//! need to be included in every MPTCP packet, as long as the subflow sequence space in
//! that packet is covered by a mapping known at the receiver" — so a sender puts the
//! mapping on or before the first segment it covers (Linux puts it on every one). The
//! RFC still lets receivers wait for a late one: "Implementations MAY hold onto such
//! unmapped data for a short while in the expectation that a mapping will arrive
//! shortly", and bounds the wait: "If a mapping for that subflow-level sequence space
//! does not arrive within a receive window of data, that subflow SHOULD be treated as
//! broken, closed with a RST, and any unmapped data silently discarded." This module
//! does both: unmapped bytes are held up to [`MappingConfig::max_held_bytes`], beyond
//! which [`MappingError::HeldLimit`] is returned (the caller resets the subflow); a
//! mapping can arrive late by at most that much. No clock is read: a caller that wants
//! a shorter wait than a buffer's worth resets the subflow itself.
//!
//! Memory is bounded by [`MappingConfig::max_held_bytes`] (held bytes, checked when
//! each call returns, so a call may briefly hold one input piece more) and
//! [`MappingConfig::max_mappings`] (mappings recorded but not yet consumed). Every
//! error is a [`MappingError`] value; nothing here panics on peer input.

use std::collections::{BTreeMap, VecDeque};

use thiserror::Error;

use crate::crypto::dss_checksum;
use crate::seq::widen;
use crate::wire::mptcp::{DssMapping, SeqField};

/// Default for [`MappingConfig::max_held_bytes`]: one mapping of the largest
/// data-level length (65535 octets, which with checksums must be held whole before it
/// is verified) plus as much again of unmapped data.
pub const DEFAULT_MAX_HELD_BYTES: usize = 2 * (u16::MAX as usize + 1);

/// Default for [`MappingConfig::max_mappings`]. Linux sends one mapping per 16 KiB or
/// less and puts it on the segments it covers, so a receiver rarely holds more than two.
pub const DEFAULT_MAX_MAPPINGS: usize = 64;

/// The smallest full segment [`MappingConfig::for_receive_window`] plans for: a
/// window's worth of segments of at least this size, each with its own mapping.
/// Subflow MSSs are about 1.4 KB on Ethernet paths, and never below 536 (RFC 9293
/// §3.7.1); a peer mapping a window of smaller pieces ahead of a hole goes past the
/// bound, a fatal [`MappingError::TooManyMappings`] that resets the subflow.
const SMALLEST_SEGMENT_PER_MAPPING: usize = 1024;

/// The limits and negotiated options of one [`MappingReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingConfig {
    /// DSS checksums were negotiated in the MP_CAPABLE handshake (RFC 8684 §3.1: the A
    /// flag from either host).
    pub checksums: bool,
    /// Most subflow bytes held at once: bytes no mapping covers yet, and with checksums
    /// the bytes of a mapping not yet complete. With checksums it must be at least
    /// 65535, or a mapping of the largest length can never be verified.
    pub max_held_bytes: usize,
    /// Most mappings recorded and not yet consumed.
    pub max_mappings: usize,
}

impl MappingConfig {
    /// The default limits, with or without DSS checksums.
    pub fn new(checksums: bool) -> Self {
        MappingConfig {
            checksums,
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
            max_mappings: DEFAULT_MAX_MAPPINGS,
        }
    }

    /// The limits for a subflow whose receive window reaches `recv_capacity`: the
    /// peer may send a window's worth of data beyond a hole, each segment with its
    /// own mapping, and all of them must be kept (Linux keeps them with each
    /// segment).
    pub fn for_receive_window(checksums: bool, recv_capacity: usize) -> Self {
        let mut config = MappingConfig::new(checksums);
        config.max_mappings = config
            .max_mappings
            .max(recv_capacity / SMALLEST_SEGMENT_PER_MAPPING);
        config
    }
}

/// The mapping implied by an MP_CAPABLE option that carries data (RFC 8684 §3.1: the
/// third ACK, or the first data segment, may carry the Data-Level Length and a
/// checksum; the data it maps starts at data sequence number IDSN + 1, the first octet
/// of data, and at relative subflow sequence number 1, the first payload octet). Feed
/// it to [`MappingReceiver::on_mapping`] like any DSS mapping; `idsn` is that of the
/// key of the host that sent the data.
pub fn mp_capable_mapping(idsn: u64, data_level_length: u16, checksum: Option<u16>) -> DssMapping {
    DssMapping {
        dsn: SeqField::U64(idsn.wrapping_add(1)),
        ssn: 1,
        data_level_length,
        checksum,
    }
}

/// Why bytes were dropped (reported by [`Delivery::Discarded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardReason {
    /// No mapping covers them and none can come any more: the subflow ended, or the
    /// connection fell back before a mapping for them arrived.
    Unmapped,
    /// They are the data of a mapping whose checksum failed.
    ChecksumFailed,
    /// They follow a checksum failure on this subflow. RFC 8684 §3.7: once the
    /// receiver has sent MP_FAIL, data on the subflow is not trusted until an infinite
    /// mapping says where it belongs.
    AfterChecksumFailure,
    /// The subflow ended in the middle of a checksummed mapping, which therefore
    /// cannot be verified.
    IncompleteMapping,
}

/// What a [`MappingReceiver`] hands to its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// `bytes` occupy data sequence numbers `dsn..dsn + bytes.len()`.
    Data { dsn: u64, bytes: &'a [u8] },
    /// The DATA_FIN occupies data sequence number `dsn` (RFC 8684 §3.3.3): the data
    /// stream ends just before it.
    DataFin { dsn: u64 },
    /// The DSS checksum of the mapping starting at data sequence number `dsn` failed
    /// (RFC 8684 §3.3.1); its bytes were discarded. The caller sends MP_FAIL carrying
    /// `dsn` (§3.7) and, when other subflows remain, resets this one.
    ChecksumFailed {
        dsn: u64,
        /// The mapping's relative subflow sequence number, as on the wire.
        ssn: u32,
        data_level_length: u16,
    },
    /// An infinite mapping (RFC 8684 §3.7) took effect: from relative subflow sequence
    /// number `ssn` on, byte `ssn + k` is data sequence number `dsn + k`.
    Fallback { dsn: u64, ssn: u32 },
    /// `len` bytes from relative subflow sequence number `ssn` were dropped.
    Discarded {
        ssn: u32,
        len: usize,
        reason: DiscardReason,
    },
}

/// A DSS mapping or subflow data the receiver cannot accept. The fatal ones (see
/// [`MappingError::is_fatal`]) stop the receiver: the caller resets the subflow
/// (MP_TCPRST) or, on its only subflow, sends MP_FAIL and falls back (RFC 8684 §3.7).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingError {
    /// RFC 8684 §3.3.1 binds the subflow sequence number to the data sequence number
    /// once a mapping has been processed: "A sender MUST NOT change this mapping after
    /// it has been declared". This mapping covers subflow bytes that a different mapping
    /// already covers.
    #[error(
        "DSS mapping (subflow sequence {ssn}, data sequence {dsn}, {len} subflow octets) \
         conflicts with one already declared for the same subflow bytes"
    )]
    Conflict { ssn: u32, dsn: u64, len: u32 },
    /// RFC 8684 §3.3: "If a checksum is not present when its use has been negotiated,
    /// the receiver MUST close the subflow with a RST, as it is considered broken." A
    /// checksum present although not negotiated in the MP_CAPABLE handshake gets the
    /// same RST, the subflow "not behaving as negotiated".
    #[error(
        "DSS checksum presence does not match the handshake (checksums negotiated: {negotiated})"
    )]
    ChecksumPresence { negotiated: bool },
    /// More bytes held without a usable mapping than [`MappingConfig::max_held_bytes`]
    /// (RFC 8684 §3.3.1: such a subflow "SHOULD be treated as broken, closed with a
    /// RST, and any unmapped data silently discarded").
    #[error("{held} subflow octets held without a usable mapping exceed the limit of {limit}")]
    HeldLimit { held: usize, limit: usize },
    /// More mappings recorded ahead of their data than [`MappingConfig::max_mappings`].
    #[error("more than {limit} DSS mappings recorded ahead of their data")]
    TooManyMappings { limit: usize },
    /// [`MappingReceiver::on_data`] was given bytes that do not continue the subflow's
    /// in-order data: a caller bug, reported without changing any state.
    #[error("subflow data out of order: expected relative sequence {expected}, got {got}")]
    OutOfOrder { expected: u32, got: u32 },
    /// Data after [`MappingReceiver::on_fin`]: a caller bug, reported without changing
    /// any state.
    #[error("subflow data after the subflow's FIN")]
    AfterFin,
    /// The receiver stopped at an earlier fatal error.
    #[error("the mapping receiver stopped after an earlier error")]
    Broken,
}

impl MappingError {
    /// Whether the receiver stopped: every later call returns [`MappingError::Broken`].
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            MappingError::Conflict { .. }
                | MappingError::ChecksumPresence { .. }
                | MappingError::HeldLimit { .. }
                | MappingError::TooManyMappings { .. }
        )
    }
}

/// Counters of one [`MappingReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MappingStats {
    /// Distinct mappings recorded (DATA_FIN-only and infinite mappings excluded).
    pub mappings_recorded: u64,
    /// Repeats of a recorded mapping (RFC 8684 §3.3.1 lets a sender put the same
    /// mapping on every segment it covers; Linux does).
    pub mappings_repeated: u64,
    /// Mappings whose bytes had all been consumed already (retransmissions); ignored.
    pub mappings_stale: u64,
    /// Mappings ignored because the subflow had fallen back, failed or ended.
    pub mappings_ignored: u64,
    /// Mappings whose bytes were all delivered.
    pub mappings_completed: u64,
    /// Mappings carried with 32-bit data sequence numbers and widened.
    pub dsn32_widened: u64,
    /// DSS checksums that verified (data-carrying and DATA_FIN-only mappings).
    pub checksums_verified: u64,
    /// DSS checksums that failed.
    pub checksum_failures: u64,
    /// DATA_FINs reported.
    pub data_fins: u64,
    /// Bytes delivered as [`Delivery::Data`].
    pub bytes_delivered: u64,
    /// Bytes reported as [`Delivery::Discarded`].
    pub bytes_discarded: u64,
    /// The most bytes held at once.
    pub max_held: usize,
}

/// A recorded mapping of subflow bytes `start..start + len` to `dsn..dsn + len`.
#[derive(Debug, Clone, Copy)]
struct Recorded {
    /// Subflow offset (the relative sequence number widened to 64 bits).
    start: u64,
    /// Subflow octets covered: the data-level length less one for a DATA_FIN. Never 0.
    len: u32,
    dsn: u64,
    /// The mapping's last data-level octet, `dsn + len`, is the DATA_FIN.
    data_fin: bool,
    /// Data-level length and checksum of the first copy received, for verification.
    checksum: Option<(u16, u16)>,
}

impl Recorded {
    fn end(&self) -> u64 {
        self.start + u64::from(self.len)
    }
}

/// Where an infinite mapping anchors the subflow: byte `ssn + k` is DSN `dsn + k`.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    ssn: u64,
    dsn: u64,
}

/// The data sequence mapping of one subflow, receiving side. See the module
/// documentation.
#[derive(Debug, Clone)]
pub struct MappingReceiver {
    config: MappingConfig,
    /// Recorded mappings by subflow start; they never overlap, and each ends after
    /// `released`.
    mappings: BTreeMap<u64, Recorded>,
    /// Bytes received and neither delivered nor discarded, from offset `released`.
    held: VecDeque<u8>,
    /// Subflow offset of `held[0]`: every byte before it was delivered or discarded.
    released: u64,
    /// Set by an infinite mapping.
    fallback: Option<Anchor>,
    /// The DSN of a mapping whose checksum failed; data is dropped until an infinite
    /// mapping arrives.
    failed: Option<u64>,
    /// The subflow's FIN was reported: no data or mapping for data will follow.
    fin: bool,
    /// A fatal error happened.
    broken: bool,
    stats: MappingStats,
}

impl MappingReceiver {
    /// A receiver for a subflow whose first payload byte is relative sequence number 1.
    pub fn new(config: MappingConfig) -> Self {
        MappingReceiver {
            config,
            mappings: BTreeMap::new(),
            held: VecDeque::new(),
            released: 1,
            fallback: None,
            failed: None,
            fin: false,
            broken: false,
            stats: MappingStats::default(),
        }
    }

    pub fn config(&self) -> &MappingConfig {
        &self.config
    }

    pub fn stats(&self) -> &MappingStats {
        &self.stats
    }

    /// Bytes are held that no recorded mapping covers: the peer sends without
    /// mappings from here (it fell back, or a middlebox strips them).
    pub fn waiting_for_mapping(&self) -> bool {
        !self.held.is_empty() && self.covering(self.released).is_none()
    }

    /// The relative subflow sequence number [`on_data`](Self::on_data) expects next.
    pub fn next_ssn(&self) -> u32 {
        self.next() as u32
    }

    /// Bytes received and held, waiting for a mapping or for the rest of a checksummed
    /// mapping.
    pub fn held_bytes(&self) -> usize {
        self.held.len()
    }

    /// Whether an infinite mapping switched this subflow to fallback (RFC 8684 §3.7).
    pub fn is_fallback(&self) -> bool {
        self.fallback.is_some()
    }

    /// The DSN of the mapping whose checksum failed, while data is being dropped.
    pub fn failed_at(&self) -> Option<u64> {
        self.failed
    }

    /// Records a DSS mapping seen on a segment of this subflow (or the implicit one of
    /// MP_CAPABLE, [`mp_capable_mapping`]), with the DSS option's DATA_FIN flag.
    ///
    /// `dsn_reference` is the data-level RCV.NXT: a 32-bit DSN is widened to the
    /// 64-bit value nearest it (RFC 8684 §3.3.1: "An implementation MUST be able to
    /// receive and process both 64-bit or 32-bit sequence number values").
    ///
    /// Call it before [`on_data`](Self::on_data) for the payload of the same segment.
    /// Bytes already held that the mapping covers are delivered through `out`.
    ///
    /// - Repeating a recorded mapping is a no-op (it may add the DATA_FIN).
    /// - A mapping for bytes already consumed (a retransmission) is ignored, except
    ///   that its DATA_FIN is reported.
    /// - A mapping that maps subflow bytes some other mapping covers is
    ///   [`MappingError::Conflict`].
    /// - Data-level length 0 is the infinite mapping: fallback (RFC 8684 §3.7).
    /// - A DATA_FIN with data-level length 1 maps no subflow byte (RFC 8684 §3.3.3: for
    ///   a DATA_FIN not attached to a segment containing data, "the Data Sequence Signal
    ///   MUST have a subflow sequence number of 0, a Data-Level Length of 1", and the
    ///   DATA_FIN's own data sequence number). Its DSN is reported at once.
    pub fn on_mapping(
        &mut self,
        mapping: &DssMapping,
        data_fin: bool,
        dsn_reference: u64,
        out: &mut impl FnMut(Delivery<'_>),
    ) -> Result<(), MappingError> {
        if self.broken {
            return Err(MappingError::Broken);
        }
        let result = self.record(mapping, data_fin, dsn_reference, out);
        self.stop_if_fatal(result)
    }

    /// Hands over in-order payload of the subflow, `ssn` being the relative sequence
    /// number of `bytes[0]` (the first payload byte of the subflow is 1). Pieces may
    /// start and end anywhere; bytes already received are skipped, a gap is
    /// [`MappingError::OutOfOrder`].
    ///
    /// Without checksums, bytes a mapping covers are delivered at once. With
    /// checksums (RFC 8684 §3.3.1: the checksum covers "the data covered by this
    /// mapping", which may span many segments) a mapping's bytes are held until all
    /// have arrived and are delivered only if its checksum verifies.
    pub fn on_data(
        &mut self,
        ssn: u32,
        bytes: &[u8],
        out: &mut impl FnMut(Delivery<'_>),
    ) -> Result<(), MappingError> {
        if self.broken {
            return Err(MappingError::Broken);
        }
        let result = self.receive(ssn, bytes, out);
        self.stop_if_fatal(result)
    }

    /// The subflow's FIN arrived: no more data, so no mapping can come for bytes
    /// still held. They are reported as [`Delivery::Discarded`]. After fallback the
    /// subflow FIN ends the data stream too (the connection is plain TCP, RFC 8684
    /// §3.7), so the DATA_FIN it stands for is reported.
    pub fn on_fin(&mut self, out: &mut impl FnMut(Delivery<'_>)) -> Result<(), MappingError> {
        if self.broken {
            return Err(MappingError::Broken);
        }
        if self.fin {
            return Ok(());
        }
        self.fin = true;
        let next = self.next();
        if !self.held.is_empty() {
            let covered = self.covering(self.released).is_some();
            let reason = if covered {
                DiscardReason::IncompleteMapping
            } else {
                DiscardReason::Unmapped
            };
            let len = self.held.len();
            self.discard(self.released, len, reason, out);
            self.held.clear();
            self.released = next;
        }
        self.mappings.clear();
        if let Some(anchor) = self.fallback {
            if next >= anchor.ssn && self.failed.is_none() {
                self.stats.data_fins += 1;
                out(Delivery::DataFin {
                    dsn: anchor.dsn.wrapping_add(next - anchor.ssn),
                });
            }
        }
        Ok(())
    }

    fn next(&self) -> u64 {
        self.released + self.held.len() as u64
    }

    fn stop_if_fatal(&mut self, result: Result<(), MappingError>) -> Result<(), MappingError> {
        if let Err(e) = &result {
            if e.is_fatal() {
                // RFC 8684 §3.3.1: "any unmapped data silently discarded".
                self.broken = true;
                self.held = VecDeque::new();
                self.mappings.clear();
            }
        }
        result
    }

    fn record(
        &mut self,
        mapping: &DssMapping,
        data_fin: bool,
        dsn_reference: u64,
        out: &mut dyn FnMut(Delivery<'_>),
    ) -> Result<(), MappingError> {
        if self.fallback.is_some() {
            // RFC 8684 §3.3.1: the infinite mapping holds "for the remainder of the
            // connection"; later mappings, infinite or not, change nothing.
            self.stats.mappings_ignored += 1;
            return Ok(());
        }
        if mapping.checksum.is_some() != self.config.checksums {
            return Err(MappingError::ChecksumPresence {
                negotiated: self.config.checksums,
            });
        }
        let dsn = match mapping.dsn {
            SeqField::U64(dsn) => dsn,
            SeqField::U32(low) => {
                self.stats.dsn32_widened += 1;
                widen(low, dsn_reference)
            }
        };
        if mapping.is_infinite() {
            return self.fall_back(mapping.ssn, dsn, out);
        }
        let len = u32::from(mapping.data_level_length) - u32::from(data_fin);
        if len == 0 {
            return self.data_fin_only(mapping, dsn, out);
        }
        if self.failed.is_some() || self.fin {
            self.stats.mappings_ignored += 1;
            return Ok(());
        }
        let start = widen(mapping.ssn, self.next());
        let conflict = MappingError::Conflict {
            ssn: mapping.ssn,
            dsn,
            len,
        };
        if before_the_subflow(start) {
            // It maps octets before the SYN, which the subflow never had.
            return Err(conflict);
        }
        let end = start + u64::from(len);
        if end <= self.released {
            // Every byte it maps was consumed: a retransmitted segment. Its DATA_FIN
            // may be new (Linux adds it to the last mapping when the application
            // closes, RFC 8684 §3.3.3).
            self.stats.mappings_stale += 1;
            if data_fin {
                self.stats.data_fins += 1;
                out(Delivery::DataFin {
                    dsn: dsn.wrapping_add(u64::from(len)),
                });
            }
            return Ok(());
        }
        // Recorded mappings never overlap, so the last one starting before `end` is
        // the only one that can overlap without containing another that does.
        if let Some(recorded) = self
            .mappings
            .range_mut(..end)
            .next_back()
            .map(|(_, r)| r)
            .filter(|r| r.end() > start)
        {
            if recorded.start != start || recorded.len != len || recorded.dsn != dsn {
                return Err(conflict);
            }
            if let (Some((first_len, first_sum)), Some(sum)) = (recorded.checksum, mapping.checksum)
            {
                // The same pseudo-header must come with the same checksum. A copy that
                // adds the DATA_FIN has a different length, so a different checksum.
                if first_len == mapping.data_level_length && first_sum != sum {
                    return Err(conflict);
                }
            }
            recorded.data_fin |= data_fin;
            self.stats.mappings_repeated += 1;
            return Ok(());
        }
        if start < self.released {
            // Its first bytes were consumed under another mapping, since retired.
            return Err(conflict);
        }
        if self.mappings.len() >= self.config.max_mappings {
            return Err(MappingError::TooManyMappings {
                limit: self.config.max_mappings,
            });
        }
        self.mappings.insert(
            start,
            Recorded {
                start,
                len,
                dsn,
                data_fin,
                checksum: mapping.checksum.map(|c| (mapping.data_level_length, c)),
            },
        );
        self.stats.mappings_recorded += 1;
        self.drain_held(out)
    }

    /// A DATA_FIN that maps no subflow byte (RFC 8684 §3.3.3). "The checksum in this
    /// case will only cover the pseudo-header."
    fn data_fin_only(
        &mut self,
        mapping: &DssMapping,
        dsn: u64,
        out: &mut dyn FnMut(Delivery<'_>),
    ) -> Result<(), MappingError> {
        if self.failed.is_some() {
            self.stats.mappings_ignored += 1;
            return Ok(());
        }
        if let Some(sum) = mapping.checksum {
            if dss_checksum(dsn, mapping.ssn, mapping.data_level_length, []) != sum {
                self.stats.checksum_failures += 1;
                out(Delivery::ChecksumFailed {
                    dsn,
                    ssn: mapping.ssn,
                    data_level_length: mapping.data_level_length,
                });
                return Ok(());
            }
            self.stats.checksums_verified += 1;
        }
        self.stats.data_fins += 1;
        out(Delivery::DataFin { dsn });
        Ok(())
    }

    /// RFC 8684 §3.3.1: "An 'infinite mapping' can be used to fall back to regular TCP
    /// by mapping the subflow-level data to the connection-level data for the remainder
    /// of the connection (see Section 3.7). This is achieved by setting the Data-Level
    /// Length field of the DSS option to the reserved value of 0. The checksum, in such
    /// a case, will also be set to 0." The checksum is therefore not verified.
    ///
    /// The mapping's subflow sequence number anchors it; 0 (the SYN, which carries no
    /// data) anchors it at the first byte not yet consumed. Mappings recorded for bytes
    /// after the anchor are superseded if they agree with it and a conflict if not.
    fn fall_back(
        &mut self,
        ssn: u32,
        dsn: u64,
        out: &mut dyn FnMut(Delivery<'_>),
    ) -> Result<(), MappingError> {
        let (mut start, mut dsn) = if ssn == 0 {
            (self.released, dsn)
        } else {
            (widen(ssn, self.next()), dsn)
        };
        if before_the_subflow(start) || start < self.released {
            // Bytes before `released` were delivered already (and those before the
            // SYN never existed); anchor after them. Modulo 2^64, so that an anchor
            // before the SYN moves as far.
            dsn = dsn.wrapping_add(self.released.wrapping_sub(start));
            start = self.released;
        }
        let offset = dsn.wrapping_sub(start);
        for r in self.mappings.values().filter(|r| r.end() > start) {
            let straddles_checksummed = r.start < start && r.checksum.is_some();
            if r.dsn.wrapping_sub(r.start) != offset || straddles_checksummed {
                return Err(MappingError::Conflict { ssn, dsn, len: 0 });
            }
        }
        // Superseded: mappings after the anchor; the part after it of one that
        // straddles it (its DATA_FIN, if any, no longer ends it).
        self.mappings.retain(|&s, _| s < start);
        if let Some((_, r)) = self.mappings.iter_mut().next_back() {
            if r.end() > start {
                r.len = (start - r.start) as u32;
                r.data_fin = false;
            }
        }
        let released = self.released;
        self.mappings.retain(|_, r| r.end() > released);
        self.fallback = Some(Anchor { ssn: start, dsn });
        self.failed = None;
        out(Delivery::Fallback {
            dsn,
            ssn: start as u32,
        });
        self.drain_held(out)
    }

    fn receive(
        &mut self,
        ssn: u32,
        bytes: &[u8],
        out: &mut dyn FnMut(Delivery<'_>),
    ) -> Result<(), MappingError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let next = self.next();
        let start = widen(ssn, next);
        if start > next {
            return Err(MappingError::OutOfOrder {
                expected: next as u32,
                got: ssn,
            });
        }
        let skip = next - start;
        if skip >= bytes.len() as u64 {
            return Ok(());
        }
        if self.fin {
            return Err(MappingError::AfterFin);
        }
        let mut input = &bytes[skip as usize..];
        if self.held.is_empty() {
            // Straight from the caller's slice while nothing is held.
            while !input.is_empty() {
                let n = self.step(input, &[], out);
                if n == 0 {
                    break;
                }
                input = &input[n..];
                self.released += n as u64;
            }
        }
        self.held.extend(input);
        self.drain_held(out)
    }

    /// Delivers or discards what can be of the held bytes, then enforces the limit.
    fn drain_held(&mut self, out: &mut dyn FnMut(Delivery<'_>)) -> Result<(), MappingError> {
        while !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            let (a, b) = held.as_slices();
            let n = self.step(a, b, out);
            self.held = held;
            if n == 0 {
                break;
            }
            self.held.drain(..n);
            self.released += n as u64;
        }
        self.stats.max_held = self.stats.max_held.max(self.held.len());
        if self.held.len() > self.config.max_held_bytes {
            return Err(MappingError::HeldLimit {
                held: self.held.len(),
                limit: self.config.max_held_bytes,
            });
        }
        if self.held.is_empty() && self.held.capacity() > self.config.max_held_bytes {
            self.held = VecDeque::new();
        }
        Ok(())
    }

    /// The recorded mapping that covers subflow offset `pos`.
    fn covering(&self, pos: u64) -> Option<Recorded> {
        self.mappings
            .range(..=pos)
            .next_back()
            .map(|(_, r)| *r)
            .filter(|r| r.end() > pos)
    }

    /// Decides the fate of the bytes at `released`, `a` followed by `b`, and returns
    /// how many it delivered or discarded (0: they wait for a mapping or for the rest
    /// of their mapping).
    fn step(&mut self, a: &[u8], b: &[u8], out: &mut dyn FnMut(Delivery<'_>)) -> usize {
        let avail = a.len() + b.len();
        let pos = self.released;
        if avail == 0 {
            return 0;
        }
        if let Some(anchor) = self.fallback {
            if pos >= anchor.ssn {
                let dsn = anchor.dsn.wrapping_add(pos - anchor.ssn);
                self.deliver(dsn, a, b, avail, out);
                return avail;
            }
        }
        let before_anchor = self.fallback.map_or(usize::MAX, |anchor| {
            usize::try_from(anchor.ssn - pos).unwrap_or(usize::MAX)
        });
        if self.failed.is_some() {
            let n = avail.min(before_anchor);
            self.discard(pos, n, DiscardReason::AfterChecksumFailure, out);
            return n;
        }
        let Some(m) = self.covering(pos) else {
            let next_mapped = self
                .mappings
                .range(pos..)
                .next()
                .map_or(usize::MAX, |(s, _)| {
                    usize::try_from(s - pos).unwrap_or(usize::MAX)
                });
            // Bytes no mapping covers, followed by bytes of a later mapping that are
            // already here: their own mapping was lost (a middlebox coalesced the
            // segments that carried it into earlier ones) and cannot come any more,
            // since the sender maps bytes on or before the segments that carry them.
            // They are dropped so that the rest flows; the data level never
            // acknowledged them, and the sender maps them again (§3.3.6).
            let orphaned = self.fallback.is_none() && next_mapped < avail;
            if self.fallback.is_none() && !orphaned {
                return 0;
            }
            // After fallback no mapping is accepted: bytes before the anchor that no
            // recorded mapping covers can never be mapped.
            let n = avail.min(before_anchor).min(next_mapped);
            self.discard(pos, n, DiscardReason::Unmapped, out);
            return n;
        };
        let remaining = (m.end() - pos) as usize;
        let dsn = m.dsn.wrapping_add(pos - m.start);
        let Some((data_level_length, expected)) = m.checksum else {
            let n = avail.min(remaining);
            self.deliver(dsn, a, b, n, out);
            if n == remaining {
                self.retire(m, out);
            }
            return n;
        };
        // RFC 8684 §3.3.1: the checksum covers "the data covered by this mapping, along
        // with a pseudo-header", so nothing is released before all of it is here.
        if avail < remaining {
            return 0;
        }
        let (pa, pb) = split_prefix(a, b, remaining);
        // A checksummed mapping is only ever released whole, so `pos` is its start;
        // anything else could not be verified and is treated as a failure.
        let verified = pos == m.start
            && dss_checksum(m.dsn, m.start as u32, data_level_length, [pa, pb]) == expected;
        if verified {
            self.stats.checksums_verified += 1;
            self.deliver(dsn, a, b, remaining, out);
            self.retire(m, out);
        } else {
            // RFC 8684 §3.3.1: "If this checksum fails, it will trigger a failure of
            // the subflow, or a fallback to regular TCP, as documented in Section 3.7".
            self.stats.checksum_failures += 1;
            out(Delivery::ChecksumFailed {
                dsn: m.dsn,
                ssn: m.start as u32,
                data_level_length,
            });
            self.discard(pos, remaining, DiscardReason::ChecksumFailed, out);
            self.failed = Some(m.dsn);
            self.mappings.clear();
        }
        remaining
    }

    fn deliver(
        &mut self,
        dsn: u64,
        a: &[u8],
        b: &[u8],
        n: usize,
        out: &mut dyn FnMut(Delivery<'_>),
    ) {
        let (pa, pb) = split_prefix(a, b, n);
        if !pa.is_empty() {
            out(Delivery::Data { dsn, bytes: pa });
        }
        if !pb.is_empty() {
            out(Delivery::Data {
                dsn: dsn.wrapping_add(pa.len() as u64),
                bytes: pb,
            });
        }
        self.stats.bytes_delivered += n as u64;
    }

    fn discard(
        &mut self,
        pos: u64,
        len: usize,
        reason: DiscardReason,
        out: &mut dyn FnMut(Delivery<'_>),
    ) {
        self.stats.bytes_discarded += len as u64;
        out(Delivery::Discarded {
            ssn: pos as u32,
            len,
            reason,
        });
    }

    /// All of `m` was delivered.
    fn retire(&mut self, m: Recorded, out: &mut dyn FnMut(Delivery<'_>)) {
        self.mappings.remove(&m.start);
        self.stats.mappings_completed += 1;
        if m.data_fin {
            // RFC 8684 §3.3.3 counts the DATA_FIN in the Data-Level Length but not at
            // the subflow level: in its example, DSN 80 with Data-Level Length 11 and
            // DATA_FIN set maps 10 subflow octets to 80-89, and the DATA_FIN is DSN 90.
            self.stats.data_fins += 1;
            out(Delivery::DataFin {
                dsn: m.dsn.wrapping_add(u64::from(m.len)),
            });
        }
    }
}

/// The first `n` bytes of `a` followed by `b`, as two slices.
fn split_prefix<'a>(a: &'a [u8], b: &'a [u8], n: usize) -> (&'a [u8], &'a [u8]) {
    let in_a = n.min(a.len());
    let in_b = (n - in_a).min(b.len());
    (&a[..in_a], &b[..in_b])
}

/// Whether a subflow offset, widened from a relative subflow sequence number near
/// the bytes received, lies before the SYN (offset 0): such a number widens to an
/// offset "below 0", near 2^64.
fn before_the_subflow(offset: u64) -> bool {
    (offset as i64) < 0
}

#[cfg(test)]
mod tests;
