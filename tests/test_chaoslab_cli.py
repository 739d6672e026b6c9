"""The command line's conventions (style.md, section 6): help with examples and exit codes, one-line
errors, tracebacks only with --debug, exactly one JSON object with --json, progress only on a
terminal, and `python -m chaoslab` exiting with main()'s code.

Not covered: a real terminal (isatty is injected), colours (there are none).
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from chaoslab import __version__
from chaoslab.cli import Environment, main
from chaoslab.exit_codes import ExitCode
from chaoslab_fakes import CtrlCDisplay
from chaoslab_servers import app_server

PROJECT_DIR = Path(__file__).resolve().parent.parent
COMMANDS = ("probe", "run", "halt", "resume", "report", "hypotheses")
RATE = 20.0
DURATION = "1s"
REQUESTS = math.floor(RATE * 1.0)
PROBE_KEYS = {"sent", "ok", "failed", "success_rate", "achieved_rate", "latency_ms", "errors", "not_sent"}


def _main(*argv: str, tty: bool = False, env: Environment | None = None) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = env or Environment(stdout_isatty=tty, stderr_isatty=tty)
    env.stdout, env.stderr = stdout, stderr
    return main(list(argv), env), stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_every_help_has_an_example_and_the_exit_codes(command: str) -> None:
    code, stdout, stderr = _main(*([command] if command else []), "--help")

    assert code == ExitCode.OK and stderr == ""
    assert "example:" in stdout
    exit_codes = stdout.split("exit codes:")[1].split()
    assert [str(member.value) for member in ExitCode] == [word for word in exit_codes if word.isdigit()]


def test_options_are_grouped_by_purpose() -> None:
    _, probe_help, _ = _main("probe", "--help")
    _, run_help, _ = _main("run", "--help")

    _, halt_help, _ = _main("halt", "--help")

    assert all(f"\n{group}:\n" in probe_help for group in ("load", "abort", "output"))
    assert all(f"\n{group}:\n" in run_help for group in ("target", "phases", "load", "output"))
    assert all(f"\n{group}:\n" in halt_help for group in ("target", "halt", "output"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["probe"], "UsageError: the following arguments are required: URL (see chaoslab probe --help)"),
        (["probe", "http://127.0.0.1/", "--duration", "5x"],
         "UsageError: argument --duration: got '5x'; accepted a duration like 30s, 2m or 500ms (see chaoslab probe --help)"),
        (["probe", "http://127.0.0.1/", "--rate", "0"],
         "UsageError: argument --rate: got '0'; accepted a number of requests per second above 0 and at most 2000"),
        (["probe", "ftp://127.0.0.1/"], "UsageError: URL: got 'ftp://127.0.0.1/'; accepted an http:// or https:// URL with a host"),
        (["run", "pod-kill", "--stack", "dev"], "UsageError: argument EXPERIMENT: invalid choice: 'pod-kill'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    code, stdout, stderr = _main(*argv)

    assert code == ExitCode.USAGE and stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith(message)


def test_a_runtime_error_is_one_line_and_exit_1_and_debug_adds_the_traceback(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    argv = ["probe", "http://127.0.0.1:9/", "--out", str(not_a_directory)]

    code, _, stderr = _main(*argv)
    debug_code, _, debug_stderr = _main(*argv, "--debug")

    assert code == debug_code == ExitCode.ERROR
    assert stderr == f"FileExistsError: [Errno 17] File exists: '{not_a_directory}'\n"
    assert debug_stderr.startswith("Traceback (most recent call last):") and debug_stderr.endswith(stderr)


def test_probe_json_is_exactly_one_object_and_out_has_every_sample(tmp_path: Path) -> None:
    with app_server() as server:
        code, stdout, stderr = _main("probe", server.url, "--rate", f"{RATE:g}", "--duration", DURATION,
                                     "--json", "--out", str(tmp_path))

    assert code == ExitCode.OK and stderr == ""
    summary = json.loads(stdout)  # raises on anything but one JSON document
    assert PROBE_KEYS <= summary.keys() and set(summary["latency_ms"]) == {"p50", "p95", "p99", "max"}
    assert summary["sent"] == summary["ok"] == REQUESTS
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(lines) == REQUESTS
    assert set(json.loads(lines[0])) == {"scheduled_s", "started_s", "latency_ms", "status", "error"}


@pytest.mark.parametrize("tty", [True, False])
def test_live_progress_only_on_a_terminal(tty: bool) -> None:
    with app_server() as server:
        code, stdout, stderr = _main("probe", server.url, "--rate", f"{RATE:g}", "--duration", DURATION, tty=tty)

    assert code == ExitCode.OK
    assert stdout.startswith(f"GET {server.url}\nsent {REQUESTS} of {REQUESTS} scheduled")
    if tty:
        assert stderr.startswith("\rprobe:") and "/s  ok 100.0%  p95" in stderr
    else:
        assert stderr == ""


def test_ctrl_c_during_a_probe_prints_what_it_has_and_exits_130() -> None:
    env = Environment(display=CtrlCDisplay())
    with app_server() as server:
        code, stdout, stderr = _main("probe", server.url, "--rate", f"{RATE:g}", "--duration", "5s", "--json", env=env)

    assert code == ExitCode.INTERRUPTED
    assert stderr == "Interrupted: stopped by Ctrl-C\n"
    summary = json.loads(stdout)
    assert 0 < summary["sent"] < RATE * 5


def test_python_m_chaoslab_exits_with_mains_code() -> None:
    def chaoslab(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "chaoslab", *argv], cwd=PROJECT_DIR, capture_output=True, text=True,
                              timeout=60, check=False)

    version, usage = chaoslab("--version"), chaoslab("probe")

    assert (version.returncode, version.stdout) == (ExitCode.OK, f"chaoslab {__version__}\n")
    assert usage.returncode == ExitCode.USAGE and usage.stderr.startswith("UsageError:")
