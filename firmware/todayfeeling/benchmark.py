"""How fast and lean the vision pipeline is on this machine: what `todayfeeling bench` measures.

One pass pulls frames from a source (a video, a folder of frames, or a generated 640x480 frame with a real
face), runs them through the pipeline and the mood tracker, and times every stage; the models' own invokes
are timed too, so the cost of everything around them (decode, resize, alignment, anchors, bookkeeping) shows.
Frames are followed as the appliance follows them (face tracks, the full-frame detector now and then and
regions around tracked faces between, ``[tracking]``) unless tracking is off; ``--no-tracking`` measures the
full-frame detector on every frame. Passes are repeated with 1..N TFLite threads; the first pass gives the
stage figures. Start-up to the first result is measured in a fresh process running ``todayfeeling detect``
on the first frame, from launch (interpreter, imports, models) to its first output line; its peak resident
memory comes from the kernel's accounting of that child.
"""

from __future__ import annotations

import contextlib
import os
import platform
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

from todayfeeling.camera import CameraError, FrameSource, make_source
from todayfeeling.camera.demo import demo_frame
from todayfeeling.config import CameraConfig, InferenceConfig, TrackingConfig
from todayfeeling.config.settings import MoodConfig, PeopleConfig
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.inference.runtime import TFLiteModel
from todayfeeling.memory import peak_rss_mb
from todayfeeling.mood import MoodTracker
from todayfeeling.people.recognition import Recogniser
from todayfeeling.people.tracked import TrackRecognition
from todayfeeling.people_moods import PeopleMoods

STAGES = ("capture", "detect", "align", "classify", "mood", "frame")
FRAME_SIZE = (640, 480)
WARMUP_FRAMES = 3  # first invokes allocate and warm caches; not counted


class BenchError(Exception):
    """A source that cannot be benchmarked."""


# -- frames ----------------------------------------------------------------------------------------------

def generated_frame(manifest: Manifest, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The demo camera's picture (one real face) centred in a frame of ``size``."""
    try:
        return demo_frame(manifest, *size)
    except CameraError as err:
        raise BenchError(str(err)) from None


class FrameFeed:
    """Endless frames from a video or a folder (started again at its end), or copies of one frame.

    ``next()`` returns a frame and the milliseconds it took to capture or decode it.
    """

    def __init__(self, source: Path | None, frame: np.ndarray | None = None) -> None:
        self.source = source
        self._frame = frame
        self._reader: FrameSource | None = None
        if source is not None:
            try:
                self._reader = make_source(str(source), CameraConfig())
                if not self._reader.is_finite:
                    raise CameraError(f"{source}: not a video file or a folder of frames")
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
            assert self._frame is not None  # one of the two is given (checked in __init__)
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
    model.invoke_times = durations
    try:
        yield durations
    finally:
        model.invoke_times = None


def summary(values: list[float]) -> dict[str, float]:
    """Median, mean and 95th percentile (nearest rank), rounded to microseconds. The mean is what a mix of
    frames costs (tracked faces: a full-frame detection now and then, cheaper frames between)."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, int(np.ceil(0.95 * len(ordered))) - 1))]
    return {"median": round(statistics.median(ordered), 3), "mean": round(statistics.fmean(ordered), 3),
            "p95": round(p95, 3)}


@dataclass
class PassResult:
    """One pass over the frames with a given number of TFLite threads."""

    threads: int
    frames: int
    wall_s: float
    cpu_s: float
    stages: dict[str, list[float]]
    detector_invokes: list[float]
    region_invokes: list[float]
    classifier_invokes: list[float]
    faces: list[int]
    recognitions: list[int] = field(default_factory=list)  # per frame, with recognition: faces recognised

    def as_dict(self) -> dict[str, Any]:
        """Frames per second, CPU per frame and every stage's median and p95, for JSON."""
        return {
            "threads": self.threads,
            "fps": round(self.frames / self.wall_s, 2),
            "cpu_ms_per_frame": round(self.cpu_s * 1000.0 / self.frames, 3),
            "stages_ms": {stage: summary(values) for stage, values in self.stages.items()},
        }


def measure_pass(pipeline: FacePipeline, feed: FrameFeed, frames: int, threads: int,
                 recognition: TrackRecognition | None = None) -> PassResult:
    """Run ``frames`` frames (after a short warm-up) through pipeline (``follow``: tracked when the pipeline
    tracks), recognition of each track as the daemon does it (when given) and mood trackers, timing each stage."""
    tracker = MoodTracker()
    people = PeopleMoods(MoodConfig(), recognition.names if recognition is not None else ())
    pipeline.reset_tracks()  # a pass starts with no face followed
    for _ in range(WARMUP_FRAMES):
        pipeline.follow(feed.next()[0])
    pipeline.reset_tracks()  # the warm-up's tracks are not the pass's: each is recognised when it starts
    if recognition is not None:
        recognition.forget()
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES + (("recognise",) if recognition else ())}
    recognitions: list[int] = []
    faces: list[int] = []
    region = pipeline.tracking.region.model if pipeline.tracking is not None else None
    with contextlib.ExitStack() as timing:
        detector_ms = timing.enter_context(timed_invokes(pipeline.detector.model))
        cls_ms = timing.enter_context(timed_invokes(pipeline.classifier.model))
        region_ms = timing.enter_context(timed_invokes(region)) if region is not None else []
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for _ in range(frames):
            start = time.perf_counter()
            frame, capture_ms = feed.next()
            result = pipeline.follow(frame)
            processed = time.perf_counter()
            if recognition is not None:
                before = recognition.recognised
                names = recognition.identify(frame, result.faces, time.monotonic())
                recognised = time.perf_counter()
                stages["recognise"].append((recognised - processed) * 1000.0)
                recognitions.append(recognition.recognised - before)
                processed = recognised
                people.update(time.monotonic(), list(zip(names, result.observations(), strict=True)))
            tracker.update(time.monotonic(), result.observations())
            end = time.perf_counter()
            stages["capture"].append(capture_ms)
            for stage in ("detect", "align", "classify"):
                stages[stage].append(result.ms[stage])
            stages["mood"].append((end - processed) * 1000.0)
            stages["frame"].append((end - start) * 1000.0)
            faces.append(len(result.faces))
        wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    return PassResult(threads, frames, wall, cpu, stages, list(detector_ms), list(region_ms), list(cls_ms), faces,
                      recognitions)


