"""Free host memory, read without torch (the dataset loaders must stay light to import)."""
from __future__ import annotations

import os


def host_available_bytes() -> int:
    """The OS's MemAvailable in bytes (Linux /proc/meminfo), else free physical pages; 1 TiB when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    return int(pages * os.sysconf("SC_PAGE_SIZE")) if pages else 1 << 40
