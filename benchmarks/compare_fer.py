#!/usr/bin/env python3
"""Today Feeling against the `fer` package, on the same frames and the same labelled faces, in one run.

    .venv/bin/python benchmarks/compare_fer.py [--frames 200] [--datasets ../shared/datasets]

1. `fer==25.10.3` goes into its own venv (default ~/.cache/todayfeeling/fer-venv, made on first use; never a
   project dependency). Only what its Haar + TFLite path imports is installed (its declared torch/MTCNN,
   moviepy, matplotlib and pandas requirements are for other features and weigh gigabytes).
2. Speed, start-up and memory: `todayfeeling bench --json` and `benchmarks/fer_probe.py` (in fer's venv) on
   the generated 640x480 one-face frame and on the face_smoke video; fer both pinned to one core and free.
3. Accuracy: `todayfeeling eval --json` on FER+ valid (majority labels) and FER-2013 PublicTest, leaked images
   dropped, for every emotion model in the manifest, as crops and through the full pipeline; fer's own model
   (the manifest's `emotion_baseline`, checked by sha256) is also scored as fer runs it (no mirror averaging).
4. Writes benchmarks/results.json and the tables in benchmarks/README.md (between the results markers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2

from todayfeeling.benchmark import generated_frame, machine_info
from todayfeeling.inference.manifest import Manifest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FER_VENV = Path.home() / ".cache/todayfeeling/fer-venv"
FER_PACKAGES = ["tensorflow-cpu==2.21.0", "opencv-contrib-python", "requests", "pillow", "setuptools<81"]
VIDEO = "face_smoke/face_recognition_examples/short_hamilton_clip.mp4"
LEAKED = "fer2013/publictest_images_with_exact_duplicate_in_train.txt"
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"

# Published basis of the Raspberry Pi and Coral estimates (see README.md "Estimates"): how many times slower
# than this machine's core a Pi core runs the models, as a (low, high) range.
PI_FACTORS = {"Raspberry Pi 4 (Cortex-A72, 1.8 GHz)": (4.0, 8.0), "Raspberry Pi 5 (Cortex-A76, 2.4 GHz)": (2.0, 3.0)}
CORAL_INVOKE_MS = (0.5, 1.5)  # a tiny int8 model on a USB 3 Edge TPU: mostly transfer latency


def main() -> None:
    """Run everything and write the results file and README tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--datasets", type=Path, default=Path(os.environ.get(
        "TODAYFEELING_DATASETS", REPO.parent / "shared/datasets")))
    parser.add_argument("--fer-python", type=Path, help="a python with fer installed (default: make a venv)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--daemon-seconds", type=float, default=60.0, help="measuring time per daemon source")
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    parser.add_argument("--readme", type=Path, default=HERE / "README.md")
    args = parser.parse_args()

    fer_python = args.fer_python or ensure_fer_venv(FER_VENV)
    manifest = Manifest()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks")),
        "machine": machine_info(),
        "training_running": _training_running(), "frames": args.frames,
        "fer": {"python": str(fer_python), "model_is_emotion_baseline": fer_model_matches(fer_python, manifest)},
        "speed": {},
    }
    with tempfile.TemporaryDirectory(prefix="compare-fer-") as folder:
        frame_file = Path(folder) / "generated.png"
        cv2.imwrite(str(frame_file), generated_frame(manifest))
        sources = {"generated 640x480, one face": (None, frame_file),
                   "face_smoke video 640x360": (args.datasets / VIDEO,) * 2}
        for name, (ours_source, fer_source) in sources.items():
            _log(f"speed: {name}")
            results["speed"][name] = {
                "ours": run_ours(ours_source, args.frames),
                "fer_one_core": run_fer(fer_python, fer_source, args.frames, one_core=True),
                "fer_all_cores": run_fer(fer_python, fer_source, args.frames, one_core=False),
            }
    _log("daemon: demo camera with a face, then an empty room")
    results["daemon"] = run_daemon(args.daemon_seconds)
    if not args.skip_accuracy:
        results["accuracy"] = run_accuracy(args.datasets, manifest)
    results["goals"] = goals(results)
    results["estimates"] = estimates(results["speed"]["generated 640x480, one face"]["ours"])
    results["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    tables = markdown_tables(results)
    update_readme(args.readme, tables)
    sys.stdout.write(tables + "\n")


# -- fer in its own venv -----------------------------------------------------------------------------------

def ensure_fer_venv(venv: Path) -> Path:
    """The venv's python, creating the venv with fer (and only what fer's Haar + TFLite path needs)."""
    python = venv / "bin/python"
    if python.exists():
        return python
    _log(f"creating {venv} with fer==25.10.3")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", "fer==25.10.3"], check=True)
    subprocess.run([*pip, *FER_PACKAGES], check=True)
    return python


def fer_model_matches(fer_python: Path, manifest: Manifest) -> bool:
    """True when fer's packaged TFLite model is byte-identical to the manifest's emotion_baseline."""
    where = subprocess.run([str(fer_python), "-c", "import fer, pathlib; print(pathlib.Path(fer.__file__).parent"
                            " / 'data/emotion_model_quantized.tflite')"], capture_output=True, text=True, check=True)
    fer_file = Path(where.stdout.strip())
    return hashlib.sha256(fer_file.read_bytes()).hexdigest() == manifest.entries["emotion_baseline"]["sha256"]


def run_fer(fer_python: Path, source: Path, frames: int, one_core: bool) -> dict[str, Any]:
    """fer_probe.py in fer's venv; start-up is launch → its first result, three times (median)."""
    one_core_flag = ["--one-core"] if one_core else []
    startups, report = [], {}
    for run in range(3):  # the first run measures the frames too; the others only start up
        command = [str(fer_python), str(HERE / "fer_probe.py"), str(source), "--frames", str(frames if run == 0 else 1),
                   *one_core_flag]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if child.stdout.readline().strip() != "first-result":
            raise SystemExit(f"fer probe failed: {' '.join(command)}")
        startups.append(time.perf_counter() - start)
        output = child.stdout.read()
        if child.wait() != 0:
            raise SystemExit(f"fer probe failed: {' '.join(command)}")
        if run == 0:
            report = json.loads(output)
    report["startup_s"] = round(statistics.median(startups), 3)
    report["startup_runs_s"] = [round(s, 3) for s in startups]
    return report


# -- ours --------------------------------------------------------------------------------------------------

def run_ours(source: Path | None, frames: int) -> dict[str, Any]:
    """`todayfeeling bench --json --no-tracking` in a fresh process: every frame read on its own, as fer reads
    it (face tracks make the appliance's frames cheaper still; benchmarks/README.md, Face tracks)."""
    command = [sys.executable, "-m", "todayfeeling", "bench", "--json", "--no-tracking", "--frames", str(frames)]
    output = subprocess.run([*command, *([str(source)] if source else [])], capture_output=True, text=True,
                            check=True).stdout
    return json.loads(output)


def run_daemon(seconds: float) -> dict[str, Any]:
    """The real daemon's CPU and memory (scripts/measure_daemon.py): demo face in view, and an empty room."""
    output = subprocess.run([sys.executable, str(REPO / "scripts/measure_daemon.py"), "--json", "--seconds",
                             str(seconds)], capture_output=True, text=True, check=True,
                            env={**os.environ, "SDL_AUDIODRIVER": "dummy"}).stdout
    return {entry["source"]: entry for entry in map(json.loads, output.splitlines())}


def run_accuracy(datasets: Path, manifest: Manifest) -> dict[str, Any]:
    """`todayfeeling eval` on FER+ valid and FER-2013 PublicTest, leaked images dropped."""
    models = [name for name, entry in manifest.entries.items() if entry.get("kind") == "emotion"]
    leaked = ["--exclude", str(datasets / LEAKED)]
    sets = {"FER+ valid (majority)": ["--labels-csv", str(datasets / "ferplus/labels.csv"), *leaked],
            "FER-2013 PublicTest": [str(datasets / "fer2013/publictest"), *leaked]}
    chosen = [arg for name in models for arg in ("--model", name)]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="compare-fer-") as folder:
        no_flip = Path(folder) / "no_flip.toml"
        no_flip.write_text("[inference]\nflip_average = false\n")
        for set_name, data in sets.items():
            runs = {"crop": ["--crop", *chosen], "pipeline+context": ["--context", *chosen],
                    "fer's model as fer runs it (crop, no mirror)": ["--crop", "--model", "emotion_baseline",
                                                                     "--config", str(no_flip)]}
            results[set_name] = {}
            for mode, options in runs.items():
                _log(f"accuracy: {set_name}, {mode}")
                output = subprocess.run([sys.executable, "-m", "todayfeeling", "eval", "--json", "--threads", "1",
                                         *options, *data], capture_output=True, text=True, check=True).stdout
                results[set_name][mode] = json.loads(output)
    return results


