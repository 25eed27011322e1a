//! Pins the exact JSON of every server message (SPEC §2 and §4).
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] fns unwrap too.

use std::time::Duration;

use stream_protocol::{
    BBox, CloseCode, Detection, ErrorCode, FrameResult, ImageSize, OcrOutput, ServerMessage, SlowDown,
    TextBlock, Timings,
};

fn check(message: ServerMessage, expected: &str) {
    assert_eq!(message.to_json(), expected);
    assert_eq!(ServerMessage::from_json(expected).unwrap(), message, "round trip of {expected}");
}

fn sample_result() -> FrameResult {
    let mut timings = Timings::default();
    timings.record_ms("decode", 1.1);
    timings.record("detect", Duration::from_micros(24_000));
    timings.record_ms("ocr", 31.5);
    FrameResult {
        image: ImageSize { width: 640, height: 480 },
        detections: Some(vec![Detection {
            xyxy: [10.5, 20.0, 300.0, 470.25],
            confidence: 0.91,
            class_id: 0,
            class_name: "person".into(),
            track_id: None,
        }]),
        ocr: Some(OcrOutput {
            text: "STOP\nGO".into(),
            blocks: vec![
                TextBlock {
                    text: "STOP".into(),
                    confidence: 0.97,
                    bbox: BBox { x: 10, y: 20, width: 80, height: 24 },
                },
                TextBlock {
                    text: "GO".into(),
                    confidence: 0.5,
                    bbox: BBox { x: 10, y: 50, width: 40, height: 24 },
                },
            ],
        }),
        tracking: None,
        timings_ms: timings,
    }
}

/// A `track` node's additions: `track_id` on a detection and the `tracking` counts, after the OCR keys.
#[test]
fn tracked_results_carry_ids_and_counts() {
    use stream_protocol::{LineCrossings, TrackingSummary};
    let mut result = FrameResult::new(ImageSize { width: 64, height: 48 });
    result.detections = Some(vec![Detection {
        xyxy: [1.0, 2.0, 3.0, 4.0],
        confidence: 0.5,
        class_id: 2,
        class_name: "car".into(),
        track_id: Some(7),
    }]);
    result.tracking = Some(TrackingSummary {
        counts: [("car".to_owned(), 3)].into(),
        lines: vec![LineCrossings {
            id: "gate".into(),
            forward: [("car".to_owned(), 1)].into(),
            backward: Default::default(),
        }],
    });
    let message = ServerMessage::Result { frame_index: 1, result: Box::new(result.clone()) };
    let json = message.to_json();
    assert_eq!(
        json,
        concat!(
            r#"{"frame_index":1,"result":{"image":{"width":64,"height":48},"#,
            r#""detections":[{"xyxy":[1.0,2.0,3.0,4.0],"confidence":0.5,"class_id":2,"class_name":"car","track_id":7}],"#,
            r#""count":1,"tracking":{"counts":{"car":3},"lines":[{"id":"gate","forward":{"car":1},"backward":{}}]},"#,
            r#""timings_ms":{}}}"#
        )
    );
    let ServerMessage::Result { result: parsed, .. } = ServerMessage::from_json(&json).unwrap() else {
        panic!("not a result")
    };
    assert_eq!(parsed.detections, result.detections);
    assert_eq!(parsed.tracking, result.tracking);
}

#[test]
fn result_message_has_every_field_of_spec_4() {
    let message = ServerMessage::Result { frame_index: 0, result: Box::new(sample_result()) };
    assert_eq!(
        message.to_json(),
        concat!(
            r#"{"frame_index":0,"result":{"image":{"width":640,"height":480},"#,
            r#""detections":[{"xyxy":[10.5,20.0,300.0,470.25],"confidence":0.91,"class_id":0,"class_name":"person"}],"#,
            r#""count":1,"text":"STOP\nGO","blocks":[{"text":"STOP","confidence":0.97,"bbox":{"x":10,"y":20,"width":80,"height":24}},"#,
            r#"{"text":"GO","confidence":0.5,"bbox":{"x":10,"y":50,"width":40,"height":24}}],"#,
            r#""timings_ms":{"decode":1.1,"detect":24.0,"ocr":31.5}}}"#
        )
    );
}

#[test]
fn result_round_trips_except_timing_order() {
    let message = ServerMessage::Result { frame_index: 3, result: Box::new(sample_result()) };
    let parsed = ServerMessage::from_json(&message.to_json()).unwrap();
    let ServerMessage::Result { frame_index, result } = parsed else { panic!("not a result: {parsed:?}") };
    assert_eq!(frame_index, 3);
    let expected = sample_result();
    assert_eq!(result.image, expected.image);
    assert_eq!(result.detections, expected.detections);
    assert_eq!(result.ocr, expected.ocr);
    assert_eq!(result.timings_ms.get("detect"), Some(24.0));
}

#[test]
fn detection_only_result_has_no_text_fields() {
    let mut result = FrameResult::new(ImageSize { width: 320, height: 240 });
    result.detections = Some(Vec::new());
    let message = ServerMessage::Result { frame_index: 12, result: Box::new(result) };
    check(
        message,
        r#"{"frame_index":12,"result":{"image":{"width":320,"height":240},"detections":[],"count":0,"timings_ms":{}}}"#,
    );
}

