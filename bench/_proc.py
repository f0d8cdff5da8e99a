"""What the kernel tells about calfeed's processes: memory, CPU time, children, sockets.

The benchmarks read /proc instead of asking calfeed, so that they see what an operator's
``top`` or ``ps`` sees. Memory of forked web workers is summed as PSS (each shared page
counted once across the processes that share it), which is what the group really costs; RSS
would count the pages a worker shares with its master once per process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    """Resident memory of one process or a group, in MB."""

    rss: float
    pss: float
    peak: float  # the largest RSS the process reached (VmHWM); for a group, the sum

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.rss + other.rss, self.pss + other.pss, self.peak + other.peak)


NO_MEMORY = Memory(0.0, 0.0, 0.0)


def memory(pid: int) -> Memory:
    """Return the memory of process ``pid`` (PSS falls back to RSS where the kernel lacks it)."""
    status = _fields(Path(f"/proc/{pid}/status"))
    rss, peak = status["VmRSS"], status["VmHWM"]
    try:
        pss = _fields(Path(f"/proc/{pid}/smaps_rollup"))["Pss"]
    except (FileNotFoundError, KeyError):
        pss = rss
    return Memory(rss / 1024, pss / 1024, peak / 1024)


def group_memory(pids: list[int]) -> Memory:
    """Return the summed memory of ``pids``."""
    total = NO_MEMORY
    for pid in pids:
        total += memory(pid)
    return total


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user and system) process ``pid`` has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS


def children(pid: int) -> list[int]:
    """Return the pids of the living children of ``pid``, in pid order."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def accepted_sockets(server_port: int) -> dict[int, int]:
    """Return, per client port, the inode of the socket a server on ``server_port`` accepted.

    Connections still waiting to be accepted have no inode yet and are left out.
    """
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], int(fields[9])
        if inode and int(local.split(":")[1], 16) == server_port:
            found[int(remote.split(":")[1], 16)] = inode
    return found


def socket_holders(pids: list[int]) -> dict[int, int]:
    """Return, per socket inode, which of ``pids`` holds it open."""
    held = {}
    for pid in pids:
        folder = Path(f"/proc/{pid}/fd")
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(folder / name)
            except OSError:
                continue  # closed while we looked
            if target.startswith("socket:["):
                held[int(target[8:-1])] = pid
    return held


def _fields(path: Path) -> dict[str, int]:
    """Read the ``Key: value kB`` lines of a /proc file."""
    values = {}
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0])
    return values
