"""Components run with isolation: process (test_isolation). Module level: workers import them."""

import ctypes
import os
import subprocess
import sys


def double(x: int) -> int:
    return 2 * x


def pid() -> int:
    return os.getpid()


def segfault() -> None:
    ctypes.string_at(0)


def exit_1() -> None:
    os._exit(1)


def spin() -> None:
    while True:
        pass


def unserialisable() -> object:
    return object()


def raises(x: int) -> int:
    raise ValueError(f"bad {x}")


def cooperative(ctx) -> str:
    print("started", flush=True)  # goes to stderr in a worker: frames stay intact
    ctx.heartbeat()
    ctx.wait_cancelled(30)
    ctx.check()
    return "not cancelled"


def spawns(pid_file: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(pid_file, "w") as out:
        out.write(str(child.pid))
    while True:
        pass


class Scale:
    def run(self, x: int, factor: int = 3) -> int:
        return x * factor


def make_adder():
    """A factory: each attempt gets its own adder."""
    offset = 100

    def add(x: int, ctx) -> int:
        return x + offset + ctx.attempt

    return add


def hog(mib: int) -> int:
    return len(bytearray(mib * 2**20))


def bad_output(kind: str) -> object:
    """An output that is not plain data, of the kind asked for."""
    if kind == "int_keys":
        return {1: "a"}
    if kind == "set":
        return {1, 2}
    if kind == "deep":
        deep: list[object] = []
        for _ in range(200):
            deep = [deep]
        return deep
    cycle: list[object] = []
    cycle.append(cycle)
    return cycle


def echoes() -> str:
    """Runs a subprocess that writes to stdout, and prints: neither may touch the frames."""
    subprocess.run(["echo", "hi from echo"], check=True)
    print("hi from print", flush=True)
    print("and stderr", file=sys.stderr, flush=True)
    return "done"


def detaches(pid_file: str, hang: bool) -> str:
    """Starts a child in its own session that keeps stdout open, then returns or hangs."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    with open(pid_file, "w") as out:
        out.write(str(child.pid))
    while hang:
        pass
    return "returned"


def runs_long(pid_file: str) -> str:
    """Writes its worker's pid, then runs (as a hung component would) until killed."""
    with open(pid_file, "w") as out:
        out.write(str(os.getpid()))
    while True:
        pass


def one_at_a_time(pid_file: str) -> str:
    """The first attempt runs until killed; a later one says whether the first still ran."""
    try:
        with open(pid_file) as old:
            before = int(old.read())
    except FileNotFoundError:
        before = None
    with open(pid_file, "w") as out:
        out.write(str(os.getpid()))
    if before is None:
        with open(f"{pid_file}.fifo", "w") as ready:  # the test waits on it, not sleeping
            ready.write("running")
        while True:
            pass
    return "overlap" if _running(before) else "alone"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def notes_how_it_is_stopped(ctx, note: str) -> str:
    """Waits for the cancel, then writes what ``ctx.check()`` raised (it must raise)."""
    with open(f"{note}.fifo", "w") as ready:  # the test waits on it, not sleeping
        ready.write("running")
    ctx.wait_cancelled(60)
    try:
        ctx.check()
    except BaseException as exc:
        with open(note, "w") as out:
            out.write(f"{type(exc).__module__}.{type(exc).__qualname__}")
        raise
    return "not stopped"


async def async_double(x: int) -> int:
    import asyncio

    await asyncio.sleep(0)
    return 2 * x
