//! The tract engine: models parsed once, optimised once per input shape, run many times; matrix kernels on a
//! shared rayon pool when a run may use several threads.

use std::path::Path;
use std::sync::{Arc, Mutex, Once};

use tract_linalg::multithread::{Executor, multithread_tract_scope};
use tract_onnx::prelude::*;

use super::fold_pads::fold_pads;
use super::{Backend, LoadedBackendModel, ModelOutputs, Outputs, Plan, Runner};
use crate::error::BoxError;

/// Where tract runs its matrix kernels: a run alone on one rayon pool, every other run on its calling thread.
///
/// The pool never runs two model runs at once. tract keeps per-thread scratch space borrowed for the whole of
/// a matrix product, and a rayon worker that waits inside one run's parallel section may pick up any other job
/// of its pool; if that job is another run, it borrows the same scratch and the process aborts ("RefCell
/// already borrowed", found under load with two concurrent runs on one shared pool). Only a run that started
/// alone takes the pool, behind a lock.
#[derive(Debug, Clone, Default)]
pub(crate) struct Threads {
    pool: Option<Arc<Pool>>,
}

#[derive(Debug)]
struct Pool {
    in_use: Mutex<()>,
    threads: Arc<rayon::ThreadPool>,
}

impl Threads {
    /// `n` threads for a run alone: 0 or 1 means tract's single-threaded kernels on the calling thread
    /// always; more starts one pool of `n` threads.
    pub(crate) fn new(n: usize) -> Result<Self, BoxError> {
        if n <= 1 {
            return Ok(Self::default());
        }
        let threads =
            rayon::ThreadPoolBuilder::new().num_threads(n).thread_name(|i| format!("tract-{i}")).build()?;
        Ok(Self { pool: Some(Arc::new(Pool { in_use: Mutex::new(()), threads: Arc::new(threads) })) })
    }

    /// Runs `f` where tract will use these threads: on the pool if the run is `alone` and the pool is free,
    /// otherwise on the calling thread.
    fn run<R: Send>(&self, alone: bool, f: impl FnOnce() -> R + Send) -> R {
        let Some(pool) = self.pool.as_ref().filter(|_| alone) else { return f() };
        let Some(_in_use) = super::try_lock_in_use(&pool.in_use) else { return f() };
        let executor = Executor::MultiThread(Arc::clone(&pool.threads));
        pool.threads.install(|| multithread_tract_scope(executor, f))
    }
}

/// The tract engine.
#[derive(Debug)]
pub(crate) struct TractBackend {
    threads: Threads,
}

impl TractBackend {
    pub(crate) fn new(threads: Threads) -> Self {
        tune_cpu_isa();
        Self { threads }
    }
}

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn load(&self, path: &Path) -> Result<Box<dyn LoadedBackendModel>, BoxError> {
        let onnx = tract_onnx::onnx();
        let mut proto = onnx.proto_model_for_path(path)?;
        let metadata = proto.metadata_props.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
        if let Some(graph) = proto.graph.as_mut() {
            fold_pads(graph);
        }
        let model = onnx.model_for_proto_model(&proto)?;
        Ok(Box::new(TractModel { model, metadata, threads: self.threads.clone() }))
    }
}

/// An ONNX model as parsed by tract, before an input shape is fixed.
#[derive(Debug)]
struct TractModel {
    model: InferenceModel,
    metadata: Vec<(String, String)>,
    threads: Threads,
}

impl LoadedBackendModel for TractModel {
    fn metadata(&self, key: &str) -> Option<String> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// Fixes the input shape and builds the optimised plan. tract cannot optimise these models with symbolic
    /// height/width (their Resize nodes need concrete sizes), hence one plan per shape.
    fn plan(&self, input_shape: [usize; 4]) -> Result<Plan, BoxError> {
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
        let runner = TractRunner { plan, input_shape, threads: self.threads.clone() };
        Ok((Arc::new(runner), output_shapes))
    }
}

#[derive(Debug)]
struct TractRunner {
    plan: Arc<TypedRunnableModel>,
    input_shape: [usize; 4],
    threads: Threads,
}

