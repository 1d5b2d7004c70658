"""The Dockerfile is multi-stage, runs as a non-root user, and checks its own health.

Without a Docker engine the image is not built here; these checks read the Dockerfile and the
.dockerignore, and check that what the image copies is in the build context.
"""

from __future__ import annotations

import fnmatch
import re

from opskit import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_multi_stage_non_root_with_entry_point_and_health_check() -> None:
    steps = instructions()
    stages = [rest for word, rest in steps if word == "FROM"]
    assert len(stages) >= 2
    assert "slim" in DOCKERFILE.split("PYTHON_IMAGE=")[1].split()[0]
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("ENTRYPOINT", '["lead-router"]') in steps
    (health,) = [rest for word, rest in steps if word == "HEALTHCHECK"]
    assert "/healthz" in health


def test_the_build_context_holds_what_the_image_copies() -> None:
    patterns = (REPO / ".dockerignore").read_text().split()
    patterns = [p for p in patterns if not p.startswith("#")]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
                keep = negated
        return keep

    copied = [
        source
        for word, rest in instructions()
        if word == "COPY" and "--from" not in rest
        for source in rest.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert (REPO / source).exists(), source
        assert included(source.rstrip("/")), f"{source} is left out by .dockerignore"
    assert not included("tests/ops/conftest.py")
    assert not included(".venv")
