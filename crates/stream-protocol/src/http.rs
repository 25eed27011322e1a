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
}

/// The body of every HTTP error response: `{"error":"not_found","detail":"Unknown pipeline_id: x"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    /// A short machine-readable code.
    pub error: String,
    /// A human-readable explanation, free of internals.
    pub detail: String,
}
