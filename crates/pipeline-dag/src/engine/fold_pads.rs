//! Folds explicit `Pad` nodes into the `Conv` or `MaxPool` that reads them, before tract sees the graph.
//!
//! Converters from TensorFlow (tf2onnx, which made the bundled NanoDet-g) turn every `SAME`-padded convolution
//! into a `Pad` node followed by an unpadded `Conv`. tract keeps these as separate operators that copy the
//! whole activation into a larger buffer: 28 of them cost NanoDet-g 19–20 ms of a 107 ms run at 416
//! (`examples/tract_profile.rs`). The operators pad themselves for free inside their own loops, so the
//! rewrite below moves the padding onto them. It is exact, not an approximation:
//!
//! - `Conv` pads with zeros, so only a constant `Pad` with value 0 folds into it;
//! - `MaxPool` ignores padded cells, which is what a constant `Pad` with value −∞ gives, so only that one
//!   folds into it (and only with `ceil_mode` 0, where explicit and implicit padding give the same windows).
//!
//! Anything else — reflect or edge modes, padding of the batch or channel axes, negative (cropping) pads, a
//! `Pad` read by more than one node or exported as a graph output, pads that are not constants — is left as
//! it is.

use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, TensorProto, attribute_proto, tensor_proto};

/// Folds every foldable `Pad` of `graph` into its reader and removes it. Returns how many were folded.
pub(super) fn fold_pads(graph: &mut GraphProto) -> usize {
    let mut removed = Vec::new();
    for p in 0..graph.node.len() {
        let Some((reader, spatial)) = foldable(graph, p) else { continue };
        let pad_input = graph.node[p].input[0].clone();
        let node = &mut graph.node[reader];
        let merged = match int_attribute(node, "pads") {
            None => spatial,
            Some(existing) if existing.len() == spatial.len() => {
                existing.iter().zip(&spatial).map(|(a, b)| a + b).collect()
            }
            Some(_) => continue,
        };
        node.attribute.retain(|a| a.name != "pads" && a.name != "auto_pad");
        node.attribute.push(AttributeProto {
            name: "pads".into(),
            r#type: attribute_proto::AttributeType::Ints as i32,
            ints: merged,
            ..AttributeProto::default()
        });
        node.input[0] = pad_input;
        removed.push(p);
    }
    // `removed` is sorted: it was filled in node order.
    let mut index = 0;
    graph.node.retain(|_| {
        index += 1;
        removed.binary_search(&(index - 1)).is_err()
    });
    removed.len()
}

/// If node `p` is a `Pad` that can fold into its one reader: that reader's index and the padding in the
/// reader's `pads` layout (spatial begins, then spatial ends).
fn foldable(graph: &GraphProto, p: usize) -> Option<(usize, Vec<i64>)> {
    let pad = &graph.node[p];
    if pad.op_type != "Pad" || !is_default_domain(pad) || pad.output.len() != 1 || pad.input.is_empty() {
        return None;
    }
    let (pads, value) = pad_spec(graph, pad)?;
    let rank = pads.len() / 2;
    let (begins, ends) = pads.split_at(rank);
    // Only spatial padding (NC… layout: axes 0 and 1 untouched), never cropping.
    if rank < 3
        || pads.len() % 2 != 0
        || begins[..2] != [0, 0]
        || ends[..2] != [0, 0]
        || pads.iter().any(|&x| x < 0)
    {
        return None;
    }
    let spatial: Vec<i64> = begins[2..].iter().chain(&ends[2..]).copied().collect();

    let out = &pad.output[0];
    if graph.output.iter().any(|o| &o.name == out) {
        return None;
    }
    let mut readers = graph.node.iter().enumerate().filter(|(_, n)| n.input.iter().any(|i| i == out));
    let (r, reader) = readers.next()?;
    if readers.next().is_some()
        || reader.input.iter().filter(|i| *i == out).count() != 1
        || reader.input[0] != *out
    {
        return None;
    }
    let explicit_padding = matches!(string_attribute(reader, "auto_pad"), None | Some("NOTSET"));
    let fits = is_default_domain(reader)
        && explicit_padding
        && match reader.op_type.as_str() {
            "Conv" => value == 0.0,
            "MaxPool" => {
                value == f32::NEG_INFINITY
                    && reader.output.len() == 1
                    && reader.attribute.iter().all(|a| a.name != "ceil_mode" || a.i == 0)
            }
            _ => false,
        };
    fits.then_some((r, spatial))
}

/// A constant-mode `Pad`'s pads and value, from its inputs (opset ≥ 11) or its attributes (older opsets).
fn pad_spec(graph: &GraphProto, pad: &NodeProto) -> Option<(Vec<i64>, f32)> {
    if !matches!(string_attribute(pad, "mode"), None | Some("constant")) {
        return None;
    }
    // Opset 18's `axes` input would change what `pads` refers to.
    if pad.input.get(3).is_some_and(|axes| !axes.is_empty()) {
        return None;
    }
    match pad.input.get(1).filter(|name| !name.is_empty()) {
        Some(pads) => {
            let pads = int64s(constant(graph, pads)?)?;
            let value = match pad.input.get(2).filter(|name| !name.is_empty()) {
                Some(name) => *floats(constant(graph, name)?)?.first()?,
                None => 0.0,
            };
            Some((pads, value))
        }
        None => {
            let pads = int_attribute(pad, "pads")?;
            let value = pad.attribute.iter().find(|a| a.name == "value").map_or(0.0, |a| a.f);
            Some((pads, value))
        }
    }
}

