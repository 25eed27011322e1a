//! Where a frame's time goes: JPEG decode, resize, preprocess, each model, detection decode + NMS, and each
//! pipeline end to end, on the fixture frames. Run with `just bench` or
//! `cargo bench -p pipeline-dag --bench pipelines`; results are recorded in `docs/performance.md`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
use pipeline_dag::stages::{
    OnnxModel, OutputFormat, decode_jpeg, decode_nanodet, decode_nanodet_plus, detection_input, nms,
};
use pipeline_dag::{Engine, InferenceEngine, PipelineRegistry, RegistryConfig};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn frame_bytes(name: &str) -> Vec<u8> {
    std::fs::read(workspace().join(format!("fixtures/images/{name}_640x480.jpg"))).expect("fixture frame")
}

fn model(name: &str) -> PathBuf {
    workspace().join("fixtures/models").join(name)
}

/// tract, and onnxruntime when this build has it and its library is where `just onnxruntime` puts it (or
/// `STREAM_ONNXRUNTIME_LIBRARY` names it).
fn engines() -> Vec<Engine> {
    let mut engines = vec![Engine::Tract];
    if cfg!(feature = "onnxruntime") {
        let library =
            std::env::var_os("STREAM_ONNXRUNTIME_LIBRARY").map(PathBuf::from).unwrap_or_else(|| {
                workspace().join(format!(
                    "target/onnxruntime/libonnxruntime.so.{}",
                    pipeline_dag::ONNXRUNTIME_VERSION
                ))
            });
        if library.is_file() {
            engines.push(Engine::OnnxRuntime(pipeline_dag::OnnxRuntimeConfig::new(library)));
        }
    }
    engines
}

fn jpeg(c: &mut Criterion) {
    let mut group = c.benchmark_group("jpeg_decode_640x480");
    for name in ["chelsea", "page"] {
        let bytes = frame_bytes(name);
        group.bench_with_input(BenchmarkId::new("zune-jpeg", name), &bytes, |b, bytes| {
            b.iter(|| decode_jpeg(black_box(bytes), u64::MAX).expect("decodes"))
        });
        group.bench_with_input(BenchmarkId::new("zune-jpeg-safe-options", name), &bytes, |b, bytes| {
            b.iter(|| {
                let options = zune_core::options::DecoderOptions::new_safe()
                    .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGB);
                let cursor = zune_core::bytestream::ZCursor::new(black_box(bytes.as_slice()));
                zune_jpeg::JpegDecoder::new_with_options(cursor, options).decode().expect("decodes")
            })
        });
        group.bench_with_input(BenchmarkId::new("jpeg-decoder", name), &bytes, |b, bytes| {
            b.iter(|| jpeg_decoder::Decoder::new(black_box(bytes.as_slice())).decode().expect("decodes"))
        });
    }
    group.finish();
}

