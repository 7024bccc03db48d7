"""Login throughput at bcrypt cost 12 against the bcrypt ceiling, and what a burst of logins
does to a hosted page's latency.

Runs the real ``webmagic serve`` (the installed console script) on a temporary SQLite file
with ``WEBMAGIC_BCRYPT_ROUNDS=12``. Before the server starts it creates, in this process
and through the services, one hosted site and ``--clients`` verified customers. Then:

one client fetches the hosted page every ``--page-interval`` seconds throughout, while
``--clients`` threads log in (``POST /api/v1/customer/login``) back to back, each as its own
customer, in every other slice of ``--slice`` seconds (``--rounds`` times): idle slices give
the page latency with no load, load slices the login throughput and the page latency under
it. Alternating short slices lets both phases see the same background load when the
machine is busy with other work too; the cores each side used are printed for that reason.

It prints the login throughput against the ceiling ``cores / one bcrypt check at cost 12``
(the CPU time of one check, measured in this process with ``BcryptPasswordHasher``) and
the page latency p50/p99 idle and under load. Targets: logins >= 80 % of the ceiling; page
p99 under load <= 2 x the idle p99. Exit code 0 either way, 1 with ``--strict`` if a
target is missed.

Not a test: run it by hand on a quiet machine (the load generator shares its cores).

    .venv/bin/python benchmarks/login.py
    .venv/bin/python benchmarks/login.py --clients 16 --rounds 6
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.passwords import BcryptPasswordHasher
from webmagic_adapters.settings import load_settings
from webmagic_core.sites import SiteContent

ROUNDS = 12
PASSWORD = "benchmark: correct horse battery staple"  # a throwaway test account
SLUG = "bench-bakery"
PAGE = (
    "<!doctype html><html><head><title>Bench Bakery</title></head><body><h1>Bench Bakery</h1>"
    + "<p>Fresh bread every morning.</p>" * 200
    + "</body></html>"
)
LOGIN_TARGET = 0.80
LATENCY_TARGET = 2.0


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- the bcrypt ceiling ---------------------------------------------------------------------------


def one_check_seconds(samples: int) -> tuple[float, float]:
    """The median CPU time and wall time of one password check at cost 12 (what a login
    costs in bcrypt). The CPU time does not grow when other work shares the cores, so the
    ceiling is computed from it."""
    hasher = BcryptPasswordHasher(ROUNDS)
    hashed = hasher.hash(PASSWORD)
    cpu, wall = [], []
    for _ in range(samples):
        started, started_cpu = time.perf_counter(), time.thread_time()
        assert hasher.verify(PASSWORD, hashed)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return statistics.median(cpu), statistics.median(wall)


def threaded_checks_per_second(threads: int, seconds: float) -> float:
    """Checks per second with ``threads`` threads in one process: about ``threads`` times
    the single-thread rate if bcrypt releases the GIL, about 1x if it does not."""
    hasher = BcryptPasswordHasher(ROUNDS)
    hashed = hasher.hash(PASSWORD)
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def work(index: int) -> None:
        while time.perf_counter() < deadline:
            hasher.verify(PASSWORD, hashed)
            done[index] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - started)


# --- the data ------------------------------------------------------------------------------------


@dataclass
class HashOnce:
    """Setup only: a real cost-12 hash, computed once and given to every customer (the
    benchmark measures logins, not registrations)."""

    inner: BcryptPasswordHasher
    cache: dict[str, str] = field(default_factory=dict)

    def hash(self, password: str) -> str:
        if password not in self.cache:
            self.cache[password] = self.inner.hash(password)
        return self.cache[password]

    def verify(self, password: str, hashed: str) -> bool:
        return self.inner.verify(password, hashed)

    def needs_rehash(self, hashed: str) -> bool:
        return self.inner.needs_rehash(hashed)


def customer_email(index: int) -> str:
    return f"bench{index}@example.com"


def prepare(database_url: str, data_dir: Path, secret_key: str, customers: int) -> None:
    """Migrate, host one site, create ``customers`` verified accounts (through the services)."""
    settings = load_settings(
        database_url=database_url, data_dir=data_dir, secret_key=secret_key, bcrypt_rounds=ROUNDS
    )
    container = bootstrap(settings, hasher=HashOnce(BcryptPasswordHasher(ROUNDS)))
    try:
        container.database.upgrade()
        container.sites.create_preview(SLUG, "Bench Bakery", SiteContent.from_bytes(PAGE.encode()))
        for index in range(customers):
            container.accounts.register(customer_email(index), PASSWORD, "Bench Customer")
            with container.database.unit_of_work() as uow:
                customer = uow.customers.get_by_email(customer_email(index), for_update=True)
                assert customer is not None
                customer.email_verified_at = customer.updated_at = dt.datetime.now(dt.UTC)
                uow.customers.save(customer)
                uow.commit()
    finally:
        container.close()


# --- the server ----------------------------------------------------------------------------------


def webmagic_script() -> str:
    beside = Path(sys.executable).with_name("webmagic")
    script = str(beside) if beside.is_file() else shutil.which("webmagic")
    if not script:
        sys.exit("the webmagic console script is not installed (pip install -e . in this environment)")
    return script


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    database_url: str, data_dir: Path, secret_key: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBMAGIC_")}
    env |= {
        "WEBMAGIC_BCRYPT_ROUNDS": str(ROUNDS),
        "WEBMAGIC_SECRET_KEY": secret_key,
        "WEBMAGIC_LOG_LEVEL": "warning",
    }
    command = [webmagic_script(), "serve", "--port", str(port), "--database-url", database_url]
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            env=env,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"webmagic serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"webmagic serve did not answer within {timeout:g} s:\n{log.read_text()}")


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Window:
    """A measured span; a request counts in the window it started (page) or ended (login) in."""

    start: float
    end: float


def inside(moment: float, windows: list[Window]) -> bool:
    return any(w.start <= moment < w.end for w in windows)


class Load:
    """One page client that fetches the page every ``interval`` seconds throughout, and login
    clients that log in back to back while ``go`` is set (each as its own customer)."""

    def __init__(self, base: str, clients: int, interval: float) -> None:
        self.base, self.clients, self.interval = base, clients, interval
        self.pages: list[tuple[float, float]] = []  # (start, seconds)
        self.logins: list[tuple[float, float]] = []  # (end, seconds) of each success
        self.failures: Counter[str] = Counter()
        self.errors: list[str] = []
        self._go, self._stop = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._threads = [threading.Thread(target=self._fetch_pages, daemon=True)]
        self._threads += [
            threading.Thread(target=self._log_in, args=(customer_email(i),), daemon=True)
            for i in range(clients)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._go.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def logins_on(self) -> None:
        self._go.set()

    def logins_off(self, timeout: float = 120) -> None:
        """Stop starting logins and wait for those in flight to finish."""
        with self._lock:
            self._go.clear()
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.01)

    def _fetch_pages(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    response = client.get(f"/{SLUG}")
                except httpx.HTTPError as error:
                    self.errors.append(f"page: {error!r}")
                    return
                elapsed = time.perf_counter() - started
                if response.status_code != 200 or b"Bench Bakery" not in response.content:
                    self.errors.append(f"the hosted page answered {response.status_code}")
                    return
                self.pages.append((started, elapsed))
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def _log_in(self, email: str) -> None:
        body = {"email": email, "password": PASSWORD}
        with httpx.Client(base_url=self.base, timeout=120) as client:
            while not self._stop.is_set():
                if not self._go.wait(0.05):
                    continue
                with self._lock:  # no login starts once logins_off has cleared the flag
                    if not self._go.is_set() or self._stop.is_set():
                        continue
                    self._in_flight += 1
                try:
                    started = time.perf_counter()
                    response = client.post("/api/v1/customer/login", json=body)
                    ended = time.perf_counter()
                    if response.status_code == 200 and "access_token" in response.json():
                        self.logins.append((ended, ended - started))
                    else:
                        self.failures[f"{response.status_code} {response.text[:120]}"] += 1
                except httpx.HTTPError as error:
                    self.failures[repr(error)] += 1
                finally:
                    with self._lock:
                        self._in_flight -= 1


def check_login(base: str) -> None:
    response = httpx.post(
        f"{base}/api/v1/customer/login",
        json={"email": customer_email(0), "password": PASSWORD},
        timeout=60,
    )
    if response.status_code != 200:
        sys.exit(f"a login answered {response.status_code}: {response.text[:500]}")


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far of the server, of this process, and busy/total of the machine."""

    server: float
    here: float
    machine_busy: float
    machine_total: float

    @classmethod
    def take(cls, server_pid: int) -> CpuSample | None:
        try:  # Linux only: /proc
            tick = os.sysconf("SC_CLK_TCK")
            stat = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
            server = (int(stat[11]) + int(stat[12])) / tick  # utime + stime, all threads
            # user nice system idle iowait irq softirq steal (guest time is inside user time)
            jiffies = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        except (OSError, ValueError, IndexError):
            return None
        idle = jiffies[3] + jiffies[4]
        return cls(server, time.process_time(), (sum(jiffies) - idle) / tick, sum(jiffies) / tick)


