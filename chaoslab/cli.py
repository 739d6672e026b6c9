"""The `chaoslab` command line: `python -m chaoslab COMMAND ...` from the project root.

`main(argv, env)` takes an Environment holding the streams, their TTY flags and the factories for
the stack and the cluster, so tests swap any of them (httpie's context.py does the same). Results go
to stdout, progress and errors to stderr; an error is one `Type: message` line, with the traceback
only under --debug.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import signal
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

from chaoslab.experiments import CATALOG
from chaoslab.experiments.durations import format_duration, parse_duration
from chaoslab.experiments.errors import ConfigError, RollbackFailed
from chaoslab.experiments.fis import FIS_CATALOG
from chaoslab.experiments.values import is_dns_label

from . import __version__
from . import fis as fis_ops
from .abort import (
    GRAMMAR,
    MIN_WINDOW_REQUESTS,
    AbortCondition,
    AbortWatch,
    Breach,
    Halted,
    check_conditions,
    parse_condition,
)
from .aws import REGION_OUTPUT, ConnectAws, boto3_client, stack_region, template_ids
from .cloudwatch_samples import CLOUDWATCH_FILE, read_intervals, window, write_series
from .cluster import ClusterWatcher, KubeAccess, KubernetesWatcher, custom_objects_api, kube_access
from .display import Display, StderrDisplay
from .errors import UsageError
from .exit_codes import ERROR_EXIT_CODES, EXIT_CODE_HELP, ExitCode, exit_code_for
from .files import private_directory, write_json
from .fis_halt import halt_fis, resume_fis
from .fis_hypotheses import FIS_HYPOTHESES
from .halt import DEFAULT_WAIT_S, HaltReport, Issued, finish_halt, halt, issue_halt, resume
from .hypotheses import HYPOTHESES, RECOVERED_AFTER, STEADY_STATE_BEFORE
from .interrupts import sigint_deferred
from .journal import JOURNAL_FILE, RunStatus, one_line
from .plan import (
    DEFAULT_AFTER_S,
    DEFAULT_BASELINE_S,
    SAMPLE_SOURCES,
    SAMPLES_FROM_PROBE,
    RunOptions,
    lab_config,
    make_plan,
)
from .portforward import forwarded_frontend
from .probe import (
    DEFAULT_CONCURRENCY_MAX,
    DEFAULT_RATE,
    DEFAULT_TIMEOUT_S,
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_RATE,
    MAX_TIMEOUT_S,
    ProbeInterrupted,
    ProbeResult,
    ProbeSettings,
    default_concurrency,
    probe,
    redact_url,
)
from .report import read_journal, write_report
from .retrying import HALT_DEADLINE_S
from .run import AwsTiming, execute
from .samples import MS_PER_S, RELATIVE_ERROR, ErrorKind, SampleFile, Summary
from .stack import AutomationStack, StackDriver

PROG = "chaoslab"
SAMPLES_FILE = "samples.jsonl"
SUMMARY_FILE = "summary.json"


def _connect_cluster(access: KubeAccess) -> ClusterWatcher:
    return KubernetesWatcher(custom_objects_api(access))


@dataclass
class Environment:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stderr_isatty: bool = field(default_factory=sys.stderr.isatty)
    connect_stack: Callable[[str, Path], StackDriver] = AutomationStack.select
    connect_cluster: Callable[[KubeAccess], ClusterWatcher] = _connect_cluster
    # The CustomObjectsApi `halt`, `resume` and a probe's abort use.
    connect_kube: Callable[[KubeAccess], Any] = custom_objects_api
    # AWS clients (FIS, CloudWatch) in the stack's Region, from its `region` output: (service, region) -> client.
    connect_aws: ConnectAws = boto3_client
    aws_timing: AwsTiming = AwsTiming()
    # None: notes on stderr, and the live progress line when stderr is a terminal.
    display: Display | None = None

    def progress_display(self) -> Display:
        return self.display or StderrDisplay(self.stderr, live=self.stderr_isatty)


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    env = env or Environment()
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    try:
        args = build_parser(env).parse_args(arguments)
        return int(args.handler(args, env))
    except SystemExit as exit_request:  # --help and --version
        return int(exit_request.code or 0)
    except KeyboardInterrupt:
        _report_error(env, "Interrupted: stopped by Ctrl-C", debug)
        return ExitCode.INTERRUPTED
    except Exception as error:  # one line, not a traceback; the code says which kind of failure it was
        _report_error(env, _error_line(error), debug)
        return exit_code_for(error)


def run() -> NoReturn:
    """The process's entry point (console script and `python -m chaoslab`)."""
    try:
        code = main()
    except KeyboardInterrupt:  # a second Ctrl-C after main had already reported the first
        code = ExitCode.INTERRUPTED
    # Everything is written and every thread left is a daemon: a Ctrl-C landing during the exit itself
    # would otherwise end the process by SIGINT (-2) instead of with the interrupted exit code.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


def _error_line(error: BaseException) -> str:
    if isinstance(error, ConfigError):
        return f"ConfigError: {'; '.join(' '.join(problem.split()) for problem in error.problems)}"
    return one_line(error)


def _report_error(env: Environment, line: str, debug: bool) -> None:
    if debug:
        env.stderr.write(traceback.format_exc())
    env.stderr.write(line + "\n")


# Command line.


def _exit_code_line(code: ExitCode) -> str:
    kinds = [kind.__name__ for kind, kind_code in ERROR_EXIT_CODES.items() if kind_code == code]
    return f"  {code.value:<4}{EXIT_CODE_HELP[code]}" + (f" ({', '.join(kinds)})" if kinds else "")


EXIT_CODES_EPILOG = "exit codes:\n" + "\n".join(map(_exit_code_line, ExitCode))


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the paragraphs of an option's help: its one-line summary, then the longer text."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return [line for paragraph in text.split("\n") for line in (textwrap.wrap(paragraph, width) or [""])]


