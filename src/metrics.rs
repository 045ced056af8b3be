//! Prometheus metrics, served as OpenMetrics text at `GET /metrics`: the engine's appends,
//! group and batch sizes, write and fsync latency, the checkpoint's size; HTTP requests by
//! listener, route and status, with latency. Built on `prometheus-client`.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

/// What the engine counts. Cheap to update (atomics); shared by its threads.
#[derive(Debug, Clone)]
pub struct EngineMetrics {
    /// Entries appended (durable and answered).
    pub appended: Counter,
    /// Batches the sequencer refused (a conflict found in log order: an idempotency key
    /// reused, a key revoked or conflicting, an entry too large). Refusals before it (parsing,
    /// signatures) are counted by status in the HTTP metrics.
    pub rejected_batches: Counter,
    /// Events answered with an earlier entry (idempotent retries).
    pub duplicates: Counter,
    /// New entries per group commit.
    pub group_entries: Histogram,
    /// Events per caller batch.
    pub batch_events: Histogram,
    /// Time to hash, sign and write one group's batch (seconds).
    pub write_seconds: Histogram,
    /// Time of one WAL sync (seconds).
    pub fsync_seconds: Histogram,
    /// Size of the latest published checkpoint.
    pub checkpoint_size: Gauge,
    /// Idempotency keys in the sequencer's in-memory filter (2 bytes each): the log's, and
    /// never a refused batch's.
    pub idempotency_filter_keys: Gauge,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        EngineMetrics {
            appended: Counter::default(),
            rejected_batches: Counter::default(),
            duplicates: Counter::default(),
            group_entries: Histogram::new(exponential_buckets(1.0, 4.0, 8)),
            batch_events: Histogram::new(exponential_buckets(1.0, 4.0, 6)),
            write_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            fsync_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            checkpoint_size: Gauge::default(),
            idempotency_filter_keys: Gauge::default(),
        }
    }
}

impl EngineMetrics {
    fn register(&self, r: &mut Registry) {
        r.register("vigil_appended_entries", "Entries appended and acknowledged", self.appended.clone());
        r.register(
            "vigil_rejected_batches",
            "Batches the sequencer refused, nothing of them written (earlier refusals: vigil_http_requests_total by status)",
            self.rejected_batches.clone(),
        );
        r.register(
            "vigil_duplicate_events",
            "Events answered with the entry of an earlier append",
            self.duplicates.clone(),
        );
        r.register("vigil_group_entries", "New entries per group commit", self.group_entries.clone());
        r.register("vigil_batch_events", "Events per caller batch", self.batch_events.clone());
        r.register("vigil_write_seconds", "Hashing, signing and writing one group's batch", self.write_seconds.clone());
        r.register("vigil_fsync_seconds", "One WAL sync", self.fsync_seconds.clone());
        r.register(
            "vigil_checkpoint_size",
            "Tree size of the latest published checkpoint",
            self.checkpoint_size.clone(),
        );
        r.register(
            "vigil_idempotency_filter_keys",
            "Idempotency keys in the sequencer's in-memory filter (2 bytes each)",
            self.idempotency_filter_keys.clone(),
        );
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: &'static str,
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    listener: &'static str,
    route: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// HTTP metrics of one listener, recorded by [`track`].
#[derive(Clone)]
pub struct HttpMetrics {
    listener: &'static str,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

/// Every metric of a server, and the text it serves.
pub struct Metrics {
    registry: Registry,
    /// RocksDB's memory, read when the metrics are rendered.
    memtables: Gauge,
    table_readers: Gauge,
    block_cache: Gauge,
}

impl Metrics {
    /// A registry holding the engine's metrics and one HTTP family shared by both listeners.
    pub fn new(engine: &EngineMetrics) -> (Arc<Metrics>, HttpMetrics, HttpMetrics) {
        let mut registry = Registry::default();
        engine.register(&mut registry);
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "vigil_http_requests",
            "HTTP requests by listener, route, method and status",
            requests.clone(),
        );
        registry.register("vigil_http_seconds", "HTTP request latency by listener and route", latency.clone());
        let public = HttpMetrics { listener: "public", requests: requests.clone(), latency: latency.clone() };
        let internal = HttpMetrics { listener: "internal", requests, latency };
        let (memtables, table_readers, block_cache) = (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register("vigil_rocksdb_memtable_bytes", "RocksDB memtables, all families", memtables.clone());
        registry.register(
            "vigil_rocksdb_table_readers_bytes",
            "RocksDB table readers held outside the block cache",
            table_readers.clone(),
        );
        registry.register(
            "vigil_rocksdb_block_cache_bytes",
            "RocksDB's shared block cache in use",
            block_cache.clone(),
        );
        (Arc::new(Metrics { registry, memtables, table_readers, block_cache }), public, internal)
    }

    /// The OpenMetrics text exposition, with RocksDB's memory read from `store` now.
    pub fn render_with(&self, store: &crate::store::Store) -> String {
        if let Ok(m) = store.memory() {
            let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            self.memtables.set(g(m.mem_table_total));
            self.table_readers.set(g(m.mem_table_readers_total));
            self.block_cache.set(g(m.cache_total));
        }
        self.render()
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Middleware: counts each request by route template (never the raw path, so the label set
/// stays bounded) and status, and observes its latency.
pub async fn track(State(m): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched".to_string(), |p| p.as_str().to_string());
    // Only standard methods become labels; anything else is "other".
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    m.requests.get_or_create(&RequestLabels { listener: m.listener, route: route.clone(), method, status }).inc();
    m.latency.get_or_create(&RouteLabels { listener: m.listener, route }).observe(start.elapsed().as_secs_f64());
    res
}
