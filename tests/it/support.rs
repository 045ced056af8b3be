//! Shared test helpers: a ledger in a temp dir with deterministic keys.

use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;
use vigil::client::signed;
use vigil::config::bootstrap_submissions;
pub use vigil::engine::FixedClock;
use vigil::engine::{Engine, EngineConfig};
use vigil_core::event::{Event, EventKind};
use vigil_core::keys::SignerKey;
use vigil_core::statement::ParsedSubmission;

pub fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, [seed; 32]).unwrap()
}

/// Two keys named `twin` with the same 32-bit key id (`twin+0fe81b63`) and different public
/// keys, found by a birthday search over seeds (the index, big-endian, in the first 8 bytes):
/// what a `key_registered` of the second, after the first, is refused for (`key_conflict`).
pub fn twin_keys() -> (SignerKey, SignerKey) {
    let seed = |i: u64| {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&i.to_be_bytes());
        s
    };
    let twins = [28_729, 35_570].map(|i| SignerKey::from_seed("twin", seed(i)).unwrap());
    assert_eq!(twins[0].key_ref, twins[1].key_ref, "one name and key id");
    assert_ne!(twins[0].verifier().key, twins[1].verifier().key, "two public keys");
    let [a, b] = twins;
    (a, b)
}

pub struct Keys {
    pub log: SignerKey,
    pub operator: SignerKey,
    pub withdrawals: SignerKey,
    pub risk: SignerKey,
    pub ops: SignerKey,
    /// Registered and then revoked during bootstrap.
    pub retired: SignerKey,
    /// Never registered.
    pub stranger: SignerKey,
}

impl Keys {
    pub fn new() -> Keys {
        Keys {
            log: key("test.example/log", 1),
            operator: key("operator", 2),
            withdrawals: key("withdrawals", 3),
            risk: key("risk", 4),
            ops: key("operations", 5),
            retired: key("retired", 6),
            stranger: key("stranger", 7),
        }
    }
}

pub const T0: u64 = 1_700_000_000_000;

pub struct Ledger {
    pub dir: TempDir,
    pub engine: Engine,
    pub keys: Keys,
    pub clock: Arc<FixedClock>,
}

pub fn engine_config(keys: &Keys, clock: Arc<FixedClock>) -> EngineConfig {
    let mut c = EngineConfig::new(keys.log.clone());
    c.clock = clock;
    c
}

impl Ledger {
    /// A new log: genesis, the service keys registered, and `retired` registered then revoked.
    pub fn new() -> Ledger {
        Self::in_dir(tempfile::tempdir().unwrap())
    }

    /// A new log in a new folder under `parent` (created if missing), as [`Ledger::new`]'s is
    /// under the system's temporary folder.
    pub fn at(parent: &Path) -> Ledger {
        std::fs::create_dir_all(parent).unwrap();
        Self::in_dir(TempDir::with_prefix_in("ledger", parent).unwrap())
    }

    fn in_dir(dir: TempDir) -> Ledger {
        let keys = Keys::new();
        let clock = Arc::new(FixedClock(T0.into()));
        let engine = Engine::open(&dir.path().join("data"), engine_config(&keys, clock.clone())).unwrap();
        let services = vec![
            (keys.withdrawals.verifier(), vec![EventKind::Withdrawal]),
            (keys.risk.verifier(), vec![EventKind::Alarm]),
            (
                keys.ops.verifier(),
                vec![EventKind::Freeze, EventKind::Unfreeze, EventKind::IncidentOpen, EventKind::IncidentClose],
            ),
            (keys.retired.verifier(), vec![EventKind::Alarm]),
        ];
        engine.append_blocking(bootstrap_submissions(&keys.operator, &services, T0).unwrap()).unwrap();
        let l = Ledger { dir, engine, keys, clock };
        let revoke = l.sub(
            &l.keys.operator,
            serde_json::json!({"kind": "key_revoked", "key": l.keys.retired.key_ref.to_string(), "reason": "rotated"}),
            "revoke-retired",
        );
        l.engine.append_blocking(vec![revoke]).unwrap();
        l
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Closes and reopens the engine on the same data dir.
    pub fn reopen(self) -> Ledger {
        let Ledger { dir, engine, keys, clock } = self;
        drop(engine);
        let engine = Engine::open(&dir.path().join("data"), engine_config(&keys, clock.clone())).unwrap();
        Ledger { dir, engine, keys, clock }
    }

    pub fn sub(&self, key: &SignerKey, event: Value, idem: &str) -> ParsedSubmission {
        sub(key, event, idem)
    }
}

/// `event` (JSON) signed by `key` at `T0` under idempotency key `idem`.
pub fn sub(key: &SignerKey, event: Value, idem: &str) -> ParsedSubmission {
    sub_at(key, event, idem, T0)
}

/// [`sub`], created at `at` (Unix ms).
pub fn sub_at(key: &SignerKey, event: Value, idem: &str, at: u64) -> ParsedSubmission {
    signed(key, Event::from_value(event).unwrap(), idem, at).unwrap()
}

pub fn incident_open(id: &str) -> Value {
    serde_json::json!({"kind": "incident_open", "incident": id, "title": "t", "summary": "s", "severity": "high"})
}

pub fn withdrawal(id: &str) -> Value {
    serde_json::json!({"kind": "withdrawal", "withdrawal_id": id, "stage": "requested", "asset": "BTC",
        "amount": "150000000", "destination": "bc1qtest", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-42"})
}

/// Alarm `i` of ~6.5 KB of JSON (a long summary, 1,024 references to entry 0): 700 of them
/// are over the internal API's 4 MiB body limit.
pub fn large_alarm(i: usize) -> Value {
    serde_json::json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": format!("{i} {}", "x".repeat(4000)),
        "refs": vec![0; 1024]})
}

pub fn alarm(refs: Vec<u64>) -> Value {
    serde_json::json!({"kind": "alarm", "rule": "outflow", "severity": "high", "summary": "large outflow", "refs": refs})
}

/// Opens a vigil data dir with raw RocksDB, for tests that tamper with the bytes on disk.
pub fn raw_db(path: &Path) -> rocksdb::DB {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), path).unwrap();
    rocksdb::DB::open_cf(&rocksdb::Options::default(), path, cfs).unwrap()
}

