//! Small applications that run on the connections of a [`crate::host::Host`].
//!
//! An application sees its connection through a [`Socket`], which records what it
//! reads and writes for the metrics (bytes, SHA-256 of each stream, delivery times), and
//! is run after every event of its host and at its own [`Application::poll_timeout`].
//! It never blocks and never waits: each run it does what it can and returns.
//!
//! | application       | what it does                                                      |
//! |-------------------|-------------------------------------------------------------------|
//! | [`BulkSender`]    | writes N bytes of the stream's [`Pattern`], then closes           |
//! | [`Sink`]          | reads everything, checks the pattern (or leaves it to SHA-256), closes at end of stream |
//! | [`Echo`]          | writes back what it reads, closes at end of stream                |
//! | [`RequestResponse`] | sends a request, waits for the whole response, `count` times, then closes |
//! | [`Responder`]     | answers each complete request with a response, closes at end of stream |
//! | [`Scripted`]      | writes, closes or aborts at given times                           |
//!
//! Every application reads what arrives (the echo only as fast as it can write it back),
//! so that no peer is held up by a full receive window by accident.
//!
//! Data written by the applications follows a [`Pattern`] keyed by the stream's two
//! socket addresses, so a receiver can check every byte at its offset, and streams of
//! different connections never look alike.

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;

use braid_proto::time::{Duration, Instant};
use serde::Serialize;

use crate::host::Socket;
use crate::rng::derive_seed;

/// An application on one connection. See the module documentation.
pub trait Application: Any {
    /// A short name for reports: "bulk", "sink", ...
    fn name(&self) -> &'static str;

    /// Does whatever can be done now. Called after every event of the host (packet,
    /// timer) and when [`Application::poll_timeout`] comes, for as long as the
    /// connection exists in the endpoint.
    fn run(&mut self, socket: &mut Socket<'_>);

    /// When the application next wants to run on its own (a scripted action).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// What the application has to say for the report.
    fn report(&self) -> AppReport {
        AppReport::default()
    }

    /// For tests: the application as its own type again.
    fn as_any(&self) -> &dyn Any;
}

impl fmt::Debug for dyn Application {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Application({})", self.name())
    }
}

/// Application-specific results; fields that do not apply are `None` (and left out of
/// JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AppReport {
    /// Bytes that differed from the expected [`Pattern`] ([`Sink`] with
    /// [`Verify::Pattern`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern_errors: Option<u64>,
    /// Stream offset of the first byte that differed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error_offset: Option<u64>,
    /// Request/response exchanges completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchanges: Option<u64>,
    /// Exchanges asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchanges_planned: Option<u64>,
    /// Time from the start of a request to the last byte of its response, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_min_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_mean_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_max_us: Option<u64>,
    /// Scripted actions carried out, of those planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions_done: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions_planned: Option<u64>,
}

// ---- the data pattern ----

/// Seed domain of stream patterns (see [`crate::rng::derive_seed`]).
const PATTERN_DOMAIN: u64 = crate::rng::domain::USER + 1;

/// The bytes of a test stream: a pseudo-random function of a key and the offset, so
/// that a receiver can check any byte where it stands, and a byte misplaced, duplicated
/// or taken from another stream is caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    key: u64,
}

impl Pattern {
    pub fn new(key: u64) -> Self {
        Pattern { key }
    }

    /// The pattern of the stream that `from` sends to `to`.
    pub fn for_stream(from: SocketAddr, to: SocketAddr) -> Self {
        // FNV-1a over both addresses and ports.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for a in [from, to] {
            match a.ip() {
                std::net::IpAddr::V4(ip) => eat(&ip.octets()),
                std::net::IpAddr::V6(ip) => eat(&ip.octets()),
            }
            eat(&a.port().to_be_bytes());
        }
        Pattern::new(h)
    }

    fn block(&self, index: u64) -> [u8; 8] {
        derive_seed(self.key, PATTERN_DOMAIN, index).to_le_bytes()
    }

    /// Fills `buf` with the stream's bytes from `offset` on.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut pos = offset;
        let mut i = 0;
        while i < buf.len() {
            let block = self.block(pos / 8);
            let start = (pos % 8) as usize;
            let take = (8 - start).min(buf.len() - i);
            buf[i..i + take].copy_from_slice(&block[start..start + take]);
            i += take;
            pos += take as u64;
        }
    }

    /// Compares `data` with the stream's bytes from `offset`: how many differ, and the
    /// stream offset of the first that does.
    pub fn check(&self, offset: u64, data: &[u8]) -> (u64, Option<u64>) {
        let mut expected = [0u8; 4096];
        let mut errors = 0;
        let mut first = None;
        for (k, chunk) in data.chunks(expected.len()).enumerate() {
            let at = offset + (k * expected.len()) as u64;
            let want = &mut expected[..chunk.len()];
            self.fill(at, want);
            if chunk != want {
                for (j, (a, b)) in chunk.iter().zip(want.iter()).enumerate() {
                    if a != b {
                        errors += 1;
                        first.get_or_insert(at + j as u64);
                    }
                }
            }
        }
        (errors, first)
    }
}