#[test]
fn ocr_only_result_has_no_detection_fields() {
    let mut result = FrameResult::new(ImageSize { width: 1, height: 1 });
    result.ocr = Some(OcrOutput::default());
    check(
        ServerMessage::Result { frame_index: 1, result: Box::new(result) },
        r#"{"frame_index":1,"result":{"image":{"width":1,"height":1},"text":"","blocks":[],"timings_ms":{}}}"#,
    );
}

#[test]
fn dropped_message() {
    check(ServerMessage::Dropped { frame_index: 41 }, r#"{"frame_index":41,"dropped":true}"#);
}

#[test]
fn dropped_false_is_not_a_drop_notice() {
    assert!(ServerMessage::from_json(r#"{"frame_index":41,"dropped":false}"#).is_err());
}

#[test]
fn slow_down_message() {
    check(
        ServerMessage::SlowDown(SlowDown { drop_rate: 0.4, suggested_fps: Some(7.5) }),
        r#"{"warning":"slow_down","drop_rate":0.4,"suggested_fps":7.5}"#,
    );
    // Rates are rounded to three decimals on the wire.
    assert_eq!(
        ServerMessage::SlowDown(SlowDown { drop_rate: 1.0 / 3.0, suggested_fps: None }).to_json(),
        r#"{"warning":"slow_down","drop_rate":0.333}"#,
    );
}

#[test]
fn slow_down_never_emits_non_finite_numbers() {
    let message =
        ServerMessage::SlowDown(SlowDown { drop_rate: f64::NAN, suggested_fps: Some(f64::INFINITY) });
    assert_eq!(message.to_json(), r#"{"warning":"slow_down","drop_rate":0.0,"suggested_fps":0.0}"#);
}

#[test]
fn bare_seed_warning_parses() {
    assert_eq!(
        ServerMessage::from_json(r#"{"warning":"slow_down"}"#).unwrap(),
        ServerMessage::SlowDown(SlowDown { drop_rate: 0.0, suggested_fps: None })
    );
}

#[test]
fn error_messages_of_the_contract_table() {
    let table = [
        (ErrorCode::InvalidPipeline, "Unknown pipeline_id: yolo_foo", 1008),
        (ErrorCode::InvalidMessage, "Expected binary frame payload", 1003),
        (ErrorCode::InvalidFrame, "Not a valid JPEG image", 1007),
        (ErrorCode::FrameTooLarge, "Frame exceeds 5MB", 1009),
        (ErrorCode::PipelineFailure, "YOLO inference failed", 1011),
        (ErrorCode::InternalError, "Unexpected error occurred", 1011),
        (ErrorCode::IdleTimeout, "No frame received for 30s", 1001),
        (ErrorCode::ServerBusy, "Server is at its session limit", 1013),
    ];
    assert_eq!(table.len(), ErrorCode::ALL.len());
    for (code, detail, close) in table {
        check(
            ServerMessage::error(code, detail),
            &format!(r#"{{"error":"{}","detail":"{detail}"}}"#, code.as_str()),
        );
        assert_eq!(code.close_code(), CloseCode(close), "{code}");
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{code}\""));
    }
}

#[test]
fn detail_is_escaped() {
    assert_eq!(
        ServerMessage::error(ErrorCode::InvalidPipeline, "Unknown pipeline_id: \"x\"\n").to_json(),
        r#"{"error":"invalid_pipeline","detail":"Unknown pipeline_id: \"x\"\n"}"#
    );
}

#[test]
fn unknown_shapes_are_rejected() {
    for text in [r#"{}"#, r#"{"error":"no_such_code","detail":"x"}"#, r#"{"warning":"speed_up"}"#, "[]", ""] {
        assert!(ServerMessage::from_json(text).is_err(), "{text} parsed");
    }
}

#[test]
fn http_bodies() {
    use stream_protocol::http::{
        Health, HealthStatus, PipelineInfo, PipelineList, PipelineNode, PipelineSummary,
    };
    let health = Health {
        status: HealthStatus::Healthy,
        version: "0.1.0".into(),
        pipelines_loaded: 3,
        sessions_active: 1,
        max_sessions: 10,
        engine: Some("onnxruntime".into()),
    };
    assert_eq!(
        serde_json::to_string(&health).unwrap(),
        r#"{"status":"healthy","version":"0.1.0","pipelines_loaded":3,"sessions_active":1,"max_sessions":10,"engine":"onnxruntime"}"#
    );
    let no_engine = Health { engine: None, ..health };
    assert!(!serde_json::to_string(&no_engine).unwrap().contains("engine"));
    let list = PipelineList { pipelines: vec![PipelineSummary { id: "yolo".into(), name: "YOLO".into() }] };
    assert_eq!(serde_json::to_string(&list).unwrap(), r#"{"pipelines":[{"id":"yolo","name":"YOLO"}]}"#);
    let info = PipelineInfo {
        id: "ocr".into(),
        name: "OCR".into(),
        node_count: 1,
        edge_count: 0,
        entry_nodes: vec!["ocr".into()],
        output_nodes: vec!["ocr".into()],
        classes: vec![],
        input_size: None,
        nodes: vec![PipelineNode {
            id: "ocr".into(),
            plugin_id: "ocr".into(),
            tool_id: "extract_text".into(),
            input_size: [640, 480],
        }],
    };
    assert_eq!(
        serde_json::to_string(&info).unwrap(),
        r#"{"id":"ocr","name":"OCR","node_count":1,"edge_count":0,"entry_nodes":["ocr"],"output_nodes":["ocr"],"classes":[],"nodes":[{"id":"ocr","plugin_id":"ocr","tool_id":"extract_text","input_size":[640,480]}]}"#
    );
}
