"""How fast and lean the vision pipeline is on this machine: what `todayfeeling bench` measures.

One pass pulls frames from a source (a video, a folder of frames, or a generated 640x480 frame with a real
face), runs them through the pipeline and the mood tracker, and times every stage; the models' own invokes
are timed too, so the cost of everything around them (decode, resize, alignment, anchors, bookkeeping) shows.
Passes are repeated with 1..N TFLite threads; the first pass gives the stage figures. Start-up to the first
result is measured in a fresh process running ``todayfeeling detect`` on the first frame, from launch
(interpreter, imports, models) to its first output line; its peak resident memory comes from the kernel's
accounting of that child.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from todayfeeling.camera.base import CameraError
from todayfeeling.camera.files import ImageFolderSource, VideoFileSource
from todayfeeling.emotions import EMOTIONS
from todayfeeling.inference.config import InferenceConfig
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.inference.runtime import TFLiteModel
from todayfeeling.mood import FaceObservation, MoodTracker

STAGES = ("capture", "detect", "align", "classify", "mood", "frame")
FRAME_SIZE = (640, 480)
WARMUP_FRAMES = 3  # first invokes allocate and warm caches; not counted


class BenchError(Exception):
    """A source that cannot be benchmarked."""


# -- frames ----------------------------------------------------------------------------------------------

def generated_frame(manifest: Manifest, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The demo picture (one real face) scaled to the frame's height, centred on a mid-grey frame."""
    image = cv2.imread(str(manifest.spec("demo_face", "demo").path), cv2.IMREAD_COLOR)
    if image is None:
        raise BenchError("the demo picture is not readable; run models/fetch_models.py")
    width, height = size
    side = min(width, height)
    picture = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), 128, np.uint8)
    x, y = (width - side) // 2, (height - side) // 2
    frame[y:y + side, x:x + side] = picture
    return frame


class FrameFeed:
    """Endless frames from a video or a folder (started again at its end), or copies of one frame.

    ``next()`` returns a frame and the milliseconds it took to capture or decode it.
    """

    def __init__(self, source: Path | None, frame: np.ndarray | None = None) -> None:
        self.source = source
        self._frame = frame
        self._reader: VideoFileSource | ImageFolderSource | None = None
        if source is not None:
            self._reader = ImageFolderSource(source) if source.is_dir() else VideoFileSource(source)
            try:
                self._reader.open()
            except CameraError as err:
                raise BenchError(str(err)) from None
        elif frame is None:
            raise BenchError("a source or a frame is needed")

    @property
    def name(self) -> str:
        """What the frames are, for the report."""
        return str(self.source) if self.source else f"generated {FRAME_SIZE[0]}x{FRAME_SIZE[1]} frame"

    def next(self) -> tuple[np.ndarray, float]:
        """The next frame and its capture/decode time in ms."""
        start = time.perf_counter()
        if self._reader is None:
            image = self._frame.copy()  # a camera hands over a new buffer per frame
        else:
            frame = self._reader.read()
            if frame is None:
                self._reader.close()
                self._reader.open()
                frame = self._reader.read()
            if frame is None:
                raise BenchError(f"{self.source}: no readable frames")
            image = frame.image
        return image, (time.perf_counter() - start) * 1000.0

    def close(self) -> None:
        """Release the video or folder."""
        if self._reader is not None:
            self._reader.close()


# -- measuring -------------------------------------------------------------------------------------------

@contextlib.contextmanager
def timed_invokes(model: TFLiteModel) -> Iterator[list[float]]:
    """Record the milliseconds of every model invoke (input set, invoke, outputs read) while active."""
    durations: list[float] = []
    original = model.run_raw

    def timed(tensor: np.ndarray) -> list[np.ndarray]:
        start = time.perf_counter()
        try:
            return original(tensor)
        finally:
            durations.append((time.perf_counter() - start) * 1000.0)

    model.run_raw = timed  # an instance attribute shadows the method for this model only
    try:
        yield durations
    finally:
        del model.run_raw


def summary(values: list[float]) -> dict[str, float]:
    """Median and 95th percentile (nearest rank), rounded to microseconds."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, int(np.ceil(0.95 * len(ordered))) - 1))]
    return {"median": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


@dataclass
class PassResult:
    """One pass over the frames with a given number of TFLite threads."""

    threads: int
    frames: int
    wall_s: float
    cpu_s: float
    stages: dict[str, list[float]]
    detector_invokes: list[float]
    classifier_invokes: list[float]
    faces: list[int]

    def as_dict(self) -> dict[str, Any]:
        """Frames per second, CPU per frame and every stage's median and p95, for JSON."""
        return {
            "threads": self.threads,
            "fps": round(self.frames / self.wall_s, 2),
            "cpu_ms_per_frame": round(self.cpu_s * 1000.0 / self.frames, 3),
            "stages_ms": {stage: summary(values) for stage, values in self.stages.items()},
        }


