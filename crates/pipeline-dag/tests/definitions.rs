//! Loading and validating definitions: every rule, and the message naming file, pipeline, node and problem.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] fns unwrap too.

use std::path::{Path, PathBuf};

use pipeline_dag::{LoadError, PipelineRegistry, Problem, RegistryConfig};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/models")
}

/// Writes `files` into a fresh directory and loads it (without the built-ins unless asked).
fn load_dir(test: &str, files: &[(&str, &str)], builtins: bool) -> Result<PipelineRegistry, LoadError> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pipeline-dag-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut config = RegistryConfig::new(models_dir());
    config.pipelines_dir = Some(dir);
    config.include_builtins = builtins;
    PipelineRegistry::load(&config)
}

/// A one-node detection pipeline with the given params, edges and lists patched in by the caller.
fn detect_pipeline(id: &str, params: &str) -> String {
    format!(
        r#"{{"id":"{id}","name":"test","nodes":[{{"id":"det","plugin_id":"yolo","tool_id":"detect_objects","params":{params}}}],
            "edges":[],"entry_nodes":["det"],"output_nodes":["det"]}}"#
    )
}

/// Loads one file and returns the validation failure: (file, node, problem, message).
fn invalid(test: &str, json: &str) -> (String, Option<String>, Problem, String) {
    match load_dir(test, &[("p.json", json)], false) {
        Err(e @ LoadError::Invalid { .. }) => {
            let message = e.to_string();
            let LoadError::Invalid { file, node, problem, .. } = e else { unreachable!() };
            assert!(file.ends_with("p.json"), "{file}");
            assert!(message.starts_with(&file), "{message}");
            if let Some(node) = &node {
                assert!(message.contains(&format!("node `{node}`")), "{message}");
            }
            (file, node, *problem, message)
        }
        other => panic!("{test}: expected a validation error, got {other:?}"),
    }
}

#[test]
fn syntax_errors_name_the_file_and_position() {
    let err = load_dir("syntax", &[("broken.json", r#"{"id": "x", "#)], false).unwrap_err();
    assert!(matches!(&err, LoadError::Parse { file, .. } if file.ends_with("broken.json")), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn unknown_fields_are_refused() {
    let json = r#"{"id":"x","name":"x","nodes":[{"id":"a","plugin_id":"yolo","tool_id":"detect_objects","param":{}}],
                  "edges":[],"entry_nodes":["a"],"output_nodes":["a"]}"#;
    let err = load_dir("unknown-field", &[("p.json", json)], false).unwrap_err();
    assert!(err.to_string().contains("unknown field `param`"), "{err}");
}

#[test]
fn a_bad_pipeline_id_is_refused() {
    let (_, node, problem, message) = invalid("bad-id", &detect_pipeline("has space", "{}"));
    assert_eq!((node, problem), (None, Problem::BadPipelineId));
    assert!(message.contains("pipeline `has space`"), "{message}");
}

#[test]
fn a_pipeline_needs_nodes() {
    let json = r#"{"id":"empty","name":"x","nodes":[],"edges":[],"entry_nodes":[],"output_nodes":[]}"#;
    assert_eq!(invalid("no-nodes", json).2, Problem::NoNodes);
}

#[test]
fn duplicate_node_ids_are_refused() {
    let json = r#"{"id":"dup","name":"x","nodes":[
        {"id":"a","plugin_id":"yolo","tool_id":"detect_objects"},
        {"id":"a","plugin_id":"ocr","tool_id":"extract_text"}],
        "edges":[],"entry_nodes":["a"],"output_nodes":["a"]}"#;
    let (_, node, problem, _) = invalid("duplicate-node", json);
    assert_eq!((node.as_deref(), problem), (Some("a"), Problem::DuplicateNode));
}

#[test]
fn unknown_plugins_and_tools_are_refused() {
    let json = r#"{"id":"p","name":"x","nodes":[{"id":"a","plugin_id":"yolo","tool_id":"segment"}],
        "edges":[],"entry_nodes":["a"],"output_nodes":["a"]}"#;
    let (_, node, problem, message) = invalid("unknown-tool", json);
    assert_eq!(node.as_deref(), Some("a"));
    assert_eq!(problem, Problem::UnknownTool { plugin_id: "yolo".into(), tool_id: "segment".into() });
    assert!(message.contains("yolo/detect_objects"), "{message}");
}

#[test]
fn dangling_edges_are_refused() {
    let json = r#"{"id":"p","name":"x","nodes":[{"id":"a","plugin_id":"yolo","tool_id":"detect_objects"}],
        "edges":[{"from_node":"a","to_node":"ghost"}],"entry_nodes":["a"],"output_nodes":["a"]}"#;
    let (_, _, problem, _) = invalid("dangling", json);
    assert_eq!(
        problem,
        Problem::DanglingEdge { from: "a".into(), to: "ghost".into(), missing: "ghost".into() }
    );
}

