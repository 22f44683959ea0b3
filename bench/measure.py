"""Run a command and print its peak memory: ``python bench/measure.py OUT CMD…``.

A small, fresh process runs the command, so that the peak it reports (the largest
ru_maxrss among its children) is the command's own, and not the pages a large parent
handed to a forked child before it ran the command.
"""

import json
import resource
import subprocess
import sys

out_path, command = sys.argv[1], sys.argv[2:]
result = subprocess.run(command, check=False)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(out_path, "w") as handle:
    json.dump({"returncode": result.returncode, "peak_rss_kib": peak_kib}, handle)
sys.exit(result.returncode)
