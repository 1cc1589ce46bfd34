//! The `middlebox` lists of links: validated into [`MiddleboxPlan`]s, built into the
//! stages of [`crate::middlebox`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use braid_proto::time::Duration;

use super::spec::{self, Direction, StripOn};
use super::units::Size;
use super::{invalid, ScenarioError};
use crate::middlebox::{
    Nat, PayloadRewriter, Rewrite, SegmentCoalescer, SegmentSplitter, Select, SeqRewriter, Shared,
    StripMptcp, StripTcpOption, Which,
};
use crate::rng::domain;
use crate::sim::{LinkId, Simulator};

/// Most header bytes a segment can carry (IPv6, and TCP with 40 bytes of options),
/// which a merged segment has on top of its payload.
const MAX_HEADERS: usize = 40 + 60;

/// A middlebox of one link direction.
#[derive(Debug, Clone, PartialEq)]
pub struct MiddleboxPlan {
    /// The declaration it comes from, numbered in file order across all links: the
    /// two directions of one declaration share it, and with it a `seq_rewrite`'s seed
    /// and a `nat`'s instance.
    pub id: usize,
    pub spec: MiddleboxSpec,
}

/// A validated middlebox.
#[derive(Debug, Clone, PartialEq)]
pub enum MiddleboxSpec {
    StripOption(u8),
    StripMptcp {
        which: Which,
        max_flows: usize,
    },
    Split {
        max_payload: usize,
    },
    Coalesce {
        max_payload: usize,
        hold: Duration,
        max_flows: usize,
    },
    /// Offsets drawn from the scenario seed, or a fixed one.
    SeqRewrite {
        offset: Option<u32>,
    },
    Nat {
        inside: IpAddr,
        outside: IpAddr,
        /// Port range and table size, with port translation.
        ports: Option<(RangeInclusive<u16>, usize)>,
    },
    PayloadRewrite {
        select: Select,
        rewrite: Rewrite,
        times: Option<u64>,
        max_flows: usize,
    },
}

/// A declaration, validated, with the direction it applies to.
pub(super) struct Declared {
    pub plan: MiddleboxPlan,
    pub direction: Direction,
}

/// What the validation of a link's middleboxes needs to know about the link.
pub(super) struct LinkFacts<'a> {
    pub duplex: bool,
    /// Addresses of the interfaces at the two ends.
    pub end_addresses: Vec<IpAddr>,
    /// Every address of every host, with the host's name.
    pub host_addresses: &'a BTreeMap<IpAddr, String>,
}