def measure_pass(pipeline: FacePipeline, feed: FrameFeed, frames: int, threads: int) -> PassResult:
    """Run ``frames`` frames (after a short warm-up) through pipeline and mood tracker, timing each stage."""
    tracker = MoodTracker()
    for _ in range(WARMUP_FRAMES):
        pipeline.process(feed.next()[0])
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    faces: list[int] = []
    with timed_invokes(pipeline.detector.model) as detector_ms, timed_invokes(pipeline.classifier.model) as cls_ms:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for _ in range(frames):
            start = time.perf_counter()
            frame, capture_ms = feed.next()
            result = pipeline.process(frame)
            processed = time.perf_counter()
            tracker.update(time.monotonic(), [
                FaceObservation({e: float(p) for e, p in zip(EMOTIONS, f.probabilities, strict=True)},
                                f.face.box, f.face.score) for f in result.faces])
            end = time.perf_counter()
            stages["capture"].append(capture_ms)
            for stage in ("detect", "align", "classify"):
                stages[stage].append(result.ms[stage])
            stages["mood"].append((end - processed) * 1000.0)
            stages["frame"].append((end - start) * 1000.0)
            faces.append(len(result.faces))
        wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    return PassResult(threads, frames, wall, cpu, stages, list(detector_ms), list(cls_ms), faces)


def overhead(result: PassResult) -> dict[str, Any]:
    """The whole frame against the models' own invokes: detector + classifier invokes per frame (medians)."""
    detector = statistics.median(result.detector_invokes)
    classifier = statistics.median(result.classifier_invokes) if result.classifier_invokes else 0.0
    per_frame = len(result.classifier_invokes) / result.frames
    invokes = detector + per_frame * classifier
    frame = statistics.median(result.stages["frame"])
    process = statistics.median([d + a + c for d, a, c in zip(
        result.stages["detect"], result.stages["align"], result.stages["classify"], strict=True)])
    return {
        "detector_invoke_ms": round(detector, 3), "classifier_invoke_ms": round(classifier, 3),
        "classifier_invokes_per_frame": round(per_frame, 2), "invokes_ms": round(invokes, 3),
        "frame_over_invokes": round(frame / invokes, 3), "pipeline_over_invokes": round(process / invokes, 3),
    }


def measure_idle(pipeline: FacePipeline, frames: int, idle_fps: float) -> dict[str, Any]:
    """CPU per frame with nobody in view (a plain grey frame: detector only), and what the vision part of the
    idle appliance costs at the daemon's idle frame rate (the daemon's own overhead not included)."""
    feed = FrameFeed(None, np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), 128, np.uint8))
    result = measure_pass(pipeline, feed, frames, pipeline.detector.model.threads)
    cpu_ms = result.cpu_s * 1000.0 / result.frames
    return {"cpu_ms_per_empty_frame": round(cpu_ms, 3), "idle_fps": idle_fps,
            "percent_of_one_core": round(cpu_ms * idle_fps / 10.0, 2)}


@dataclass
class StartupResult:
    """Launch to first result of a fresh `todayfeeling detect`, and that process's peak memory."""

    seconds: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Median and each run, for JSON."""
        return {"first_result_s": round(statistics.median(self.seconds), 3),
                "runs_s": [round(s, 3) for s in self.seconds],
                "peak_rss_mb": round(max(self.peak_rss_mb), 1)}


def measure_startup(frame: np.ndarray, cli_options: list[str], runs: int = 3) -> StartupResult:
    """Launch ``python -m todayfeeling detect --json FRAME`` ``runs`` times; time launch → first output line.

    The first run may include a cold disk cache; the median is reported with every run beside it.
    """
    result = StartupResult()
    with tempfile.TemporaryDirectory(prefix="todayfeeling-bench-") as folder:
        image = Path(folder) / "frame.png"
        cv2.imwrite(str(image), frame)
        command = [sys.executable, "-m", "todayfeeling", "detect", "--json", *cli_options, str(image)]
        for _ in range(runs):
            start = time.perf_counter()
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            first_line = child.stdout.readline()
            elapsed = time.perf_counter() - start
            child.stdout.read()
            child.stdout.close()
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0 or not first_line.strip():
                raise BenchError(f"`{' '.join(command)}` failed with status {child.returncode}")
            result.seconds.append(elapsed)
            result.peak_rss_mb.append(_maxrss_mb(usage.ru_maxrss))
    return result


def _maxrss_mb(value: int) -> float:
    """ru_maxrss is KiB on Linux, bytes on macOS."""
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def peak_rss_mb() -> float:
    """This process's peak resident memory."""
    return round(_maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), 1)


