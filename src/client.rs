//! What an internal service embeds to submit events: commit private values, sign, and build
//! the submission; the blocking HTTP clients of the internal API (appends, auditors' openings).

use crate::engine::Receipt;
use crate::http::internal::Appended;
use vigil_core::event::Event;
use vigil_core::keys::SignerKey;
use vigil_core::statement::{ParsedSubmission, Statement, StatementError, Submission};

/// Commits the event's private values with fresh random salts, signs the statement, and
/// returns the submission with its openings. Signed again (a retry after a crash: another
/// `created_at_ms`, other salts), the same event under the same idempotency key is recognised
/// by the ledger, which opens both, and answered with its original receipt.
pub fn sign_event(
    key: &SignerKey,
    mut event: Event,
    idempotency_key: &str,
    created_at_ms: u64,
) -> Result<Submission, StatementError> {
    let openings = event.commit_private(rand::random::<[u8; 32]>);
    let st = Statement { key: key.key_ref.clone(), idempotency_key: idempotency_key.into(), created_at_ms, event };
    Submission::sign(key, &st, openings)
}

/// [`sign_event`], parsed for in-process appends.
pub fn signed(
    key: &SignerKey,
    event: Event,
    idempotency_key: &str,
    created_at_ms: u64,
) -> Result<ParsedSubmission, StatementError> {
    sign_event(key, event, idempotency_key, created_at_ms)?.parse()
}

/// A blocking HTTP client that hands every status back (no status is an error) and gives up
/// after `timeout`: what every client of vigil's APIs uses.
pub fn agent(timeout: std::time::Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build();
    ureq::Agent::with_parts(config, ureq::unversioned::transport::DefaultConnector::new(), LiteralFirst::default())
}

/// What went wrong with a request, for people: ureq's words, but for `https://`, which this
/// build does not speak (no TLS library): said plainly, with what to do instead.
pub fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::TlsRequired => "https:// is not supported: vigil's client speaks plain HTTP (what it reads is \
            verified against signatures, so TLS would add privacy, not integrity); use an http:// URL, or a local \
            TLS-terminating proxy"
            .into(),
        e => e.to_string(),
    }
}

/// Takes a literal IP address as it is and hands host names to ureq's own resolver. That one
/// starts a thread per request when a timeout is set (a lookup cannot be abandoned otherwise),
/// and it resolves before it looks for a pooled connection: a thread per append, a thousand
/// over a benchmark run against `127.0.0.1`.
#[derive(Debug, Default)]
struct LiteralFirst(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("http") => Some(80),
            Some("https") => Some(443),
            _ => None,
        });
        // An IPv6 literal comes in brackets.
        let host = uri.host().map(|h| h.trim_start_matches('[').trim_end_matches(']'));
        match (host.and_then(|h| h.parse::<std::net::IpAddr>().ok()), port) {
            (Some(ip), Some(port)) => {
                let mut addrs = self.empty();
                addrs.push(std::net::SocketAddr::new(ip, port));
                Ok(addrs)
            }
            _ => self.0.resolve(uri, config, timeout),
        }
    }
}

/// Posts batches of submissions to an internal append API and returns the receipts or the
/// server's problem. Blocking; one request per batch (after waiting out a saturated server).
pub struct AppendClient {
    agent: ureq::Agent,
    url: String,
    retries: u32,
}

/// A refused or failed append: the HTTP status (0 if none was received) and the detail.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct AppendFailure {
    pub status: u16,
    pub detail: String,
    /// The server answered saturated (429, or 503 `saturated`), still after the client's
    /// retries: it took nothing of the batch.
    pub saturated: bool,
}

/// A failure other than a saturated answer.
fn failure(status: u16, detail: impl Into<String>) -> AppendFailure {
    AppendFailure { status, detail: detail.into(), saturated: false }
}

impl AppendFailure {
    /// Whether the batch was refused, so that nothing of it was written: a 4xx (the ledger's
    /// refusals, or a URL without the route). No answer, a timeout (408: the body did not
    /// arrive whole; 503 `timeout`: the server was slow, and the batch may land all the same),
    /// 429 or another 5xx leave it unknown; a retry with the same idempotency keys is safe
    /// either way.
    pub fn is_refusal(&self) -> bool {
        (400..500).contains(&self.status) && !matches!(self.status, 408 | 429)
    }
}

