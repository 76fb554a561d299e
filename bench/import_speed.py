"""How fast Trainyard imports data, next to the plain reads it builds on, in the same run.

    python bench/import_speed.py            # 1,000,000 rows × 20 columns, 60,000 PNGs (a few minutes)
    python bench/import_speed.py --small    # 50,000 rows, 3,000 PNGs (seconds)

Four measurements, each in a fresh process so that memory peaks do not mix:
- plain pandas.read_csv of the CSV, and Trainyard's import of it (read, check, quality report, hashing,
  storing, the database row): `engine.data.ingest.add_dataset`;
- a plain Pillow loop that decodes every PNG in the ZIP, and Trainyard's import of the ZIP (safety checks,
  decoding, resizing, report, storing).
Peak memory is the growth of the process's peak resident size over its size before the timed part.
CPU seconds (this process's threads and its helper processes) are printed too: on a shared machine
they move less than wall-clock seconds, which the ratios use.
The last line reads: csv_vs_pandas=<ratio> csv_peak_mem_x_file=<ratio> zip_vs_pillow=<ratio>
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def memory_mb() -> tuple[float, float]:
    """Give back (current, peak) resident memory of this process in MB."""
    status = Path("/proc/self/status").read_text()
    field = {line.split(":")[0]: line.split()[1:] for line in status.splitlines() if ":" in line}
    return int(field["VmRSS"][0]) / 1024, int(field["VmHWM"][0]) / 1024


def reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current size (Linux).
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


# ---------------------------------------------------------------- test files


def write_csv(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    columns = {f"x{i}": rng.normal(size=rows).round(6) for i in range(17)}
    columns["count"] = rng.integers(0, 1000, rows)
    columns["colour"] = rng.choice(np.array(["red", "green", "blue", "yellow"]), rows)
    score = columns["x0"] + 0.5 * columns["x1"] + (columns["colour"] == "red")
    columns["label"] = np.where(score > 0.5, "high", "low")
    pacsv.write_csv(pa.table(columns), path)


def write_zip(path: Path, images: int) -> None:
    """Write a ZIP of small colour PNGs (32 × 32), ten class folders, each picture different."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    shapes = np.kron(digits.images / 16.0, np.ones((4, 4)))  # 8 × 8 → 32 × 32
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(images):
            k = i % len(shapes)
            tint = rng.uniform(60, 255, 3)
            noise = rng.integers(0, 24, (32, 32, 1))
            pixels = (shapes[k][..., None] * tint + noise).clip(0, 255).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "PNG", compress_level=6)
            archive.writestr(f"digits/{digits.target[k]}/{i:06d}.png", buffer.getvalue())


# ---------------------------------------------------------------- measurements (one per process)


def cpu_seconds() -> float:
    own, helpers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + helpers.ru_utime + helpers.ru_stime


def measure(what: str, path: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import pandas as pd
    from PIL import Image

    if what.endswith("trainyard"):
        from engine.data.ingest import add_dataset
    reset_peak()
    before, _ = memory_mb()
    cpu = cpu_seconds()
    started = time.perf_counter()
    if what == "csv-pandas":
        frame = pd.read_csv(path)
        detail = f"{len(frame):,} rows"
    elif what == "zip-pillow":
        count = 0
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with Image.open(io.BytesIO(archive.read(info))) as image:
                    image.load()
                count += 1
        detail = f"{count:,} images"
    else:
        dataset = add_dataset(path, name=f"{what} {time.time()}")
        detail = f"{dataset['n_rows']:,} {'rows' if what.startswith('csv') else 'images'}"
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    _, peak = memory_mb()
    return {"what": what, "seconds": seconds, "cpu_seconds": cpu, "memory_mb": peak - before, "detail": detail}


def run_measure(what: str, path: Path, home: Path) -> dict:
    env = {**os.environ, "TRAINYARD_HOME": str(home), "TRAINYARD_AUTO_WORKER": "0"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, __file__, "--measure", what, str(path)], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="50,000 rows and 3,000 images, for a quick check")
    parser.add_argument("--rows", type=int, help="rows of the CSV (default 1,000,000)")
    parser.add_argument("--images", type=int, help="PNGs in the ZIP (default 60,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the fastest counts")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    rows = args.rows or (50_000 if args.small else 1_000_000)
    images = args.images or (3_000 if args.small else 60_000)
    with tempfile.TemporaryDirectory(prefix="trainyard-bench-") as folder:
        folder = Path(folder)
        csv, archive, home = folder / "table.csv", folder / "images.zip", folder / "home"
        started = time.perf_counter()
        write_csv(csv, rows)
        write_zip(archive, images)
        print(f"made {rows:,} rows × 20 columns ({csv.stat().st_size / 1e6:,.0f} MB) and {images:,} PNGs "
              f"({archive.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - started:.0f} s\n", flush=True)
        env = {**os.environ, "TRAINYARD_HOME": str(home)}
        subprocess.run([sys.executable, "-m", "engine", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for what, path in (("csv-pandas", csv), ("csv-trainyard", csv), ("zip-pillow", archive),
                               ("zip-trainyard", archive)):
                result = run_measure(what, path, home)
                if what not in best or result["seconds"] < best[what]["seconds"]:
                    best[what] = result | {"memory_mb": max(result["memory_mb"], best.get(what, result)["memory_mb"])}
        print(f"{'':16}{'seconds':>9}{'CPU s':>8}{'peak MB':>10}  what")
        for what, result in best.items():
            print(f"{what:16}{result['seconds']:9.2f}{result['cpu_seconds']:8.2f}{result['memory_mb']:10.0f}  "
                  f"{result['detail']}")
        csv_mb = csv.stat().st_size / (1 << 20)
        csv_ratio = best["csv-trainyard"]["seconds"] / best["csv-pandas"]["seconds"]
        memory_ratio = best["csv-trainyard"]["memory_mb"] / csv_mb
        zip_ratio = best["zip-trainyard"]["seconds"] / best["zip-pillow"]["seconds"]
        print(f"pandas alone peaks at {best['csv-pandas']['memory_mb'] / csv_mb:.2f} × the CSV's size "
              f"({csv_mb:,.0f} MB); the load on this machine was {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores")
    print(f"csv_vs_pandas={csv_ratio:.2f} csv_peak_mem_x_file={memory_ratio:.2f} zip_vs_pillow={zip_ratio:.2f}")


if __name__ == "__main__":
    main()
