//! One direction of a path: a pure model of a bottleneck link that owns no clock.
//!
//! The caller hands packets in with [`Link::offer`], takes them out with [`Link::poll`]
//! and asks [`Link::next_event`] when to poll next. Every call takes `now`; the link
//! only ever moves forward to it. The simulator calls it on virtual time; the same code
//! can shape real packets on the real clock (a userspace netem).
//!
//! # The model, in the order a packet meets it
//!
//! 1. **Down**: while the link is down, offered packets are dropped under
//!    [`DownPolicy::Drop`] (cause `Down`) or queued under [`DownPolicy::Hold`].
//! 2. **MTU**: a packet longer than `mtu` bytes is dropped (cause `Mtu`); there is no
//!    fragmentation and no ICMP.
//! 3. **Loss**, as netem applies it, before the queue: a Bernoulli draw with
//!    probability `loss`, then one step of the Gilbert-Elliott chain if configured
//!    (both draws are made; the packet is lost if either says so; cause `Loss`).
//! 4. **Duplication**: with probability `duplicate` a copy is queued right after the
//!    packet. The copy takes its own place in the queue and its own transmission time.
//! 5. **Queue**: drop-tail, `queue_bytes` bytes of packets waiting for the
//!    transmitter (the packet being transmitted does not count). A packet that finds
//!    the transmitter idle starts at once, whatever the limit, so `queue_bytes = 0`
//!    means "no buffer". Full queue: dropped, cause `Queue`.
//! 6. **Transmission**: one packet at a time at `rate_bps`; a packet of `n` bytes takes
//!    `n * 8 / rate` seconds. Back-to-back packets carry the sub-microsecond remainder
//!    over, so `k` packets take exactly `k * n * 8 / rate` rounded down, never drifting.
//!    `None` is an infinitely fast link; a rate of 0 stalls the transmitter.
//! 7. **Propagation**: the packet arrives `delay` after its last bit left, plus a
//!    uniform jitter in `[0, jitter]` (so `delay` is the minimum one-way delay), but never
//!    before the packet sent ahead of it: jitter and delay changes do not reorder.
//! 8. **Reordering**: with probability `reorder.probability` a packet is instead held
//!    `reorder.extra_delay` longer and exempt from the in-order rule, so the packets
//!    behind it overtake it.
//!
//! Changes at given instants ([`LinkChange`], [`Link::schedule`]) apply to packets that
//! start transmission after them; a packet being transmitted finishes at the old rate.
//! At the same instant a scheduled change comes before a transmission that ends then.
//!
//! # Down
//!
//! [`DownPolicy::Drop`] (the default) is Linux's behaviour for an interface that goes
//! down: everything the link holds is dropped, the queue, the packet being transmitted
//! and the packets propagating ("a cut link loses what is on the wire"), and packets
//! offered while down are dropped. [`DownPolicy::Hold`] models a carrier loss behind a
//! queue that survives it: the queue and the packet being transmitted (which starts over)
//! wait for the link to come back, packets propagating still arrive, and offered packets
//! are queued while there is room.
//!
//! # Randomness
//!
//! Each random feature draws from its own stream (see [`crate::rng`]), and only while it
//! is on, so the losses of a seed do not change when jitter is turned on.

use std::collections::{BTreeMap, VecDeque};

use braid_proto::time::{Duration, Instant};

use crate::metrics::Counter;
use crate::rng::{derive_seed, SimRng};

/// Default queue: 1000 full-size packets, Linux's default `txqueuelen`.
pub const DEFAULT_QUEUE_BYTES: usize = 1000 * 1500;

/// Default MTU: Ethernet's.
pub const DEFAULT_MTU: usize = 1500;

/// Bursty loss: the Gilbert-Elliott two-state Markov chain, stepped once per packet.
///
/// A packet is lost with probability `loss_good` or `loss_bad` according to the current
/// state; then the chain moves Good -> Bad with probability `p` or Bad -> Good with
/// probability `r`. With `loss_good = 0` and `loss_bad = 1` (the Gilbert model, see
/// [`GilbertElliott::gilbert`]) loss bursts have a mean length of `1 / r` packets and
/// the long-run loss rate is `p / (p + r)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from Good to Bad after a packet.
    pub p: f64,
    /// Probability of moving from Bad to Good after a packet.
    pub r: f64,
    /// Loss probability in the Good state (netem's `1 - k`).
    pub loss_good: f64,
    /// Loss probability in the Bad state (netem's `1 - h`).
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// The Gilbert model: no loss in Good, every packet lost in Bad.
    pub fn gilbert(p: f64, r: f64) -> Self {
        GilbertElliott {
            p,
            r,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }

    /// The long-run fraction of packets lost.
    pub fn mean_loss(&self) -> f64 {
        if self.p + self.r <= 0.0 {
            return self.loss_good;
        }
        let bad = self.p / (self.p + self.r);
        (1.0 - bad) * self.loss_good + bad * self.loss_bad
    }
}

