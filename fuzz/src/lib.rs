//! The checks behind the fuzz targets in `fuzz_targets/`.
//!
//! The stable test `crates/braid/tests/decode_never_panics.rs` includes this file with
//! `#[path]`, so the fuzzers and the normal test suite drive the same pipeline. Each
//! function panics when a property fails, which is how libFuzzer and proptest see it:
//!
//! - nothing panics on any input (docs/design.md: input from the network never causes a
//!   panic);
//! - every option that parses emits `buffer_len()` octets, as many as it was parsed from,
//!   and those octets parse back to an equal option: `parse(emit(x)) == x`;
//! - a block of the options that parsed, emitted with `emit_options` or packed with
//!   `pack_options`, parses back to those options.

use braid::capture::{decode, describe, CaptureReader, ConnectionTracker, Decoded, Segment};
use braid_proto::wire::mptcp::{MptcpOption, OPTION_KIND};
use braid_proto::wire::option_packer::pack_options;
use braid_proto::wire::tcp_option::{emit_options, kind, TcpOption, TcpOptions};
use braid_proto::wire::TCP_MAX_OPTIONS_LEN;

/// Fuzz target `packet`: one IP packet, alone in its capture.
pub fn check_lone_packet(ip: &[u8]) {
    let mut tracker = ConnectionTracker::new();
    check_packet(ip, 1, &mut tracker);
    check_report(tracker);
}

/// One IP packet (from the first byte of its IP header) through `decode`, the option
/// checks, every renderer, and `tracker` as frame `frame` (1-based).
pub fn check_packet(ip: &[u8], frame: u64, tracker: &mut ConnectionTracker) {
    let Ok(Decoded::Tcp(segment)) = decode(ip) else {
        return;
    };
    check_option_block(segment.tcp.options);
    render(&segment);
    tracker.add(frame, &segment);
}

/// Ends a tracker's capture and renders the report as `braid pcap --connections --json` does.
pub fn check_report(tracker: ConnectionTracker) {
    let report = tracker.finish();
    serde_json::to_string(&report).expect("a connection report serializes to JSON");
}

/// Fuzz target `mptcp_option`: `body` is what follows the kind (30) and length octets.
pub fn check_mptcp_body(body: &[u8]) {
    let Ok(len) = u8::try_from(body.len() + 2) else {
        return;
    };
    let mut bytes = Vec::with_capacity(body.len() + 2);
    bytes.extend_from_slice(&[OPTION_KIND, len]);
    bytes.extend_from_slice(body);
    let parsed = MptcpOption::parse(&bytes);
    // The TCP option walk reads kind 30 with the same parser.
    let walked = TcpOptions::new(&bytes).next().expect("one option");
    match (&parsed, walked) {
        (Ok(option), Ok(TcpOption::Mptcp(walked))) => assert_eq!(*option, walked),
        (Err(_), Err(_)) => {}
        (parsed, walked) => panic!("MptcpOption::parse gave {parsed:?}, TcpOptions {walked:?}"),
    }
    if let Ok(option) = parsed {
        check_mptcp_option(&option, &bytes);
    }
}

/// Fuzz target `capture_file`: a whole pcap or pcapng file, every packet of it through
/// [`check_packet`] with one tracker.
pub fn check_capture(bytes: &[u8]) {
    let Ok(mut reader) = CaptureReader::new(bytes) else {
        return;
    };
    let _ = reader.format();
    let mut tracker = ConnectionTracker::new();
    let mut next_index = 0;
    for packet in reader.by_ref() {
        let Ok(packet) = packet else {
            continue;
        };
        assert!(!packet.ip.is_empty(), "CapturedPacket::ip is never empty");
        assert!(packet.index >= next_index, "frame indexes increase");
        next_index = packet.index + 1;
        check_packet(&packet.ip, packet.index + 1, &mut tracker);
    }
    assert!(reader.next().is_none(), "the reader is fused");
    assert!(reader.frames_read() >= next_index);
    assert!(reader.skipped().total() <= reader.frames_read());
    check_report(tracker);
}

/// Octets the option at the start of `rest` spans, if its framing is sound (what
/// `TcpOptions` relies on to go on after an option it cannot read).
fn framed_len(rest: &[u8]) -> Option<usize> {
    match rest[0] {
        kind::END_OF_LIST => Some(rest.len()),
        kind::NO_OPERATION => Some(1),
        _ => rest
            .get(1)
            .map(|&len| usize::from(len))
            .filter(|&len| len >= 2 && len <= rest.len()),
    }
}

/// Walks a TCP option block and checks every option that parses, then the block.
pub fn check_option_block(block: &[u8]) {
    let mut parsed = Vec::new();
    let mut rest = block;
    let mut items = TcpOptions::new(block);
    while let Some(item) = items.next() {
        let Some(len) = framed_len(rest) else {
            assert!(item.is_err(), "broken framing parsed: {item:?}");
            assert!(
                items.next().is_none(),
                "the walk goes on after broken framing"
            );
            rest = &[];
            break;
        };
        if let Ok(option) = item {
            check_option(&option, &rest[..len]);
            parsed.push(option);
        }
        rest = &rest[len..];
    }
    assert!(rest.is_empty(), "the walk stopped early");
    check_emit_options(&parsed, block.len());
    check_pack_options(&parsed);
}