/// How many times [`AppendClient::new`] sends a batch again after a saturated answer.
pub const RETRIES: u32 = 5;
/// The longest wait for a `Retry-After` the client honours: a longer one is waited this long.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// The largest request body the internal API reads: what [`split_batch`] keeps each request under.
pub const MAX_REQUEST_BYTES: usize = crate::http::internal::MAX_BODY;

/// Splits `subs` into consecutive requests of at most `max_events` submissions whose JSON
/// array (`[a,b,…]`, as [`AppendClient::append`] sends it) is at most [`MAX_REQUEST_BYTES`]:
/// the ranges, in order. A submission over the limit by itself goes alone (and is refused 413).
pub fn split_batch(subs: &[Submission], max_events: usize) -> Vec<std::ops::Range<usize>> {
    let max_events = max_events.max(1);
    let mut ranges = Vec::new();
    let (mut start, mut bytes) = (0, 1);
    for (i, sub) in subs.iter().enumerate() {
        // Its JSON and the comma (or, first, the closing bracket) it brings.
        let len = serde_json::to_vec(sub).map_or(0, |v| v.len()) + 1;
        if i > start && (i - start >= max_events || bytes + len > MAX_REQUEST_BYTES) {
            ranges.push(start..i);
            (start, bytes) = (i, 1);
        }
        bytes += len;
    }
    if start < subs.len() {
        ranges.push(start..subs.len());
    }
    ranges
}

/// The request body of `batch`, refused here (413, nothing sent) when it is over the limit:
/// the server would answer 413 and read the body only to drop it (and, past
/// `http::internal::DRAIN_MAX`, close the connection under a client still writing).
fn encode(batch: &[Submission]) -> Result<Vec<u8>, AppendFailure> {
    let body = serde_json::to_vec(batch).map_err(|e| failure(0, e.to_string()))?;
    if body.len() > MAX_REQUEST_BYTES {
        return Err(failure(
            413,
            match batch.len() {
                1 => format!(
                    "the event is {} bytes of JSON, over the internal API's limit of {MAX_REQUEST_BYTES} (an entry is \
                     at most {} bytes); nothing was sent",
                    body.len(),
                    vigil_core::entry::MAX_ENTRY_SIZE
                ),
                _ => format!(
                    "the batch is {} bytes of JSON, over the internal API's limit of {MAX_REQUEST_BYTES}: split it \
                     (vigil::client::split_batch); nothing was sent",
                    body.len()
                ),
            },
        ));
    }
    Ok(body)
}

impl AppendClient {
    /// A client of the internal API at `base_url` that waits out a saturated server up to
    /// [`RETRIES`] times.
    pub fn new(base_url: &str) -> AppendClient {
        let agent = agent(std::time::Duration::from_secs(60));
        AppendClient { agent, url: format!("{}/v1/events", base_url.trim_end_matches('/')), retries: RETRIES }
    }

    /// How many times a batch is sent again after a saturated answer (429, or 503 `saturated`):
    /// each time after the answer's `Retry-After` (1 s without one, at most
    /// [`MAX_RETRY_AFTER`]). Sending it again is safe: an event already logged is answered with
    /// its receipt. 0: the saturated answer is returned as it is.
    pub fn with_retries(mut self, retries: u32) -> AppendClient {
        self.retries = retries;
        self
    }

    /// One receipt per submission, in order, each with its checkpoint.
    pub fn append(&self, batch: &[Submission]) -> Result<Vec<Receipt>, AppendFailure> {
        let body = encode(batch)?;
        self.send(|| Ok((std::borrow::Cow::Borrowed(&body[..]), batch.len())))
    }

    /// [`append`](Self::append) for a client that holds the key: `sign` builds the batch for
    /// each request, the first and each one after a saturated answer, so that its events'
    /// `created_at_ms` is the time they are sent. A batch signed once and sent again after the
    /// waits can fall outside a short replay window (422 `outside_replay_window`). `sign` must
    /// give the same events under the same idempotency keys each time. An error of `sign` is
    /// returned as it is, and nothing more is sent.
    pub fn append_signing<E: From<AppendFailure>>(
        &self,
        mut sign: impl FnMut() -> Result<Vec<Submission>, E>,
    ) -> Result<Vec<Receipt>, E> {
        self.send(|| {
            let batch = sign()?;
            Ok((std::borrow::Cow::Owned(encode(&batch)?), batch.len()))
        })
    }