class _Parser(argparse.ArgumentParser):
    """Writes help to the environment's stdout and turns usage errors into UsageError."""

    def __init__(self, *args: Any, stdout: TextIO, **kwargs: Any) -> None:
        kwargs.update(formatter_class=_Formatter, epilog=EXIT_CODES_EPILOG)
        super().__init__(*args, **kwargs)
        self.stdout = stdout

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            self.stdout.write(message)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted a duration like 30s, 2m or 500ms") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted a duration above zero")
    return seconds


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not 0 < rate <= MAX_RATE:  # false for nan too
        raise argparse.ArgumentTypeError(
            f"got {text!r}; accepted a number of requests per second above 0 and at most {MAX_RATE:g}"
        )
    return rate


def _namespace(text: str) -> str:
    if not is_dns_label(text):
        raise argparse.ArgumentTypeError(
            f"got {text!r}; accepted a namespace name: lowercase letters, digits and '-', at most 63"
        )
    return text


_HALT_ID = re.compile(r"\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}")


def _halt_id(text: str) -> str:
    if not _HALT_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"got {text!r}; accepted a halt ID as halt prints it, e.g. 20260101T120000.000Z-3fa9c1"
        )
    return text


def _condition(text: str) -> AbortCondition:
    try:
        return parse_condition(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _help(summary: str, detail: str) -> str:
    """An option's help: one line, then the longer text with an example."""
    return f"{summary}\n{detail}"


def build_parser(env: Environment) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        stdout=env.stdout,
        description=textwrap.dedent("""\
            Operate the chaos lab: probe the demo app, run one catalog experiment against a stack with
            its steady-state hypothesis, and report on the run.

            example:
              python -m chaoslab run basic-pod-kill --stack dev"""),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=_help(
            "Print the traceback of an error.",
            "Errors are otherwise one `Type: message` line on stderr, e.g. chaoslab --debug report RUN_DIR.",
        ),
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_probe(commands, env)
    _add_run(commands, env)
    _add_halt(commands, env)
    _add_resume(commands, env)
    _add_report(commands, env)
    _add_hypotheses(commands, env)
    return parser


def _command(commands: Any, env: Environment, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=f"{summary}\n\n{textwrap.dedent(description)}", stdout=env.stdout
    )
    # SUPPRESS, so that `--debug` before the command is not reset to False by the command's default.
    command.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help=_help("Print the traceback of an error.", "Same as --debug before the command."),
    )
    return command


def _add_load_options(command: argparse.ArgumentParser) -> None:
    load = command.add_argument_group("load")
    load.add_argument(
        "--rate",
        type=_rate,
        default=DEFAULT_RATE,
        help=_help(
            f"Requests started per second (default {DEFAULT_RATE:g}, at most {MAX_RATE:g}).",
            "Open loop: each request starts on schedule whether or not earlier ones have answered, e.g. --rate 50.",
        ),
    )
    load.add_argument(
        "--timeout",
        type=_duration,
        default=DEFAULT_TIMEOUT_S,
        metavar="DURATION",
        help=_help(
            f"Longest a request may take, connect to last byte (default {format_duration(DEFAULT_TIMEOUT_S)}, "
            f"at most {format_duration(MAX_TIMEOUT_S)}).",
            "A request still unanswered then counts as a timeout, e.g. --timeout 2s.",
        ),
    )
    load.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help=_help(
            f"Most requests in flight at once (default: rate x timeout, at most {DEFAULT_CONCURRENCY_MAX}; 1 to {MAX_CONCURRENCY}).",
            "A request due while N are in flight is not sent and is counted as not_sent, e.g. --concurrency 20.",
        ),
    )


def _add_abort_if(group: argparse._ArgumentGroup, judged: str) -> None:
    # argparse %-formats help text: the grammar's percent signs are doubled.
    group.add_argument(
        "--abort-if",
        action="append",
        type=_condition,
        default=[],
        metavar="CONDITION",
        help=_help(
            f"Stop as soon as CONDITION holds {judged} (repeatable: any one stops).",
            f"{GRAMMAR.replace('%', '%%')}. Judged on the requests completed in the last "
            f"WINDOW, once it holds {MIN_WINDOW_REQUESTS}, e.g. --abort-if 'success<90%%/10s' --abort-if 'p95>800ms/10s'.",
        ),
    )


def _add_fence(group: argparse._ArgumentGroup, *, prefix: str, required: bool, verb: str) -> None:
    """Where a halt may act: a stack's sandbox namespace, or one namespace through the ambient kubeconfig."""
    fence = group.add_mutually_exclusive_group(required=required)
    fence.add_argument(
        f"--{prefix}stack",
        dest="fence_stack",
        metavar="STACK",
        help=_help(
            f"{verb} the stack's sandbox namespace (chaos-lab:sandboxNamespace) and set chaos-lab:halted.",
            "The kubeconfig is the stack's: its kubeconfig output (EKS), or yours with chaos-lab:kubeconfigContext, "
            f"e.g. --{prefix}stack dev.",
        ),
    )
    fence.add_argument(
        f"--{prefix}namespace",
        dest="fence_namespace",
        type=_namespace,
        metavar="NAMESPACE",
        help=_help(
            f"{verb} this namespace only, through your kubeconfig; no stack config is changed.",
            f"For a cluster managed by hand, e.g. --{prefix}namespace chaos-sandbox --context kind-chaos.",
        ),
    )
    group.add_argument(
        "--project-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help=_help(
            "The Pulumi project's directory, with a stack (default: the current one).",
            "e.g. --project-dir ~/chaos-lab.",
        ),
    )
    group.add_argument(
        "--context",
        metavar="CONTEXT",
        help=_help(
            f"The kubeconfig context, with --{prefix}namespace (default: the current one).",
            "With a stack, its chaos-lab:kubeconfigContext decides, e.g. --context kind-chaos.",
        ),
    )


