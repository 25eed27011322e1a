//! What the server needs from the pipelines: list them, describe them, run a frame through one.

use std::path::{Path, PathBuf};

use pipeline_dag::stages::Frame;
use stream_protocol::FrameResult;
use stream_protocol::http::{PipelineInfo, PipelineSummary};
use stream_session::PipelineError;

/// The pipelines a server offers. `pipeline-dag`'s registry implements it for real; tests implement it with
/// pipelines whose timing and failures they control.
///
/// `run_on_frame` is synchronous and CPU-bound: the server only ever calls it on its inference pool, never on
/// the async runtime's threads.
pub trait PipelineCatalog: Send + Sync + 'static {
    /// Every pipeline, sorted by id.
    fn list(&self) -> Vec<PipelineSummary>;

    /// One pipeline's description, if it exists.
    fn info(&self, id: &str) -> Option<PipelineInfo>;

    /// Whether `id` names a loaded pipeline.
    fn is_valid_pipeline(&self, id: &str) -> bool;

    /// Runs one frame. Decoding problems are [`PipelineError::InvalidFrame`], model failures
    /// [`PipelineError::Failed`] with a detail fit for a client.
    fn run_on_frame(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        jpeg: &[u8],
    ) -> Result<FrameResult, PipelineError>;

    /// Runs one frame as the next of a stream whose state lives in `stream` (a live session's
    /// [`StreamSlot`](stream_session::StreamSlot) content): pipelines that follow objects over time keep their
    /// tracks there. `at` is the frame's time since the stream began. By default the state is unused.
    fn run_in_stream(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        at: std::time::Duration,
        jpeg: &[u8],
        stream: &mut Option<Box<dyn std::any::Any + Send>>,
    ) -> Result<FrameResult, PipelineError> {
        let _ = (at, stream);
        self.run_on_frame(pipeline_id, frame_index, jpeg)
    }

    /// Runs one already decoded frame (a video job's frame): the same as [`run_on_frame`](Self::run_on_frame)
    /// without the JPEG decode.
    fn run_on_image(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        frame: &Frame,
    ) -> Result<FrameResult, PipelineError>;

    /// [`run_on_image`](Self::run_on_image) as the next frame of a stream (a video job's frames, `at` being
    /// the frame's time in the video): the decoded-frame twin of [`run_in_stream`](Self::run_in_stream).
    fn run_image_in_stream(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        at: std::time::Duration,
        frame: &Frame,
        stream: &mut Option<Box<dyn std::any::Any + Send>>,
    ) -> Result<FrameResult, PipelineError> {
        let _ = (at, stream);
        self.run_on_image(pipeline_id, frame_index, frame)
    }

    /// The inference engine running the models (`tract`, `onnxruntime`), reported by `/v1/health`; `None` for
    /// a catalog without one.
    fn engine(&self) -> Option<String> {
        None
    }

    /// The stage names a pipeline's results report in `timings_ms`, for the per-stage latency histograms.
    /// By default `decode` plus every entry and output node.
    fn stages(&self, id: &str) -> Vec<String> {
        let mut stages = vec!["decode".to_owned()];
        if let Some(info) = self.info(id) {
            for node in info.entry_nodes.into_iter().chain(info.output_nodes) {
                if !stages.contains(&node) {
                    stages.push(node);
                }
            }
        }
        stages
    }
}

// === impl PipelineCatalog for the real registry ===

impl PipelineCatalog for pipeline_dag::PipelineRegistry {
    fn engine(&self) -> Option<String> {
        Some(pipeline_dag::PipelineRegistry::engine(self).to_owned())
    }

    fn list(&self) -> Vec<PipelineSummary> {
        pipeline_dag::PipelineRegistry::list(self)
    }

    fn info(&self, id: &str) -> Option<PipelineInfo> {
        pipeline_dag::PipelineRegistry::info(self, id)
    }

    fn is_valid_pipeline(&self, id: &str) -> bool {
        pipeline_dag::PipelineRegistry::is_valid_pipeline(self, id)
    }

    fn run_on_frame(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        jpeg: &[u8],
    ) -> Result<FrameResult, PipelineError> {
        pipeline_dag::PipelineRegistry::run_on_frame(self, pipeline_id, frame_index, jpeg)
            .map_err(|error| map_error(error, pipeline_id, frame_index))
    }

    fn run_in_stream(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        at: std::time::Duration,
        jpeg: &[u8],
        stream: &mut Option<Box<dyn std::any::Any + Send>>,
    ) -> Result<FrameResult, PipelineError> {
        let state = registry_stream(self, pipeline_id, frame_index, stream)?;
        pipeline_dag::PipelineRegistry::run_in_stream(self, state, frame_index, at, jpeg)
            .map_err(|error| map_error(error, pipeline_id, frame_index))
    }