    /// Sends the body `body` gives (and the number of its events) until it is answered other
    /// than saturated, or the retries are spent; `body` is called for each request.
    fn send<'b, E: From<AppendFailure>>(
        &self,
        mut body: impl FnMut() -> Result<(std::borrow::Cow<'b, [u8]>, usize), E>,
    ) -> Result<Vec<Receipt>, E> {
        let mut attempt = 0;
        loop {
            let (bytes, events) = body()?;
            match self.post(&bytes, events) {
                Err((_, Some(wait))) if attempt < self.retries => {
                    attempt += 1;
                    std::thread::sleep(wait);
                }
                r => return r.map_err(|(f, _)| E::from(f)),
            }
        }
    }

    /// One request; a saturated answer comes with how long to wait before the next.
    fn post(&self, body: &[u8], events: usize) -> Result<Vec<Receipt>, (AppendFailure, Option<std::time::Duration>)> {
        let mut res = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| (failure(0, describe(&e)), None))?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(std::time::Duration::from_secs(1), std::time::Duration::from_secs)
            .min(MAX_RETRY_AFTER);
        let text = res.body_mut().read_to_string().map_err(|e| (failure(status, e.to_string()), None))?;
        if status != 200 {
            let problem = serde_json::from_str::<serde_json::Value>(&text).ok();
            let code = problem.as_ref().and_then(|v| v.get("code")?.as_str());
            let saturated = status == 429 || (status == 503 && code == Some("saturated"));
            let detail = problem
                .as_ref()
                .and_then(|v| Some(format!("{} ({})", v.get("detail")?.as_str()?, code?)))
                .unwrap_or(text);
            return Err((AppendFailure { status, detail, saturated }, saturated.then_some(retry_after)));
        }
        let appended: Appended =
            serde_json::from_str(&text).map_err(|e| (failure(status, format!("bad receipts: {e}")), None))?;
        if appended.receipts.len() != events {
            let detail = format!("{} receipts for {events} events", appended.receipts.len());
            return Err((failure(status, detail), None));
        }
        Ok(appended.into_receipts())
    }
}

/// Fetches the private-field openings of entry `seq` from an internal API, as an auditor: the
/// request is signed with the auditor's key (`vigil_core::request`) at `now_ms`.
pub fn fetch_openings(
    base_url: &str,
    auditor: &SignerKey,
    seq: u64,
    now_ms: u64,
) -> Result<serde_json::Value, AppendFailure> {
    let path = format!("/v1/openings/{seq}");
    let header = vigil_core::request::RequestSignature::sign(auditor, "GET", &path, now_ms);
    let agent = agent(std::time::Duration::from_secs(30));
    let mut res = agent
        .get(&format!("{}{path}", base_url.trim_end_matches('/')))
        .header(vigil_core::request::HEADER, &header)
        .call()
        .map_err(|e| failure(0, describe(&e)))?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().map_err(|e| failure(status, e.to_string()))?;
    let json: Result<serde_json::Value, _> = serde_json::from_str(&text);
    if status != 200 {
        // A problem's detail, or whatever else came back (a proxy's page, an empty 408).
        let detail = match &json {
            Ok(v) => v.get("detail").and_then(|d| d.as_str()).map(str::to_string),
            Err(_) => None,
        };
        let detail = detail.unwrap_or_else(|| if text.trim().is_empty() { "(no body)".into() } else { text.clone() });
        return Err(failure(status, detail));
    }
    json.map_err(|e| failure(status, format!("not JSON: {e}")))
}

/// One line of `vigil append`'s input: an event, or `{"idempotency_key": …, "event": …}`.
/// Without an idempotency key, one is derived from the line's bytes and the service key, so the
/// same line is the same event. It is keyed (`SignerKey::derive_secret`) because it is
/// published in the statement: a plain hash of a line holding an account id in clear would let
/// anyone test guesses of it.
pub fn parse_line(line: &str, key: &SignerKey) -> Result<(String, Event), String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let (key, ev) = match (v.get("event"), v.get("idempotency_key")) {
        (Some(ev), Some(k)) => (k.as_str().ok_or("idempotency_key must be a string")?.to_string(), ev.clone()),
        (Some(_), None) => return Err("a line with \"event\" needs \"idempotency_key\"".into()),
        _ => {
            let id = key.derive_secret("vigil append idempotency key v1", line.trim().as_bytes());
            (format!("line-{}", hex::encode(&id[..16])), v)
        }
    };
    let ev = Event::from_value(ev).map_err(|e| e.to_string())?;
    Ok((key, ev))
}

