"""The guided camera enrolment (`people add NAME --camera`): its steps, the quality checks and their hints.

A session is a list of :class:`Step`: a few seconds of neutral first, then each emotion the person chose to
show. Each step says its instruction (on the terminal and, where speech is on, aloud), then reads frames
until it has its shots, its time is up (``timeout``: it goes on with what it has, perhaps nothing) or the
person skips it. A frame becomes a shot only when it passes every check of :func:`assess`, in this order:
exactly one face, large enough, roughly frontal, lit, sharp. The first check that fails gives its hint
("come closer", "look straight at the camera", "more light", "hold still"), said again only when the
problem changes or persists for ``HINT_REPEAT_S``. Shots of a live camera are ``interval`` seconds apart
(the first that long after the instruction), so they differ and an emotion has time to show.

The shots stay in memory and are handed over as :class:`Capture` for
:meth:`~todayfeeling.people.enrolment.Enrolment.add_image`, labelled as ``DIR/<label>/`` photos would be:
the same enrolment as ``--from``. Nothing of a frame is written anywhere.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from todayfeeling.camera.base import FrameSource
from todayfeeling.evaluation import emotion_for_label
from todayfeeling.inference.faces import Face, FaceDetector
from todayfeeling.people.database import PeopleError
from todayfeeling.vocabulary import Emotion

STEP_TIMEOUT_S = 20.0  # how long a step waits for its shots by default (`--timeout`)
SHOT_INTERVAL_S = 1.0  # between two shots of a live camera: neutral's three shots take a few seconds
HINT_REPEAT_S = 4.0  # a problem that persists is said again this often
NEUTRAL_SHOTS = 3
EMOTION_SHOTS = 2
CROP_SIZE = 96  # the face is measured (light, sharpness) at this size, whatever its size in the frame

# The emotions asked for after neutral, in the order asked (the easiest to show first), and how.
EMOTION_FACES = {
    Emotion.HAPPINESS: "a happy face, a big smile",
    Emotion.SURPRISE: "a surprised face",
    Emotion.SADNESS: "a sad face",
    Emotion.ANGER: "an angry face",
    Emotion.FEAR: "a frightened face",
}
NEUTRAL_INSTRUCTION = "Look at the camera with a relaxed, neutral face."
FINISHED = "Thank you, that is all."


class Problem(Enum):
    """Why a frame is not a good shot; the value is the hint, said and shown."""

    NO_FACE = "I cannot see your face. Please sit in front of the camera."
    FACES = "I can see more than one face. Only you, please."
    SMALL = "Come closer, please."
    TURNED = "Look straight at the camera, please."
    DARK = "More light, please."
    BRIGHT = "Too bright. Move out of the glare, please."
    BLURRED = "Hold still, please."


@dataclass(frozen=True)
class QualityLimits:
    """What a good shot needs. Measured on the face_smoke photos (BlazeFace full range): frontal faces turn
    0.03-0.14, biden.jpg's half-turned one 0.33; sharpness 0.17-0.63 (alex-lacamoire.png, a soft upscaled
    photo: 0.07), obama.jpg blurred (Gaussian sigma 2, 4; a 25-pixel motion streak) 0.14, 0.04, 0.10; faces
    are lit 93-172, obama.jpg at 15 % 21, at 180 % 222."""

    min_face_px: float = 80.0  # the box's width: SFace's crop is 112 px, and far faces verify worse
    max_turn: float = 0.25  # keypoint asymmetry (see :func:`turn`)
    min_brightness: float = 50.0  # the face crop's mean grey level
    max_brightness: float = 210.0
    min_sharpness: float = 0.12  # the face crop's Laplacian variance over its grey-level variance


@dataclass(frozen=True)
class Verdict:
    """What :func:`assess` found: the problem (None for a good shot), the measurement behind it, the face."""

    problem: Problem | None
    detail: str = ""
    face: Face | None = None


def turn(face: Face) -> float:
    """How far the face is turned away, from the symmetry of its keypoints: the larger of the nose's offset
    from the eyes' midpoint (over the eye distance) and the difference of the nose's distances to the two
    ears (over their sum). 0 for a frontal face."""
    right_eye, left_eye, nose, _mouth, right_ear, left_ear = face.keypoints
    eye_distance = max(float(np.linalg.norm(left_eye - right_eye)), 1e-6)
    nose_offset = abs(float(nose[0] - (right_eye[0] + left_eye[0]) / 2)) / eye_distance
    to_right, to_left = float(np.linalg.norm(nose - right_ear)), float(np.linalg.norm(nose - left_ear))
    return max(nose_offset, abs(to_right - to_left) / max(to_right + to_left, 1e-6))


def face_grey(image: np.ndarray, face: Face) -> np.ndarray:
    """The face's box (clipped to the frame) in grey, ``CROP_SIZE`` square."""
    x, y, w, h = face.box
    height, width = image.shape[:2]
    x0, y0 = min(max(int(x), 0), width - 1), min(max(int(y), 0), height - 1)
    x1, y1 = max(min(int(x + w), width), x0 + 1), max(min(int(y + h), height), y0 + 1)
    grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)


