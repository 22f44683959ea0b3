"""Run a command and record its peak memory: ``python bench/measure.py OUT CMD…``.

A small, fresh process runs the command, so that the peak it reports (the largest
ru_maxrss among its children) is the command's own, and not the pages a large parent
handed to a forked child before it ran the command. SIGTERM is passed on to the
command, so a server can be stopped through it.
"""

import json
import resource
import signal
import subprocess
import sys

out_path, command = sys.argv[1], sys.argv[2:]
child = subprocess.Popen(command)
signal.signal(signal.SIGTERM, lambda _signum, _frame: child.terminate())
returncode = child.wait()
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(out_path, "w") as handle:
    json.dump({"returncode": returncode, "peak_rss_kib": peak_kib}, handle)
sys.exit(0 if returncode in (0, -signal.SIGTERM) else returncode)
