//! ForgeSyte's JSON pipeline format and its structural validation (ids, edges, cycles, reachability).

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::error::Problem;

/// One pipeline definition as written in JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PipelineDef {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Free text for humans; ignored.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) description: Option<String>,
    pub(crate) nodes: Vec<NodeDef>,
    #[serde(default)]
    pub(crate) edges: Vec<EdgeDef>,
    pub(crate) entry_nodes: Vec<String>,
    pub(crate) output_nodes: Vec<String>,
}

/// One node: which tool runs, with which parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeDef {
    pub(crate) id: String,
    pub(crate) plugin_id: String,
    pub(crate) tool_id: String,
    #[serde(default)]
    pub(crate) params: serde_json::Map<String, serde_json::Value>,
}

/// A dependency: `to_node` runs after `from_node`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EdgeDef {
    pub(crate) from_node: String,
    pub(crate) to_node: String,
}

/// The node kinds this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// `yolo` / `detect_objects`.
    Detect,
    /// `ocr` / `extract_text`.
    Ocr,
    /// `track` / `track_objects`: follows the detections of the one detection node feeding it.
    Track,
}

impl NodeKind {
    pub(crate) fn of(plugin_id: &str, tool_id: &str) -> Option<Self> {
        match (plugin_id, tool_id) {
            ("yolo", "detect_objects") => Some(Self::Detect),
            ("ocr", "extract_text") => Some(Self::Ocr),
            ("track", "track_objects") => Some(Self::Track),
            _ => None,
        }
    }

    /// The key of the frame result this kind fills (its companion keys, `count` and `blocks`, go with it).
    pub(crate) fn output_key(self) -> &'static str {
        match self {
            Self::Detect | Self::Track => "detections",
            Self::Ocr => "text",
        }
    }
}

/// A problem found in a definition, with the node it concerns.
pub(crate) type Found = (Option<String>, Problem);

/// The checked structure of a definition: node kinds and the order to run them in.
#[derive(Debug, Clone)]
pub(crate) struct Structure {
    pub(crate) kinds: Vec<NodeKind>,
    /// Node indices grouped by depth (longest path from an entry node): nodes of one level are independent.
    pub(crate) levels: Vec<Vec<usize>>,
    /// Whether each node is an output node.
    pub(crate) is_output: Vec<bool>,
    /// Each node's direct predecessors (a `track` node has exactly one, a detection node).
    pub(crate) inputs: Vec<Vec<usize>>,
}

fn found(node: Option<&str>, problem: Problem) -> Found {
    (node.map(str::to_owned), problem)
}

