"""Host memory of a timing process: glibc malloc settings a binary can re-execute itself under,
releasing freed memory (and JAX's caches) between timed groups, and the process's resident and
peak resident set.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import sys

import jax


# glibc malloc settings of a timing process. XLA's CPU worker threads allocate each execution's
# temporary block (767 MiB for a BERT-base full-FT step at 8 × 64) from their own malloc arenas,
# where a block that large is always a fresh mmap: by default every call faults in ~196k zeroed 4 KiB
# pages (0.3 s of system time a step, 10-13% of the step) and unmaps them after.
#   hugepages  glibc maps such blocks with transparent huge pages (madvise(MADV_HUGEPAGE); the
#              kernel's THP mode must be madvise or always): ~650 faults a step and as fast as reuse
#              in a process of its own, but twice as slow in the quick suite, whose memory is
#              fragmented (the kernel compacts to find huge pages).
#   reuse      one arena, no mmap, no automatic trim: the block stays in the heap between calls
#              (no faults), but the heap keeps its high-water mark (peaks up to 0.5 GiB higher).
# glibc reads them at start-up only: a binary re-executes itself with one set (`reexec_with`).
# Measured: BUILD_NOTES, "Decisions: the lab" (host malloc).
MALLOC_SETTINGS = {
    "default": {},
    "hugepages": {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"},
    "reuse": {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2 ** 34)},
}


# What each setting does, in one line (a report's intro states the run's).
MALLOC_SUMMARY = {
    "default": "glibc's defaults (XLA's per-call temporaries faulted in 4 KiB pages)",
    "hugepages": "`hugepages` (XLA's per-call temporaries mapped with transparent huge pages)",
    "reuse": "`reuse` (XLA's per-call temporaries kept in the heap between calls)",
}


_MALLOC_KEYS = sorted({k for env in MALLOC_SETTINGS.values() for k in env})


def malloc_env(setting: str, environ: dict | None = None) -> dict:
    """`environ` (default os.environ) with `setting`'s variables set and the other settings' removed."""
    if setting not in MALLOC_SETTINGS:
        raise ValueError(f"malloc setting {setting!r}: choose one of {', '.join(MALLOC_SETTINGS)}")
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k not in _MALLOC_KEYS}
    return env | MALLOC_SETTINGS[setting]


def malloc_setting() -> str:
    """The MALLOC_SETTINGS entry this process started under ("default" when none of the others)."""
    here = {k: os.environ[k] for k in _MALLOC_KEYS if k in os.environ}
    return next((name for name, env in MALLOC_SETTINGS.items() if env and env == here), "default")


def reexec_with(setting: str) -> None:
    """Makes this process run under glibc malloc `setting` (a MALLOC_SETTINGS key): returns at once
    if it already does (or off Linux), else re-executes the same command line with the environment
    changed (flushing output first); never returns then."""
    env = malloc_env(setting)  # refuses an unknown name before anything else
    if setting == malloc_setting() or platform.system() != "Linux":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def release_memory() -> None:
    """Collects garbage and hands the C heap's free pages back to the OS (glibc's `malloc_trim`;
    a no-op elsewhere). Freed tensors stay in the allocator's pools otherwise and count as resident
    for the rest of the process, so a later section's peak would include an earlier one's (the
    quick suite's last section, which only reads files, peaked at 6.9 GiB without it, 2.0 with it).
    It also drops JAX's tracing and lowering caches, ~20 MB per BERT-base program compiled
    (executables already compiled, which variants hold, stay valid; a later `jit` call retraces):
    kept, they added up to ~1 GiB by the quick suite's fusion section."""
    jax.clear_caches()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Resets the process's peak resident set (Linux: writing 5 to /proc/self/clear_refs), so the
    next `peak_rss_bytes` is the peak since now; False where the kernel offers no reset."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_bytes() -> int | None:
    """Resident set size (VmRSS) of this process now; None off Linux."""
    return _status_kib("VmRSS:")


def peak_rss_bytes() -> int | None:
    """Peak resident set size (VmHWM) of this process since start or the last reset; None off Linux."""
    return _status_kib("VmHWM:")


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            line = next((l for l in f if l.startswith(field)), None)
    except OSError:
        return None
    return None if line is None else int(line.split()[1]) * 1024