def sharpness(grey: np.ndarray) -> float:
    """The Laplacian's variance over the grey levels' variance: edges for the contrast there is, so a dim
    face is not taken for a blurred one."""
    return float(cv2.Laplacian(grey, cv2.CV_64F).var()) / max(float(grey.var()), 1.0)


def assess(image: np.ndarray, faces: Sequence[Face], limits: QualityLimits) -> Verdict:
    """Whether a frame with these detected faces is a good shot, else its first problem (module docstring)."""
    if not faces:
        return Verdict(Problem.NO_FACE, "no face found")
    if len(faces) > 1:
        return Verdict(Problem.FACES, f"{len(faces)} faces")
    face = faces[0]
    if face.box[2] < limits.min_face_px:
        return Verdict(Problem.SMALL, f"face {face.box[2]:.0f} px wide, needs {limits.min_face_px:g}")
    turned = turn(face)
    if turned > limits.max_turn:
        return Verdict(Problem.TURNED, f"turned {turned:.2f}, at most {limits.max_turn:g}")
    grey = face_grey(image, face)
    brightness = float(grey.mean())
    if brightness < limits.min_brightness:
        return Verdict(Problem.DARK, f"brightness {brightness:.0f}, needs {limits.min_brightness:g}")
    if brightness > limits.max_brightness:
        return Verdict(Problem.BRIGHT, f"brightness {brightness:.0f}, at most {limits.max_brightness:g}")
    sharp = sharpness(grey)
    if sharp < limits.min_sharpness:
        return Verdict(Problem.BLURRED, f"sharpness {sharp:.2f}, needs {limits.min_sharpness:g}")
    return Verdict(None, face=face)


@dataclass(frozen=True)
class Step:
    """One step of a session: the label its shots get, what the person is asked, how many shots it wants."""

    label: str
    instruction: str
    shots: int


def parse_emotions(text: str | None) -> list[str]:
    """The emotions asked for after neutral: ``--emotions`` (comma-separated names or their folder aliases,
    ``none`` for neutral only), all five by default; PeopleError naming a wrong one."""
    if text is None:
        return [str(emotion) for emotion in EMOTION_FACES]
    if text.strip().lower() == "none":
        return []
    chosen: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        emotion = emotion_for_label(word)
        if emotion not in EMOTION_FACES:
            known = ", ".join(str(e) for e in EMOTION_FACES)
            why = "is always the first step" if emotion == Emotion.NEUTRAL else f"is not one of {known} (or none)"
            raise PeopleError(f"--emotions: {word!r} {why}")
        if emotion not in chosen:
            chosen.append(emotion)
    return chosen


def session_steps(emotions: Sequence[str]) -> list[Step]:
    """Neutral, then each of ``emotions`` (names of :data:`EMOTION_FACES`)."""
    return [Step(str(Emotion.NEUTRAL), NEUTRAL_INSTRUCTION, NEUTRAL_SHOTS)] + [
        Step(emotion, f"Now show me {EMOTION_FACES[Emotion(emotion)]}, if you like.", EMOTION_SHOTS)
        for emotion in emotions]