#[cfg(test)]
mod tests {
    use super::LiteralFirst;
    use ureq::unversioned::resolver::Resolver;

    /// Requests are cut at the event count or before the body would pass the limit, whichever
    /// comes first; every submission is in exactly one, in order.
    #[test]
    fn a_batch_is_split_by_count_and_by_size() {
        let key = vigil_core::keys::SignerKey::from_seed("risk", [7; 32]).unwrap();
        // An alarm referring `refs` times to entry u64::MAX (21 bytes each in JSON).
        let sub = |i: usize, refs: usize| {
            let ev = serde_json::json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": "x".repeat(4000),
                "refs": vec![u64::MAX; refs]});
            let ev = vigil_core::event::Event::from_value(ev).unwrap();
            super::sign_event(&key, ev, &format!("k{i}"), 1).unwrap()
        };
        let size = |subs: &[vigil_core::statement::Submission]| serde_json::to_vec(subs).unwrap().len();
        let small: Vec<_> = (0..7).map(|i| sub(i, 0)).collect();
        let large: Vec<_> = (0..400).map(|i| sub(i, 1000)).collect();
        // The most large ones a request holds: the brackets, then each one's JSON and comma.
        let per_request = (super::MAX_REQUEST_BYTES - 1) / (size(&large[..1]) - 1);
        assert!(size(&large[..per_request]) <= super::MAX_REQUEST_BYTES);
        assert!(size(&large[..per_request + 1]) > super::MAX_REQUEST_BYTES);
        assert!((100..200).contains(&per_request), "{per_request}");
        for (name, subs, max, want) in [
            ("by count", &small[..], 3, vec![0..3, 3..6, 6..7]),
            ("one request", &small[..], 100, std::iter::once(0..7).collect()),
            ("one at a time", &small[..2], 1, vec![0..1, 1..2]),
            ("by size", &large[..200], 200, vec![0..per_request, per_request..200]),
            (
                "by size, then count",
                &large[..],
                1000,
                vec![0..per_request, per_request..2 * per_request, 2 * per_request..400],
            ),
            ("empty", &[][..], 10, vec![]),
        ] {
            let got = super::split_batch(subs, max);
            assert_eq!(got, want, "{name}");
            for r in got {
                assert!(r.len() == 1 || size(&subs[r.clone()]) <= super::MAX_REQUEST_BYTES, "{name}: {r:?}");
            }
        }
    }

    #[test]
    fn literal_addresses_are_taken_as_they_are_and_names_are_resolved() {
        let config = ureq::config::Config::default();
        // With no time left: what needs no lookup resolves (ureq's own resolver would start a
        // thread and, almost always, give up at once).
        let resolve = |url: &str, secs: u64| -> Vec<String> {
            let timeout = ureq::unversioned::transport::NextTimeout {
                after: ureq::unversioned::transport::time::Duration::from_secs(secs),
                reason: ureq::Timeout::Resolve,
                per_read: None,
                per_write: None,
            };
            match LiteralFirst::default().resolve(&url.parse().unwrap(), &config, timeout) {
                Ok(addrs) => addrs.iter().map(|a| a.to_string()).collect(),
                Err(e) => vec![format!("error: {e}")],
            }
        };
        for (url, want) in [
            ("http://127.0.0.1:8080/v1/events", "127.0.0.1:8080"),
            ("http://127.0.0.1/v1/events", "127.0.0.1:80"),
            ("https://10.1.2.3/", "10.1.2.3:443"),
            ("http://[::1]:9/x", "[::1]:9"),
            ("http://[::1]/x", "[::1]:80"),
        ] {
            assert_eq!(resolve(url, 0), [want], "{url}");
        }
        // A name goes to the system's resolver (here through /etc/hosts).
        let local = resolve("http://localhost:7/", 5);
        assert!(!local.is_empty() && local.iter().all(|a| a.ends_with(":7") && !a.starts_with("error")), "{local:?}");
    }
}