def recognition_cost(result: PassResult) -> dict[str, Any]:
    """What recognising costs: per recognition (a track starting, or due again), on the frames that recognised,
    and on the frames whose tracks were all known already (the daemon's usual frame)."""
    spent = [(ms, count) for ms, count in zip(result.stages["recognise"], result.recognitions, strict=True) if count]
    known = [index for index, count in enumerate(result.recognitions) if not count]
    return {"recognitions": sum(count for _, count in spent), "frames_recognising": len(spent),
            "ms_per_recognition": round(sum(ms for ms, _ in spent) / max(1, sum(c for _, c in spent)), 3),
            "known_frames": {stage: summary([result.stages[stage][i] for i in known])
                             for stage in ("recognise", "mood", "frame")} if known else None}


def overhead(result: PassResult) -> dict[str, Any]:
    """The whole frame against the models' own invokes: each model's median invoke times its invokes per
    frame (the full-frame detector, the region detector while faces are tracked, the classifier)."""
    figures: dict[str, Any] = {}
    invokes = 0.0
    for name, times in (("detector", result.detector_invokes), ("region", result.region_invokes),
                        ("classifier", result.classifier_invokes)):
        median = statistics.median(times) if times else 0.0
        per_frame = len(times) / result.frames
        invokes += median * per_frame
        figures.update({f"{name}_invoke_ms": round(median, 3), f"{name}_invokes_per_frame": round(per_frame, 2)})
    frame = statistics.median(result.stages["frame"])
    process = statistics.median([d + a + c for d, a, c in zip(
        result.stages["detect"], result.stages["align"], result.stages["classify"], strict=True)])
    return {**figures, "invokes_ms": round(invokes, 3), "frame_over_invokes": round(frame / invokes, 3),
            "pipeline_over_invokes": round(process / invokes, 3)}


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


# The child runs `todayfeeling detect` and, on its way out, says its own peak memory: the parent cannot measure
# it (wait4's ru_maxrss includes the parent's own peak, which Linux carries across fork and exec).
_PEAK_MARK = "todayfeeling-bench peak_rss_mb "
_CHILD = ("import atexit, sys\n"
          "from todayfeeling.memory import peak_rss_mb\n"
          f"atexit.register(lambda: print({_PEAK_MARK!r} + str(peak_rss_mb()), file=sys.stderr))\n"
          "from todayfeeling.cli import main\n"
          "sys.exit(main(sys.argv[1:]))\n")


