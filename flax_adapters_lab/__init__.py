"""flax-adapters' lab: the apparatus that reproduces the papers' efficiency and accuracy claims
with measurements (docs/papers.md), kept apart from the library (flax_adapters/), which it uses.

    timing.py, stats.py, provenance.py, host_memory.py   how anything is timed and recorded
    reproduce/   the efficiency suite (experiments/reproduce.py), JAX beside PyTorch/AdapterHub/peft
    claims/      the accuracy and convergence claims job (experiments/claims.py)
    add_task.py  adding a task to a multi-task model vs an adapter (experiments/add_task.py)
    cost.py      FLOPs of compiled steps, as XLA counts them

Needs the `lab` extra (torch, AdapterHub `adapters`, peft) for its PyTorch sides.
"""
