"""Tuned recipes for all-MiniLM-L6-v2 on SST-2 (batch 32, max length 64): the runs compared with
PyTorch in BUILD_NOTES.md. The argument is the method: "full" (lr 5e-5) or an adapter method
(lr 1e-3, the AdapterHub default for bottleneck adapters), optionally ",static5" / ",robust".

Batches are packed (data.packing: several sentences per row, exact; they need no length grouping,
so they mix lengths as HF's default sampler does: on SST-2 91% of computed tokens are real against
59% for length-grouped buckets, and time to the same dev accuracy fell 12-14%, BUILD_NOTES).
",padded" gives the length-grouped, bucket-padded batches the earlier SST-2 runs in BUILD_NOTES used.

    python experiments/train.py --config=configs/minilm_sst2.py:full --workdir=runs/minilm_sst2_full
    python experiments/train.py --config=configs/minilm_sst2.py:seq_bn --workdir=runs/minilm_sst2_pfeiffer
    python experiments/train.py --config=configs/minilm_sst2.py:seq_bn,padded --workdir=runs/minilm_sst2_pfeiffer_padded
"""

import re
from pathlib import Path

from flax_adapters.training.config import default_config

SHARED_GLUE = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "glue")


def get_config(arg: str = "full"):
    method, *options = [s.strip() for s in arg.split(",")]
    layouts = [o for o in options if o in ("packed", "padded")]
    drop = [o for o in options if o not in layouts]
    bad = [o for o in drop if o != "robust" and not re.fullmatch(r"static\d+", o)]
    culprit = (bad or drop[1:] or layouts[1:] or [None])[0]   # unknown, or a second of one kind
    if culprit:
        raise ValueError(f"minilm_sst2: option {culprit!r} in {arg!r}; at most one of packed (default) | padded "
                         "and one of robust | static<n>")
    packed = layouts != ["padded"]
    c = default_config()
    c.model.name_or_path = "all-MiniLM-L6-v2"
    c.data.task = "sst2"
    c.data.data_dir = SHARED_GLUE
    c.data.max_length = 64
    c.data.packing = packed
    c.data.group_by_length = not packed
    c.method.name = method
    c.optim.learning_rate = 5e-5 if method == "full" else 1e-3
    c.optim.weight_decay = 0.01
    c.optim.warmup_steps = 150
    c.batch_size = 32
    c.max_steps = 1500            # the step budget of the PyTorch runs measured here
    # A full pass over the 6735 dev sentences costs as much as ~70 training steps here: every
    # 250 steps keeps evaluation under a quarter of the run.
    c.eval_every = 250
    c.patience = 3
    c.log_every = 25
    if drop == ["robust"]:
        c.method.drop = "robust"
    elif drop:
        c.method.drop, c.method.drop_n = "static", int(drop[0][len("static"):])
    return c
