//! Typed errors: [`LoadError`] at start-up, [`PipelineError`] per frame.

use std::path::PathBuf;

/// A boxed error from a library underneath (tract, onnxruntime, the thread pool).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the registry could not be loaded. Every variant names the file it concerns; definition problems also
/// name the pipeline and, where there is one, the node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The pipelines directory or one of its files could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A definition file is not JSON of the pipeline format (syntax error, missing or unknown field).
    #[error("{file}: not a valid pipeline definition: {source}")]
    Parse {
        /// The file (`built-in …` for the definitions shipped with the crate).
        file: String,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A definition parses but breaks a rule.
    #[error("{file}: pipeline `{pipeline}`{}: {problem}", node_label(.node.as_deref()))]
    Invalid {
        /// The file the definition came from.
        file: String,
        /// The pipeline's id as written in the file.
        pipeline: String,
        /// The node concerned, if the problem is about one node.
        node: Option<String>,
        /// What is wrong (boxed to keep `LoadError` small).
        problem: Box<Problem>,
    },
    /// A model file exists but the engine could not load or prepare it, or its outputs do not fit the node.
    #[error("{file}: pipeline `{pipeline}`, node `{node}`: cannot use model {}: {source}", path.display())]
    Model {
        /// The file the definition came from.
        file: String,
        /// The pipeline's id.
        pipeline: String,
        /// The node using the model.
        node: String,
        /// The model file.
        path: PathBuf,
        /// The engine's error, or the mismatch between the model and the node.
        #[source]
        source: BoxError,
    },
    /// The inference engine could not be started: its thread pool, or for onnxruntime a missing, wrong or
    /// too old library, or a build without the `onnxruntime` feature.
    #[error("cannot start the {engine} inference engine: {source}")]
    Engine {
        /// The engine's name (`tract`, `onnxruntime`).
        engine: &'static str,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
}

fn node_label(node: Option<&str>) -> String {
    node.map(|n| format!(", node `{n}`")).unwrap_or_default()
}

/// What is wrong with a pipeline definition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The pipeline id is empty or has characters other than ASCII letters, digits, `_`, `-` and `.`.
    #[error("invalid pipeline id (use ASCII letters, digits, `_`, `-`, `.`)")]
    BadPipelineId,
    /// Another file already defines a pipeline with this id.
    #[error("pipeline id already defined by {other_file}")]
    DuplicatePipeline {
        /// The file that defined it first.
        other_file: String,
    },
    /// The pipeline has no nodes.
    #[error("the pipeline has no nodes")]
    NoNodes,
    /// A node id is empty.
    #[error("a node id is empty")]
    EmptyNodeId,
    /// Two nodes share an id.
    #[error("duplicate node id")]
    DuplicateNode,
    /// No node kind is registered for this plugin and tool.
    #[error("unknown plugin/tool `{plugin_id}`/`{tool_id}` (known: yolo/detect_objects, ocr/extract_text)")]
    UnknownTool {
        /// The node's `plugin_id`.
        plugin_id: String,
        /// The node's `tool_id`.
        tool_id: String,
    },
    /// An edge names a node that does not exist.
    #[error("edge `{from}` -> `{to}` names an unknown node `{missing}`")]
    DanglingEdge {
        /// The edge's `from_node`.
        from: String,
        /// The edge's `to_node`.
        to: String,
        /// Which of the two is unknown.
        missing: String,
    },
    /// The edges form a cycle.
    #[error("the edges form a cycle through {}", .nodes.join(", "))]
    Cycle {
        /// The nodes on or behind the cycle, in definition order.
        nodes: Vec<String>,
    },
    /// `entry_nodes` is empty.
    #[error("`entry_nodes` is empty")]
    NoEntryNodes,
    /// `output_nodes` is empty.
    #[error("`output_nodes` is empty")]
    NoOutputNodes,
    /// `entry_nodes` or `output_nodes` lists a node that does not exist.
    #[error("`{list}` names a node that does not exist")]
    UnknownListedNode {
        /// `entry_nodes` or `output_nodes`.
        list: &'static str,
    },
    /// An entry node has an incoming edge.
    #[error("entry node has an incoming edge from `{from}`")]
    EntryHasIncomingEdge {
        /// The edge's source.
        from: String,
    },
    /// A node cannot be reached from any entry node.
    #[error("node is not reachable from any entry node")]
    Unreachable,
    /// Two output nodes would write the same key of the result.
    #[error("output key `{key}` is also produced by node `{other_node}`")]
    CollidingOutput {
        /// The result key (`detections` or `text`).
        key: &'static str,
        /// The other node producing it.
        other_node: String,
    },
    /// A parameter is unknown, has the wrong type, or is out of range.
    #[error("param `{param}`: {reason}")]
    BadParam {
        /// The parameter's name.
        param: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `track` node does not have exactly one incoming edge, from a detection node.
    #[error("a track node needs exactly one incoming edge, from a `yolo` detection node: {found}")]
    TrackInput {
        /// What it has instead.
        found: String,
    },
    /// A model or keys file named by the node does not exist.
    #[error("model file {} does not exist", .path.display())]
    MissingModel {
        /// The path that was looked for.
        path: PathBuf,
    },
}

/// Why a frame could not be decoded. The server maps every variant to `invalid_frame`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not a JPEG the decoder can read (the decoder's message).
    #[error("not a decodable JPEG: {0}")]
    Invalid(String),
    /// The frame has more pixels than the registry accepts.
    #[error("{width}x{height} exceeds the limit of {max_pixels} pixels")]
    TooLarge {
        /// Width from the JPEG header.
        width: u32,
        /// Height from the JPEG header.
        height: u32,
        /// The configured limit, [`crate::RegistryConfig::max_pixels`].
        max_pixels: u64,
    },
}

/// Why running a pipeline on a frame failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// No pipeline has this id.
    #[error("unknown pipeline `{0}`")]
    UnknownPipeline(String),
    /// The frame could not be decoded: the client's fault (`invalid_frame`).
    #[error("cannot decode the frame: {0}")]
    Decode(#[from] DecodeError),
    /// A node failed while processing a decoded frame: the server's fault (`pipeline_failure`).
    #[error("node `{node}` failed: {source}")]
    Inference {
        /// The node's id.
        node: String,
        /// What failed.
        #[source]
        source: BoxError,
    },
}
