//! Values with units in scenarios: durations, rates, sizes, probabilities.
//!
//! In Rust they are typed values ([`Rate::mbit`], [`Size::kib`], a
//! [`braid_proto::time::Duration`], a fraction). In scenario files each parses from a
//! string with a unit (`"10ms"`, `"100Mbit"`, `"64KiB"`, `"1%"`) and, where a bare number
//! is unambiguous, from a TOML number (sizes in bytes, rates in bits per second,
//! probabilities as fractions). Decimal fractions are exact: `"1.5ms"` is 1500 µs, and a
//! value finer than the unit allows (`"0.5us"`) is an error rather than rounded.

use std::fmt;

use braid_proto::time::Duration;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// `number * scale` where `number` is a non-negative decimal ("12", "1.5", ".25"),
/// exactly, or an error.
fn scaled(number: &str, scale: u64, what: &str) -> Result<u64, String> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("\"{number}\" is not a number"));
    }
    let too_big = || format!("{what} too large");
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_big())?
    };
    let mut value = int.checked_mul(u128::from(scale)).ok_or_else(too_big)?;
    if !frac.is_empty() {
        if frac.len() > 30 {
            return Err(format!("\"{number}\" has too many decimals"));
        }
        let digits: u128 = frac.parse().map_err(|_| too_big())?;
        let denominator = 10u128.pow(frac.len() as u32);
        let numerator = digits * u128::from(scale);
        if numerator % denominator != 0 {
            return Err(format!(
                "\"{number}\" is finer than the smallest {what} step"
            ));
        }
        value += numerator / denominator;
    }
    u64::try_from(value).map_err(|_| too_big())
}

/// Splits "12.5 ms" into ("12.5", "ms"); an error if it does not start with a number.
fn split_unit<'a>(s: &'a str, what: &str) -> Result<(&'a str, &'a str), String> {
    let t = s.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    if end == 0 {
        return Err(format!("{what} \"{s}\" does not start with a number"));
    }
    Ok((&t[..end], t[end..].trim()))
}

/// A duration: a number and a unit, `us` (or `µs`), `ms`, `s`, `min` or `h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = split_unit(s, "duration")?;
    let scale = match unit {
        "us" | "µs" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "min" => 60_000_000,
        "h" => 3_600_000_000,
        "" => {
            return Err(format!(
                "duration \"{s}\" needs a unit: us, ms, s, min or h (\"10ms\")"
            ))
        }
        _ => {
            return Err(format!(
                "duration \"{s}\": unknown unit \"{unit}\" (use us, ms, s, min or h)"
            ))
        }
    };
    scaled(number, scale, "duration")
        .map(Duration::from_micros)
        .map_err(|e| format!("duration \"{s}\": {e}"))
}

/// A rate in bits per second: a number and a unit, `bit`, `kbit`, `Mbit` or `Gbit`
/// (also `bps`, `kbps`, `Mbps`, `Gbps`, and a trailing `/s`; decimal prefixes, case
/// ignored), or `"unlimited"` (`None`: no serialisation delay).
pub fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    if s.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let (number, unit) = split_unit(s, "rate")?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit.strip_suffix("/s").unwrap_or(&unit);
    let scale = match unit {
        "bit" | "bps" | "b/s" => 1,
        "kbit" | "kbps" => 1_000,
        "mbit" | "mbps" => 1_000_000,
        "gbit" | "gbps" => 1_000_000_000,
        "" => {
            return Err(format!(
                "rate \"{s}\" needs a unit: bit, kbit, Mbit or Gbit (\"100Mbit\")"
            ))
        }
        _ => {
            return Err(format!(
                "rate \"{s}\": unknown unit \"{unit}\" (use bit, kbit, Mbit or Gbit)"
            ))
        }
    };
    scaled(number, scale, "rate")
        .map(Some)
        .map_err(|e| format!("rate \"{s}\": {e}"))
}

