"""Scores a saved adapter (AdapterHub directory with its head) on a labelled file of its task.

    python experiments/score.py --adapter=results/claims_quick_cpu/adapters/mrpc_seq_bn_n0_s0 \
        --task=mrpc --data_dir=../shared/data/glue --max_length=128
    python experiments/score.py --adapter=DIR --task=rte --data_dir=/data/glue --split=train --drop_n=2
    python experiments/score.py --adapter=runs/conll_pfeiffer/adapter --task=conll2003 --data_dir=../shared/data
    python experiments/score.py --adapter=DIR --task=squad --data_dir=../shared/data --max_length=384

Prints the task's metrics as JSON. The base model is --model, else the checkpoint the adapter
names when it exists here, else the offline all-MiniLM-L6-v2. Use the max length the adapter was
trained with (claims.json records it): truncation changes scores.
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from flax_adapters.data import DataError
from flax_adapters.training.scoring import score_adapter

_ADAPTER = flags.DEFINE_string("adapter", None, "AdapterHub adapter directory (adapter_config.json + head)",
                               required=True)
_TASK = flags.DEFINE_string("task", None, "task name of the registry (sst2, mrpc, stsb, rte, cola, conll2003, squad, "
                             "socialiqa, …)", required=True)
_DATA = flags.DEFINE_string("data_dir", None, "local data directory (GLUE/XTREME layout, conll2003/, squad/, "
                            "social_iqa/); unset: the HF hub")
_SPLIT = flags.DEFINE_string("split", "validation", "split to score (train, validation, test)")
_MODEL = flags.DEFINE_string("model", None, "base checkpoint (HF directory or hub id)")
_DROP = flags.DEFINE_integer("drop_n", 0, "AdapterDrop at inference: skip the adapters of layers 0…n−1")
_MAXLEN = flags.DEFINE_integer("max_length", 128, "tokens per example (as in training)")
_BATCH = flags.DEFINE_integer("batch_size", 128, "evaluation batch size")
_STRIDE = flags.DEFINE_integer("doc_stride", 128, "question answering: tokens shared by consecutive context windows")
_PACK = flags.DEFINE_bool("packing", False, "several examples per row (same scores, less padding computed)")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        metrics = score_adapter(_ADAPTER.value, _TASK.value, data_dir=_DATA.value, split=_SPLIT.value,
                                model=_MODEL.value, drop_n=_DROP.value, max_length=_MAXLEN.value,
                                batch_size=_BATCH.value, doc_stride=_STRIDE.value, packing=_PACK.value)
    except (ValueError, FileNotFoundError, DataError) as e:
        sys.exit(f"error: {e}")
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    app.run(main)
