"""all-MiniLM-L6-v2 on a GLUE task from ../shared/data (max length 128, batch 32, eval every 200
steps, patience 3). The argument is "task[,method]" (method: full or an adapter; default full),
or several tasks joined by "+" for multi-task full fine-tuning ("sst2+mrpc+stsb"). The base of
experiments/add_task.py.

    python experiments/train.py --config=configs/glue_minilm.py:rte,seq_bn --workdir=runs/rte_pfeiffer
    python experiments/train.py --config=configs/glue_minilm.py:sst2+mrpc+stsb --workdir=runs/mt3
"""

from pathlib import Path

from flax_adapters.training.config import default_config

SHARED_GLUE = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "glue")


def get_config(arg: str = "rte"):
    tasks, _, method = arg.partition(",")
    tasks = tasks.split("+")
    method = method or "full"
    c = default_config()
    c.model.name_or_path = "all-MiniLM-L6-v2"
    c.data.task = tasks[0]
    c.data.tasks = tuple(tasks) if len(tasks) > 1 else ()
    c.data.data_dir = SHARED_GLUE
    c.data.max_length = 128
    c.method.name = method
    c.optim.learning_rate = 5e-5 if method == "full" else 1e-3
    c.optim.weight_decay = 0.01
    c.optim.warmup_steps = 100
    c.batch_size = 32
    c.num_epochs = 10
    c.eval_every = 200
    c.patience = 3
    c.log_every = 50
    return c
