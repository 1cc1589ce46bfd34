//! What the MPTCP handshakes read from a segment (RFC 8684 §3.1, §3.2): the keys of
//! MP_CAPABLE, and MP_JOIN's HMACs checked against the keys and nonces.

use crate::crypto;
use crate::mptcp::options::SegmentOptions;
use crate::wire::mptcp::{MpCapableVariant, MpJoin, JOIN_ACK_HMAC_LEN};

/// The connection's keys, as MP_JOIN's HMACs need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keys {
    pub local: u64,
    pub remote: u64,
}

/// What an MP_CAPABLE SYN-ACK tells the initiator (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CapableSynAck {
    pub key: u64,
    /// The A flag: the listener wants DSS checksums.
    pub checksums: bool,
    /// The C flag: the listener takes no subflow to the address and port the
    /// SYN-ACK came from (the first subflow's).
    pub no_joins_to_source: bool,
}

/// The MP_CAPABLE of a SYN-ACK; `None` when it has none, which means plain TCP.
pub(crate) fn syn_ack_capable(options: &SegmentOptions) -> Option<CapableSynAck> {
    let capable = options.capable?;
    match capable.variant {
        MpCapableVariant::SynAck { sender_key } => Some(CapableSynAck {
            key: sender_key,
            checksums: capable.flags.checksum_required(),
            no_joins_to_source: capable.flags.no_more_subflows(),
        }),
        _ => None,
    }
}

/// The client's key from an MP_CAPABLE third ACK (or first data) that echoes ours
/// (§3.1); `None` when it does not, which means plain TCP.
pub(crate) fn third_ack_key(options: &SegmentOptions, local_key: u64) -> Option<u64> {
    let (sender_key, receiver_key) = options.capable_variant()?.keys()?;
    (receiver_key == local_key).then_some(sender_key)
}

/// What a verified MP_JOIN SYN-ACK tells the initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JoinSynAck {
    pub backup: bool,
    /// The peer's address id for the subflow's remote address.
    pub addr_id: u8,
    /// The HMAC our third ACK carries.
    pub third_ack_hmac: [u8; JOIN_ACK_HMAC_LEN],
}

/// Checks an MP_JOIN SYN-ACK (§3.2): its truncated HMAC must be HMAC(Key-B ||
/// Key-A, R-B || R-A), the peer being B. `None` when it is missing or wrong.
pub(crate) fn verify_join_syn_ack(
    options: &SegmentOptions,
    keys: Keys,
    local_nonce: u32,
) -> Option<JoinSynAck> {
    let MpJoin::SynAck {
        backup,
        addr_id,
        truncated_hmac,
        nonce,
    } = options.join?
    else {
        return None;
    };
    let expected = crypto::join_syn_ack_hmac(keys.remote, keys.local, nonce, local_nonce);
    (expected == truncated_hmac).then(|| JoinSynAck {
        backup,
        addr_id,
        third_ack_hmac: crypto::join_ack_hmac(keys.local, keys.remote, local_nonce, nonce),
    })
}

/// Checks the third ACK of a join we answered (§3.2): HMAC(Key-A || Key-B, R-A ||
/// R-B), the peer being A, in full.
pub(crate) fn verify_join_third_ack(
    options: &SegmentOptions,
    keys: Keys,
    peer_nonce: u32,
    local_nonce: u32,
) -> bool {
    let expected = crypto::join_ack_hmac(keys.remote, keys.local, peer_nonce, local_nonce);
    matches!(options.join, Some(MpJoin::Ack { hmac }) if hmac == expected)
}

/// The truncated HMAC of our SYN-ACK to a join (§3.2): HMAC(Key-B || Key-A, R-B ||
/// R-A), we being B.
pub(crate) fn join_syn_ack_hmac(keys: Keys, local_nonce: u32, peer_nonce: u32) -> u64 {
    crypto::join_syn_ack_hmac(keys.local, keys.remote, local_nonce, peer_nonce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mptcp::{MpCapable, MpCapableFlags};

    const A: Keys = Keys {
        local: 0x1111,
        remote: 0x2222,
    };
    /// The same connection seen from the other host.
    const B: Keys = Keys {
        local: 0x2222,
        remote: 0x1111,
    };

    #[test]
    fn rfc8684_s3_2_join_hmacs_verify_between_the_two_hosts() {
        // A joins with nonce 7; B answers with nonce 9.
        let syn_ack = SegmentOptions {
            join: Some(MpJoin::SynAck {
                backup: true,
                addr_id: 3,
                truncated_hmac: join_syn_ack_hmac(B, 9, 7),
                nonce: 9,
            }),
            ..SegmentOptions::default()
        };
        let verified = verify_join_syn_ack(&syn_ack, A, 7).expect("B's HMAC verifies");
        assert!(verified.backup);
        assert_eq!(verified.addr_id, 3);
        let third_ack = SegmentOptions {
            join: Some(MpJoin::Ack {
                hmac: verified.third_ack_hmac,
            }),
            ..SegmentOptions::default()
        };
        assert!(verify_join_third_ack(&third_ack, B, 7, 9));
        assert!(!verify_join_third_ack(&third_ack, B, 7, 10), "other nonce");
    }

    #[test]
    fn rfc8684_s3_2_a_wrong_or_missing_join_hmac_fails() {
        let mut syn_ack = SegmentOptions {
            join: Some(MpJoin::SynAck {
                backup: false,
                addr_id: 0,
                truncated_hmac: join_syn_ack_hmac(B, 9, 7) ^ 1,
                nonce: 9,
            }),
            ..SegmentOptions::default()
        };
        assert_eq!(verify_join_syn_ack(&syn_ack, A, 7), None);
        syn_ack.join = None;
        assert_eq!(verify_join_syn_ack(&syn_ack, A, 7), None);
        assert!(!verify_join_third_ack(&syn_ack, B, 7, 9));
    }

    #[test]
    fn rfc8684_s3_1_the_third_ack_must_echo_our_key() {
        let third_ack = |receiver_key| SegmentOptions {
            capable: Some(MpCapable {
                flags: MpCapableFlags(MpCapableFlags::HMAC_SHA256),
                variant: MpCapableVariant::Ack {
                    sender_key: 5,
                    receiver_key,
                },
            }),
            ..SegmentOptions::default()
        };
        assert_eq!(third_ack_key(&third_ack(9), 9), Some(5));
        assert_eq!(third_ack_key(&third_ack(8), 9), None);
        assert_eq!(syn_ack_capable(&third_ack(9)), None, "not a SYN-ACK");
    }

    #[test]
    fn rfc8684_s3_1_the_syn_ack_flags_a_and_c_are_read() {
        let syn_ack = |flags| SegmentOptions {
            capable: Some(MpCapable {
                flags: MpCapableFlags(MpCapableFlags::HMAC_SHA256 | flags),
                variant: MpCapableVariant::SynAck { sender_key: 5 },
            }),
            ..SegmentOptions::default()
        };
        let plain = syn_ack_capable(&syn_ack(0)).unwrap();
        assert_eq!(plain.key, 5);
        assert!(!plain.checksums && !plain.no_joins_to_source);
        let a = syn_ack_capable(&syn_ack(MpCapableFlags::CHECKSUM_REQUIRED)).unwrap();
        assert!(a.checksums && !a.no_joins_to_source);
        let c = syn_ack_capable(&syn_ack(MpCapableFlags::NO_MORE_SUBFLOWS)).unwrap();
        assert!(!c.checksums && c.no_joins_to_source);
    }
}