def measure_startup(frame: np.ndarray, cli_options: list[str], runs: int = 3) -> StartupResult:
    """Launch ``todayfeeling detect --json FRAME`` in a fresh Python ``runs`` times; time launch → first output
    line, and take the process's peak memory.

    The first run may include a cold disk cache; the median is reported with every run beside it.
    """
    result = StartupResult()
    with tempfile.TemporaryDirectory(prefix="todayfeeling-bench-") as folder:
        image = Path(folder) / "frame.png"
        cv2.imwrite(str(image), frame)
        command = [sys.executable, "-c", _CHILD, "detect", "--json", *cli_options, str(image)]
        for _ in range(runs):
            start = time.perf_counter()
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert child.stdout is not None  # stdout=PIPE
            first_line = child.stdout.readline()
            elapsed = time.perf_counter() - start
            _, errors = child.communicate()
            peaks = [line[len(_PEAK_MARK):] for line in errors.splitlines() if line.startswith(_PEAK_MARK)]
            if child.returncode != 0 or not first_line.strip() or not peaks:
                raise BenchError(f"`todayfeeling detect --json {' '.join(cli_options)} {image}` failed with "
                                 f"status {child.returncode}")
            result.seconds.append(elapsed)
            result.peak_rss_mb.append(float(peaks[-1]))
    return result


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
    tracking: TrackingConfig | None = TrackingConfig()  # None: the full-frame detector on every frame
    people_db: Path | None = None  # recognise each face track against this people database, as the daemon does
    recheck_s: float = PeopleConfig().recheck_s


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
    recognition = (TrackRecognition(Recogniser.open(options.people_db, manifest, threads=1), options.recheck_s)
                   if options.people_db is not None else None)
    passes = []
    try:
        for threads in options.thread_counts:
            progress(f"{options.frames} frames with {threads} thread{'s' if threads > 1 else ''}")
            pipeline = FacePipeline.from_config(replace(config, threads=threads), manifest, options.tracking)
            passes.append(measure_pass(pipeline, feed, options.frames, threads, recognition))
            if len(passes) == 1:
                reference = pipeline
                report.update({
                    "models": {"detector": pipeline.detector.spec.name, "emotion": pipeline.classifier.spec.name},
                    "backend": pipeline.backend.as_dict(), "tracked": pipeline.tracking is not None,
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
    if recognition is not None:
        report["recognition"] = {"people": len(recognition.names), "recheck_s": options.recheck_s,
                                 **recognition_cost(first)}
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
        f"{report['frames']} frames, {report['faces_per_frame']:g} faces per frame (median), "
        + ("faces tracked" if report["tracked"] else "full-frame detector on every frame"),
        f"models: {report['models']['detector']} + {report['models']['emotion']} on {report['backend']['actual']}"
        + (f" ({report['backend']['reason']})" if report["backend"]["reason"] else ""),
        f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"load {report['machine']['load_average']} → {report['machine']['load_average_end']}",
        "",
        f"stage ({report['stage_threads']} thr.)   median ms   mean ms   p95 ms",
        *(f"{stage:<17}{values['median']:>11.3f}{values['mean']:>10.3f}{values['p95']:>9.3f}"
          for stage, values in report["stages_ms"].items()),
        "",
    ]
    inv = report["invokes"]
    lines += [
        f"model invokes per frame: {inv['detector_invokes_per_frame']:g} x detector {inv['detector_invoke_ms']} ms"
        f" + {inv['region_invokes_per_frame']:g} x region {inv['region_invoke_ms']} ms"
        f" + {inv['classifier_invokes_per_frame']:g} x classifier {inv['classifier_invoke_ms']} ms"
        f" = {inv['invokes_ms']} ms",
        f"whole frame / invokes: {inv['frame_over_invokes']:.2f}  (pipeline alone: {inv['pipeline_over_invokes']:.2f})",
        "",
        "threads   fps      frame median ms   frame mean ms   cpu ms/frame",
        *(f"{p['threads']:<9}{p['fps']:<9}{p['stages_ms']['frame']['median']:<18}"
          f"{p['stages_ms']['frame']['mean']:<16}{p['cpu_ms_per_frame']}"
          for p in report["threads"]),
    ]
    if "recognition" in report:
        rec = report["recognition"]
        known = rec["known_frames"]
        lines += ["", f"recognition ({rec['people']} enrolled, each track when it starts and every "
                      f"{rec['recheck_s']:g} s): {rec['ms_per_recognition']} ms per recognition, "
                      f"{rec['recognitions']} on {rec['frames_recognising']} frames; frames with every track known: "
                      + (f"recognise {known['recognise']['median']} ms, mood {known['mood']['median']} ms, whole frame "
                         f"{known['frame']['median']} ms (medians)" if known else "none")]
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