impl Runner for TractRunner {
    fn run(&self, input: Vec<f32>, alone: bool) -> Result<ModelOutputs, BoxError> {
        let tensor = tract_ndarray::Array4::from_shape_vec(self.input_shape, input)?.into_tensor();
        let outputs = self.threads.run(alone, || self.plan.run(tvec!(tensor.into_tvalue())))?;
        Ok(ModelOutputs(Outputs::Tract(TractOutputs(outputs))))
    }
}

/// tract's output tensors, read in place.
#[derive(Debug)]
pub(crate) struct TractOutputs(TVec<TValue>);

impl TractOutputs {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn get(&self, i: usize) -> Option<(&[usize], &[f32])> {
        let tensor = self.0.get(i)?;
        Some((tensor.shape(), tensor.as_plain_ram()?.as_slice::<f32>().ok()?))
    }
}

/// Picks tract's matrix kernels for this CPU family, once per process, before the first plan is built.
///
/// AMD Zen 3/4 (family 0x19) execute AVX-512 as two 256-bit halves; on them tract's AVX2/FMA kernels are faster
/// than its AVX-512 ones (NanoDet-g at 416: 74 → 65 ms, `../shared/TOOLCHAIN.md`), so AVX-512 is turned off
/// there. `TRACT_CPU_ISA` in the environment still wins (tract reads it above this process-wide default).
fn tune_cpu_isa() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Some(spec) = isa_override(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()) {
            // Fails only if another config in this process set a different value; theirs then stands.
            let _ = tract_onnx::tract_core::knobs::set_config_global("TRACT_CPU_ISA", spec);
        }
    });
}

/// The `TRACT_CPU_ISA` edit for the CPU described by `cpuinfo` (Linux's `/proc/cpuinfo`), if it needs one.
fn isa_override(cpuinfo: &str) -> Option<&'static str> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim())
        })
    };
    let amd = field("vendor_id") == Some("AuthenticAMD");
    let zen3_or_4 = field("cpu family") == Some("25");
    let avx512 = field("flags").is_some_and(|flags| flags.split_whitespace().any(|f| f == "avx512f"));
    (amd && zen3_or_4 && avx512).then_some("-avx512f")
}

#[cfg(test)]
mod pool_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A run that panics while it holds the pool poisons its lock; the next run alone still gets the pool.
    #[test]
    fn a_panicking_run_does_not_leave_inference_single_threaded() {
        let threads = Threads::new(2).unwrap();
        let on_pool = || rayon::current_thread_index().is_some();
        assert!(threads.run(true, on_pool));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            threads.run(true, || panic!("a model run panics"))
        }));
        assert!(panicked.is_err());
        assert!(threads.run(true, on_pool), "the pool is used again after the panic");
        assert!(!threads.run(false, on_pool), "overlapping runs stay on their own thread");
    }
}

#[cfg(test)]
mod tests {
    use super::isa_override;

    const ZEN4: &str = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nflags\t\t: fpu avx2 fma avx512f avx512bw\n";

    #[test]
    fn avx512_is_turned_off_on_zen4_only() {
        assert_eq!(isa_override(ZEN4), Some("-avx512f"));
        // The same CPU without AVX-512 exposed (e.g. a VM that hides it): nothing to turn off.
        assert_eq!(isa_override(&ZEN4.replace(" avx512f avx512bw", "")), None);
        // Intel with AVX-512: its full-width units are kept.
        assert_eq!(isa_override(&ZEN4.replace("AuthenticAMD", "GenuineIntel").replace(": 25", ": 6")), None);
        // Zen 5 (family 26) runs AVX-512 at full width.
        assert_eq!(isa_override(&ZEN4.replace(": 25", ": 26")), None);
        assert_eq!(isa_override(""), None);
    }

    #[test]
    fn tract_accepts_the_override() {
        // The knob name and value are checked by tract; a typo here would silently tune nothing.
        tract_onnx::tract_core::knobs::set_config_global("TRACT_CPU_ISA", "-avx512f").expect("known knob");
    }
}