    fn run_image_in_stream(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        at: std::time::Duration,
        frame: &Frame,
        stream: &mut Option<Box<dyn std::any::Any + Send>>,
    ) -> Result<FrameResult, PipelineError> {
        let state = registry_stream(self, pipeline_id, frame_index, stream)?;
        pipeline_dag::PipelineRegistry::run_image_in_stream(self, state, frame_index, at, frame)
            .map_err(|error| map_error(error, pipeline_id, frame_index))
    }

    fn run_on_image(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        frame: &Frame,
    ) -> Result<FrameResult, PipelineError> {
        pipeline_dag::PipelineRegistry::run_on_image(self, pipeline_id, frame_index, frame)
            .map_err(|error| map_error(error, pipeline_id, frame_index))
    }

    fn stages(&self, id: &str) -> Vec<String> {
        let mut stages = vec!["decode".to_owned()];
        if let Some(info) = pipeline_dag::PipelineRegistry::info(self, id) {
            stages.extend(info.nodes.into_iter().map(|node| node.id));
        }
        stages
    }
}

/// The registry's state for `pipeline_id` in `stream`, opened on the stream's first frame (or afresh if the
/// slot holds something else).
fn registry_stream<'s>(
    registry: &pipeline_dag::PipelineRegistry,
    pipeline_id: &str,
    frame_index: u64,
    stream: &'s mut Option<Box<dyn std::any::Any + Send>>,
) -> Result<&'s mut pipeline_dag::PipelineStream, PipelineError> {
    let state = match stream.take().map(|s| s.downcast::<pipeline_dag::PipelineStream>()) {
        Some(Ok(state)) if state.pipeline_id() == pipeline_id => state,
        _ => Box::new(registry.open_stream(pipeline_id).map_err(|e| map_error(e, pipeline_id, frame_index))?),
    };
    stream
        .insert(state)
        .downcast_mut::<pipeline_dag::PipelineStream>()
        .ok_or_else(|| PipelineError::Internal("stream state of another type".into()))
}

/// Maps the registry's errors to the session's: decoding problems are the client's, the rest the server's.
fn map_error(error: pipeline_dag::PipelineError, pipeline_id: &str, frame_index: u64) -> PipelineError {
    use pipeline_dag::{DecodeError, PipelineError as DagError};
    match error {
        DagError::Decode(DecodeError::TooLarge { width, height, max_pixels }) => PipelineError::InvalidFrame(
            format!("Not a valid JPEG image: {width}x{height} exceeds {max_pixels} pixels").into(),
        ),
        DagError::Decode(_) => PipelineError::InvalidFrame("Not a valid JPEG image: cannot decode".into()),
        // Only the node's id (from the pipeline definition) reaches the client, never the cause.
        DagError::Inference { node, source } => {
            tracing::error!(pipeline_id, frame_index, node, error = %source, "pipeline node failed");
            PipelineError::Failed(format!("Inference failed in node {node}").into())
        }
        other => PipelineError::Internal(other.to_string().into()),
    }
}

// === the registry the settings ask for ===

impl crate::ServerConfig {
    /// The pipelines' loading options from these settings: models and pipelines folders, pixel limit,
    /// engine, threads per model run ([`model_threads`](Self::model_threads)) and concurrent runs
    /// ([`inference_threads`](Self::inference_threads)).
    pub fn registry_config(&self) -> pipeline_dag::RegistryConfig {
        let mut registry = pipeline_dag::RegistryConfig::new(&self.models_dir);
        registry.pipelines_dir.clone_from(&self.pipelines_dir);
        registry.max_pixels = self.max_pixels;
        registry.inference_threads = self.model_threads;
        registry.concurrent_runs = self.inference_threads;
        let spinning = self.onnxruntime_spinning;
        registry.engine = match self.engine {
            crate::config::EngineName::Auto => pipeline_dag::Engine::Auto {
                candidates: onnxruntime_candidates(&self.onnxruntime_library),
                spinning,
            },
            crate::config::EngineName::Tract => pipeline_dag::Engine::Tract,
            crate::config::EngineName::OnnxRuntime => {
                let mut ort = pipeline_dag::OnnxRuntimeConfig::new(&self.onnxruntime_library);
                ort.spinning = spinning;
                pipeline_dag::Engine::OnnxRuntime(ort)
            }
        };
        registry
    }
}

/// Where `engine = auto` looks for onnxruntime, in order: the configured library, the same file name beside the
/// binary, then where `just onnxruntime` puts it.
fn onnxruntime_candidates(configured: &Path) -> Vec<PathBuf> {
    let file_name = format!("libonnxruntime.so.{}", pipeline_dag::ONNXRUNTIME_VERSION);
    let mut candidates = vec![configured.to_owned()];
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        candidates.push(dir.join(&file_name));
    }
    candidates.push(crate::config::default_onnxruntime_library());
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|c| seen.insert(c.clone()));
    candidates
}
