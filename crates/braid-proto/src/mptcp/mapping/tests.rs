//! Tests of the receiver's data sequence mapping, named after the RFC 8684 section they
//! prove. Real Linux traffic is checked in tests/mptcp_mapping_golden.rs.

use proptest::prelude::*;

use super::*;

const DSN: u64 = 0x1234_5678_9abc_def0;

/// A [`Delivery`] with its bytes owned, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(u64, Vec<u8>),
    DataFin(u64),
    ChecksumFailed(u64, u32, u16),
    Fallback(u64, u32),
    Discarded(u32, usize, DiscardReason),
}

impl From<Delivery<'_>> for Ev {
    fn from(d: Delivery<'_>) -> Self {
        match d {
            Delivery::Data { dsn, bytes } => Ev::Data(dsn, bytes.to_vec()),
            Delivery::DataFin { dsn } => Ev::DataFin(dsn),
            Delivery::ChecksumFailed {
                dsn,
                ssn,
                data_level_length,
            } => Ev::ChecksumFailed(dsn, ssn, data_level_length),
            Delivery::Fallback { dsn, ssn } => Ev::Fallback(dsn, ssn),
            Delivery::Discarded { ssn, len, reason } => Ev::Discarded(ssn, len, reason),
        }
    }
}

/// A receiver and everything it delivered.
struct Rx {
    rx: MappingReceiver,
    events: Vec<Ev>,
}

impl Rx {
    fn new(checksums: bool) -> Self {
        Rx::with_config(MappingConfig::new(checksums))
    }

    fn with_config(config: MappingConfig) -> Self {
        Rx {
            rx: MappingReceiver::new(config),
            events: Vec::new(),
        }
    }

    fn map(&mut self, m: DssMapping, data_fin: bool) -> Result<(), MappingError> {
        self.map_ref(m, data_fin, DSN)
    }

    fn map_ref(
        &mut self,
        m: DssMapping,
        data_fin: bool,
        reference: u64,
    ) -> Result<(), MappingError> {
        let events = &mut self.events;
        self.rx
            .on_mapping(&m, data_fin, reference, &mut |d| events.push(d.into()))
    }

    fn data(&mut self, ssn: u32, bytes: &[u8]) -> Result<(), MappingError> {
        let events = &mut self.events;
        self.rx.on_data(ssn, bytes, &mut |d| events.push(d.into()))
    }

    fn fin(&mut self) -> Result<(), MappingError> {
        let events = &mut self.events;
        self.rx.on_fin(&mut |d| events.push(d.into()))
    }

    /// Delivered data, adjacent chunks merged.
    fn data_chunks(&self) -> Vec<(u64, Vec<u8>)> {
        let mut chunks: Vec<(u64, Vec<u8>)> = Vec::new();
        for e in &self.events {
            if let Ev::Data(dsn, bytes) = e {
                match chunks.last_mut() {
                    Some((start, acc)) if *start + acc.len() as u64 == *dsn => {
                        acc.extend_from_slice(bytes)
                    }
                    _ => chunks.push((*dsn, bytes.clone())),
                }
            }
        }
        chunks
    }

    fn others(&self) -> Vec<Ev> {
        self.events
            .iter()
            .filter(|e| !matches!(e, Ev::Data(..)))
            .cloned()
            .collect()
    }
}

fn mapping(dsn: u64, ssn: u32, len: u16) -> DssMapping {
    DssMapping {
        dsn: SeqField::U64(dsn),
        ssn,
        data_level_length: len,
        checksum: None,
    }
}

