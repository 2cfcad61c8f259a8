"""all-MiniLM-L6-v2 recipes for paper 2's other task families: NER (CoNLL-2003), extractive QA
(SQuAD v1.1, split by article) and multiple choice (Social IQa). The argument is
"<task>,<method>[,<seed>]": method "full" (lr 5e-5) or an adapter method (lr 1e-3, AdapterHub's
default for bottleneck adapters; LoRA 5e-4).

    python experiments/train.py --config=configs/minilm_families.py:conll2003,seq_bn --workdir=runs/conll_pfeiffer
    python experiments/train.py --config=configs/minilm_families.py:squad,full --workdir=runs/squad_full
    python experiments/train.py --config=configs/minilm_families.py:socialiqa,lora --workdir=runs/siqa_lora

Every run evaluates on the same schedule (`eval_every`) with the same patience, so time to best
and time to stop compare across methods (paper 2's convergence question).
"""

from pathlib import Path

from flax_adapters.training.config import default_config

SHARED_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data")

# task: (max_length, batch_size, max_steps, eval_every). Lengths: 128 tokens hold 99.9% of the CoNLL
# sentences whole; SQuAD windows are paper 2's 384 (stride 128); a Social IQa choice row is < 80.
# Budgets fit a 2-core CPU: CoNLL ~4 epochs; SQuAD 300 steps (0.56 epoch of the 8.5k training
# windows; a full-FT step at 384 tokens costs 2-4 s here); Social IQa 400 steps (0.2 epoch).
_RECIPES = {"conll2003": (128, 32, 1800, 300), "squad": (384, 16, 300, 100), "socialiqa": (80, 16, 400, 100)}
# Evaluating all 2237 held-out SQuAD questions costs ~3 min here: select on a seeded 800 of them.
_MAX_EVAL = {"squad": 800}


def get_config(arg: str = "conll2003,full"):
    task, method, *rest = [s.strip() for s in arg.split(",")] + ([] if "," in arg else ["full"])
    if task not in _RECIPES:
        raise ValueError(f"configs/minilm_families.py: unknown task {task!r}; choose one of {', '.join(_RECIPES)}")
    max_length, batch_size, max_steps, eval_every = _RECIPES[task]
    c = default_config()
    c.model.name_or_path = "all-MiniLM-L6-v2"
    c.data.task = task
    c.data.data_dir = SHARED_DATA
    c.data.max_length = max_length
    c.data.max_eval_examples = _MAX_EVAL.get(task, 0)
    c.data.doc_stride = 128  # QA windows overlap by 128 tokens (HF run_qa); unused by the other tasks
    c.method.name = method
    c.optim.learning_rate = 5e-5 if method == "full" else (5e-4 if method == "lora" else 1e-3)
    c.optim.weight_decay = 0.01
    c.optim.warmup_steps = max_steps // 10
    c.batch_size = batch_size
    c.eval_batch_size = 64
    c.max_steps = max_steps
    c.eval_every = eval_every
    c.patience = 3
    c.log_every = 50
    c.seed = int(rest[0]) if rest else 0
    return c
