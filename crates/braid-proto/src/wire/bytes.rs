//! Big-endian fields in byte slices, shared by the header views and the options.
//!
//! Each accessor reads or writes the field that starts `at` bytes into the slice, and
//! indexes: it panics if the field runs past the end of the slice. Callers check the
//! length first, so that parsing never panics: the views in `check_len` (with
//! [`ensure_len`]), the options against their length byte. Emitters write into a
//! buffer of at least `buffer_len()` bytes, where a shorter one is a caller bug.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::WireError;

/// `Ok` if `bytes` holds at least `needed` bytes, else [`WireError::Truncated`].
pub(super) fn ensure_len(bytes: &[u8], needed: usize) -> Result<(), WireError> {
    if bytes.len() < needed {
        return Err(WireError::Truncated {
            needed,
            available: bytes.len(),
        });
    }
    Ok(())
}

fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut array = [0; N];
    array.copy_from_slice(&bytes[at..at + N]);
    array
}

pub(super) fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(array_at(bytes, at))
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array_at(bytes, at))
}

pub(super) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(array_at(bytes, at))
}

pub(super) fn ipv4_at(bytes: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(array_at::<4>(bytes, at))
}

pub(super) fn ipv6_at(bytes: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(array_at::<16>(bytes, at))
}

/// The `u16` at `at`, or `None` if the slice ends first. Never panics.
pub(super) fn get_u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([field[0], field[1]]))
}

fn put_at(bytes: &mut [u8], at: usize, field: &[u8]) {
    bytes[at..at + field.len()].copy_from_slice(field);
}

pub(super) fn set_u16_at(bytes: &mut [u8], at: usize, value: u16) {
    put_at(bytes, at, &value.to_be_bytes());
}

pub(super) fn set_u32_at(bytes: &mut [u8], at: usize, value: u32) {
    put_at(bytes, at, &value.to_be_bytes());
}

pub(super) fn set_u64_at(bytes: &mut [u8], at: usize, value: u64) {
    put_at(bytes, at, &value.to_be_bytes());
}

pub(super) fn set_ipv4_at(bytes: &mut [u8], at: usize, addr: Ipv4Addr) {
    put_at(bytes, at, &addr.octets());
}

pub(super) fn set_ipv6_at(bytes: &mut [u8], at: usize, addr: Ipv6Addr) {
    put_at(bytes, at, &addr.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_big_endian_at_their_offset() {
        let mut buf = [0u8; 20];
        set_u16_at(&mut buf, 1, 0x0102);
        set_u32_at(&mut buf, 3, 0x0304_0506);
        set_u64_at(&mut buf, 7, 0x0708_090a_0b0c_0d0e);
        assert_eq!(
            buf[..15],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
        );
        assert_eq!(u16_at(&buf, 1), 0x0102);
        assert_eq!(u32_at(&buf, 3), 0x0304_0506);
        assert_eq!(u64_at(&buf, 7), 0x0708_090a_0b0c_0d0e);
        assert_eq!(ipv4_at(&buf, 1), Ipv4Addr::new(1, 2, 3, 4));
        set_ipv6_at(&mut buf, 2, Ipv6Addr::LOCALHOST);
        assert_eq!(ipv6_at(&buf, 2), Ipv6Addr::LOCALHOST);
        set_ipv4_at(&mut buf, 16, Ipv4Addr::BROADCAST);
        assert_eq!(buf[16..], [0xff; 4]);
    }

    #[test]
    fn get_and_ensure_len_report_a_short_slice() {
        assert_eq!(get_u16_at(&[1, 2, 3], 1), Some(0x0203));
        assert_eq!(get_u16_at(&[1, 2, 3], 2), None);
        assert_eq!(get_u16_at(&[], usize::MAX), None);
        assert_eq!(ensure_len(&[0; 4], 4), Ok(()));
        assert_eq!(
            ensure_len(&[0; 4], 5),
            Err(WireError::Truncated {
                needed: 5,
                available: 4
            })
        );
    }
}
