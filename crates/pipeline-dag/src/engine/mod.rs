//! The engine seam: every model of every node runs through [`OnnxModel`], which hands the tensor to one of
//! the inference engines behind a small trait. Pre- and post-processing, the DAG and the result are shared;
//! only "run this ONNX graph on this float32 tensor" differs.
//!
//! - [`Engine::Tract`]: pure Rust, always compiled, the default.
//! - [`Engine::OnnxRuntime`]: Microsoft's onnxruntime, loaded at run time from a shared library; compiled only
//!   with the crate's `onnxruntime` feature. Without it, choosing it is a [`crate::LoadError::Engine`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::BoxError;

/// `Mutex::try_lock` for locks that only mark "in use": a lock poisoned by a run that panicked is taken and
/// cleared, never left to make every later run skip what it guards (the pool, or a session).
pub(crate) fn try_lock_in_use<T>(lock: &std::sync::Mutex<T>) -> Option<std::sync::MutexGuard<'_, T>> {
    match lock.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => {
            lock.clear_poison();
            Some(poisoned.into_inner())
        }
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

mod fold_pads;
#[cfg(feature = "onnxruntime")]
mod onnxruntime;
mod tract;

/// Which inference engine runs the models, chosen once for the whole registry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Engine {
    /// tract (pure Rust). The default and the only engine of a default build.
    #[default]
    Tract,
    /// onnxruntime, loaded from a shared library. Needs the crate's `onnxruntime` feature.
    OnnxRuntime(OnnxRuntimeConfig),
    /// onnxruntime from the first of these libraries that exists and loads, tract otherwise
    /// ([`InferenceEngine::choice`] says which and why). The server's default.
    Auto {
        /// Where to look for the library, in order.
        candidates: Vec<PathBuf>,
        /// [`OnnxRuntimeConfig::spinning`] for the onnxruntime engine, if it is chosen.
        spinning: bool,
    },
}

impl Engine {
    /// The engine's name as the server's `--engine` spells it: `tract`, `onnxruntime` or `auto`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Tract => "tract",
            Self::OnnxRuntime(_) => "onnxruntime",
            Self::Auto { .. } => "auto",
        }
    }

    /// Whether this build can run the engine (onnxruntime needs the `onnxruntime` feature; `auto` always runs,
    /// on tract at worst).
    pub fn is_compiled_in(&self) -> bool {
        match self {
            Self::Tract | Self::Auto { .. } => true,
            Self::OnnxRuntime(_) => cfg!(feature = "onnxruntime"),
        }
    }
}

/// How the onnxruntime engine is found and run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnnxRuntimeConfig {
    /// The shared library, e.g. `libonnxruntime.so.1.31.1` from the PyPI wheel (`just onnxruntime` puts it in
    /// `target/onnxruntime/`). One process loads one library: a second, different path is an error.
    pub library: PathBuf,
    /// Whether onnxruntime's worker threads spin while waiting for work. Spinning shaves a little latency off
    /// each run but keeps idle cores busy; off by default (a server also decodes, encodes and serves).
    pub spinning: bool,
}

impl OnnxRuntimeConfig {
    /// The library at `library`, spinning off.
    pub fn new(library: impl Into<PathBuf>) -> Self {
        Self { library: library.into(), spinning: false }
    }
}

/// The library version the onnxruntime engine is built and tested against (`api-31` refuses older ones).
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";

/// An engine, started: loads models and runs them. Cheap to clone (shared).
///
/// Threads are split automatically: a model run that starts while no other model run is in flight uses up to
/// `threads` threads (one camera: every core on its frame); a run that overlaps another uses one (many
/// cameras: one core each, no oversubscription).
#[derive(Debug, Clone)]
pub struct InferenceEngine {
    backend: Arc<dyn Backend>,
    in_flight: Arc<AtomicUsize>,
    choice: Arc<str>,
}

impl InferenceEngine {
    /// Starts `engine` with up to `threads` threads per model run (intra-op parallelism; 1 runs every model on
    /// the calling thread). `concurrent_runs` is how many runs may be in flight at once: onnxruntime keeps that
    /// many single-threaded sessions per model (a session runs one frame at a time) plus one with `threads`
    /// threads for a run alone; tract keeps one pool of `threads` threads for a run alone.
    pub fn new(engine: &Engine, threads: usize, concurrent_runs: usize) -> Result<Self, BoxError> {
        let backend: Arc<dyn Backend> = match engine {
            Engine::Tract => Arc::new(tract::TractBackend::new(tract::Threads::new(threads)?)),
            Engine::Auto { candidates, spinning } => {
                let (backend, choice) = Self::auto(candidates, *spinning, threads, concurrent_runs)?;
                return Ok(Self { backend, in_flight: Arc::default(), choice: choice.into() });
            }
            #[cfg(feature = "onnxruntime")]
            Engine::OnnxRuntime(config) => {
                Arc::new(onnxruntime::OrtBackend::new(config, threads, concurrent_runs.max(1))?)
            }
            #[cfg(not(feature = "onnxruntime"))]
            Engine::OnnxRuntime(_) => {
                let _ = concurrent_runs;
                return Err(
                    "this build has no onnxruntime engine: rebuild with the `pipeline-dag/onnxruntime` cargo feature \
                            (`cargo build --release --workspace --features pipeline-dag/onnxruntime`, see docs/operations.md)"
                        .into(),
                );
            }
        };
        let choice = format!("{} (asked for explicitly)", backend.name());
        Ok(Self { backend, in_flight: Arc::default(), choice: choice.into() })
    }