def _add_probe(commands: Any, env: Environment) -> None:
    command = _command(
        commands,
        env,
        "probe",
        "Probe a URL at a constant rate and summarize the answers.",
        """\
        Sends GET requests open-loop (no coordinated omission), records every request's scheduled
        and actual start, latency, status and error kind (timeout, connection_refused,
        connection_reset, dns, http_5xx, http_4xx, other), and prints a summary. A live line on
        stderr shows rate, success and p95 while it runs (on a terminal).

        With --abort-if it stops as soon as a condition holds (exit 4) and, with --halt-stack or
        --halt-namespace, halts the chaos there at once, as `halt` does.

        example:
          python -m chaoslab probe http://127.0.0.1:8080/api/ --rate 20 --duration 30s --json
          python -m chaoslab probe http://127.0.0.1:8080/api/ --duration 10m --abort-if 'success<90%/10s' --halt-stack dev""",
    )
    command.add_argument("url", metavar="URL", help=_help("The URL to GET.", "e.g. http://127.0.0.1:8080/api/"))
    command.add_argument(
        "--duration",
        type=_duration,
        default=parse_duration("10s"),
        metavar="DURATION",
        help=_help(
            f"How long to probe (default 10s, at most {format_duration(MAX_DURATION_S)}).",
            "Chaos Mesh units, e.g. --duration 500ms, 30s or 2m. Memory stays bounded at any duration: the summary "
            f"is a fixed-size histogram (percentiles at most {RELATIVE_ERROR * 100:g} %% above the exact ones) and --out streams the samples to disk.",
        ),
    )
    _add_load_options(command)
    abort = command.add_argument_group("abort")
    _add_abort_if(abort, "while probing")
    _add_fence(abort, prefix="halt-", required=False, verb="When a condition holds, halt")
    _add_probe_output(command)
    command.set_defaults(handler=_probe)


def _add_probe_output(command: argparse.ArgumentParser) -> None:
    output = command.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=_help(
            f"Write every sample to DIR/{SAMPLES_FILE} and the summary to DIR/{SUMMARY_FILE}.",
            "One JSON object per request, in the order they finished. DIR is created 0700 (an existing one must "
            "already be private) and the files 0600, e.g. --out /tmp/probe-1.",
        ),
    )
    output.add_argument(
        "--json",
        action="store_true",
        help=_help(
            "Print the summary as exactly one JSON object.",
            "Keys: sent, ok, failed, success_rate, achieved_rate, latency_ms {p50,p95,p99,max}, errors {kind: count}, "
            "not_sent, scheduled, requested_rate, duration_s, start_lateness_ms, interrupted, and abort with --abort-if; "
            "e.g. ... --json | jq .latency_ms.p95",
        ),
    )


def _add_run(commands: Any, env: Environment) -> None:
    command = _command(
        commands,
        env,
        "run",
        "Run one catalog experiment against a stack and judge its hypothesis.",
        """\
        Probes a baseline; enables the experiment in the stack's config
        (chaos-lab:experiments.<name>.enabled) and runs `pulumi up`; waits until Chaos Mesh reports
        it injected; probes during the chaos; disables it and runs `pulumi up`; waits until it is
        recovered; probes after; judges the steady-state hypothesis and writes the journal and
        report. Ctrl-C or any failure after enabling still disables the experiment and writes a
        partial report. Needs the pulumi CLI (logged in) and cluster access (kubeconfig).

        With --abort-if, a condition that holds during the chaos pauses the chaos object at once
        (Kubernetes API), then disables the experiment: status aborted, exit 4.

        A FIS entry (spot-interruption, node-group-loss, zone-outage, or a Chaos Mesh entry with
        engine: fis) is enabled the same way: `pulumi up` declares its experiment template. Then
        `run` starts the template from the stack's fisTemplateIds output (AWS credentials from
        boto3's usual chain, the Region from the stack's region output), shows each state of the
        experiment and its actions on stderr, probes during it and until it ends, and records the
        FIS experiment ID, states and stop reason in the journal and report. Ctrl-C, a failure, an
        --abort-if condition or (with --abort-on-alarm) a steady-state alarm in ALARM sends
        StopExperiment and waits for `stopped`; a stop that does not finish in time exits 5 after an
        abort.

        example:
          python -m chaoslab run api-high-latency --stack dev --baseline 1m --rate 20
          python -m chaoslab run node-group-loss --stack dev --abort-on-alarm
          python -m chaoslab run basic-pod-kill --stack dev --abort-if 'success<90%/10s'
          python -m chaoslab run basic-pod-kill --stack dev --dry-run""",
    )
    _add_run_target(command)
    _add_run_phases(command)
    _add_load_options(command)
    _add_run_samples(command)
    _add_run_output(command)
    command.set_defaults(handler=_run)


def _add_run_target(command: argparse.ArgumentParser) -> None:
    """What to run, on which stack, probing which URL."""
    command.add_argument(
        "experiment",
        metavar="EXPERIMENT",
        choices=[*CATALOG, *FIS_CATALOG],
        help=_help(
            "A catalog experiment.", f"One of {', '.join([*CATALOG, *FIS_CATALOG])}; see `chaoslab hypotheses`."
        ),
    )
    target = command.add_argument_group("target")
    target.add_argument(
        "--stack",
        required=True,
        help=_help("The Pulumi stack to switch the experiment on in.", "e.g. --stack dev (Pulumi.dev.yaml)."),
    )
    target.add_argument(
        "--project-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help=_help(
            "The Pulumi project's directory (default: the current one).",
            "Where Pulumi.yaml is, e.g. --project-dir ~/chaos-lab.",
        ),
    )
    target.add_argument(
        "--url",
        help=_help(
            "The URL to probe (default: the frontend's /api/ through kubectl port-forward).",
            "The port-forward reaches one frontend pod; pass a load balancer's URL to go through the Service, "
            "e.g. --url http://a1b2.elb.amazonaws.com/api/.",
        ),
    )


