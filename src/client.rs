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
/// server's problem. Blocking; one request per batch.
pub struct AppendClient {
    agent: ureq::Agent,
    url: String,
}

/// A refused or failed append: the HTTP status (0 if none was received) and the detail.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct AppendFailure {
    pub status: u16,
    pub detail: String,
}

impl AppendFailure {
    /// Whether the batch was refused, so that nothing of it was written: a 4xx (the ledger's
    /// refusals, or a URL without the route). No answer, a timeout (408: the batch may land
    /// all the same), 429 or a 5xx leave it unknown; a retry with the same idempotency keys is
    /// safe either way.
    pub fn is_refusal(&self) -> bool {
        (400..500).contains(&self.status) && !matches!(self.status, 408 | 429)
    }
}

impl AppendClient {
    pub fn new(base_url: &str) -> AppendClient {
        let agent = agent(std::time::Duration::from_secs(60));
        AppendClient { agent, url: format!("{}/v1/events", base_url.trim_end_matches('/')) }
    }

    /// One receipt per submission, in order, each with its checkpoint.
    pub fn append(&self, batch: &[Submission]) -> Result<Vec<Receipt>, AppendFailure> {
        let body = serde_json::to_vec(batch).map_err(|e| AppendFailure { status: 0, detail: e.to_string() })?;
        let mut res = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(&body[..])
            .map_err(|e| AppendFailure { status: 0, detail: describe(&e) })?;
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().map_err(|e| AppendFailure { status, detail: e.to_string() })?;
        if status != 200 {
            let detail = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| Some(format!("{} ({})", v.get("detail")?.as_str()?, v.get("code")?.as_str()?)))
                .unwrap_or(text);
            return Err(AppendFailure { status, detail });
        }
        let appended: Appended =
            serde_json::from_str(&text).map_err(|e| AppendFailure { status, detail: format!("bad receipts: {e}") })?;
        if appended.receipts.len() != batch.len() {
            let detail = format!("{} receipts for {} events", appended.receipts.len(), batch.len());
            return Err(AppendFailure { status, detail });
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
        .map_err(|e| AppendFailure { status: 0, detail: describe(&e) })?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().map_err(|e| AppendFailure { status, detail: e.to_string() })?;
    let json: Result<serde_json::Value, _> = serde_json::from_str(&text);
    if status != 200 {
        // A problem's detail, or whatever else came back (a proxy's page, an empty 408).
        let detail = match &json {
            Ok(v) => v.get("detail").and_then(|d| d.as_str()).map(str::to_string),
            Err(_) => None,
        };
        let detail = detail.unwrap_or_else(|| if text.trim().is_empty() { "(no body)".into() } else { text.clone() });
        return Err(AppendFailure { status, detail });
    }
    json.map_err(|e| AppendFailure { status, detail: format!("not JSON: {e}") })
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