@dataclass
class CpuUse:
    """CPU use summed over the windows of one phase, shown as cores kept busy on average."""

    seconds: float = 0.0
    server: float = 0.0
    here: float = 0.0
    machine_busy: float = 0.0
    machine_total: float = 0.0
    known: bool = True

    def add(self, before: CpuSample | None, after: CpuSample | None, seconds: float) -> None:
        if before is None or after is None:
            self.known = False
            return
        self.seconds += seconds
        self.server += after.server - before.server
        self.here += after.here - before.here
        self.machine_busy += after.machine_busy - before.machine_busy
        self.machine_total += after.machine_total - before.machine_total

    @property
    def server_cores(self) -> float:
        return self.server / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        if not self.known or not self.seconds or not self.machine_total:
            return "unknown (no /proc)"
        machine = self.machine_busy / self.machine_total * cores()
        server, here = self.server / self.seconds, self.here / self.seconds
        others = max(0.0, machine - server - here)
        return (
            f"server {server:.2f}, this benchmark {here:.2f}, other processes {others:.2f} "
            f"(machine {machine:.2f} of {cores()})"
        )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Results:
    idle_pages: list[float]
    load_pages: list[float]
    logins: list[float]
    logins_per_second: float
    failures: Counter[str]
    idle_cpu: CpuUse
    load_cpu: CpuUse