#[test]
fn cycles_are_refused() {
    let json = r#"{"id":"p","name":"x","nodes":[
        {"id":"start","plugin_id":"ocr","tool_id":"extract_text"},
        {"id":"a","plugin_id":"yolo","tool_id":"detect_objects"},
        {"id":"b","plugin_id":"yolo","tool_id":"detect_objects"}],
        "edges":[{"from_node":"start","to_node":"a"},{"from_node":"a","to_node":"b"},{"from_node":"b","to_node":"a"}],
        "entry_nodes":["start"],"output_nodes":["start"]}"#;
    let (_, node, problem, message) = invalid("cycle", json);
    assert_eq!(node.as_deref(), Some("a"));
    assert_eq!(problem, Problem::Cycle { nodes: vec!["a".into(), "b".into()] });
    assert!(message.contains("cycle through a, b"), "{message}");
}

#[test]
fn a_self_loop_is_a_cycle() {
    let json = r#"{"id":"p","name":"x","nodes":[{"id":"a","plugin_id":"yolo","tool_id":"detect_objects"}],
        "edges":[{"from_node":"a","to_node":"a"}],"entry_nodes":["a"],"output_nodes":["a"]}"#;
    assert_eq!(invalid("self-loop", json).2, Problem::Cycle { nodes: vec!["a".into()] });
}

#[test]
fn entry_and_output_lists_must_name_real_nodes() {
    let json = r#"{"id":"p","name":"x","nodes":[{"id":"a","plugin_id":"yolo","tool_id":"detect_objects"}],
        "edges":[],"entry_nodes":["a"],"output_nodes":["b"]}"#;
    let (_, node, problem, _) = invalid("unknown-output", json);
    assert_eq!((node.as_deref(), problem), (Some("b"), Problem::UnknownListedNode { list: "output_nodes" }));

    let json = r#"{"id":"p","name":"x","nodes":[{"id":"a","plugin_id":"yolo","tool_id":"detect_objects"}],
        "edges":[],"entry_nodes":[],"output_nodes":["a"]}"#;
    assert_eq!(invalid("no-entry", json).2, Problem::NoEntryNodes);

    let json = r#"{"id":"p","name":"x","nodes":[{"id":"a","plugin_id":"yolo","tool_id":"detect_objects"}],
        "edges":[],"entry_nodes":["a"],"output_nodes":[]}"#;
    assert_eq!(invalid("no-output", json).2, Problem::NoOutputNodes);
}

#[test]
fn entry_nodes_have_no_incoming_edges() {
    let json = r#"{"id":"p","name":"x","nodes":[
        {"id":"a","plugin_id":"yolo","tool_id":"detect_objects"},
        {"id":"b","plugin_id":"ocr","tool_id":"extract_text"}],
        "edges":[{"from_node":"a","to_node":"b"}],"entry_nodes":["a","b"],"output_nodes":["a","b"]}"#;
    let (_, node, problem, _) = invalid("entry-incoming", json);
    assert_eq!((node.as_deref(), problem), (Some("b"), Problem::EntryHasIncomingEdge { from: "a".into() }));
}

#[test]
fn every_node_is_reachable_from_an_entry() {
    let json = r#"{"id":"p","name":"x","nodes":[
        {"id":"a","plugin_id":"yolo","tool_id":"detect_objects"},
        {"id":"island","plugin_id":"ocr","tool_id":"extract_text"}],
        "edges":[],"entry_nodes":["a"],"output_nodes":["a"]}"#;
    let (_, node, problem, _) = invalid("unreachable", json);
    assert_eq!((node.as_deref(), problem), (Some("island"), Problem::Unreachable));
}

