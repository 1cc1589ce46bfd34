//! MPTCP's cryptography, RFC 8684 §3.1, §3.2, §3.4.1 with HMAC-SHA256 (the H flag).
//!
//! Keys are 64-bit numbers, written big-endian wherever they are hashed. The host
//! that computes an HMAC always puts its own key first: the HMAC key is
//! `sender's key || receiver's key`, and for MP_JOIN the message is
//! `sender's nonce || receiver's nonce`.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::wire::mptcp::JOIN_ACK_HMAC_LEN;
use crate::wire::Checksum;

type HmacSha256 = Hmac<Sha256>;

/// What a key determines: the connection's token and initial data sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDerived {
    /// The SHA-256 hash of the key truncated to its most significant 32 bits (RFC 8684
    /// §3.1, §3.2).
    pub token: u32,
    /// The SHA-256 hash of the key truncated to its least significant 64 bits (RFC 8684
    /// §3.1).
    pub idsn: u64,
}

impl KeyDerived {
    pub fn new(key: u64) -> Self {
        let digest = Sha256::digest(key.to_be_bytes());
        let token = u32::from_be_bytes(digest[..4].try_into().expect("4 bytes"));
        let idsn = u64::from_be_bytes(digest[24..].try_into().expect("8 bytes"));
        KeyDerived { token, idsn }
    }
}

/// The token that identifies, to its peer, the connection of the host holding `key`.
pub fn token(key: u64) -> u32 {
    KeyDerived::new(key).token
}

/// The initial data sequence number of the data `key`'s holder sends. The first
/// octet of data is numbered `idsn + 1` (RFC 8684 §3.3.1).
pub fn idsn(key: u64) -> u64 {
    KeyDerived::new(key).idsn
}

fn hmac(sender_key: u64, receiver_key: u64, message: &[&[u8]]) -> [u8; 32] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&sender_key.to_be_bytes());
    key[8..].copy_from_slice(&receiver_key.to_be_bytes());
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts any key length");
    for part in message {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The full HMAC of an MP_JOIN handshake message, computed by its sender.
pub fn join_hmac(
    sender_key: u64,
    receiver_key: u64,
    sender_nonce: u32,
    receiver_nonce: u32,
) -> [u8; 32] {
    hmac(
        sender_key,
        receiver_key,
        &[&sender_nonce.to_be_bytes(), &receiver_nonce.to_be_bytes()],
    )
}

/// The MP_JOIN SYN-ACK's truncated HMAC, sent by the host that received the SYN
/// (B): HMAC(Key-B || Key-A, R-B || R-A), leftmost 64 bits (RFC 8684 §3.2).
pub fn join_syn_ack_hmac(
    sender_key: u64,
    receiver_key: u64,
    sender_nonce: u32,
    receiver_nonce: u32,
) -> u64 {
    let full = join_hmac(sender_key, receiver_key, sender_nonce, receiver_nonce);
    u64::from_be_bytes(full[..8].try_into().expect("8 bytes"))
}

/// The MP_JOIN third ACK's HMAC, sent by the subflow's initiator (A):
/// HMAC(Key-A || Key-B, R-A || R-B), leftmost 160 bits (RFC 8684 §3.2).
pub fn join_ack_hmac(
    sender_key: u64,
    receiver_key: u64,
    sender_nonce: u32,
    receiver_nonce: u32,
) -> [u8; JOIN_ACK_HMAC_LEN] {
    let full = join_hmac(sender_key, receiver_key, sender_nonce, receiver_nonce);
    full[..JOIN_ACK_HMAC_LEN].try_into().expect("20 bytes")
}

/// The ADD_ADDR truncated HMAC (RFC 8684 §3.4.1): keyed with the announcer's key
/// first, over address id, address and port ("if the port is not present ... two
/// octets of value zero"), rightmost 64 bits.
pub fn add_addr_hmac(
    sender_key: u64,
    receiver_key: u64,
    addr_id: u8,
    addr: IpAddr,
    port: Option<u16>,
) -> u64 {
    let port = port.unwrap_or(0).to_be_bytes();
    let full = match addr {
        IpAddr::V4(a) => hmac(sender_key, receiver_key, &[&[addr_id], &a.octets(), &port]),
        IpAddr::V6(a) => hmac(sender_key, receiver_key, &[&[addr_id], &a.octets(), &port]),
    };
    u64::from_be_bytes(full[24..].try_into().expect("8 bytes"))
}

/// The DSS checksum of a mapping (RFC 8684 §3.3.1): the Internet checksum of a
/// pseudo-header (the full 64-bit DSN, the relative subflow sequence number, the
/// data-level length and 16 zero bits) followed by the mapped payload, which may arrive
/// in several pieces when the mapping spans segments.
pub fn dss_checksum<'p>(
    dsn: u64,
    ssn: u32,
    data_level_length: u16,
    payload: impl IntoIterator<Item = &'p [u8]>,
) -> u16 {
    let pseudo_header = Checksum::new()
        .add_u64(dsn)
        .add_u32(ssn)
        .add_u16(data_level_length)
        .add_u16(0);
    payload
        .into_iter()
        .fold(pseudo_header, Checksum::add_bytes)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// The worked example of docs/design.md, checked against Linux's own derivation.
    #[test]
    fn rfc8684_s3_1_token_and_idsn_from_key() {
        let k = KeyDerived::new(0x0102030405060708);
        assert_eq!(k.token, 0x66840dda);
        assert_eq!(k.idsn, 0xf5a101d3d29d6f72);
        assert_eq!(token(0x0102030405060708), k.token);
        assert_eq!(idsn(0x0102030405060708), k.idsn);
    }

    #[test]
    fn rfc8684_s3_2_join_hmacs_are_prefixes_of_one_hmac_with_keys_in_sender_order() {
        let (key_a, key_b, r_a, r_b) = (
            0x1111_2222_3333_4444,
            0x5555_6666_7777_8888,
            0xaabbccdd,
            0x01020304,
        );
        let ack = join_ack_hmac(key_a, key_b, r_a, r_b);
        assert_eq!(ack[..], join_hmac(key_a, key_b, r_a, r_b)[..20]);
        let syn_ack = join_syn_ack_hmac(key_b, key_a, r_b, r_a);
        assert_eq!(
            syn_ack.to_be_bytes()[..],
            join_hmac(key_b, key_a, r_b, r_a)[..8]
        );
        // Swapping roles changes the HMAC: each side proves knowledge in its own order.
        assert_ne!(ack[..8], syn_ack.to_be_bytes()[..]);
    }

    #[test]
    fn rfc8684_s3_4_1_add_addr_hmac_covers_absent_port_as_zero() {
        let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(
            add_addr_hmac(1, 2, 3, addr, None),
            add_addr_hmac(1, 2, 3, addr, Some(0))
        );
        assert_ne!(
            add_addr_hmac(1, 2, 3, addr, None),
            add_addr_hmac(1, 2, 3, addr, Some(10100))
        );
        assert_ne!(
            add_addr_hmac(1, 2, 3, addr, None),
            add_addr_hmac(2, 1, 3, addr, None)
        );
    }
}