/// Reordering: a fraction of packets held back by an extra delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reorder {
    pub probability: f64,
    pub extra_delay: Duration,
}

/// What a link does with its packets while it is down (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DownPolicy {
    /// Drop everything held and everything offered (Linux with the interface down).
    #[default]
    Drop,
    /// Keep the queue and keep queueing; resume when the link comes back.
    Hold,
}

/// The parameters of a link. Build with [`LinkConfig::new`] and the setters:
///
/// ```
/// # use braid_sim::link::LinkConfig;
/// # use braid_proto::time::Duration;
/// let cfg = LinkConfig::new()
///     .rate_bps(10_000_000)
///     .delay(Duration::from_millis(10))
///     .loss(0.01)
///     .queue_bytes(64 * 1500);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Transmission rate in bits per second; `None` for no serialization delay.
    pub rate_bps: Option<u64>,
    /// Propagation delay: the minimum one-way delay after transmission.
    pub delay: Duration,
    /// Extra delay drawn uniformly in `[0, jitter]` per packet, without reordering.
    pub jitter: Duration,
    /// Bernoulli loss probability.
    pub loss: f64,
    /// Bursty loss, applied on top of `loss`.
    pub burst_loss: Option<GilbertElliott>,
    /// Reordering.
    pub reorder: Option<Reorder>,
    /// Duplication probability.
    pub duplicate: f64,
    /// Drop-tail queue size in bytes, the packet being transmitted not included.
    pub queue_bytes: usize,
    /// Largest packet (IP header included) the link carries.
    pub mtu: usize,
    /// What a down link does with packets.
    pub down_policy: DownPolicy,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            rate_bps: None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            burst_loss: None,
            reorder: None,
            duplicate: 0.0,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            mtu: DEFAULT_MTU,
            down_policy: DownPolicy::Drop,
        }
    }
}

impl LinkConfig {
    /// A perfect link: infinitely fast, no delay, no loss, [`DEFAULT_QUEUE_BYTES`],
    /// [`DEFAULT_MTU`].
    pub fn new() -> Self {
        Self::default()
    }

    pub fn rate_bps(mut self, bits_per_sec: u64) -> Self {
        self.rate_bps = Some(bits_per_sec);
        self
    }

    pub fn unlimited_rate(mut self) -> Self {
        self.rate_bps = None;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    pub fn loss(mut self, probability: f64) -> Self {
        self.loss = probability;
        self
    }

    pub fn burst_loss(mut self, model: GilbertElliott) -> Self {
        self.burst_loss = Some(model);
        self
    }

    pub fn reorder(mut self, probability: f64, extra_delay: Duration) -> Self {
        self.reorder = Some(Reorder {
            probability,
            extra_delay,
        });
        self
    }

    pub fn duplicate(mut self, probability: f64) -> Self {
        self.duplicate = probability;
        self
    }

    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    pub fn mtu(mut self, bytes: usize) -> Self {
        self.mtu = bytes;
        self
    }

    pub fn down_policy(mut self, policy: DownPolicy) -> Self {
        self.down_policy = policy;
        self
    }
}

/// A change to a link, applied at an instant.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkChange {
    Up,
    Down,
    Rate(Option<u64>),
    Delay(Duration),
    Jitter(Duration),
    Loss(f64),
    /// Replaces the burst model; the chain restarts in Good.
    BurstLoss(Option<GilbertElliott>),
    Reorder(Option<Reorder>),
    Duplicate(f64),
    /// A smaller queue drops nothing already queued; it refuses arrivals until the
    /// queue has drained below it.
    QueueBytes(usize),
    Mtu(usize),
    DownPolicy(DownPolicy),
    /// Replaces every parameter at once (up/down state unchanged).
    Config(Box<LinkConfig>),
}

/// Why a link dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropCause {
    /// The drop-tail queue was full.
    Queue,
    /// Random or bursty loss.
    Loss,
    /// Longer than the MTU.
    Mtu,
    /// The link was down.
    Down,
}