/// `mapping` with the checksum a correct sender computes over `payload`.
fn checksummed(dsn: u64, ssn: u32, len: u16, payload: &[u8]) -> DssMapping {
    DssMapping {
        checksum: Some(dss_checksum(dsn, ssn, len, [payload])),
        ..mapping(dsn, ssn, len)
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn rfc8684_s3_3_1_single_mapping_over_many_segments() {
    let data = pattern(5000);
    let mut rx = Rx::new(false);
    let m = mapping(DSN, 1, 5000);
    for (i, seg) in data.chunks(1000).enumerate() {
        // Linux repeats the mapping on every segment it covers: a no-op.
        rx.map(m, false).unwrap();
        rx.data(1 + 1000 * i as u32, seg).unwrap();
        // Without checksums, bytes go out as they arrive, straight from the input.
        assert_eq!(rx.rx.held_bytes(), 0);
    }
    assert_eq!(rx.data_chunks(), vec![(DSN, data)]);
    assert_eq!(rx.events.len(), 5, "one chunk per segment");
    let stats = rx.rx.stats();
    assert_eq!(stats.mappings_recorded, 1);
    assert_eq!(stats.mappings_repeated, 4);
    assert_eq!(stats.mappings_completed, 1);
    assert_eq!(stats.bytes_delivered, 5000);
    assert_eq!(rx.rx.next_ssn(), 5001);
}

#[test]
fn rfc8684_s3_3_1_consecutive_mappings_and_data_level_gaps() {
    // Two mappings in one segment, placed apart in data sequence space as a scheduler
    // sharing data between subflows does.
    let data = pattern(300);
    let mut rx = Rx::new(false);
    rx.map(mapping(DSN, 1, 100), false).unwrap();
    rx.map(mapping(DSN + 1000, 101, 200), false).unwrap();
    rx.data(1, &data).unwrap();
    assert_eq!(
        rx.data_chunks(),
        vec![
            (DSN, data[..100].to_vec()),
            (DSN + 1000, data[100..].to_vec())
        ]
    );
    // Retransmitted bytes already consumed are skipped; their mapping is stale.
    rx.map(mapping(DSN, 1, 100), false).unwrap();
    rx.data(50, &data[49..150]).unwrap();
    assert_eq!(rx.rx.stats().mappings_stale, 1);
    assert_eq!(rx.rx.stats().bytes_delivered, 300);
}

#[test]
fn rfc8684_s3_3_1_conflicting_mapping_is_an_error() {
    let data = pattern(100);
    let mut rx = Rx::new(false);
    rx.map(mapping(DSN, 1, 100), false).unwrap();
    rx.data(1, &data[..40]).unwrap();
    // The same subflow bytes to other data sequence numbers.
    let err = rx.map(mapping(DSN + 1, 1, 100), false).unwrap_err();
    assert_eq!(
        err,
        MappingError::Conflict {
            ssn: 1,
            dsn: DSN + 1,
            len: 100
        }
    );
    assert!(err.is_fatal());
    // The receiver stops; the caller resets the subflow.
    assert_eq!(rx.data(41, &data[40..]), Err(MappingError::Broken));
    assert_eq!(rx.rx.stats().bytes_delivered, 40);

    // Overlapping with another extent is a conflict too, even at a consistent offset.
    let mut rx = Rx::new(false);
    rx.map(mapping(DSN, 1, 100), false).unwrap();
    assert!(matches!(
        rx.map(mapping(DSN + 50, 51, 100), false),
        Err(MappingError::Conflict { .. })
    ));

    // A mapping reaching back into bytes delivered under a retired mapping.
    let mut rx = Rx::new(false);
    rx.map(mapping(DSN, 1, 100), false).unwrap();
    rx.data(1, &data).unwrap();
    assert!(matches!(
        rx.map(mapping(DSN + 90, 91, 100), false),
        Err(MappingError::Conflict { .. })
    ));
}

#[test]
fn rfc8684_s3_3_1_repeated_mapping_with_another_checksum_is_a_conflict() {
    let data = pattern(10);
    let mut rx = Rx::new(true);
    let m = checksummed(DSN, 1, 10, &data);
    rx.map(m, false).unwrap();
    let mut other = m;
    other.checksum = Some(m.checksum.unwrap() ^ 1);
    assert!(matches!(
        rx.map(other, false),
        Err(MappingError::Conflict { .. })
    ));
}

#[test]
fn rfc8684_s3_3_1_32_bit_dsn_expands_near_the_data_level_rcv_nxt() {
    // RCV.NXT just below a 2^32 boundary; the mapping starts just above it.
    let rcv_nxt = 0x7_ffff_fff0;
    let mut rx = Rx::new(false);
    let m = DssMapping {
        dsn: SeqField::U32(0x0000_0010),
        ..mapping(0, 1, 8)
    };
    rx.map_ref(m, false, rcv_nxt).unwrap();
    rx.data(1, b"abcdefgh").unwrap();
    assert_eq!(
        rx.data_chunks(),
        vec![(0x8_0000_0010, b"abcdefgh".to_vec())]
    );
    // A retransmission slightly behind RCV.NXT widens backwards.
    let mut rx = Rx::new(false);
    let m = DssMapping {
        dsn: SeqField::U32(0xffff_fff8),
        ..mapping(0, 1, 8)
    };
    rx.map_ref(m, false, 0x8_0000_0004).unwrap();
    rx.data(1, b"abcdefgh").unwrap();
    assert_eq!(
        rx.data_chunks(),
        vec![(0x7_ffff_fff8, b"abcdefgh".to_vec())]
    );
    assert_eq!(rx.rx.stats().dsn32_widened, 1);
    // Identity is judged on the widened value: the 64-bit form repeats it.
    rx.map(mapping(0x7_ffff_fff8, 1, 8), false).unwrap();
    assert_eq!(rx.rx.stats().mappings_stale, 1);
}

#[test]
fn rfc8684_s3_7_infinite_mapping_falls_back_linearly() {
    let data = pattern(3000);
    let mut rx = Rx::new(false);
    rx.map(mapping(DSN, 1, 1000), false).unwrap();
    rx.data(1, &data[..1000]).unwrap();
    // Data-level length 0 from subflow byte 1001 on.
    rx.map(mapping(DSN + 5000, 1001, 0), false).unwrap();
    rx.data(1001, &data[1000..2000]).unwrap();
    // Later mappings, even contradictory ones, change nothing.
    rx.map(mapping(7, 2001, 100), false).unwrap();
    rx.data(2001, &data[2000..]).unwrap();
    assert!(rx.rx.is_fallback());
    assert_eq!(
        rx.data_chunks(),
        vec![
            (DSN, data[..1000].to_vec()),
            (DSN + 5000, data[1000..].to_vec())
        ]
    );
    // In fallback the subflow FIN is the DATA_FIN.
    rx.fin().unwrap();
    assert_eq!(
        rx.others(),
        vec![Ev::Fallback(DSN + 5000, 1001), Ev::DataFin(DSN + 7000)]
    );
    assert_eq!(rx.rx.stats().mappings_ignored, 1);
}

#[test]
fn rfc8684_s3_7_infinite_mapping_maps_held_unmapped_bytes() {
    // Bytes arrive before any mapping; the infinite mapping then anchors at them
    // (subflow sequence number 0 anchors at the first byte not yet consumed).
    let mut rx = Rx::new(false);
    rx.data(1, b"hello").unwrap();
    assert_eq!(rx.rx.held_bytes(), 5);
    rx.map(mapping(DSN, 0, 0), false).unwrap();
    assert_eq!(rx.data_chunks(), vec![(DSN, b"hello".to_vec())]);
    assert_eq!(rx.rx.held_bytes(), 0);
}

#[test]
fn rfc8684_s3_3_3_data_fin_only_mapping() {
    let mut rx = Rx::new(false);
    rx.map(mapping(DSN, 1, 10), false).unwrap();
    rx.data(1, b"0123456789").unwrap();
    // Subflow sequence number 0, data-level length 1: the DATA_FIN alone.
    rx.map(mapping(DSN + 10, 0, 1), true).unwrap();
    assert_eq!(rx.others(), vec![Ev::DataFin(DSN + 10)]);
    rx.fin().unwrap();
    assert_eq!(rx.others(), vec![Ev::DataFin(DSN + 10)]);

    // With checksums it covers only the pseudo-header.
    let mut rx = Rx::new(true);
    let m = checksummed(DSN, 0, 1, &[]);
    rx.map(m, true).unwrap();
    assert_eq!(rx.others(), vec![Ev::DataFin(DSN)]);
    assert_eq!(rx.rx.stats().checksums_verified, 1);
}

#[test]
fn rfc8684_s3_3_3_data_fin_ends_a_mapping() {
    // RFC 8684 §3.3.3's example: DSN 80, data-level length 11, DATA_FIN: ten octets
    // at 80..=89, the DATA_FIN is 90.
    let mut rx = Rx::new(false);
    rx.map(mapping(80, 1, 11), true).unwrap();
    rx.data(1, b"01234").unwrap();
    assert_eq!(rx.others(), vec![]);
    rx.data(6, b"56789").unwrap();
    assert_eq!(rx.data_chunks(), vec![(80, b"0123456789".to_vec())]);
    assert_eq!(rx.others(), vec![Ev::DataFin(90)]);

    // Linux adds the DATA_FIN to the last segment of a mapping already announced:
    // the same subflow bytes and DSN, data-level length one more.
    let mut rx = Rx::new(true);
    let data = b"0123456789";
    rx.map(checksummed(80, 1, 10, data), false).unwrap();
    rx.data(1, &data[..5]).unwrap();
    rx.map(checksummed(80, 1, 11, data), true).unwrap();
    rx.data(6, &data[5..]).unwrap();
    assert_eq!(rx.data_chunks(), vec![(80, data.to_vec())]);
    assert_eq!(rx.others(), vec![Ev::DataFin(90)]);
}

#[test]
fn rfc8684_s3_3_1_checksum_verifies_across_segments() {
    let data = pattern(4000);
    let mut rx = Rx::new(true);
    let m = checksummed(DSN, 1, 4000, &data);
    // Odd-sized pieces: the sum must not depend on where segments split.
    let mut ssn = 1u32;
    for piece in data.chunks(333) {
        rx.map(m, false).unwrap();
        rx.data(ssn, piece).unwrap();
        ssn += piece.len() as u32;
        if ssn < 4001 {
            // Nothing leaves before the whole mapping is verified.
            assert!(rx.data_chunks().is_empty());
        }
    }
    assert_eq!(rx.data_chunks(), vec![(DSN, data)]);
    assert_eq!(rx.rx.stats().checksums_verified, 1);
    assert_eq!(rx.rx.stats().max_held, 4000 - 4000 % 333);
}

#[test]
fn rfc8684_s3_3_1_checksum_failure_reports_the_mapping_dsn() {
    let data = pattern(3000);
    let mut rx = Rx::new(true);
    rx.map(checksummed(DSN, 1, 1000, &data[..1000]), false)
        .unwrap();
    rx.map(
        checksummed(DSN + 1000, 1001, 1000, &data[1000..2000]),
        false,
    )
    .unwrap();
    // A middlebox rewrites one byte of the second mapping.
    let mut corrupt = data.clone();
    corrupt[1500] ^= 0x20;
    rx.data(1, &corrupt[..2000]).unwrap();
    assert_eq!(rx.data_chunks(), vec![(DSN, data[..1000].to_vec())]);
    assert_eq!(
        rx.others(),
        vec![
            Ev::ChecksumFailed(DSN + 1000, 1001, 1000),
            Ev::Discarded(1001, 1000, DiscardReason::ChecksumFailed),
        ]
    );
    assert_eq!(rx.rx.failed_at(), Some(DSN + 1000));
    // RFC 8684 §3.7: after MP_FAIL the sender falls back with an infinite mapping;
    // until then the subflow's data is dropped.
    rx.data(2001, &data[2000..2500]).unwrap();
    // RFC 8684 §3.3.1, of the infinite mapping: "The checksum, in such a case, will
    // also be set to 0."
    let infinite = DssMapping {
        checksum: Some(0),
        ..mapping(DSN + 1000, 2501, 0)
    };
    rx.map(infinite, false).unwrap();
    rx.data(2501, &data[2500..]).unwrap();
    // The data level resumes where the failed mapping began.
    let resumed = [&data[..1000], &data[2500..]].concat();
    assert!(rx.data_chunks() == vec![(DSN, resumed)]);
    assert_eq!(rx.rx.stats().checksum_failures, 1);
    assert_eq!(rx.rx.stats().bytes_discarded, 1500);
}

#[test]
fn rfc8684_s3_3_1_checksum_failure_of_a_data_fin_only_mapping() {
    let mut rx = Rx::new(true);
    let mut m = checksummed(DSN, 0, 1, &[]);
    m.checksum = m.checksum.map(|c| c.wrapping_add(1));
    rx.map(m, true).unwrap();
    assert_eq!(rx.others(), vec![Ev::ChecksumFailed(DSN, 0, 1)]);
}

#[test]
fn rfc8684_s3_3_checksum_presence_must_match_the_handshake() {
    let mut rx = Rx::new(true);
    assert_eq!(
        rx.map(mapping(DSN, 1, 10), false),
        Err(MappingError::ChecksumPresence { negotiated: true })
    );
    let mut rx = Rx::new(false);
    assert_eq!(
        rx.map(checksummed(DSN, 1, 10, b"0123456789"), false),
        Err(MappingError::ChecksumPresence { negotiated: false })
    );
}

#[test]
fn rfc8684_s3_3_1_mapping_after_its_bytes_within_the_buffer_limit() {
    let data = pattern(2000);
    let mut rx = Rx::new(false);
    rx.data(1, &data[..700]).unwrap();
    rx.data(701, &data[700..1200]).unwrap();
    assert_eq!(rx.rx.held_bytes(), 1200);
    assert!(rx.events.is_empty());
    // The mapping arrives with a later segment and covers what is held.
    rx.map(mapping(DSN, 1, 2000), false).unwrap();
    assert_eq!(rx.rx.held_bytes(), 0);
    rx.data(1201, &data[1200..]).unwrap();
    assert_eq!(rx.data_chunks(), vec![(DSN, data.clone())]);

    // Same with checksums: held until the mapping is complete, then verified.
    let mut rx = Rx::new(true);
    rx.data(1, &data[..700]).unwrap();
    rx.map(checksummed(DSN, 1, 2000, &data), false).unwrap();
    rx.data(701, &data[700..]).unwrap();
    assert_eq!(rx.data_chunks(), vec![(DSN, data)]);
}

#[test]
fn rfc8684_s3_3_1_unmapped_data_beyond_the_limit_breaks_the_subflow() {
    let mut rx = Rx::with_config(MappingConfig {
        max_held_bytes: 1000,
        ..MappingConfig::new(false)
    });
    rx.data(1, &pattern(1000)).unwrap();
    assert_eq!(
        rx.data(1001, b"x"),
        Err(MappingError::HeldLimit {
            held: 1001,
            limit: 1000
        })
    );
    assert_eq!(rx.rx.held_bytes(), 0, "unmapped data silently discarded");
    assert_eq!(
        rx.map(mapping(DSN, 1, 1001), false),
        Err(MappingError::Broken)
    );
}

#[test]
fn rfc8684_s3_3_1_unmapped_bytes_are_reported_at_the_subflow_fin() {
    let mut rx = Rx::new(false);
    rx.map(mapping(DSN, 1, 4), false).unwrap();
    rx.data(1, b"abcdefgh").unwrap();
    rx.fin().unwrap();
    assert_eq!(rx.data_chunks(), vec![(DSN, b"abcd".to_vec())]);
    assert_eq!(
        rx.others(),
        vec![Ev::Discarded(5, 4, DiscardReason::Unmapped)]
    );
    assert_eq!(rx.data(9, b"late"), Err(MappingError::AfterFin));

    // A checksummed mapping cut short by the FIN cannot be verified.
    let mut rx = Rx::new(true);
    rx.map(checksummed(DSN, 1, 8, b"abcdefgh"), false).unwrap();
    rx.data(1, b"abc").unwrap();
    rx.fin().unwrap();
    assert_eq!(
        rx.others(),
        vec![Ev::Discarded(1, 3, DiscardReason::IncompleteMapping)]
    );
}

#[test]
fn rfc8684_s3_3_1_mappings_ahead_of_data_are_bounded() {
    let mut rx = Rx::with_config(MappingConfig {
        max_mappings: 2,
        ..MappingConfig::new(false)
    });
    rx.map(mapping(DSN, 1, 10), false).unwrap();
    rx.map(mapping(DSN + 10, 11, 10), false).unwrap();
    assert_eq!(
        rx.map(mapping(DSN + 20, 21, 10), false),
        Err(MappingError::TooManyMappings { limit: 2 })
    );
}

#[test]
fn rfc8684_s3_3_1_out_of_order_data_is_refused_without_harm() {
    let mut rx = Rx::new(false);
    rx.map(mapping(DSN, 1, 10), false).unwrap();
    assert_eq!(
        rx.data(3, b"cd"),
        Err(MappingError::OutOfOrder {
            expected: 1,
            got: 3
        })
    );
    rx.data(1, b"abcdefghij").unwrap();
    assert_eq!(rx.data_chunks(), vec![(DSN, b"abcdefghij".to_vec())]);
}

#[test]
fn rfc8684_s3_1_mp_capable_data_maps_from_idsn_plus_one() {
    let idsn = crate::crypto::idsn(0x0102030405060708);
    let data = pattern(100);
    let m = mp_capable_mapping(idsn, 100, None);
    assert_eq!(m.ssn, 1);
    let mut rx = Rx::new(false);
    rx.map(m, false).unwrap();
    rx.data(1, &data).unwrap();
    // The DSS mapping that later repeats it with the explicit DSN is the same one.
    rx.map(mapping(idsn + 1, 1, 100), false).unwrap();
    assert_eq!(rx.data_chunks(), vec![(idsn + 1, data)]);
    assert_eq!(rx.rx.stats().mappings_stale, 1);
}

/// One stream, cut into mappings and then into pieces at arbitrary points, must
/// give the same data-level bytes whatever the cuts, with and without checksums,
/// with 32- or 64-bit DSNs, with every mapping repeated on each piece it covers, and
/// with mappings arriving one piece late.
fn check_any_split(
    data: &[u8],
    map_lens: &[usize],
    gaps: &[u64],
    cuts: &[usize],
    checksums: bool,
    dsn32: bool,
    late: bool,
) -> Result<(), TestCaseError> {
    // Mappings: (subflow start, len, dsn), covering the whole stream.
    let mut maps = Vec::new();
    let (mut at, mut dsn) = (0usize, DSN);
    for (i, &len) in map_lens.iter().cycle().enumerate() {
        if at == data.len() {
            break;
        }
        let len = len.min(data.len() - at);
        dsn += gaps[i % gaps.len()];
        maps.push((at, len, dsn));
        at += len;
        dsn += len as u64;
    }
    let wire = |&(start, len, dsn): &(usize, usize, u64)| {
        let m = if checksums {
            checksummed(dsn, start as u32 + 1, len as u16, &data[start..start + len])
        } else {
            mapping(dsn, start as u32 + 1, len as u16)
        };
        if dsn32 {
            DssMapping {
                dsn: SeqField::U32(dsn as u32),
                ..m
            }
        } else {
            m
        }
    };
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.push(0);
    cuts.push(data.len());
    cuts.sort_unstable();
    cuts.dedup();
    let pieces: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();

    // A piece coalescing many segments arrives after all their mappings: room for
    // all of them (the default limit is tested on its own).
    let mut rx = Rx::with_config(MappingConfig {
        max_mappings: maps.len(),
        ..MappingConfig::new(checksums)
    });
    let overlapping = |(p0, p1): (usize, usize)| {
        maps.iter()
            .filter(move |&&(s, l, _)| s < p1 && s + l > p0)
            .copied()
    };
    for (k, &(p0, p1)) in pieces.iter().enumerate() {
        let announce = if late {
            k.checked_sub(1).map(|j| pieces[j])
        } else {
            Some((p0, p1))
        };
        for m in announce.into_iter().flat_map(overlapping) {
            // The data-level RCV.NXT a caller would pass: near the mapping.
            rx.map_ref(wire(&m), false, m.2 - 100)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        rx.data(p0 as u32 + 1, &data[p0..p1])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    if late {
        if let Some(&last) = pieces.last() {
            for m in overlapping(last) {
                rx.map_ref(wire(&m), false, m.2 - 100)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
    }
    let expected: Vec<(u64, Vec<u8>)> = {
        let mut v: Vec<(u64, Vec<u8>)> = Vec::new();
        for &(s, l, d) in &maps {
            match v.last_mut() {
                Some((start, acc)) if *start + acc.len() as u64 == d => {
                    acc.extend_from_slice(&data[s..s + l])
                }
                _ => v.push((d, data[s..s + l].to_vec())),
            }
        }
        v
    };
    prop_assert_eq!(rx.data_chunks(), expected);
    prop_assert_eq!(rx.others(), vec![]);
    prop_assert_eq!(rx.rx.held_bytes(), 0);
    prop_assert_eq!(rx.rx.stats().mappings_completed, maps.len() as u64);
    if checksums {
        prop_assert_eq!(rx.rx.stats().checksums_verified, maps.len() as u64);
    }
    Ok(())
}

proptest! {
    #[test]
    fn rfc8684_s3_3_1_split_and_coalesced_segments_give_the_same_data_level_bytes(
        data in proptest::collection::vec(any::<u8>(), 1..3000),
        map_lens in proptest::collection::vec(1usize..1500, 1..8),
        gaps in proptest::collection::vec(prop_oneof![Just(0u64), 1u64..100_000], 1..4),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        checksums in any::<bool>(),
        dsn32 in any::<bool>(),
        late in any::<bool>(),
    ) {
        check_any_split(&data, &map_lens, &gaps, &cuts, checksums, dsn32, late)?;
    }

    /// Arbitrary mappings and data never panic the receiver, and it never holds
    /// more than its limit after a call returns.
    #[test]
    fn arbitrary_input_never_panics(
        ops in proptest::collection::vec(
            (any::<bool>(), any::<u64>(), 0u32..5000, any::<u16>(), any::<bool>(), 0usize..700),
            0..40,
        ),
        checksums in any::<bool>(),
    ) {
        let mut rx = Rx::with_config(MappingConfig {
            max_held_bytes: 2000,
            max_mappings: 4,
            ..MappingConfig::new(checksums)
        });
        for (is_map, dsn, ssn, len, fin, n) in ops {
            let _ = if is_map {
                let m = DssMapping {
                    dsn: if fin { SeqField::U32(dsn as u32) } else { SeqField::U64(dsn) },
                    ssn,
                    data_level_length: len % 3000,
                    checksum: checksums.then_some(len),
                };
                rx.map_ref(m, fin, dsn)
            } else {
                let next = rx.rx.next_ssn();
                rx.data(next.wrapping_sub(ssn % 50), &pattern(n))
            };
            prop_assert!(rx.rx.held_bytes() <= 2000);
        }
        let _ = rx.fin();
    }
}

#[test]
fn rfc8684_s3_3_1_bytes_whose_mapping_was_lost_give_way_to_the_next_mapping() {
    // A coalescing middlebox merged the only segment of mapping B into the last one
    // of mapping A, keeping A's DSS: B's bytes arrive unmapped, then C's mapping and
    // bytes. B can no longer be mapped; C must not wait for it.
    let data = pattern(300);
    let mut r = Rx::new(false);
    r.map(mapping(DSN, 1, 100), false).unwrap();
    r.data(1, &data[..150]).unwrap();
    assert_eq!(
        r.rx.held_bytes(),
        50,
        "B's bytes wait while nothing follows"
    );
    r.map(mapping(DSN + 150, 151, 150), false).unwrap();
    r.data(151, &data[150..]).unwrap();
    assert_eq!(
        r.data_chunks(),
        vec![
            (DSN, data[..100].to_vec()),
            (DSN + 150, data[150..].to_vec())
        ]
    );
    assert_eq!(
        r.others(),
        vec![Ev::Discarded(101, 50, DiscardReason::Unmapped)]
    );
}

#[test]
fn rfc8684_s3_3_1_a_mapping_of_bytes_before_the_subflows_first_is_a_conflict() {
    // Relative subflow sequence numbers widen near the next byte expected: 2^32 - 256
    // is 256 before the SYN, where no subflow byte lies. The mapping is invalid
    // whether it reaches the subflow's bytes or not.
    for len in [1000, 100] {
        let mut rx = Rx::new(false);
        rx.data(1, b"hello").unwrap();
        assert!(matches!(
            rx.map(mapping(DSN, 0u32.wrapping_sub(256), len), false),
            Err(MappingError::Conflict { .. })
        ));
        assert_eq!(rx.data_chunks(), vec![]);
    }
}

#[test]
fn rfc8684_s3_7_an_infinite_mapping_from_before_the_subflows_first_anchors_at_the_next_byte() {
    // Anchored 4 octets before the SYN (subflow offset 0): subflow byte 1 is 5
    // octets further in the data stream, as for any anchor before the bytes not yet
    // consumed.
    let mut rx = Rx::new(false);
    rx.data(1, b"hello").unwrap();
    rx.map(mapping(DSN, 0u32.wrapping_sub(4), 0), false)
        .unwrap();
    assert_eq!(rx.data_chunks(), vec![(DSN + 5, b"hello".to_vec())]);
    assert_eq!(rx.others(), vec![Ev::Fallback(DSN + 5, 1)]);
}