def _add_run_phases(command: argparse.ArgumentParser) -> None:
    """How long each phase is probed, and what cuts the chaos short."""
    phases = command.add_argument_group("phases")
    phases.add_argument(
        "--baseline",
        type=_duration,
        default=DEFAULT_BASELINE_S,
        metavar="DURATION",
        help=_help(
            f"How long to probe before the chaos (default {format_duration(DEFAULT_BASELINE_S)}).",
            "Its summary is what the relative thresholds are computed from, e.g. --baseline 1m.",
        ),
    )
    phases.add_argument(
        "--during",
        type=_duration,
        default=None,
        metavar="DURATION",
        help=_help(
            "How long to probe during the chaos (default: the experiment's own duration).",
            "At most the experiment's duration, and cut to what is left of it once injected, e.g. --during 45s.",
        ),
    )
    phases.add_argument(
        "--after",
        type=_duration,
        default=DEFAULT_AFTER_S,
        metavar="DURATION",
        help=_help(
            f"How long to probe after recovery (default {format_duration(DEFAULT_AFTER_S)}).",
            "The app must be back within the bounds of the baseline, e.g. --after 1m.",
        ),
    )
    _add_abort_if(phases, "during the chaos")
    phases.add_argument(
        "--abort-on-alarm",
        action="store_true",
        help=_help(
            "Also stop a FIS run when a steady-state alarm is in ALARM (FIS entries, or engine: fis).",
            "Polls DescribeAlarms for the stack's steadyStateAlarmArns (successRate, p95Latency) at every FIS poll "
            f"({fis_ops.DEFAULT_POLL_S:g}s) and sends StopExperiment on ALARM: status aborted, exit 4. FIS's own stop "
            "condition watches the same alarms; this does not wait for it, e.g. --abort-on-alarm.",
        ),
    )


def _add_run_samples(command: argparse.ArgumentParser) -> None:
    command.add_argument_group("samples").add_argument(
        "--samples-from",
        choices=SAMPLE_SOURCES,
        default=SAMPLES_FROM_PROBE,
        help=_help(
            "Judge each phase on run's own probe (default) or on the in-cluster prober's figures in CloudWatch.",
            "cloudwatch: no local probe and no port-forward; each phase lasts its duration, then its 10-second "
            "intervals are read with GetMetricData (namespace ChaosLab/SteadyState/<stack>, Stack and Target "
            "dimensions) about 20 s later, once published. Counts add up exactly; p50/p95/p99 are the worst "
            "interval's; the maximum is unknown. Needs steadyState.enabled on an EKS stack; --rate, --timeout and "
            "--concurrency are the prober's (steadyState.rate and timeout) and --abort-if is refused: use "
            "--abort-on-alarm, e.g. --samples-from cloudwatch.",
        ),
    )


def _add_run_output(command: argparse.ArgumentParser) -> None:
    output = command.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=_help(
            "The run directory (default .chaoslab/runs/<UTC time>-<experiment>).",
            "Journal, samples, report.md, summaries.json and latency.png go there, e.g. --out runs/pod-kill-1.",
        ),
    )
    output.add_argument(
        "--dry-run",
        action="store_true",
        help=_help(
            "Print the plan and change nothing.", "Reads the stack's config to plan; runs no probe and no update."
        ),
    )
    output.add_argument(
        "--json",
        action="store_true",
        help=_help(
            "Print the run's summaries as exactly one JSON object.",
            "The same object as the run's summaries.json, plus run_dir.",
        ),
    )


def _add_halt(commands: Any, env: Environment) -> None:
    command = _command(
        commands,
        env,
        "halt",
        "Stop every chaos experiment in the fenced namespace, within seconds.",
        """\
        Pauses every Schedule and deletes every Workflow first (they spawn new chaos objects; a
        Workflow cannot be paused), then pauses every Chaos Mesh experiment (annotation
        experiment.chaos-mesh.org/pause, marked as chaoslab's and with this halt's ID), then lists
        again, pausing anything new, until a full pass finds nothing active. Every list and request
        is retried on connection errors, 429 (honouring Retry-After) and 5xx, with backoff, all within
        --deadline. With --stack, sets chaos-lab:halted=true so the next `pulumi up` declares no chaos
        (`run` refuses a halted stack); then waits until Chaos Mesh reports them recovered and the
        Workflows gone. Prints the halt ID, each object, what was done and its state, and the time to
        "all requests issued" and to "all recovered". Halting twice is harmless. Nothing outside the
        namespace is read or changed in Kubernetes.

        With --stack on an EKS stack (it has a region output), halt also stops every unfinished
        FIS experiment of the stack (tagged chaos-lab:stack, or started from its fisTemplateIds)
        with StopExperiment, at the same time as the pauses, and waits for each to end; with
        --fis-safety-lever it first engages the account's FIS safety lever.

        If anything is still active at the deadline, or not recovered within --wait, it prints
        "halt FAILED" with each such object and the reason, and exits 1.

        example:
          python -m chaoslab halt --stack dev
          python -m chaoslab halt --namespace chaos-sandbox --context kind-chaos --dry-run""",
    )
    target = command.add_argument_group("target")
    _add_fence(target, prefix="", required=True, verb="Halt")
    _add_halt_behaviour(command)
    _add_change_outputs(command, "halt")
    command.set_defaults(handler=_halt)


def _add_halt_behaviour(command: argparse.ArgumentParser) -> None:
    behaviour = command.add_argument_group("halt")
    behaviour.add_argument(
        "--up",
        action="store_true",
        help=_help(
            "Also run `pulumi up` once the chaos is paused (with --stack).",
            "It deletes the chaos objects the stack declared; it takes about a minute, the pause a few seconds, "
            "which is why it comes last and is optional, e.g. halt --stack dev --up.",
        ),
    )
    _add_deadline(behaviour, "halt")
    behaviour.add_argument(
        "--fis-safety-lever",
        action="store_true",
        help=_help(
            "Also engage the account's FIS safety lever (with --stack on an EKS stack).",
            "It stops EVERY running FIS experiment in the account and Region, not only this stack's, and refuses new "
            "ones until it is disengaged; the lever's reason records this stack, so only `resume --stack STACK "
            "--fis-safety-lever` releases it. One already engaged by someone else is left as it is, e.g. "
            "halt --stack dev --fis-safety-lever.",
        ),
    )
    behaviour.add_argument(
        "--wait",
        type=_duration,
        default=DEFAULT_WAIT_S,
        metavar="DURATION",
        help=_help(
            f"Longest to wait for Chaos Mesh to report recovery (default {format_duration(DEFAULT_WAIT_S)}).",
            "Counted once the pauses are confirmed; an object not recovered by then is reported and the exit code is 1, "
            "e.g. --wait 2m.",
        ),
    )