/// A size in bytes: a number and a unit, `B`, `KB`, `MB`, `GB` (powers of 1000) or
/// `KiB`, `MiB`, `GiB` (powers of 1024); case ignored.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (number, unit) = split_unit(s, "size")?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "size \"{s}\": unknown unit \"{unit}\" (use B, KB, MB, GB, KiB, MiB or GiB)"
            ))
        }
    };
    scaled(number, scale, "size").map_err(|e| format!("size \"{s}\": {e}"))
}

/// A probability: a fraction in [0, 1] or a percentage string ("1.5%").
pub fn parse_probability(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<f64>()
            .map(|v| v / 100.0)
            .map_err(|_| format!("probability \"{s}\" is not a number"))?,
        None => t
            .parse::<f64>()
            .map_err(|_| format!("probability \"{s}\" is not a number"))?,
    };
    check_probability(value)
}

/// `v` if it is a probability (in [0, 1]), else what is wrong with it.
pub(super) fn check_probability(v: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("probability {v} is outside [0, 1]"))
    }
}

/// A duration, as a scenario file gives it (see [`parse_duration`]; the number 0 is
/// also accepted). In Rust, any [`Duration`] converts into one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl From<Duration> for DurationValue {
    fn from(d: Duration) -> Self {
        DurationValue(d)
    }
}

/// A bit rate: bits per second, or `None`, unlimited (no serialisation delay). In a
/// scenario file, see [`parse_rate`]; a bare number is bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub Option<u64>);

impl Rate {
    /// No serialisation delay at all.
    pub const UNLIMITED: Rate = Rate(None);

    pub const fn bits_per_second(bps: u64) -> Rate {
        Rate(Some(bps))
    }

    /// `n` kilobits (1000 bits) per second.
    pub const fn kbit(n: u64) -> Rate {
        Rate(Some(n * 1_000))
    }

    /// `n` megabits (10^6 bits) per second.
    pub const fn mbit(n: u64) -> Rate {
        Rate(Some(n * 1_000_000))
    }

    /// `n` gigabits (10^9 bits) per second.
    pub const fn gbit(n: u64) -> Rate {
        Rate(Some(n * 1_000_000_000))
    }
}

/// A size in bytes. In a scenario file, see [`parse_size`]; a bare number is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl Size {
    pub const fn bytes(n: u64) -> Size {
        Size(n)
    }

    /// `n` kilobytes of 1000 bytes.
    pub const fn kb(n: u64) -> Size {
        Size(n * 1_000)
    }

    /// `n` megabytes of 10^6 bytes.
    pub const fn mb(n: u64) -> Size {
        Size(n * 1_000_000)
    }

    /// `n` gigabytes of 10^9 bytes.
    pub const fn gb(n: u64) -> Size {
        Size(n * 1_000_000_000)
    }

    /// `n` kibibytes of 1024 bytes.
    pub const fn kib(n: u64) -> Size {
        Size(n << 10)
    }

    /// `n` mebibytes of 2^20 bytes.
    pub const fn mib(n: u64) -> Size {
        Size(n << 20)
    }

    /// `n` gibibytes of 2^30 bytes.
    pub const fn gib(n: u64) -> Size {
        Size(n << 30)
    }
}

/// A probability, a fraction in [0, 1]. In a scenario file, see
/// [`parse_probability`]; in Rust, any `f64` converts into one (and validation checks
/// the range).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probability(pub f64);

impl From<f64> for Probability {
    fn from(p: f64) -> Self {
        Probability(p)
    }
}

struct UnitVisitor<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
    from_int: fn(u64) -> Result<T, String>,
    from_float: fn(f64) -> Result<T, String>,
}

impl<T> Visitor<'_> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.from_int)(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("{v} is negative"))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        (self.from_float)(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a duration with a unit, like \"10ms\"",
            parse: parse_duration,
            from_int: |v| match v {
                0 => Ok(Duration::ZERO),
                _ => Err(format!(
                    "duration {v} needs a unit: write it as a string, like \"{v}ms\""
                )),
            },
            from_float: |v| {
                Err(format!(
                    "duration {v} needs a unit: write it as a string, like \"{v}s\""
                ))
            },
        })
        .map(DurationValue)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a rate, like \"100Mbit\", or \"unlimited\"",
            parse: parse_rate,
            from_int: |v| Ok(Some(v)),
            from_float: |v| Err(format!("rate {v}: write it with a unit, like \"{v}Mbit\"")),
        })
        .map(Rate)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a size in bytes, like 1500 or \"64KiB\"",
            parse: parse_size,
            from_int: Ok,
            from_float: |v| Err(format!("size {v}: write it with a unit, like \"{v}MB\"")),
        })
        .map(Size)
    }
}

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a probability, like 0.01 or \"1%\"",
            parse: parse_probability,
            from_int: |v| check_probability(v as f64),
            from_float: check_probability,
        })
        .map(Probability)
    }
}

