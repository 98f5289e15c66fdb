# The Airlock Python driver: one long-lived interpreter per code context, standard library only.
#
# The host starts `python3 -u -c BOOTSTRAP`; the bootstrap reads one JSON line from stdin (this
# source, the context's nonce and limits) and runs this file with BOOT set. From then on:
#   - commands arrive as JSON lines on a private copy of fd 0 (fd 0 itself becomes /dev/null);
#   - user output goes to fds 1 and 2 unchanged (the agent's stdout and stderr pipes);
#   - the driver's frames go to a private copy of fd 1, as lines
#       0x1e NONCE ' ' SEQ ' ' MORE ' ' JSON-PIECE '\n'
#     each shorter than PIPE_BUF, so one write is atomic and no other writer of the pipe can land
#     inside it. The host takes only lines with the nonce (which no user output carries) as frames
#     and everything else as stdout; a frame too big for one line is split into pieces (MORE=1).
# Nothing here is trusted by the host: it validates every frame and bounds every size.
import ast
import base64
import builtins
import json
import linecache
import os
import re
import signal
import sys
import threading
import traceback
import types

NONCE = BOOT["nonce"].encode("ascii")  # noqa: F821 (given by the bootstrap)
LIMITS = BOOT.get("limits", {})  # noqa: F821
MAX_RESULT = int(LIMITS.get("maxResultBytes", 4 << 20))
MAX_RESULTS = int(LIMITS.get("maxResultsPerCell", 256))
MAX_TRACEBACK = 64 * 1024
MAX_POINTS = 10000
MAX_ROWS = 1000
MARK = b"\x1e" + NONCE + b" "
PIECE = 3800 - len(MARK)
DRIVER_PID = os.getpid()

# Private fds, taken before any user code runs (os.dup makes them close-on-exec).
cmd_fd = os.dup(0)
chan_fd = os.dup(1)
err_fd = os.dup(2)


def _ident(fd):
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


CMD_ID, CHAN_ID, ERR_ID = _ident(cmd_fd), _ident(chan_fd), _ident(err_fd)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
os.environ["MPLBACKEND"] = "Agg"

_lock = threading.Lock()
_seq = 0
_err_seq = 0
_in_user = False


def _fd_is(fd, ident):
    try:
        return _ident(fd) == ident
    except OSError:
        return False


def _channel():
    """The result pipe, found again if the cell closed or replaced our copy of it."""
    global chan_fd
    if _fd_is(chan_fd, CHAN_ID):
        return chan_fd
    if _fd_is(1, CHAN_ID):
        chan_fd = os.dup(1)
        return chan_fd
    os._exit(71)  # nothing left to speak on: the host sees the interpreter end


def send(obj, on_stderr=False):
    """A frame on the result pipe, or (a fence) on the stderr pipe, each with its own sequence."""
    global _seq, _err_seq
    if os.getpid() != DRIVER_PID:
        return  # a forked child never speaks for the driver
    try:
        data = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as e:
        data = json.dumps({"type": "result", "cell": obj.get("cell"), "text": "[result not serializable: %s]" % e, "isMainResult": False, "truncated": True}).encode("ascii")
    with _lock:
        _flush_user()
        if on_stderr:
            if not _fd_is(err_fd, ERR_ID):
                return  # the cell closed our stderr copy: the host stops waiting for the fence
            _err_seq += 1
            fd, seq = err_fd, _err_seq
        else:
            _seq += 1
            fd, seq = _channel(), _seq
        i, n = 0, len(data)
        while True:
            piece = data[i:i + PIECE]
            i += PIECE
            more = b"1" if i < n else b"0"
            line = MARK + str(seq).encode() + b" " + more + b" " + piece + b"\n"
            while line:
                line = line[os.write(fd, line):]
            if more == b"0":
                return


def _flush_user():
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass


def _repair_stdio():
    """A cell may have closed fd 1 or 2 or sys.stdout: give the next cell working ones."""
    for fd, ident, src in ((1, CHAN_ID, _channel()), (2, ERR_ID, err_fd)):
        if not _fd_is(fd, ident) and _fd_is(src, ident):
            os.dup2(src, fd)
    for name, fd in (("stdout", 1), ("stderr", 2)):
        s = getattr(sys, name, None)
        if s is None or getattr(s, "closed", True):
            setattr(sys, name, open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False))


_pending_interrupt = False


def _on_sigint(signum, frame):
    # Only user code is interrupted; between cells it does nothing. One that comes while a cell is
    # being set up (or a frame written) is kept for the moment user code starts.
    global _pending_interrupt
    if _in_user:
        raise KeyboardInterrupt
    if CURRENT is not None:
        _pending_interrupt = True


