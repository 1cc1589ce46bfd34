//! How a connection carries its stream: still negotiating MPTCP, MPTCP proper with
//! both keys, or fallen back to plain TCP (RFC 8684 §3.1, §3.7).
//!
//! Ending is tracked apart, by [`Lifecycle`](super::lifecycle::Lifecycle): a closed
//! connection's subflows still send (ACKs from TIME-WAIT, RSTs carrying
//! MP_FASTCLOSE), and what those carry depends on the state it was in.

/// Where the connection is at the data level, for code outside the MPTCP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// MP_CAPABLE sent or received; the peer's key is not known yet.
    Handshake,
    /// Keys exchanged: MPTCP proper.
    Established,
    /// Plain TCP on one subflow (§3.7).
    Fallback,
}

/// Why a connection fell back to plain TCP (§3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackCause {
    /// The SYN-ACK or the third ACK carried no MP_CAPABLE.
    NoMpCapable,
    /// Segments stopped carrying MPTCP options, or data arrived without a mapping.
    NoDss,
    /// A DSS checksum failed on the only subflow (MP_FAIL, then the infinite mapping).
    Checksum,
    /// The peer sent the infinite mapping.
    InfiniteMapping,
    /// Our MP_CAPABLE SYNs went unanswered: the next SYNs went without it
    /// ([`MptcpConfig::syn_retransmissions_before_fallback`](crate::mptcp::MptcpConfig::syn_retransmissions_before_fallback)).
    SynUnanswered,
}

/// How far the client's key has got to the server (RFC 8684 §3.1): the third ACK
/// carries both keys, and the client repeats them until the server shows it has
/// them. A server has them from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyEcho {
    /// The third ACK has not gone out yet.
    Unsent,
    /// It went out; the server has not shown it got it (no DSS or ADD_ADDR yet).
    Sent,
    /// The server showed it has the keys.
    Acked,
}

/// The connection's state, each variant with what is known in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    Handshake,
    Established {
        remote_key: u64,
        /// Whether the server has our key: until then the client repeats the third
        /// ACK's MP_CAPABLE (§3.1) and opens no subflow.
        key_echo: KeyEcho,
    },
    Fallback {
        cause: FallbackCause,
        /// The peer's key, if MPTCP was established before the fallback.
        remote_key: Option<u64>,
    },
}

impl ConnState {
    pub(crate) fn phase(&self) -> Phase {
        match self {
            ConnState::Handshake => Phase::Handshake,
            ConnState::Established { .. } => Phase::Established,
            ConnState::Fallback { .. } => Phase::Fallback,
        }
    }

    pub(crate) fn remote_key(&self) -> Option<u64> {
        match *self {
            ConnState::Handshake => None,
            ConnState::Established { remote_key, .. } => Some(remote_key),
            ConnState::Fallback { remote_key, .. } => remote_key,
        }
    }

    pub(crate) fn is_established(&self) -> bool {
        matches!(self, ConnState::Established { .. })
    }

    pub(crate) fn is_fallback(&self) -> bool {
        matches!(self, ConnState::Fallback { .. })
    }

    /// Whether the peer is known to have our key: established, and (for a client)
    /// the server showed it.
    pub(crate) fn keys_acked(&self) -> bool {
        self.key_echo() == Some(KeyEcho::Acked)
    }

    pub(crate) fn key_echo(&self) -> Option<KeyEcho> {
        match *self {
            ConnState::Established { key_echo, .. } => Some(key_echo),
            _ => None,
        }
    }

    /// The key echo moved on (no effect unless established).
    pub(crate) fn set_key_echo(&mut self, echo: KeyEcho) {
        if let ConnState::Established { key_echo, .. } = self {
            *key_echo = echo;
        }
    }

    /// Falls back, keeping the key if there was one. Returns whether it was
    /// established before (the peer's bytes then keep their mappings until it falls
    /// back too).
    pub(crate) fn fall_back(&mut self, cause: FallbackCause) -> bool {
        let was_established = self.is_established();
        *self = ConnState::Fallback {
            cause,
            remote_key: self.remote_key(),
        };
        was_established
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8684_s3_7_falling_back_keeps_the_key_of_an_established_connection() {
        let mut s = ConnState::Established {
            remote_key: 7,
            key_echo: KeyEcho::Acked,
        };
        assert!(s.fall_back(FallbackCause::NoDss));
        assert_eq!(s.phase(), Phase::Fallback);
        assert_eq!(s.remote_key(), Some(7));
        assert!(!s.is_established(), "no MPTCP signalling after fallback");
        assert!(!s.keys_acked());
    }

    #[test]
    fn rfc8684_s3_1_falling_back_during_the_handshake_knows_no_key() {
        let mut s = ConnState::Handshake;
        assert!(!s.fall_back(FallbackCause::NoMpCapable));
        assert_eq!(
            s,
            ConnState::Fallback {
                cause: FallbackCause::NoMpCapable,
                remote_key: None
            }
        );
    }
}
