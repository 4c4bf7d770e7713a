"""Huge pages for malloc: when rnnkit's training commands start again with them, and what holds."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit import cli
from rnnkit.errors import ConfigError
from rnnkit.startup import (
    HUGEPAGE_TUNABLE,
    hugepage_environment,
    hugepages_in_use,
    transparent_hugepage_mode,
)

LINUX_MADVISE = {"system": "linux", "thp_mode": "madvise", "glibc": (2, 36)}


def test_a_linux_machine_with_madvise_and_glibc_2_35_gets_the_tunable():
    extra = hugepage_environment({}, **LINUX_MADVISE)
    assert extra["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    assert hugepage_environment({}, system="linux", thp_mode="madvise", glibc=(2, 35))


def test_other_tunables_are_kept_and_the_users_own_choice_wins():
    kept = hugepage_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, **LINUX_MADVISE)
    assert kept["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    # Set already (to anything, 0 included): rnnkit leaves it as the user has it.
    assert hugepage_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, **LINUX_MADVISE) == {}


@pytest.mark.parametrize("facts", [
    {"system": "darwin", "thp_mode": None, "glibc": None},
    {"system": "win32", "thp_mode": None, "glibc": None},
    {"system": "linux", "thp_mode": "always", "glibc": (2, 36)},  # the kernel gives them already
    {"system": "linux", "thp_mode": "never", "glibc": (2, 36)},  # the kernel gives none
    {"system": "linux", "thp_mode": None, "glibc": (2, 36)},  # no setting to read
    {"system": "linux", "thp_mode": "madvise", "glibc": (2, 34)},  # the tunable came in 2.35
    {"system": "linux", "thp_mode": "madvise", "glibc": None},  # musl, say
])
def test_nothing_to_do_where_the_tunable_would_change_nothing(facts):
    assert hugepage_environment({}, **facts) == {}


def test_off_turns_it_off_and_a_restarted_process_never_restarts():
    assert hugepage_environment({"RNNKIT_HUGEPAGES": "off"}, **LINUX_MADVISE) == {}
    assert hugepage_environment({"RNNKIT_HUGEPAGES": "OFF"}, **LINUX_MADVISE) == {}
    assert hugepage_environment({"RNNKIT_HUGEPAGES": "auto"}, **LINUX_MADVISE)
    restarted = {**os.environ, **hugepage_environment({}, **LINUX_MADVISE)}
    restarted.pop("GLIBC_TUNABLES")  # even if the tunable were lost on the way
    assert hugepage_environment(restarted, **LINUX_MADVISE) == {}


def test_a_wrong_setting_is_named_with_its_value_and_the_choices():
    with pytest.raises(ConfigError) as raised:
        hugepage_environment({"RNNKIT_HUGEPAGES": "maybe"}, **LINUX_MADVISE)
    message = str(raised.value)
    assert "RNNKIT_HUGEPAGES='maybe'" in message
    assert "auto, off" in message


def test_the_kernel_setting_is_the_bracketed_word(tmp_path):
    setting = tmp_path / "enabled"
    setting.write_text("always [madvise] never\n")
    assert transparent_hugepage_mode(str(setting)) == "madvise"
    setting.write_text("[always] madvise never\n")
    assert transparent_hugepage_mode(str(setting)) == "always"
    assert transparent_hugepage_mode(str(tmp_path / "missing")) is None


def test_only_the_console_entry_starts_again(monkeypatch, capsys):
    """`main(argv)` called from Python must never replace the caller's process."""
    calls = []
    monkeypatch.setattr(cli, "restart_with_hugepages", lambda: calls.append("restart"))
    assert cli.main(["train", "--task", "no_such_task"]) != 0
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["rnnkit", "train", "--task", "no_such_task"])
    assert cli.main() != 0
    assert calls == ["restart"]
    monkeypatch.setattr(sys, "argv", ["rnnkit", "params", "--cell", "lstm", "--units", "2", "--input-dim", "3"])
    assert cli.main() == 0
    assert calls == ["restart"]  # not a training command
    capsys.readouterr()


def clean_environment(**extra) -> dict:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("GLIBC_TUNABLES", "RNNKIT_HUGEPAGES", "RNNKIT_HUGEPAGES_RESTARTED")}
    return {**environment, **extra}


