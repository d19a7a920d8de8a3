"""`actors-wf run` as a person at a terminal meets it: a real process, a pty, Ctrl-C."""

import os
import pty
import select
import signal
import subprocess
import sys
from pathlib import Path

WAITS = """\
from actors_wf import component


@component("cli.waits")
def waits(ctx) -> str:
    print("ready", flush=True)
    ctx.wait_cancelled(60)
    return "stopped"
"""

QUICK = """\
from actors_wf import component


@component("cli.quick")
def quick(n: int) -> int:
    return n + 1
"""

TIMEOUT = 30.0


def _read_until(fd: int, marker: bytes, timeout: float = TIMEOUT) -> bytes:
    """Bytes from ``fd`` until ``marker`` shows or the stream ends."""
    got = b""
    while marker not in got:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"nothing more within {timeout} s; got {got!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # a pty's reader sees EIO once the writer is gone
            break
        if not chunk:
            break
        got += chunk
    return got


def _cli(*args: str, **options: object) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "actors_wf._cli", "run", *args]
    return subprocess.Popen(command, **options)  # type: ignore[call-overload,no-any-return]


def test_ctrl_c_cancels_the_job_and_exits_130_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "waits.py").write_text(WAITS)
    workflow = tmp_path / "waits.yaml"
    workflow.write_text("id: waits\nsteps:\n  - {id: w, component: cli.waits}\n")
    proc = _cli(str(workflow), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert b"ready" in _read_until(proc.stdout.fileno(), b"ready")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    text = err.decode()
    assert "Traceback" not in text
    assert "interrupted: cancelling the job" in text
    assert "CANCELLED" in text


def test_a_terminal_gets_a_progress_line_and_a_pipe_does_not(tmp_path: Path) -> None:
    (tmp_path / "chain.py").write_text(QUICK)
    workflow = tmp_path / "chain.yaml"
    feeds = ["0", *(f"$steps.s{i}.output" for i in range(5))]
    steps = "".join(
        f"  - {{id: s{i}, component: cli.quick, inputs: {{n: {feed}}}}}\n"
        for i, feed in enumerate(feeds)
    )
    workflow.write_text(f"id: chain\nsteps:\n{steps}outputs: {{n: $steps.s5.output}}\n")
    main_fd, child_fd = pty.openpty()
    proc = _cli(str(workflow), stdout=subprocess.PIPE, stderr=child_fd)
    os.close(child_fd)
    try:
        shown = _read_until(main_fd, b"COMPLETED")
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        os.close(main_fd)
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert out == b"n: 6\n"
    assert b"/6 steps] running:" in shown
    assert b"\r\x1b[K" in shown
    piped = _cli(str(workflow), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = piped.communicate(timeout=TIMEOUT)
    assert out == b"n: 6\n"
    assert b"\x1b" not in err and b"steps] running" not in err
