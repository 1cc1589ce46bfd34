//! Writing segments as IP packets.

use std::net::SocketAddr;

use super::SegmentOut;
use crate::seq::SeqNum;
use crate::wire::option_packer::pack_options;
use crate::wire::tcp_option::TcpOption;
use crate::wire::{
    ip_protocol, IpRepr, TcpFlags, TcpRepr, TcpSegment, TCP_MAX_OPTIONS_LEN, TCP_MIN_HEADER_LEN,
};

/// Writes IP + TCP headers, `options` packed, and the segment's payload.
pub fn emit_segment(
    buf: &mut [u8],
    src: SocketAddr,
    dst: SocketAddr,
    seg: &SegmentOut<'_>,
    options: &[TcpOption<'_>],
) -> usize {
    let mut option_bytes = [0u8; TCP_MAX_OPTIONS_LEN];
    let packed = pack_options(options, TCP_MAX_OPTIONS_LEN, &mut option_bytes);
    let tcp_len = TCP_MIN_HEADER_LEN + packed.len + seg.payload_len();
    let ip = IpRepr::new(src.ip(), dst.ip(), ip_protocol::TCP, tcp_len);
    let ip_len = ip.buffer_len();
    ip.emit(buf);
    let tcp_buf = &mut buf[ip_len..ip_len + tcp_len];
    let header_len = TCP_MIN_HEADER_LEN + packed.len;
    {
        let (a, b) = (seg.payload[0], seg.payload[1]);
        tcp_buf[header_len..header_len + a.len()].copy_from_slice(a);
        tcp_buf[header_len + a.len()..header_len + a.len() + b.len()].copy_from_slice(b);
    }
    let mut t = TcpSegment::new_unchecked(tcp_buf);
    t.set_src_port(src.port());
    t.set_dst_port(dst.port());
    t.set_seq_number(seg.seq.0);
    t.set_ack_number(seg.ack.0);
    t.set_header_len(header_len);
    t.set_flags(seg.flags);
    t.set_window(seg.window);
    t.set_urgent_ptr(0);
    t.options_mut().copy_from_slice(&option_bytes[..packed.len]);
    t.fill_checksum(src.ip(), dst.ip());
    ip_len + tcp_len
}

/// A segment of no connection (a RST), with `options` (MP_TCPRST, say).
pub fn emit_control(
    buf: &mut [u8],
    src: SocketAddr,
    dst: SocketAddr,
    seq: SeqNum,
    ack: SeqNum,
    flags: TcpFlags,
    options: &[TcpOption<'_>],
) -> usize {
    let mut option_bytes = [0u8; TCP_MAX_OPTIONS_LEN];
    let packed = pack_options(options, TCP_MAX_OPTIONS_LEN, &mut option_bytes);
    let repr = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq_number: seq.0,
        ack_number: ack.0,
        flags,
        window: 0,
        urgent_ptr: 0,
        options: &option_bytes[..packed.len],
        payload: &[],
    };
    let ip = IpRepr::new(src.ip(), dst.ip(), ip_protocol::TCP, repr.buffer_len());
    let ip_len = ip.buffer_len();
    ip.emit(buf);
    repr.emit(&mut buf[ip_len..], src.ip(), dst.ip());
    ip_len + repr.buffer_len()
}
