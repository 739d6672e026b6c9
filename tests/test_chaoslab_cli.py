"""The command line's conventions, modelled on httpie/cli (its exit-status enum and help): help with
examples and exit codes, one-line errors, tracebacks only with --debug, exactly one JSON object with --json, progress only on a
terminal, and `python -m chaoslab` exiting with main()'s code.

Not covered: a real terminal (isatty is injected), colours (there are none).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoslab import __version__, cli
from chaoslab.cli import Environment, main
from chaoslab.exit_codes import ExitCode
from chaoslab_fakes import CtrlCDisplay
from chaoslab_servers import Answer, app_server

PROJECT_DIR = Path(__file__).resolve().parent.parent
COMMANDS = ("probe", "run", "halt", "resume", "report", "hypotheses")
RATE = 20.0
DURATION = "1s"
REQUESTS = math.floor(RATE * 1.0)
PROBE_KEYS = {"sent", "ok", "failed", "success_rate", "achieved_rate", "latency_ms", "errors", "not_sent"}


def _main(*argv: str, tty: bool = False, env: Environment | None = None) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = env or Environment(stderr_isatty=tty)
    env.stdout, env.stderr = stdout, stderr
    return main(list(argv), env), stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize("command", ["", *COMMANDS])
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
        (
            ["probe", "http://127.0.0.1/", "--duration", "5x"],
            "UsageError: argument --duration: got '5x'; accepted a duration like 30s, 2m or 500ms (see chaoslab probe --help)",
        ),
        (
            ["probe", "http://127.0.0.1/", "--rate", "0"],
            "UsageError: argument --rate: got '0'; accepted a number of requests per second above 0 and at most 2000",
        ),
        (
            ["probe", "ftp://127.0.0.1/"],
            "UsageError: URL: got 'ftp://127.0.0.1/'; accepted an http:// or https:// URL with a host",
        ),
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
        code, stdout, stderr = _main(
            "probe", server.url, "--rate", f"{RATE:g}", "--duration", DURATION, "--json", "--out", str(tmp_path)
        )

    assert code == ExitCode.OK and stderr == ""
    summary = json.loads(stdout)  # raises on anything but one JSON document
    assert summary.keys() >= PROBE_KEYS and set(summary["latency_ms"]) == {"p50", "p95", "p99", "max"}
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
        return subprocess.run(
            [sys.executable, "-m", "chaoslab", *argv],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    version, usage = chaoslab("--version"), chaoslab("probe")

    assert (version.returncode, version.stdout) == (ExitCode.OK, f"chaoslab {__version__}\n")
    assert usage.returncode == ExitCode.USAGE and usage.stderr.startswith("UsageError:")


# probe: bad input, bounded memory, Ctrl-C, credentials, permissions, a full disk.


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--rate", "nan"],
            "UsageError: argument --rate: got 'nan'; accepted a number of requests per second above 0 and at most 2000",
        ),
        (["--rate", "inf"], "UsageError: argument --rate: got 'inf'; accepted a number"),
        (["--rate", "-5"], "UsageError: argument --rate: got '-5'; accepted a number"),
        (["--rate", "2001"], "UsageError: argument --rate: got '2001'; accepted a number"),
        (["--rate", "fast"], "UsageError: argument --rate: got 'fast'; accepted a number"),
        (["--duration", "25h"], f"UsageError: duration: got {25 * 3600}s; accepted above 0 and at most 24h"),
        (["--duration=-1s"], "UsageError: argument --duration: got '-1s'; accepted a duration"),
        (["--timeout", "2m"], "UsageError: timeout: got 120s; accepted above 0 and at most 60s"),
        (["--concurrency", "0"], "UsageError: concurrency: got 0; accepted 1 to 1000"),
        (["--concurrency", "many"], "UsageError: argument --concurrency: invalid int value: 'many'"),
    ],
)
def test_bad_numbers_exit_2_with_one_line(argv: list[str], message: str) -> None:
    code, stdout, stderr = _main("probe", "http://127.0.0.1:9/", *argv)

    assert code == ExitCode.USAGE and stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith(message)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1/api/", "Invalid IPv6 URL"),
        ("http://127.0.0.1:99999/api/", "Port out of range 0-65535"),
        ("http://127.0.0.1:0/api/", "port 0 is out of range"),
        ("http://127.0.0.1:-1/api/", "Port could not be cast to integer value as '-1'"),
        ("http:///api/", "got 'http:///api/';"),
        ("http://exa mple.com/api/", "holds a space or a control character"),
        ("file:///etc/passwd", "got 'file:///etc/passwd';"),
    ],
)
def test_bad_urls_exit_2_with_one_line(url: str, problem: str) -> None:
    code, stdout, stderr = _main("probe", url)

    assert code == ExitCode.USAGE and stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith("UsageError: URL: got ") and problem in line
    assert "accepted an http:// or https:// URL with a host, and a port from 1 to 65535" in line


def test_a_day_long_probe_holds_no_memory_per_scheduled_request() -> None:
    """At the longest duration and a high rate, starting the probe allocates next to nothing: no
    per-request array, no list of samples (an earlier probe allocated one slot per scheduled request)."""
    import tracemalloc

    env = Environment(display=CtrlCDisplay())
    tracemalloc.start()
    try:
        with app_server() as server:
            code, stdout, _ = _main("probe", server.url, "--rate", "1000", "--duration", "24h", "--json", env=env)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert code == ExitCode.INTERRUPTED and json.loads(stdout)["sent"] > 0
    scheduled = 1000 * 24 * 3600
    # Far below even one pointer per scheduled request (8 bytes each: 691 MB).
    assert peak_bytes < scheduled


SLOW_FOREVER = Answer(delay_s=30.0)  # longer than any test waits: an answer that never comes in time


def test_ctrl_c_counts_the_requests_in_flight_as_interrupted_and_marks_the_output(tmp_path: Path) -> None:
    env = Environment(display=CtrlCDisplay())
    out = tmp_path / "probe"
    with app_server(SLOW_FOREVER) as server:
        code, stdout, stderr = _main(
            "probe",
            server.url,
            "--rate",
            f"{RATE:g}",
            "--duration",
            "1m",
            "--timeout",
            "1m",
            "--json",
            "--out",
            str(out),
            env=env,
        )

    assert code == ExitCode.INTERRUPTED and stderr == "Interrupted: stopped by Ctrl-C\n"
    summary = json.loads(stdout)
    # Every request sent was still waiting on the server: not waited out, counted as interrupted.
    assert summary["interrupted"] is True and summary["sent"] > 0
    assert summary["errors"] == {"interrupted": summary["sent"]} and summary["ok"] == 0
    assert json.loads((out / "summary.json").read_text()) == summary
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == summary["scheduled"] and {sample["error"] for sample in samples} == {"interrupted"}


@pytest.fixture
def sigint_as_in_a_terminal() -> Iterator[None]:
    """SIGINT handled, as in a terminal's foreground process, here and in the processes started here.

    A suite started in the background (`./scripts/test &`) inherits SIGINT ignored from the shell, and a
    child inherits that too: a Ctrl-C test would then send signals nobody sees.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class CtrlCAgainWhileWriting(CtrlCDisplay):
    """The first Ctrl-C at the first progress update; the notes the CLI shows after it are kept."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


@pytest.mark.usefixtures("sigint_as_in_a_terminal")
def test_a_second_ctrl_c_while_the_results_are_written_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real SIGINT to this process as the output starts: without the deferral it would stop the writing."""
    write_output = cli._probe_output

    def second_ctrl_c_then_write(*args: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        write_output(*args)

    monkeypatch.setattr(cli, "_probe_output", second_ctrl_c_then_write)
    display = CtrlCAgainWhileWriting()
    out = tmp_path / "probe"
    with app_server() as server:
        code, stdout, stderr = _main(
            "probe", server.url, "--rate", f"{RATE:g}", "--duration", "5s", "--json", "--out", str(out),
            env=Environment(display=display),
        )  # fmt: skip

    assert code == ExitCode.INTERRUPTED and stderr == "Interrupted: stopped by Ctrl-C\n"
    assert json.loads(stdout) == json.loads((out / "summary.json").read_text())
    assert display.notes == ["still writing what was measured; Ctrl-C is ignored until that is done"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_text_summary_says_it_was_interrupted() -> None:
    env = Environment(display=CtrlCDisplay())
    with app_server(SLOW_FOREVER) as server:
        _, stdout, _ = _main("probe", server.url, "--rate", f"{RATE:g}", "--duration", "1m", env=env)

    assert stdout.splitlines()[1].startswith("INTERRUPTED by Ctrl-C: ")


@pytest.mark.usefixtures("sigint_as_in_a_terminal")
def test_two_ctrl_c_through_a_real_sigint_exit_130_without_a_traceback(tmp_path: Path) -> None:
    """The real thing: `python -m chaoslab probe` in its own process, SIGINT twice while requests hang."""
    import time

    with app_server(SLOW_FOREVER) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chaoslab",
                "probe",
                server.url,
                "--rate",
                "20",
                "--duration",
                "1m",
                "--timeout",
                "1m",
                "--json",
                "--out",
                str(tmp_path / "probe"),
            ],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.received.wait(30), "the probe never sent a request"
            process.send_signal(signal.SIGINT)
            time.sleep(0.2)  # inside the second it waits for the requests in flight
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            process.kill()

    assert process.returncode == ExitCode.INTERRUPTED
    assert "Traceback" not in stderr and stderr.splitlines()[-1] == "Interrupted: stopped by Ctrl-C"
    summary = json.loads(stdout)
    assert summary["interrupted"] is True and summary["errors"]["interrupted"] > 0
    assert json.loads((tmp_path / "probe" / "summary.json").read_text()) == summary


USER, PASSWORD, TOKEN = "operator", "pa55-word", "t0ken-value"


def test_credentials_in_the_url_are_redacted_in_every_output_and_file(tmp_path: Path) -> None:
    out = tmp_path / "probe"
    with app_server() as server:
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}/api/?token={TOKEN}&page=2#frag"
        code, stdout, stderr = _main("probe", url, "--rate", f"{RATE:g}", "--duration", DURATION, "--out", str(out))

    assert code == ExitCode.OK
    assert stdout.startswith(f"GET http://***@127.0.0.1:{server.port}/api/?token=***&page=***#***\n")
    written = stdout + stderr + "".join(path.read_text() for path in out.iterdir())
    for secret in (USER, PASSWORD, TOKEN):
        assert secret not in written