@dataclass(frozen=True)
class Capture:
    """A good shot, in memory only: what names it in messages, its emotion label, the frame."""

    path: Path
    label: str
    image: np.ndarray


class Speaker(Protocol):
    """Says a text aloud (:class:`~todayfeeling.people.prompts.Speech`); ``wait``: until it is said."""

    def say(self, text: str, wait: bool = False) -> None: ...


class GuidedSession:
    """Runs the steps on an opened source (module docstring). ``show`` prints a line on the terminal;
    ``skip()`` is true when the person asked to skip the current step (e.g. pressed Enter)."""

    def __init__(self, source: FrameSource, detector: FaceDetector, speaker: Speaker, *,
                 show: Callable[[str], None], timeout: float = STEP_TIMEOUT_S, interval: float = SHOT_INTERVAL_S,
                 skip: Callable[[], bool] = lambda: False, limits: QualityLimits = QualityLimits()) -> None:
        if not timeout > 0 or not math.isfinite(timeout):  # nan would never end a step
            raise PeopleError(f"--timeout: {timeout:g} s: a step needs a positive time to wait for its shots")
        self._source = source
        self._detector = detector
        self._speaker = speaker
        self._show = show
        self._timeout = timeout
        self._interval = interval
        self._skip = skip
        self._limits = limits
        self._ended = False
        self._pictures = 0  # frames read in the whole session
        self._last_hint: tuple[Problem | None, float] = (None, 0.0)

    def run(self, steps: Sequence[Step]) -> list[Capture]:
        """The good shots of every step, in order."""
        captures: list[Capture] = []
        for step in steps:
            if self._ended:
                self._show(f"[{step.label}] skipped: {self._source.name} has no more frames")
                continue
            captures += self._step(step, first=len(captures) + 1)
        self._speaker.say(FINISHED, wait=True)
        return captures

    def _step(self, step: Step, first: int) -> list[Capture]:
        self._show(f"[{step.label}] {step.instruction}")
        self._speaker.say(step.instruction, wait=True)
        self._skip()  # a key pressed before the step began does not skip it
        self._last_hint = (None, 0.0)
        now = time.monotonic()
        deadline, next_shot = now + self._timeout, now + self._interval
        captures: list[Capture] = []
        while len(captures) < step.shots:
            if self._skip():
                self._show(f"  skipped ({len(captures)} of {step.shots} shots)")
                break
            now = time.monotonic()
            if now >= deadline:
                if self._pictures == 0:  # a missing or busy camera: not the person's fault, and no use going on
                    raise PeopleError(f"{self._source.name}: no picture in {self._timeout:g} s "
                                      f"({self._source.status.text}): is another program using the camera?")
                self._show(f"  {len(captures)} of {step.shots} shots within {self._timeout:g} s: going on")
                break
            frame = self._source.read(timeout=min(1.0, deadline - now))
            if frame is None:
                if self._source.is_finite:
                    self._ended = True
                    self._show(f"  {self._source.name} has no more frames ({len(captures)} of {step.shots} shots)")
                    break
                continue
            self._pictures += 1
            verdict = assess(frame.image, self._detector.detect(frame.image), self._limits)
            if verdict.problem is not None:
                self._hint(verdict.problem, verdict.detail)
                continue
            now = time.monotonic()
            if now < next_shot:
                continue
            captures.append(Capture(Path(f"shot {first + len(captures)} ({step.label})"), step.label, frame.image))
            self._show(f"  shot {len(captures)} of {step.shots}")
            next_shot = now + self._interval
        return captures

    def _hint(self, problem: Problem, detail: str) -> None:
        now = time.monotonic()
        last, when = self._last_hint
        if problem is last and now - when < HINT_REPEAT_S:
            return
        self._last_hint = (problem, now)
        self._show(f"  {problem.value} ({detail})")
        self._speaker.say(problem.value)
