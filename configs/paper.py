"""Paper 2's recipe (Mundra et al., docs/papers.md §2): lr 3e-5, weight decay 0.1, 2000 warmup steps,
up to 50 epochs, early stopping with patience 3 on the dev metric evaluated each epoch, batch 32.

The argument is "task,method[,robust]": any registry task (sst2, mnli, xnli, pawsx, …) and
"full" or an adapter method (seq_bn = Pfeiffer, double_seq_bn = Houlsby, par_bn, lora, compacter,
prefix_tuning); a third field "robust" adds robust AdapterDrop. Adapter options follow the paper:
reduction factor 16, LoRA r 8 α 16 on query and value, prefix length 30 with the MLP reparam.
Batches are packed (data.packing: several sentences per row, exact — the paper's losses and
scores, less padding computed) and so need no length grouping; `--config.data.packing=False`
pads to length buckets instead.

    python experiments/train.py --config=configs/paper.py:xnli,seq_bn --workdir=runs/xnli_pfeiffer \
        --config.model.name_or_path=xlm-roberta-base
    python experiments/train.py --config=configs/paper.py:sst2,full --workdir=runs/sst2_full \
        --config.model.name_or_path=all-MiniLM-L6-v2 --config.data.data_dir=../shared/data/glue
"""

from flax_adapters.training.config import default_config

ADAPTER_OPTIONS = {
    "seq_bn": dict(reduction_factor=16),
    "double_seq_bn": dict(reduction_factor=16),
    "par_bn": dict(reduction_factor=16),
    "lora": dict(r=8, alpha=16, selfattn_lora=True, attn_matrices=("q", "v")),
    "prefix_tuning": dict(prefix_length=30, flat=False),
}


def get_config(arg: str = "sst2,full"):
    task, method, *rest = [s.strip() for s in arg.split(",")]
    c = default_config()   # its defaults are the paper's optimisation recipe
    c.model.name_or_path = "xlm-roberta-base"
    c.data.task = task
    c.data.packing, c.data.group_by_length = True, False
    c.method.name = method
    c.method.options = dict(ADAPTER_OPTIONS.get(method, {}))
    if rest == ["robust"]:
        c.method.drop = "robust"
    elif rest:
        raise ValueError(f"configs/paper.py: third field must be 'robust', got {rest}")
    return c