def measure(
    base: str, server_pid: int, *, clients: int, rounds: int, slice_s: float, ramp: float, interval: float
) -> Results:
    """``rounds`` times: ``slice_s`` seconds idle, then logins on, ``ramp`` seconds unmeasured,
    ``slice_s`` seconds measured, logins off (drained). Alternating short slices makes both
    phases see the same background load on a machine that is doing other things too."""
    idle_windows: list[Window] = []
    load_windows: list[Window] = []
    idle_cpu, load_cpu = CpuUse(), CpuUse()

    def timed_window(windows: list[Window], cpu: CpuUse) -> None:
        before, start = CpuSample.take(server_pid), time.perf_counter()
        time.sleep(slice_s)
        after, end = CpuSample.take(server_pid), time.perf_counter()
        windows.append(Window(start, end))
        cpu.add(before, after, end - start)

    with Load(base, clients, interval) as load:
        time.sleep(1.0)  # the page client's first fetches (connection set-up) are not measured
        for _ in range(rounds):
            timed_window(idle_windows, idle_cpu)
            load.logins_on()
            time.sleep(ramp)
            timed_window(load_windows, load_cpu)
            load.logins_off()
    if load.errors:
        sys.exit("; ".join(load.errors))
    logins = [seconds for ended, seconds in load.logins if inside(ended, load_windows)]
    measured = sum(w.end - w.start for w in load_windows)
    return Results(
        idle_pages=[seconds for started, seconds in load.pages if inside(started, idle_windows)],
        load_pages=[seconds for started, seconds in load.pages if inside(started, load_windows)],
        logins=logins,
        logins_per_second=len(logins) / measured,
        failures=load.failures,
        idle_cpu=idle_cpu,
        load_cpu=load_cpu,
    )