def _add_resume(commands: Any, env: Environment) -> None:
    command = _command(
        commands,
        env,
        "resume",
        "Undo a halt: clear chaos-lab:halted and un-pause what that halt paused.",
        """\
        With --stack, removes chaos-lab:halted from the stack's config; then removes the pause from
        the objects one halt paused (their chaos-lab.dev/halt-id mark): the one --halt-id names, by
        default the latest halt found in the namespace. --all un-pauses everything chaoslab paused
        (its chaos-lab.dev/paused-by mark). Objects someone else paused stay paused, and so do those
        of other halts. Chaos Mesh then injects them again. Workflows halt deleted do not come back
        by themselves: run `pulumi up --refresh`, or halt with --up next time.

        example:
          python -m chaoslab resume --stack dev
          python -m chaoslab resume --namespace chaos-sandbox --halt-id 20260101T120000.000Z-3fa9c1 --dry-run""",
    )
    target = command.add_argument_group("target")
    _add_fence(target, prefix="", required=True, verb="Resume")
    _add_resume_behaviour(command)
    _add_change_outputs(command, "resume")
    command.set_defaults(handler=_resume)


def _add_resume_behaviour(command: argparse.ArgumentParser) -> None:
    behaviour = command.add_argument_group("resume")
    behaviour.add_argument(
        "--up",
        action="store_true",
        help=_help(
            "Also run `pulumi up` afterwards (with --stack).",
            "It declares the enabled experiments again, e.g. resume --stack dev --up.",
        ),
    )
    which = behaviour.add_mutually_exclusive_group()
    which.add_argument(
        "--halt-id",
        type=_halt_id,
        metavar="ID",
        help=_help(
            "Un-pause what this halt paused (default: the latest halt in the namespace).",
            "halt prints its ID, e.g. --halt-id 20260101T120000.000Z-3fa9c1.",
        ),
    )
    which.add_argument(
        "--all",
        dest="every_halt",
        action="store_true",
        help=_help(
            "Un-pause everything chaoslab paused, whichever halt it was.",
            "Someone else's pause still stays, e.g. resume --stack dev --all.",
        ),
    )
    behaviour.add_argument(
        "--fis-safety-lever",
        action="store_true",
        help=_help(
            "Also disengage the account's FIS safety lever, if this stack engaged it (with --stack).",
            "A lever engaged by someone else, or by another stack, stays engaged: resume says whose it is and exits 1, "
            "e.g. resume --stack dev --fis-safety-lever.",
        ),
    )
    _add_deadline(behaviour, "resume")


def _add_deadline(group: argparse._ArgumentGroup, name: str) -> None:
    group.add_argument(
        "--deadline",
        type=_duration,
        default=HALT_DEADLINE_S,
        metavar="DURATION",
        help=_help(
            f"How long {name} keeps retrying the Kubernetes API, in all (default {format_duration(HALT_DEADLINE_S)}).",
            "Connection errors, 429 and 5xx are retried with exponential backoff and jitter until then; "
            "no new attempt starts after it, e.g. --deadline 2m while the API server is being replaced.",
        ),
    )


def _add_change_outputs(command: argparse.ArgumentParser, name: str) -> None:
    output = command.add_argument_group("output")
    output.add_argument(
        "--dry-run",
        action="store_true",
        help=_help(
            f"List what {name} would change, and change nothing.",
            "No patch, no delete, no config change; the lists are read.",
        ),
    )
    output.add_argument(
        "--json",
        action="store_true",
        help=_help(
            "Print the outcome as exactly one JSON object.",
            "Keys: command, namespace, stack, dry_run, ok, halt_id, deadline_s, objects [{resource, name, action, state, "
            "error}], problems [one line each], issued_s, recovered_s (null unless everything recovered), config, update, "
            "fis {region, experiments {ID: final state}, safety_lever, errors} (null without AWS).",
        ),
    )


def _add_report(commands: Any, env: Environment) -> None:
    command = _command(
        commands,
        env,
        "report",
        "Write a run's Markdown log, summaries JSON and latency chart.",
        """\
        Reads RUN_DIR/journal.json and the phases' samples (and the in-cluster prober's figures,
        if the run or --cloudwatch read them) and (re)writes report.md, summaries.json and
        latency.png there; `run` does this itself when it ends. Notes written under "What we
        learned" in report.md are kept.

        example:
          python -m chaoslab report .chaoslab/runs/20260101T120000Z-basic-pod-kill""",
    )
    command.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        type=Path,
        help=_help(
            "A directory `run` wrote.", "It holds journal.json, e.g. .chaoslab/runs/20260101T120000Z-basic-pod-kill."
        ),
    )
    command.add_argument(
        "--cloudwatch",
        action="store_true",
        help=_help(
            "First read the in-cluster prober's figures over the run from CloudWatch, to overlay on the chart.",
            f"GetMetricData in the Region the journal records (the stack's region output), namespace "
            f"ChaosLab/SteadyState/<stack>, from the run's start to its end; written to RUN_DIR/{CLOUDWATCH_FILE}. "
            "The chart then shows the in-cluster p95 and success rate per 10 s and the experiment's window next to "
            "run's own requests, e.g. report RUN_DIR --cloudwatch.",
        ),
    )
    command.add_argument(
        "--json",
        action="store_true",
        help=_help("Print the run's summaries as exactly one JSON object.", "The content of summaries.json."),
    )
    command.set_defaults(handler=_report)


