//! Keys and tokens of the local end's MPTCP connections (RFC 8684 §3.1, §3.2).
//!
//! Each connection has a 64-bit key; its token (the top 32 bits of SHA-256 of the key)
//! is how MP_JOIN SYNs name the connection. RFC 8684 §3.1 asks that a host not use a
//! key whose token already names one of its connections: [`TokenTable::new_key`]
//! draws keys from the endpoint's generator until the token is free, within a bounded
//! number of tries, and registers it. A listener does so before its SYN-ACK announces
//! the key, so that the token is held for the half-open connection until its third
//! ACK.

use std::collections::HashMap;

use crate::crypto::KeyDerived;
use crate::rng::RandomSource;

/// How many keys [`TokenTable::new_key`] draws before giving up: with a table far
/// from 2^32 entries, a collision is already rare; many in a row mean the table is full.
pub const MAX_KEY_TRIES: u32 = 64;

/// A local connection's key, with what it determines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalKey {
    pub key: u64,
    pub token: u32,
    pub idsn: u64,
}

impl LocalKey {
    /// A key with its token and IDSN.
    pub fn new(key: u64) -> Self {
        let KeyDerived { token, idsn } = KeyDerived::new(key);
        LocalKey { key, token, idsn }
    }
}

/// Why no key could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no free MPTCP token after {MAX_KEY_TRIES} keys ({0} connections)")]
    Exhausted(usize),
    #[error("the token table is full ({0} connections)")]
    Full(usize),
}

/// Tokens of the local connections, mapped to the owner's handle `T`.
#[derive(Debug, Clone)]
pub struct TokenTable<T> {
    by_token: HashMap<u32, T>,
    limit: usize,
}

impl<T: Copy> TokenTable<T> {
    /// A table holding at most `limit` connections.
    pub fn new(limit: usize) -> Self {
        TokenTable {
            by_token: HashMap::new(),
            limit,
        }
    }

    /// Draws a key whose token is unused, registers it for `owner`, and returns it.
    pub fn new_key(&mut self, rng: &mut dyn RandomSource, owner: T) -> Result<LocalKey, KeyError> {
        if self.by_token.len() >= self.limit {
            return Err(KeyError::Full(self.limit));
        }
        for _ in 0..MAX_KEY_TRIES {
            let key = LocalKey::new(rng.next_u64());
            if let std::collections::hash_map::Entry::Vacant(slot) = self.by_token.entry(key.token)
            {
                slot.insert(owner);
                return Ok(key);
            }
        }
        Err(KeyError::Exhausted(self.by_token.len()))
    }

    /// Registers a key drawn earlier (a listener's, announced in its SYN-ACK before
    /// the connection existed) for `owner`; `None` if its token is taken or the
    /// table is full.
    pub fn register_key(&mut self, key: u64, owner: T) -> Option<LocalKey> {
        if self.by_token.len() >= self.limit {
            return None;
        }
        let key = LocalKey::new(key);
        match self.by_token.entry(key.token) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(owner);
                Some(key)
            }
            std::collections::hash_map::Entry::Occupied(_) => None,
        }
    }

    /// Whether `token` names one of the local connections (or half-open ones).
    pub fn contains(&self, token: u32) -> bool {
        self.by_token.contains_key(&token)
    }

    /// The connection an MP_JOIN SYN's token names (RFC 8684 §3.2), if any.
    pub fn lookup(&self, token: u32) -> Option<T> {
        self.by_token.get(&token).copied()
    }

    /// Forgets a connection's token when it ends.
    pub fn remove(&mut self, token: u32) -> Option<T> {
        self.by_token.remove(&token)
    }

    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn rfc8684_s3_1_keys_get_distinct_tokens_and_their_idsns() {
        let mut rng = SeededRng::new(1);
        let mut table = TokenTable::new(1000);
        let mut tokens = std::collections::HashSet::new();
        for owner in 0..1000u32 {
            let k = table.new_key(&mut rng, owner).unwrap();
            assert_eq!(k.token, crate::crypto::token(k.key));
            assert_eq!(k.idsn, crate::crypto::idsn(k.key));
            assert!(tokens.insert(k.token), "token reused");
            assert_eq!(table.lookup(k.token), Some(owner));
        }
        assert!(matches!(
            table.new_key(&mut rng, 0),
            Err(KeyError::Full(1000))
        ));
    }

    #[test]
    fn rfc8684_s3_1_a_key_whose_token_is_taken_is_not_used() {
        // Register the token of the first key the generator will draw, then ask for a
        // key: the table must skip that key and take the next.
        let first = SeededRng::new(9).next_u64();
        let mut table = TokenTable::new(10);
        table.by_token.insert(crate::crypto::token(first), 99u32);
        let k = table.new_key(&mut SeededRng::new(9), 1).unwrap();
        assert_ne!(k.key, first);
        assert_eq!(table.lookup(crate::crypto::token(first)), Some(99));
        assert_eq!(table.len(), 2);
        assert_eq!(table.remove(k.token), Some(1));
        assert_eq!(table.lookup(k.token), None);
    }
}