/// What [`Link::offer`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Queued or being transmitted (a duplicate may have been queued too).
    Accepted,
    Dropped(DropCause),
}

/// A link's counters. `offered` counts what [`Link::offer`] was given; duplicates are
/// extra packets, so at any time
/// `offered + duplicated = delivered + dropped() + in transit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkStats {
    pub offered: Counter,
    pub delivered: Counter,
    /// Copies made by duplication (each is also delivered or dropped).
    pub duplicated: Counter,
    /// Packets held back by reordering.
    pub reordered: Counter,
    pub dropped_queue: Counter,
    pub dropped_loss: Counter,
    pub dropped_mtu: Counter,
    pub dropped_down: Counter,
    /// The most bytes the queue has held.
    pub max_queue_bytes: usize,
}

impl LinkStats {
    /// All drops, whatever the cause.
    pub fn dropped(&self) -> Counter {
        self.dropped_queue + self.dropped_loss + self.dropped_mtu + self.dropped_down
    }

    /// Drops of one cause.
    pub fn dropped_by(&self, cause: DropCause) -> Counter {
        match cause {
            DropCause::Queue => self.dropped_queue,
            DropCause::Loss => self.dropped_loss,
            DropCause::Mtu => self.dropped_mtu,
            DropCause::Down => self.dropped_down,
        }
    }

    fn count_drop(&mut self, cause: DropCause, bytes: usize) {
        match cause {
            DropCause::Queue => self.dropped_queue.add(bytes),
            DropCause::Loss => self.dropped_loss.add(bytes),
            DropCause::Mtu => self.dropped_mtu.add(bytes),
            DropCause::Down => self.dropped_down.add(bytes),
        }
    }
}

/// One random stream per feature, so features do not disturb each other's draws.
#[derive(Debug, Clone)]
struct Streams {
    loss: SimRng,
    burst: SimRng,
    duplicate: SimRng,
    reorder: SimRng,
    jitter: SimRng,
}

impl Streams {
    fn new(seed: u64) -> Self {
        let stream = |i| SimRng::new(derive_seed(seed, 0, i));
        Streams {
            loss: stream(0),
            burst: stream(1),
            duplicate: stream(2),
            reorder: stream(3),
            jitter: stream(4),
        }
    }
}

/// One direction of a path. See the module documentation for the model.
#[derive(Debug, Clone)]
pub struct Link {
    config: LinkConfig,
    /// Pending changes, in time order; equal times in the order they were added.
    schedule: VecDeque<(Instant, LinkChange)>,
    up: bool,
    /// Gilbert-Elliott state: in Bad.
    burst_bad: bool,
    /// The latest time the link has seen; it never goes back.
    now: Instant,
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    /// The packet being transmitted and when its last bit leaves.
    tx: Option<(Instant, Vec<u8>)>,
    /// When the last transmission ended, and its sub-microsecond remainder, in units
    /// of `1 / rate` microseconds.
    last_tx_end: Instant,
    carry: u64,
    /// Packets propagating, by arrival time then by order of transmission.
    in_flight: BTreeMap<(Instant, u64), Vec<u8>>,
    next_id: u64,
    /// Arrival time of the last packet subject to the in-order rule.
    fifo_floor: Instant,
    rng: Streams,
    stats: LinkStats,
}

