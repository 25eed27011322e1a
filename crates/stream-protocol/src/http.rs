//! JSON bodies of the HTTP API served beside the WebSocket (SPEC §5).

use serde::{Deserialize, Serialize};

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `healthy` when every pipeline loaded and the server accepts sessions, `degraded` otherwise.
    pub status: HealthStatus,
    /// The server's version.
    pub version: String,
    /// Number of pipelines loaded.
    pub pipelines_loaded: usize,
    /// Streaming sessions open now.
    pub sessions_active: u64,
    /// Recommended (or, when enforced, maximum) concurrent sessions.
    pub max_sessions: u64,
    /// The inference engine running the models (`tract` or `onnxruntime`), when the pipelines have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything works.
    Healthy,
    /// Serving, but something is missing (no pipeline loaded, or at the session limit).
    Degraded,
}

/// `GET /v1/pipelines/list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineList {
    /// Every loaded pipeline, sorted by id.
    pub pipelines: Vec<PipelineSummary>,
}

/// One entry of [`PipelineList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineSummary {
    /// The id to pass as `pipeline_id`.
    pub id: String,
    /// A human-readable name.
    pub name: String,
}

/// `GET /v1/pipelines/{id}/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineInfo {
    /// The pipeline's id.
    pub id: String,
    /// Its human-readable name.
    pub name: String,
    /// Number of nodes in its DAG.
    pub node_count: usize,
    /// Number of edges in its DAG.
    pub edge_count: usize,
    /// Nodes that receive the frame.
    pub entry_nodes: Vec<String>,
    /// Nodes whose outputs form the result.
    pub output_nodes: Vec<String>,
    /// Class names a detection node can report, by `class_id` (empty without detection).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Square model input size of the detection node, in pixels, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_size: Option<u32>,
    /// Every node, in definition order.
    #[serde(default)]
    pub nodes: Vec<PipelineNode>,
}

/// One node of a [`PipelineInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineNode {
    /// The node's id (also its stage name in `timings`).
    pub id: String,
    /// Its `plugin_id`.
    pub plugin_id: String,
    /// Its `tool_id`.
    pub tool_id: String,
    /// `[width, height]` of the node's (first) model input: the detector's, the OCR text detector's, or for a
    /// tracker its detector's.
    pub input_size: [u32; 2],
}

/// The body of every HTTP error response: `{"error":"not_found","detail":"Unknown pipeline_id: x"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    /// A short machine-readable code.
    pub error: String,
    /// A human-readable explanation, free of internals.
    pub detail: String,
}

// === Video jobs (docs/jobs.md) ===

/// `POST /v1/video/submit` → `202 Accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSubmitted {
    /// The new job's id (a UUID).
    pub job_id: String,
}

/// Where a job is in its life: `pending` → `running` → `completed` | `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Pending,
    /// A worker is processing its frames.
    Running,
    /// Every frame was processed; results are available.
    Completed,
    /// Stopped for good; `error_message` says why.
    Failed,
}

impl JobState {
    /// The state as stored and sent: `pending`, `running`, `completed` or `failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// The state named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Running, Self::Completed, Self::Failed]
            .into_iter()
            .find(|state| state.as_str() == s)
    }

    /// Whether the job will not change any more.
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// `GET /v1/video/status/{job_id}`, and each entry of `GET /v1/jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    /// The job's id.
    pub job_id: String,
    /// The pipeline run on every sampled frame.
    pub pipeline_id: String,
    /// The uploaded file's name, as the client sent it (display only).
    pub file_name: String,
    /// Where the job is.
    pub status: JobState,
    /// Percent of `frames_total` processed, 0–100; exactly 100 when completed.
    pub progress: u8,
    /// Every `frame_stride`-th frame of the video is processed.
    pub frame_stride: u32,
    /// At most this many frames are processed (`None`: all).
    pub max_frames: Option<u32>,
    /// How many frames the job will process, once the worker has read the video's index.
    pub frames_total: Option<u64>,
    /// Frames processed so far.
    pub frames_processed: u64,
    /// Detections over the frames processed so far.
    pub detections: u64,
    /// OCR text blocks over the frames processed so far.
    pub text_blocks: u64,
    /// Why the job failed (`None` unless `failed`).
    pub error_message: Option<String>,
    /// When the job was submitted (RFC 3339, UTC, milliseconds).
    pub created_at: String,
    /// When the job last changed.
    pub updated_at: String,
}

/// `GET /v1/jobs`: one page of jobs, newest first (`?limit=N`, default 100, at most 1000; `?after=<job_id>`
/// continues after that job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobList {
    /// The jobs.
    pub jobs: Vec<JobStatus>,
    /// When more jobs follow: the `after` value of the next page (the last job's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// What the worker learnt about the uploaded video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Width of the video track, in pixels.
    pub width: u32,
    /// Height of the video track, in pixels.
    pub height: u32,
    /// Duration of the video track.
    pub duration_ms: u64,
    /// Frames in the video track.
    pub frames: u64,
}

/// One processed frame of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFrameResult {
    /// The frame's position in the video, 0-based.
    pub frame_index: u64,
    /// Its presentation time.
    pub timestamp_ms: u64,
    /// Exactly the `result` of the live protocol for this picture.
    pub result: crate::FrameResult,
}

/// One object followed through a job by a `track` node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTrack {
    /// The `track_id` its detections carry in the job's frame results (unique within the job).
    pub track_id: u64,
    /// Its class, as in its detections.
    pub class_id: u32,
    /// Its class name.
    pub class_name: String,
    /// The first processed frame (a `frame_index`) where the track was confirmed and matched.
    pub first_frame: u64,
    /// The last such frame.
    pub last_frame: u64,
    /// In how many processed frames it was matched (at most the frames from first to last, fewer when it was
    /// hidden or missed for a while, or with a `frame_stride`).
    pub frames_seen: u64,
}

/// `GET /v1/video/results/{job_id}` once the job is completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResults {
    /// The job's id.
    pub job_id: String,
    /// The pipeline that produced the results.
    pub pipeline_id: String,
    /// When the job was submitted.
    pub created_at: String,
    /// When it completed.
    pub updated_at: String,
    /// The video the frames come from.
    pub video: Option<VideoInfo>,
    /// Every object a `track` node followed through the job, by `track_id`: on a response asked for without
    /// `after` (the whole results or their first page; empty for pipelines without tracking), absent on later
    /// pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracks: Option<Vec<JobTrack>>,
    /// The processed frames, in video order: all of them, or one page with `?after=<frame_index>&limit=N`.
    pub results: Vec<JobFrameResult>,
    /// When a page was asked for and more frames follow: the `after` value of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}
