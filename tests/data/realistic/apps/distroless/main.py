"""Report this process's memory and CPU, as distroless's python3-requirements example does."""

import psutil
import requests

process = psutil.Process()
print(f"requests {requests.__version__}: rss={process.memory_info().rss} cpu={psutil.cpu_count()}")