fn is_default_domain(node: &NodeProto) -> bool {
    node.domain.is_empty() || node.domain == "ai.onnx"
}

fn int_attribute(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.ints.clone())
}

fn string_attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a str> {
    node.attribute.iter().find(|a| a.name == name).map(|a| std::str::from_utf8(&a.s).unwrap_or("?"))
}

/// The tensor named `name`: an initializer or the value of a `Constant` node.
fn constant<'a>(graph: &'a GraphProto, name: &str) -> Option<&'a TensorProto> {
    graph.initializer.iter().find(|t| t.name == name).or_else(|| {
        let node = graph
            .node
            .iter()
            .find(|n| n.op_type == "Constant" && n.output.first().is_some_and(|o| o == name))?;
        node.attribute.iter().find(|a| a.name == "value")?.t.as_ref()
    })
}

fn int64s(t: &TensorProto) -> Option<Vec<i64>> {
    values(t, tensor_proto::DataType::Int64, &t.int64_data, i64::from_le_bytes)
}

fn floats(t: &TensorProto) -> Option<Vec<f32>> {
    values(t, tensor_proto::DataType::Float, &t.float_data, f32::from_le_bytes)
}

/// A tensor's values, from its typed field or its little-endian `raw_data`; `None` for another type or
/// external data.
fn values<T: Copy, const N: usize>(
    t: &TensorProto,
    data_type: tensor_proto::DataType,
    typed: &[T],
    from_le_bytes: fn([u8; N]) -> T,
) -> Option<Vec<T>> {
    if t.data_type != data_type as i32 || !t.external_data.is_empty() {
        return None;
    }
    if !typed.is_empty() {
        return Some(typed.to_vec());
    }
    let chunks = t.raw_data.chunks_exact(N);
    chunks
        .remainder()
        .is_empty()
        .then(|| chunks.map(|b| from_le_bytes(b.try_into().unwrap_or([0; N]))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| (*s).into()).collect(),
            output: vec![output.into()],
            attribute: attributes,
            ..NodeProto::default()
        }
    }

    fn ints(name: &str, values: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: attribute_proto::AttributeType::Ints as i32,
            ints: values.to_vec(),
            ..AttributeProto::default()
        }
    }

    fn int(name: &str, value: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: attribute_proto::AttributeType::Int as i32,
            i: value,
            ..AttributeProto::default()
        }
    }

    fn text(name: &str, value: &str) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: attribute_proto::AttributeType::String as i32,
            s: value.as_bytes().to_vec(),
            ..AttributeProto::default()
        }
    }

    fn i64_tensor(name: &str, values: &[i64], raw: bool) -> TensorProto {
        let mut t = TensorProto {
            name: name.into(),
            dims: vec![values.len() as i64],
            data_type: tensor_proto::DataType::Int64 as i32,
            ..TensorProto::default()
        };
        if raw {
            t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        } else {
            t.int64_data = values.to_vec();
        }
        t
    }

    fn f32_tensor(name: &str, value: f32) -> TensorProto {
        TensorProto {
            name: name.into(),
            data_type: tensor_proto::DataType::Float as i32,
            raw_data: value.to_le_bytes().to_vec(),
            ..TensorProto::default()
        }
    }

    /// `x → Pad(pads, value) → reader → y`, as tf2onnx writes it.
    fn graph(reader: NodeProto, pads: &[i64], value: Option<f32>) -> GraphProto {
        let mut initializer = vec![i64_tensor("pads", pads, true)];
        let mut pad_inputs = vec!["x", "pads"];
        if let Some(v) = value {
            initializer.push(f32_tensor("value", v));
            pad_inputs.push("value");
        }
        GraphProto {
            node: vec![node("Pad", &pad_inputs, "padded", vec![]), reader],
            initializer,
            ..GraphProto::default()
        }
    }

    const SAME_3X3: [i64; 8] = [0, 0, 1, 1, 0, 0, 1, 1];

    #[test]
    fn a_zero_pad_folds_into_the_conv_that_reads_it() {
        let conv = node(
            "Conv",
            &["padded", "w", "b"],
            "y",
            vec![ints("kernel_shape", &[3, 3]), ints("strides", &[2, 2])],
        );
        let mut g = graph(conv, &SAME_3X3, None);
        assert_eq!(fold_pads(&mut g), 1);
        assert_eq!(g.node.len(), 1);
        let conv = &g.node[0];
        assert_eq!(conv.input, ["x", "w", "b"]);
        assert_eq!(int_attribute(conv, "pads"), Some(vec![1, 1, 1, 1]));
        assert_eq!(int_attribute(conv, "strides"), Some(vec![2, 2]), "other attributes are kept");
    }

    #[test]
    fn padding_adds_to_the_conv_own_and_keeps_its_layout() {
        // Pad: H begin 1, W begin 2, H end 3, W end 4 (axes N, C, H, W); the conv already pads 1 all round.
        let conv = node(
            "Conv",
            &["padded", "w"],
            "y",
            vec![ints("pads", &[1, 1, 1, 1]), text("auto_pad", "NOTSET")],
        );
        let mut g = graph(conv, &[0, 0, 1, 2, 0, 0, 3, 4], Some(0.0));
        assert_eq!(fold_pads(&mut g), 1);
        assert_eq!(int_attribute(&g.node[0], "pads"), Some(vec![2, 3, 4, 5]));
    }

    #[test]
    fn a_minus_infinity_pad_folds_into_max_pool_only() {
        let pool = || {
            node("MaxPool", &["padded"], "y", vec![ints("kernel_shape", &[3, 3]), ints("strides", &[2, 2])])
        };
        let mut g = graph(pool(), &SAME_3X3, Some(f32::NEG_INFINITY));
        assert_eq!(fold_pads(&mut g), 1);
        assert_eq!(int_attribute(&g.node[0], "pads"), Some(vec![1, 1, 1, 1]));
        // Zero padding is not what MaxPool's own padding means; −∞ is not what Conv's means.
        assert_eq!(fold_pads(&mut graph(pool(), &SAME_3X3, Some(0.0))), 0);
        let conv = node("Conv", &["padded", "w"], "y", vec![]);
        assert_eq!(fold_pads(&mut graph(conv, &SAME_3X3, Some(f32::NEG_INFINITY))), 0);
        // ceil_mode changes which windows exist at the border.
        let mut ceil = pool();
        ceil.attribute.push(int("ceil_mode", 1));
        assert_eq!(fold_pads(&mut graph(ceil, &SAME_3X3, Some(f32::NEG_INFINITY))), 0);
    }

    #[test]
    fn anything_else_is_left_alone() {
        let conv = || node("Conv", &["padded", "w"], "y", vec![]);
        let unchanged = |mut g: GraphProto| {
            let before = g.clone();
            assert_eq!(fold_pads(&mut g), 0);
            assert_eq!(g, before);
        };
        // Channel padding, cropping, a non-zero constant.
        unchanged(graph(conv(), &[0, 1, 1, 1, 0, 0, 1, 1], None));
        unchanged(graph(conv(), &[0, 0, -1, 1, 0, 0, 1, 1], None));
        unchanged(graph(conv(), &SAME_3X3, Some(0.5)));
        // Reflect mode.
        let mut g = graph(conv(), &SAME_3X3, None);
        g.node[0].attribute.push(text("mode", "reflect"));
        unchanged(g);
        // Read by two nodes, or a graph output.
        let mut g = graph(conv(), &SAME_3X3, None);
        g.node.push(node("Relu", &["padded"], "z", vec![]));
        unchanged(g);
        let mut g = graph(conv(), &SAME_3X3, None);
        g.output.push(tract_onnx::pb::ValueInfoProto { name: "padded".into(), ..Default::default() });
        unchanged(g);
        // The padded tensor as the conv's weights, not its data; a conv that pads itself automatically.
        unchanged(graph(node("Conv", &["w", "padded"], "y", vec![]), &SAME_3X3, None));
        unchanged(graph(
            node("Conv", &["padded", "w"], "y", vec![text("auto_pad", "SAME_UPPER")]),
            &SAME_3X3,
            None,
        ));
        // Pads that are not a constant of the graph.
        let mut g = graph(conv(), &SAME_3X3, None);
        g.initializer.clear();
        unchanged(g);
    }

    #[test]
    fn pads_from_attributes_and_constant_nodes_are_read() {
        // Opset < 11: pads and value are attributes.
        let pad = node("Pad", &["x"], "padded", vec![ints("pads", &SAME_3X3), text("mode", "constant")]);
        let mut g = GraphProto {
            node: vec![pad, node("Conv", &["padded", "w"], "y", vec![])],
            ..GraphProto::default()
        };
        assert_eq!(fold_pads(&mut g), 1);
        // Pads from a Constant node, stored as int64_data.
        let value = AttributeProto {
            name: "value".into(),
            r#type: attribute_proto::AttributeType::Tensor as i32,
            t: Some(i64_tensor("", &SAME_3X3, false)),
            ..AttributeProto::default()
        };
        let mut g = GraphProto {
            node: vec![
                node("Constant", &[], "pads", vec![value]),
                node("Pad", &["x", "pads"], "padded", vec![]),
                node("Conv", &["padded", "w"], "y", vec![]),
            ],
            ..GraphProto::default()
        };
        assert_eq!(fold_pads(&mut g), 1);
        assert_eq!(g.node.iter().map(|n| n.op_type.as_str()).collect::<Vec<_>>(), ["Constant", "Conv"]);
    }
}