# --- main ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=4 * cores(), help="parallel login clients")
    parser.add_argument("--rounds", type=int, default=4, help="idle/load alternations")
    parser.add_argument("--slice", type=float, default=5.0, help="seconds measured per phase and round")
    parser.add_argument("--ramp", type=float, default=1.5, help="seconds of login load before measuring")
    parser.add_argument("--page-interval", type=float, default=0.02, help="seconds between page fetches")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (and server log)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="webmagic-bench-login-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    database_url = f"sqlite:///{(workdir / 'bench.db').as_posix()}"
    secret_key = "benchmark-secret-key-" + "x" * 32
    log = workdir / "serve.log"
    n_cores = cores()

    print(
        f"bcrypt cost {ROUNDS}, {n_cores} core(s), {args.clients} login clients, "
        f"{args.rounds} x {args.slice:g} s measured per phase"
    )
    check, check_wall = one_check_seconds(5)
    ceiling = n_cores / check
    threaded = threaded_checks_per_second(n_cores, 3.0)
    print(f"one check: {ms(check)} of CPU ({ms(check_wall)} wall) -> ceiling {ceiling:.2f} logins/s")
    print(
        f"in-process, {n_cores} threads: {threaded:.1f} checks/s "
        f"({threaded * check:.2f}x one thread; ~{n_cores}x means bcrypt releases the GIL)"
    )

    print(f"setting up {args.clients} verified customers and a hosted page in {workdir} ...")
    prepare(database_url, data_dir, secret_key, args.clients)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(database_url, data_dir, secret_key, port, log)
    try:
        wait_until_up(base, process, log)
        check_login(base)
        results = measure(
            base,
            process.pid,
            clients=args.clients,
            rounds=args.rounds,
            slice_s=args.slice,
            ramp=args.ramp,
            interval=args.page_interval,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    idle_p50, idle_p99 = percentile(results.idle_pages, 0.5), percentile(results.idle_pages, 0.99)
    load_p50, load_p99 = percentile(results.load_pages, 0.5), percentile(results.load_pages, 0.99)
    share = results.logins_per_second / ceiling
    ratio = load_p99 / idle_p99 if idle_p99 > 0 else float("inf")
    login_ok = share >= LOGIN_TARGET
    latency_ok = ratio <= LATENCY_TARGET

    print()
    print(
        f"logins: {results.logins_per_second:.2f}/s = {share:.0%} of the ceiling "
        f"(target >= {LOGIN_TARGET:.0%}) {'OK' if login_ok else 'MISSED'}"
    )
    if results.logins:
        print(
            f"  login latency p50 {ms(percentile(results.logins, 0.5))}, "
            f"p99 {ms(percentile(results.logins, 0.99))} ({len(results.logins)} logins)"
        )
    if results.load_cpu.known and results.logins_per_second > 0:
        # On a machine shared with other work: did the server turn the CPU it got into logins?
        per_login = results.load_cpu.server_cores / results.logins_per_second
        print(
            f"  server CPU per login {ms(per_login)} (one check {ms(check)}): "
            f"{check / per_login:.0%} of the server's CPU went into bcrypt, so with every core "
            f"free for it the server would reach about that share of the ceiling"
        )
    for failure, count in results.failures.most_common(5):
        print(f"  {count} failed login(s): {failure}")
    print(f"page idle:      p50 {ms(idle_p50)}, p99 {ms(idle_p99)} ({len(results.idle_pages)} fetches)")
    print(f"page with load: p50 {ms(load_p50)}, p99 {ms(load_p99)} ({len(results.load_pages)} fetches)")
    print(
        f"page p99 under load = {ratio:.2f}x idle (target <= {LATENCY_TARGET:g}x) "
        f"{'OK' if latency_ok else 'MISSED'}"
    )
    print(f"cores busy, idle: {results.idle_cpu.describe()}")
    print(f"cores busy, load: {results.load_cpu.describe()}")
    if args.keep:
        print(f"kept {workdir} (server log: {log})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if (login_ok and latency_ok) or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
