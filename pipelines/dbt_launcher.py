"""`dbt` for the daily build: dbt's own command line, with six costs of the plain `dbt` script taken out.

1. The exit. After dbt's last log line the plain script spends 1-4 s in Python's interpreter teardown (freeing the
   ~1.5 GB of objects a 1M-lead build leaves: manifest, graph, events), work whose result nobody sees. Here dbt's
   command line runs to its end as usual (its result, its messages, its exit code), then the warehouse is closed
   (DuckDB writes its checkpoint and removes the .wal: dbt has normally done so already when its last connection
   closed; a still-open one is closed here, and an error doing so ends this process the ordinary, loud way), the
   semaphores of dbt's locks are freed, stdout, stderr and dbt.log are flushed, and the process ends with dbt's
   exit code without the teardown (`os._exit`).
   An exception that escapes dbt's command line is not caught: Python prints it and exits as usual.
2. Log events nobody writes. dbt builds a message for every event (about 3,700 a 1M-lead build, 3,300 of them
   debug: each statement, connection and cache step; about 0.4 ms of serial Python each) and formats it for each of its
   loggers, then Python's `logging` drops those below the logger's level. Here an event that no logger would write
   (below every logger's level, read by no callback, not one of dbt's print events) is skipped before its message
   is built, and a logger skips formatting an event it would drop; what reaches stdout and dbt.log is unchanged. A
   callback counts as a reader of every event, except dbt's own listed in `CALLBACK_READS` (its CLI registers one on
   every run; before 2026-12-02 the skip waited for no callback at all and so never skipped in a real build). The daily
   build logs at info to stdout (dagster-dbt) and to dbt.log (pipelines/dbt_daily_build.py), so its debug events
   are never built; with dbt.log at debug they all are, as with the plain `dbt`. An event also converts its fields
   to protobuf (ParseDict) only when first read (`_build_event_fields_when_read`), so a skipped one never does: 3,300
   statement events made 0.50 -> 0.003 CPU s (2026-12-02, this machine under load).
3. Compiling Jinja. dbt compiles each node's SQL and each macro from its text in every process (about 15% of its
   serial Python in a build), the same ~530 templates every build. Here Jinja's compiled code of a template is kept
   in `target/jinja_compiled` of dbt's project folder (`JinjaCodeCache`), named by a hash of the text and of every
   environment setting the compile depends on, and read back by the next build; entries unread for 30 days are
   removed. Measured with a prototype on the 1M-lead daily build: 21.9/22.5 s against 23.5/23.6 s without
   (about 1.5 CPU s less). A folder it cannot write to costs a line on stderr, not the build.
4. Building JSON schemas. dbt validates dbt_project.yml, profiles.yml and its other YAML files against JSON schemas
   it builds from its dataclasses in every process (about 0.4 s of the start). Here they are kept in
   `target/dbt_json_schemas.json` of the project folder for the installed versions of the packages that make them
   (`_keep_json_schemas`); the validation is dbt's own.
5. Garbage collection over dbt's modules. Python's full collections walk every object the process holds, and most
   of them are the classes and functions dbt imported, which live until the exit. Here they are moved out of the
   collector's reach once dbt's command line is imported (`gc.freeze`, `_import_dbt_cli`); objects made later are
   collected as usual. The 1M-lead daily build's full collections: 0.56 -> 0.30 s (2026-12-03, GC callbacks).
6. Serializers prepared at import. For each of dbt's ~340 serializable dataclasses mashumaro, as it is imported,
   compiles to_dict/from_dict (45 of them) or resolves its field types until one fails, leaving a stub that compiles
   on first call (the rest). Here every one gets the stub at once (mashumaro's `lazy_compilation`,
   `_compile_serializers_on_first_use`); a build calls few. Importing dbt: 2.41 -> 1.99 s (6 alternating pairs).
`PATCHED` names the dbt and Jinja internals this relies on: tests/dbt/test_dbt_launcher.py fails when an upgrade
renames them.

Run as `python pipelines/dbt_launcher.py ARGS...` (by path: it imports nothing of the project), with the
arguments of `dbt ARGS...`. The Dagster transform starts it through pipelines/defs/dbt_in_data_dir.sh, the
benchmark through `pipelines.dbt_daily_build.DBT_COMMAND`.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import importlib.util
import json
import logging
import marshal
import os
import sys
import threading
import time
import types
from contextlib import suppress
from pathlib import Path

PATCHED = ("dbt_common.events.logger._Logger.write_line", "dbt_common.events.logger._log_level_map",
           "dbt_common.events.logger._is_print_event", "dbt_common.events.logger.PRINT_EVENT_NAMES",
           "dbt_common.events.event_manager.EventManager.fire_event",
           "dbt_common.events.base_types.BaseEvent.level_tag", "dbt_common.events.base_types.BaseEvent.__init__",
           "dbt.adapters.duckdb.connections.DuckDBConnectionManager._ENV", "multiprocessing.util._exit_function",
           "jinja2.environment.Environment.compile", "jinja2.utils._PassArg.from_obj", "jinja2.utils.internalcode",
           "dbt_common.clients.jinja.MACRO_DEBUGGING", "dbt.tracking.track_behavior_change_warn",
           "dbt_common.dataclass_schema.dbtClassMixin.json_schema", "mashumaro.config.BaseConfig.lazy_compilation")
# the packages whose dataclasses make the JSON schemas dbt validates its YAML files against (`_keep_json_schemas`)
SCHEMA_PACKAGES = ("dbt-core", "dbt-common", "dbt-adapters", "dbt-duckdb", "mashumaro")
JINJA_CACHE_DAYS = 30  # an entry no build has read for this long is removed: its model or macro has changed
DAY = 24 * 3600


# dbt's own callbacks that read only the events named here; any other callback may read every event.
CALLBACK_READS = {"dbt.tracking.track_behavior_change_warn": frozenset({"BehaviorChangeEvent"})}


def _callback_reads(callback, event_name: str) -> bool:  # noqa: ANN001
    """Whether an event manager callback may read an event of that name. dbt's CLI registers one on every run
    (`track_behavior_change_warn`: usage tracking of behaviour-change warnings), so a skip that waited for no
    callback at all would never skip."""
    reads = CALLBACK_READS.get(f"{getattr(callback, '__module__', '')}.{getattr(callback, '__qualname__', '')}")
    return reads is None or event_name in reads


def _skip_unwanted_events() -> None:
    """Make dbt skip an event none of its loggers would write before building its message, and make a logger skip
    formatting an event its Python logger would drop for its level."""
    from dbt_common.events import logger as dbt_logger
    from dbt_common.events.event_manager import EventManager

    write_line, fire_event, levels = dbt_logger._Logger.write_line, EventManager.fire_event, dbt_logger._log_level_map

    def drops(python_logger, level) -> bool:  # noqa: ANN001
        return python_logger is not None and level is not None and not python_logger.isEnabledFor(level)

    def write_line_if_kept(self, msg) -> None:  # noqa: ANN001 (dbt's signature)
        if not dbt_logger._is_print_event(msg) and drops(self._python_logger, levels.get(msg.info.level)):
            return
        write_line(self, msg)

    def fire_event_if_written(self, e, level=None, node=None,  # noqa: ANN001 (dbt's signature)
                              force_warn_or_error_handling=False) -> None:
        wanted, name = levels.get(level or e.level_tag()), type(e).__name__
        if (self.loggers and not force_warn_or_error_handling and name not in dbt_logger.PRINT_EVENT_NAMES
                and not any(_callback_reads(callback, name) for callback in self.callbacks)
                and all(drops(logger._python_logger, wanted) for logger in self.loggers)):
            return
        fire_event(self, e, level, node, force_warn_or_error_handling)

    dbt_logger._Logger.write_line = write_line_if_kept
    EventManager.fire_event = fire_event_if_written


def _build_event_fields_when_read() -> None:
    """Make a dbt event turn its fields into its protobuf message when something first reads it, not when it is made.

    dbt makes every event object (its fields through protobuf's ParseDict, about 0.1 ms of serial Python) before
    fire_event decides whether any logger writes it; the ~3,300 debug events of a build that `_skip_unwanted_events`
    drops are never read, so their fields are never converted. A read of any field (a logger, `level_tag`, a callback)
    converts them first, with dbt's own __init__ (same message, same handling of a field that does not convert)."""
    from dbt_common.events.base_types import BaseEvent

    make_message = BaseEvent.__init__

    def keep_fields(self, *args, **kwargs) -> None:  # noqa: ANN001 (dbt's signature)
        self.__dict__["_fields"] = (args, kwargs)

    def message(self):  # noqa: ANN001, ANN202
        if "_message" not in self.__dict__:
            args, kwargs = self.__dict__.pop("_fields")
            make_message(self, *args, **kwargs)  # sets pb_msg: the setter below
        return self.__dict__["_message"]

    def set_message(self, value) -> None:  # noqa: ANN001
        self.__dict__["_message"] = value

    BaseEvent.__init__ = keep_fields
    BaseEvent.pb_msg = property(message, set_message)


def _project_target_dir(args: list[str]) -> str:
    """`target` in dbt's project folder (--project-dir, else DBT_PROJECT_DIR, else the folder dbt finds from the
    working directory), where dbt keeps the project's parse and this keeps what it reuses between builds. Not the
    run's own target path: dagster-dbt gives every run a new one, so what is kept there would never be read again."""
    project = os.environ.get("DBT_PROJECT_DIR")
    for option, value in zip(args, args[1:] + [None]):
        if option == "--project-dir" and value:
            project = value
        elif option.startswith("--project-dir="):
            project = option.partition("=")[2]
    if not project:
        here = Path.cwd()
        project = next((p for p in (here, *here.parents) if (p / "dbt_project.yml").exists()), here)
    return os.path.join(project, "target")


def _keep_json_schemas(path: str) -> None:
    """Make dbt read the JSON schemas it validates dbt_project.yml, profiles.yml and the like against from `path`,
    built once for the installed versions of `SCHEMA_PACKAGES`.

    dbt builds each schema from its dataclasses (mashumaro) in every process: about 0.4 s of a build's serial start
    (seven schemas). A schema not in the file is built by dbt's own code and the file rewritten whole (atomically:
    builds may share it); a file that cannot be read, or was written for other versions, counts as empty. The
    validation itself is dbt's, unchanged: a config mistake fails as it does without this."""
    from importlib import metadata

    from dbt_common.dataclass_schema import dbtClassMixin

    installed = dbtClassMixin.__dict__["json_schema"].__func__
    build_schema = getattr(installed, "builds_with", None) or installed.__wrapped__  # dbt's own, under its lru_cache
    versions = {name: metadata.version(name) for name in SCHEMA_PACKAGES}
    try:
        with open(path, encoding="utf-8") as file:
            stored = json.load(file)
        schemas = dict(stored["schemas"]) if stored["versions"] == versions else {}
    except (OSError, ValueError, KeyError, TypeError):
        schemas = {}
    lock, writable = threading.Lock(), True

    def json_schema(cls) -> dict:  # noqa: ANN001
        nonlocal writable
        name = f"{cls.__module__}.{cls.__qualname__}"
        with lock:
            if name not in schemas:
                schemas[name] = build_schema(cls)
                try:
                    if writable:
                        _write_atomically(path, json.dumps({"versions": versions, "schemas": schemas}).encode())
                except OSError as error:
                    writable = False
                    print(f"dbt_launcher: cannot keep dbt's JSON schemas in {path} ({error.strerror or error}); "
                          "dbt builds them as usual", file=sys.stderr)
            return schemas[name]

    json_schema.builds_with = build_schema
    dbtClassMixin.json_schema = classmethod(json_schema)


def _write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: dbt's threads and other builds may read or
    write the same path at once. Raises OSError."""
    temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError:
        with suppress(OSError):
            os.remove(temporary)
        raise

@functools.lru_cache(maxsize=None)
def _module_stamp(module: str | None) -> tuple[int, int] | None:
    """The mtime and size of a module's file: upgrading the package (e.g. dbt's Jinja parser) changes them."""
    try:
        stat = os.stat(sys.modules[module].__file__)
    except (KeyError, AttributeError, TypeError, OSError):
        return None
    return stat.st_mtime_ns, stat.st_size


def _code_identity(obj: object) -> tuple:
    """A class or callable by its module, qualified name and module file."""
    module = getattr(obj, "__module__", None)
    return module, getattr(obj, "__qualname__", type(obj).__qualname__), _module_stamp(module)


@functools.lru_cache(maxsize=64)
def _functions_digest(functions: frozenset) -> str:
    """A digest of filters or tests: name, code and what Jinja passes as the first argument (context, eval context,
    environment or none). Memoized: dbt's environments share a few sets, and their text is most of the key's cost."""
    from jinja2.utils import _PassArg

    text = repr(sorted((name, _code_identity(f), _PassArg.from_obj(f)) for name, f in functions))
    return hashlib.sha256(text.encode()).hexdigest()


def _digest(functions: dict) -> str:
    try:
        return _functions_digest(frozenset(functions.items()))
    except TypeError:  # a filter object that cannot be hashed: not memoized
        return _functions_digest.__wrapped__(functions.items())


def _jinja_key(env, source: str, name: str | None, filename: str | None, defer_init: bool) -> str:  # noqa: ANN001
    """sha256 of the source and of all that Jinja 3.1's lexer, parser, optimizer and code generator read from `env`,
    so that a hit is the code `env` itself would compile. Filters and tests count by their code, not only by name:
    the optimizer calls them on constant arguments and bakes the result in."""
    import jinja2

    lexer = (env.block_start_string, env.block_end_string, env.variable_start_string, env.variable_end_string,
             env.comment_start_string, env.comment_end_string, env.line_statement_prefix, env.line_comment_prefix,
             env.trim_blocks, env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline)
    extensions = sorted((identifier, _code_identity(type(e))) for identifier, e in env.extensions.items())
    settings = (
        importlib.util.MAGIC_NUMBER, jinja2.__version__, _code_identity(type(env)),
        _code_identity(env.code_generator_class), extensions, env.policies.get("ext.i18n.trimmed"), lexer,
        env.optimized, env.is_async, env.sandboxed,
        sorted(getattr(env, "intercepted_binops", ())), sorted(getattr(env, "intercepted_unops", ())),
        _code_identity(env.autoescape) if callable(env.autoescape) else env.autoescape,
        _digest({"finalize": env.finalize} if env.finalize else {}), _digest(env.filters), _digest(env.tests),
        name, filename, defer_init, source,
    )
    return hashlib.sha256(repr(settings).encode("utf-8", "surrogatepass")).hexdigest()


def _macro_debugging() -> bool:
    """dbt's macro debugging puts each template's Python in linecache as it compiles it: a cached code would skip it."""
    jinja = sys.modules.get("dbt_common.clients.jinja")
    return bool(os.environ.get("DBT_MACRO_DEBUGGING") or getattr(jinja, "MACRO_DEBUGGING", False))


class JinjaCodeCache:
    """Jinja's compiled code of each template source, kept on disk (marshal) for the next build.

    dbt compiles every node's SQL and every macro from a string in each process (`Environment.from_string`, a new
    Environment a render: Jinja's own caches never apply), the same ~530 sources every build. A miss compiles as
    Jinja does and stores the code; a file that cannot be read is a miss. The cache never fails a build: if it
    cannot write, dbt compiles as usual and this says so once on stderr."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.writable = True
        self._lock = threading.Lock()

    def install(self) -> None:
        """Patch `jinja2.Environment.compile`: a `str` source compiled to code goes through the cache; a raw (Python
        source) compile, a node tree, a syntax error and macro debugging go to Jinja unchanged."""
        import jinja2
        from jinja2.utils import internalcode

        compile_code, cache = jinja2.Environment.compile, self

        @internalcode  # hidden from template tracebacks, as Jinja's own compile is
        def compile_cached(env, source, name=None, filename=None, raw=False, defer_init=False):  # noqa: ANN001, ANN202
            if raw or not isinstance(source, str) or _macro_debugging():
                return compile_code(env, source, name, filename, raw, defer_init)
            path = os.path.join(cache.directory, _jinja_key(env, source, name, filename, defer_init))
            code = cache.read(path)
            if code is None:
                code = compile_code(env, source, name, filename, raw, defer_init)
                cache.write(path, code)
            return code

        jinja2.Environment.compile = compile_cached

    def read(self, path: str) -> types.CodeType | None:
        """The stored code, or None; a hit refreshes the entry's mtime once a day (see `prune`)."""
        try:
            with open(path, "rb") as file:
                code, modified = marshal.load(file), os.fstat(file.fileno()).st_mtime
        except (OSError, EOFError, ValueError, TypeError):
            return None
        if modified < time.time() - DAY:
            with suppress(OSError):
                os.utime(path)
        return code if isinstance(code, types.CodeType) else None

    def write(self, path: str, code: types.CodeType) -> None:
        """Store `code` atomically (dbt compiles from several threads, builds may share the folder)."""
        if not self.writable:
            return
        try:
            _write_atomically(path, marshal.dumps(code))
        except (OSError, ValueError) as error:
            with self._lock:
                said, self.writable = not self.writable, False
            if not said:
                reason = getattr(error, "strerror", None) or error
                print(f"dbt_launcher: cannot keep compiled Jinja templates in {self.directory} ({reason}); "
                      "dbt compiles them as usual", file=sys.stderr)

    def prune(self) -> None:
        """Remove the entries (and left temporary files) no build has read for `JINJA_CACHE_DAYS`."""
        oldest = time.time() - JINJA_CACHE_DAYS * DAY
        with suppress(OSError), os.scandir(self.directory) as entries:
            for entry in entries:
                with suppress(OSError):
                    if entry.stat().st_mtime < oldest:
                        os.remove(entry.path)