def _add_hypotheses(commands: Any, env: Environment) -> None:
    command = _command(
        commands,
        env,
        "hypotheses",
        "List each catalog experiment's steady-state hypothesis.",
        """\
        What `run` checks before the chaos (baseline), during it (the experiment's own hypothesis)
        and after it (recovery), with thresholds relative to the baseline where they are relative.

        example:
          python -m chaoslab hypotheses""",
    )
    command.add_argument(
        "--json",
        action="store_true",
        help=_help(
            "Print them as exactly one JSON object.", 'e.g. {"before": [...], "after": [...], "experiments": {...}}.'
        ),
    )
    command.set_defaults(handler=_hypotheses)


# Commands.


def _emit(env: Environment, args: argparse.Namespace, value: Any, text: str) -> None:
    env.stdout.write(json.dumps(value) + "\n" if args.json else text)


@dataclass(frozen=True)
class _Fenced:
    """Where a halt acts: the namespace, the CustomObjectsApi reaching it, and the stack (None: --namespace)."""

    namespace: str
    api: Any
    stack: StackDriver | None
    outputs: Mapping[str, Any] = field(default_factory=dict)  # the stack's; empty with --namespace


def _project_dir(path: Path) -> Path:
    project_dir = path.resolve()
    if not (project_dir / "Pulumi.yaml").is_file():
        raise UsageError(f"{project_dir} has no Pulumi.yaml; run from the project root or pass --project-dir")
    return project_dir


@contextlib.contextmanager
def _fenced(args: argparse.Namespace, env: Environment) -> Iterator[_Fenced]:
    """The fence comes from the stack's config (sandbox namespace, kubeconfig context, kubeconfig
    output) or, without a stack, from --namespace and the ambient kubeconfig: never from both."""
    if args.fence_stack is None:
        with kube_access({}, args.context) as access:
            yield _Fenced(args.fence_namespace, env.connect_kube(access), None)
        return
    if args.context is not None:
        raise UsageError("--context: with a stack, its chaos-lab:kubeconfigContext decides the context")
    stack = env.connect_stack(args.fence_stack, _project_dir(args.project_dir))
    lab = lab_config(stack.get_all_config(), stack.name)
    outputs = stack.outputs()
    with kube_access(outputs, lab.kubeconfig_context) as access:
        yield _Fenced(lab.sandbox_namespace, env.connect_kube(access), stack, outputs)


def _probe(args: argparse.Namespace, env: Environment) -> int:
    settings = ProbeSettings(
        url=args.url,
        rate=args.rate,
        duration_s=args.duration,
        timeout_s=args.timeout,
        concurrency=default_concurrency(args.rate, args.timeout) if args.concurrency is None else args.concurrency,
    )
    halting = args.fence_stack is not None or args.fence_namespace is not None
    if halting and not args.abort_if:
        raise UsageError("--halt-stack and --halt-namespace act when an --abort-if condition holds; give one")
    check_conditions(args.abort_if, settings.rate)
    # Before probing, so a bad --out fails at once; the samples stream there as requests finish.
    samples = None if args.out is None else SampleFile(private_directory(args.out) / SAMPLES_FILE)
    display = env.progress_display()
    with contextlib.ExitStack() as resources:
        # Connected before the first request: on a breach only the Kubernetes requests are left to make.
        fenced = resources.enter_context(_fenced(args, env)) if halting else None
        issued: list[Issued] = []
        watch = (
            AbortWatch(args.abort_if, None if fenced is None else _issuer(fenced, issued)) if args.abort_if else None
        )
        try:
            result = probe(settings, display, watch=watch, sinks=() if samples is None else (samples,))
        except ProbeInterrupted as interrupted:
            with sigint_deferred(display, "still writing what was measured"):
                _probe_output(args, env, interrupted.result, None, samples)
            raise
        report = None
        if fenced is not None and issued:
            report = finish_halt(fenced.api, fenced.namespace, issued[0], fenced.stack, display=display)
    _probe_output(args, env, result, report, samples)
    if result.abort is None:
        return ExitCode.OK
    halted = result.abort.halt_error is None and (report is None or report.ok)
    return ExitCode.ABORTED if halted else ExitCode.ABORTED_HALT_FAILED


def _issuer(fenced: _Fenced, issued: list[Issued]) -> Callable[[Breach], Halted]:
    """The probe's halt: issue the pauses from the abort watch's thread; the rest waits for the probe to end."""

    def issue(breach: Breach) -> Halted:
        outcome = issue_halt(fenced.api, fenced.namespace)
        issued.append(outcome)
        return Halted(outcome.issued_at, {"namespace": fenced.namespace, "halt_id": outcome.halt_id})

    return issue


def _probe_output(
    args: argparse.Namespace,
    env: Environment,
    result: ProbeResult,
    report: HaltReport | None,
    samples: SampleFile | None,
) -> None:
    """Print the summary, then write the files: a full disk must not cost the operator the summary.

    Raises the first OSError of the files (naming the file) once all were tried.
    """
    summary = result.summary.to_dict()
    text = _summary_text(args.url, result.summary)
    if args.abort_if:
        abort = None if result.abort is None else result.abort.to_dict()
        if abort is not None and report is not None:
            abort["halt"] = report.to_dict()
        summary["abort"] = abort
        text += _abort_text(abort) + ("" if report is None else report.text())
    _emit(env, args, summary, text)
    if samples is None:  # no --out
        return
    errors: list[OSError] = []
    for write in (samples.close, lambda: write_json(args.out / SUMMARY_FILE, summary)):
        try:
            write()
        except OSError as error:
            errors.append(error)
    if errors:
        raise errors[0]