/// Rewrites stored entry `seq` of the closed data dir `data` through raw RocksDB, as damage
/// or an attacker with the disk would: the `entries` family holds chunks keyed by their last
/// sequence number, each entry as uint16 length ‖ bytes (src/store.rs).
pub fn edit_stored_entry(data: &Path, seq: u64, edit: impl FnOnce(&mut Vec<u8>)) {
    let db = raw_db(data);
    let cf = db.cf_handle("entries").unwrap();
    let mut it = db.raw_iterator_cf(cf);
    it.seek(seq.to_be_bytes());
    let (key, chunk) = (it.key().unwrap().to_vec(), it.value().unwrap().to_vec());
    drop(it);
    let mut entries = Vec::new();
    let mut rest = &chunk[..];
    while !rest.is_empty() {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        entries.push(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    let last = u64::from_be_bytes(key.clone().try_into().unwrap());
    let first = last + 1 - entries.len() as u64;
    assert!((first..=last).contains(&seq), "entry {seq} is not stored");
    edit(&mut entries[(seq - first) as usize]);
    let mut value = Vec::new();
    for e in &entries {
        value.extend_from_slice(&(e.len() as u16).to_be_bytes());
        value.extend_from_slice(e);
    }
    db.put_cf(cf, key, value).unwrap();
}

pub fn vigil_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vigil")
}

/// `vigil demo --no-serve` into `data` with the example keys: seeds, verifies and exits.
pub fn demo_no_serve(data: &Path) -> std::process::Output {
    std::process::Command::new(vigil_bin())
        .args(["demo", "--no-serve", "--data-dir"])
        .arg(data)
        .arg("--keys")
        .arg(RunningDemo::keys())
        .output()
        .unwrap()
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Unix time in milliseconds, for events signed now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Runs the `vigil` binary: exit code, stdout, stderr.
pub fn vigil(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(vigil_bin()).args(args).output().unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), s(&out.stdout), s(&out.stderr))
}

/// The body of a GET of `url` that must succeed, as text (the test's own read, not the page's).
pub fn get_text(url: &str) -> String {
    ureq::get(url).call().unwrap().body_mut().read_to_string().unwrap()
}

/// The body of a GET of `url` that must succeed, as JSON.
pub fn get_json(url: &str) -> serde_json::Value {
    serde_json::from_str(&get_text(url)).unwrap()
}

/// Polls `done` until it holds (30 s at most).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits until the public API at `public` serves a checkpoint of at least `size` entries (with
/// witnesses, the served checkpoint follows the log once they have cosigned); returns it.
pub fn wait_checkpoint_size(public: &str, size: u64) -> String {
    let mut note = String::new();
    wait_until(&format!("{public} to serve {size} entries"), || {
        note = get_text(&format!("{public}/checkpoint"));
        note_size(&note) >= size
    });
    note
}

/// The size a checkpoint note states (its signatures not checked).
pub fn note_size(note: impl AsRef<[u8]>) -> u64 {
    vigil_core::checkpoint::unverified(note.as_ref()).unwrap().size
}

/// The real `vigil demo` serving on free loopback ports (killed on drop), for end-to-end tests.
pub struct RunningDemo {
    pub child: std::process::Child,
    pub dir: TempDir,
    pub public: String,
    pub internal: String,
    /// What it printed before its ordinary traffic began (the URLs to open among it).
    pub printed: Vec<String>,
}

impl RunningDemo {
    /// The demo with its ordinary traffic an hour apart: a log that holds still.
    pub fn start() -> RunningDemo {
        Self::start_with(3_600_000)
    }

