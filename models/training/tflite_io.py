"""Load a TFLite interpreter from whichever runtime is installed, and run one face."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from todayfeeling.scoring import dequantise, quantise


def load_interpreter(path: Path, threads: int = 1):
    """Return an allocated interpreter (ai_edge_litert, tflite_runtime or tensorflow.lite)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    return interp


def resize(face: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a uint8 grayscale face (OpenCV if present, else Pillow)."""
    try:
        import cv2

        return cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
    except ImportError:
        from PIL import Image

        return np.asarray(Image.fromarray(face).resize((size, size), Image.BILINEAR))


class EmotionRunner:
    """Run an emotion .tflite on 48x48 uint8 faces, handling int8/float input, size and normalisation.

    ``float_norm`` maps a pixel to the float model input: (scale, offset) so x = p*scale + offset.
    """

    def __init__(self, path: Path, float_norm: tuple[float, float] = (1 / 255, 0.0), threads: int = 1):
        self.interp = load_interpreter(path, threads)
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.size = int(self.inp["shape"][1])
        self.float_norm = float_norm

    def _prepare(self, face: np.ndarray) -> np.ndarray:
        if face.shape[0] != self.size:
            face = resize(face, self.size)
        x = face.astype(np.float32) * self.float_norm[0] + self.float_norm[1]
        scale, zero = self.inp["quantization"]
        return quantise(x, scale, zero, self.inp["dtype"]).reshape(self.inp["shape"])

    def __call__(self, face: np.ndarray) -> np.ndarray:
        """Class probabilities (float, model's own label order) for one uint8 face."""
        self.interp.set_tensor(self.inp["index"], self._prepare(face))
        self.interp.invoke()
        scale, zero = self.out["quantization"]
        return dequantise(self.interp.get_tensor(self.out["index"])[0], scale, zero).astype(np.float32)
