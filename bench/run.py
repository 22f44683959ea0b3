"""`make bench`: every benchmark, one after another; figures in bench/results/.

Arguments are passed to the database benchmarks; only ``--db`` means the same to both.
The slip benchmark needs no database and takes none.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["journal_bench.py", "import_bench.py", "settlement_bench.py", "reconcile_bench.py"]

for name in BENCHES:
    print(f"== {name}", flush=True)
    subprocess.run([sys.executable, str(HERE / name), *sys.argv[1:]], check=True)
print("== slips_bench.py", flush=True)
subprocess.run([sys.executable, str(HERE / "slips_bench.py")], check=True)
print("== reconcile_spark_bench.py", flush=True)  # issue 7: the Spark engine, no database
subprocess.run([sys.executable, str(HERE / "reconcile_spark_bench.py")], check=True)
print("== floors_bench.py", flush=True)  # issues 2 and 6: what each unavoidable step costs
subprocess.run([sys.executable, str(HERE / "floors_bench.py")], check=True)
for name in ("soak_bench.py", "backup_bench.py"):  # issue 9: 10 minutes at 500/s; 10M entries
    print(f"== {name}", flush=True)
    subprocess.run([sys.executable, str(HERE / name)], check=True)
