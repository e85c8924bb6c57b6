"""Packaging for Today Feeling: the `todayfeeling` package lives in firmware/."""

from setuptools import find_packages, setup

setup(
    name="todayfeeling",
    version="0.1.0",
    description="An always-on Raspberry Pi appliance that plays music fitting the room's mood",
    python_requires=">=3.11",
    package_dir={"": "firmware"},
    packages=find_packages("firmware"),
    package_data={"todayfeeling": ["data/*"]},
    install_requires=[
        # TFLite runtime: ai-edge-litert (tflite-runtime's successor; same Interpreter/load_delegate API).
        # It runs our models about twice as fast as tflite-runtime 2.14 (benchmarks/README.md). 1.4.0 is its
        # last release with Python 3.11 wheels for aarch64 (Raspberry Pi OS Bookworm) and works with numpy<2,
        # which Bookworm's apt picamera2 (python3-simplejpeg, built for numpy 1.x) needs in the device venv;
        # OpenCV>=4.12 wants numpy 2. tflite-runtime 2.14 still works as the alternative (runtime.py).
        "ai-edge-litert==1.4.0; python_version < '3.12'",
        "numpy>=1.24,<2; python_version < '3.12'",
        "opencv-python-headless>=4.8,<4.12; python_version < '3.12'",
        "ai-edge-litert>=1.4; python_version >= '3.12'",
        "numpy>=1.26; python_version >= '3.12'",
        "opencv-python-headless>=4.8; python_version >= '3.12'",
        "paho-mqtt>=2.1,<3",
        "pygame>=2.5,<3",
        # track lengths for the player (and test audio); aarch64 wheels use the system's libsndfile1
        "soundfile>=0.12",
    ],
    extras_require={
        # systemd-python needs libsystemd-dev and a compiler; the daemon runs without it.
        "systemd": ["systemd-python>=235"],
        "dev": ["pytest>=8", "ruff>=0.6"],
        # Training runs in its own venv: TensorFlow wants numpy 2, the device runtime numpy<2 on Python 3.11.
        "train": ["tensorflow-cpu==2.21.*", "pillow"],
    },
    entry_points={"console_scripts": ["todayfeeling=todayfeeling.cli:main"]},
)
