"""The node user data's netem script, run in real bash with stubbed `uname`, `rpm`, `modprobe` and `dnf`.

The kernels are those of the AL2023 EKS AMIs (awslabs/amazon-eks-ami at 81fec2e, templates/al2023/variables-*.json:
6.1 up to Kubernetes 1.32, 6.12 for 1.33-1.35, 6.18 after), with the kernel package names that its
provisioners/install-worker.sh and install-nvidia-driver.sh derive from `uname -r`.
"""

from __future__ import annotations

import email
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.cluster import NETEM_SCRIPT, NETEM_USER_DATA

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")

# `uname -r` prints the release; `rpm -qf` names the owner of /boot/vmlinuz-<release> unless told it has none;
# `modprobe` succeeds once the modules package is "installed"; `dnf` logs its arguments and installs.
STUBS = {
    "uname": '[[ "$1" == -r ]] && echo "$FAKE_RELEASE"\n',
    "rpm": '[[ -n "${FAKE_KERNEL_PACKAGE:-}" && "$*" == *"/boot/vmlinuz-$FAKE_RELEASE" ]] || { echo "not owned"; exit 1; }\n'
    'echo "$FAKE_KERNEL_PACKAGE"\n',
    "modprobe": '[[ "$1" == sch_netem && -e "$FAKE_ROOT/installed" ]] || { echo "modprobe: FATAL: Module $1 not found" >&2; exit 1; }\n',
    "dnf": 'echo "$*" >>"$FAKE_ROOT/dnf.log"\n[[ -n "${FAKE_DNF_FAILS:-}" ]] && exit 1\ntouch "$FAKE_ROOT/installed"\n',
}


@dataclass(frozen=True)
class Kernel:
    release: str
    # What rpm says owns the kernel image; None when rpm cannot tell.
    package: str | None
    # The kernel package the AMI build names for this release.
    expected_package: str


KERNELS = {
    "al2023-6.1": Kernel("6.1.141-165.249.amzn2023.x86_64", "kernel", "kernel"),
    "al2023-6.12": Kernel("6.12.40-63.114.amzn2023.x86_64", "kernel6.12", "kernel6.12"),
    "al2023-6.18": Kernel("6.18.15-14.217.amzn2023.x86_64", "kernel6.18", "kernel6.18"),
    "6.12-rpm-silent": Kernel("6.12.40-63.114.amzn2023.x86_64", None, "kernel6.12"),
    "6.18-rpm-silent": Kernel("6.18.15-14.217.amzn2023.aarch64", None, "kernel6.18"),
    "6.1-rpm-silent": Kernel("6.1.141-165.249.amzn2023.x86_64", None, "kernel"),
}


def script_part() -> str:
    """The shell part of the MIME user data, as cloud-init extracts it."""
    message = email.message_from_string(NETEM_USER_DATA)
    [part] = [part for part in message.walk() if part.get_content_type() == "text/x-shellscript"]
    return part.get_payload()


@pytest.fixture
def node(tmp_path: Path):
    """Runs bash snippets after sourcing the user-data script, on a PATH whose first entries are the stubs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text(f"#!/bin/bash\n{body}")
        stub.chmod(0o755)
    script = tmp_path / "netem.sh"
    script.write_text(script_part())

    def run(
        snippet: str, kernel: Kernel, *, dnf_fails: bool = False, installed: bool = False
    ) -> subprocess.CompletedProcess[str]:
        if installed:
            (tmp_path / "installed").touch()
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "FAKE_ROOT": str(tmp_path),
            "FAKE_RELEASE": kernel.release,
            **({"FAKE_KERNEL_PACKAGE": kernel.package} if kernel.package else {}),
            **({"FAKE_DNF_FAILS": "1"} if dnf_fails else {}),
        }
        return subprocess.run(
            [BASH, "-c", f'source "{script}"\n{snippet}'], env=env, capture_output=True, text=True, check=False
        )

    run.dnf_log = tmp_path / "dnf.log"  # type: ignore[attr-defined]  # the log rides on the fixture's function
    return run


def test_the_user_data_is_one_mime_shell_part_that_bash_parses(tmp_path: Path) -> None:
    script = tmp_path / "netem.sh"
    script.write_text(script_part())
    assert script_part() == NETEM_SCRIPT
    result = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
def test_the_package_is_the_running_kernels_modules_extra(node, kernel: Kernel) -> None:
    result = node("netem_modules_package", kernel)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{kernel.expected_package}-modules-extra-{kernel.release}\n"


@pytest.mark.parametrize(
    "kernel", [KERNELS["al2023-6.12"], KERNELS["6.18-rpm-silent"]], ids=["6.12", "6.18-rpm-silent"]
)
def test_a_missing_netem_installs_that_package_and_loads_it(node, kernel: Kernel) -> None:
    result = node("load_netem", kernel)
    assert result.returncode == 0, result.stderr
    assert node.dnf_log.read_text() == f"install -y {kernel.expected_package}-modules-extra-{kernel.release}\n"


def test_a_kernel_that_has_netem_installs_nothing(node) -> None:
    result = node("load_netem", KERNELS["al2023-6.12"], installed=True)
    assert result.returncode == 0, result.stderr
    assert not node.dnf_log.exists()


def test_a_failed_install_fails_the_script(node) -> None:
    result = node("load_netem", KERNELS["al2023-6.12"], dnf_fails=True)
    assert result.returncode != 0
    assert node.dnf_log.read_text() == f"install -y kernel6.12-modules-extra-{KERNELS['al2023-6.12'].release}\n"


def test_sourcing_the_script_runs_nothing(node) -> None:
    result = node("true", KERNELS["al2023-6.12"])
    assert result.returncode == 0, result.stderr
    assert not node.dnf_log.exists()


MODULES_LOAD_DIR = "/etc/modules-load.d"


def _can_mount_privately() -> bool:
    unshare = shutil.which("unshare")
    probe = [unshare or "unshare", "--mount", "--fork", "mount", "-t", "tmpfs", "none", MODULES_LOAD_DIR]
    return unshare is not None and subprocess.run(probe, capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _can_mount_privately(), reason=f"needs a private tmpfs on {MODULES_LOAD_DIR} (root, unshare)")
def test_executed_as_cloud_init_does_the_script_loads_netem_and_persists_it(node, tmp_path: Path) -> None:
    """Executed as a file, the script installs and loads netem and writes the modules-load.d entry.

    /etc/modules-load.d is a tmpfs in a private mount namespace, so the host's stays untouched.
    """
    kernel = KERNELS["al2023-6.12"]
    script = tmp_path / "netem.sh"
    script.chmod(0o755)
    snippet = f'mount -t tmpfs none {MODULES_LOAD_DIR} && "{script}" && cat {MODULES_LOAD_DIR}/chaos-lab-netem.conf'
    result = node(f"unshare --mount --fork bash -c '{snippet}'", kernel)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sch_netem\n"
    assert node.dnf_log.read_text() == f"install -y {kernel.expected_package}-modules-extra-{kernel.release}\n"
