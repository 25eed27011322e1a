//! Where tract spends a model run, by operator kind: the tool behind the tract figures in
//! `docs/performance.md`.
//!
//! ```sh
//! cargo run --release --locked --example tract_profile -- fixtures/models/nanodet-g-coco.onnx 416 2
//! ```
//!
//! Arguments: model file, square input side (or `WxH`), threads (1 = tract's single-threaded kernels; more =
//! `multithread-mm` on a pool of that many threads, the whole run inside it, as the engine does), and
//! optionally `raw` to skip the engine's graph rewrite (`Pad` folding) and see the model as exported. It runs
//! the plan 5 times to warm up, then 20 times with a timer around every node, and prints the median run time
//! and the share of each operator kind.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::model::TypedSimplePlan;
use tract_onnx::tract_core::plan::{SimplePlan, SimpleState, eval};
use tract_onnx::tract_core::tract_linalg::multithread::{Executor, multithread_tract_scope};

// The engine's own graph rewrite, compiled into this example so that it profiles the graph the engine runs.
#[path = "../src/engine/fold_pads.rs"]
mod fold_pads;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model_path = args.first().map_or("fixtures/models/nanodet-g-coco.onnx", String::as_str);
    let (width, height) = match args.get(1).map(String::as_str).unwrap_or("416").split_once('x') {
        Some((w, h)) => (w.parse::<usize>()?, h.parse::<usize>()?),
        None => {
            let side = args.get(1).map_or(Ok(416), |s| s.parse::<usize>())?;
            (side, side)
        }
    };
    let threads: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;

    let raw = args.get(3).is_some_and(|a| a == "raw");

    let onnx = tract_onnx::onnx();
    let mut proto = onnx.proto_model_for_path(model_path)?;
    if let (false, Some(graph)) = (raw, proto.graph.as_mut()) {
        println!("{} Pad nodes folded into their Conv/MaxPool", fold_pads::fold_pads(graph));
    }
    let model = onnx
        .model_for_proto_model(&proto)?
        .with_input_fact(0, f32::fact([1, 3, height, width]).into())?
        .into_optimized()?;
    let plan = SimplePlan::new(model)?;
    let input: TValue = Tensor::zero::<f32>(&[1, 3, height, width])?.into_tvalue();

    let executor = if threads > 1 { Executor::multithread(threads) } else { Executor::SingleThread };
    let mut per_op: HashMap<String, (Duration, usize)> = HashMap::new();
    let mut runs = Vec::new();
    for i in 0..25 {
        let timed = || run_timed(&plan, &input);
        let (total, times) = match &executor {
            Executor::MultiThread(pool) => pool.install(|| multithread_tract_scope(executor.clone(), timed)),
            _ => timed(),
        }?;
        if i >= 5 {
            runs.push(total);
            for (name, t) in times {
                let e = per_op.entry(name).or_default();
                e.0 += t;
                e.1 += 1;
            }
        }
    }
    runs.sort();
    let measured = runs.len() as u32;
    let median = runs[runs.len() / 2];
    println!(
        "{model_path} {width}x{height}, {threads} thread(s): median {:.1} ms over {measured} runs",
        ms(median)
    );
    let mut rows: Vec<_> = per_op.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1.0));
    let sum: Duration = rows.iter().map(|r| r.1.0).sum();
    println!("{:<24} {:>10} {:>7} {:>6}", "operator", "ms / run", "share", "nodes");
    for (name, (time, count)) in rows {
        println!(
            "{name:<24} {:>10.2} {:>6.1}% {:>6}",
            ms(time / measured),
            100.0 * time.as_secs_f64() / sum.as_secs_f64(),
            count / measured as usize
        );
    }
    Ok(())
}

/// One run of `plan` with a timer around every node: the run's time and each node's (operator name, time).
fn run_timed(
    plan: &Arc<TypedSimplePlan>,
    input: &TValue,
) -> TractResult<(Duration, Vec<(String, Duration)>)> {
    let mut state = SimpleState::new(plan)?;
    let mut times = Vec::new();
    let start = Instant::now();
    state.run_plan_with_eval(tvec!(input.clone()), |ctx, op_state, node, inputs| {
        let t = Instant::now();
        let out = eval(ctx, op_state, node, inputs);
        times.push((node.op().name().to_string(), t.elapsed()));
        out
    })?;
    Ok((start.elapsed(), times))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
