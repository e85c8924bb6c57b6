"""Packaging for Today Feeling: the `todayfeeling` package lives in firmware/."""

import re
from pathlib import Path

from setuptools import find_packages, setup

# The one version string lives in the package (todayfeeling.__version__); read it without importing it.
VERSION = re.search(r'^__version__ = "([^"]+)"', (Path(__file__).parent / "firmware" / "todayfeeling" /
                                                   "__init__.py").read_text(), re.MULTILINE).group(1)

setup(
    name="todayfeeling",
    version=VERSION,
    description="An always-on Raspberry Pi appliance that plays music fitting the room's mood",
    python_requires=">=3.11",
    package_dir={"": "firmware"},
    packages=find_packages("firmware"),
    package_data={"todayfeeling": ["data/*"]},
    install_requires=[
        # TFLite runtime: ai-edge-litert (tflite-runtime's successor; same Interpreter/load_delegate API). It runs
        # our models about twice as fast as tflite-runtime 2.14 (benchmarks/README.md). Per Python version
        # (aarch64 wheels checked with `pip download --platform`; ../shared/notes/arm64.md):
        # - 3.11 (Raspberry Pi OS Bookworm): 1.4.0, the runtime of every benchmark and accuracy figure in the
        #   project; it works with numpy<2, which Bookworm's apt picamera2 (python3-simplejpeg, built for
        #   numpy 1.x) needs in the device venv. 2.0.2-2.3.0 have 3.11 aarch64 wheels too and run with numpy
        #   1.26 (measured), the fallback with tflite-runtime 2.14 (see provisioning/README.md).
        # - 3.12+ (Trixie: 3.13): 2.3.0, the newest, run by the emulated Trixie suite (scripts/arm64-check.sh);
        #   2.1.0-2.2.0 are the fallback (tflite-runtime has no wheels past 3.11). Under qemu it needs qemu 10:
        #   7.2 segfaults in its allocate_tensors.
        "ai-edge-litert==1.4.0; python_version < '3.12'",
        "ai-edge-litert==2.3.0; python_version >= '3.12'",
        # numpy 2 on 3.11 would break Bookworm's apt picamera2 (above); numpy 1.x has no 3.13 wheels.
        "numpy>=1.24,<2; python_version < '3.12'",
        "numpy>=2.1,<3; python_version >= '3.12'",
        # OpenCV 4.12+ wants numpy 2, so 4.11 on 3.11. On 3.12+ the 4.x series (4.14 today): OpenCV 5 is a new
        # major version whose changes the project has not run, while 4.x is what all its code was checked on.
        "opencv-python-headless>=4.8,<4.12; python_version < '3.12'",
        "opencv-python-headless>=4.12,<5; python_version >= '3.12'",
        "paho-mqtt>=2.1,<3",
        "pygame>=2.5,<3",
        # track lengths for the player (and test audio); aarch64 wheels use the system's libsndfile1
        "soundfile>=0.12",
    ],
    extras_require={
        # ruff and mypy as CI runs them (.ci/run); mypy's settings are in pyproject.toml
        "dev": ["pytest>=8", "ruff>=0.6", "mypy>=1.13"],
        # Training runs in its own venv: TensorFlow wants numpy 2, the device runtime numpy<2 on Python 3.11.
        "train": ["tensorflow-cpu==2.21.*", "pillow"],
    },
    entry_points={"console_scripts": ["todayfeeling=todayfeeling.cli:main"]},
)