    /// `Engine::Auto`: onnxruntime from the first candidate library that loads, tract otherwise.
    fn auto(
        candidates: &[PathBuf],
        spinning: bool,
        threads: usize,
        concurrent_runs: usize,
    ) -> Result<(Arc<dyn Backend>, String), BoxError> {
        let tract = || -> Result<Arc<dyn Backend>, BoxError> {
            Ok(Arc::new(tract::TractBackend::new(tract::Threads::new(threads)?)))
        };
        if !cfg!(feature = "onnxruntime") {
            let _ = (spinning, concurrent_runs);
            return Ok((tract()?, "tract: this build has no onnxruntime engine".to_owned()));
        }
        let mut tried = Vec::new();
        for library in candidates {
            if !library.is_file() {
                tried.push(format!("{} (absent)", library.display()));
                continue;
            }
            #[cfg(feature = "onnxruntime")]
            {
                let config = OnnxRuntimeConfig { library: library.clone(), spinning };
                match onnxruntime::OrtBackend::new(&config, threads, concurrent_runs.max(1)) {
                    Ok(backend) => {
                        let choice = format!("onnxruntime: loaded {}", library.display());
                        return Ok((Arc::new(backend), choice));
                    }
                    Err(error) => tried.push(format!("{} ({error})", library.display())),
                }
            }
        }
        let looked = if tried.is_empty() { "no candidate".to_owned() } else { tried.join("; ") };
        Ok((
            tract()?,
            format!(
                "tract: no onnxruntime library loaded (looked at {looked}; `just onnxruntime` fetches it)"
            ),
        ))
    }

    /// The engine's name: `tract` or `onnxruntime`.
    pub fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// Which engine runs and why: `onnxruntime: loaded target/onnxruntime/…`, `tract: no onnxruntime library
    /// loaded (…)`, `tract (asked for explicitly)`.
    pub fn choice(&self) -> &str {
        &self.choice
    }

    /// Loads the model at `path` and prepares it for `input_shape` (float32 NCHW).
    pub fn load_model(&self, path: &Path, input_shape: [usize; 4]) -> Result<OnnxModel, BoxError> {
        self.load(path)?.plan(input_shape)
    }

    /// Loads the model at `path`, before an input shape is fixed.
    pub(crate) fn load(&self, path: &Path) -> Result<LoadedModel, BoxError> {
        Ok(LoadedModel(self.backend.load(path)?, Arc::clone(&self.in_flight)))
    }
}

/// A model file loaded by an engine, before an input shape is fixed.
#[derive(Debug)]
pub(crate) struct LoadedModel(Box<dyn LoadedBackendModel>, Arc<AtomicUsize>);

impl LoadedModel {
    /// The value of `key` in the ONNX file's `metadata_props` (e.g. PP-OCR's `character` list).
    pub(crate) fn metadata(&self, key: &str) -> Option<String> {
        self.0.metadata(key)
    }

    /// Prepares the model for `input_shape` and learns its output shapes.
    pub(crate) fn plan(&self, input_shape: [usize; 4]) -> Result<OnnxModel, BoxError> {
        let (runner, output_shapes) = self.0.plan(input_shape)?;
        Ok(OnnxModel { runner, input_shape, output_shapes, in_flight: Arc::clone(&self.1) })
    }
}

/// An engine: loads model files. Implemented by each engine module.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    fn name(&self) -> &'static str;
    fn load(&self, path: &Path) -> Result<Box<dyn LoadedBackendModel>, BoxError>;
}

/// A model file loaded by an engine: its metadata, and plans for concrete input shapes.
pub(crate) trait LoadedBackendModel: Send + Sync + fmt::Debug {
    fn metadata(&self, key: &str) -> Option<String>;
    /// A runner for `input_shape`, and the shapes of its outputs.
    fn plan(&self, input_shape: [usize; 4]) -> Result<Plan, BoxError>;
}

/// A model prepared for one input shape: what runs it, and the shapes of its outputs.
pub(crate) type Plan = (Arc<dyn Runner>, Vec<Vec<usize>>);

/// The one thing nodes need from an engine: run the model on a tensor of the planned shape.
pub(crate) trait Runner: Send + Sync + fmt::Debug {
    /// `alone`: no other model run was in flight when this one started, so it may use every thread.
    fn run(&self, input: Vec<f32>, alone: bool) -> Result<ModelOutputs, BoxError>;

    /// Whether [`run_shaped`](Self::run_shaped) takes other shapes than the planned one (engines that
    /// need no plan per shape).
    fn any_shape(&self) -> bool {
        false
    }

