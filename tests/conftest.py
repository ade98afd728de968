"""Shared fixtures: a complete warehouse, built once per test session.

- `kpi_warehouse`: the whole chain on a small simulated account (about 400 leads, clock = real
  time): the simulator (real HTTP) -> `run_extraction` (dlt) -> `load_user_inputs` (CSV files
  written for that account) -> `dbt build`, in a temporary data folder. A `Warehouse`: `.path`,
  `.data_dir`, `.sim`, `.truth`, `.query(sql)`, `.dbt(*args)`, `.reference()`, `.copy(dir)`.
  Tests that use it belong to the xdist group "warehouse" (`@pytest.mark.xdist_group("warehouse")`;
  the suite runs `pytest -n 3 --dist loadgroup`), so it is built once, on one worker. Never change
  it: change a `.copy(dir)`, or build another warehouse.
- `build_kpi_warehouse(data_dir, sim, check=True, first_load_at=None, dbt_command="build")`: the same chain on a simulator
  of your own (`check=False`: a failing `dbt build` does not raise, its result is `.build_result`;
  `first_load_at`: extract once with the simulator's clock there first, then at its current clock).
- `write_example_inputs(data_dir, truth, now)`: the user CSV files for a simulated account.
- `accounts_warehouse`: three simulated accounts in one warehouse (tests/accounts_warehouse.py), built
  once per session; its tests belong to the xdist group "dbt_accounts". Never change it: change a copy.
- `simulated_accounts(seed=7, ...)`: several simulated accounts over HTTP (`acc1`, `acc2`, ...), configured
  as the project's only accounts, data folder `tmp_path/data`: the running `Simulators` hub.
- `webhook`: an HTTP server taking alert POSTs: `(base_url, received)`, `received` the
  `(path, JSON body)` pairs in arrival order; `dead_webhook`: the same, answering 503.

Test modules cannot `from conftest import ...`: with several conftest.py files in the suite, the
name `conftest` means whichever was imported last. Use the fixtures.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pandas as pd
import pytest

from known_gaps import live_leads, without_known_gaps
from kpi_reference import KpiReference, month_end_wins
from xdist_schedule import pytest_collection_modifyitems, pytest_xdist_make_scheduler  # noqa: F401 (hooks)

import dagster_sqlite

if not os.environ.get(dagster_sqlite.AS_SHIPPED):  # in-process SQLite Dagster instances: less CPU per event
    dagster_sqlite.install()

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")

SEED = 11
LEADS = 400
ACCOUNT_LEADS = 150  # per account of `accounts_warehouse`
# dbt runs in a timezone far from both UTC and the account's (Europe/Moscow): a calendar bucket taken
# in the session's or the machine's timezone instead of the account's lands on another day.
DBT_SESSION_TZ = "Pacific/Kiritimati"


@contextmanager
def data_dir_env(data_dir: Path) -> Iterator[None]:
    """Point the project's data folder (`AMOCRM_KPI_DATA_DIR`) at `data_dir` for the block."""
    previous = os.environ.get("AMOCRM_KPI_DATA_DIR")
    os.environ["AMOCRM_KPI_DATA_DIR"] = str(data_dir)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["AMOCRM_KPI_DATA_DIR"]
        else:
            os.environ["AMOCRM_KPI_DATA_DIR"] = previous


# A parsed project (dbt's partial_parse.msgpack) from an earlier `run_dbt` of this process, if any.
_parsed_project: list[Path] = []


_zygote: list[Any] = []  # the dbt_zygote.Zygote of this process, once started; [None] once it failed