fn at_least_one(
    field: String,
    value: Option<usize>,
    default: usize,
) -> Result<usize, ScenarioError> {
    match value {
        Some(0) => Err(invalid(field, "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

fn size(field: String, value: &Size) -> Result<usize, ScenarioError> {
    usize::try_from(value.0).map_err(|_| invalid(field, "too large"))
}

/// Validates `link[l].middlebox`; `next_id` numbers the declarations.
pub(super) fn validate(
    field: &str,
    list: &[spec::Middlebox],
    link: &LinkFacts<'_>,
    next_id: &mut usize,
) -> Result<Vec<Declared>, ScenarioError> {
    let mut out = Vec::new();
    for (m, entry) in list.iter().enumerate() {
        let field = format!("{field}.middlebox[{m}]");
        let f = |key: &str| format!("{field}.{key}");
        let (spec, direction) = match entry {
            spec::Middlebox::StripOption { kind, direction } => {
                if *kind <= 1 {
                    return Err(invalid(
                        f("kind"),
                        "0 (EOL) and 1 (NOP) cannot be stripped; 30 is MPTCP",
                    ));
                }
                (MiddleboxSpec::StripOption(*kind), *direction)
            }
            spec::Middlebox::StripMptcp {
                on,
                segment,
                max_flows,
                direction,
            } => {
                let which = match (on, segment) {
                    (StripOn::FromDataSegment, None) => {
                        return Err(invalid(
                            f("segment"),
                            "missing: on = \"from_data_segment\" needs `segment`, the first data segment stripped (1 = the first)",
                        ))
                    }
                    (StripOn::FromDataSegment, Some(0)) => {
                        return Err(invalid(f("segment"), "data segments count from 1"))
                    }
                    (StripOn::FromDataSegment, Some(n)) => Which::FromDataSegment(*n),
                    (_, Some(_)) => {
                        return Err(invalid(
                            f("segment"),
                            "only with on = \"from_data_segment\"",
                        ))
                    }
                    (StripOn::Syn, None) => Which::Syn,
                    (StripOn::SynAck, None) => Which::SynAck,
                    (StripOn::ThirdAck, None) => Which::ThirdAck,
                    (StripOn::All, None) => Which::All,
                };
                let max_flows =
                    at_least_one(f("max_flows"), *max_flows, StripMptcp::DEFAULT_MAX_FLOWS)?;
                (MiddleboxSpec::StripMptcp { which, max_flows }, *direction)
            }
            spec::Middlebox::Split {
                max_payload,
                direction,
            } => {
                let max_payload = size(f("max_payload"), max_payload)?;
                if max_payload == 0 {
                    return Err(invalid(f("max_payload"), "must be at least 1 byte"));
                }
                (MiddleboxSpec::Split { max_payload }, *direction)
            }
            spec::Middlebox::Coalesce {
                max_payload,
                hold,
                max_flows,
                direction,
            } => {
                let max_payload = size(f("max_payload"), max_payload)?;
                if !(1..=65_000).contains(&max_payload) {
                    return Err(invalid(f("max_payload"), "must be 1 byte to 65000 bytes"));
                }
                let max_flows = at_least_one(
                    f("max_flows"),
                    *max_flows,
                    SegmentCoalescer::DEFAULT_MAX_FLOWS,
                )?;
                let spec = MiddleboxSpec::Coalesce {
                    max_payload,
                    hold: hold.0,
                    max_flows,
                };
                (spec, *direction)
            }
            spec::Middlebox::SeqRewrite { offset, direction } => {
                if *offset == Some(0) {
                    return Err(invalid(
                        f("offset"),
                        "0 changes nothing: leave `offset` out for random offsets",
                    ));
                }
                (MiddleboxSpec::SeqRewrite { offset: *offset }, *direction)
            }
            spec::Middlebox::Nat {
                inside,
                outside,
                ports,
                max_mappings,
            } => {
                let parse = |key: &str, s: &str| {
                    s.parse::<IpAddr>()
                        .map_err(|_| invalid(f(key), format!("\"{s}\" is not an IP address")))
                };
                let (inside, outside) = (parse("inside", inside)?, parse("outside", outside)?);
                if inside.is_ipv4() != outside.is_ipv4() {
                    return Err(invalid(
                        f("outside"),
                        format!("{outside} and inside {inside} are of different IP versions"),
                    ));
                }
                if !link.end_addresses.contains(&inside) {
                    return Err(invalid(
                        f("inside"),
                        format!("{inside} is not an address at either end of this link"),
                    ));
                }
                if let Some(host) = link.host_addresses.get(&outside) {
                    return Err(invalid(
                        f("outside"),
                        format!("{outside} is an address of host \"{host}\"; use one no host has"),
                    ));
                }
                let ports = match ports {
                    None => {
                        if max_mappings.is_some() {
                            return Err(invalid(
                                f("max_mappings"),
                                "only with `ports` (port translation)",
                            ));
                        }
                        None
                    }
                    Some([first, last]) => {
                        if *first == 0 || first > last {
                            return Err(invalid(
                                f("ports"),
                                "give [first, last] with 1 <= first <= last <= 65535",
                            ));
                        }
                        let max = at_least_one(
                            f("max_mappings"),
                            *max_mappings,
                            Nat::DEFAULT_MAX_MAPPINGS,
                        )?;
                        Some((*first..=*last, max))
                    }
                };
                let spec = MiddleboxSpec::Nat {
                    inside,
                    outside,
                    ports,
                };
                (spec, None)
            }
            spec::Middlebox::PayloadRewrite {
                segment,
                contains,
                xor,
                offset,
                replace,
                times,
                max_flows,
                direction,
            } => {
                let select = match (segment, contains) {
                    (Some(0), _) => {
                        return Err(invalid(f("segment"), "data segments count from 1"))
                    }
                    (Some(n), None) => Select::NthDataSegment(*n),
                    (None, Some(p)) if p.is_empty() => {
                        return Err(invalid(f("contains"), "an empty pattern matches nothing"))
                    }
                    (None, Some(p)) => Select::Contains(p.as_bytes().to_vec()),
                    _ => {
                        return Err(invalid(
                            &field,
                            "give exactly one of `segment = N` (the N-th data segment of each flow) or `contains = \"...\"` (data segments with these bytes)",
                        ))
                    }
                };
                let rewrite = match (xor, replace) {
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            &field,
                            "give `xor` (flip bits of one byte) or `replace`, not both",
                        ))
                    }
                    (_, Some(to)) => {
                        let Some(from) = contains else {
                            return Err(invalid(
                                f("replace"),
                                "replaces the `contains` pattern: give `contains` too",
                            ));
                        };
                        if offset.is_some() {
                            return Err(invalid(f("offset"), "only with `xor`"));
                        }
                        if to.len() != from.len() {
                            return Err(invalid(
                                f("replace"),
                                format!(
                                    "must have as many bytes as `contains` ({}, not {}): the payload keeps its length",
                                    from.len(),
                                    to.len()
                                ),
                            ));
                        }
                        Rewrite::Replace {
                            from: from.as_bytes().to_vec(),
                            to: to.as_bytes().to_vec(),
                        }
                    }
                    (xor, None) => {
                        let mask = xor.unwrap_or(0xff);
                        if mask == 0 {
                            return Err(invalid(f("xor"), "0 changes nothing"));
                        }
                        Rewrite::Xor {
                            offset: offset.unwrap_or(0),
                            mask,
                        }
                    }
                };
                let max_flows = at_least_one(
                    f("max_flows"),
                    *max_flows,
                    PayloadRewriter::DEFAULT_MAX_FLOWS,
                )?;
                let spec = MiddleboxSpec::PayloadRewrite {
                    select,
                    rewrite,
                    times: *times,
                    max_flows,
                };
                (spec, *direction)
            }
        };
        let direction = match direction {
            Some(Direction::Reverse) if !link.duplex => {
                return Err(invalid(
                    f("direction"),
                    "a one-way link has no reverse direction",
                ))
            }
            Some(d) => d,
            None => Direction::Both,
        };
        out.push(Declared {
            plan: MiddleboxPlan { id: *next_id, spec },
            direction,
        });
        *next_id += 1;
    }
    Ok(out)
}

/// Checks a middlebox against the direction's MTU.
pub(super) fn check_mtu(
    field: &str,
    plan: &MiddleboxPlan,
    mtu: usize,
) -> Result<(), ScenarioError> {
    if let MiddleboxSpec::Coalesce { max_payload, .. } = plan.spec {
        if max_payload + MAX_HEADERS > mtu {
            return Err(invalid(
                format!("{field}.max_payload"),
                format!(
                    "{max_payload} bytes and up to {MAX_HEADERS} of headers exceed the link's mtu ({mtu}), which would drop merged segments: lower `max_payload` to {} or raise `mtu`",
                    mtu.saturating_sub(MAX_HEADERS)
                ),
            ));
        }
    }
    Ok(())
}

/// Stages shared between the directions of a link (by declaration).
#[derive(Default)]
pub(super) struct SharedStages {
    nats: BTreeMap<usize, Shared<Nat>>,
}

/// Appends the middlebox to the link's chain.
pub(super) fn add(
    sim: &mut Simulator,
    link: LinkId,
    plan: &MiddleboxPlan,
    shared: &mut SharedStages,
) {
    match &plan.spec {
        MiddleboxSpec::StripOption(kind) => sim.add_middlebox(link, StripTcpOption::new(*kind)),
        MiddleboxSpec::StripMptcp { which, max_flows } => {
            sim.add_middlebox(link, StripMptcp::new(*which).with_max_flows(*max_flows))
        }
        MiddleboxSpec::Split { max_payload } => {
            sim.add_middlebox(link, SegmentSplitter::new(*max_payload))
        }
        MiddleboxSpec::Coalesce {
            max_payload,
            hold,
            max_flows,
        } => sim.add_middlebox(
            link,
            SegmentCoalescer::new(*max_payload, *hold).with_max_flows(*max_flows),
        ),
        MiddleboxSpec::SeqRewrite { offset } => {
            // Both directions of a declaration draw the same offsets: one box.
            let stage = match offset {
                Some(o) => SeqRewriter::with_offset(*o),
                None => SeqRewriter::new(sim.seed_for(domain::MIDDLEBOX, plan.id as u64)),
            };
            sim.add_middlebox(link, stage)
        }
        MiddleboxSpec::Nat {
            inside,
            outside,
            ports,
        } => {
            let nat = shared.nats.entry(plan.id).or_insert_with(|| {
                let nat = Nat::new(*inside, *outside);
                Shared::new(match ports {
                    Some((range, max)) => nat.with_ports(range.clone(), *max),
                    None => nat,
                })
            });
            sim.add_middlebox(link, nat.clone())
        }
        MiddleboxSpec::PayloadRewrite {
            select,
            rewrite,
            times,
            max_flows,
        } => {
            let mut stage =
                PayloadRewriter::new(select.clone(), rewrite.clone()).with_max_flows(*max_flows);
            if let Some(n) = times {
                stage = stage.times(*n);
            }
            sim.add_middlebox(link, stage)
        }
    }
}

#[cfg(test)]
mod tests;
