use thiserror::Error;

/// Why bytes could not be read as the header or option they were meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    /// The buffer ends before the structure does.
    #[error("truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    /// A length field disagrees with the structure or with the buffer around it.
    #[error("bad length {length} for {what}")]
    BadLength { what: &'static str, length: usize },
    /// A field holds a value the format does not allow.
    #[error("malformed {what}")]
    Malformed { what: &'static str },
    /// The IP version nibble is neither 4 nor 6.
    #[error("unknown IP version {0}")]
    UnknownIpVersion(u8),
    /// A checksum does not match the data it covers: the bytes were corrupted.
    #[error("bad {what} checksum")]
    BadChecksum { what: &'static str },
}
