"""`make bench`: every benchmark, one after another; figures in bench/results/."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["journal_bench.py"]

for name in BENCHES:
    print(f"== {name}", flush=True)
    subprocess.run([sys.executable, str(HERE / name), *sys.argv[1:]], check=True)