def _run_dbt_command(command: list[str], env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess:
    """`command` (dbt and its arguments) as `subprocess.run` would, with dbt started as the daily build starts
    it (pipelines/dbt_launcher.py), through a zygote with dbt imported (tests/dbt_zygote.py: 3 s of CPU less a
    call); if the zygote fails, said in a warning, as a subprocess."""
    if not _zygote:
        from dbt_zygote import Zygote

        _zygote.append(Zygote())
        atexit.register(_zygote[0].close)
    if _zygote[0] is not None:
        try:
            return _zygote[0].run(command[1:], data_dir, env, timeout=900)
        except (OSError, RuntimeError, ValueError) as exc:
            warnings.warn(f"dbt zygote failed ({exc}); dbt runs as a subprocess for the rest of this session")
            _zygote[0] = None
    launcher = [sys.executable, str(PROJECT_ROOT / "pipelines" / "dbt_launcher.py")]  # what the zygote runs
    return subprocess.run([*launcher, *command[1:]], env=env, cwd=data_dir, capture_output=True, text=True,
                          timeout=900)


def run_dbt(data_dir: Path, *args: str, check: bool = True,
            file_log_level: str = "info") -> subprocess.CompletedProcess:
    """`dbt <args>` on the warehouse in `data_dir` (target and logs kept there too), as a subprocess.

    dbt.log is at `file_log_level`, info as in the daily build (pipelines/dbt_daily_build.py); "debug" for a
    test that reads the statements dbt ran there (each debug event costs a build CPU).

    dbt runs in `data_dir` with the data folder given as `.`, so the profile reads the same for every
    warehouse and a new target folder starts from the project parsed by an earlier run (dbt's partial
    parsing: it still re-reads any file that changed). A full parse costs about 4 s of CPU a call.
    """
    target = data_dir / "dbt_target"
    seed = target / "partial_parse.msgpack"
    if _parsed_project and not seed.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(_parsed_project[0], seed)
    env = {**os.environ, "AMOCRM_KPI_DATA_DIR": ".", "TZ": DBT_SESSION_TZ}
    command = [str(DBT), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
               "--target-path", str(target), "--log-path", str(data_dir / "dbt_logs"),
               "--log-level-file", file_log_level]
    result = _run_dbt_command(command, env, data_dir)
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    if not _parsed_project and result.returncode == 0 and seed.exists() and "--vars" not in args:
        kept = Path(tempfile.mkdtemp(prefix="dbt_parsed_")) / seed.name  # later runs there may change it
        atexit.register(shutil.rmtree, kept.parent, True)
        shutil.copy(seed, kept)
        _parsed_project.append(kept)
    return result


def query(warehouse: Path, sql: str) -> pd.DataFrame:
    """Rows of `sql` as Python values (Decimal stays Decimal, dates stay dates), read-only."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        cursor = connection.execute(sql)
        columns = [d[0] for d in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns, dtype=object)


def example_inputs(truth: Any, now: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Spend and targets for the simulated account at unix time `now`, typed as the CSV loader loads them.

    Spend covers the last four months for the UTM channels (in mixed case), a source by its id, another
    by its name (in upper case) and a channel that brings no customers, and leaves UTM channels
    (`telegram`, `referral`) without spend, so their CAC is unknown; targets name active managers by
    id and one by exact name.
    """
    now = pd.Timestamp(now, unit="s", tz=truth.account["timezone"])
    months = [(now - pd.DateOffset(months=k)).date().replace(day=1) for k in range(3, -1, -1)]
    spend = []
    for i, month in enumerate(months):
        spend += [
            {"month": month, "channel": "Yandex", "amount": Decimal(180_000 + 5_000 * i)},
            {"month": month, "channel": "google", "amount": Decimal("95000.50")},
            {"month": month, "channel": "vk", "amount": Decimal(65_000)},
            {"month": month, "channel": "5001", "amount": Decimal(12_000)},
            {"month": month, "channel": " ТЕЛЕФОНИЯ", "amount": Decimal(8_000)},  # source 5002 by its name
            {"month": month, "channel": "avito", "amount": Decimal(30_000)},
        ]
    users = truth.users[truth.users["is_active"].astype(bool)].sort_values("id")
    targets = []
    for i, user in enumerate(users.head(4).itertuples()):
        for month in months:
            targets.append({
                "month": month,
                "manager": user.name if i == 0 else str(user.id),
                "target_revenue": Decimal(1_500_000 + 250_000 * i),
                "target_deals": 4 + i if i != 3 else None,
            })
    return spend, targets


def write_inputs(data_dir: Path, spend: list[dict[str, Any]], targets: list[dict[str, Any]]) -> None:
    """Write the rows as the user's CSV files (months as YYYY-MM); rows with an `account` (several
    accounts) get the file's `account` column."""
    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, date):
            return value.strftime("%Y-%m")
        return str(value)

    for name, rows, columns in (("marketing_spend.csv", spend, ["month", "channel", "amount"]),
                                ("sales_targets.csv", targets, ["month", "manager", "target_revenue", "target_deals"])):
        if any("account" in row for row in rows):
            columns = ["account", *columns]
        lines = [",".join(columns)] + [",".join(cell(row.get(c)) for c in columns) for row in rows]
        (data_dir / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Warehouse:
    """A warehouse built from a simulated account, with what the tests need to check it."""

    data_dir: Path
    sim: Any  # pipelines.simulator.Simulator, still serving
    truth: Any = None  # the account at the last extraction
    spend: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    dbt_session_timezone: str = DBT_SESSION_TZ
    build_result: subprocess.CompletedProcess | None = None  # of the `dbt build` that made it
    loads: list[tuple[int, set[int]]] = field(default_factory=list)  # (clock, live lead ids) per extraction

    @property
    def path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    def extract(self) -> None:
        """Run the extractor against the simulator at its current clock."""
        from pipelines.amocrm import run_extraction

        with data_dir_env(self.data_dir):
            run_extraction(base_url=self.sim.base_url, access_token=self.sim.long_lived_token,
                           requests_per_second=1000)
        self.truth = self.sim.truth()
        self.loads.append((self.sim.clock.now, live_leads(self.truth)))

    def load_inputs(self) -> None:
        from pipelines.inputs import load_user_inputs

        write_inputs(self.data_dir, self.spend, self.targets)
        load_user_inputs(self.data_dir, warehouse=self.path)

    def dbt(self, *args: str, check: bool = True, file_log_level: str = "info") -> subprocess.CompletedProcess:
        return run_dbt(self.data_dir, *args, check=check, file_log_level=file_log_level)

    def query(self, sql: str) -> pd.DataFrame:
        return query(self.path, sql)

    @property
    def extracted_at(self) -> float:
        """The extraction time the marts use: the newest successful dlt load."""
        seconds = self.query("select epoch(max(inserted_at)) from raw_amocrm._dlt_loads where status = 0")
        return float(seconds.iat[0, 0])

    def reference(self, include_known_gaps: bool = False) -> KpiReference:
        """The independent reference; without what the extractions cannot know yet (tests/known_gaps.py)
        unless `include_known_gaps`, for the xfail test that shows a gap."""
        truth = self.truth if include_known_gaps else without_known_gaps(self.truth, self.loads)
        return KpiReference(truth, extracted_at=self.extracted_at, spend=self.spend, targets=self.targets)

    def copy(self, data_dir: Path) -> "Warehouse":
        """The same warehouse file in another data folder, to change without touching this one."""
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.path, data_dir / "warehouse.duckdb")
        return Warehouse(data_dir=data_dir, sim=None, truth=self.truth, spend=self.spend, targets=self.targets,
                         loads=list(self.loads))


