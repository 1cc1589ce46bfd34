//! The endpoint's secret and what it derives by keyed hash: RFC 6528 initial sequence
//! numbers, per-connection timestamp offsets, and the parts of SYN cookies (RFC 4987
//! §3.6) that must be unforgeable.
//!
//! The secret is 256 bits drawn once from the endpoint's [`RandomSource`]; the keyed
//! hash is HMAC-SHA256, which the core already has for MPTCP. Each use hashes a domain
//! byte first, so that no value derived for one purpose says anything about another.
//! The 4-tuple is hashed as the local address and port, then the remote ones.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::rng::RandomSource;
use crate::seq::SeqNum;
use crate::time::Instant;

type HmacSha256 = Hmac<Sha256>;

/// RFC 6528 §3: the ISN clock M ticks every 4 microseconds (as RFC 793's did), so an
/// ISN of a 4-tuple advances by 2^32 in about 4.77 hours.
pub const ISN_CLOCK_TICK_MICROS: u64 = 4;

/// What a hash is for: the first byte of every message.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
enum Domain {
    Isn = 1,
    TimestampOffset = 2,
    CookieMask = 3,
    CookieMac = 4,
    CookieMptcpKey = 5,
}

/// The secret, keyed into HMAC-SHA256 once; each hash clones the keyed state.
#[derive(Clone)]
pub struct EndpointSecret {
    keyed: HmacSha256,
}

impl fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.write_str("EndpointSecret(..)")
    }
}

impl EndpointSecret {
    /// A secret drawn from `random`.
    pub fn new(random: &mut dyn RandomSource) -> Self {
        let mut secret = [0u8; 32];
        random.fill_bytes(&mut secret);
        EndpointSecret {
            keyed: HmacSha256::new_from_slice(&secret).expect("HMAC takes any key length"),
        }
    }

    fn hash(
        &self,
        domain: Domain,
        local: SocketAddr,
        remote: SocketAddr,
        extra: &[u8],
    ) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(&[domain as u8]);
        for addr in [local, remote] {
            match addr.ip() {
                IpAddr::V4(ip) => mac.update(&ip.octets()),
                IpAddr::V6(ip) => mac.update(&ip.octets()),
            }
            mac.update(&addr.port().to_be_bytes());
        }
        mac.update(extra);
        mac.finalize().into_bytes().into()
    }

    fn hash_u32(&self, domain: Domain, local: SocketAddr, remote: SocketAddr, extra: &[u8]) -> u32 {
        let digest = self.hash(domain, local, remote, extra);
        u32::from_be_bytes(digest[..4].try_into().expect("4 bytes"))
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
    /// M the 4-microsecond clock at `now`. Unpredictable off-path, distinct per
    /// 4-tuple, and increasing with time for one 4-tuple, so that a new incarnation
    /// of a connection starts above the old one's sequence numbers.
    pub fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNum {
        let clock = (now.as_micros() / ISN_CLOCK_TICK_MICROS) as u32;
        SeqNum(clock.wrapping_add(self.hash_u32(Domain::Isn, local, remote, &[])))
    }

    /// The offset added to the millisecond clock in this connection's TSvals
    /// (RFC 7323 §7.1): random-looking per connection, and the same whenever the
    /// 4-tuple is the same, so a connection made from a SYN cookie finds the offset
    /// its SYN-ACK used, and a new incarnation of the 4-tuple keeps TSvals increasing.
    pub fn timestamp_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        self.hash_u32(Domain::TimestampOffset, local, remote, &[])
    }

    /// A SYN cookie's mask: added to the cookie's fields so that the ISN a cookie
    /// SYN-ACK carries looks as random as any other and shows neither clock nor MSS.
    pub fn cookie_mask(&self, local: SocketAddr, remote: SocketAddr, peer_isn: SeqNum) -> u32 {
        self.hash_u32(Domain::CookieMask, local, remote, &peer_isn.0.to_be_bytes())
    }

    /// A SYN cookie's MAC over the SYN it answers (4-tuple and the peer's ISN), the
    /// time period it was made in and the fields it carries.
    pub fn cookie_mac(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: SeqNum,
        period: u64,
        fields: u8,
    ) -> u32 {
        let mut extra = [0u8; 13];
        extra[..4].copy_from_slice(&peer_isn.0.to_be_bytes());
        extra[4..12].copy_from_slice(&period.to_be_bytes());
        extra[12] = fields;
        self.hash_u32(Domain::CookieMac, local, remote, &extra)
    }

    /// The MPTCP key a listener announces in a cookie SYN-ACK, its `attempt`-th
    /// choice (a key whose token is taken is replaced by the next): a function of the
    /// cookie, so that the third ACK's echo of it can be checked without state, and
    /// unpredictable as RFC 8684 §2.1 wants without the secret.
    pub fn cookie_mptcp_key(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        cookie: SeqNum,
        attempt: u8,
    ) -> u64 {
        let mut extra = [0u8; 5];
        extra[..4].copy_from_slice(&cookie.0.to_be_bytes());
        extra[4] = attempt;
        let digest = self.hash(Domain::CookieMptcpKey, local, remote, &extra);
        u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rfc6528_s3_isns_differ_per_4_tuple_and_advance_with_the_clock() {
        let secret = EndpointSecret::new(&mut SeededRng::new(1));
        let (a, b) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let t = Instant::from_millis(5_000);
        let isn = secret.isn(t, a, b);
        // Another 4-tuple, even one port apart or the reverse direction: unrelated.
        for (l, r) in [
            (addr("10.0.0.1:40001"), b),
            (b, a),
            (a, addr("10.0.0.3:80")),
        ] {
            assert_ne!(secret.isn(t, l, r), isn, "{l} -> {r}");
        }
        // The same 4-tuple later: the 4-microsecond clock moved on by as much.
        let later = t + crate::time::Duration::from_millis(1);
        assert_eq!(secret.isn(later, a, b).0.wrapping_sub(isn.0), 250);
        // Another secret (another endpoint, another boot): another ISN.
        let other = EndpointSecret::new(&mut SeededRng::new(2));
        assert_ne!(other.isn(t, a, b), isn);
    }

    #[test]
    fn timestamp_offsets_are_per_4_tuple_and_stable() {
        let secret = EndpointSecret::new(&mut SeededRng::new(1));
        let (a, b) = (addr("[2001:db8::1]:40000"), addr("[2001:db8::2]:443"));
        assert_eq!(secret.timestamp_offset(a, b), secret.timestamp_offset(a, b));
        assert_ne!(
            secret.timestamp_offset(a, b),
            secret.timestamp_offset(addr("[2001:db8::1]:40001"), b)
        );
        assert_ne!(
            secret.timestamp_offset(a, b),
            secret.isn(Instant::ZERO, a, b).0
        );
    }

    #[test]
    fn the_secret_is_not_printed() {
        let secret = EndpointSecret::new(&mut SeededRng::new(1));
        assert_eq!(format!("{secret:?}"), "EndpointSecret(..)");
    }
}
