"""Benchmarks: `make bench` (or `python -m bench --db sqlite postgres`).

Each database gets a fresh province-size demo in its own process (SQLite in a temporary
directory, PostgreSQL in the database named by --pg-url). Every figure is reported beside a
baseline measured in the same run, and as a ratio to it, so results from different machines
can be compared. Output: JSON on stdout and in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def run_one(db: str, pg_url: str, suites: list[str]) -> dict:
    """Each suite in its own process on its own fresh database."""
    results: dict = {}
    for suite in suites:
        results.update(_run_suite(db, pg_url, suite))
    return results


def _run_suite(db: str, pg_url: str, suite: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="mchis-bench-") as tmp:
        env = {**os.environ, "MCHIS_DATA_DIR": tmp, "DJANGO_SETTINGS_MODULE": "mchis.settings"}
        env.pop("DATABASE_URL", None)
        if db == "postgres":
            _recreate_pg(pg_url)
            env["DATABASE_URL"] = pg_url
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.worker", suite], env=env, cwd=ROOT, capture_output=True, text=True
        )
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"benchmark on {db} failed")
        return json.loads(out.stdout)


def _recreate_pg(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument(
        "--pg-url", default=os.environ.get("MCHIS_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/mchis_bench")
    )
    parser.add_argument(
        "--suite",
        nargs="+",
        default=["orgs", "people", "audit_verify", "audit_concurrency", "maternal", "maternal_api"],
        help="benchmark suites to run (bench/worker.py)",
    )
    args = parser.parse_args()

    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "results": {db: run_one(db, args.pg_url, args.suite) for db in args.db},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    (RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
