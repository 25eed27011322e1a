//! The registry: loads and validates every definition, loads each model once, runs pipelines on frames.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stream_protocol::http::{PipelineInfo, PipelineNode, PipelineSummary};
use stream_protocol::{Detection, FrameResult, ImageSize, OcrOutput, TrackingSummary};

use crate::definition::{self, NodeKind, PipelineDef, Structure};
use crate::detect::{DetectParams, Detector};
use crate::engine::{Engine, InferenceEngine, LoadedModel, OnnxModel};
use crate::error::{BoxError, DecodeError, LoadError, PipelineError, Problem};
use crate::frame::{Frame, decode_jpeg};
use crate::ocr::{OcrEngine, OcrParams, REC_HEIGHT};
use crate::track::{TrackParams, Tracker};

/// The definitions shipped inside the crate: `(file name, JSON)`.
const BUILTINS: [(&str, &str); 4] = [
    ("yolo.json", include_str!("../pipelines/yolo.json")),
    ("yolo_track.json", include_str!("../pipelines/yolo_track.json")),
    ("ocr.json", include_str!("../pipelines/ocr.json")),
    ("yolo_ocr.json", include_str!("../pipelines/yolo_ocr.json")),
];

/// How to load the registry. Build it with [`RegistryConfig::new`], then change the fields you need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Directory that relative model paths in node params are resolved against (the project ships
    /// `fixtures/models`).
    pub models_dir: PathBuf,
    /// Optional directory of user pipelines: every `*.json` file in it (not recursive) holds one definition.
    /// Default: none.
    pub pipelines_dir: Option<PathBuf>,
    /// Whether the built-in `yolo`, `ocr` and `yolo_ocr` are loaded. Default: true.
    pub include_builtins: bool,
    /// The inference engine. Default: [`Engine::Tract`].
    pub engine: Engine,
    /// Threads a model run may use when no other model run is in flight (intra-op parallelism); a run that
    /// overlaps another uses one thread. 1 runs every model on the calling thread. See
    /// [`InferenceEngine::new`](crate::InferenceEngine::new).
    /// Default: 1 (see `docs/performance.md` for the latency trade-off).
    pub inference_threads: usize,
    /// How many pipeline runs the caller may start at once (the server's inference pool size). onnxruntime
    /// keeps that many sessions per model; tract shares one plan. Default: 1.
    pub concurrent_runs: usize,
    /// Largest frame accepted, in pixels (width × height), checked on the JPEG header before decoding.
    /// Default: 40 000 000, the server's `STREAM_MAX_PIXELS` default.
    pub max_pixels: u64,
    /// Whether independent work of one frame runs concurrently: the nodes of a pipeline that do not depend on
    /// each other (detection and OCR in `yolo_ocr`), and with `inference_threads` > 1 the lines of an OCR
    /// frame (each recognised on one thread, side by side). Default: true.
    pub parallel_branches: bool,
}

impl RegistryConfig {
    /// The defaults documented on each field, with models in `models_dir`.
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        Self {
            models_dir: models_dir.into(),
            pipelines_dir: None,
            include_builtins: true,
            engine: Engine::Tract,
            inference_threads: 1,
            concurrent_runs: 1,
            max_pixels: 40_000_000,
            parallel_branches: true,
        }
    }
}

#[derive(Debug)]
enum NodeOp {
    Detect(Arc<Detector>),
    Ocr(Arc<OcrEngine>),
    /// Follows the detections of node `input`, with the stream's [`Tracker`] for this node.
    Track {
        params: Arc<TrackParams>,
        input: usize,
    },
}

#[derive(Debug)]
struct Node {
    id: Arc<str>,
    is_output: bool,
    op: NodeOp,
}

enum NodeOutput {
    Detections(Vec<Detection>),
    Ocr(OcrOutput),
    Tracked(Vec<Detection>, TrackingSummary),
}

#[derive(Debug)]
struct Pipeline {
    info: PipelineInfo,
    nodes: Vec<Node>,
    levels: Vec<Vec<usize>>,
}

/// Every loaded pipeline, ready to run. `Send + Sync`: share it (e.g. in an `Arc`) and call
/// [`PipelineRegistry::run_on_frame`] from as many threads as you like.
#[derive(Debug)]
pub struct PipelineRegistry {
    pipelines: HashMap<String, Pipeline>,
    engine: InferenceEngine,
    max_pixels: u64,
    /// Threads that run the second half of a level's independent nodes (`parallel_branches`), started once:
    /// `None` when branches run one after the other or no pipeline has two nodes on one level.
    branches: Option<rayon::ThreadPool>,
}

