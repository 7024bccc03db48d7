"""Mutation testing of the critical modules (`nox -s mutate`, or `python mutation/run.py [name...]`).

For each target of ``mutation/targets.py`` this builds a scratch project under
``.mutation-work/<name>/`` (the repository's ``pyproject.toml`` plus a ``[tool.mutmut]``
table, and links to ``src`` and ``tests``), runs ``mutmut run`` there with only that module
mutated and only its targeted tests selected, and reads mutmut's results back. It prints

    mutation: <module> killed K/T (P%)

per module, where T counts every mutant of the module except those listed in
``mutation/equivalent.txt`` (a mutant that changes nothing observable, with the reason),
and K the mutants a test failed on (a timeout counts as killed: the mutant hung the code).
It exits non-zero when any module is under 90%, or when an equivalent listed for a module
no longer exists (the list must not go stale). ``--show`` prints each survivor's diff.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from targets import BY_NAME, TARGETS, Target

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation-work"
EQUIVALENT = Path(__file__).resolve().parent / "equivalent.txt"
THRESHOLD = 90.0

# No xdist or cache inside mutmut's forked workers; hypothesis with the conftest's short,
# derandomized "mutation" profile.
PYTEST_ARGS = ["-p", "no:cacheprovider", "-p", "no:xdist", "-q", "--hypothesis-profile=mutation"]

KILLED = {1, 3, -24, 24, 152, 255, 36}  # test failure, pytest internal error, CPU timeout


def _toml_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def _prepare(target: Target) -> Path:
    work = WORK / target.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "src").symlink_to(ROOT / "src")
    (work / "tests").symlink_to(ROOT / "tests")
    config = (ROOT / "pyproject.toml").read_text("utf-8")
    config += (
        "\n[tool.mutmut]\n"
        f'source_paths = ["src"]\n'
        f"only_mutate = {_toml_list(target.sources)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(target.tests)}\n"
        f"pytest_add_cli_args = {_toml_list(PYTEST_ARGS)}\n"
        "use_git_change_detection = false\n"
    )
    (work / "pyproject.toml").write_text(config, "utf-8")
    return work


def _module(source: str) -> str:
    dotted = source.removeprefix("src/").removesuffix(".py").replace("/", ".")
    return dotted.removesuffix(".__init__")


def _patterns(target: Target) -> list[str]:
    if not target.functions:
        return []
    modules = [_module(source) for source in target.sources]
    return [f"{module}.{function}__mutmut_*" for module in modules for function in target.functions]


def _equivalents() -> dict[str, str]:
    listed: dict[str, str] = {}
    if not EQUIVALENT.exists():
        return listed
    for line in EQUIVALENT.read_text("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"mutation/equivalent.txt: {name} has no reason")
        listed[name] = reason.strip()
    return listed


def _results(work: Path, target: Target) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """Every mutant of the target's files, and those of its selected functions."""
    codes: dict[str, int | None] = {}
    for source in target.sources:
        meta = work / "mutants" / (source + ".meta")
        codes.update(json.loads(meta.read_text("utf-8"))["exit_code_by_key"])
    patterns = _patterns(target)
    if not patterns:
        return codes, codes
    return codes, {k: v for k, v in codes.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}


def run_target(
    target: Target, *, workers: int, show: bool, equivalents: dict[str, str], report_only: bool = False
) -> tuple[int, int, list[str]]:
    work = WORK / target.name
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", HYPOTHESIS_DATABASE="none")
    started = time.monotonic()
    if not report_only:
        work = _prepare(target)
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(workers), *_patterns(target)]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stdout.write(done.stdout[-4000:])
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"mutation: {target.name}: mutmut failed (exit {done.returncode})")
    if not all((work / "mutants" / (s + ".meta")).exists() for s in target.sources):
        raise SystemExit(f"mutation: {target.name}: no results in {work}")
    every, codes = _results(work, target)
    modules = tuple(_module(source) + "." for source in target.sources)
    problems: list[str] = []
    stale = [name for name in equivalents if name.startswith(modules) and name not in every]
    problems += [f"{name} is listed as equivalent but no longer exists" for name in stale]
    counted = {name: code for name, code in codes.items() if name not in equivalents}
    killed = sum(1 for code in counted.values() if code in KILLED)
    survivors = sorted(name for name, code in counted.items() if code not in KILLED)
    for name in survivors:
        status = "survived" if counted[name] == 0 else f"exit {counted[name]}"
        print(f"    {status}: {name}")
        if show:
            diff = subprocess.run(
                [sys.executable, "-m", "mutmut", "show", name],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            print("\n".join("      " + line for line in diff.stdout.splitlines()[1:]))
    elapsed = time.monotonic() - started
    total = len(counted)
    percent = 100.0 * killed / total if total else 100.0
    print(f"mutation: {target.name} killed {killed}/{total} ({percent:.0f}%) in {elapsed:.0f} s", flush=True)
    return killed, total, problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", help=f"targets to run (default: all of {', '.join(BY_NAME)})")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--show", action="store_true", help="print the diff of every survivor")
    parser.add_argument(
        "--report-only", action="store_true", help="recount the last results (after editing equivalent.txt)"
    )
    args = parser.parse_args()
    unknown = [name for name in args.modules if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown module(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    targets = [BY_NAME[name] for name in args.modules] if args.modules else list(TARGETS)
    equivalents = _equivalents()
    started = time.monotonic()
    failing: list[str] = []
    all_killed = all_total = 0
    for target in targets:
        killed, total, problems = run_target(
            target,
            workers=args.workers,
            show=args.show,
            equivalents=equivalents,
            report_only=args.report_only,
        )
        all_killed += killed
        all_total += total
        for problem in problems:
            print(f"    {problem}")
        if problems or (total and 100.0 * killed / total < THRESHOLD):
            failing.append(target.name)
    minutes = (time.monotonic() - started) / 60
    load = os.getloadavg()[0]
    print(f"mutation: all killed {all_killed}/{all_total} in {minutes:.1f} min; load {load:.2f}")
    if failing:
        print(f"mutation: under {THRESHOLD:g}% (or stale equivalents): {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