#[test]
fn two_outputs_may_not_write_the_same_key() {
    let json = r#"{"id":"p","name":"x","nodes":[
        {"id":"big","plugin_id":"yolo","tool_id":"detect_objects"},
        {"id":"small","plugin_id":"yolo","tool_id":"detect_objects","params":{"input_size":320}}],
        "edges":[],"entry_nodes":["big","small"],"output_nodes":["big","small"]}"#;
    let (_, node, problem, _) = invalid("colliding", json);
    assert_eq!(node.as_deref(), Some("small"));
    assert_eq!(problem, Problem::CollidingOutput { key: "detections", other_node: "big".into() });
}

#[test]
fn bad_params_name_the_param_and_the_reason() {
    for (test, params, param, reason) in [
        ("param-multiple", r#"{"input_size":100}"#, "input_size", "not a multiple of 32"),
        ("param-range", r#"{"confidence":1.5}"#, "confidence", "outside 0..=1"),
        ("param-type", r#"{"iou":"high"}"#, "iou", "invalid type: string \"high\", expected f32"),
        (
            "param-unknown",
            r#"{"threshold":0.3}"#,
            "threshold",
            "unknown field `threshold`, expected one of `model`",
        ),
        (
            "param-format",
            r#"{"format":"yolov9"}"#,
            "format",
            "unknown variant `yolov9`, expected one of `nanodet`",
        ),
        ("param-classes", r#"{"classes":[1,2]}"#, "classes", "invalid type: integer `1`, expected a string"),
    ] {
        let (_, node, problem, message) = invalid(test, &detect_pipeline("p", params));
        assert_eq!(node.as_deref(), Some("det"), "{test}");
        match problem {
            Problem::BadParam { param: p, reason: r } => {
                assert_eq!(p, param, "{test}");
                assert!(r.contains(reason), "{test}: {r}");
            }
            other => panic!("{test}: {other:?}"),
        }
        assert!(message.contains(&format!("param `{param}`")), "{message}");
    }
    let json = r#"{"id":"p","name":"x","nodes":[{"id":"o","plugin_id":"ocr","tool_id":"extract_text",
        "params":{"rec_widths":[320,333]}}],"edges":[],"entry_nodes":["o"],"output_nodes":["o"]}"#;
    let (_, _, problem, _) = invalid("param-rec-widths", json);
    assert!(matches!(problem, Problem::BadParam { param, .. } if param == "rec_widths"));
}

#[test]
fn missing_model_files_are_named() {
    let (_, node, problem, message) =
        invalid("missing-model", &detect_pipeline("p", r#"{"model":"nope.onnx"}"#));
    assert_eq!(node.as_deref(), Some("det"));
    assert_eq!(problem, Problem::MissingModel { path: models_dir().join("nope.onnx") });
    assert!(message.contains("nope.onnx") && message.contains("does not exist"), "{message}");
}

#[test]
fn pipeline_ids_are_unique_across_files() {
    let err =
        load_dir("duplicate-pipeline", &[("mine.json", &detect_pipeline("yolo", "{}"))], true).unwrap_err();
    match err {
        LoadError::Invalid { file, problem, .. } => {
            assert!(file.ends_with("mine.json"));
            assert_eq!(*problem, Problem::DuplicatePipeline { other_file: "built-in yolo.json".into() });
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_pipelines_directory_is_an_io_error() {
    let mut config = RegistryConfig::new(models_dir());
    config.pipelines_dir = Some(PathBuf::from("/nonexistent/pipelines"));
    let err = PipelineRegistry::load(&config).unwrap_err();
    assert!(
        matches!(&err, LoadError::Io { path, .. } if path == Path::new("/nonexistent/pipelines")),
        "{err}"
    );
}

#[test]
fn a_model_that_does_not_fit_the_format_is_refused_at_load() {
    let params = r#"{"input_size":320,"format":"nanodet"}"#;
    let err = load_dir("format-mismatch", &[("p.json", &detect_pipeline("p", params))], false).unwrap_err();
    let message = err.to_string();
    assert!(matches!(&err, LoadError::Model { node, .. } if node == "det"), "{message}");
    assert!(
        message.contains("nanodet-plus-m_dynamic-hw.onnx") && message.contains("nanodet expects six"),
        "{message}"
    );

    let params = r#"{"input_size":320,"classes":["a","b"]}"#;
    let err = load_dir("classes-mismatch", &[("p.json", &detect_pipeline("p", params))], false).unwrap_err();
    assert!(err.to_string().contains("`classes` lists 2 names but the model has 80 classes"), "{err}");
}

#[test]
fn a_valid_user_pipeline_loads_beside_nothing_else() {
    let json = detect_pipeline("mine", r#"{"input_size":320,"confidence":0.5,"max_detections":3}"#);
    let registry = load_dir("valid", &[("mine.json", &json), ("notes.txt", "ignored")], false).unwrap();
    let ids: Vec<String> = registry.list().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["mine"]);
    let jpeg = std::fs::read(models_dir().join("../images/motorcycle_left_640x480.jpg")).unwrap();
    let detections = registry.run_on_frame("mine", 0, &jpeg).unwrap().detections.unwrap();
    assert!(!detections.is_empty() && detections.len() <= 3);
    assert!(detections.iter().all(|d| d.confidence > 0.5));
}

/// The JSON examples of docs/pipelines.md load as written: the format example (as a user pipeline under
/// another id) and the step-by-step `fast_320`, which must detect the astronaut like the docs say.
#[test]
fn the_examples_in_docs_pipelines_md_load_and_run() {
    let doc = include_str!("../../../docs/pipelines.md");
    let format_example = doc.split("```json\n").nth(1).and_then(|rest| rest.split("\n```").next()).unwrap();
    let format_example = format_example.replace(r#""id": "yolo_ocr""#, r#""id": "yolo_ocr_doc""#);
    let step_by_step = doc.split("<<'JSON'\n").nth(1).and_then(|rest| rest.split("\nJSON\n").next()).unwrap();
    let registry = load_dir(
        "docs-examples",
        &[("format.json", &format_example), ("fast_320.json", step_by_step)],
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(registry.is_valid_pipeline("yolo_ocr_doc"));
    let jpeg = std::fs::read(models_dir().join("../images/astronaut_640x480.jpg")).unwrap();
    let detections = registry.run_on_frame("fast_320", 0, &jpeg).unwrap().detections.unwrap();
    assert!(doc.contains("prints `person 0.76 ["), "the doc's sample output changed");
    assert!(
        detections.iter().any(|d| &*d.class_name == "person" && (d.confidence - 0.76).abs() < 0.01),
        "{detections:?}"
    );
    assert!(detections.iter().all(|d| d.confidence > 0.5), "{detections:?}");
}

/// The "bring your own YOLO export" walk-through of docs/pipelines.md, as written, against a stand-in with an
/// Ultralytics YOLOv8 export's interface (`tests/data/make_yolov8_layout.py`: every cell predicts a person at
/// cx 160, cy 120, w 100, h 80 in 320×320 input pixels with score 0.9, and a car at 0.2).
#[test]
fn a_yolov8_export_runs_as_docs_pipelines_md_says() {
    let doc = include_str!("../../../docs/pipelines.md");
    let walk_through = doc.split("<<'JSON'\n").nth(2).and_then(|rest| rest.split("\nJSON\n").next()).unwrap();
    assert!(walk_through.contains(r#""format": "yolov8""#), "{walk_through}");
    let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/yolov8_layout.onnx");
    let json = walk_through.replace(r#""yolov8n.onnx""#, &format!("{:?}", stand_in.display().to_string()));
    let registry =
        load_dir("yolov8-export", &[("my_yolov8.json", &json)], false).unwrap_or_else(|e| panic!("{e}"));

    let jpeg = std::fs::read(models_dir().join("../images/chelsea_640x480.jpg")).unwrap();
    let result = registry.run_on_frame("my_yolov8", 0, &jpeg).unwrap();
    let detections = result.detections.unwrap();
    // 1600 identical boxes → one after NMS; the car's 0.2 is under the 0.35 threshold. The box is scaled from
    // 320×320 to the 640×480 frame: x × 2, y × 1.5.
    assert_eq!(detections.len(), 1, "{detections:?}");
    let person = &detections[0];
    assert_eq!((&*person.class_name, person.class_id), ("person", 0));
    assert!((person.confidence - 0.9).abs() < 1e-4, "{person:?}");
    for (got, want) in person.xyxy.iter().zip([220.0, 120.0, 420.0, 240.0]) {
        assert!((got - want).abs() < 0.01, "{person:?}");
    }
}
