"""Smoke run: a 2-layer, 64-wide random encoder (MiniLM's tokenizer) on 512 SST-2 sentences.

Exercises the whole training path — data, tokenisation cache, steps, evaluation, early stopping,
checkpoints, summary — in well under a minute on a laptop CPU. The argument is the method
(full fine-tuning by default: adapters on a random frozen encoder barely learn, which is fine
for exercising the code but says nothing about learning).

    python experiments/train.py --config=configs/smoke.py --workdir=/tmp/smoke            # full FT
    python experiments/train.py --config=configs/smoke.py:seq_bn --workdir=/tmp/smoke_pfeiffer
    python experiments/train.py --config=configs/smoke.py:lora --workdir=/tmp/smoke_lora \
        --config.data.data_dir=../shared/data/glue
"""

from pathlib import Path

from flax_adapters.training.config import default_config

# ../shared/data/glue next to the repository (the offline GLUE copy of the dev machines).
SHARED_GLUE = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "glue")


def get_config(arg: str = "full"):
    c = default_config()
    c.model.name_or_path = "all-MiniLM-L6-v2"   # for its tokenizer and config; weights are random
    c.model.random_init = True
    c.model.overrides = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128)
    c.data.task = "sst2"
    c.data.data_dir = SHARED_GLUE
    c.data.max_length = 32
    c.data.max_train_examples = 512
    c.data.max_eval_examples = 256
    c.method.name = arg
    c.optim.learning_rate = 1e-3
    c.optim.warmup_steps = 10
    c.batch_size = 16
    c.eval_batch_size = 64
    c.num_epochs = 5
    c.eval_every = 16
    c.log_every = 4
    c.patience = 3
    return c