/// A definition that passed every check that needs no model.
struct Checked {
    file: String,
    def: PipelineDef,
    structure: Structure,
    params: Vec<NodeParams>,
}

enum NodeParams {
    Detect(DetectParams),
    Ocr(OcrParams),
    Track(TrackParams),
}

/// Loads each model file once and each (file, input shape) plan once, shared by every node that uses it.
struct ModelStore<'a> {
    models_dir: &'a Path,
    engine: &'a InferenceEngine,
    parsed: HashMap<PathBuf, Arc<LoadedModel>>,
    plans: HashMap<(PathBuf, [usize; 4]), Arc<OnnxModel>>,
    detectors: Vec<(DetectParams, Arc<Detector>)>,
    ocr_engines: Vec<(OcrParams, Arc<OcrEngine>)>,
    /// Threads that recognise an OCR frame's lines side by side (`inference_threads` > 1), shared by every
    /// OCR node; made when the first one loads.
    line_threads: usize,
    line_pool: Option<Arc<rayon::ThreadPool>>,
}

impl ModelStore<'_> {
    fn resolve(&self, path: &Path) -> PathBuf {
        self.models_dir.join(path)
    }

    fn parsed(&mut self, path: &Path) -> Result<Arc<LoadedModel>, BoxError> {
        if let Some(parsed) = self.parsed.get(path) {
            return Ok(Arc::clone(parsed));
        }
        let parsed = Arc::new(self.engine.load(path)?);
        self.parsed.insert(path.to_owned(), Arc::clone(&parsed));
        Ok(parsed)
    }

    fn plan(&mut self, path: &Path, shape: [usize; 4]) -> Result<Arc<OnnxModel>, BoxError> {
        let key = (path.to_owned(), shape);
        if let Some(plan) = self.plans.get(&key) {
            return Ok(Arc::clone(plan));
        }
        let plan = Arc::new(self.parsed(path)?.plan(shape)?);
        self.plans.insert(key, Arc::clone(&plan));
        Ok(plan)
    }

    fn detector(&mut self, params: &DetectParams) -> Result<Arc<Detector>, (PathBuf, BoxError)> {
        if let Some((_, d)) = self.detectors.iter().find(|(p, _)| p == params) {
            return Ok(Arc::clone(d));
        }
        let path = self.resolve(&params.model);
        let s = params.input_size as usize;
        let plan = self.plan(&path, [1, 3, s, s]).map_err(|e| (path.clone(), e))?;
        let detector = Arc::new(Detector::new(plan, params.clone()).map_err(|e| (path, e.into()))?);
        self.detectors.push((params.clone(), Arc::clone(&detector)));
        Ok(detector)
    }

    fn ocr(&mut self, params: &OcrParams) -> Result<Arc<OcrEngine>, (PathBuf, BoxError)> {
        if let Some((_, e)) = self.ocr_engines.iter().find(|(p, _)| p == params) {
            return Ok(Arc::clone(e));
        }
        let det_path = self.resolve(&params.det_model);
        let det_shape = [1, 3, params.det_height as usize, params.det_width as usize];
        let det = self.plan(&det_path, det_shape).map_err(|e| (det_path.clone(), e))?;
        let rec_path = self.resolve(&params.rec_model);
        let mut rec = Vec::with_capacity(params.rec_widths.len());
        for &w in &params.rec_widths {
            let plan = self
                .plan(&rec_path, [1, 3, REC_HEIGHT as usize, w as usize])
                .map_err(|e| (rec_path.clone(), e))?;
            rec.push((w, plan));
        }
        let cls = if params.use_cls {
            let cls_path = self.resolve(&params.cls_model);
            let shape = [1, 3, REC_HEIGHT as usize, crate::ocr::CLS_WIDTH as usize];
            Some(self.plan(&cls_path, shape).map_err(|e| (cls_path.clone(), e))?)
        } else {
            None
        };
        let keys = match &params.keys {
            Some(keys) => {
                let path = self.resolve(keys);
                let text = std::fs::read_to_string(&path).map_err(|e| (path.clone(), e.into()))?;
                text.lines().map(str::to_owned).collect()
            }
            None => {
                let parsed = self.parsed(&rec_path).map_err(|e| (rec_path.clone(), e))?;
                match parsed.metadata("character") {
                    Some(list) => list.lines().map(str::to_owned).collect(),
                    None => {
                        // No list in the model: fall back to the keys file shipped beside it.
                        let path = self.resolve(Path::new("ppocr_keys_v1.txt"));
                        let text = std::fs::read_to_string(&path).map_err(|e| (path.clone(), e.into()))?;
                        text.lines().map(str::to_owned).collect()
                    }
                }
            }
        };
        if self.line_pool.is_none() && self.line_threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(self.line_threads)
                .thread_name(|i| format!("ocr-lines-{i}"))
                .build()
                .map_err(|e| (rec_path.clone(), e.into()))?;
            self.line_pool = Some(Arc::new(pool));
        }
        let engine = Arc::new(
            OcrEngine::new(det, rec, cls, keys, params.clone(), self.line_pool.clone())
                .map_err(|e| (rec_path.clone(), e.into()))?,
        );
        self.ocr_engines.push((params.clone(), Arc::clone(&engine)));
        Ok(engine)
    }
}