// Written back in the forms the parsers above read, so that a scenario made in Rust
// can be saved as a file that `braid sim` runs identically (exact values: durations in
// microseconds, rates in bits per second, sizes in bytes).

impl Serialize for DurationValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}us", self.0.as_micros()))
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(bps) => s.serialize_u64(bps),
            None => s.serialize_str("unlimited"),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl Serialize for Probability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// A setting that can be turned off: `"off"` or `false`, or the value itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Toggle<T> {
    Off,
    On(T),
}

impl<T> From<T> for Toggle<T> {
    fn from(value: T) -> Self {
        Toggle::On(value)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Toggle<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value, or \"off\"")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                if v {
                    Err(E::custom(
                        "`true` is not a value here: give one, or \"off\"",
                    ))
                } else {
                    Ok(Toggle::Off)
                }
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "off" {
                    return Ok(Toggle::Off);
                }
                T::deserialize(de::value::StrDeserializer::<E>::new(v)).map(Toggle::On)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(de::value::I64Deserializer::<E>::new(v)).map(Toggle::On)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::deserialize(de::value::U64Deserializer::<E>::new(v)).map(Toggle::On)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                T::deserialize(de::value::F64Deserializer::<E>::new(v)).map(Toggle::On)
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Toggle::On)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T: Serialize> Serialize for Toggle<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Toggle::Off => s.serialize_str("off"),
            Toggle::On(value) => value.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_micros(1_500_000)));
        assert_eq!(parse_duration(" 250 us "), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration(".5ms"), Ok(Duration::from_micros(500)));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("10 parsecs")
            .unwrap_err()
            .contains("unknown unit \"parsecs\""));
        assert!(parse_duration("0.5us").unwrap_err().contains("finer"));
        assert!(parse_duration("-1ms").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("ms")
            .unwrap_err()
            .contains("does not start with a number"));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100Mbit"), Ok(Some(100_000_000)));
        assert_eq!(parse_rate("1.5 Gbit/s"), Ok(Some(1_500_000_000)));
        assert_eq!(parse_rate("64kbps"), Ok(Some(64_000)));
        assert_eq!(parse_rate("unlimited"), Ok(None));
        assert!(parse_rate("100").unwrap_err().contains("needs a unit"));
        assert!(parse_rate("100MB").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1500"), Ok(1500));
        assert_eq!(parse_size("1.5 kB"), Ok(1500));
        assert!(parse_size("3 apples").is_err());
        assert!(parse_size("99999999999GiB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn typed_values_are_those_their_text_gives() {
        for (rate, text) in [
            (Rate::bits_per_second(1500), "1500bit"),
            (Rate::kbit(64), "64kbit"),
            (Rate::mbit(50), "50Mbit"),
            (Rate::gbit(2), "2Gbit"),
            (Rate::UNLIMITED, "unlimited"),
        ] {
            assert_eq!(Ok(rate.0), parse_rate(text), "{text}");
        }
        for (size, text) in [
            (Size::bytes(1500), "1500B"),
            (Size::kb(250), "250KB"),
            (Size::mb(10), "10MB"),
            (Size::gb(2), "2GB"),
            (Size::kib(64), "64KiB"),
            (Size::mib(4), "4MiB"),
            (Size::gib(1), "1GiB"),
        ] {
            assert_eq!(Ok(size.0), parse_size(text), "{text}");
        }
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability("1%"), Ok(0.01));
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert!(parse_probability("150%").unwrap_err().contains("outside"));
        assert!(parse_probability("often").is_err());
    }
}
