"""Record types that every source produces and every frame consumes.

Data flows one way: sources (server, save-local directory, install prefix, database)
-> these records -> pandas frames / networkx graphs -> analysis -> views. Because
all sources emit the same records, an analysis written once works offline and online.

Status vocabulary (as Spack writes it): build status ``SUCCESS``, ``FAILED``,
``NOTRUN``, ``CANCELLED``; phase status ``SUCCESS`` or ``ERROR``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BUILD_STATUSES = ("CANCELLED", "SUCCESS", "NOTRUN", "FAILED")
PHASE_STATUSES = ("SUCCESS", "ERROR")
ENVIRONMENT_FIELDS = ("host_os", "platform", "host_target", "hostname", "kernel_version")


@dataclass
class BuildRecord:
    """One build of one spec in one build environment.

    ``key`` identifies the build within its source: the 32-hex local id of a
    save-local run, the server's build id (as a string) or the prefix's DAG hash.
    ``status`` is what the source recorded (``None`` when it recorded nothing, as
    Spack 0.17 does for the package whose phase failed).
    """

    key: str
    full_hash: str
    spec_name: str | None = None
    spec_version: str | None = None
    status: str | None = None
    host_os: str | None = None
    platform: str | None = None
    host_target: str | None = None
    hostname: str | None = None
    kernel_version: str | None = None
    spack_version: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    build_id: int | None = None
    run: str | None = None
    source: str | None = None
    created_at: Any = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    config_args: str | None = None
    install_files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def environment(self) -> dict[str, str | None]:
        """The five build-environment fields plus ``spack_version``."""
        env = {name: getattr(self, name) for name in ENVIRONMENT_FIELDS}
        env["spack_version"] = self.spack_version
        return env


@dataclass
class PhaseRecord:
    """One phase (``autoreconf``, ``configure``, ``build``, ``install``...) of a build.

    ``order`` is the 0-based position of the phase within its build when the source
    knows it (install prefixes' ``spack-build-NN-<phase>-out.txt``; timestamps in the
    output otherwise); ``duration`` is in seconds when known. ``first_line`` is the 1-based
    line where ``output`` starts in the file ``source`` (a phase cut out of a combined
    ``spack-build-out.txt``; None when the output is the whole file).
    """

    build_key: str
    name: str
    status: str | None
    output: str | None = None
    order: int | None = None
    duration: float | None = None
    started_at: Any = None
    finished_at: Any = None
    phase_id: int | None = None
    source: str | None = None
    first_line: int | None = None
