"""Face detection with MediaPipe's BlazeFace (short-range or full-range) TFLite models.

The frame is letterboxed to the model's square input, the model's anchors are decoded into boxes and six
keypoints, and overlapping boxes are merged by weighted non-maximum suppression (MediaPipe's blending).
Boxes and keypoints come back in pixels of the original frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from todayfeeling.inference.manifest import ModelSpec
from todayfeeling.inference.runtime import TFLiteModel


@dataclass(frozen=True)
class AnchorLayout:
    """MediaPipe's SSD anchor settings (face_detection_*_range_common.pbtxt): strides per layer and anchors
    per cell; layers that share a stride share a grid."""

    strides: tuple[int, ...]
    per_layer: int


_ANCHOR_LAYOUTS = {
    "short_range": AnchorLayout(strides=(8, 16, 16, 16), per_layer=2),
    "full_range": AnchorLayout(strides=(4,), per_layer=1),
}
MIN_SCORE = 0.5  # MediaPipe's default min_detection_confidence
NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold


@dataclass(frozen=True)
class Face:
    """One detected face: box (x, y, w, h) and keypoints (6 x 2) in frame pixels.

    The keypoints in MediaPipe's order: right eye, left eye, nose tip, mouth centre, right ear tragion,
    left ear tragion (the subject's right and left).
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray

    @property
    def right_eye(self) -> np.ndarray:
        """The subject's right eye (on the left of an unmirrored image)."""
        return self.keypoints[0]

    @property
    def left_eye(self) -> np.ndarray:
        """The subject's left eye."""
        return self.keypoints[1]


def make_anchors(input_size: int, variant: str) -> np.ndarray:
    """Anchor centres (N x 2, normalised) in the order the model emits its predictions."""
    layout = _ANCHOR_LAYOUTS[variant]
    centres: list[np.ndarray] = []
    strides = layout.strides
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        repeats = 0
        while layer < len(strides) and strides[layer] == stride:
            repeats += layout.per_layer
            layer += 1
        cells = int(np.ceil(input_size / stride))
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1)
        centres.append(np.repeat(grid, repeats, axis=0))
    return np.concatenate(centres).astype(np.float32)


class FaceDetector:
    """BlazeFace on a BGR frame: ``detect(frame) -> list[Face]``, largest first."""

    def __init__(self, spec: ModelSpec, model: TFLiteModel, min_score: float = MIN_SCORE,
                 min_size: float = 0.0, max_faces: int = 10) -> None:
        self.spec = spec
        self.model = model
        self.variant = spec.extra.get("detector", {}).get("variant", "full_range")
        self.size = spec.input_shape[1]
        self.anchors = make_anchors(self.size, self.variant)
        self.min_score = min_score
        self.min_size = min_size
        self.max_faces = max_faces
        boxes_index = [i for i, shape in enumerate(model.output_shapes) if shape[-1] == 16]
        self._boxes_output = boxes_index[0]
        self._scores_output = 1 - self._boxes_output

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        """Faces in a BGR uint8 frame, in its pixels, largest first."""
        tensor, scale, pad_x, pad_y = self._letterbox(frame_bgr)
        outputs = self.model.run_raw(tensor)
        raw_boxes, raw_scores = outputs[self._boxes_output][0], outputs[self._scores_output][0, :, 0]
        logit_threshold = np.log(self.min_score / (1.0 - self.min_score))
        keep = raw_scores > logit_threshold
        if not np.any(keep):
            return []
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[keep], -100, 100)))
        decoded = self._decode(raw_boxes[keep], self.anchors[keep])
        # back to frame pixels: undo the letterbox padding and scaling
        decoded[:, 0::2] = (decoded[:, 0::2] * self.size - pad_x) / scale
        decoded[:, 1::2] = (decoded[:, 1::2] * self.size - pad_y) / scale
        faces = []
        for row, score in weighted_nms(decoded, scores, NMS_IOU):
            x0, y0, x1, y1 = row[:4]
            w, h = x1 - x0, y1 - y0
            if min(w, h) < self.min_size:
                continue
            faces.append(Face((float(x0), float(y0), float(w), float(h)), float(score), row[4:].reshape(6, 2)))
        faces.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)
        return faces[: self.max_faces]

    def _letterbox(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        height, width = frame_bgr.shape[:2]
        scale = self.size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        pad_x, pad_y = (self.size - new_w) / 2, (self.size - new_h) / 2
        resized = shrink(frame_bgr, (new_w, new_h))
        canvas = np.zeros((self.size, self.size, 3), np.uint8)
        top, left = int(pad_y), int(pad_x)
        canvas[top:top + new_h, left:left + new_w] = resized
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
        real = rgb.astype(np.float32) * self.spec.norm_scale + self.spec.norm_offset
        return self.model.quantise_input(real[None]), scale, float(left), float(top)

    def _decode(self, raw: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """Raw regressors → rows of (x0, y0, x1, y1, kx0, ky0, …) normalised to the input square."""
        offsets = raw / self.size
        cx = offsets[:, 0] + anchors[:, 0]
        cy = offsets[:, 1] + anchors[:, 1]
        half_w, half_h = offsets[:, 2] / 2, offsets[:, 3] / 2
        keypoints = offsets[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        corners = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
        return np.concatenate([corners, keypoints.reshape(-1, 12)], axis=1)


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (width, height): halved with area averaging while it is at least twice
    too big (OpenCV's fast exact path), then one bilinear step. About as sharp as one INTER_AREA resize by a
    non-integer factor, at a seventh of its cost on a 640x480 frame (benchmarks/README.md).
    """
    width, height = size
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def weighted_nms(rows: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted NMS: each cluster of overlapping detections is averaged, weighted by score.

    ``rows`` start with (x0, y0, x1, y1); every column is blended. Returns (row, best score) per cluster.
    """
    order = np.argsort(-scores)
    rows, scores = rows[order], scores[order]
    remaining = np.ones(len(scores), bool)
    merged = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = _iou(rows[i, :4], rows[:, :4]) > iou_threshold
        cluster = remaining & overlap
        remaining &= ~cluster
        weights = scores[cluster]
        merged.append(((rows[cluster] * weights[:, None]).sum(0) / weights.sum(), float(scores[i])))
    return merged


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)