fn check(file: &str, text: &str, models_dir: &Path) -> Result<Checked, LoadError> {
    let def: PipelineDef =
        serde_json::from_str(text).map_err(|source| LoadError::Parse { file: file.to_owned(), source })?;
    let invalid = |node: Option<String>, problem: Problem| LoadError::Invalid {
        file: file.to_owned(),
        pipeline: def.id.clone(),
        node,
        problem: Box::new(problem),
    };
    let structure = definition::check_structure(&def).map_err(|(node, problem)| invalid(node, problem))?;
    let mut params = Vec::with_capacity(def.nodes.len());
    for (node, kind) in def.nodes.iter().zip(&structure.kinds) {
        let at = |problem| invalid(Some(node.id.clone()), problem);
        let p = &node.params;
        let (parsed, files) = match kind {
            NodeKind::Detect => {
                let d = DetectParams::parse(p).map_err(at)?;
                let files = vec![d.model.clone()];
                (NodeParams::Detect(d), files)
            }
            NodeKind::Ocr => {
                let o = OcrParams::parse(p).map_err(at)?;
                let mut files = vec![o.det_model.clone(), o.rec_model.clone()];
                files.extend(o.use_cls.then(|| o.cls_model.clone()));
                files.extend(o.keys.clone());
                (NodeParams::Ocr(o), files)
            }
            NodeKind::Track => (NodeParams::Track(TrackParams::parse(p).map_err(at)?), Vec::new()),
        };
        for f in files {
            let path = models_dir.join(f);
            if !path.is_file() {
                return Err(at(Problem::MissingModel { path }));
            }
        }
        params.push(parsed);
    }
    Ok(Checked { file: file.to_owned(), def, structure, params })
}

fn read_dir_definitions(dir: &Path) -> Result<Vec<(String, String)>, LoadError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| LoadError::Io { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            Ok((path.display().to_string(), text))
        })
        .collect()
}

