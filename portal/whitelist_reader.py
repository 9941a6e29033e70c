"""Reading and validating a whitelist sheet — in the import's own process, or in a second one.

`read_sheet()` parses the sheet (python-calamine), checks the header and the row cap and
streams the rows through the validator, yielding messages:

* ``("total", n)`` once the sheet is parsed (data rows, for the progress bar and bulk mode);
* ``("chunk", staged, errors, n_rows, n_err)`` per `chunk` valid rows (and once at the end):
  the validated staging tuples, the refused rows for the error report (until its cap), and
  the running counts.

A whole-file refusal raises :class:`ImportRejected` with its Chinese message.

A large file is read in a **second process** (`messages(..., apart=True)`): calamine holds
the whole parsed sheet (≈ 775 MB for a million rows) and validating takes as long as the
database work, so in one process the two took turns on the GIL. Apart, the child
(``python -m portal.whitelist_reader``: a plain interpreter that imports only what reading
needs, nothing of the worker's memory or connections) parses and validates while the
import's process writes; the messages come pickled over its stdout, and its memory is
returned when it ends. If it dies, the import fails and nothing is written; if the
import's process dies, the child is killed with it (Linux: PR_SET_PDEATHSIG; elsewhere its
next write finds the pipe closed).
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from python_calamine import CalamineError, load_workbook

from portal.whitelist_columns import COLUMNS, SHEET, header_map
from portal.whitelist_rows import Context, RowValidator


class ImportRejected(ValueError):
    """The whole file was refused (Chinese message); nothing was written."""


class ReaderFailed(RuntimeError):
    """The reading process failed or died (the import fails; nothing is written)."""


def _open_sheet(path: Path):
    wb = load_workbook(str(path))
    names = wb.sheet_names
    return wb.get_sheet_by_name(SHEET if SHEET in names else names[0])


def read_sheet(path: Path, ctx: Context, cap: int, report_cap: int, chunk: int) -> Iterator[tuple]:
    try:
        sheet = _open_sheet(path)
    except CalamineError as exc:
        raise ImportRejected("无法读取工作簿，文件可能已损坏") from exc
    total = max(sheet.total_height, sheet.height) - 1
    if total > cap:
        raise ImportRejected(f"文件共 {total:,} 行，超过单次导入上限 {cap:,} 行，请拆分后上传")
    rows = sheet.iter_rows()
    header = next(rows, None)
    if header is None:
        raise ImportRejected("文件没有内容")
    cols, missing = header_map(header)
    if missing:
        raise ImportRejected(
            "表头与模板不一致，缺少列：" + "、".join(missing) + "。请下载最新模板填写"
        )
    yield ("total", total)
    order = [cols.get(c.key) for c in COLUMNS]
    validate = RowValidator(ctx).validate
    width = len(header)
    identity = width == len(order) and order == list(range(len(order)))
    buf: list[tuple] = []
    errors: list[tuple[int, list, dict]] = []
    n_rows = n_err = reported = 0
    for row_no, raw in enumerate(rows, start=2):
        if len(raw) < width:
            raw = [*raw, *([""] * (width - len(raw)))]
        values = raw if identity else [raw[i] if i is not None else "" for i in order]
        if not any(values) and all(v == "" or v is None for v in values):
            continue
        n_rows += 1
        if n_rows > cap:
            raise ImportRejected(f"文件超过单次导入上限 {cap:,} 行，请拆分后上传")
        staged, errs = validate(row_no, values)
        if staged is not None:
            buf.append(staged)
        else:
            n_err += 1
            if reported < report_cap:
                reported += 1
                errors.append((row_no, values, errs))
        if len(buf) >= chunk or n_rows % chunk == 0:
            yield ("chunk", buf, errors, n_rows, n_err)
            buf, errors = [], []
    yield ("chunk", buf, errors, n_rows, n_err)


def messages(
    path: Path, ctx: Context, cap: int, report_cap: int, chunk: int, apart: bool
) -> Iterator[tuple]:
    """read_sheet()'s messages, from this process or (apart) from a second one."""
    if not apart:
        yield from read_sheet(path, ctx, cap, report_cap, chunk)
        return
    # a plain child interpreter that imports only this module (multiprocessing's spawn
    # would also re-import the worker's main script, and fork would copy the worker)
    child = subprocess.Popen(
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
    )
    try:
        pickle.dump((str(path), ctx, cap, report_cap, chunk, os.getpid()), child.stdin)
        child.stdin.close()
        while True:
            try:
                msg = pickle.load(child.stdout)
            except EOFError:
                raise ReaderFailed("the reading process ended without finishing") from None
            kind = msg[0]
            if kind == "rejected":
                raise ImportRejected(msg[1])
            if kind == "failed":
                raise ReaderFailed(msg[1])
            if kind == "done":
                _CHILD_PEAK_MB[0] = max(_CHILD_PEAK_MB[0], msg[1])
                return
            yield msg
    finally:
        child.stdout.close()
        if child.poll() is None:
            child.kill()
        child.wait()


# the largest peak memory (MB) a reading process reported in this process's life
_CHILD_PEAK_MB = [0.0]


def child_peak_mb() -> float:
    return _CHILD_PEAK_MB[0]


def _die_with_parent(parent: int) -> None:
    """Linux: end this process as soon as the import's process ends (killed or not), instead
    of parsing on until its next write finds the pipe closed."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _child() -> None:
    """`python -m portal.whitelist_reader`: arguments pickled on stdin, messages on stdout."""
    path, ctx, cap, report_cap, chunk, parent = pickle.load(sys.stdin.buffer)
    _die_with_parent(parent)
    gc.disable()  # a million short-lived containers and no cycles (see whitelist_import)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the message stream

    def send(msg) -> None:
        pickle.dump(msg, out, pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        for msg in read_sheet(Path(path), ctx, cap, report_cap, chunk):
            send(msg)
        send(("done", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    except ImportRejected as exc:
        send(("rejected", str(exc)))
    except (BrokenPipeError, ConnectionResetError):
        os._exit(1)  # the import has gone: nothing left to do
    except BaseException as exc:  # noqa: BLE001 — reported to the import, which fails
        send(("failed", type(exc).__name__))


if __name__ == "__main__":
    _child()
