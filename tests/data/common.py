"""Helpers shared by the data tests of several modules: CoNLL-2003 tag ids, a synthetic Social IQa
folder, and hand-built SQuAD examples."""

import json

from flax_adapters.data import get_task
from flax_adapters.data.squad import SquadExamples

CONLL = get_task("conll2003")
SIQA = get_task("socialiqa")


def tags(*names):
    index = CONLL.label_index()
    return [index[n] for n in names]


def write_siqa(root, n=40, label_lines=None):
    d = root / "social_iqa"
    d.mkdir(parents=True, exist_ok=True)
    rows = [{"context": f"Kai met friend {i}.", "question": "What will Kai want next?", "answerA": "sleep",
             "answerB": f"talk {i}", "answerC": "run"} for i in range(n)]
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "train-labels.lst").write_text("".join(f"{v}\n" for v in (label_lines or [1 + i % 3 for i in range(n)])))
    return root


def squad_examples(contexts, questions, answers, starts, titles=None):
    n = len(contexts)
    return SquadExamples([f"q{i}" for i in range(n)], titles or [f"t{i}" for i in range(n)], contexts, questions,
                         [tuple(a) for a in answers], [tuple(s) for s in starts], "test")