def build_warehouse(data_dir: Path, sim: Any, check: bool = True, first_load_at: int | None = None,
                    dbt_command: str = "build", select: tuple[str, ...] = ()) -> Warehouse:
    """Extract the simulated account, load inputs written for it and `dbt build` the project
    (`dbt_command="run"`: the models without their tests, for a warehouse built again before it is checked;
    `select`: dbt selectors, e.g. `("+fct_response",)`, for a module that reads only those models: the
    other models and their tests cost CPU and are proven elsewhere)."""
    warehouse = Warehouse(data_dir=data_dir, sim=sim)
    if first_load_at is not None:
        now = sim.clock.now
        sim.clock.set(first_load_at)
        warehouse.extract()
        sim.clock.set(now)
    warehouse.extract()
    warehouse.spend, warehouse.targets = example_inputs(warehouse.truth, sim.clock.now)
    warehouse.load_inputs()
    # buildable: a test of the selection whose other parents are not built is left out, not failed
    selection = ("--select", *select, "--indirect-selection", "buildable") if select else ()
    warehouse.build_result = warehouse.dbt(dbt_command, *selection, check=check)
    return warehouse


@pytest.fixture(scope="session")
def write_example_inputs():
    """`write_example_inputs(data_dir, truth, now) -> (spend, targets)`: the user CSV files of
    `example_inputs` written into `data_dir`. (Test modules cannot import from this conftest by name:
    `import conftest` finds whichever conftest.py comes first on sys.path.)"""
    def write(data_dir: Path, truth: Any, now: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        spend, targets = example_inputs(truth, now)
        write_inputs(data_dir, spend, targets)
        return spend, targets

    return write


@pytest.fixture(scope="session")
def build_kpi_warehouse():
    """`build_warehouse(data_dir, sim)`, for tests that need a warehouse of their own."""
    return build_warehouse


@pytest.fixture(scope="session")
def accounts_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Three accounts in one warehouse (`AccountsWarehouse`), for every module of the group "dbt_accounts"."""
    from accounts_warehouse import build_accounts_warehouse

    return build_accounts_warehouse(tmp_path_factory.mktemp("accounts"), seed=11, leads=ACCOUNT_LEADS,
                                    now=int(time.time()))


def rich_account(now: int) -> Any:
    """The first account from seed SEED on (at simulated time `now`) that has every rare case the KPI
    tests rely on: deleted leads, and live wins planted on both sides of midnight at a month end. The
    clock is real time, so that "now" in the marts (the time of the dlt load) is "now" in the account."""
    from pipelines.simulator import SimulatedAccount

    for seed in itertools.count(SEED):
        account = SimulatedAccount.generate(seed=seed, leads=LEADS, now=now)
        truth = account.truth()
        late, early = month_end_wins(truth)
        if truth.leads["is_deleted"].sum() >= 2 and len(late) and len(early):
            return account


@pytest.fixture(scope="session")
def kpi_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The shared warehouse: read it, never change it (see the module docstring)."""
    from pipelines.simulator import Simulator

    with Simulator(rich_account(int(time.time())), rate_limit=None) as sim:
        yield build_warehouse(tmp_path_factory.mktemp("kpi_warehouse"), sim)


@pytest.fixture
def simulated_accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`simulated_accounts(count=2, seed=7, leads=60, horizon_days=30, now=1_767_000_000, **options)` -> the
    running `pipelines.simulator.hub.Simulators` (accounts `acc1`, `acc2`, ..., no rate limit), stopped after
    the test. The project sees exactly these accounts: no amoCRM setting from the machine, no `.dlt/` (the
    working directory is tmp_path), `requests_per_second` 1000; its data folder is tmp_path/data."""
    from pipelines.simulator.hub import Simulators
    from pipelines.simulator.profiles import derived_specs

    for name in list(os.environ):  # only the hub's accounts: no `default` from the environment
        if "AMO" in name.upper():
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SOURCES__AMOCRM__REQUESTS_PER_SECOND", "1000")
    with ExitStack() as running:
        def start(count: int = 2, seed: int = 7, leads: int = 60, horizon_days: int = 30, now: int = 1_767_000_000,
                  **options: Any) -> Any:
            hub = running.enter_context(Simulators.generate(
                derived_specs(count, seed=seed, leads=leads), now=now, horizon_days=horizon_days,
                **{"rate_limit": None, **options}))
            for name, value in hub.env().items():
                monkeypatch.setenv(name, value)
            return hub

        yield start


@contextmanager
def _alert_receiver(status: int) -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    received: list[tuple[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """An on-call webhook receiver on a free local port: (base URL, [(path, JSON body), ...])."""
    with _alert_receiver(204) as receiver:
        yield receiver


@pytest.fixture
def dead_webhook() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """Like `webhook`, but it answers 503 to everything (a channel that is down)."""
    with _alert_receiver(503) as receiver:
        yield receiver
