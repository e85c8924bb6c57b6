"""Convert a trained Keras emotion model to TFLite (full-integer int8, or float32)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import EDGETPU_OPS

log = logging.getLogger(__name__)


def _saved_model(model: keras.Model, directory: Path) -> Path:
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32, name="face")
    model.export(str(directory), format="tf_saved_model", input_signature=[spec], verbose=False)
    return directory


def to_tflite(model: keras.Model, calibration: np.ndarray | None = None) -> bytes:
    """Return TFLite bytes: full-integer int8 if ``calibration`` (uint8 N,48,48) is given, else float32.

    The int8 model takes int8 input with scale 1/255 and zero point -128 (raw pixel - 128)
    and gives int8 softmax output. Calibration always includes an all-0 and an all-255 frame so
    that the input range is exactly [0, 1].
    """
    with tempfile.TemporaryDirectory() as tmp:
        conv = tf.lite.TFLiteConverter.from_saved_model(str(_saved_model(model, Path(tmp) / "sm")))
        data = _convert(conv, calibration)
    if calibration is not None:
        check_int8(data)
    return data


def _convert(conv: tf.lite.TFLiteConverter, calibration: np.ndarray | None) -> bytes:
    if calibration is not None:
        frames = np.concatenate([np.zeros((1, 48, 48), np.uint8), np.full((1, 48, 48), 255, np.uint8),
                                 calibration])

        def rep() -> Iterator[list[np.ndarray]]:
            for img in frames:
                yield [(img.astype(np.float32) / 255.0)[None, :, :, None]]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def op_names(tflite: bytes) -> set[str]:
    """Builtin op names used by a TFLite model."""
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.Model.GetRootAsModel(tflite, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = set()
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        out.add(names.get(code, str(code)))
    return out


def check_int8(tflite: bytes) -> None:
    """Raise if the model is not full-integer with the expected I/O quantisation and op set."""
    interp = tf.lite.Interpreter(model_content=tflite)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    if inp["dtype"] != np.int8 or out["dtype"] != np.int8:
        raise ValueError(f"not int8 I/O: {inp['dtype']} -> {out['dtype']}")
    if abs(scale - 1 / 255) > 1e-7 or zero != -128:
        raise ValueError(f"unexpected input quantisation {scale}, {zero}")
    if list(inp["shape"]) != [1, 48, 48, 1]:
        raise ValueError(f"unexpected input shape {inp['shape']}")
    ops = op_names(tflite)
    if not ops <= EDGETPU_OPS:
        raise ValueError(f"ops outside the Edge TPU set: {sorted(ops - EDGETPU_OPS)}")
    log.info("int8 model OK: ops %s, output quantisation %s", sorted(ops), out["quantization"])


def write(path: Path, data: bytes) -> None:
    """Write model bytes and log the size."""
    path.write_bytes(data)
    log.info("wrote %s (%.1f kB)", path, len(data) / 1024)