def _close_warehouse() -> None:
    """Close dbt-duckdb's database if a connection left it open: DuckDB checkpoints on close (no .wal left)."""
    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    environment = connections.DuckDBConnectionManager._ENV if connections else None
    if environment is not None:
        environment.close()


def _exit_status(code: object) -> int:
    """The status `sys.exit(code)` would give the process (an object other than None/int: printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _compile_serializers_on_first_use() -> None:
    """Before dbt is imported: each mashumaro dataclass defined from now on compiles its serializers on first call."""
    import mashumaro.config

    mashumaro.config.BaseConfig.lazy_compilation = True


def _import_dbt_cli():  # noqa: ANN202
    """dbt's command line, imported, with everything the process holds by then frozen for the garbage collector."""
    from dbt.cli.main import cli

    gc.freeze()
    return cli


def main(args: list[str]) -> None:
    """Run `dbt ARGS`, close the warehouse, flush, and end the process with dbt's exit code."""
    _compile_serializers_on_first_use()
    kept = _project_target_dir(args)
    jinja_cache = JinjaCodeCache(os.path.join(kept, "jinja_compiled"))
    jinja_cache.install()
    _keep_json_schemas(os.path.join(kept, "dbt_json_schemas.json"))
    _build_event_fields_when_read()
    _skip_unwanted_events()
    cli = _import_dbt_cli()

    try:
        cli.main(args=args, prog_name="dbt")  # click's standalone mode: always ends in SystemExit
        code: object = 0
    except SystemExit as finished:
        code = finished.code
    _close_warehouse()
    jinja_cache.prune()
    if "multiprocessing.util" in sys.modules:  # what atexit would run: frees dbt's semaphores (its adapter's locks),
        sys.modules["multiprocessing.util"]._exit_function()  # else the resource tracker warns of leaked ones
    status = _exit_status(code)
    logging.shutdown()  # flushes and closes dbt.log
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main(sys.argv[1:])