impl PipelineRegistry {
    /// Loads the built-ins and the user pipelines, validates every definition (all of them, before any
    /// model is loaded), then loads and optimises each model once per input shape.
    pub fn load(config: &RegistryConfig) -> Result<Self, LoadError> {
        let engine = InferenceEngine::new(&config.engine, config.inference_threads, config.concurrent_runs)
            .map_err(|source| LoadError::Engine { engine: config.engine.name(), source })?;
        let mut sources: Vec<(String, String)> = Vec::new();
        if config.include_builtins {
            sources
                .extend(BUILTINS.iter().map(|(name, text)| (format!("built-in {name}"), (*text).to_owned())));
        }
        if let Some(dir) = &config.pipelines_dir {
            sources.extend(read_dir_definitions(dir)?);
        }

        let mut checked: Vec<Checked> = Vec::with_capacity(sources.len());
        for (file, text) in &sources {
            let c = check(file, text, &config.models_dir)?;
            if let Some(first) = checked.iter().find(|other| other.def.id == c.def.id) {
                return Err(LoadError::Invalid {
                    file: c.file,
                    pipeline: c.def.id,
                    node: None,
                    problem: Box::new(Problem::DuplicatePipeline { other_file: first.file.clone() }),
                });
            }
            checked.push(c);
        }

        let mut store = ModelStore {
            models_dir: &config.models_dir,
            engine: &engine,
            parsed: HashMap::new(),
            plans: HashMap::new(),
            detectors: Vec::new(),
            ocr_engines: Vec::new(),
            line_threads: if config.parallel_branches { config.inference_threads } else { 1 },
            line_pool: None,
        };
        let mut pipelines = HashMap::with_capacity(checked.len());
        for c in checked {
            let mut nodes = Vec::with_capacity(c.def.nodes.len());
            let mut node_infos = Vec::with_capacity(c.def.nodes.len());
            let mut node_classes: Vec<Vec<String>> = Vec::with_capacity(c.def.nodes.len());
            for (i, ((node, params), &is_output)) in
                c.def.nodes.iter().zip(&c.params).zip(&c.structure.is_output).enumerate()
            {
                let model_error = |(path, source): (PathBuf, BoxError)| LoadError::Model {
                    file: c.file.clone(),
                    pipeline: c.def.id.clone(),
                    node: node.id.clone(),
                    path,
                    source,
                };
                let (op, class_names, input_size) = match params {
                    NodeParams::Detect(p) => {
                        let d = store.detector(p).map_err(model_error)?;
                        let names = d.class_names().iter().map(|n| n.to_string()).collect();
                        let size = [d.input_size(); 2];
                        (NodeOp::Detect(d), names, size)
                    }
                    NodeParams::Ocr(p) => {
                        let e = store.ocr(p).map_err(model_error)?;
                        let (width, height) = e.det_size();
                        (NodeOp::Ocr(e), Vec::new(), [width, height])
                    }
                    NodeParams::Track(p) => {
                        // The structure check guarantees one input, a detection node; its classes and input
                        // size are copied below, once every node is loaded.
                        let input = c.structure.inputs[i][0];
                        let op = NodeOp::Track { params: Arc::new(p.clone()), input };
                        (op, Vec::new(), [0, 0])
                    }
                };
                node_classes.push(class_names);
                node_infos.push(PipelineNode {
                    id: node.id.clone(),
                    plugin_id: node.plugin_id.clone(),
                    tool_id: node.tool_id.clone(),
                    input_size,
                });
                nodes.push(Node { id: Arc::from(node.id.as_str()), is_output, op });
            }
            for (i, node) in nodes.iter().enumerate() {
                if let NodeOp::Track { input, .. } = node.op {
                    node_classes[i] = node_classes[input].clone();
                    node_infos[i].input_size = node_infos[input].input_size;
                }
            }
            let detection_output = nodes
                .iter()
                .position(|n| n.is_output && matches!(n.op, NodeOp::Detect(_) | NodeOp::Track { .. }));
            let detector =
                detection_output.map(|i| (node_classes.swap_remove(i), node_infos[i].input_size[0]));
            let (classes, input_size) = detector.unzip();
            let info = PipelineInfo {
                id: c.def.id.clone(),
                name: c.def.name.clone(),
                node_count: c.def.nodes.len(),
                edge_count: c.def.edges.len(),
                entry_nodes: c.def.entry_nodes.clone(),
                output_nodes: c.def.output_nodes.clone(),
                classes: classes.unwrap_or_default(),
                input_size,
                nodes: node_infos,
            };
            pipelines.insert(c.def.id, Pipeline { info, nodes, levels: c.structure.levels });
        }
        let has_branches = pipelines.values().any(|p| p.levels.iter().any(|level| level.len() > 1));
        let branches = (config.parallel_branches && has_branches)
            .then(|| {
                let threads = config.concurrent_runs.max(1);
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("branch-{i}"))
                    .build()
            })
            .transpose()
            .map_err(|error| LoadError::Engine { engine: engine.name(), source: error.into() })?;
        Ok(Self { pipelines, engine, max_pixels: config.max_pixels, branches })
    }

    /// Whether a pipeline with this id is loaded.
    pub fn is_valid_pipeline(&self, id: &str) -> bool {
        self.pipelines.contains_key(id)
    }

    /// Every pipeline's id and name, sorted by id.
    pub fn list(&self) -> Vec<PipelineSummary> {
        let mut list: Vec<PipelineSummary> = self
            .pipelines
            .values()
            .map(|p| PipelineSummary { id: p.info.id.clone(), name: p.info.name.clone() })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// The name of the engine running the models: `tract` or `onnxruntime`.
    pub fn engine(&self) -> &'static str {
        self.engine.name()
    }

    /// Which engine runs the models and why (with `Engine::Auto`, whether a library loaded).
    pub fn engine_choice(&self) -> &str {
        self.engine.choice()
    }

    /// The description of a pipeline, or `None` for an unknown id.
    pub fn info(&self, id: &str) -> Option<PipelineInfo> {
        self.pipelines.get(id).map(|p| p.info.clone())
    }

    /// Opens a stream of `pipeline_id`: the state its frames share (the trackers of `track` nodes). Open one
    /// per camera session or video job, run its frames with [`run_in_stream`](Self::run_in_stream) in order,
    /// and drop it when the stream ends. Cheap: nothing is allocated until a tracker sees its first frame.
    pub fn open_stream(&self, pipeline_id: &str) -> Result<PipelineStream, PipelineError> {
        let pipeline = self.pipeline(pipeline_id)?;
        Ok(PipelineStream { pipeline_id: pipeline_id.to_owned(), trackers: vec![None; pipeline.nodes.len()] })
    }

    /// Decodes `jpeg` once and runs every node of the pipeline on it, independent nodes concurrently (when
    /// [`RegistryConfig::parallel_branches`] is set). Synchronous and CPU-bound: call it from a blocking
    /// thread pool. Timings are recorded as `decode`, then one entry per node id.
    ///
    /// A pipeline with a `track` node runs here as a stream of one frame (its objects get fresh ids); use
    /// [`open_stream`](Self::open_stream) and [`run_in_stream`](Self::run_in_stream) to follow them.
    pub fn run_on_frame(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        jpeg: &[u8],
    ) -> Result<FrameResult, PipelineError> {
        let mut stream = self.open_stream(pipeline_id)?;
        self.run_in_stream(&mut stream, frame_index, Duration::ZERO, jpeg)
    }

    /// [`run_on_frame`](Self::run_on_frame) as the next frame of `stream`, seen at `at` (time since the stream
    /// began, e.g. when the frame arrived or its video timestamp): trackers step their motion models by the time
    /// since their last frame.
    pub fn run_in_stream(
        &self,
        stream: &mut PipelineStream,
        frame_index: u64,
        at: Duration,
        jpeg: &[u8],
    ) -> Result<FrameResult, PipelineError> {
        // The frame index is part of the contract for callers that trace frames; results do not depend on it.
        let _ = frame_index;
        let pipeline = self.pipeline(&stream.pipeline_id)?;
        let started = Instant::now();
        let frame = decode_jpeg(jpeg, self.max_pixels)?;
        let mut result = FrameResult::new(ImageSize { width: frame.width(), height: frame.height() });
        result.timings_ms.record("decode", started.elapsed());
        self.run_nodes(pipeline, &frame, result, stream, at)
    }

    /// Runs every node of the pipeline on an already decoded frame (a video frame, say), exactly as
    /// [`run_on_frame`](Self::run_on_frame) does after its JPEG decode; the timings have no `decode` entry.
    /// Frames over [`RegistryConfig::max_pixels`] are refused with [`DecodeError::TooLarge`].
    pub fn run_on_image(
        &self,
        pipeline_id: &str,
        frame_index: u64,
        frame: &Frame,
    ) -> Result<FrameResult, PipelineError> {
        let mut stream = self.open_stream(pipeline_id)?;
        self.run_image_in_stream(&mut stream, frame_index, Duration::ZERO, frame)
    }

    /// [`run_on_image`](Self::run_on_image) as the next frame of `stream`, seen at `at`.
    pub fn run_image_in_stream(
        &self,
        stream: &mut PipelineStream,
        frame_index: u64,
        at: Duration,
        frame: &Frame,
    ) -> Result<FrameResult, PipelineError> {
        let _ = frame_index;
        let pipeline = self.pipeline(&stream.pipeline_id)?;
        let (width, height) = (frame.width(), frame.height());
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(DecodeError::TooLarge { width, height, max_pixels: self.max_pixels }.into());
        }
        self.run_nodes(pipeline, frame, FrameResult::new(ImageSize { width, height }), stream, at)
    }

    fn pipeline(&self, pipeline_id: &str) -> Result<&Pipeline, PipelineError> {
        self.pipelines.get(pipeline_id).ok_or_else(|| PipelineError::UnknownPipeline(pipeline_id.to_owned()))
    }

    fn run_nodes(
        &self,
        pipeline: &Pipeline,
        frame: &Frame,
        mut result: FrameResult,
        stream: &mut PipelineStream,
        at: Duration,
    ) -> Result<FrameResult, PipelineError> {
        let mut outputs: Vec<Option<NodeOutput>> = (0..pipeline.nodes.len()).map(|_| None).collect();
        for level in &pipeline.levels {
            let (tracks, models): (Vec<usize>, Vec<usize>) =
                level.iter().partition(|&&i| matches!(pipeline.nodes[i].op, NodeOp::Track { .. }));
            let nodes: Vec<(usize, &Node)> = models.iter().map(|&i| (i, &pipeline.nodes[i])).collect();
            for (i, node, outcome, elapsed) in self.run_level(&nodes, frame) {
                let output = outcome
                    .map_err(|source| PipelineError::Inference { node: node.id.to_string(), source })?;
                result.timings_ms.record(Arc::clone(&node.id), elapsed);
                outputs[i] = Some(output);
            }
            // Trackers are cheap and own per-stream state: they run here, one after the other.
            for i in tracks {
                let node = &pipeline.nodes[i];
                let NodeOp::Track { params, input } = &node.op else { continue };
                let started = Instant::now();
                let Some(NodeOutput::Detections(detections)) = &outputs[*input] else {
                    let source = "the track node's input produced no detections".into();
                    return Err(PipelineError::Inference { node: node.id.to_string(), source });
                };
                let tracker = stream.trackers[i].get_or_insert_with(|| Tracker::new(Arc::clone(params)));
                let (tracked, summary) = tracker.update(at, result.image, detections);
                result.timings_ms.record(Arc::clone(&node.id), started.elapsed());
                outputs[i] = Some(NodeOutput::Tracked(tracked, summary));
            }
        }
        for (node, output) in pipeline.nodes.iter().zip(outputs) {
            match output {
                Some(NodeOutput::Detections(d)) if node.is_output => result.detections = Some(d),
                Some(NodeOutput::Ocr(o)) if node.is_output => result.ocr = Some(o),
                Some(NodeOutput::Tracked(d, summary)) if node.is_output => {
                    result.detections = Some(d);
                    result.tracking = Some(summary);
                }
                _ => {}
            }
        }
        Ok(result)
    }

    /// Runs independent nodes, splitting them in halves run concurrently; results come back in node order.
    fn run_level<'n>(
        &self,
        nodes: &[(usize, &'n Node)],
        frame: &Frame,
    ) -> Vec<(usize, &'n Node, Result<NodeOutput, BoxError>, Duration)> {
        match nodes {
            [] => Vec::new(),
            [(i, node)] => {
                let started = Instant::now();
                let outcome = run_node(node, frame);
                vec![(*i, *node, outcome, started.elapsed())]
            }
            _ => {
                let (left, right) = nodes.split_at(nodes.len() / 2);
                let (mut a, b) = self.join(|| self.run_level(left, frame), || self.run_level(right, frame));
                a.extend(b);
                a
            }
        }
    }

    /// Runs `a` on the calling thread and `b` on the branch pool at the same time, or both in turn without one.
    fn join<A: Send, B: Send>(&self, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
        let Some(pool) = &self.branches else {
            let first = a();
            return (first, b());
        };
        let mut second = None;
        // The scope waits for `b`, and re-raises its panic (a bug in this crate) rather than hiding it.
        let first = pool.in_place_scope(|scope| {
            scope.spawn(|_| second = Some(b()));
            a()
        });
        (first, second.expect("the scope returns once its branch has run"))
    }
}

/// One stream's state for one pipeline (its `track` nodes' trackers): see
/// [`PipelineRegistry::open_stream`]. Dropping it forgets every track.
#[derive(Debug, Clone)]
pub struct PipelineStream {
    pipeline_id: String,
    /// Per node of the pipeline: its tracker, once a frame reached it.
    trackers: Vec<Option<Tracker>>,
}

impl PipelineStream {
    /// The pipeline this stream runs.
    pub fn pipeline_id(&self) -> &str {
        &self.pipeline_id
    }

    /// Tracks alive in this stream, over every `track` node (tentative, confirmed and lost ones).
    pub fn live_tracks(&self) -> usize {
        self.trackers.iter().flatten().map(Tracker::live_tracks).sum()
    }
}

fn run_node(node: &Node, frame: &Frame) -> Result<NodeOutput, BoxError> {
    match &node.op {
        NodeOp::Detect(d) => d.run(frame).map(NodeOutput::Detections),
        NodeOp::Ocr(o) => o.run(frame).map(NodeOutput::Ocr),
        NodeOp::Track { .. } => Err("a track node runs with its stream's state, not as a model".into()),
    }
}
