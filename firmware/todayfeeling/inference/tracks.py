"""Face tracks: each face followed from frame to frame with a stable id, and its probabilities smoothed.

A frame's faces are matched to the live tracks by box overlap (IoU) and keypoint distance: a pair may match
when the boxes overlap by at least :data:`MIN_IOU` or the keypoints moved on average by at most
:data:`MAX_KEYPOINT_SHIFT` of the track's box side; among those, the cheapest pairs (cost: 1 - IoU plus the
keypoint shift) are taken first (greedy matching, exact enough for the few faces of a room). A face left over
starts a new track; a track without its face for more than ``max_missed`` frames ends. Ids are never reused
while the tracks live (a new :class:`FaceTracks` starts again at 1).

Each track keeps an exponential moving average of its emotion probabilities: ``smoothing`` is the weight of
the track's past, so one odd frame moves a face's reading only part of the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from todayfeeling.config.settings import TrackingConfig
from todayfeeling.inference.faces import Face

MIN_IOU = 0.3  # boxes overlapping this much may be the same face
MAX_KEYPOINT_SHIFT = 0.5  # or keypoints moved on average at most this fraction of the box side


@dataclass
class Track:
    """One face followed over frames (read it; :class:`FaceTracks` changes it)."""

    id: int
    face: Face  # where it was last seen
    anchor: Face  # where the full-frame detector last saw it (its boxes are the reference)
    missed: int = 0  # frames in a row without its face
    probabilities: np.ndarray | None = None  # the running average; None until the first reading


class FaceTracks:
    """The faces followed over consecutive frames of one source; not thread-safe (one loop owns it)."""

    def __init__(self, config: TrackingConfig) -> None:
        self.config = config
        self._tracks: dict[int, Track] = {}
        self._next_id = 1

    @property
    def live(self) -> list[Track]:
        """The live tracks, oldest first (a track missed for a frame or two is still live)."""
        return list(self._tracks.values())

    def update(self, faces: Sequence[Face], full_frame: bool = True) -> list[int]:
        """Match one frame's faces to the tracks; the track id of each face, in the order given.

        ``full_frame``: the faces come from the full-frame detector (they become the tracks' anchors).
        """
        pairs = sorted((cost, index, track_id)
                       for index, face in enumerate(faces)
                       for track_id, track in self._tracks.items()
                       if (cost := match_cost(track.face, face)) is not None)
        assigned: dict[int, int] = {}
        for _, index, track_id in pairs:
            if index not in assigned and track_id not in assigned.values():
                assigned[index] = track_id
        for track_id in set(self._tracks) - set(assigned.values()):
            track = self._tracks[track_id]
            track.missed += 1
            if track.missed > self.config.max_missed:
                del self._tracks[track_id]
        ids = []
        for index, face in enumerate(faces):
            if index in assigned:
                track = self._tracks[assigned[index]]
                track.face, track.missed = face, 0
                if full_frame:
                    track.anchor = face
            else:
                track = self._tracks[self._next_id] = Track(self._next_id, face, face)
                self._next_id += 1
            ids.append(track.id)
        return ids

    def smooth(self, track_id: int, probabilities: np.ndarray) -> np.ndarray:
        """The track's running average after this frame's ``probabilities`` (a track's first: as given)."""
        track = self._tracks[track_id]
        if track.probabilities is None:
            track.probabilities = np.asarray(probabilities, np.float32)
        else:
            past = self.config.smoothing
            track.probabilities = (past * track.probabilities + (1.0 - past) * probabilities).astype(np.float32)
        return track.probabilities

    def reset(self) -> None:
        """Forget every track (the camera was off, or another source starts); ids go on counting."""
        self._tracks.clear()


def match_cost(track_face: Face, face: Face) -> float | None:
    """How unlike a track's last face ``face`` is (0: the same place), or None when they cannot match."""
    overlap = box_iou(track_face.box, face.box)
    side = max(float(np.sqrt(track_face.box[2] * track_face.box[3])), 1e-6)
    shift = float(np.linalg.norm(track_face.keypoints - face.keypoints, axis=1).mean()) / side
    if overlap < MIN_IOU and shift > MAX_KEYPOINT_SHIFT:
        return None
    return (1.0 - overlap) + shift


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
