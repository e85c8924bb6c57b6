"""The committed emotion model keeps the contract the runtime, the Edge TPU compiler and the manifest rely on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.training import EDGETPU_OPS
from todayfeeling.vocabulary import EMOTIONS

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="module")
def entry() -> dict:
    manifest = json.loads((MODELS / "manifest.json").read_text())
    assert manifest["defaults"]["emotion"] == "emotion", "the appliance's default is the project's own model"
    return manifest["models"]["emotion"]


@pytest.fixture(scope="module")
def interpreter(entry: dict):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    interp = Interpreter(model_path=str(MODELS / entry["file"]),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp


def test_file_matches_the_manifest_checksum_and_is_small(entry: dict) -> None:
    data = (MODELS / entry["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert len(data) < 3_000_000


def test_labels_are_the_six_emotions_in_the_runtime_order(entry: dict) -> None:
    assert tuple(entry["labels"]) == EMOTIONS


def test_full_integer_io_with_static_shapes(interpreter, entry: dict) -> None:
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    assert inp["shape_signature"].tolist() == entry["input"]["shape"] == [1, 48, 48, 1]
    assert out["shape_signature"].tolist() == [1, len(EMOTIONS)]
    scale, zero_point = inp["quantization"]
    assert scale == pytest.approx(entry["input"]["normalisation"]["scale"]) and zero_point == -128
    assert out["quantization"] == pytest.approx((1 / 256, -128))  # int8 softmax


def test_every_op_is_an_integer_op_the_edge_tpu_runs(interpreter) -> None:
    ops = interpreter._get_ops_details()
    assert {op["op_name"] for op in ops} <= EDGETPU_OPS
    for op in ops:
        for index in list(op["inputs"]) + list(op["outputs"]):
            if index >= 0:
                dtype = interpreter._get_tensor_details(index, subgraph_index=0)["dtype"]
                assert dtype in (np.int8, np.int32), f"{op['op_name']} has a {dtype} tensor"

