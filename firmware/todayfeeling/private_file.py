"""Files only their owner may read, replaced whole or not at all (a temporary file renamed over the old one)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600, its folder made 0700 when missing.

    The text goes to a temporary file beside ``path`` (``mkstemp`` makes it 0600), is flushed to disk and
    renamed over ``path``: a reader sees the old file or the new one, never a part. Run as root (``sudo
    todayfeeling people add …``), the new file keeps the old one's owner, or takes its folder's: a file that
    became root's would lock out the service's own user. OSError on failure, with the old file untouched and
    no temporary file left behind.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            if os.geteuid() == 0:
                owner = os.stat(path if path.exists() else path.parent)
                os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
