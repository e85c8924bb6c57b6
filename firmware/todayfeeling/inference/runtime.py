"""TFLite models on the CPU or the Edge TPU, with automatic fallback that says why.

The runtime is ``ai_edge_litert`` (about twice as fast here) or else its predecessor ``tflite_runtime``
(tflite-runtime 2.14, numpy<2; same ``Interpreter`` and ``load_delegate`` API). A model ``x.tflite`` runs on
the Edge TPU when its compiled twin ``x_edgetpu.tflite`` sits beside it and ``libedgetpu.so.1`` loads;
otherwise, or when the delegate fails to load or to invoke, it runs on the CPU and
:attr:`TFLiteModel.backend` tells why. A twin is read once in a child process before the appliance loads it:
it has no checksum, and a damaged one crashes the runtime.
"""

from __future__ import annotations

import ctypes
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from todayfeeling.inference.manifest import FETCH_HINT, ModelError
from todayfeeling.scoring import dequantise, quantise
from todayfeeling.text import one_line
from todayfeeling.vocabulary import Backend, BackendChoice

log = logging.getLogger(__name__)

EDGETPU_LIBRARY = "libedgetpu.so.1"


def _import_runtime() -> tuple[Any, Callable[..., Any], str]:
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate, "ai_edge_litert"
    except ImportError:
        from tflite_runtime.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate, "tflite_runtime"


Interpreter, load_delegate, RUNTIME_NAME = _import_runtime()


def load_edgetpu_delegate(library: str, options: dict[str, Any]) -> Any:
    """The runtime's ``load_delegate`` once ``library`` is known to load (OSError naming what is missing): a
    missing library left the runtime's half-made delegate printing an ignored exception at every retry."""
    ctypes.CDLL(library)
    return load_delegate(library, options)


_PROBE = "import sys\nfrom todayfeeling.inference.runtime import Interpreter\nInterpreter(model_path=sys.argv[1])\n"
_PROBE_TIMEOUT_S = 120.0
_probed: dict[tuple[Path, int, int], str | None] = {}  # (path, size, mtime) → why it cannot be read, or None


def _crash_on_reading(path: Path) -> str | None:
    """Why the TFLite runtime cannot safely read ``path``, or None; found out once per file version in a child
    process. A compiled Edge TPU twin has no checksum (it is made on the owner's machine), and a half-copied one
    crashes the runtime outright while reading it: in the appliance that was a crash at every start."""
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _probed:
        try:
            done = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True,
                                  timeout=_PROBE_TIMEOUT_S)
            _probed[key] = _probe_verdict(path.name, done.returncode, done.stderr.decode(errors="replace"))
        except subprocess.TimeoutExpired:
            _probed[key] = f"reading {path.name} took over {_PROBE_TIMEOUT_S:g} s"
    return _probed[key]


def _probe_verdict(name: str, status: int, errors: str) -> str | None:
    if status < 0:  # the same file may crash one reading and raise in the next: both mean damaged
        return f"{name} is damaged: the TFLite runtime crashed reading it (signal {-status})"
    if status > 0:
        last = errors.strip().splitlines()[-1:] or ["no message"]
        return f"{name} is not a model the TFLite runtime can read ({one_line(last[0])})"
    return None


@dataclass(frozen=True)
class BackendStatus:
    """Which backend a model was asked for, which one runs, and why they differ (if they do)."""

    preferred: Backend
    actual: Backend
    reason: str = ""

    @property
    def degraded(self) -> bool:
        """True when the Edge TPU was wanted but the CPU runs (the one definition of "degraded")."""
        return self.preferred == Backend.EDGETPU and self.actual != Backend.EDGETPU

    def as_dict(self) -> dict[str, Any]:
        """For MQTT stats: preferred, actual, reason and degraded."""
        return {"preferred": self.preferred.value, "actual": self.actual.value, "reason": self.reason,
                "degraded": self.degraded}


def edgetpu_twin(path: Path) -> Path:
    """The compiled Edge TPU model the runtime looks for beside ``path``."""
    return path.with_name(f"{path.stem}_edgetpu{path.suffix}")


