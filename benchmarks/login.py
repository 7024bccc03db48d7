"""Login throughput at bcrypt cost 12 against the bcrypt ceiling, and what a burst of logins
does to a hosted page's latency.

Runs the real ``webmagic serve`` (the installed console script) on a temporary SQLite file
with ``WEBMAGIC_BCRYPT_ROUNDS=12``. Before the server starts it creates, in this process
and through the services, one hosted site and ``--clients`` verified customers. Then:

1. idle: one client fetches the hosted page every ``--page-interval`` seconds for
   ``--duration`` seconds (the page latency with no load);
2. load: ``--clients`` threads log in (``POST /api/v1/customer/login``) back to back, each
   as its own customer, while the same page client keeps fetching the page.

It prints the login throughput against the ceiling ``cores / one bcrypt check at cost 12``
(measured here, in this process, with ``BcryptPasswordHasher``) and the page latency
p50/p99 idle and under load. Targets: logins >= 80 % of the ceiling; page p99 under load
<= 2 x the idle p99. Exit code 0 either way, 1 with ``--strict`` if a target is missed.

Not a test: run it by hand on a quiet machine (the load generator shares its cores).

    .venv/bin/python benchmarks/login.py
    .venv/bin/python benchmarks/login.py --clients 16 --duration 20
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


def one_check_seconds(samples: int) -> float:
    """The median time of one password check at cost 12, what a login costs in bcrypt."""
    hasher = BcryptPasswordHasher(ROUNDS)
    hashed = hasher.hash(PASSWORD)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        assert hasher.verify(PASSWORD, hashed)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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
    """The measured span: requests started inside it count, the ramp-up before it does not."""

    start: float
    end: float

    def covers(self, moment: float) -> bool:
        return self.start <= moment < self.end


def fetch_pages(base: str, interval: float, stop: threading.Event) -> list[tuple[float, float]]:
    """(start, seconds) of each page fetch, one every ``interval`` s until ``stop``."""
    samples: list[tuple[float, float]] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        next_at = time.perf_counter()
        while not stop.is_set():
            started = time.perf_counter()
            response = client.get(f"/{SLUG}")
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or b"Bench Bakery" not in response.content:
                raise RuntimeError(f"the hosted page answered {response.status_code}")
            samples.append((started, elapsed))
            next_at += interval
            stop.wait(max(0.0, next_at - time.perf_counter()))
    return samples


@dataclass
class LoginStats:
    completed: list[tuple[float, float]] = field(default_factory=list)  # (end, seconds) of each success
    failures: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def log_in_repeatedly(base: str, email: str, stop: threading.Event, stats: LoginStats) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            response = client.post("/api/v1/customer/login", json={"email": email, "password": PASSWORD})
            ended = time.perf_counter()
            with stats.lock:
                if response.status_code == 200 and "access_token" in response.json():
                    stats.completed.append((ended, ended - started))
                else:
                    stats.failures[f"{response.status_code} {response.text[:120]}"] += 1


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
            jiffies = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return None
        idle = jiffies[3] + jiffies[4]  # idle + iowait
        return cls(server, time.process_time(), (sum(jiffies) - idle) / tick, sum(jiffies) / tick)


@dataclass(frozen=True)
class CpuUse:
    """Cores kept busy on average over a span."""

    server: float
    benchmark: float
    machine: float

    @classmethod
    def between(cls, before: CpuSample | None, after: CpuSample | None, seconds: float) -> CpuUse | None:
        if before is None or after is None:
            return None
        share = (after.machine_busy - before.machine_busy) / max(
            1e-9, after.machine_total - before.machine_total
        )
        return cls(
            (after.server - before.server) / seconds,
            (after.here - before.here) / seconds,
            share * cores(),
        )

    def describe(self) -> str:
        others = max(0.0, self.machine - self.server - self.benchmark)
        return (
            f"server {self.server:.2f}, this benchmark {self.benchmark:.2f}, "
            f"other processes {others:.2f} (machine {self.machine:.2f} of {cores()})"
        )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class PhaseResult:
    page_latencies: list[float]
    logins_per_second: float = 0.0
    login_latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    cpu: CpuUse | None = None


def run_phase(
    base: str, server_pid: int, *, clients: int, duration: float, ramp: float, page_interval: float
) -> PhaseResult:
    stop = threading.Event()
    stats = LoginStats()
    pages: list[tuple[float, float]] = []

    def page_worker() -> None:
        pages.extend(fetch_pages(base, page_interval, stop))

    threads = [threading.Thread(target=page_worker)]
    threads += [
        threading.Thread(target=log_in_repeatedly, args=(base, customer_email(i), stop, stats))
        for i in range(clients)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    window = Window(began + ramp, began + ramp + duration)
    time.sleep(max(0.0, window.start - time.perf_counter()))
    before = CpuSample.take(server_pid)
    time.sleep(max(0.0, window.end - time.perf_counter()))
    after = CpuSample.take(server_pid)
    stop.set()
    for thread in threads:
        thread.join()
    logins = [seconds for ended, seconds in stats.completed if window.covers(ended)]
    return PhaseResult(
        page_latencies=[seconds for started, seconds in pages if window.covers(started)],
        logins_per_second=len(logins) / duration,
        login_latencies=logins,
        failures=stats.failures,
        cpu=CpuUse.between(before, after, duration),
    )


# --- main ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=4 * cores(), help="parallel login clients")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per phase")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--page-interval", type=float, default=0.05, help="seconds between page fetches")
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
        f"bcrypt cost {ROUNDS}, {n_cores} core(s), {args.clients} login clients, {args.duration:g} s a phase"
    )
    check = one_check_seconds(5)
    ceiling = n_cores / check
    threaded = threaded_checks_per_second(n_cores, 3.0)
    print(f"one check: {ms(check)} -> ceiling {ceiling:.1f} logins/s")
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
        # Warm the page cache and the connection paths before measuring.
        pid, interval = process.pid, args.page_interval
        run_phase(base, pid, clients=0, duration=1.0, ramp=0.5, page_interval=interval)

        idle = run_phase(base, pid, clients=0, duration=args.duration, ramp=0.5, page_interval=interval)
        loaded = run_phase(
            base,
            pid,
            clients=args.clients,
            duration=args.duration,
            ramp=args.ramp,
            page_interval=interval,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    idle_p50, idle_p99 = percentile(idle.page_latencies, 0.5), percentile(idle.page_latencies, 0.99)
    load_p50, load_p99 = percentile(loaded.page_latencies, 0.5), percentile(loaded.page_latencies, 0.99)
    share = loaded.logins_per_second / ceiling
    ratio = load_p99 / idle_p99 if idle_p99 > 0 else float("inf")
    login_ok = share >= LOGIN_TARGET
    latency_ok = ratio <= LATENCY_TARGET

    print()
    print(
        f"logins: {loaded.logins_per_second:.1f}/s = {share:.0%} of the ceiling "
        f"(target >= {LOGIN_TARGET:.0%}) {'OK' if login_ok else 'MISSED'}"
    )
    if loaded.login_latencies:
        print(
            f"  login latency p50 {ms(percentile(loaded.login_latencies, 0.5))}, "
            f"p99 {ms(percentile(loaded.login_latencies, 0.99))}"
        )
    if loaded.cpu is not None and loaded.logins_per_second > 0:
        # On a machine shared with other work, this says whether the server wasted the CPU it got.
        per_login = loaded.cpu.server / loaded.logins_per_second
        print(
            f"  server CPU per login {ms(per_login)} (one check {ms(check)}): "
            f"{check / per_login:.0%} of the server's CPU went into bcrypt"
        )
    for failure, count in loaded.failures.most_common(5):
        print(f"  {count} failed login(s): {failure}")
    print(f"page idle:      p50 {ms(idle_p50)}, p99 {ms(idle_p99)} ({len(idle.page_latencies)} fetches)")
    print(f"page with load: p50 {ms(load_p50)}, p99 {ms(load_p99)} ({len(loaded.page_latencies)} fetches)")
    print(
        f"page p99 under load = {ratio:.2f}x idle (target <= {LATENCY_TARGET:g}x) "
        f"{'OK' if latency_ok else 'MISSED'}"
    )
    for name, phase in (("idle", idle), ("load", loaded)):
        if phase.cpu is not None:
            print(f"cores busy ({name}): {phase.cpu.describe()}")
    if args.keep:
        print(f"kept {workdir} (server log: {log})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if (login_ok and latency_ok) or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
