//! Values with units in scenario files: durations, rates, sizes, probabilities.
//!
//! Each parses from a string with a unit (`"10ms"`, `"100Mbit"`, `"64KiB"`, `"1%"`) and,
//! where a bare number is unambiguous, from a TOML number (sizes in bytes, rates in bits
//! per second, probabilities as fractions). Decimal fractions are exact: `"1.5ms"` is
//! 1500 µs, and a value finer than the unit allows (`"0.5us"`) is an error rather than
//! rounded.

use std::fmt;

use braid_proto::time::Duration;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

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

fn check_probability(v: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("probability {v} is outside [0, 1]"))
    }
}

/// A duration in a scenario file; see [`parse_duration`]. The number 0 is also
/// accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

/// A rate in a scenario file; see [`parse_rate`]. A bare number is bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateValue(pub Option<u64>);

/// A size in a scenario file; see [`parse_size`]. A bare number is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeValue(pub u64);

/// A probability in a scenario file; see [`parse_probability`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probability(pub f64);

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

impl<'de> Deserialize<'de> for RateValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a rate, like \"100Mbit\", or \"unlimited\"",
            parse: parse_rate,
            from_int: |v| Ok(Some(v)),
            from_float: |v| Err(format!("rate {v}: write it with a unit, like \"{v}Mbit\"")),
        })
        .map(RateValue)
    }
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a size in bytes, like 1500 or \"64KiB\"",
            parse: parse_size,
            from_int: Ok,
            from_float: |v| Err(format!("size {v}: write it with a unit, like \"{v}MB\"")),
        })
        .map(SizeValue)
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

/// A setting that can be turned off: `"off"` or `false`, or the value itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Toggle<T> {
    Off,
    On(T),
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
    fn probabilities() {
        assert_eq!(parse_probability("1%"), Ok(0.01));
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert!(parse_probability("150%").unwrap_err().contains("outside"));
        assert!(parse_probability("often").is_err());
    }
}