class TFLiteModel:
    """One TFLite model: float in, float out, whatever its quantisation inside.

    ``run`` takes the model's input as *real* values (already normalised) and quantises them with the
    model's own parameters; outputs come back dequantised as float32 arrays.
    """

    def __init__(
        self,
        path: Path,
        threads: int = 2,
        backend: BackendChoice = BackendChoice.AUTO,
        edgetpu_device: str = "",
        delegate_loader: Callable[..., Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.threads = threads
        self.edgetpu_device = edgetpu_device
        self._load_delegate = delegate_loader or load_edgetpu_delegate
        self.invoke_times: list[float] | None = None  # a list: every invoke appends its ms (benchmarks)
        self._preferred = self._preference(backend)
        self.backend = BackendStatus(self._preferred, Backend.CPU)
        self._load()

    def _preference(self, backend: BackendChoice) -> Backend:
        if backend == BackendChoice.CPU:
            return Backend.CPU
        if backend == BackendChoice.EDGETPU or edgetpu_twin(self.path).is_file():
            return Backend.EDGETPU
        return Backend.CPU

    def _load(self) -> None:
        if self._preferred == Backend.EDGETPU:
            reason = self._try_edgetpu()
            if reason is None:
                return
            self._use_cpu(reason)
            if self.input_dtype == np.float32 and not edgetpu_twin(self.path).is_file():
                # a float model (the face detector) is never compiled for the Edge TPU: the CPU is its place
                # under `backend = "edgetpu"` too, not a fallback that would mark the appliance degraded
                self._preferred = Backend.CPU
                self.backend = BackendStatus(Backend.CPU, Backend.CPU)
                log.info("%s: a float model, which the Edge TPU cannot run: on the CPU", self.path.name)
                return
            log.warning("%s: Edge TPU unavailable (%s); running on the CPU", self.path.name, reason)
        else:
            self._use_cpu("")

    def _try_edgetpu(self) -> str | None:
        """Load the compiled twin on the Edge TPU; the reason it failed, or None on success."""
        twin = edgetpu_twin(self.path)
        if not twin.is_file():
            return f"no compiled model {twin.name}"
        if damage := _crash_on_reading(twin):
            return damage
        options = {"device": self.edgetpu_device} if self.edgetpu_device else {}
        try:
            delegate = self._load_delegate(EDGETPU_LIBRARY, options)
            interpreter = Interpreter(model_path=str(twin), experimental_delegates=[delegate])
            interpreter.allocate_tensors()
        except (OSError, ValueError, RuntimeError) as err:
            return one_line(f"{type(err).__name__}: {err}")
        self._bind(interpreter)
        self.backend = BackendStatus(Backend.EDGETPU, Backend.EDGETPU)
        log.info("%s: running on the Edge TPU (%s)", self.path.name, self.edgetpu_device or "first device")
        return None

    def _use_cpu(self, reason: str) -> None:
        try:
            interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"{self.path}: not a model the TFLite runtime can load ({one_line(str(err))}); "
                             f"{FETCH_HINT}") from None
        self._bind(interpreter)
        self.backend = BackendStatus(self._preferred, Backend.CPU, reason)

    def _bind(self, interpreter: Any) -> None:
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]
        self._outputs = interpreter.get_output_details()
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in self._input["shape"])
        self.input_dtype = np.dtype(self._input["dtype"])
        self.output_shapes: list[tuple[int, ...]] = [tuple(int(d) for d in o["shape"]) for o in self._outputs]

    def quantise_input(self, values: np.ndarray) -> np.ndarray:
        """Real-valued input → the dtype the model takes (identity for float models)."""
        scale, zero_point = self._input["quantization"]
        return quantise(values, scale, zero_point, self.input_dtype)

    def run_raw(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Invoke with an input already in the model's dtype; outputs dequantised to float32.

        An Edge TPU that fails mid-run (unplugged) switches this model to the CPU and the frame is
        computed again there; :attr:`backend` records why.
        """
        start = time.perf_counter()
        try:
            return self._invoke(tensor)
        except (RuntimeError, ValueError) as err:
            if self.backend.actual != Backend.EDGETPU:
                raise
            log.error("%s: Edge TPU failed while running: %s; falling back to the CPU", self.path.name, err)
            self._use_cpu(one_line(f"Edge TPU failed while running: {err}"))
            return self._invoke(tensor)
        finally:
            if self.invoke_times is not None:
                self.invoke_times.append((time.perf_counter() - start) * 1000.0)

    def run(self, values: np.ndarray) -> list[np.ndarray]:
        """Invoke with real-valued input; outputs dequantised to float32."""
        return self.run_raw(self.quantise_input(values))

    def _invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        self._interpreter.set_tensor(self._input["index"], tensor)
        self._interpreter.invoke()
        return [self._dequantise(o) for o in self._outputs]

    def _dequantise(self, detail: dict[str, Any]) -> np.ndarray:
        scale, zero_point = detail["quantization"]
        return dequantise(self._interpreter.get_tensor(detail["index"]), scale, zero_point)

    def retry_edgetpu(self) -> bool:
        """Try the Edge TPU again after a fallback; True when it now runs there."""
        if self._preferred != Backend.EDGETPU or self.backend.actual == Backend.EDGETPU:
            return self.backend.actual == Backend.EDGETPU
        reason = self._try_edgetpu()
        if reason is not None:
            log.debug("%s: Edge TPU still unavailable: %s", self.path.name, reason)
            return False
        return True

