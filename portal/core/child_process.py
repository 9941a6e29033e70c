"""Running a parser in a plain child interpreter with a memory limit (读取进程).

`messages(func, args, max_memory_mb)` starts ``python -m portal.core.child_process``, sends it
``func`` (pickled by reference: the child imports only func's module, nothing of the
caller's memory, connections or Flask) and its arguments, and yields what ``func(*args)``
yields, pickled back over the child's stdout. The child

* limits its own address space (``RLIMIT_AS``, `max_memory_mb`) before it reads anything, so
  a workbook that makes a reader allocate without bound ends the child (an allocation
  failure: MemoryError, or a native reader's abort), never the worker or web process;
* ends with the caller (Linux: PR_SET_PDEATHSIG), so a killed worker leaves no parser behind.

An exception the child raises that is a :class:`portal.core.workbook_extent.WorkbookRejected`
(a refusal with its Chinese message) is raised again in the caller as it was; any other
failure, or the child's death, raises :class:`ReaderFailed` with a Chinese message.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

from portal.core.workbook_extent import WorkbookRejected

_PR_SET_PDEATHSIG = 1


class ReaderFailed(RuntimeError):
    """The reading process failed or died (the import fails; nothing is written)."""


# the largest peak memory (MB) a reading process reported in this process's life
_CHILD_PEAK_MB = [0.0]


def child_peak_mb() -> float:
    return _CHILD_PEAK_MB[0]


def _how(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"信号 {signal.Signals(-returncode).name}"
        except ValueError:
            return f"信号 {-returncode}"
    return f"退出码 {returncode}"


def _death(how: str, max_memory_mb: int) -> str:
    return (
        f"读取工作簿的进程异常终止（{how}），未写入任何数据。"
        f"文件可能含有异常的单元格范围，读取所需内存超出上限 {max_memory_mb:,} MB；"
        "请检查文件（删除多余的行、列）后重新上传"
    )


def messages(func: Callable[..., Iterator], args: tuple, max_memory_mb: int) -> Iterator:
    """What `func(*args)` yields, computed in a child interpreter limited to `max_memory_mb`."""
    env = {**os.environ, "RUST_BACKTRACE": "0"}  # a reader's abort: one line in the log
    child = subprocess.Popen(
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
        env=env,
    )
    try:
        try:
            pickle.dump((func, args, max_memory_mb, os.getpid()), child.stdin)
        except BrokenPipeError:
            pass  # it died before reading its arguments: told below, as any death
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()
        while True:
            try:
                msg = pickle.load(child.stdout)
            except EOFError:
                child.wait()
                raise ReaderFailed(_death(_how(child.returncode), max_memory_mb)) from None
            kind = msg[0]
            if kind == "raise":
                raise msg[1]
            if kind == "memory":
                raise ReaderFailed(_death("内存不足", max_memory_mb))
            if kind == "failed":
                raise ReaderFailed(f"读取工作簿失败（{msg[1]}），未写入任何数据")
            if kind == "done":
                _CHILD_PEAK_MB[0] = max(_CHILD_PEAK_MB[0], msg[1])
                return
            yield msg[1]
    finally:
        child.stdout.close()
        if child.poll() is None:
            child.kill()
        child.wait()


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Linux: end this process (with `sig`) as soon as its parent ends, killed or not.

    The kernel sends it when the *thread* that started this process ends: start it from a
    thread that outlives it (the main thread, or one that waits for it)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def limit_memory(max_memory_mb: int) -> None:
    """Cap this process's address space: an allocation beyond it fails instead of growing."""
    limit = max_memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _child() -> None:
    """`python -m portal.core.child_process`: (func, args, limit, parent) pickled on stdin."""
    stdin = sys.stdin.buffer
    func, args, max_memory_mb, parent = pickle.load(stdin)
    die_with_parent(parent)
    limit_memory(max_memory_mb)
    gc.disable()  # a million short-lived containers and no cycles (see whitelist_import)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the message stream

    def send(msg) -> None:
        pickle.dump(msg, out, pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        for item in func(*args):
            send(("item", item))
        send(("done", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    except WorkbookRejected as exc:
        send(("raise", exc))
    except MemoryError:
        send(("memory",))
    except (BrokenPipeError, ConnectionResetError):
        os._exit(1)  # the caller has gone: nothing left to do
    except BaseException as exc:  # noqa: BLE001 — reported to the caller, which fails
        send(("failed", type(exc).__name__))


if __name__ == "__main__":
    _child()