def test_a_wrong_setting_stops_the_cli_in_one_line_before_writing(tmp_path):
    out = tmp_path / "run"
    completed = subprocess.run(
        [sys.executable, "-m", "rnnkit", "train", "--task", "adding", "--out", str(out)],
        capture_output=True, text=True, check=False, env=clean_environment(RNNKIT_HUGEPAGES="maybe"))
    assert completed.returncode != 0
    assert completed.stderr.splitlines() == [
        ("rnnkit train: error: RNNKIT_HUGEPAGES='maybe' is not a choice: use one of auto, off "
         "(or leave it unset for auto)")]
    assert not out.exists()


def anon_huge_kilobytes(environment: dict) -> int:
    """AnonHugePages of a fresh Python that mallocs and touches 64 MiB through libc itself."""
    code = (
        "import ctypes, re\n"
        "libc = ctypes.CDLL(None)\n"
        "libc.malloc.restype = ctypes.c_void_p\n"
        "size = 64 << 20\n"
        "block = libc.malloc(ctypes.c_size_t(size))\n"
        "ctypes.memset(block, 1, size)\n"
        "text = open('/proc/self/smaps_rollup').read()\n"
        "print(re.search(r'AnonHugePages:\\s+(\\d+)', text).group(1))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env=environment)
    return int(completed.stdout)


needs_madvise = pytest.mark.skipif(
    not hugepage_environment(clean_environment()),
    reason="this machine's kernel or C library gives no huge pages through malloc's tunable")


@needs_madvise
def test_on_this_machine_the_tunable_gives_malloc_huge_pages():
    """What the restart is for: the same 64 MiB malloc lands in huge pages only with it."""
    with_tunable = anon_huge_kilobytes(clean_environment(**hugepage_environment(clean_environment())))
    without = anon_huge_kilobytes(clean_environment())
    assert with_tunable >= 32 * 1024  # at least half the block in 2 MiB pages
    assert without < with_tunable


@needs_madvise
def test_the_cli_restarts_with_huge_pages_records_it_and_trains_to_the_same_numbers(tmp_path):
    runs = {}
    for setting in ("auto", "off"):
        out = tmp_path / setting
        completed = subprocess.run(
            [sys.executable, "-m", "rnnkit", "train", "--task", "adding", "--cell", "lstm", "--units", "2",
             "--epochs", "1", "--backend", "jax", "--out", str(out), "--option", "num_samples=200",
             "--option", "timesteps=8"],
            capture_output=True, text=True, check=False, env=clean_environment(RNNKIT_HUGEPAGES=setting))
        assert completed.returncode == 0, completed.stderr
        environment = json.loads((out / "environment.json").read_text())
        results = [(json.loads((run / "metrics.json").read_text())["metrics"],
                    [line.split(",")[1:4] for line in (run / "history.csv").read_text().splitlines()])
                   for run in sorted(Path(out, "runs").iterdir())]
        runs[setting] = (environment, results)
    assert runs["auto"][0]["huge_pages"] == "malloc (glibc.malloc.hugetlb=1)"
    assert runs["off"][0]["huge_pages"] == "no"
    assert runs["auto"][1] and runs["auto"][1] == runs["off"][1]  # where memory sits changes no number


def test_what_is_reported_follows_the_kernel_setting_and_the_tunable():
    # The kernel's setting read here on its own, not through rnnkit.
    path = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    kernel = re.search(r"\[(\w+)\]", path.read_text()).group(1) if path.exists() else None
    with_tunable = {"always": "kernel (always)", "madvise": "malloc (glibc.malloc.hugetlb=1)"}.get(kernel, "no")
    assert hugepages_in_use({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}) == with_tunable
    assert hugepages_in_use({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) == ("kernel (always)" if kernel == "always"
                                                                            else "no")
    assert hugepages_in_use({}) == ("kernel (always)" if kernel == "always" else "no")


def test_what_is_recorded_is_what_the_process_started_with(monkeypatch):
    """Setting the variable from Python after start gives no huge pages, and none is claimed."""
    started_with = hugepages_in_use()
    monkeypatch.setenv("GLIBC_TUNABLES", HUGEPAGE_TUNABLE)
    assert hugepages_in_use() == started_with