    /// [`run`](Self::run) on an input of another shape; only where [`any_shape`](Self::any_shape).
    fn run_shaped(&self, input: Vec<f32>, shape: [usize; 4], alone: bool) -> Result<ModelOutputs, BoxError> {
        let _ = (input, alone);
        Err(format!("this engine runs only the planned input shape, not {shape:?}").into())
    }
}

/// An ONNX model prepared for one input shape `[1, 3, H, W]` by an engine, ready to run. Cheap to share: runs
/// take `&self` and may happen on several threads at once.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    runner: Arc<dyn Runner>,
    input_shape: [usize; 4],
    output_shapes: Vec<Vec<usize>>,
    /// Model runs in flight on this engine, shared by all its models.
    in_flight: Arc<AtomicUsize>,
}

impl OnnxModel {
    /// Loads `path` on tract with `threads` threads per run, prepared for `input_shape`. For benchmarks and
    /// embedding; [`InferenceEngine::load_model`] picks the engine.
    pub fn load(path: &Path, input_shape: [usize; 4], threads: usize) -> Result<Self, BoxError> {
        InferenceEngine::new(&Engine::Tract, threads, 1)?.load_model(path, input_shape)
    }

    /// The input shape this model was prepared for.
    pub fn input_shape(&self) -> [usize; 4] {
        self.input_shape
    }

    /// The shapes of the outputs, in the model's output order.
    pub fn output_shapes(&self) -> &[Vec<usize>] {
        &self.output_shapes
    }

    /// Runs the model on `input`, a planar float32 tensor of exactly [`Self::input_shape`]'s size.
    pub fn run(&self, input: Vec<f32>) -> Result<ModelOutputs, BoxError> {
        self.run_on(input, true)
    }

    /// [`Self::run`] on one thread (the caller's, or a single-threaded session), for callers that run several
    /// models side by side themselves.
    pub(crate) fn run_single_threaded(&self, input: Vec<f32>) -> Result<ModelOutputs, BoxError> {
        self.run_on(input, false)
    }

    /// Whether [`Self::run_width`] runs inputs of any width on this engine (onnxruntime: yes; tract, which
    /// plans each shape: no).
    pub(crate) fn runs_any_width(&self) -> bool {
        self.runner.any_shape()
    }

    /// [`Self::run`] (or [`Self::run_single_threaded`] when `!may_widen`) on an input `width` wide instead of
    /// the planned width; only where [`Self::runs_any_width`], an error elsewhere.
    pub(crate) fn run_width(
        &self,
        input: Vec<f32>,
        width: usize,
        may_widen: bool,
    ) -> Result<ModelOutputs, BoxError> {
        let [n, c, h, _] = self.input_shape;
        self.run_shape(input, [n, c, h, width], may_widen)
    }

    fn run_on(&self, input: Vec<f32>, may_widen: bool) -> Result<ModelOutputs, BoxError> {
        self.run_shape(input, self.input_shape, may_widen)
    }

    fn run_shape(
        &self,
        input: Vec<f32>,
        shape: [usize; 4],
        may_widen: bool,
    ) -> Result<ModelOutputs, BoxError> {
        let expected: usize = shape.iter().product();
        if input.len() != expected {
            return Err(format!("input has {} values, the model expects {expected}", input.len()).into());
        }
        let alone = self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 && may_widen;
        let _done = InFlight(&self.in_flight);
        if shape == self.input_shape {
            self.runner.run(input, alone)
        } else {
            self.runner.run_shaped(input, shape, alone)
        }
    }
}

/// Counts a model run out of [`OnnxModel::in_flight`] when it ends, panicking or not.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What one run of a model produced.
#[derive(Debug)]
pub struct ModelOutputs(Outputs);

#[derive(Debug)]
enum Outputs {
    /// tract's own tensors, read in place.
    Tract(tract::TractOutputs),
    /// onnxruntime's own output values, read in place (they keep what they need of their session alive):
    /// `(shape, value)`, `None` for an output that is not a float32 tensor.
    #[cfg(feature = "onnxruntime")]
    Ort(Vec<Option<(Vec<usize>, ort::value::DynValue)>>),
}

impl ModelOutputs {
    /// Number of outputs.
    pub fn len(&self) -> usize {
        match &self.0 {
            Outputs::Tract(t) => t.len(),
            #[cfg(feature = "onnxruntime")]
            Outputs::Ort(o) => o.len(),
        }
    }

    /// True if the model produced no output.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Output `i` as its shape and its float32 values in row-major order; `None` if there is no such output
    /// or it is not a contiguous float32 tensor.
    pub fn get(&self, i: usize) -> Option<(&[usize], &[f32])> {
        match &self.0 {
            Outputs::Tract(t) => t.get(i),
            #[cfg(feature = "onnxruntime")]
            Outputs::Ort(o) => {
                let (shape, value) = o.get(i)?.as_ref()?;
                Some((shape.as_slice(), value.try_extract_tensor::<f32>().ok()?.1))
            }
        }
    }
}
