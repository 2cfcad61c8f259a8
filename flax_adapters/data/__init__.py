"""NLU task data: task registry, example loading (local files or the HF hub) for every family
(sentence classification/regression, tagging, multiple choice, extractive QA), metrics,
tokenisation with caching, and deterministic bucketed batching.

A leaf package: it imports nothing else from flax_adapters.

    >>> from transformers import AutoTokenizer
    >>> from flax_adapters.data import Batcher, compute_metrics, encode, get_task, load_examples
    >>> task = get_task("rte")
    >>> tok = AutoTokenizer.from_pretrained(model_dir)
    >>> train = Batcher(encode(load_examples(task, "train", "../shared/data"), tok, 128), 32, seed=0)
    >>> dev = Batcher(encode(load_examples(task, "validation", "../shared/data"), tok, 128), 64)
    >>> batch = train.batch(step)
    >>> compute_metrics(task, logits, labels)[task.main_metric]
"""

from .families import encode_examples, load_examples, score_outputs
from .metrics import compute_metrics
from .pipeline import Batcher, Encoded, encode
from .sources import DataError, Examples, row_split
from .tasks import TASKS, Task, get_task

__all__ = ["Batcher", "DataError", "Encoded", "Examples", "TASKS", "Task", "compute_metrics", "encode",
           "encode_examples", "get_task", "load_examples", "row_split", "score_outputs"]