fn resize(c: &mut Criterion) {
    let frame = decode_jpeg(&frame_bytes("chelsea"), u64::MAX).expect("decodes");
    let src =
        fast_image_resize::images::ImageRef::new(640, 480, frame.rgb(), PixelType::U8x3).expect("image");
    let mut group = c.benchmark_group("resize_640x480");
    for size in [416u32, 320] {
        for (label, alg) in [
            ("interpolation-bilinear", ResizeAlg::Interpolation(FilterType::Bilinear)),
            ("convolution-bilinear", ResizeAlg::Convolution(FilterType::Bilinear)),
            ("nearest", ResizeAlg::Nearest),
        ] {
            let options = ResizeOptions::new().resize_alg(alg);
            group.bench_function(BenchmarkId::new(label, size), |b| {
                let mut resizer = Resizer::new();
                let mut dst = Image::new(size, size, PixelType::U8x3);
                b.iter(|| resizer.resize(black_box(&src), &mut dst, &options).expect("resizes"))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("preprocess_640x480");
    let bytes = frame_bytes("chelsea");
    for size in [416u32, 320] {
        group.bench_function(BenchmarkId::new("resize+normalise", size), |b| {
            b.iter(|| detection_input(black_box(&frame), size, OutputFormat::NanoDet).expect("preprocesses"))
        });
        group.bench_function(BenchmarkId::new("decode+resize+normalise", size), |b| {
            b.iter(|| {
                let frame = decode_jpeg(black_box(&bytes), u64::MAX).expect("decodes");
                detection_input(&frame, size, OutputFormat::NanoDet).expect("preprocesses")
            })
        });
    }
    group.finish();
}

fn models(c: &mut Criterion) {
    let mut group = c.benchmark_group("model");
    group.sample_size(10).measurement_time(Duration::from_secs(3));
    let cases: [(&str, &str, [usize; 4]); 10] = [
        // NanoDet-Plus-m (the built-in `yolo`) and NanoDet-g (the former one), alternated.
        ("nanodet-plus-m", "nanodet-plus-m_dynamic-hw.onnx", [1, 3, 416, 416]),
        ("nanodet-g", "nanodet-g-coco.onnx", [1, 3, 416, 416]),
        ("nanodet-plus-m", "nanodet-plus-m_dynamic-hw.onnx", [1, 3, 320, 320]),
        ("nanodet-g", "nanodet-g-coco.onnx", [1, 3, 320, 320]),
        ("nanodet-plus-m", "nanodet-plus-m_dynamic-hw.onnx", [1, 3, 384, 384]),
        ("nanodet-plus-m", "nanodet-plus-m_dynamic-hw.onnx", [1, 3, 352, 352]),
        ("ppocr-det", "ch_PP-OCRv4_det_infer.onnx", [1, 3, 480, 640]),
        ("ppocr-rec", "ch_PP-OCRv4_rec_infer.onnx", [1, 3, 48, 320]),
        ("ppocr-rec", "ch_PP-OCRv4_rec_infer.onnx", [1, 3, 48, 640]),
        ("ppocr-cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", [1, 3, 48, 192]),
    ];
    // onnxruntime once more with spinning threads (`--onnxruntime-spinning`), which matters with 2 threads.
    let spinning = engines().into_iter().filter_map(|engine| match engine {
        Engine::OnnxRuntime(mut config) => {
            config.spinning = true;
            Some(("onnxruntime-spinning", Engine::OnnxRuntime(config)))
        }
        _ => None,
    });
    let variants: Vec<_> = engines().into_iter().map(|e| (e.name(), e)).chain(spinning).collect();
    for (name, engine) in variants {
        for threads in [1usize, 2] {
            let engine_threads = InferenceEngine::new(&engine, threads, 1).expect("engine starts");
            for (label, file, shape) in cases {
                let model = engine_threads.load_model(&model(file), shape).expect("model loads");
                let input = vec![0.1f32; shape.iter().product()];
                let id = format!("{label}/{}x{}/{name}/threads={threads}", shape[3], shape[2]);
                group.bench_function(id, |b| b.iter(|| model.run(black_box(input.clone())).expect("runs")));
            }
        }
    }
    group.finish();
}

fn decode_and_nms(c: &mut Criterion) {
    let frame = decode_jpeg(&frame_bytes("coffee"), u64::MAX).expect("decodes");
    let mut group = c.benchmark_group("detection_decode_nms");
    for size in [416u32, 320] {
        let s = size as usize;
        let plus_path = model("nanodet-plus-m_dynamic-hw.onnx");
        let g = OnnxModel::load(&model("nanodet-g-coco.onnx"), [1, 3, s, s], 1).expect("model loads");
        let outputs =
            g.run(detection_input(&frame, size, OutputFormat::NanoDet).expect("input")).expect("runs");
        let views: Vec<_> = (0..outputs.len()).map(|i| outputs.get(i).expect("float output")).collect();
        group.bench_function(BenchmarkId::new("nanodet", size), |b| {
            b.iter(|| nms(decode_nanodet(black_box(&views), size, 0.35).expect("decodes"), 0.5, 100))
        });
        let plus = OnnxModel::load(&plus_path, [1, 3, s, s], 1).expect("model loads");
        let outputs =
            plus.run(detection_input(&frame, size, OutputFormat::NanoDetPlus).expect("input")).expect("runs");
        let view = outputs.get(0).expect("float output");
        group.bench_function(BenchmarkId::new("nanodet-plus", size), |b| {
            b.iter(|| nms(decode_nanodet_plus(black_box(view), size, 0.35).expect("decodes"), 0.5, 100))
        });
    }
    group.finish();
}

fn pipelines(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    for (engine, threads) in engines().into_iter().flat_map(|e| [(e.clone(), 1usize), (e, 2)]) {
        let mut config = RegistryConfig::new(workspace().join("fixtures/models"));
        config.pipelines_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pipelines"));
        config.inference_threads = threads;
        config.engine = engine.clone();
        let registry = PipelineRegistry::load(&config).expect("registry loads");
        for (pipeline, frame) in
            [("yolo", "chelsea"), ("yolo_320", "chelsea"), ("ocr", "page"), ("yolo_ocr", "page")]
        {
            let bytes = frame_bytes(frame);
            let id = format!("{pipeline}/{frame}/{}/threads={threads}", engine.name());
            group.bench_function(id, |b| {
                b.iter(|| registry.run_on_frame(pipeline, 0, black_box(&bytes)).expect("runs"))
            });
        }
        if threads == 1 && engine == Engine::Tract {
            // yolo_ocr with its two branches one after the other, to see what running them concurrently buys.
            config.parallel_branches = false;
            let sequential = PipelineRegistry::load(&config).expect("registry loads");
            let bytes = frame_bytes("page");
            group.bench_function("yolo_ocr/page/threads=1/sequential", |b| {
                b.iter(|| sequential.run_on_frame("yolo_ocr", 0, black_box(&bytes)).expect("runs"))
            });
        }
    }
    group.finish();
}

/// What the `yolo` pipeline adds to its model (JPEG decode, preprocess, decode + NMS, the DAG). Pipeline and
/// bare model are measured in alternation — each iteration runs both, back to back, and times one of them — so
/// that load on the machine hits both figures alike (separate benchmarks on a busy machine compare two
/// different loads).
fn pipeline_vs_model(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline_vs_model");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    let mut config = RegistryConfig::new(workspace().join("fixtures/models"));
    config.pipelines_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pipelines"));
    let registry = PipelineRegistry::load(&config).expect("registry loads");
    let bytes = frame_bytes("chelsea");
    for (pipeline, size) in [("yolo_320", 320usize), ("yolo", 416)] {
        let model = OnnxModel::load(&model("nanodet-plus-m_dynamic-hw.onnx"), [1, 3, size, size], 1)
            .expect("model loads");
        let input = vec![0.1f32; 3 * size * size];
        for timed in ["pipeline", "bare model"] {
            group.bench_function(format!("{pipeline}/chelsea/threads=1/{timed}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let started = std::time::Instant::now();
                        black_box(registry.run_on_frame(pipeline, 0, black_box(&bytes)).expect("runs"));
                        let piped = started.elapsed();
                        let started = std::time::Instant::now();
                        black_box(model.run(black_box(input.clone())).expect("runs"));
                        total += if timed == "pipeline" { piped } else { started.elapsed() };
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

/// OCR's steps on the page and on a blank frame, each engine at two threads. Alternated (A B A B in every
/// iteration, one of them timed): the page with its lines recognised side by side vs one after the other, and
/// a frame with no text vs one bare run of the text detector.
fn ocr_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("ocr_steps");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    let blank = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/blank_640x480.jpg"))
        .expect("blank frame");
    let page = frame_bytes("page");
    for engine in engines() {
        let load = |parallel: bool| {
            let mut config = RegistryConfig::new(workspace().join("fixtures/models"));
            config.inference_threads = 2;
            config.concurrent_runs = 2;
            config.parallel_branches = parallel;
            config.engine = engine.clone();
            config.pipelines_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/definitions"));
            PipelineRegistry::load(&config).expect("registry loads")
        };
        let (side_by_side, one_by_one) = (load(true), load(false));
        let name = engine.name();
        // `unclip_ratio` 2.0 (the default) against RapidOCR's 1.6: the taller crop is narrower at height 48.
        for timed in ["unclip 2.0", "unclip 1.6"] {
            group.bench_function(format!("ocr/page/{name}/threads=2/{timed}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let started = std::time::Instant::now();
                        black_box(side_by_side.run_on_frame("ocr", 0, black_box(&page)).expect("runs"));
                        let a = started.elapsed();
                        let started = std::time::Instant::now();
                        black_box(
                            side_by_side.run_on_frame("ocr_unclip_1_6", 0, black_box(&page)).expect("runs"),
                        );
                        total += if timed == "unclip 2.0" { a } else { started.elapsed() };
                    }
                    total
                })
            });
        }
        for timed in ["lines side by side", "lines one by one"] {
            group.bench_function(format!("ocr/page/{name}/threads=2/{timed}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let started = std::time::Instant::now();
                        black_box(side_by_side.run_on_frame("ocr", 0, black_box(&page)).expect("runs"));
                        let a = started.elapsed();
                        let started = std::time::Instant::now();
                        black_box(one_by_one.run_on_frame("ocr", 0, black_box(&page)).expect("runs"));
                        total += if timed == "lines side by side" { a } else { started.elapsed() };
                    }
                    total
                })
            });
        }
        let inference = InferenceEngine::new(&engine, 2, 2).expect("engine starts");
        if name == "onnxruntime" {
            rec_widths(&mut group, &inference, &side_by_side, &page);
        }
        let det =
            inference.load_model(&model("ch_PP-OCRv4_det_infer.onnx"), [1, 3, 480, 640]).expect("det loads");
        let input = vec![0.1f32; 3 * 480 * 640];
        for timed in ["blank frame", "bare det"] {
            group.bench_function(format!("ocr/blank/{name}/threads=2/{timed}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let started = std::time::Instant::now();
                        black_box(side_by_side.run_on_frame("ocr", 0, black_box(&blank)).expect("runs"));
                        let a = started.elapsed();
                        let started = std::time::Instant::now();
                        black_box(det.run(black_box(input.clone())).expect("runs"));
                        total += if timed == "blank frame" { a } else { started.elapsed() };
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

/// The page's seven lines through the recogniser alone, one after the other on two threads: at the width
/// buckets tract needs (320, 480, 640, 960, 1280) against the crop's own width plus one line height of blank,
/// which onnxruntime runs. Crop widths from the blocks the `ocr` pipeline reads (bbox aspect at height 48).
#[allow(clippy::print_stderr)] // The widths say what the two timings compare.
fn rec_widths(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    inference: &InferenceEngine,
    registry: &PipelineRegistry,
    page: &[u8],
) {
    let blocks = registry.run_on_frame("ocr", 0, page).expect("runs").ocr.expect("ocr output").blocks;
    let crops: Vec<usize> =
        blocks.iter().map(|b| (48.0 * b.bbox.width as f32 / b.bbox.height as f32).ceil() as usize).collect();
    let bucket = |w: usize| [320, 480, 640, 960, 1280].into_iter().find(|&b| b >= w).unwrap_or(1280);
    let own = |w: usize| (w + 48).next_multiple_of(8).max(320).min(bucket(w));
    let lines = |width: &dyn Fn(usize) -> usize| -> Vec<(OnnxModel, Vec<f32>)> {
        crops
            .iter()
            .map(|&w| {
                let w = width(w);
                let rec = inference
                    .load_model(&model("ch_PP-OCRv4_rec_infer.onnx"), [1, 3, 48, w])
                    .expect("rec loads");
                (rec, vec![0.1f32; 3 * 48 * w])
            })
            .collect()
    };
    let (buckets, own_widths) = (lines(&bucket), lines(&own));
    let pixels = |f: &dyn Fn(usize) -> usize| crops.iter().map(|&w| f(w)).sum::<usize>();
    eprintln!(
        "rec widths: crops {crops:?}, {} px of crop, {} px at buckets, {} px at own width",
        crops.iter().sum::<usize>(),
        pixels(&bucket),
        pixels(&own)
    );
    let run = |lines: &[(OnnxModel, Vec<f32>)]| {
        for (rec, input) in lines {
            black_box(rec.run(black_box(input.clone())).expect("runs"));
        }
    };
    for timed in ["buckets", "own width"] {
        group.bench_function(format!("rec/page lines/onnxruntime/threads=2/{timed}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = std::time::Instant::now();
                    run(&buckets);
                    let a = started.elapsed();
                    let started = std::time::Instant::now();
                    run(&own_widths);
                    total += if timed == "buckets" { a } else { started.elapsed() };
                }
                total
            })
        });
    }
}

/// The tracker alone: one frame of 50 moving objects (each seen every frame, boxes shifting 3 px a frame),
/// after a warm-up that confirmed their tracks. Target ≤ 0.2 ms a frame.
fn tracker(c: &mut Criterion) {
    use pipeline_dag::stages::Tracker;
    use stream_protocol::{Detection, ImageSize};
    let size = ImageSize { width: 1920, height: 1080 };
    let frame = |f: u32| -> Vec<Detection> {
        (0..50u32)
            .map(|i| {
                let (x, y) =
                    (20.0 + 36.0 * (i % 10) as f32 * 5.0 + 3.0 * f as f32, 60.0 + 200.0 * (i / 10) as f32);
                Detection {
                    xyxy: [x, y, x + 40.0, y + 90.0],
                    confidence: 0.5 + 0.4 * ((i * 7 % 10) as f32 / 10.0),
                    class_id: i % 3,
                    class_name: ["person", "bicycle", "car"][(i % 3) as usize].into(),
                    track_id: None,
                }
            })
            .collect()
    };
    let frames: Vec<Vec<Detection>> = (0..200).map(frame).collect();
    let mut group = c.benchmark_group("tracker");
    group.bench_function("50_objects/frame", |b| {
        let mut tracker = Tracker::from_params(&serde_json::Map::new()).expect("defaults");
        for (f, dets) in frames.iter().take(10).enumerate() {
            tracker.update(Duration::from_millis(f as u64 * 33), size, dets);
        }
        let mut f = 10usize;
        b.iter(|| {
            let dets = &frames[f % frames.len()];
            let out = tracker.update(Duration::from_millis(f as u64 * 33), size, black_box(dets));
            f += 1;
            out
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short windows: a full run takes about four minutes on two cores, and medians are stable at this length.
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = jpeg, resize, models, decode_and_nms, pipelines, pipeline_vs_model, ocr_steps, tracker
}
criterion_main!(benches);