// ---- the applications ----

/// How a [`Sink`] checks what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// Every byte against the sender's [`Pattern`] at its offset (and SHA-256 too, as
    /// for every stream).
    #[default]
    Pattern,
    /// SHA-256 alone: the report compares the digest of what was delivered with the
    /// digest of what the peer wrote. For data that is not the pattern (an echo).
    Sha256,
}

/// Writes `bytes` bytes of the stream's pattern as fast as the send buffer takes them,
/// then closes. Reads (and discards) whatever comes back.
#[derive(Debug, Clone)]
pub struct BulkSender {
    bytes: u64,
    closed: bool,
}

impl BulkSender {
    pub fn new(bytes: u64) -> Self {
        BulkSender {
            bytes,
            closed: false,
        }
    }

    /// Whether every byte was written and the close issued.
    pub fn finished_writing(&self) -> bool {
        self.closed
    }
}

impl Application for BulkSender {
    fn name(&self) -> &'static str {
        "bulk"
    }

    fn run(&mut self, s: &mut Socket<'_>) {
        s.drain();
        let sent = s.bytes_sent();
        if sent < self.bytes {
            s.write_pattern(self.bytes - sent);
        }
        if !self.closed && s.bytes_sent() >= self.bytes {
            s.close();
            self.closed = true;
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Reads everything; checks it against the peer's pattern (see [`Verify`]); closes its
/// own side once the peer has finished and everything was read.
#[derive(Debug, Clone)]
pub struct Sink {
    verify: Verify,
    errors: u64,
    first_error: Option<u64>,
    closed: bool,
}

impl Sink {
    pub fn new(verify: Verify) -> Self {
        Sink {
            verify,
            errors: 0,
            first_error: None,
            closed: false,
        }
    }

    /// Bytes that differed from the pattern (always 0 under [`Verify::Sha256`]).
    pub fn pattern_errors(&self) -> u64 {
        self.errors
    }
}

impl Application for Sink {
    fn name(&self) -> &'static str {
        "sink"
    }

    fn run(&mut self, s: &mut Socket<'_>) {
        let pattern = s.incoming_pattern();
        let check = self.verify == Verify::Pattern;
        let (errors, first) = (&mut self.errors, &mut self.first_error);
        s.read_all(|offset, data| {
            if check {
                let (n, f) = pattern.check(offset, data);
                *errors += n;
                if first.is_none() {
                    *first = f;
                }
            }
        });
        if !self.closed && s.is_read_closed() {
            s.close();
            self.closed = true;
        }
    }

    fn report(&self) -> AppReport {
        match self.verify {
            Verify::Pattern => AppReport {
                pattern_errors: Some(self.errors),
                first_error_offset: self.first_error,
                ..AppReport::default()
            },
            Verify::Sha256 => AppReport::default(),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Writes back everything it reads, reading only as much as the send buffer can take
/// (so a slow reader on the other side slows the echo down rather than filling memory),
/// and closes once the peer has finished and everything was echoed.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    buf: Vec<u8>,
    closed: bool,
}

impl Echo {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Application for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn run(&mut self, s: &mut Socket<'_>) {
        self.buf.resize(64 * 1024, 0);
        loop {
            let room = s.send_capacity().min(self.buf.len());
            if room == 0 || s.readable() == 0 {
                break;
            }
            let n = s.read(&mut self.buf[..room]);
            if n == 0 {
                break;
            }
            let written = s.write(&self.buf[..n]);
            debug_assert_eq!(written, n, "send capacity was checked");
        }
        if !self.closed && s.is_read_closed() && s.readable() == 0 {
            s.close();
            self.closed = true;
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[derive(Debug, Clone, Copy)]
enum Exchange {
    /// Writing the request: bytes written so far, and when the first went.
    Request { written: u64, started: Instant },
    /// Waiting for the response: bytes of it read so far.
    Response { read: u64, started: Instant },
}

/// Sends `request` bytes, waits for `response` bytes back, `count` times in turn; then
/// closes. Records the latency of each exchange, from the first byte of the request
/// handed to TCP to the last byte of the response read.
#[derive(Debug, Clone)]
pub struct RequestResponse {
    request: u64,
    response: u64,
    count: u64,
    current: Option<Exchange>,
    latencies: Vec<Duration>,
    closed: bool,
}

impl RequestResponse {
    pub fn new(request: u64, response: u64, count: u64) -> Self {
        RequestResponse {
            request,
            response,
            count,
            current: None,
            latencies: Vec::new(),
            closed: false,
        }
    }

    /// Latencies of the exchanges completed, in order.
    pub fn latencies(&self) -> &[Duration] {
        &self.latencies
    }
}

impl Application for RequestResponse {
    fn name(&self) -> &'static str {
        "request_response"
    }

    fn run(&mut self, s: &mut Socket<'_>) {
        let now = s.now();
        loop {
            if self.latencies.len() as u64 >= self.count {
                s.drain();
                if !self.closed {
                    s.close();
                    self.closed = true;
                }
                return;
            }
            let exchange = self.current.unwrap_or(Exchange::Request {
                written: 0,
                started: now,
            });
            match exchange {
                Exchange::Request { written, started } => {
                    let written = written + s.write_pattern(self.request - written);
                    if written < self.request {
                        self.current = Some(Exchange::Request { written, started });
                        return;
                    }
                    self.current = Some(Exchange::Response { read: 0, started });
                }
                Exchange::Response { read, started } => {
                    let read = read + s.drain();
                    if read < self.response {
                        self.current = Some(Exchange::Response { read, started });
                        return;
                    }
                    self.latencies.push(now - started);
                    self.current = None;
                }
            }
        }
    }

    fn report(&self) -> AppReport {
        let n = self.latencies.len() as u64;
        let micros = self.latencies.iter().map(|d| d.as_micros());
        AppReport {
            exchanges: Some(n),
            exchanges_planned: Some(self.count),
            latency_min_us: micros.clone().min(),
            latency_max_us: micros.clone().max(),
            latency_mean_us: (n > 0).then(|| micros.sum::<u64>() / n),
            ..AppReport::default()
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The server of [`RequestResponse`]: for every `request` bytes read, writes `response`
/// bytes of its pattern; closes once the peer has finished and every response is
/// written.
#[derive(Debug, Clone)]
pub struct Responder {
    request: u64,
    response: u64,
    received: u64,
    answered: u64,
    owed: u64,
    closed: bool,
}

impl Responder {
    pub fn new(request: u64, response: u64) -> Self {
        Responder {
            request: request.max(1),
            response,
            received: 0,
            answered: 0,
            owed: 0,
            closed: false,
        }
    }

    /// Requests answered (their responses handed to TCP or queued).
    pub fn answered(&self) -> u64 {
        self.answered
    }
}

impl Application for Responder {
    fn name(&self) -> &'static str {
        "responder"
    }

    fn run(&mut self, s: &mut Socket<'_>) {
        self.received += s.drain();
        let complete = self.received / self.request;
        if complete > self.answered {
            self.owed += (complete - self.answered) * self.response;
            self.answered = complete;
        }
        if self.owed > 0 {
            self.owed -= s.write_pattern(self.owed);
        }
        if !self.closed && self.owed == 0 && s.is_read_closed() {
            s.close();
            self.closed = true;
        }
    }

    fn report(&self) -> AppReport {
        AppReport {
            exchanges: Some(self.answered),
            ..AppReport::default()
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One step of a [`Scripted`] application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptAction {
    /// Write this many bytes of the pattern (as the send buffer takes them).
    Write(u64),
    /// Close the sending side once every byte asked for so far was written.
    Close,
    /// Abort at once: RST to the peer, buffers dropped.
    Abort,
}

/// Carries out actions at given simulation times. Actions due before the connection
/// existed run as soon as it does; actions at the same time run in the order given.
/// Reads (and discards) everything that arrives.
#[derive(Debug, Clone)]
pub struct Scripted {
    actions: Vec<(Instant, ScriptAction)>,
    next: usize,
    pending: u64,
    close_pending: bool,
    closed: bool,
    aborted: bool,
}

impl Scripted {
    /// The actions are sorted by time (stably, so equal times keep their order).
    pub fn new(mut actions: Vec<(Instant, ScriptAction)>) -> Self {
        actions.sort_by_key(|(t, _)| *t);
        Scripted {
            actions,
            next: 0,
            pending: 0,
            close_pending: false,
            closed: false,
            aborted: false,
        }
    }

    /// Whether the script has aborted the connection.
    pub fn aborted(&self) -> bool {
        self.aborted
    }
}

impl Application for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn run(&mut self, s: &mut Socket<'_>) {
        let now = s.now();
        s.drain();
        while let Some(&(at, action)) = self.actions.get(self.next) {
            if at > now || self.aborted {
                break;
            }
            self.next += 1;
            match action {
                ScriptAction::Write(n) => self.pending += n,
                ScriptAction::Close => self.close_pending = true,
                ScriptAction::Abort => {
                    s.abort();
                    self.aborted = true;
                    self.pending = 0;
                    self.close_pending = false;
                }
            }
        }
        if self.aborted {
            return;
        }
        if self.pending > 0 {
            self.pending -= s.write_pattern(self.pending);
        }
        if self.close_pending && self.pending == 0 && !self.closed {
            s.close();
            self.closed = true;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.aborted {
            return None;
        }
        self.actions.get(self.next).map(|(t, _)| *t)
    }

    fn report(&self) -> AppReport {
        AppReport {
            actions_done: Some(self.next as u64),
            actions_planned: Some(self.actions.len() as u64),
            ..AppReport::default()
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An application described by value, to be built for each connection (a listener
/// builds one per accepted connection). Scenario files describe applications this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSpec {
    Bulk {
        bytes: u64,
    },
    Sink {
        verify: Verify,
    },
    Echo,
    RequestResponse {
        request: u64,
        response: u64,
        count: u64,
    },
    Responder {
        request: u64,
        response: u64,
    },
    Scripted {
        actions: Vec<(Instant, ScriptAction)>,
    },
}

impl AppSpec {
    pub fn build(&self) -> Box<dyn Application> {
        match self {
            AppSpec::Bulk { bytes } => Box::new(BulkSender::new(*bytes)),
            AppSpec::Sink { verify } => Box::new(Sink::new(*verify)),
            AppSpec::Echo => Box::new(Echo::new()),
            AppSpec::RequestResponse {
                request,
                response,
                count,
            } => Box::new(RequestResponse::new(*request, *response, *count)),
            AppSpec::Responder { request, response } => {
                Box::new(Responder::new(*request, *response))
            }
            AppSpec::Scripted { actions } => Box::new(Scripted::new(actions.clone())),
        }
    }

    /// The application's report name, as [`Application::name`].
    pub fn name(&self) -> &'static str {
        match self {
            AppSpec::Bulk { .. } => "bulk",
            AppSpec::Sink { .. } => "sink",
            AppSpec::Echo => "echo",
            AppSpec::RequestResponse { .. } => "request_response",
            AppSpec::Responder { .. } => "responder",
            AppSpec::Scripted { .. } => "scripted",
        }
    }

    /// The usual other side of a client application: a sink for data sent, a responder
    /// for requests. `None` for applications that need their peer named (a client
    /// sink, an echo, a responder).
    pub fn default_server(&self) -> Option<AppSpec> {
        match self {
            AppSpec::Bulk { .. } | AppSpec::Scripted { .. } => Some(AppSpec::Sink {
                verify: Verify::Pattern,
            }),
            AppSpec::RequestResponse {
                request, response, ..
            } => Some(AppSpec::Responder {
                request: *request,
                response: *response,
            }),
            AppSpec::Sink { .. } | AppSpec::Echo | AppSpec::Responder { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_a_function_of_offset() {
        let p = Pattern::new(7);
        let mut whole = vec![0u8; 100];
        p.fill(3, &mut whole);
        let mut part = vec![0u8; 40];
        p.fill(3 + 37, &mut part);
        assert_eq!(&whole[37..77], &part[..]);
        assert_eq!(p.check(3, &whole), (0, None));
        let mut bad = whole.clone();
        bad[10] ^= 1;
        bad[90] ^= 1;
        assert_eq!(p.check(3, &bad), (2, Some(13)));
        // Another key, another stream.
        let mut other = vec![0u8; 100];
        Pattern::new(8).fill(3, &mut other);
        assert_ne!(whole, other);
        // Not periodic in a short span.
        let mut long = vec![0u8; 1 << 16];
        p.fill(0, &mut long);
        assert_ne!(&long[..4096], &long[4096..8192]);
    }

    #[test]
    fn streams_of_a_connection_have_different_patterns() {
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        assert_ne!(Pattern::for_stream(a, b), Pattern::for_stream(b, a));
        assert_eq!(Pattern::for_stream(a, b), Pattern::for_stream(a, b));
    }

    #[test]
    fn scripted_actions_are_sorted_stably() {
        let s = Scripted::new(vec![
            (Instant::from_millis(5), ScriptAction::Close),
            (Instant::from_millis(1), ScriptAction::Write(10)),
            (Instant::from_millis(5), ScriptAction::Abort),
        ]);
        assert_eq!(
            s.actions.iter().map(|a| a.1).collect::<Vec<_>>(),
            vec![
                ScriptAction::Write(10),
                ScriptAction::Close,
                ScriptAction::Abort
            ]
        );
        assert_eq!(s.poll_timeout(), Some(Instant::from_millis(1)));
    }
}