    /// The demo, its ordinary traffic every `every_ms`.
    pub fn start_with(every_ms: u64) -> RunningDemo {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let (pp, ip) = (free_port(), free_port());
        let mut child = std::process::Command::new(vigil_bin())
            .args(["demo", "--every-ms", &every_ms.to_string(), "--data-dir"])
            .arg(dir.path().join("d"))
            .arg("--keys")
            .arg(Self::keys())
            .args(["--public", &format!("127.0.0.1:{pp}"), "--internal", &format!("127.0.0.1:{ip}")])
            .args(["--witnesses", "127.0.0.1:0,127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("demo.log")).unwrap())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("Ordinary traffic") => break,
                Some(Ok(line)) => printed.push(line),
                _ => panic!(
                    "the demo stopped before serving; its stderr:\n{}",
                    std::fs::read_to_string(dir.path().join("demo.log")).unwrap_or_default()
                ),
            }
        }
        let (public, internal) = (format!("http://127.0.0.1:{pp}"), format!("http://127.0.0.1:{ip}"));
        RunningDemo { child, dir, public, internal, printed }
    }

    pub fn keys() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example")
    }

    pub fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("d")
    }

    /// `vigil append` of the events in `file` with the example key of `service` (`risk`,
    /// `treasury`, …); they must be acknowledged.
    pub fn append(&self, service: &str, file: &Path) {
        let key = Self::keys().join(format!("{service}.key"));
        let (code, _, err) =
            vigil(&["append", "--url", &self.internal, "--key", key.to_str().unwrap(), file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }

    /// The account id and record secret on line `n` of the latest demo snapshot's records file.
    pub fn record(&self, n: usize) -> (String, String) {
        record_of(&vigil::demo::reserves_dir_of(&self.data()).join("por-2019-05-08.records.csv"), n)
    }
}

impl Drop for RunningDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the file system of `dir` (an existing folder) opens files with `O_DIRECT`.
pub fn has_direct_io(dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let probe = dir.join("direct-io-probe");
    let opened = std::fs::OpenOptions::new().write(true).create(true).custom_flags(libc::O_DIRECT).open(&probe);
    std::fs::remove_file(&probe).ok();
    opened.is_ok()
}

/// Waits until the data dir's durable mark (read as `vigil verify --state` reads it) is at
/// `size`: the engine marks a head a moment after it answers.
pub fn wait_marked(data: &Path, size: u64) {
    wait_until(&format!("{} to be marked durable at {size}", data.display()), || {
        let note = match vigil::store::Store::open_read_only(data).unwrap().durable_checkpoint() {
            Err(vigil::store::StoreError::NotDurableYet) => None,
            read => read.unwrap(),
        };
        note.is_some_and(|n| note_size(&n) == size)
    });
}

/// The closed-and-reopened data dir `data` flushed the memtables recovered from its WAL into
/// SST files, with direct I/O or without as `direct` says (src/store.rs).
pub fn assert_flushed(data: &Path, direct: bool) {
    let files: Vec<String> =
        std::fs::read_dir(data).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(files.iter().any(|f| f.ends_with(".sst")), "{files:?}");
    let options = files.iter().filter(|f| f.starts_with("OPTIONS-")).max().unwrap();
    let options = std::fs::read_to_string(data.join(options)).unwrap();
    assert!(options.contains(&format!("use_direct_io_for_flush_and_compaction={direct}")), "{options}");
    // What an open recovers is flushed to synced table files, so it is durable when the engine
    // marks it (`Store::mark_opened`).
    assert!(options.contains("avoid_flush_during_recovery=false"), "{options}");
}

/// The account id and record secret on line `n` of a records file
/// (`account,record_id,record_secret`; the tests' account ids need no CSV quoting).
pub fn record_of(records: &Path, n: usize) -> (String, String) {
    let text = std::fs::read_to_string(records).unwrap();
    let f: Vec<&str> = text.lines().nth(n).unwrap().split(',').collect();
    (f[0].to_string(), f[2].to_string())
}

/// The page's address fragment that checks a record at once (the demo's account ids need no
/// escaping).
pub fn balance_fragment(account: &str, secret: &str) -> String {
    format!("account={account}&secret={secret}")
}

/// How the proxy alters an answer: (path, status, body).
pub type Tamper = Box<dyn Fn(&str, &mut axum::http::StatusCode, &mut Vec<u8>) + Send>;

/// A proxy in front of `upstream` that passes every answer through the current tamper.
pub fn proxy(upstream: String) -> (String, Arc<Mutex<Tamper>>) {
    let tamper: Arc<Mutex<Tamper>> = Arc::new(Mutex::new(Box::new(|_, _, _| {})));
    let t = tamper.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (url, t) = (format!("{upstream}{uri}"), t.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut res = agent.get(&url).call().unwrap();
                let mut status = res.status();
                let ctype = res.headers().get("content-type").cloned();
                let mut body = res.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
                (t.lock().unwrap())(uri.path(), &mut status, &mut body);
                let mut r = axum::response::Response::new(axum::body::Body::from(body));
                *r.status_mut() = status;
                if let Some(c) = ctype {
                    r.headers_mut().insert("content-type", c);
                }
                r
            })
            .await
            .unwrap()
        }
    });
    (serve_app(app), tamper)
}

/// Serves `app` on a loopback port of its own, on a thread of its own: its base URL.
pub fn serve_app(app: axum::Router) -> String {
    let port = free_port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            tx.send(()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    rx.recv().unwrap();
    format!("http://127.0.0.1:{port}")
}