/// Checks everything about a definition that needs no model file: ids, tools, edges, cycles, entry and
/// output lists, reachability and colliding output keys.
pub(crate) fn check_structure(def: &PipelineDef) -> Result<Structure, Found> {
    let valid_id = !def.id.is_empty()
        && def.id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid_id {
        return Err(found(None, Problem::BadPipelineId));
    }
    if def.nodes.is_empty() {
        return Err(found(None, Problem::NoNodes));
    }
    let mut index = HashMap::with_capacity(def.nodes.len());
    let mut kinds = Vec::with_capacity(def.nodes.len());
    for (i, node) in def.nodes.iter().enumerate() {
        if node.id.is_empty() {
            return Err(found(None, Problem::EmptyNodeId));
        }
        if index.insert(node.id.as_str(), i).is_some() {
            return Err(found(Some(&node.id), Problem::DuplicateNode));
        }
        let kind = NodeKind::of(&node.plugin_id, &node.tool_id).ok_or_else(|| {
            found(
                Some(&node.id),
                Problem::UnknownTool { plugin_id: node.plugin_id.clone(), tool_id: node.tool_id.clone() },
            )
        })?;
        kinds.push(kind);
    }

    let n = def.nodes.len();
    let mut successors = vec![Vec::new(); n];
    let mut in_degree = vec![0usize; n];
    let mut inputs = vec![Vec::new(); n];
    let mut seen_edges = HashSet::new();
    for edge in &def.edges {
        let lookup = |id: &str| {
            index.get(id).copied().ok_or_else(|| {
                found(
                    None,
                    Problem::DanglingEdge {
                        from: edge.from_node.clone(),
                        to: edge.to_node.clone(),
                        missing: id.to_owned(),
                    },
                )
            })
        };
        let (from, to) = (lookup(&edge.from_node)?, lookup(&edge.to_node)?);
        // A repeated edge adds no constraint; counting it twice would corrupt the in-degrees.
        if seen_edges.insert((from, to)) {
            successors[from].push(to);
            inputs[to].push(from);
            in_degree[to] += 1;
        }
    }

    for (i, kind) in kinds.iter().enumerate() {
        if *kind == NodeKind::Track {
            let found_inputs: Vec<&str> = inputs[i].iter().map(|&j| def.nodes[j].id.as_str()).collect();
            if !matches!(inputs[i].as_slice(), [j] if kinds[*j] == NodeKind::Detect) {
                let found_text = if found_inputs.is_empty() {
                    "no incoming edge".to_owned()
                } else {
                    format!("edges from {found_inputs:?}")
                };
                return Err(found(Some(&def.nodes[i].id), Problem::TrackInput { found: found_text }));
            }
        }
    }

    let resolve_list = |list: &'static str, ids: &[String]| -> Result<Vec<usize>, Found> {
        ids.iter()
            .map(|id| {
                index
                    .get(id.as_str())
                    .copied()
                    .ok_or_else(|| found(Some(id), Problem::UnknownListedNode { list }))
            })
            .collect()
    };
    if def.entry_nodes.is_empty() {
        return Err(found(None, Problem::NoEntryNodes));
    }
    if def.output_nodes.is_empty() {
        return Err(found(None, Problem::NoOutputNodes));
    }
    let entries = resolve_list("entry_nodes", &def.entry_nodes)?;
    let outputs = resolve_list("output_nodes", &def.output_nodes)?;

    // Kahn's algorithm: depth = longest path from a source; whatever is left over lies on or behind a cycle.
    let mut depth = vec![0usize; n];
    let mut remaining = in_degree.clone();
    let mut ready: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut visited = 0;
    while let Some(i) = ready.pop() {
        visited += 1;
        for &j in &successors[i] {
            depth[j] = depth[j].max(depth[i] + 1);
            remaining[j] -= 1;
            if remaining[j] == 0 {
                ready.push(j);
            }
        }
    }
    if visited < n {
        let nodes: Vec<String> =
            (0..n).filter(|&i| remaining[i] > 0).map(|i| def.nodes[i].id.clone()).collect();
        return Err((nodes.first().cloned(), Problem::Cycle { nodes }));
    }

    for &e in &entries {
        if in_degree[e] > 0 {
            let from = def
                .edges
                .iter()
                .find(|edge| edge.to_node == def.nodes[e].id)
                .map(|edge| edge.from_node.clone());
            return Err(found(
                Some(&def.nodes[e].id),
                Problem::EntryHasIncomingEdge { from: from.unwrap_or_default() },
            ));
        }
    }
    let mut reachable = vec![false; n];
    let mut stack = entries.clone();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut reachable[i], true) {
            stack.extend(&successors[i]);
        }
    }
    if let Some(i) = (0..n).find(|&i| !reachable[i]) {
        return Err(found(Some(&def.nodes[i].id), Problem::Unreachable));
    }

    let mut is_output = vec![false; n];
    let mut keys: HashMap<&'static str, usize> = HashMap::new();
    for &o in &outputs {
        if std::mem::replace(&mut is_output[o], true) {
            continue; // listed twice: harmless
        }
        let key = kinds[o].output_key();
        if let Some(&other) = keys.get(key) {
            return Err(found(
                Some(&def.nodes[o].id),
                Problem::CollidingOutput { key, other_node: def.nodes[other].id.clone() },
            ));
        }
        keys.insert(key, o);
    }

    let n_levels = depth.iter().max().map_or(0, |d| d + 1);
    let mut levels = vec![Vec::new(); n_levels];
    for (i, &d) in depth.iter().enumerate() {
        levels[d].push(i);
    }
    Ok(Structure { kinds, levels, is_output, inputs })
}

/// Reads a node's `params` object into its parameter struct (a serde derive with `deny_unknown_fields`, so
/// unknown names and wrong types are refused); the error names the parameter, found by
/// `serde_path_to_error` (serde_json's own errors carry no path). Ranges are the caller's to check.
pub(crate) fn params<T: serde::de::DeserializeOwned>(
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, Problem> {
    // A copy of a small object, once per node when a definition loads.
    let value = serde_json::Value::Object(map.clone());
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let param = e.path().iter().find_map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            _ => None,
        });
        bad(param.as_deref().unwrap_or("params"), e.into_inner().to_string())
    })
}

/// A parameter's problem.
pub(crate) fn bad(param: &str, reason: impl Into<String>) -> Problem {
    Problem::BadParam { param: param.to_owned(), reason: reason.into() }
}

/// `Ok(())` when `x` lies in `range`, otherwise the parameter's problem.
pub(crate) fn in_range<T: PartialOrd + std::fmt::Display>(
    param: &str,
    x: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), Problem> {
    if range.contains(&x) {
        Ok(())
    } else {
        Err(bad(param, format!("{x} is outside {}..={}", range.start(), range.end())))
    }
}

/// `Ok(())` when `x` is a multiple of `step` (`step` > 0), otherwise the parameter's problem.
pub(crate) fn multiple_of(param: &str, x: u32, step: u32) -> Result<(), Problem> {
    if x.is_multiple_of(step) { Ok(()) } else { Err(bad(param, format!("{x} is not a multiple of {step}"))) }
}

/// `Ok(())` unless a string or list parameter was given empty.
pub(crate) fn not_empty(param: &str, empty: bool) -> Result<(), Problem> {
    if empty { Err(bad(param, "must not be empty")) } else { Ok(()) }
}
