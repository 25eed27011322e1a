//! What the server needs from the pipelines: list them, describe them, run a frame through one.

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
