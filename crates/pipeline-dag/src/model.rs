//! ONNX models on tract: parsed once, optimised once per input shape, run many times.

use std::path::Path;
use std::sync::Arc;

use tract_linalg::multithread::{Executor, multithread_tract_scope};
use tract_onnx::prelude::*;

use crate::error::BoxError;

/// Where tract runs its matrix kernels.
#[derive(Debug, Clone, Default)]
pub struct Threads {
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl Threads {
    /// `n` threads: 0 or 1 means tract's single-threaded kernels on the calling thread; more starts a rayon
    /// pool of `n` threads that every model run shares (each run executes inside the pool).
    pub fn new(n: usize) -> Result<Self, BoxError> {
        if n <= 1 {
            return Ok(Self { pool: None });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("pipeline-dag-{i}"))
            .build()
            .map_err(BoxError::from)?;
        Ok(Self { pool: Some(Arc::new(pool)) })
    }

    /// Runs `f` where tract will use these threads.
    pub(crate) fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            None => f(),
            Some(pool) => {
                let executor = Executor::MultiThread(Arc::clone(pool));
                pool.install(|| multithread_tract_scope(executor, f))
            }
        }
    }

    /// Runs `a` and `b`, concurrently when there is a pool, and returns both results.
    pub(crate) fn join<A: Send, B: Send>(
        &self,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B) {
        match &self.pool {
            None => std::thread::scope(|s| {
                let handle = s.spawn(b);
                let ra = a();
                // A panic in `b` is a bug in this crate; re-raise it rather than hide it.
                let rb = handle.join().unwrap_or_else(|payload| std::panic::resume_unwind(payload));
                (ra, rb)
            }),
            Some(pool) => pool.install(|| rayon::join(a, b)),
        }
    }
}

/// An ONNX model as parsed by tract, before an input shape is fixed.
#[derive(Debug, Clone)]
pub(crate) struct ParsedModel {
    model: InferenceModel,
    /// `metadata_props` of the ONNX file (e.g. PP-OCR's `character` list).
    pub(crate) metadata: Vec<(String, String)>,
}

impl ParsedModel {
    pub(crate) fn load(path: &Path) -> Result<Self, BoxError> {
        let onnx = tract_onnx::onnx();
        let proto = onnx.proto_model_for_path(path)?;
        let metadata = proto.metadata_props.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
        let model = onnx.model_for_proto_model(&proto)?;
        Ok(Self { model, metadata })
    }

    /// Fixes the input shape and builds the optimised plan. tract cannot optimise these models with symbolic
    /// height/width (their Resize nodes need concrete sizes), hence one plan per shape.
    pub(crate) fn plan(&self, input_shape: [usize; 4], threads: &Threads) -> Result<OnnxModel, BoxError> {
        let typed = self.model.clone().with_input_fact(0, f32::fact(input_shape).into())?.into_optimized()?;
        let output_shapes = typed
            .output_outlets()?
            .iter()
            .map(|outlet| {
                let fact = typed.outlet_fact(*outlet)?;
                fact.shape.as_concrete().map(<[usize]>::to_vec).ok_or_else(|| {
                    tract_onnx::tract_core::internal::format_err!(
                        "output shape {:?} is not concrete",
                        fact.shape
                    )
                })
            })
            .collect::<TractResult<Vec<_>>>()?;
        let plan = typed.into_runnable()?;
        Ok(OnnxModel { plan, input_shape, output_shapes, threads: threads.clone() })
    }
}

/// An ONNX model optimised for one input shape `[1, 3, H, W]`, ready to run. Cheap to share: runs take `&self`.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    plan: Arc<TypedRunnableModel>,
    input_shape: [usize; 4],
    output_shapes: Vec<Vec<usize>>,
    threads: Threads,
}

impl OnnxModel {
    /// Loads `path` and optimises it for `input_shape` (a float32 NCHW tensor). For benchmarks and embedding;
    /// pipelines load their models through the registry.
    pub fn load(path: &Path, input_shape: [usize; 4], threads: &Threads) -> Result<Self, BoxError> {
        ParsedModel::load(path)?.plan(input_shape, threads)
    }

    /// The input shape this plan was optimised for.
    pub fn input_shape(&self) -> [usize; 4] {
        self.input_shape
    }

    /// The shapes of the outputs, in the model's output order.
    pub fn output_shapes(&self) -> &[Vec<usize>] {
        &self.output_shapes
    }

    /// Runs the model on `input`, a planar float32 tensor of exactly [`Self::input_shape`]'s size.
    pub fn run(&self, input: Vec<f32>) -> Result<ModelOutputs, BoxError> {
        let tensor = tract_ndarray::Array4::from_shape_vec(self.input_shape, input)?.into_tensor();
        let outputs = self.threads.run(|| self.plan.run(tvec!(tensor.into_tvalue())))?;
        Ok(ModelOutputs { outputs })
    }
}

/// What one run of a model produced.
#[derive(Debug)]
pub struct ModelOutputs {
    outputs: TVec<TValue>,
}

impl ModelOutputs {
    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.outputs.len()
    }

    /// True if the model produced no output.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    /// Output `i` as its shape and its float32 values in row-major order; `None` if there is no such output
    /// or it is not a contiguous float32 tensor.
    pub fn get(&self, i: usize) -> Option<(&[usize], &[f32])> {
        let tensor = self.outputs.get(i)?;
        Some((tensor.shape(), tensor.as_plain_ram()?.as_slice::<f32>().ok()?))
    }
}