# -- goals, estimates, tables ------------------------------------------------------------------------------

def goals(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals, checked against the measured numbers."""
    one_face = results["speed"]["generated 640x480, one face"]
    ours, fer = one_face["ours"], one_face["fer_one_core"]
    frame_ms = ours["stages_ms"]["frame"]["median"]
    speedup = fer["frame_ms"]["median"] / frame_ms
    daemon = results["daemon"]
    rss = max(entry["rss_mb_peak"] for entry in daemon.values())
    idle = daemon["demo:empty"]["cpu_percent_of_one_core"]
    checks = {
        "speedup_vs_fer_one_core": {"value": round(speedup, 1), "goal": ">= 10", "met": speedup >= 10},
        "frame_over_invokes": {"value": ours["invokes"]["frame_over_invokes"], "goal": "<= 1.5",
                               "met": ours["invokes"]["frame_over_invokes"] <= 1.5},
        "startup_s": {"value": ours["startup"]["first_result_s"], "goal": "< 2", "met":
                      ours["startup"]["first_result_s"] < 2},
        "daemon_rss_mb": {"value": rss, "goal": "< 150", "met": rss < 150,
                          "note": "peak VmRSS of `todayfeeling run --no-mqtt` (demo sources)"},
        "idle_percent_core": {"value": idle, "goal": "< 5", "met": idle < 5,
                              "note": "`todayfeeling run --no-mqtt --source demo:empty`"},
    }
    accuracy = results.get("accuracy", {}).get("FER+ valid (majority)", {}).get("crop")
    if accuracy:
        scores = {m["model"]: m["accuracy"] for m in accuracy["models"]}
        ours_best = max((v for k, v in scores.items() if k != "emotion_baseline"), default=None)
        checks["more_accurate_than_fer"] = {"value": scores, "goal": "ours > emotion_baseline (fer's model)",
                                            "met": ours_best is not None and ours_best > scores["emotion_baseline"]}
    return checks


def estimates(ours: dict[str, Any]) -> dict[str, Any]:
    """Raspberry Pi and Coral ESTIMATES scaled from this machine's one-thread numbers (not measured)."""
    frame = ours["stages_ms"]["frame"]["median"]
    inv = ours["invokes"]
    classifier_ms = inv["classifier_invoke_ms"] * inv["classifier_invokes_per_frame"]
    result: dict[str, Any] = {"basis": "see benchmarks/README.md, Estimates; NOT measured on a Pi"}
    for board, (low, high) in PI_FACTORS.items():
        cpu_low, cpu_high = frame * low, frame * high
        coral = [frame * f - classifier_ms * f + CORAL_INVOKE_MS[i] * inv["classifier_invokes_per_frame"]
                 for i, f in enumerate((low, high))]
        result[board] = {
            "frame_ms_one_thread": [round(cpu_low, 1), round(cpu_high, 1)],
            "fps_one_thread": [round(1000 / cpu_high, 1), round(1000 / cpu_low, 1)],
            "frame_ms_with_coral_classifier": [round(coral[0], 1), round(coral[1], 1)],
        }
    return result


def markdown_tables(results: dict[str, Any]) -> str:
    """The README's results section."""
    machine = results["machine"]
    lines = [
        f"Measured {results['date']} on {machine['cpu']} ({machine['cores']} cores, {machine['system']}), "
        f"commit {results['commit']}{' + local changes' if results['dirty'] else ''}; load average "
        f"{machine['load_average'][0]} at the start, {machine['load_average_end'][0]} at the end"
        f"{' (a model training run was using the CPU)' if results['training_running'] else ''}. "
        f"{results['frames']} frames per run after 3 warm-up frames.",
        "",
    ]
    for source, speed in results["speed"].items():
        ours, fer1, fer = speed["ours"], speed["fer_one_core"], speed["fer_all_cores"]
        stages = ours["stages_ms"]
        lines += [
            f"**{source}** (faces per frame: ours {ours['faces_per_frame']:g}, fer {fer1['faces_per_frame']:g})",
            "",
            "| | Today Feeling, 1 thread | fer 25.10.3, one core | fer 25.10.3, all cores |",
            "|---|---|---|---|",
            f"| whole frame, median / p95 ms | {_ms(stages['frame'])} | {_ms(fer1['frame_ms'])} | "
            f"{_ms(fer['frame_ms'])} |",
            f"| frames per second | {ours['fps']} | {fer1['fps']} | {fer['fps']} |",
            f"| CPU ms per frame | {ours['cpu_ms_per_frame']} | {fer1['cpu_ms_per_frame']} | "
            f"{fer['cpu_ms_per_frame']} |",
            f"| face detection, median ms | {stages['detect']['median']} (BlazeFace) | "
            f"{fer1['haar_detect_ms']['median']} (Haar) | {fer['haar_detect_ms']['median']} (Haar) |",
            f"| start-up to first result, s | {ours['startup']['first_result_s']} | {fer1['startup_s']} | "
            f"{fer['startup_s']} |",
            f"| peak resident memory, MB | {ours['peak_rss_mb']['pipeline_process']} | {fer1['peak_rss_mb']} | "
            f"{fer['peak_rss_mb']} |",
            "",
            "Our stages (1 thread), median / p95 ms: " + ", ".join(
                f"{stage} {_ms(values)}" for stage, values in stages.items())
            + f". Model invokes: detector {ours['invokes']['detector_invoke_ms']} ms + "
            f"{ours['invokes']['classifier_invokes_per_frame']:g} x classifier "
            f"{ours['invokes']['classifier_invoke_ms']} ms; whole frame / invokes = "
            f"{ours['invokes']['frame_over_invokes']}. Threads: " + ", ".join(
                f"{p['threads']}: {p['fps']} fps" for p in ours["threads"]) + ".",
            "",
        ]
    if "accuracy" in results:
        lines += ["| data | mode | model | accuracy | macro recall | no face | ms per face |",
                  "|---|---|---|---|---|---|---|"]
        for data, modes in results["accuracy"].items():
            for mode, report in modes.items():
                for model in report["models"]:
                    lines.append(f"| {data} ({report['data']['images']} images) | {mode} | {model['model']} | "
                                 f"{model['accuracy']:.1%} | {model['macro_recall']:.1%} | {model['no_face']} | "
                                 f"{model['ms']['per_face']} |")
        lines.append("")
    lines += ["| daemon (`todayfeeling run --no-mqtt`) | CPU, % of one core | RSS mean / peak, MB |", "|---|---|---|"]
    for source, entry in results["daemon"].items():
        lines.append(f"| `--source {source}` ({entry['seconds']:g} s) | {entry['cpu_percent_of_one_core']} | "
                     f"{entry['rss_mb_mean']} / {entry['rss_mb_peak']} |")
    lines += ["", "| goal | measured | target | met |", "|---|---|---|---|"]
    for name, check in results["goals"].items():
        lines.append(f"| {name} | {check['value']} | {check['goal']} | {'yes' if check['met'] else 'NO'} |")
    lines += ["", "ESTIMATES (not measured; see below how they are derived):", "",
              "| board | whole frame ms, 1 thread | fps, 1 thread | frame ms with the classifier on a Coral |",
              "|---|---|---|---|"]
    for board, values in results["estimates"].items():
        if isinstance(values, dict):
            lines.append(f"| {board} | {_range(values['frame_ms_one_thread'])} | {_range(values['fps_one_thread'])} "
                         f"| {_range(values['frame_ms_with_coral_classifier'])} |")
    return "\n".join(lines)


def update_readme(readme: Path, tables: str) -> None:
    """Replace the text between the results markers."""
    text = readme.read_text() if readme.exists() else f"{README_START}\n{README_END}\n"
    head, _, rest = text.partition(README_START)
    _, _, tail = rest.partition(README_END)
    readme.write_text(f"{head}{README_START}\n{tables}\n{README_END}{tail}")


def _ms(values: dict[str, float]) -> str:
    return f"{values['median']:.2f} / {values['p95']:.2f}"


def _range(values: list[float]) -> str:
    return f"{values[0]:g}–{values[1]:g}"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def _training_running() -> bool:
    return subprocess.run(["pgrep", "-f", "models.training"], capture_output=True).returncode == 0


def _log(message: str) -> None:
    sys.stderr.write(f"{message}\n")


if __name__ == "__main__":
    main()
