"""Cheaper detection while faces are tracked: the full-frame detector now and then, regions in between.

The full-frame detector (BlazeFace full-range, 192x192) runs on the first frame, on every
``full_detect_every``-th frame after it (a new face shows up within that many frames), whenever a tracked
face was not found, and whenever more faces are tracked than ``max_regions``. On the frames between, a
smaller detector (BlazeFace short-range, 128x128, made for faces that fill much of its picture) runs only on
an enlarged square around each tracked face; what it finds is mapped back to frame pixels.

The two models frame a face differently (short-range's box is smaller and sits lower), so a region's box
is not the region detector's own: the track's last full-frame box is carried along by the keypoints (moved
with their centre, scaled with their spread), and stays comparable with the full detector's boxes.
"""

from __future__ import annotations

import numpy as np

from todayfeeling.config.settings import TrackingConfig
from todayfeeling.inference.faces import Face, FaceDetector
from todayfeeling.inference.tracks import FaceTracks, Track, box_iou, match_cost

CARRYING_KEYPOINTS = slice(0, 4)  # eyes, nose tip, mouth centre: the ears are often guessed at an angle
SAME_FACE_IOU = 0.5  # two regions that found one face: a track is lost (full detection)


class TrackedDetection:
    """Faces of consecutive frames, each with its track id; see the module docstring."""

    def __init__(self, full: FaceDetector, region: FaceDetector, tracks: FaceTracks,
                 config: TrackingConfig) -> None:
        self.full = full
        self.region = region
        self.tracks = tracks
        self.config = config
        self._since_full: int | None = None  # frames since the last full-frame detection; None: none yet

    def detect(self, frame_bgr: np.ndarray) -> tuple[list[Face], list[int]]:
        """The frame's faces, largest first, and the track id of each."""
        faces = self._in_regions(frame_bgr) if self._regions_due() else None
        full_frame = faces is None
        if faces is None:
            faces = self.full.detect(frame_bgr)
            self._since_full = 0
        else:
            assert self._since_full is not None  # regions need a full detection before them
            self._since_full += 1
        return faces, self.tracks.update(faces, full_frame=full_frame)

    def reset(self) -> None:
        """Forget the tracks: the next frame is read by the full detector."""
        self.tracks.reset()
        self._since_full = None

    def _regions_due(self) -> bool:
        live = self.tracks.live
        return (self._since_full is not None and self._since_full + 1 < self.config.full_detect_every
                and 0 < len(live) <= self.config.max_regions and all(t.missed == 0 for t in live))

    def _in_regions(self, frame_bgr: np.ndarray) -> list[Face] | None:
        """Each tracked face found again in its region, or None when one of them was not."""
        faces: list[Face] = []
        for track in self.tracks.live:
            face = self._find(frame_bgr, track)
            if face is None or any(box_iou(face.box, other.box) > SAME_FACE_IOU for other in faces):
                return None
            faces.append(face)
        faces.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)  # as the full detector gives them
        return faces

    def _find(self, frame_bgr: np.ndarray, track: Track) -> Face | None:
        x0, y0, x1, y1 = region_around(track.face.box, self.config.region_scale, frame_bgr.shape[1],
                                       frame_bgr.shape[0])
        found = [shifted(face, x0, y0) for face in self.region.detect(frame_bgr[y0:y1, x0:x1])]
        costs = [(cost, index) for index, face in enumerate(found)
                 if (cost := match_cost(track.face, face)) is not None]
        if not costs:
            return None
        face = found[min(costs)[1]]
        return Face(carried_box(track.anchor, face.keypoints), face.score, face.keypoints)


def region_around(box: tuple[float, float, float, float], scale: float, width: int,
                  height: int) -> tuple[int, int, int, int]:
    """The square of ``scale`` times the box's longer side around its centre, clipped to the frame:
    (x0, y0, x1, y1) in whole pixels."""
    x, y, w, h = box
    half = scale * max(w, h) / 2
    cx, cy = x + w / 2, y + h / 2
    # clipped into the frame on both sides: a face tracked in a larger frame (the source changed size) may lie
    # beyond this one's edge, and an empty region would reach the detector
    x0, y0 = min(max(0, int(cx - half)), width - 1), min(max(0, int(cy - half)), height - 1)
    x1, y1 = min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def shifted(face: Face, dx: float, dy: float) -> Face:
    """``face`` found in a region whose top-left corner is at (dx, dy) of the frame, in frame pixels."""
    x, y, w, h = face.box
    return Face((x + dx, y + dy, w, h), face.score, face.keypoints + np.array([dx, dy], np.float32))


def carried_box(anchor: Face, keypoints: np.ndarray) -> tuple[float, float, float, float]:
    """``anchor``'s box moved and scaled the way its keypoints moved to ``keypoints``."""
    before, after = anchor.keypoints[CARRYING_KEYPOINTS], keypoints[CARRYING_KEYPOINTS]
    centre_before, centre_after = before.mean(0), after.mean(0)
    spread_before = float(np.linalg.norm(before - centre_before, axis=1).mean())
    spread_after = float(np.linalg.norm(after - centre_after, axis=1).mean())
    scale = spread_after / max(spread_before, 1e-6)
    x, y, w, h = anchor.box
    return (float(centre_after[0] + (x - centre_before[0]) * scale),
            float(centre_after[1] + (y - centre_before[1]) * scale), float(w * scale), float(h * scale))