def test_credentials_in_a_bad_url_are_redacted_in_the_error() -> None:
    code, _, stderr = _main("probe", f"http://{USER}:{PASSWORD}@127.0.0.1:99999/api/?token={TOKEN}")

    assert code == ExitCode.USAGE
    assert stderr.startswith("UsageError: URL: got 'http://***@127.0.0.1:99999/api/?token=***'")
    assert PASSWORD not in stderr and TOKEN not in stderr and USER not in stderr


def test_probe_files_are_private(tmp_path: Path) -> None:
    out = tmp_path / "new" / "probe"
    with app_server() as server:
        code, _, _ = _main("probe", server.url, "--rate", f"{RATE:g}", "--duration", DURATION, "--out", str(out))

    assert code == ExitCode.OK
    assert out.stat().st_mode & 0o777 == 0o700
    assert {path.name: path.stat().st_mode & 0o777 for path in out.iterdir()} == {
        "samples.jsonl": 0o600,
        "summary.json": 0o600,
    }


def test_an_existing_directory_others_can_read_is_refused_before_probing(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with app_server() as server:
        code, stdout, stderr = _main("probe", server.url, "--out", str(shared))
        assert not server.received.is_set()

    assert code == ExitCode.USAGE and stdout == ""
    assert stderr == (
        f"UsageError: {shared}: a run directory must be private (mode 700), and this one has mode 755; "
        "give a new directory, or chmod 700 it\n"
    )
    assert shared.stat().st_mode & 0o777 == 0o755 and not list(shared.iterdir())


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A private directory on a 64 KiB tmpfs that is then filled to the last byte. Needs root (mount)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = mount_point / "probe"
        out.mkdir(mode=0o700)
        with (mount_point / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"x" * 4096)
        yield out
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_still_prints_the_summary_and_the_error_names_the_file(full_disk: Path) -> None:
    with app_server() as server:
        code, stdout, stderr = _main(
            "probe", server.url, "--rate", f"{RATE:g}", "--duration", DURATION, "--json", "--out", str(full_disk)
        )

    assert code == ExitCode.ERROR
    assert json.loads(stdout)["sent"] == REQUESTS
    assert stderr == f"OSError: [Errno 28] No space left on device: '{full_disk / 'samples.jsonl'}'\n"
    assert not [path for path in full_disk.iterdir() if path.name.endswith(".tmp")]