# A child forked from the interpreter's main thread dies with its parent (PR_SET_PDEATHSIG), and so
# on down: when the interpreter ends for any reason (os._exit, the OOM killer, a kill), the copies of
# it a cell forked (a fork bomb's too) go with it instead of filling the sandbox's pids. Only the main
# thread: the death signal follows the forking thread, not the process. subprocess children are not
# forks of the interpreter (no at-fork hooks run for them) and live on.
_fork_parent = {"pid": 0, "main": False}
_prctl = None


def _before_fork():
    global _prctl
    _fork_parent["pid"] = os.getpid()
    _fork_parent["main"] = threading.current_thread() is threading.main_thread()
    if _prctl is None:
        try:
            import ctypes

            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except Exception:
            _prctl = False


def _after_fork_in_child():
    try:
        os.close(cmd_fd)  # a child never takes the driver's commands
    except OSError:
        pass
    if _prctl and _fork_parent["main"]:
        _prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
        if os.getppid() != _fork_parent["pid"]:
            os._exit(0)  # the parent died before the signal was set


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)

# --- commands ---------------------------------------------------------------------------------

_inbuf = BOOT.pop("rest", b"")  # noqa: F821 (what the bootstrap read past its line)
MAX_COMMAND = 64 << 20


def read_command():
    global _inbuf
    while b"\n" not in _inbuf:
        if not _fd_is(cmd_fd, CMD_ID):
            os._exit(72)
        chunk = os.read(cmd_fd, 1 << 20)
        if not chunk:
            os._exit(0)  # the host closed our stdin: the context is deleted
        _inbuf += chunk
        if len(_inbuf) > MAX_COMMAND:
            os._exit(73)
    line, _, _inbuf = _inbuf.partition(b"\n")
    return json.loads(line)


# --- the user's namespace ---------------------------------------------------------------------

main = types.ModuleType("__main__")
main.__dict__["__builtins__"] = builtins
sys.modules["__main__"] = main
NS = main.__dict__
sys.argv = [""]
if "" not in sys.path:
    sys.path.insert(0, "")


class Cell:
    def __init__(self, cid, formats):
        self.id = cid
        self.results = 0
        self.dropped = 0
        self.formats = formats


CURRENT = None


def _user(fn, *args, **kwargs):
    """Runs a user hook (a repr, a _repr_*_ method, a figure's savefig) where an interrupt may stop it."""
    global _in_user, _pending_interrupt
    if _pending_interrupt:
        _pending_interrupt = False
        raise KeyboardInterrupt
    _in_user = True
    try:
        return fn(*args, **kwargs)
    finally:
        _in_user = False


