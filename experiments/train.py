"""Trains one run from a config file, or scores a saved run on a data directory.

    python experiments/train.py --config=configs/smoke.py --workdir=/tmp/smoke
    python experiments/train.py --config=configs/minilm_sst2.py:seq_bn --workdir=runs/sst2_pfeiffer
    python experiments/train.py --config=configs/paper.py:xnli,lora,robust --workdir=runs/xnli_lora_robust
    # score the best parameters of a saved run on any GLUE/XTREME-layout directory:
    python experiments/train.py --workdir=runs/sst2_pfeiffer --eval_data_dir=/data/glue --eval_split=validation

Re-running the same command resumes from the latest checkpoint in --workdir. The summary
(best metric, time to best, step time, memory, checkpoint bytes) is printed as JSON and written
to <workdir>/summary.json; per-step and per-evaluation records go to <workdir>/metrics.jsonl.
"""

import json
import sys

from absl import app, flags
from ml_collections import config_flags

from flax_adapters.training import loop, tracking
from flax_adapters.training.config import from_config_dict

_CONFIG = config_flags.DEFINE_config_file("config", None, "configs/<file>.py[:arg]; override keys with --config.a.b=v")
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory: checkpoints, metrics.jsonl, summary.json",
                               required=True)
_EVAL_DATA_DIR = flags.DEFINE_string("eval_data_dir", None, "instead of training, score the saved run in "
                                     "--workdir on this GLUE/XTREME-layout directory")
_EVAL_SPLIT = flags.DEFINE_string("eval_split", "validation", "split scored with --eval_data_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    tracking.quiet_orbax()
    try:
        if _EVAL_DATA_DIR.value:
            result = loop.evaluate_run(_WORKDIR.value, _EVAL_DATA_DIR.value, _EVAL_SPLIT.value)
        elif _CONFIG.value is None:
            raise ValueError("--config is required for training (or pass --eval_data_dir to score a run)")
        else:
            result = loop.train(from_config_dict(_CONFIG.value), _WORKDIR.value)
    except (ValueError, FileNotFoundError, loop.DivergedError) as e:
        sys.exit(f"error: {type(e).__name__}: {e}")
    print(json.dumps(result, default=float))


if __name__ == "__main__":
    app.run(main)