impl Link {
    /// A link that is up, with its random streams derived from `seed` (the simulator
    /// derives it from the scenario seed and the link's index).
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        Link {
            config,
            schedule: VecDeque::new(),
            up: true,
            burst_bad: false,
            now: Instant::ZERO,
            queue: VecDeque::new(),
            queued_bytes: 0,
            tx: None,
            last_tx_end: Instant::ZERO,
            carry: 0,
            in_flight: BTreeMap::new(),
            next_id: 0,
            fifo_floor: Instant::ZERO,
            rng: Streams::new(seed),
            stats: LinkStats::default(),
        }
    }

    /// Schedules `change` at `at` (or at the link's current time, if `at` has passed).
    /// Changes at the same instant apply in the order they were scheduled.
    pub fn schedule(&mut self, at: Instant, change: LinkChange) {
        let at = at.max(self.now);
        let index = self.schedule.partition_point(|(t, _)| *t <= at);
        self.schedule.insert(index, (at, change));
    }

    /// Applies `change` now, after everything due before it.
    pub fn apply(&mut self, now: Instant, change: LinkChange) {
        let now = self.advance(now);
        self.apply_change(now, change);
        self.advance(now);
    }

    /// Hands a packet (an IP packet) to the link.
    pub fn offer(&mut self, now: Instant, packet: Vec<u8>) -> Verdict {
        let now = self.advance(now);
        let len = packet.len();
        self.stats.offered.add(len);
        let verdict = self.admit(now, packet);
        if let Verdict::Dropped(cause) = verdict {
            self.stats.count_drop(cause, len);
        }
        // A transmission that takes no time (unlimited rate) is over already.
        self.advance(now);
        verdict
    }

    /// The next packet that has arrived by `now`, if any. Packets come out in arrival
    /// order; packets arriving at the same instant in transmission order.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<u8>> {
        let now = self.advance(now);
        let (&(at, _), _) = self.in_flight.first_key_value()?;
        if at > now {
            return None;
        }
        let (_, packet) = self.in_flight.pop_first()?;
        self.stats.delivered.add(packet.len());
        Some(packet)
    }

    /// When the link next needs attention: a packet arrives, a transmission ends or a
    /// scheduled change is due. `None` if nothing will happen without a new packet.
    ///
    /// The time may have passed if the caller has not polled everything out yet.
    pub fn next_event(&self) -> Option<Instant> {
        let change = self.schedule.front().map(|(t, _)| *t);
        let tx = self.tx.as_ref().map(|(t, _)| *t);
        let arrival = self.in_flight.first_key_value().map(|(&(t, _), _)| t);
        [change, tx, arrival].into_iter().flatten().min()
    }

    /// The current parameters (scheduled changes applied so far included).
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Packets and bytes waiting in the queue.
    pub fn queued(&self) -> Counter {
        Counter {
            packets: self.queue.len() as u64,
            bytes: self.queued_bytes as u64,
        }
    }

    /// Packets accepted and not yet delivered: queued, being transmitted, propagating.
    pub fn in_transit(&self) -> Counter {
        let mut c = self.queued();
        if let Some((_, p)) = &self.tx {
            c.add(p.len());
        }
        for p in self.in_flight.values() {
            c.add(p.len());
        }
        c
    }

    /// Moves the model to `now` (or keeps it where it is, if `now` is earlier),
    /// processing scheduled changes and transmission ends in time order. Returns the
    /// link's time.
    fn advance(&mut self, now: Instant) -> Instant {
        let now = now.max(self.now);
        self.now = now;
        loop {
            let change = self.schedule.front().map(|(t, _)| *t).filter(|&t| t <= now);
            let tx_end = self.tx.as_ref().map(|(t, _)| *t).filter(|&t| t <= now);
            match (change, tx_end) {
                (Some(c), Some(d)) if d < c => self.complete_tx(),
                (Some(c), _) => {
                    let (_, change) = self.schedule.pop_front().expect("peeked");
                    self.apply_change(c, change);
                }
                (None, Some(_)) => self.complete_tx(),
                (None, None) => return now,
            }
        }
    }

    fn admit(&mut self, now: Instant, packet: Vec<u8>) -> Verdict {
        let len = packet.len();
        if !self.up && self.config.down_policy == DownPolicy::Drop {
            return Verdict::Dropped(DropCause::Down);
        }
        if len > self.config.mtu {
            return Verdict::Dropped(DropCause::Mtu);
        }
        let random = self.rng.loss.chance(self.config.loss);
        let burst = match self.config.burst_loss {
            Some(model) => self.burst_step(model),
            None => false,
        };
        if random || burst {
            return Verdict::Dropped(DropCause::Loss);
        }
        let copy = self
            .rng
            .duplicate
            .chance(self.config.duplicate)
            .then(|| packet.clone());
        if !self.enqueue(now, packet) {
            return Verdict::Dropped(DropCause::Queue);
        }
        if let Some(copy) = copy {
            self.stats.duplicated.add(len);
            if !self.enqueue(now, copy) {
                self.stats.count_drop(DropCause::Queue, len);
            }
        }
        Verdict::Accepted
    }

    /// One step of the Gilbert-Elliott chain: whether this packet is lost.
    fn burst_step(&mut self, model: GilbertElliott) -> bool {
        let rng = &mut self.rng.burst;
        let lost = rng.chance(if self.burst_bad {
            model.loss_bad
        } else {
            model.loss_good
        });
        if self.burst_bad {
            if rng.chance(model.r) {
                self.burst_bad = false;
            }
        } else if rng.chance(model.p) {
            self.burst_bad = true;
        }
        lost
    }

    fn can_transmit(&self) -> bool {
        self.up && self.config.rate_bps != Some(0)
    }

    /// Queues a packet, or starts it at once if the transmitter is idle. False if the
    /// queue has no room.
    fn enqueue(&mut self, now: Instant, packet: Vec<u8>) -> bool {
        let idle = self.tx.is_none() && self.queue.is_empty() && self.can_transmit();
        if !idle && self.queued_bytes + packet.len() > self.config.queue_bytes {
            return false;
        }
        self.queued_bytes += packet.len();
        self.queue.push_back(packet);
        self.stats.max_queue_bytes = self.stats.max_queue_bytes.max(self.queued_bytes);
        self.start_tx(now);
        true
    }

    /// Starts transmitting the head of the queue at `at`, if the transmitter is free.
    fn start_tx(&mut self, at: Instant) {
        if self.tx.is_some() || !self.can_transmit() {
            return;
        }
        let Some(packet) = self.queue.pop_front() else {
            return;
        };
        self.queued_bytes -= packet.len();
        let duration = match self.config.rate_bps {
            None => Duration::ZERO,
            Some(rate) => {
                if at > self.last_tx_end {
                    // The transmitter was idle: no fraction of a microsecond to carry.
                    self.carry = 0;
                }
                let bit_micros = packet.len() as u128 * 8 * 1_000_000 + u128::from(self.carry);
                let rate = u128::from(rate);
                self.carry = (bit_micros % rate) as u64;
                Duration::from_micros(u64::try_from(bit_micros / rate).unwrap_or(u64::MAX))
            }
        };
        self.tx = Some((at + duration, packet));
    }

    /// The packet being transmitted has left: send it down the wire, start the next.
    fn complete_tx(&mut self) {
        let Some((end, packet)) = self.tx.take() else {
            return;
        };
        self.last_tx_end = end;
        let mut arrival = end + self.config.delay;
        if self.config.jitter > Duration::ZERO {
            let extra = self.rng.jitter.up_to(self.config.jitter.as_micros());
            arrival += Duration::from_micros(extra);
        }
        let reordered = match self.config.reorder {
            Some(r) if self.rng.reorder.chance(r.probability) => Some(r.extra_delay),
            _ => None,
        };
        match reordered {
            Some(extra) => {
                arrival += extra;
                self.stats.reordered.add(packet.len());
            }
            None => {
                arrival = arrival.max(self.fifo_floor);
                self.fifo_floor = arrival;
            }
        }
        self.in_flight.insert((arrival, self.next_id), packet);
        self.next_id += 1;
        self.start_tx(end);
    }

    fn apply_change(&mut self, at: Instant, change: LinkChange) {
        match change {
            LinkChange::Up => {
                if !self.up {
                    self.up = true;
                    self.start_tx(at);
                }
            }
            LinkChange::Down => {
                if self.up {
                    self.up = false;
                    self.went_down();
                }
            }
            LinkChange::Rate(rate) => {
                self.config.rate_bps = rate;
                self.carry = 0;
                self.start_tx(at);
            }
            LinkChange::Delay(d) => self.config.delay = d,
            LinkChange::Jitter(j) => self.config.jitter = j,
            LinkChange::Loss(p) => self.config.loss = p,
            LinkChange::BurstLoss(model) => {
                self.config.burst_loss = model;
                self.burst_bad = false;
            }
            LinkChange::Reorder(r) => self.config.reorder = r,
            LinkChange::Duplicate(p) => self.config.duplicate = p,
            LinkChange::QueueBytes(n) => self.config.queue_bytes = n,
            LinkChange::Mtu(n) => self.config.mtu = n,
            LinkChange::DownPolicy(p) => self.config.down_policy = p,
            LinkChange::Config(config) => {
                self.config = *config;
                self.burst_bad = false;
                self.carry = 0;
                self.start_tx(at);
            }
        }
    }

    fn went_down(&mut self) {
        match self.config.down_policy {
            DownPolicy::Drop => {
                let tx = self.tx.take().map(|(_, p)| p);
                let queued = std::mem::take(&mut self.queue);
                let in_flight = std::mem::take(&mut self.in_flight);
                for p in tx.into_iter().chain(queued).chain(in_flight.into_values()) {
                    self.stats.dropped_down.add(p.len());
                }
                self.queued_bytes = 0;
                // Nothing is left on the wire for later packets to stay behind.
                self.fifo_floor = Instant::ZERO;
            }
            DownPolicy::Hold => {
                // The interrupted transmission starts over when the link is back.
                if let Some((_, p)) = self.tx.take() {
                    self.queued_bytes += p.len();
                    self.queue.push_front(p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
