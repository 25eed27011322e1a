//! ForgeSyte pipelines: JSON DAG definitions, their registry, and the nodes that run real ONNX models with
//! tract on video frames.
//!
//! This crate owns pipeline definitions (ForgeSyte's JSON format, SPEC §4), their validation, model loading
//! and inference. It is the only crate of the workspace that names tract. It knows nothing about sessions,
//! sockets or HTTP: it turns one JPEG into one [`stream_protocol::FrameResult`].
//!
//! Main types: [`PipelineRegistry`] (load once at start-up, then [`PipelineRegistry::run_on_frame`] from any
//! thread), [`RegistryConfig`], and the errors [`LoadError`] (start-up: names the file, pipeline, node and
//! problem) and [`PipelineError`] (per frame: [`PipelineError::Decode`] is the client's fault,
//! [`PipelineError::Inference`] the server's).
//!
//! Built-in pipelines: `yolo` (NanoDet-Plus-m COCO detection), `ocr` (PP-OCRv4 det + rec), `yolo_ocr` (both on
//! the same decoded frame, concurrently). Node kinds: `yolo`/`detect_objects` and `ocr`/`extract_text`;
//! their parameters are documented in `docs/pipelines.md`.
//!
//! ```
//! use pipeline_dag::{PipelineError, PipelineRegistry, RegistryConfig};
//!
//! let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/models");
//! let registry = PipelineRegistry::load(&RegistryConfig::new(models))?;
//! assert!(registry.is_valid_pipeline("yolo"));
//! assert_eq!(registry.info("yolo").and_then(|i| i.input_size), Some(416));
//!
//! let jpeg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/images/chelsea_640x480.jpg"))?;
//! let result = registry.run_on_frame("yolo", 0, &jpeg)?;
//! let detections = result.detections.unwrap_or_default();
//! assert!(detections.iter().any(|d| &*d.class_name == "cat"));
//!
//! // Bytes that are not a JPEG are the client's fault, not the pipeline's.
//! assert!(matches!(registry.run_on_frame("yolo", 1, b"not a jpeg"), Err(PipelineError::Decode(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod definition;
mod detect;
mod engine;
mod error;
mod frame;
mod ocr;
mod registry;
mod track;

pub use crate::{
    engine::{Engine, InferenceEngine, ONNXRUNTIME_VERSION, OnnxRuntimeConfig},
    error::{BoxError, DecodeError, LoadError, PipelineError, Problem},
    registry::{PipelineRegistry, PipelineStream, RegistryConfig},
};

/// The stages a pipeline is made of, exposed for benchmarks and for embedding them elsewhere: JPEG decoding,
/// preprocessing, bare model runs, detection output decoding and NMS.
pub mod stages {
    pub use crate::detect::{
        COCO_CLASSES, Candidate, OutputFormat, OutputShapeError, TensorView, classes_in_outputs,
        decode_nanodet, decode_nanodet_plus, decode_yolov5, decode_yolov8, decode_yolox, nms,
    };
    pub use crate::engine::{ModelOutputs, OnnxModel};
    pub use crate::frame::{Frame, decode_jpeg};
    pub use crate::track::Tracker;

    use crate::error::BoxError;

    /// A detector's input tensor for `frame`: bilinear resize to `input_size`², then the normalisation of
    /// `format` (NanoDet: BGR with ImageNet mean/std), planar `[1, 3, S, S]`.
    pub fn detection_input(
        frame: &Frame,
        input_size: u32,
        format: OutputFormat,
    ) -> Result<Vec<f32>, BoxError> {
        crate::detect::preprocess(frame, input_size, format)
    }
}
