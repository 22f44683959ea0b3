"""`make bench`: every benchmark, one after another; figures in bench/results/.

Arguments are passed to the database benchmarks; only ``--db`` means the same to both.
The slip benchmark needs no database and takes none.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["journal_bench.py", "import_bench.py"]

for name in BENCHES:
    print(f"== {name}", flush=True)
    subprocess.run([sys.executable, str(HERE / name), *sys.argv[1:]], check=True)
print("== slips_bench.py", flush=True)
subprocess.run([sys.executable, str(HERE / "slips_bench.py")], check=True)