/// `option` parsed from exactly `original`: emit it and parse it back.
fn check_option(option: &TcpOption<'_>, original: &[u8]) {
    let len = option.buffer_len();
    // Exactly `buffer_len()` octets: an emit that writes more panics here.
    let mut buf = vec![0u8; len];
    assert_eq!(
        option.emit(&mut buf),
        len,
        "emit returns buffer_len: {option:?}"
    );
    if *option != TcpOption::EndOfList {
        // EOL spans the rest of the block when read, and emits one octet.
        assert_eq!(
            len,
            original.len(),
            "{option:?} emits another length than it came from"
        );
    }
    let mut again = TcpOptions::new(&buf);
    assert_eq!(
        again.next(),
        Some(Ok(*option)),
        "parse(emit(x)) != x: emitted {buf:02x?} from {original:02x?}"
    );
    assert_eq!(again.next(), None, "one option emitted, more parsed");
    if let TcpOption::Mptcp(m) = option {
        check_mptcp_option(m, original);
    }
}

/// `option` parsed from exactly `original`: emit it, parse it back, render it.
fn check_mptcp_option(option: &MptcpOption<'_>, original: &[u8]) {
    let len = option.buffer_len();
    let mut buf = vec![0u8; len];
    assert_eq!(
        option.emit(&mut buf),
        len,
        "emit returns buffer_len: {option:?}"
    );
    assert_eq!(
        len,
        original.len(),
        "{option:?} emits another length than it came from"
    );
    assert_eq!(
        MptcpOption::parse(&buf),
        Ok(*option),
        "parse(emit(x)) != x: emitted {buf:02x?} from {original:02x?}"
    );
    assert_eq!(option.subtype(), original[2] >> 4, "subtype of {option:?}");
    render_mptcp(option);
}

/// The options that parsed from a block, emitted together, parse back in order.
fn check_emit_options(parsed: &[TcpOption<'_>], block_len: usize) {
    // Each option emits as many octets as it was read from (EOL: 1), plus padding.
    let mut buf = vec![0u8; block_len.next_multiple_of(4)];
    let len = emit_options(parsed, &mut buf);
    assert!(len % 4 == 0, "emit_options gave {len} octets");
    let again: Vec<_> = TcpOptions::new(&buf[..len])
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("re-emitted block {:02x?} is malformed: {e}", &buf[..len]));
    assert_eq!(
        again[..parsed.len()],
        *parsed,
        "re-emitted block reads otherwise"
    );
    // Padding reads as one End of Option List.
    assert!(matches!(again[parsed.len()..], [] | [TcpOption::EndOfList]));
}

/// The options that parsed from a block, packed by `pack_options`, parse back as the
/// ones it says it kept, in order, with SACK blocks possibly trimmed.
fn check_pack_options(parsed: &[TcpOption<'_>]) {
    let options: Vec<_> = parsed
        .iter()
        .copied()
        .filter(|o| !matches!(o, TcpOption::NoOperation | TcpOption::EndOfList))
        .collect();
    if options.len() > 64 {
        return; // pack_options takes at most 64; a TCP header holds at most 20.
    }
    let mut buf = [0u8; TCP_MAX_OPTIONS_LEN];
    let outcome = pack_options(&options, TCP_MAX_OPTIONS_LEN, &mut buf);
    assert!(outcome.len % 4 == 0 && outcome.len <= TCP_MAX_OPTIONS_LEN);
    let packed = &buf[..outcome.len];
    let again: Vec<_> = TcpOptions::new(packed)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("packed block {packed:02x?} is malformed: {e}"))
        .into_iter()
        .filter(|o| *o != TcpOption::NoOperation)
        .collect();
    let kept: Vec<_> = options
        .iter()
        .enumerate()
        .filter(|(i, _)| outcome.not_fitted & (1 << i) == 0)
        .map(|(_, o)| *o)
        .collect();
    assert_eq!(again.len(), kept.len(), "packed {again:?}, kept {kept:?}");
    for (got, want) in again.iter().zip(&kept) {
        match (got, want) {
            (TcpOption::Sack(got), TcpOption::Sack(want)) => {
                assert!(
                    want.as_slice().starts_with(got.as_slice()),
                    "SACK trimmed badly"
                );
            }
            _ => assert_eq!(got, want, "packed block reads otherwise"),
        }
    }
}

/// Every renderer of `braid pcap`, for a segment.
fn render(segment: &Segment<'_>) {
    let _ = segment.flags_text();
    let _ = segment.terse();
    let json = segment.to_json();
    serde_json::to_string(&json).expect("a segment serializes to JSON");
    for option in segment.mptcp_options() {
        render_mptcp(&option);
    }
}

/// Every renderer of `braid pcap`, for an MPTCP option.
fn render_mptcp(option: &MptcpOption<'_>) {
    let _ = option.name();
    let _ = describe::stage(option);
    for (_, value) in describe::fields(option) {
        let _ = value.to_string();
        let _ = value.to_json();
    }
    let _ = describe::terse(option);
    serde_json::to_string(&describe::to_json(option)).expect("an option serializes to JSON");
}
