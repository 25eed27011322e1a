//! docs/ARCHITECTURE.md's code map stays true to the crates' manifests, and the layering invariants hold: a
//! crate that gains a dependency the map does not name, or a library below the server that starts using an HTTP
//! or inference library, fails here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

/// The crates of the map: its first column, and the manifest it describes.
const CRATES: &[(&str, &str)] = &[
    ("stream-protocol", "crates/stream-protocol"),
    ("frame-validate", "crates/frame-validate"),
    ("backpressure", "crates/backpressure"),
    ("stream-session", "crates/stream-session"),
    ("pipeline-dag", "crates/pipeline-dag"),
    ("video-jobs", "crates/video-jobs"),
    ("stream-server", "crates/stream-server"),
    ("bins/stream-server", "bins/stream-server"),
    ("bins/stream-bench", "bins/stream-bench"),
];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The non-dev dependencies of the crate in `dir`, by name.
fn dependencies(dir: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(dir).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map_or_else(BTreeSet::new, |deps| deps.keys().cloned().collect())
}

/// The "depends on" cell of `name`'s row in the code map.
fn mapped(doc: &str, name: &str) -> String {
    let row = doc
        .lines()
        .find(|line| line.starts_with(&format!("| `{name}` |")))
        .unwrap_or_else(|| panic!("docs/ARCHITECTURE.md's code map has no row for `{name}`"));
    row.trim_end_matches('|').rsplit(" | ").next().unwrap().to_owned()
}

/// Whether `cell` names `dependency` as a word (`tokio` is not found in `tokio-util`).
fn names(cell: &str, dependency: &str) -> bool {
    cell.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).any(|word| word == dependency)
}

#[test]
fn the_code_map_names_every_dependency_of_every_crate() {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for (name, dir) in CRATES {
        let cell = mapped(&doc, name);
        for dependency in dependencies(dir) {
            if !names(&cell, &dependency) {
                missing.push(format!("{name} depends on {dependency}"));
            }
        }
    }
    assert!(missing.is_empty(), "docs/ARCHITECTURE.md's code map lacks: {missing:#?}");
}

#[test]
fn the_layers_keep_their_invariants() {
    let deps = |dir: &str| dependencies(dir);
    let inference = ["tract-onnx", "tract-linalg", "tract-core", "ort"];
    let network = ["axum", "hyper", "hyper-util", "tokio-tungstenite", "tower", "tower-http", "multer"];
    for (name, dir) in CRATES {
        let crate_deps = deps(dir);
        if *name != "pipeline-dag" {
            for d in inference {
                assert!(!crate_deps.contains(d), "only pipeline-dag may name {d}, but {name} does");
            }
        }
        if [
            "stream-protocol",
            "frame-validate",
            "backpressure",
            "stream-session",
            "pipeline-dag",
            "video-jobs",
        ]
        .contains(name)
        {
            for d in network {
                assert!(!crate_deps.contains(d), "nothing below stream-server may name {d}, but {name} does");
            }
        }
    }
    for pure in ["crates/frame-validate", "crates/backpressure", "crates/stream-protocol"] {
        assert!(!deps(pure).contains("tokio"), "{pure} does no I/O and knows no tokio");
    }
    for sessionless in ["crates/pipeline-dag", "crates/video-jobs"] {
        assert!(!deps(sessionless).contains("stream-session"), "{sessionless} knows nothing of sessions");
    }
    assert!(
        !deps("crates/video-jobs").contains("stream-server"),
        "video-jobs is embedded by the server, not the other way round"
    );
}

#[test]
fn words_are_matched_whole() {
    assert!(names("tokio (rt, time), futures-util", "tokio"));
    assert!(!names("tokio-util, hyper-util", "tokio"));
    assert!(names("ort (feature `onnxruntime` only)", "ort"));
}