def _abort_text(abort: dict[str, Any] | None) -> str:
    if abort is None:
        return "abort: no condition held\n"
    if abort.get("source") == "alarm":
        stop = (
            f"stop failed: {abort['halt_error']}"
            if abort["halt_error"]
            else f"{abort['halt']['object']} {abort['final_state']}"
        )
        return f"ABORTED: {abort['condition']}; {abort['halt']['request']}, {stop}\n"
    window = abort["window"]
    gap = abort["breach_to_halt_s"]
    halt_text = (
        f"halt failed: {abort['halt_error']}"
        if abort["halt_error"]
        else "no halt asked for"
        if abort["halt"] is None
        else "nothing to halt"
        if gap is None
        else f"halt issued {gap * MS_PER_S:.1f} ms after the breach"
    )
    return (
        f"ABORTED at {abort['breach_at_s']:.1f} s: {abort['condition']} held, observed {abort['observed']:g} {abort['unit']} over "
        f"{window['requests']} requests ({window['ok']} ok) in the last {abort['window_s']:g} s; {halt_text}\n"
    )


def _summary_text(url: str, summary: Summary) -> str:
    latency = "  ".join(
        f"{key} {'-' if value is None else f'{value:.1f}'}" for key, value in summary.latency_ms.items()
    )
    errors = ", ".join(f"{kind} {count}" for kind, count in summary.errors.items()) or "none"
    success = "-" if summary.success_rate is None else f"{100 * summary.success_rate:.2f} %"
    interrupted = summary.errors.get(ErrorKind.INTERRUPTED.value, 0)
    return (
        f"GET {redact_url(url)}\n"
        + (
            f"INTERRUPTED by Ctrl-C: {interrupted} requests still in flight counted as interrupted\n"
            if summary.interrupted
            else ""
        )
        + f"sent {summary.sent} of {summary.scheduled} scheduled ({summary.not_sent} not sent: concurrency cap), "
        f"{summary.achieved_rate:.1f}/s achieved of {summary.requested_rate:g}/s\n"
        f"ok {summary.ok}, failed {summary.failed}, success {success}; errors: {errors}\n"
        f"latency ms: {latency}\n"
    )


def _run(args: argparse.Namespace, env: Environment) -> int:
    project_dir = _project_dir(args.project_dir)
    stack = env.connect_stack(args.stack, project_dir)
    plan = make_plan(args.experiment, stack.name, project_dir, stack.get_all_config(), _run_options(args))
    if args.dry_run:
        _emit(env, args, plan.to_dict(), "\n".join(plan.describe()) + "\n")
        return ExitCode.OK

    display = env.progress_display()
    outputs = stack.outputs()
    aws = None
    if plan.through_fis or plan.from_cloudwatch or REGION_OUTPUT in outputs:
        # Before any change: a stack without AWS has neither FIS nor the prober's figures in CloudWatch.
        # Recorded for every run on AWS, so `report --cloudwatch` can read the prober's figures later.
        plan = replace(plan, region=stack_region(stack.name, outputs))

        def aws(service: str) -> Any:
            return env.connect_aws(service, str(plan.region))

    private_directory(plan.out_dir)
    with kube_access(outputs, plan.kubeconfig_context) as access:
        watcher = None if plan.through_fis else env.connect_cluster(access)
        with _target_url(args.url, access, plan.app_namespace, plan.out_dir, needed=not plan.from_cloudwatch) as url:
            try:
                journal = execute(plan, stack, watcher, url, display, aws, env.aws_timing)
            except BaseException:
                # The run's own error matters more than the report's; the journal has it all anyway.
                with contextlib.suppress(Exception):
                    _print_run(args, env, plan.out_dir)
                display.note(f"partial report in {plan.out_dir}")
                raise
    _print_run(args, env, plan.out_dir)
    return _run_exit_code(journal.data)


def _run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        url=args.url,
        baseline_s=args.baseline,
        during_s=args.during,
        after_s=args.after,
        rate=args.rate,
        timeout_s=args.timeout,
        concurrency=args.concurrency,
        out_dir=args.out,
        abort_conditions=tuple(args.abort_if),
        abort_on_alarm=args.abort_on_alarm,
        samples_from=args.samples_from,
    )


def _run_exit_code(journal: Mapping[str, Any]) -> ExitCode:
    if journal["status"] == RunStatus.ABORTED.value:  # returned, not raised: an abort condition held
        fast_stop_failed = (journal["abort"] or {}).get("halt_error") is not None
        return ExitCode.ABORTED_HALT_FAILED if fast_stop_failed else ExitCode.ABORTED
    if journal["status"] == RunStatus.FAILED.value or journal["deviated"]:
        return ExitCode.HYPOTHESIS_NOT_MET
    return ExitCode.OK


@contextlib.contextmanager
def _target_url(url: str | None, access: KubeAccess, namespace: str, log_dir: Path, *, needed: bool) -> Iterator[str]:
    if url is not None or not needed:  # from CloudWatch, run probes nothing itself
        yield url or ""
        return
    with forwarded_frontend(access, namespace, log_dir=log_dir) as forwarded:
        yield forwarded


def _print_run(args: argparse.Namespace, env: Environment, run_dir: Path) -> None:
    files = write_report(run_dir)
    summaries = json.loads(files.summaries.read_text())
    lines = [
        f"{summaries['experiment']} on stack {summaries['stack']}: {summaries['status']}"
        + (", hypothesis NOT met" if summaries["deviated"] else "")
    ]
    for when, verdict in summaries["steady_states"].items():
        if verdict is None:
            continue
        lines.append(f"  {when}: {'met' if verdict['met'] else 'NOT met'}")
        lines += [
            f"    {'ok ' if check['met'] else 'NO '} {check['requirement']}: observed {check['observed']}, "
            f"threshold {check['threshold']} {check['unit']}"
            for check in verdict["checks"]
        ]
    if summaries["abort"] is not None:
        lines.append("  " + _abort_text(summaries["abort"]).rstrip("\n"))
    lines.append(f"report: {files.report}")
    _emit(env, args, {**summaries, "run_dir": str(run_dir)}, "\n".join(lines) + "\n")


