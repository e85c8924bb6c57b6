"""Face crops rotated and scaled from the detector's eye keypoints, framed as the emotion model expects.

The emotion models are trained on FER-2013 crops. ``scripts/measure_fer_framing.py`` runs our detector on
FER-2013 training faces and measures where the eyes sit in them (medians over 1,492 faces): eye centre at
(0.50, 0.40) of the crop, eyes 0.367 crop widths apart. Mapping the detected eyes onto those positions gives
a crop with FER-2013's framing, upright even when the head is tilted.
"""

from __future__ import annotations

import cv2
import numpy as np

FER_EYE_CENTRE = (0.50, 0.40)  # fraction of the crop's width and height
FER_EYE_DISTANCE = 0.367  # fraction of the crop's width


def alignment_matrix(right_eye: np.ndarray, left_eye: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 similarity transform that puts the eyes where FER-2013 crops have them."""
    delta = np.asarray(left_eye, np.float64) - np.asarray(right_eye, np.float64)
    eye_distance = max(float(np.hypot(*delta)), 1e-3)
    angle = np.arctan2(delta[1], delta[0])
    scale = FER_EYE_DISTANCE * size / eye_distance
    cos, sin = scale * np.cos(-angle), scale * np.sin(-angle)
    centre = (np.asarray(right_eye, np.float64) + np.asarray(left_eye, np.float64)) / 2
    rotation = np.array([[cos, -sin], [sin, cos]])
    target = np.array([FER_EYE_CENTRE[0] * size, FER_EYE_CENTRE[1] * size])
    return np.hstack([rotation, (target - rotation @ centre)[:, None]])


def align_face(frame: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray, size: int,
               gray: bool = True) -> np.ndarray:
    """An upright ``size`` x ``size`` crop (grayscale or BGR) of the face whose eyes are given (see :func:`warp`)."""
    return warp(frame, alignment_matrix(right_eye, left_eye, size), size, gray)


def warp(frame: np.ndarray, matrix: np.ndarray, size: int, gray: bool = False) -> np.ndarray:
    """The ``size`` x ``size`` crop that the 2x3 similarity ``matrix`` maps the frame onto (grayscale or BGR).

    A face much larger than the crop is first shrunk with area averaging, so the crop is not aliased.
    Parts of the crop outside the frame repeat its border.
    """
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    source, offset = _region_around(frame, matrix, size)
    if gray and source.ndim == 3:
        source = cv2.cvtColor(source, cv2.COLOR_BGR2GRAY)
    matrix = matrix.copy()
    matrix[:, 2] += matrix[:, :2] @ offset
    # shrink with INTER_AREA first (warpAffine alone would alias), unless the part of the frame in the crop is
    # too thin to shrink: a face mostly outside the frame, where the crop is its border repeated anyway
    if scale < 0.5 and min(source.shape[:2]) * scale >= 1:
        shrunk = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        matrix[:, :2] /= scale
        source = shrunk
    return cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _region_around(frame: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of the frame the crop covers (a view, no copy) and its top-left corner in the frame."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inverse.T
    height, width = frame.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int) - 1, 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 2, [x0 + 1, y0 + 1], [width, height])
    return frame[y0:y1, x0:x1], np.array([x0, y0], np.float64)
