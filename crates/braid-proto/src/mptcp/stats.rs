//! What an MPTCP connection did and what it refused, counted.

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MptcpStats {
    /// Subflows we opened with MP_JOIN.
    pub subflows_opened: u64,
    /// MP_JOINs from the peer we accepted, and refused (subflow limits).
    pub joins_accepted: u64,
    pub joins_rejected: u64,
    /// Join handshakes that failed an HMAC check (§3.2).
    pub bad_join_hmacs: u64,
    pub add_addr_sent: u64,
    pub add_addr_received: u64,
    pub add_addr_bad_hmac: u64,
    pub add_addr_echoes_received: u64,
    pub remove_addr_received: u64,
    pub mp_prio_received: u64,
    pub mp_fail_sent: u64,
    pub mp_fail_received: u64,
    pub fastclose_sent: u64,
    pub fastclose_received: u64,
    pub mp_tcprst_received: u64,
    pub checksum_failures: u64,
    /// Fallbacks to plain TCP: all of them, then by cause.
    pub fallbacks: u64,
    pub fallback_no_mp_capable: u64,
    pub fallback_no_dss: u64,
    pub fallback_checksum: u64,
    /// Active opens whose MP_CAPABLE SYNs went unanswered and that went on with plain
    /// SYNs ([`MptcpConfig::syn_retransmissions_before_fallback`](crate::mptcp::MptcpConfig::syn_retransmissions_before_fallback);
    /// Linux counts them as MPCapableSYNTXDrop).
    pub fallback_syn_unanswered: u64,
    pub infinite_mappings_received: u64,
    /// Bytes queued again on other subflows (§3.3.6).
    pub reinjected_bytes: u64,
    /// Bytes sent again on a faster subflow because a slower one's copy held the
    /// peer's window (opportunistic reinjection), and the penalties that came with it.
    pub opportunistic_bytes: u64,
    pub penalties: u64,
    /// Protocol errors that reset a subflow (mapping conflicts, data beyond the
    /// DATA_FIN, ...).
    pub protocol_errors: u64,
    /// Subflows reset because data arrived without MPTCP options after MPTCP was
    /// established (a middlebox stripping them, §3.7).
    pub middlebox_resets: u64,
    /// Expiries of the data-level retransmission timer.
    pub data_level_timeouts: u64,
    /// Bytes sent beyond the peer's closed connection-level window to probe it.
    pub window_probes: u64,
}

impl MptcpStats {
    /// Every counter with its name, in declaration order: one list for reports,
    /// JSON output and tools that show them.
    pub fn counters(&self) -> [(&'static str, u64); 29] {
        let MptcpStats {
            subflows_opened,
            joins_accepted,
            joins_rejected,
            bad_join_hmacs,
            add_addr_sent,
            add_addr_received,
            add_addr_bad_hmac,
            add_addr_echoes_received,
            remove_addr_received,
            mp_prio_received,
            mp_fail_sent,
            mp_fail_received,
            fastclose_sent,
            fastclose_received,
            mp_tcprst_received,
            checksum_failures,
            fallbacks,
            fallback_no_mp_capable,
            fallback_no_dss,
            fallback_checksum,
            fallback_syn_unanswered,
            infinite_mappings_received,
            reinjected_bytes,
            opportunistic_bytes,
            penalties,
            protocol_errors,
            middlebox_resets,
            data_level_timeouts,
            window_probes,
        } = *self;
        [
            ("subflows_opened", subflows_opened),
            ("joins_accepted", joins_accepted),
            ("joins_rejected", joins_rejected),
            ("bad_join_hmacs", bad_join_hmacs),
            ("add_addr_sent", add_addr_sent),
            ("add_addr_received", add_addr_received),
            ("add_addr_bad_hmac", add_addr_bad_hmac),
            ("add_addr_echoes_received", add_addr_echoes_received),
            ("remove_addr_received", remove_addr_received),
            ("mp_prio_received", mp_prio_received),
            ("mp_fail_sent", mp_fail_sent),
            ("mp_fail_received", mp_fail_received),
            ("fastclose_sent", fastclose_sent),
            ("fastclose_received", fastclose_received),
            ("mp_tcprst_received", mp_tcprst_received),
            ("checksum_failures", checksum_failures),
            ("fallbacks", fallbacks),
            ("fallback_no_mp_capable", fallback_no_mp_capable),
            ("fallback_no_dss", fallback_no_dss),
            ("fallback_checksum", fallback_checksum),
            ("fallback_syn_unanswered", fallback_syn_unanswered),
            ("infinite_mappings_received", infinite_mappings_received),
            ("reinjected_bytes", reinjected_bytes),
            ("opportunistic_bytes", opportunistic_bytes),
            ("penalties", penalties),
            ("protocol_errors", protocol_errors),
            ("middlebox_resets", middlebox_resets),
            ("data_level_timeouts", data_level_timeouts),
            ("window_probes", window_probes),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_name_every_field_once() {
        let stats = MptcpStats {
            subflows_opened: 1,
            data_level_timeouts: 27,
            ..MptcpStats::default()
        };
        let counters = stats.counters();
        assert_eq!(counters[0], ("subflows_opened", 1));
        assert_eq!(counters[27], ("data_level_timeouts", 27));
        let mut names: Vec<_> = counters.iter().map(|c| c.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), counters.len());
    }
}
