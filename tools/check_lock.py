"""Check that the hash-pinned lock files still cover pyproject.toml.

The lock files (requirements.lock for the runtime image, requirements-dev.lock
for developers and CI) are produced by `make lock`. This check catches the
common slip of adding or tightening a dependency in pyproject.toml without
re-locking: every direct requirement must be pinned in the right lock file, and
the pinned version must satisfy the specifier written in pyproject.toml.

Exit status: 0 when consistent, 1 otherwise (the problems are printed).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def read_pins(lock: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def check(requirements: list[str], lock: Path) -> list[str]:
    if not lock.is_file():
        return [f"{lock.name} is missing: run `make lock`"]
    pins = read_pins(lock)
    problems = []
    for raw in requirements:
        req = Requirement(raw)
        name = canonicalize_name(req.name)
        pinned = pins.get(name)
        if pinned is None:
            problems.append(f"{lock.name}: {req.name} is not pinned (run `make lock`)")
        elif req.specifier and not req.specifier.contains(pinned, prereleases=True):
            problems.append(
                f"{lock.name}: {req.name}=={pinned} does not satisfy '{req.specifier}' "
                "(run `make lock`)"
            )
    return problems


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = list(project["project"].get("dependencies", []))
    dev = [r for r in project.get("dependency-groups", {}).get("dev", []) if isinstance(r, str)]
    problems = check(runtime, ROOT / "requirements.lock")
    problems += check(runtime + dev, ROOT / "requirements-dev.lock")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
