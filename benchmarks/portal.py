"""Latency of the portal's site page (``GET /portal/sites/{slug}``) for a signed-in owner.

Runs the real ``webmagic serve`` (the installed console script) on a temporary SQLite file.
Before the server starts it creates, in this process and through the services, one site
with ``--versions`` versions and ``--edits`` edit requests, bought by a verified customer,
with a paid subscription of ``--payments`` monthly payments (each a line of the page's
history and payment table).
Then ``--clients`` clients, each signed in through the portal's own form (its own session
cookies), fetch the site page back to back for ``--seconds`` seconds after a short warm-up.
The clients are ``wrk`` connections (one wrk thread per client, each with its own cookies)
when wrk is on the PATH; otherwise, or with ``--client python``, Python threads with httpx,
whose own CPU use and GIL waits inflate the latencies they measure (a 32 KB page parsed by
httpx costs the client about as much as the server spends making it).

It prints requests/s, the server's CPU time per request and the latency p50/p95/p99
against the target (p99 <= 50 ms). Exit code 0 either way, 1 with ``--strict`` if the
target is missed.

``--profile`` also samples the server with py-spy (``pip install py-spy``; not a project
dependency) over the measured seconds, counting only the thread holding the GIL (so time
spent waiting for it is not charged to whatever it waits in), and prints the functions
that take the largest share of the server's samples; ``--profile-out`` keeps the raw
samples (py-spy's "raw" format, folded stacks, for a flame graph).

Not a test: run it by hand on a quiet machine (the load generator shares its cores).

    .venv/bin/python benchmarks/portal.py
    .venv/bin/python benchmarks/portal.py --clients 8 --versions 20 --seconds 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import login as launcher  # benchmarks/login.py: the server launcher shared by the benchmarks

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.passwords import BcryptPasswordHasher
from webmagic_adapters.settings import load_settings
from webmagic_core.accounts.customers import Customer
from webmagic_core.lifecycle import Trigger
from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.sites import Actor, SiteContent

ROUNDS = 4  # bcrypt cost: only the sign-ins hash, and they are not what is measured
PASSWORD = "benchmark: correct horse battery staple"  # a throwaway test account
EMAIL = "owner@bench.example"
SLUG = "bench-bakery"
TARGET_P99_MS = 50.0
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def prepare(
    database_url: str, data_dir: Path, secret_key: str, versions: int, payments: int, edits: int
) -> None:
    settings = load_settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=secret_key,
        bcrypt_rounds=ROUNDS,
        edits_per_month=edits + 1,
    )
    container = bootstrap(settings, hasher=BcryptPasswordHasher(ROUNDS))
    try:
        container.database.upgrade()
        sites = container.sites
        page = "<h1>Bench Bakery</h1>" + "<p>Fresh bread every morning.</p>" * 200
        sites.create_preview(SLUG, "Bench Bakery", SiteContent(html=page))
        for number in range(2, versions + 1):
            sites.publish(SLUG, SiteContent(html=f"{page}<p>version {number}</p>"))
        now = dt.datetime.now(dt.UTC)
        with container.database.unit_of_work() as uow:
            customer = Customer.new(
                email=EMAIL, now=now, password_hash=container.hasher.hash(PASSWORD), verified=True
            )
            uow.customers.add(customer)
            site = uow.sites.get_by_slug(SLUG, for_update=True)
            assert site is not None
            site.sell(customer.id, cause="benchmark", actor=Actor.ADMIN, at=now)
            site.apply(Trigger.SUBSCRIPTION_STARTED, cause="benchmark", actor=Actor.ADMIN, at=now)
            uow.sites.save(site)
            monthly = Money(settings.subscription_price_cents, settings.currency)
            sub = Subscription.new(site_id=site.id, customer_id=customer.id, amount=monthly, now=now)
            sub.status, sub.provider_id, sub.started_at = SubscriptionState.ACTIVE, "su_bench", now
            sub.current_period_end = sub.paid_through = now + dt.timedelta(days=30)
            sub.next_payment_attempt_at = sub.current_period_end
            uow.subscriptions.add(sub)
            for index in range(payments):
                paid = now - dt.timedelta(days=30 * (payments - index))
                uow.subscriptions.add_payment(
                    SubscriptionPayment(
                        payment_id=f"pa_bench_{index}_{uuid.uuid4().hex[:8]}",
                        subscription_id=sub.id,
                        amount=monthly,
                        paid_at=paid,
                        period_end=paid + dt.timedelta(days=30),
                        recorded_at=paid,
                    )
                )
            uow.commit()
        # Edit requests in every state but applied (which would add versions): a quarter
        # each ready (with a draft, a preview link and a diff), pending, rejected, failed.
        for index in range(edits):
            view = container.edits.request(customer.id, SLUG, f"Change number {index}: new opening hours")
            kind = index % 4
            if kind == 0:
                container.edits.operator_draft(
                    view.edit.id, {"index.html": f"{page}<p>edit {index}</p>"}, f"Edit {index}"
                )
            elif kind == 2:
                container.edits.reject(customer.id, SLUG, view.edit.id)
            elif kind == 3:
                container.edits.operator_fail(view.edit.id, "We need a photo first.")
    finally:
        container.close()


def signed_in_client(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/portal/login")
    token = CSRF.search(form.text)
    assert token, "no CSRF token on the sign-in page"
    answer = client.post(
        "/portal/login", data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token[1]}
    )
    assert answer.status_code == 303, re.sub(r"\s+", " ", answer.text)[-1500:]
    return client


def py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not found:
        sys.exit("--profile needs py-spy: .venv/bin/python -m pip install py-spy")
    return found


def start_profile(server_pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    command = [py_spy(), "record", "--pid", str(server_pid), "--duration", str(max(1, round(seconds)))]
    command += ["--gil", "--rate", "250", "--nonblocking", "--format", "raw", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def print_profile(samples: Path, top: int = 40) -> None:
    """The functions in the most samples (inclusive: a function counts in every sample it
    is on the stack of), as shares of all samples."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in samples.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        # "function (file:line)": the line numbers would split one function into many.
        frames = {re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")}
        for frame in frames:
            inclusive[frame] += int(count)
    if not total:
        print("py-spy recorded no samples")
        return
    print(f"server profile: {total:,} samples with the GIL held; share of them per function:")
    shown = 0
    for frame, count in inclusive.most_common():
        if count == total:
            continue  # the server's entry frames: in every sample
        print(f"{100 * count / total:5.1f}%  {frame}")
        shown += 1
        if shown == top:
            break


def run(
    base: str,
    server_pid: int,
    clients: int,
    seconds: float,
    warmup: float,
    profile: Path | None = None,
    page_out: Path | None = None,
) -> tuple[list[float], float, int]:
    """The latencies measured after the warm-up; the server's CPU milliseconds per request
    over the whole run (a figure that depends less on what else the machine runs); and the
    size of the page in bytes."""
    sessions = [signed_in_client(base) for _ in range(clients)]
    page = f"/portal/sites/{SLUG}"
    first = sessions[0].get(page)
    if first.status_code != 200 or "Hosting subscription" not in first.text:
        sys.exit(f"the site page is not right: {first.status_code} {first.text[:500]}")
    if page_out is not None:
        page_out.write_bytes(first.content)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    errors: list[str] = []
    counts = [0] * clients
    before = launcher.CpuSample.take(server_pid)

    def work(index: int) -> None:
        client = sessions[index]
        while (now := time.monotonic()) < stop_at:
            began = time.perf_counter()
            response = client.get(page)
            took = time.perf_counter() - began
            counts[index] += 1
            if response.status_code != 200:
                errors.append(f"{response.status_code}: {response.text[:200]}")
                return
            if now >= measure_from:
                latencies[index].append(took)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    spy = None
    if profile is not None:
        time.sleep(max(0.0, measure_from - time.monotonic()))
        spy = start_profile(server_pid, seconds, profile)
    for thread in threads:
        thread.join()
    if spy is not None:
        _, problem = spy.communicate(timeout=60)
        if spy.returncode != 0:
            print(f"py-spy failed: {problem.decode(errors='replace').strip()[-500:]}", file=sys.stderr)
    after = launcher.CpuSample.take(server_pid)
    cpu_ms = (after.server - before.server) * 1000 / sum(counts) if before and after else float("nan")
    for client in sessions:
        client.close()
    if errors:
        sys.exit(f"the site page failed: {errors[0]}")
    return [x for each in latencies for x in each], cpu_ms, len(first.content)


WRK_SCRIPT = """
local sessions = {%(cookies)s}
local made = 0
function setup(thread)
  made = made + 1
  thread:set("cookie", sessions[made])
end
function request()
  return wrk.format("GET", "%(page)s", {["Cookie"] = cookie})
end
function done(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests,
    summary.duration, bad, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean))
end
"""


def run_wrk(
    base: str, server_pid: int, clients: int, seconds: float, warmup: float, folder: Path
) -> tuple[dict[str, float], float, int]:
    """The same measurement with wrk as the clients: p50/p95/p99/mean in seconds, the
    server's CPU milliseconds per measured request, and the page's size."""
    sessions = [signed_in_client(base) for _ in range(clients)]
    page = f"/portal/sites/{SLUG}"
    first = sessions[0].get(page)
    if first.status_code != 200 or "Hosting subscription" not in first.text:
        sys.exit(f"the site page is not right: {first.status_code} {first.text[:500]}")
    cookies = [
        "; ".join(f"{name}={value}" for name, value in session.cookies.items()) for session in sessions
    ]
    for session in sessions:
        session.close()
    script = folder / "portal.lua"
    script.write_text(
        WRK_SCRIPT % {"cookies": ", ".join(f'"{c}"' for c in cookies), "page": page}, encoding="utf-8"
    )

    def wrk(duration: float) -> list[int]:
        command = ["wrk", f"-t{clients}", f"-c{clients}", f"-d{max(1, round(duration))}s"]
        command += ["--timeout", "10s", "-s", str(script), base + page]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        found = re.search(r"^RESULT ([\d ]+)$", done.stdout, re.MULTILINE)
        if found is None:
            sys.exit(f"cannot read wrk's output:\n{done.stdout}\n{done.stderr}")
        return [int(x) for x in found[1].split()]

    wrk(warmup)
    before = launcher.CpuSample.take(server_pid)
    requests, duration_us, bad, p50, p95, p99, mean = wrk(seconds)
    after = launcher.CpuSample.take(server_pid)
    if bad:
        sys.exit(f"{bad} of {requests} requests failed (not a 200, or a socket error)")
    cpu_ms = (after.server - before.server) * 1000 / requests if before and after else float("nan")
    figures = {"p50": p50 / 1e6, "p95": p95 / 1e6, "p99": p99 / 1e6, "mean": mean / 1e6}
    figures["requests"], figures["seconds"] = requests, duration_us / 1e6
    return figures, cpu_ms, len(first.content)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--payments", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy")
    parser.add_argument("--profile-out", type=Path, help="keep py-spy's raw samples in this file")
    parser.add_argument("--page-out", type=Path, help="keep the page (its HTML) in this file")
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="the load generator: wrk when on the PATH (auto), or Python threads with httpx",
    )
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if use_wrk and shutil.which("wrk") is None:
        sys.exit("wrk is not on the PATH (apt-get install -y wrk), or use --client python")
    if use_wrk and (args.profile or args.page_out):
        sys.exit("--profile and --page-out go with --client python")
    if args.profile:
        py_spy()  # before the minutes of setup

    launcher.ROUNDS = ROUNDS
    with tempfile.TemporaryDirectory(prefix="webmagic-portal-bench-") as folder:
        data_dir = Path(folder)
        database_url = f"sqlite:///{(data_dir / 'bench.db').as_posix()}"
        secret_key = uuid.uuid4().hex * 2
        prepare(database_url, data_dir, secret_key, args.versions, args.payments, args.edits)
        port = launcher.free_port()
        base = f"http://127.0.0.1:{port}"
        log = data_dir / "server.log"
        server = launcher.start_server(database_url, data_dir, secret_key, port, log)
        try:
            launcher.wait_until_up(base, server, log)
            if use_wrk:
                figures, cpu_ms, size = run_wrk(
                    base, server.pid, args.clients, args.seconds, args.warmup, data_dir
                )
            else:
                samples = (args.profile_out or data_dir / "profile.txt") if args.profile else None
                latencies, cpu_ms, size = run(
                    base, server.pid, args.clients, args.seconds, args.warmup, samples, args.page_out
                )
                if samples is not None and samples.exists():
                    print_profile(samples)
                figures = {
                    "p50": percentile(latencies, 0.50),
                    "p95": percentile(latencies, 0.95),
                    "p99": percentile(latencies, 0.99),
                    "mean": statistics.fmean(latencies),
                    "requests": len(latencies),
                    "seconds": args.seconds,
                }
        finally:
            server.terminate()
            server.wait(timeout=30)

    p50, p95, p99, mean = (figures[q] * 1000 for q in ("p50", "p95", "p99", "mean"))
    print(
        f"portal site page, {args.versions} versions, {args.edits} edits, {args.payments} payments, "
        f"{args.clients} clients ({'wrk' if use_wrk else 'Python threads'}), SQLite, "
        f"a {size / 1024:.0f} KB page: {figures['requests'] / figures['seconds']:,.0f} req/s, "
        f"server CPU {cpu_ms:.1f} ms/request; "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms "
        f"(target p99 <= {TARGET_P99_MS:g} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}); "
        f"mean {mean:.1f} ms over {figures['requests']:,.0f} requests"
    )
    return 1 if args.strict and p99 > TARGET_P99_MS else 0


if __name__ == "__main__":
    sys.exit(main())