def _needs_stack_for_up(args: argparse.Namespace) -> None:
    if args.up and args.fence_stack is None:
        raise UsageError("--up runs `pulumi up`, so it needs --stack")


def _needs_stack_for_lever(args: argparse.Namespace) -> None:
    if args.fis_safety_lever and args.fence_stack is None:
        raise UsageError(
            "--fis-safety-lever: the lever is the account's, and only a stack records who engaged it; give --stack"
        )


def _fis_region(fenced: _Fenced, lever: bool) -> str | None:
    """The stack's Region when it has AWS (FIS runs to stop); None for --namespace or a stack without AWS."""
    if fenced.stack is None or REGION_OUTPUT not in fenced.outputs:
        if lever:
            raise UsageError(
                f"--fis-safety-lever: stack {fenced.stack.name if fenced.stack else ''} has no `{REGION_OUTPUT}` "
                "output, so no FIS: the lever exists for EKS stacks (chaos-lab:clusterProvider eks) after `pulumi up`"
            )
        return None
    return stack_region(fenced.stack.name, fenced.outputs)


def _halt(args: argparse.Namespace, env: Environment) -> int:
    _needs_stack_for_up(args)
    _needs_stack_for_lever(args)
    with _fenced(args, env) as fenced:
        region = _fis_region(fenced, args.fis_safety_lever)
        display = env.progress_display()
        display.note(
            f"halting every chaos experiment in namespace {fenced.namespace}"
            + (
                ""
                if region is None
                else f" and every FIS experiment of stack {fenced.stack.name if fenced.stack else ''}"
            )
        )
        with ThreadPoolExecutor(1, thread_name_prefix="chaoslab-fis-halt") as pool:
            # FIS's stops go out while the Chaos Mesh pauses do: neither waits for the other.
            fis_part = (
                None
                if region is None or fenced.stack is None
                else pool.submit(
                    halt_fis,
                    env.connect_aws("fis", region),
                    fenced.stack.name,
                    template_ids(fenced.outputs).values(),
                    region,
                    dry_run=args.dry_run,
                    engage_lever=args.fis_safety_lever,
                    deadline_s=env.aws_timing.stop_deadline_s,
                    poll_s=env.aws_timing.poll_s,
                )
            )
            report = halt(
                fenced.api,
                fenced.namespace,
                fenced.stack,
                dry_run=args.dry_run,
                wait_s=args.wait,
                deadline_s=args.deadline,
                up=args.up,
                display=display,
            )
            report.fis = None if fis_part is None else fis_part.result()
    _emit(env, args, report.to_dict(), report.text())
    return ExitCode.OK if report.ok else ERROR_EXIT_CODES[RollbackFailed]


def _resume(args: argparse.Namespace, env: Environment) -> int:
    _needs_stack_for_up(args)
    _needs_stack_for_lever(args)
    with _fenced(args, env) as fenced:
        region = _fis_region(fenced, args.fis_safety_lever)
        report = resume(
            fenced.api,
            fenced.namespace,
            fenced.stack,
            dry_run=args.dry_run,
            up=args.up,
            halt_id=args.halt_id,
            every_halt=args.every_halt,
            deadline_s=args.deadline,
        )
        if args.fis_safety_lever and region is not None and fenced.stack is not None:
            report.fis = resume_fis(env.connect_aws("fis", region), fenced.stack.name, region, dry_run=args.dry_run)
    _emit(env, args, report.to_dict(), report.text())
    return ExitCode.OK if report.ok else ExitCode.ERROR


def _report(args: argparse.Namespace, env: Environment) -> int:
    if args.cloudwatch:
        _read_in_cluster_series(args.run_dir, env)
    files = write_report(args.run_dir)
    summaries = json.loads(files.summaries.read_text())
    text = "".join(f"wrote {path}\n" for path in (files.report, files.summaries, files.chart))
    _emit(env, args, summaries, text)
    return ExitCode.OK


def _read_in_cluster_series(run_dir: Path, env: Environment) -> None:
    """Write RUN_DIR/cloudwatch.json: the in-cluster prober's intervals over the whole run."""
    journal_path = run_dir / JOURNAL_FILE
    if not journal_path.is_file():
        raise UsageError(f"{run_dir} is not a run directory: it has no {JOURNAL_FILE}")
    journal = read_journal(journal_path)
    experiment = journal["experiment"]
    region, target = experiment.get("region"), experiment.get("steady_state_target")
    if not region or not target:
        raise UsageError(
            f"--cloudwatch: {journal_path} records no AWS region: the run was not on an EKS stack, or "
            "was made by a chaoslab without CloudWatch support; there is nothing to read"
        )
    start = datetime.fromisoformat(journal["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(journal["end"].replace("Z", "+00:00")) if journal["end"] else datetime.now(UTC)
    intervals = read_intervals(env.connect_aws("cloudwatch", region), experiment["stack"], target, *window(start, end))
    write_series(run_dir / CLOUDWATCH_FILE, experiment["stack"], target, region, intervals)


def _hypotheses(args: argparse.Namespace, env: Environment) -> int:
    before = [tolerance.describe() for tolerance in STEADY_STATE_BEFORE]
    after = [tolerance.describe() for tolerance in RECOVERED_AFTER]
    experiments = {
        name: {"title": hypothesis.title, "during": hypothesis.describe()}
        for name, hypothesis in {**HYPOTHESES, **FIS_HYPOTHESES}.items()
    }
    lines = [
        f"before every experiment (baseline): {'; '.join(before)}",
        f"after every experiment (recovery): {'; '.join(after)}",
        "",
    ]
    for name, hypothesis in experiments.items():
        lines += [f"{name}: {hypothesis['title']}", *(f"  during: {line}" for line in hypothesis["during"])]
    _emit(env, args, {"before": before, "after": after, "experiments": experiments}, "\n".join(lines) + "\n")
    return ExitCode.OK
