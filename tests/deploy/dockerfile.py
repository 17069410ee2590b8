"""Read the Dockerfile's instructions, so the tests do what the image build does."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    stage: int  # index of the FROM it belongs to
    keyword: str
    args: str


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """The instructions, continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(stage, keyword, args.strip()))
    return out


def build_stage_copies() -> list[str]:
    """The paths the build stage copies from the build context."""
    sources = []
    for i in instructions():
        if i.stage == 0 and i.keyword == "COPY":
            *srcs, _dest = shlex.split(i.args)
            sources += srcs
    return sources


def pip_install_args() -> list[str]:
    """The arguments of the build stage's ``pip install``."""
    for i in instructions():
        if i.stage == 0 and i.keyword == "RUN":
            words = shlex.split(i.args)
            for at, word in enumerate(words[:-1]):
                if word.rsplit("/", 1)[-1] == "pip" and words[at + 1] == "install":
                    return words[at + 2 :]
    raise AssertionError("the build stage installs nothing with pip")


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's CMD, in exec form."""
    (check,) = [i for i in instructions() if i.keyword == "HEALTHCHECK"]
    _, _, command = check.args.partition("CMD ")
    return list(json.loads(command))


def exec_form(keyword: str) -> list[str]:
    (found,) = [i for i in instructions() if i.keyword == keyword]
    return list(json.loads(found.args))
