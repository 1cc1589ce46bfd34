//! Timers: retransmission (RFC 6298), delayed ACK (RFC 9293 §3.8.6.3), persist
//! (zero-window probing, §3.8.6.1), keepalive (§3.8.4), TIME-WAIT (§3.10.7.4) and
//! an orphaned connection's FIN-WAIT-2.

use super::connection::{AckDue, CloseReason, TcpConnection, TcpEvent, TcpState};
use crate::cc::CongestionControl;
use crate::time::Instant;

impl TcpConnection {
    /// When [`TcpConnection::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.rto_at,
            self.delack_at,
            self.persist_at,
            self.keepalive_at,
            self.time_wait_at,
            self.fin_wait_2_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, cc: &mut dyn CongestionControl) {
        if self.time_wait_at.is_some_and(|t| t <= now) {
            self.time_wait_at = None;
            self.state = TcpState::Closed;
            return;
        }
        if self.fin_wait_2_at.is_some_and(|t| t <= now) {
            // The peer kept its side open past `fin_wait_2_timeout`: it learns by a
            // RST that nobody is left here (Linux resets too).
            self.fin_wait_2_at = None;
            self.rst_due = true;
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            if self.ack_due != AckDue::No {
                self.ack_due = AckDue::Now;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            if self.snd_wnd == 0 && self.data_end() > self.snd_nxt {
                self.probe_due = true;
                self.persist_backoff += 1;
                // Probe again, backing off like the RTO, until the window opens.
                self.persist_at = Some(now + self.persist_interval());
            } else if self.data_end() > self.snd_nxt {
                // A small window stayed small: send into it (RFC 9293 §3.8.6.2.1 (d)).
                self.sws_override = true;
            }
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            self.on_retransmission_timeout(now, cc);
        }
        if let Some(k) = self.config.keepalive {
            if self.state.is_synchronized() && self.state != TcpState::TimeWait {
                let idle_until = self.last_received + k.idle;
                let deadline = self.keepalive_at.unwrap_or(idle_until).max(idle_until);
                if deadline <= now {
                    if self.keepalive_sent >= k.probes {
                        self.enter_closed(CloseReason::TimedOut);
                        return;
                    }
                    self.keepalive_due = true;
                    self.keepalive_sent += 1;
                    self.keepalive_at = Some(now + k.interval);
                } else {
                    self.keepalive_at = Some(deadline);
                }
            }
        }
    }

    /// RFC 6298 §5.4-5.7, RFC 5681 §3.1, RFC 6675 §5.1.
    fn on_retransmission_timeout(&mut self, now: Instant, cc: &mut dyn CongestionControl) {
        self.retries += 1;
        self.rtt.backoff();
        match self.state {
            TcpState::SynSent | TcpState::SynReceived => {
                if self.retries > self.config.syn_retries {
                    self.enter_closed(CloseReason::TimedOut);
                    return;
                }
                self.syn_due = true;
            }
            TcpState::Closed | TcpState::TimeWait => return,
            _ => {
                if self.snd_max <= self.snd_una {
                    return;
                }
                if self.retries > self.config.data_retries {
                    self.enter_closed(CloseReason::TimedOut);
                    return;
                }
                self.stats.timeouts += 1;
                self.events.push_back(TcpEvent::RetransmissionTimeout);
                cc.on_retransmission_timeout(self.cc_id, now, self.bytes_in_flight());
                // RFC 6675 §5.1: after a timeout, everything not SACKed is resent,
                // from SND.UNA, in a recovery episode that ends at today's SND.MAX.
                self.scoreboard.reset_on_rto(self.snd_max - 1);
                self.fast_rexmit = None;
                self.rexmit_due = None;
                self.retransmissions.clear();
                self.relost.clear();
                self.dupacks = 0;
                for s in self.sent.iter_mut() {
                    s.retransmitted = true;
                }
            }
        }
        self.arm_rto(now);
    }
}