def _jsonable(v, depth=0):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if abs(v) < (1 << 53) else str(v)
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if depth < 20 and isinstance(v, dict):
        return {str(k): _jsonable(x, depth + 1) for k, x in list(v.items())[:10000]}
    if depth < 20 and isinstance(v, (list, tuple)):
        return [_jsonable(x, depth + 1) for x in list(v)[:10000]]
    item = getattr(v, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _jsonable(item(), depth + 1)
        except Exception:
            pass
    iso = getattr(v, "isoformat", None)  # datetimes, pandas Timestamps
    if callable(iso):
        try:
            return str(iso())
        except Exception:
            pass
    return str(v)


TEXT_FIELDS = ("text", "html", "markdown", "svg", "latex", "javascript")
BINARY_FIELDS = ("png", "jpeg", "pdf")
REPR_METHODS = (("html", "_repr_html_"), ("markdown", "_repr_markdown_"), ("svg", "_repr_svg_"), ("png", "_repr_png_"), ("jpeg", "_repr_jpeg_"), ("pdf", "_repr_pdf_"), ("latex", "_repr_latex_"), ("json", "_repr_json_"), ("javascript", "_repr_javascript_"))
MIME_FIELDS = {"text/plain": "text", "text/html": "html", "text/markdown": "markdown", "image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpeg", "application/pdf": "pdf", "text/latex": "latex", "application/json": "json", "application/javascript": "javascript"}


def _set(out, field, value):
    if value is None:
        return
    if isinstance(value, tuple) and len(value) == 2:  # (data, metadata) from a _repr_*_
        value = value[0]
    if field in BINARY_FIELDS:
        if isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(bytes(value)).decode("ascii")
        if not isinstance(value, str):
            return
        if len(value) > MAX_RESULT:
            out["truncated"] = True  # a cut image is no image: drop it
            return
        out[field] = value
    elif field == "json":
        value = _jsonable(value)
        if len(json.dumps(value)) > MAX_RESULT:
            out["truncated"] = True
            return
        out[field] = value
    else:
        if not isinstance(value, str):
            value = str(value)
        if len(value) > MAX_RESULT:
            value = value[:MAX_RESULT]
            out["truncated"] = True
        out[field] = value


def _is_figure(obj):
    mpl = sys.modules.get("matplotlib.figure")
    return mpl is not None and isinstance(obj, mpl.Figure)


def _is_dataframe(obj):
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def bundle_of(obj):
    out = {}
    if _is_figure(obj):
        return figure_bundle(obj)
    if not isinstance(obj, type):
        mb = getattr(obj, "_repr_mimebundle_", None)
        if callable(mb):
            try:
                b = _user(mb)
                if isinstance(b, tuple):
                    b = b[0]
                if isinstance(b, dict):
                    for mime, value in b.items():
                        if mime in MIME_FIELDS:
                            _set(out, MIME_FIELDS[mime], value)
            except Exception:
                pass
        for field, name in REPR_METHODS:
            if field in out:
                continue
            m = getattr(obj, name, None)
            if callable(m):
                try:
                    _set(out, field, _user(m))
                except Exception:
                    pass
    if _is_dataframe(obj):
        try:
            out["data"] = dataframe_data(obj)
        except Exception:
            pass
    if "text" not in out:
        try:
            _set(out, "text", _user(repr, obj))
        except Exception as e:
            out["text"] = "[repr failed: %s]" % type(e).__name__
    return out


def emit(bundle, main_result):
    cell = CURRENT
    if cell is None:
        return
    if cell.results >= MAX_RESULTS:
        cell.dropped += 1
        return
    cell.results += 1
    send(dict(bundle, type="result", cell=cell.id, isMainResult=main_result))


def display(*objs, **kwargs):
    """IPython's display(): each object as a result, in order."""
    for obj in objs:
        if kwargs.get("raw") and isinstance(obj, dict):
            out = {}
            for mime, value in obj.items():
                if mime in MIME_FIELDS:
                    _set(out, MIME_FIELDS[mime], value)
            emit(out, False)
        else:
            emit(bundle_of(obj), False)


builtins.display = display

# --- pandas -----------------------------------------------------------------------------------


def dataframe_data(df):
    head = df.head(MAX_ROWS)
    return {
        "type": "dataframe",
        "columns": [str(c) for c in df.columns],
        "index": [_jsonable(i) for i in head.index],
        "rows": [[_jsonable(v) for v in row] for row in head.itertuples(index=False, name=None)],
        "dtypes": {str(c): str(t) for c, t in df.dtypes.items()},
        "shape": [int(n) for n in df.shape],
        "truncated": len(df) > MAX_ROWS,
    }


# --- matplotlib -------------------------------------------------------------------------------

_UNIT = re.compile(r"[(\[]([^()\[\]]+)[)\]]\s*$")


def _unit(label):
    m = _UNIT.search(label or "")
    return m.group(1) if m else None


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _jsonable(v)
    return f if f == f and abs(f) != float("inf") else None


def _label(artist, fallback):
    label = artist.get_label()
    return fallback if not label or label.startswith("_") else str(label)


def _axis(ax, which):
    axis = ax.xaxis if which == "x" else ax.yaxis
    label = axis.get_label().get_text()
    return {
        which + "_label": label or None,
        which + "_unit": _unit(label),
        which + "_ticks": [_num(t) for t in axis.get_ticklocs()][:1000],
        which + "_tick_labels": [t.get_text() for t in axis.get_ticklabels()][:1000],
        which + "_scale": axis.get_scale(),
    }


def axes_chart(ax):
    from matplotlib.collections import PathCollection
    from matplotlib.container import BarContainer
    from matplotlib.patches import Wedge

    title = ax.get_title() or None
    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    if wedges:
        return {"type": "pie", "title": title, "elements": [{"label": _label(w, "slice %d" % i), "angle": _num(w.theta2 - w.theta1), "radius": _num(w.r)} for i, w in enumerate(wedges)][:MAX_POINTS]}
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    if bars:
        horizontal = getattr(bars[0], "orientation", "vertical") == "horizontal"
        axis = ax.yaxis if horizontal else ax.xaxis
        ticks = {round(float(t), 6): lab.get_text() for t, lab in zip(axis.get_ticklocs(), axis.get_ticklabels())}
        elements = []
        for gi, c in enumerate(bars):
            group = _label(c, "group %d" % gi)
            for r in c.patches:
                center = r.get_y() + r.get_height() / 2 if horizontal else r.get_x() + r.get_width() / 2
                value = r.get_width() if horizontal else r.get_height()
                elements.append({"label": ticks.get(round(float(center), 6)) or str(_num(center)), "group": group, "value": _num(value)})
        chart = {"type": "bar", "title": title, "elements": elements[:MAX_POINTS]}
        for k in ("x", "y"):
            a = _axis(ax, k)
            chart[k + "_label"], chart[k + "_unit"] = a[k + "_label"], a[k + "_unit"]
        return chart
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    lines = ax.get_lines()
    if not scatters and not lines:
        return None
    chart = {"type": "scatter" if scatters else "line", "title": title}
    chart.update(_axis(ax, "x"))
    chart.update(_axis(ax, "y"))
    if scatters:
        chart["elements"] = [{"label": _label(c, "series %d" % i), "points": [[_num(x), _num(y)] for x, y in c.get_offsets()[:MAX_POINTS]]} for i, c in enumerate(scatters)]
    else:
        chart["elements"] = [{"label": _label(ln, "line %d" % i), "points": [[_num(x), _num(y)] for x, y in ln.get_xydata()[:MAX_POINTS]]} for i, ln in enumerate(lines)]
    return chart


def chart_of(fig):
    charts = []
    for ax in fig.get_axes():
        try:
            c = axes_chart(ax)
        except Exception:
            c = None
        if c:
            charts.append(c)
    if not charts:
        return None
    if len(charts) == 1:
        return charts[0]
    sup = getattr(fig, "_suptitle", None)
    return {"type": "superchart", "title": sup.get_text() if sup is not None else None, "elements": charts}


def figure_bundle(fig):
    import io

    out = {}
    formats = CURRENT.formats if CURRENT else ["png"]
    for fmt in formats:
        buf = io.BytesIO()
        _user(lambda: fig.savefig(buf, format=fmt))
        _set(out, fmt, buf.getvalue() if fmt == "png" else buf.getvalue().decode("utf-8", "replace"))
    chart = chart_of(fig)  # after drawing: tick labels exist only once drawn
    if chart is not None:
        out["chart"] = _jsonable(chart)
    _set(out, "text", repr(fig))
    return out


def capture_figures():
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        nums = plt.get_fignums()
    except Exception:
        return
    for n in nums:
        try:
            emit(figure_bundle(plt.figure(n)), False)
        except KeyboardInterrupt:
            raise
        except Exception as e:
            emit({"text": "[figure %s could not be drawn: %s]" % (n, e)}, False)
    try:
        plt.close("all")
    except Exception:
        pass


def _patch_pyplot(plt):
    if getattr(plt, "_airlock_show", False):
        return

    def show(*args, **kwargs):
        capture_figures()

    plt.show = show
    plt._airlock_show = True


class _PyplotHook:
    """Patches matplotlib.pyplot.show as pyplot is imported, so plt.show() gives its figures."""

    def find_spec(self, name, path, target=None):
        if name != "matplotlib.pyplot":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader_exec = spec.loader.exec_module

        def exec_module(module):
            loader_exec(module)
            _patch_pyplot(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _PyplotHook())

# --- an IPython.display stand-in (when IPython itself is not installed) -------------------------


def _ipython_display_module():
    mod = types.ModuleType("IPython.display")

    class _Data:
        field = "text"

        def __init__(self, data=None, url=None, filename=None, **kw):
            if filename is not None:
                with open(filename, "rb" if self.field in BINARY_FIELDS else "r") as f:
                    data = f.read()
            self.data = data

        def _repr_mimebundle_(self, include=None, exclude=None):
            return {next(k for k, v in MIME_FIELDS.items() if v == self.field): self.data}

        def __repr__(self):
            return "<IPython.display.%s object>" % type(self).__name__

    for cls, field in (("HTML", "html"), ("Markdown", "markdown"), ("SVG", "svg"), ("Latex", "latex"), ("JSON", "json"), ("Javascript", "javascript")):
        setattr(mod, cls, type(cls, (_Data,), {"field": field}))

    class Image(_Data):
        def __init__(self, data=None, url=None, filename=None, format=None, **kw):
            super().__init__(data, url, filename)
            name = (format or filename or "png").lower()
            self.field = "jpeg" if name.endswith(("jpg", "jpeg")) else "png"

    mod.Image = Image
    mod.display = display
    mod.clear_output = lambda wait=False: None
    return mod


class _IPythonStandIn:
    """`import IPython.display` where IPython is not installed: the display classes and nothing more.
    Last on sys.meta_path, so a real IPython wins; nothing is in sys.modules until a cell imports it
    (libraries that look for IPython there would take the stand-in for a shell)."""

    def find_spec(self, name, path, target=None):
        import importlib.machinery

        if name == "IPython":
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        if name == "IPython.display":
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        if spec.name == "IPython.display":
            return _ipython_display_module()
        pkg = types.ModuleType("IPython")
        pkg.get_ipython = lambda: None  # matplotlib and pandas ask; there is no shell
        return pkg

    def exec_module(self, module):
        if module.__name__ == "IPython":
            module.display = importlib_import("IPython.display")


def importlib_import(name):
    import importlib

    return importlib.import_module(name)


sys.meta_path.append(_IPythonStandIn())

# --- running a cell ---------------------------------------------------------------------------

_loop = None


def _run(code):
    global _loop
    if code is None:
        return None
    value = eval(code, NS)
    if code.co_flags & 0x80:  # CO_COROUTINE: the cell used top-level await
        import asyncio

        if _loop is None:
            _loop = asyncio.new_event_loop()
        value = _loop.run_until_complete(value)
    return value


def error_of(e):
    tb = e.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell-"):
        tb = tb.tb_next  # the driver's own frames are not the user's business
    try:
        te = traceback.TracebackException(type(e), e, tb)
        # The driver's frame of an interrupt (its SIGINT handler) is not the user's either.
        te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename != "<airlock-driver>"])
        text = "".join(te.format())
    except Exception:
        text = "%s\n" % type(e).__name__
    try:
        value = str(e)
    except Exception:
        value = ""
    if len(text) > MAX_TRACEBACK:
        text = text[:MAX_TRACEBACK // 2] + "\n[... traceback cut ...]\n" + text[-MAX_TRACEBACK // 2:]
    return {"name": type(e).__name__, "value": value[:MAX_TRACEBACK], "traceback": text}


execution_count = 0


def run_cell(cmd):
    global execution_count, CURRENT, _in_user, _pending_interrupt
    execution_count += 1
    count = execution_count
    _pending_interrupt = False
    CURRENT = Cell(cmd["cell"], [f for f in cmd.get("figureFormats", ["png"]) if f in ("png", "svg")] or ["png"])
    signal.signal(signal.SIGINT, _on_sigint)
    _repair_stdio()
    filename = "<cell-%d>" % count
    code = cmd["code"]
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    error = None
    try:
        tree = ast.parse(code, filename, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
            last = ast.Expression(tree.body.pop().value)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        body = compile(tree, filename, "exec", flags=flags)
        expr = compile(last, filename, "eval", flags=flags) if last is not None else None
        if _pending_interrupt:
            _pending_interrupt = False
            raise KeyboardInterrupt
        _in_user = True
        try:
            _run(body)
            value = _run(expr)
        finally:
            _in_user = False
        if value is not None:
            NS["_"] = value
            emit(bundle_of(value), True)
        capture_figures()
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: the context lives on
        _in_user = False
        if os.getpid() != DRIVER_PID:
            os._exit(0)
        error = error_of(e)
        try:
            capture_figures()
        except BaseException:
            pass
    if os.getpid() != DRIVER_PID:
        os._exit(0)  # a child forked by the cell ends with it, never runs the driver's loop
    _repair_stdio()
    end = {"type": "end", "cell": CURRENT.id, "executionCount": count, "resultsDropped": CURRENT.dropped}
    if error is not None:
        end["error"] = error
    CURRENT = None
    # The fence tells the host that stderr (another pipe, read apart) holds all of the cell's output.
    send({"type": "fence", "cell": end["cell"]}, on_stderr=True)
    send(end)


def main_loop():
    global CURRENT
    for name in BOOT.get("preload", []):  # noqa: F821 (warm contexts: heavy imports done before the first cell)
        try:
            __import__(name)
            if name == "matplotlib.pyplot":
                _patch_pyplot(sys.modules[name])
        except Exception:
            pass
    send({"type": "ready", "language": "python", "version": sys.version.split()[0], "pid": os.getpid()})
    while True:
        try:
            cmd = read_command()
        except KeyboardInterrupt:
            continue
        except ValueError:
            os._exit(74)
        if cmd.get("type") == "run":
            try:
                run_cell(cmd)
            except KeyboardInterrupt:
                # An interrupt that landed in the driver itself: the cell still ends.
                send({"type": "end", "cell": cmd.get("cell"), "executionCount": execution_count, "error": {"name": "KeyboardInterrupt", "value": "", "traceback": "KeyboardInterrupt\n"}})
                CURRENT = None


signal.signal(signal.SIGINT, _on_sigint)
main_loop()