_ARM_CORES = {"0xd03": "Cortex-A53", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76"}  # /proc/cpuinfo "CPU part"


def machine_info() -> dict[str, Any]:
    """The machine the numbers come from."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    arm_core = _ARM_CORES.get(fields.get("CPU part", ""), "")
    cpu = fields.get("model name") or arm_core or fields.get("Hardware") or platform.processor() or platform.machine()
    return {"cpu": cpu, "board": fields.get("Model", ""), "machine": platform.machine(), "cores": os.cpu_count(),
            "system": platform.platform(), "python": platform.python_version(),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


# -- the whole benchmark ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchOptions:
    """What to measure."""

    source: Path | None = None  # None: the generated frame
    frames: int = 100
    thread_counts: tuple[int, ...] = tuple(range(1, (os.cpu_count() or 1) + 1))  # one pass each, first: reference
    startup_runs: int = 3  # 0: skip the start-up measurement
    idle: bool = True
    idle_fps: float = 1.0  # the daemon's frame rate with nobody in view ([daemon] idle_fps)
    cli_options: tuple[str, ...] = ()  # passed to the start-up child (--models, --emotion-model, --backend)


def run_benchmark(config: InferenceConfig, options: BenchOptions,
                  progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Every measurement of `todayfeeling bench`, as one JSON-able dict."""
    manifest = Manifest(config.models_dir)
    generated = generated_frame(manifest) if options.source is None else None
    feed = FrameFeed(options.source, generated)
    first_frame = feed.next()[0]
    report: dict[str, Any] = {
        "version": 1, "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine_info(),
        "source": feed.name, "frame_size": [first_frame.shape[1], first_frame.shape[0]], "frames": options.frames,
    }
    passes = []
    try:
        for threads in options.thread_counts:
            progress(f"{options.frames} frames with {threads} thread{'s' if threads > 1 else ''}")
            pipeline = FacePipeline.from_config(replace(config, threads=threads), manifest)
            passes.append(measure_pass(pipeline, feed, options.frames, threads))
            if len(passes) == 1:
                reference = pipeline
                report.update({
                    "models": {"detector": pipeline.detector.spec.name, "emotion": pipeline.classifier.spec.name},
                    "backend": {"actual": pipeline.backend.actual, "preferred": pipeline.backend.preferred,
                                "reason": pipeline.backend.reason},
                })
    finally:
        feed.close()
    first = passes[0]
    report.update({
        "faces_per_frame": statistics.median(first.faces), "stage_threads": first.threads,
        "stages_ms": first.as_dict()["stages_ms"], "fps": first.as_dict()["fps"],
        "cpu_ms_per_frame": first.as_dict()["cpu_ms_per_frame"], "invokes": overhead(first),
        "threads": [p.as_dict() for p in passes],
    })
    if options.idle:
        progress("idle: frames with nobody in view")
        report["idle"] = measure_idle(reference, options.frames, options.idle_fps)
    if options.startup_runs:
        progress("start-up: fresh `todayfeeling detect` processes")
        report["startup"] = measure_startup(first_frame, list(options.cli_options), options.startup_runs).as_dict()
    report["peak_rss_mb"] = {"bench_process": peak_rss_mb(),
                             "pipeline_process": report.get("startup", {}).get("peak_rss_mb")}
    report["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    return report


def format_report(report: dict[str, Any]) -> str:
    """The benchmark as a readable table."""
    lines = [
        f"source: {report['source']} ({report['frame_size'][0]}x{report['frame_size'][1]}), "
        f"{report['frames']} frames, {report['faces_per_frame']:g} faces per frame (median)",
        f"models: {report['models']['detector']} + {report['models']['emotion']} on {report['backend']['actual']}"
        + (f" ({report['backend']['reason']})" if report["backend"]["reason"] else ""),
        f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"load {report['machine']['load_average']} → {report['machine']['load_average_end']}",
        "",
        f"stage ({report['stage_threads']} thr.)   median ms   p95 ms",
        *(f"{stage:<17}{values['median']:>11.3f}{values['p95']:>9.3f}"
          for stage, values in report["stages_ms"].items()),
        "",
    ]
    inv = report["invokes"]
    lines += [
        f"model invokes: detector {inv['detector_invoke_ms']} ms + {inv['classifier_invokes_per_frame']:g} x "
        f"classifier {inv['classifier_invoke_ms']} ms = {inv['invokes_ms']} ms per frame",
        f"whole frame / invokes: {inv['frame_over_invokes']:.2f}  (pipeline alone: {inv['pipeline_over_invokes']:.2f})",
        "",
        "threads   fps      frame median ms   cpu ms/frame",
        *(f"{p['threads']:<9}{p['fps']:<9}{p['stages_ms']['frame']['median']:<18}{p['cpu_ms_per_frame']}"
          for p in report["threads"]),
    ]
    if "idle" in report:
        idle = report["idle"]
        lines += ["", f"nobody in view: {idle['cpu_ms_per_empty_frame']} ms CPU per frame = "
                      f"{idle['percent_of_one_core']}% of one core at the daemon's idle {idle['idle_fps']:g} fps"]
    if "startup" in report:
        startup = report["startup"]
        lines += [f"start-up to first result: {startup['first_result_s']} s (runs {startup['runs_s']})"]
    rss = report["peak_rss_mb"]
    lines += [f"peak resident memory: pipeline process {rss['pipeline_process']} MB, "
              f"this benchmark process {rss['bench_process']} MB"]
    return "\n".join(lines)
