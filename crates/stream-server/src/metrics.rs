//! Prometheus metrics (SPEC §7), one registry per server so that servers in one process (tests) stay apart.

use std::collections::HashMap;
use std::time::Duration;

use backpressure::BackpressureState;
use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use stream_protocol::{ErrorCode, FrameResult};
use stream_session::SessionObserver;
use video_jobs::JobMetrics;

/// Histogram buckets in seconds: 1 ms to 10 s, dense where frame latencies live (10–200 ms).
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 10.0];

/// Per-pipeline handles, registered once at start-up so the per-frame path only increments.
struct PipelineMetrics {
    processed: Counter,
    dropped: Counter,
    slow_downs: Counter,
    round_trip: Histogram,
    /// Per-stage latency, keyed by the stage names a result's `timings_ms` uses.
    stages: HashMap<String, Histogram>,
}

/// Every metric of the server.
pub(crate) struct Metrics {
    handle: PrometheusHandle,
    sessions_active: Gauge,
    sessions_total: Counter,
    errors: HashMap<ErrorCode, Counter>,
    pipelines: HashMap<String, PipelineMetrics>,
    pub(crate) jobs: std::sync::Arc<JobMetrics>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("pipelines", &self.pipelines.len()).finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric for the given pipelines and their stages (`(pipeline, [stage, …])`).
    pub(crate) fn new(pipelines: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        let recorder: PrometheusRecorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .map_or_else(|_| PrometheusBuilder::new().build_recorder(), PrometheusBuilder::build_recorder);
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_gauge!("stream_sessions_active", "Streaming sessions open now.");
            metrics::describe_counter!("stream_sessions_total", "Streaming sessions accepted.");
            metrics::describe_counter!("stream_frames_processed", "Frames answered with a result.");
            metrics::describe_counter!("stream_frames_dropped", "Frames answered with a drop notice.");
            metrics::describe_counter!("stream_slowdown_signals", "slow_down warnings sent.");
            metrics::describe_counter!("stream_errors", "Sessions ended by an error, by wire code.");
            metrics::describe_histogram!(
                "stream_frame_round_trip_seconds",
                metrics::Unit::Seconds,
                "From reading a frame to sending its result."
            );
            metrics::describe_histogram!(
                "stream_pipeline_stage_seconds",
                metrics::Unit::Seconds,
                "Time per pipeline stage (decode and each node)."
            );
            metrics::describe_counter!(
                "stream_jobs_submitted",
                "Video jobs accepted by POST /v1/video/submit."
            );
            metrics::describe_counter!("stream_jobs_finished", "Video jobs finished, by final status.");
            metrics::describe_counter!(
                "stream_job_frames_processed",
                "Video frames run through a pipeline by the job workers."
            );
            let jobs = JobMetrics {
                frames_processed: metrics::counter!("stream_job_frames_processed"),
                submitted: metrics::counter!("stream_jobs_submitted"),
                completed: metrics::counter!("stream_jobs_finished", "status" => "completed"),
                failed: metrics::counter!("stream_jobs_finished", "status" => "failed"),
            };
            let errors = ErrorCode::ALL
                .iter()
                .map(|&code| (code, metrics::counter!("stream_errors", "code" => code.as_str())))
                .collect();
            let pipelines = pipelines
                .into_iter()
                .map(|(id, stages)| {
                    let stages = stages
                        .into_iter()
                        .map(|stage| {
                            let histogram = metrics::histogram!(
                                "stream_pipeline_stage_seconds",
                                "pipeline" => id.clone(),
                                "stage" => stage.clone()
                            );
                            (stage, histogram)
                        })
                        .collect();
                    let metrics = PipelineMetrics {
                        processed: metrics::counter!("stream_frames_processed", "pipeline" => id.clone()),
                        dropped: metrics::counter!("stream_frames_dropped", "pipeline" => id.clone()),
                        slow_downs: metrics::counter!("stream_slowdown_signals", "pipeline" => id.clone()),
                        round_trip: metrics::histogram!(
                            "stream_frame_round_trip_seconds",
                            "pipeline" => id.clone()
                        ),
                        stages,
                    };
                    (id, metrics)
                })
                .collect();
            Self {
                handle,
                sessions_active: metrics::gauge!("stream_sessions_active"),
                sessions_total: metrics::counter!("stream_sessions_total"),
                errors,
                pipelines,
                jobs: std::sync::Arc::new(jobs),
            }
        })
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        self.handle.render()
    }

    /// Counts a session in; the returned guard counts it out when dropped, however the session ends.
    pub(crate) fn session_opened(&self) -> SessionGauge<'_> {
        self.sessions_total.increment(1);
        self.sessions_active.increment(1.0);
        SessionGauge(&self.sessions_active)
    }

    /// Counts an error that ended a session before it started (`invalid_pipeline`, `server_busy`).
    pub(crate) fn rejected(&self, code: ErrorCode) {
        self.error(code);
    }
}

/// Decrements `stream_sessions_active` on drop.
pub(crate) struct SessionGauge<'a>(&'a Gauge);

impl Drop for SessionGauge<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

impl SessionObserver for Metrics {
    fn frame_processed(&self, pipeline_id: &str, round_trip: Duration, result: &FrameResult) {
        let Some(pipeline) = self.pipelines.get(pipeline_id) else { return };
        pipeline.processed.increment(1);
        pipeline.round_trip.record(round_trip.as_secs_f64());
        for (stage, ms) in result.timings_ms.iter() {
            if let Some(histogram) = pipeline.stages.get(stage) {
                histogram.record(ms / 1000.0);
            }
        }
    }

    fn frame_dropped(&self, pipeline_id: &str) {
        if let Some(pipeline) = self.pipelines.get(pipeline_id) {
            pipeline.dropped.increment(1);
        }
    }

    fn slow_down(&self, pipeline_id: &str, _drop_rate: f64) {
        if let Some(pipeline) = self.pipelines.get(pipeline_id) {
            pipeline.slow_downs.increment(1);
        }
    }

    fn state_changed(&self, _from: BackpressureState, _to: BackpressureState) {}

    fn error(&self, code: ErrorCode) {
        if let Some(counter) = self.errors.get(&code) {
            counter.increment(1);
        }
    }
}
