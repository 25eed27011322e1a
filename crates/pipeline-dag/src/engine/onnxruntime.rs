//! The onnxruntime engine (feature `onnxruntime`): the `ort` bindings over a shared library loaded at run
//! time. One session per model file serves every input shape; a session runs one frame at a time, so each
//! model keeps one single-threaded session per concurrent run, plus one with every thread for a run that
//! starts alone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

use super::{Backend, LoadedBackendModel, ModelOutputs, OnnxRuntimeConfig, Outputs, Plan, Runner};
use crate::error::BoxError;

/// The library this process loaded, and the environment made from it. `ort` loads one library per process and
/// silently keeps the first, so a second, different path is refused here instead.
static LOADED: OnceLock<(PathBuf, ort::environment::Environment)> = OnceLock::new();

fn environment(library: &Path) -> Result<ort::environment::Environment, BoxError> {
    if let Some((loaded, env)) = LOADED.get() {
        if loaded != library {
            return Err(format!(
                "onnxruntime is already loaded from {} in this process; cannot load {} as well",
                loaded.display(),
                library.display()
            )
            .into());
        }
        return Ok(env.clone());
    }
    // `ort` would report a missing file too, but naming the setting helps the operator more.
    if !library.is_file() {
        return Err(format!(
            "onnxruntime library {} not found (fetch it with `just onnxruntime`, or set STREAM_ONNXRUNTIME_LIBRARY)",
            library.display()
        )
        .into());
    }
    let env = ort::init_from(library)
        .map_err(|e| format!("cannot load onnxruntime from {}: {e}", library.display()))?
        .with_name("forgesyte-stream")
        .build()
        .map_err(|e| format!("cannot start onnxruntime from {}: {e}", library.display()))?;
    let (_, env) = LOADED.get_or_init(|| (library.to_owned(), env));
    Ok(env.clone())
}

/// A builder error without the builder it carries (which is neither `Send` nor needed).
fn plain(error: ort::Error<ort::session::builder::SessionBuilder>) -> ort::Error {
    error.into()
}

/// The onnxruntime engine.
#[derive(Debug)]
pub(crate) struct OrtBackend {
    env: ort::environment::Environment,
    threads: usize,
    spinning: bool,
    sessions_per_model: usize,
}

impl OrtBackend {
    pub(crate) fn new(
        config: &OnnxRuntimeConfig,
        threads: usize,
        sessions_per_model: usize,
    ) -> Result<Self, BoxError> {
        let env = environment(&config.library)?;
        Ok(Self { env, threads: threads.max(1), spinning: config.spinning, sessions_per_model })
    }

    fn session(&self, path: &Path, threads: usize) -> Result<Session, BoxError> {
        Ok(Session::builder(&self.env)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(plain)?
            .with_intra_threads(threads)
            .map_err(plain)?
            .with_inter_threads(1)
            .map_err(plain)?
            .with_intra_op_spinning(self.spinning)
            .map_err(plain)?
            .with_inter_op_spinning(false)
            .map_err(plain)?
            .commit_from_file(path)?)
    }
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn load(&self, path: &Path) -> Result<Box<dyn LoadedBackendModel>, BoxError> {
        let first = self.session(path, 1)?;
        let metadata = first.metadata()?;
        let character = metadata.custom("character");
        drop(metadata);
        let mut narrow = Vec::with_capacity(self.sessions_per_model);
        narrow.push(Mutex::new(first));
        for _ in 1..self.sessions_per_model {
            narrow.push(Mutex::new(self.session(path, 1)?));
        }
        let wide = if self.threads > 1 { Some(Mutex::new(self.session(path, self.threads)?)) } else { None };
        Ok(Box::new(OrtModel {
            pool: Arc::new(SessionPool { narrow, wide, next: AtomicUsize::new(0) }),
            character,
        }))
    }
}

/// A model file's sessions.
#[derive(Debug)]
struct OrtModel {
    pool: Arc<SessionPool>,
    /// PP-OCR's `character` list, the only metadata the nodes read.
    character: Option<String>,
}

impl LoadedBackendModel for OrtModel {
    fn metadata(&self, key: &str) -> Option<String> {
        (key == "character").then(|| self.character.clone()).flatten()
    }

    /// onnxruntime needs no per-shape plan; one run on zeros checks the shape and tells the output shapes.
    fn plan(&self, input_shape: [usize; 4]) -> Result<Plan, BoxError> {
        let runner = OrtRunner { pool: Arc::clone(&self.pool), input_shape };
        let outputs = runner.run(vec![0.0; input_shape.iter().product()], false)?;
        if runner.pool.wide.is_some() {
            runner.run(vec![0.0; input_shape.iter().product()], true)?;
        }
        let shapes = (0..outputs.len())
            .map(|i| outputs.get(i).map(|(shape, _)| shape.to_vec()).ok_or("a model output is not float32"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((Arc::new(runner), shapes))
    }
}

/// One single-threaded session per concurrent run (a run takes a free one, or waits for one in turn), and one
/// multithreaded session for a run that starts alone.
#[derive(Debug)]
struct SessionPool {
    narrow: Vec<Mutex<Session>>,
    wide: Option<Mutex<Session>>,
    next: AtomicUsize,
}

#[derive(Debug)]
struct OrtRunner {
    pool: Arc<SessionPool>,
    input_shape: [usize; 4],
}

impl Runner for OrtRunner {
    fn run(&self, input: Vec<f32>, alone: bool) -> Result<ModelOutputs, BoxError> {
        self.run_shaped(input, self.input_shape, alone)
    }

    /// One session serves every shape the model accepts; onnxruntime checks it.
    fn any_shape(&self) -> bool {
        true
    }

    fn run_shaped(&self, input: Vec<f32>, shape: [usize; 4], alone: bool) -> Result<ModelOutputs, BoxError> {
        let sessions = &self.pool.narrow;
        let wide = self.pool.wide.as_ref().filter(|_| alone).and_then(super::try_lock_in_use);
        let mut session = match wide.or_else(|| sessions.iter().find_map(super::try_lock_in_use)) {
            Some(free) => free,
            None => {
                let i = self.pool.next.fetch_add(1, Ordering::Relaxed) % sessions.len();
                // A poisoned session only means another run panicked while holding it; the session is intact.
                sessions[i].lock().unwrap_or_else(PoisonError::into_inner)
            }
        };
        let tensor = Tensor::from_array((shape, input))?;
        let outputs = session.run(ort::inputs![tensor])?;
        // The values are moved out, not copied (a detector's output is 1.6 MB, a recogniser line's ~2 MB): they
        // outlive the session's lock and are read in place.
        let values = outputs
            .into_iter()
            .map(|(_, value)| {
                let shape = value.try_extract_tensor::<f32>().ok()?.0;
                let shape = shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
                Some((shape, value))
            })
            .collect();
        Ok(ModelOutputs(Outputs::Ort(values)))
    }
}
