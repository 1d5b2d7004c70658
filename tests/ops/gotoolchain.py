"""Fetches a Go toolchain from the Go module proxy, for ``make tools`` on a machine without Go.

The Go toolchain is published on the module proxy as the module ``golang.org/toolchain`` (that is
where ``GOTOOLCHAIN=auto`` gets it). This unpacks one version into a folder:

    python tests/ops/gotoolchain.py 1.26.8 ~/.cache/lead-router/tools/go-1.26.8

and the compiler is then ``<folder>/bin/go``.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

PROXY = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0].split("|")[0]
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def fetch(version: str, target: Path) -> None:
    system = platform.system().lower()
    arch = _ARCH[platform.machine().lower()]
    if PROXY in ("direct", "off"):
        raise SystemExit("GOPROXY names no module proxy to fetch the Go toolchain from")
    module = f"v0.0.1-go{version}.{system}-{arch}"
    url = f"{PROXY.rstrip('/')}/golang.org/toolchain/@v/{module}.zip"
    prefix = f"golang.org/toolchain@{module}/"
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        archive = Path(scratch) / "toolchain.zip"
        print(f"fetching {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=300) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
        unpacked = Path(scratch) / "go"
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if not info.filename.startswith(prefix) or info.is_dir():
                    continue
                path = unpacked / info.filename[len(prefix) :]
                path.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out)
                relative = info.filename[len(prefix) :]
                # The proxy's archives carry no permission bits: mark the programs executable.
                if info.external_attr >> 16 & 0o111 or relative.startswith(("bin/", "pkg/tool/")):
                    path.chmod(0o755)
        if not (unpacked / "bin" / "go").exists():
            raise SystemExit(f"{url} holds no bin/go")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    target = Path(sys.argv[2]).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fetch(sys.argv[1], target)


if __name__ == "__main__":
    main()
