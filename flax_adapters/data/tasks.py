"""Task registry: what each supported NLU task is and where its data lives.

A `Task` holds the label space, the metrics (and which one early stopping watches), the
Hugging Face hub location, and the layout of the original local files (GLUE distribution,
XTREME layout for XNLI / PAWS-X), so loaders and metrics never special-case task names.

    >>> from flax_adapters.data.tasks import get_task
    >>> task = get_task("SST-2")
    >>> task.name, task.num_labels, task.main_metric
    ('sst2', 2, 'accuracy')
    >>> get_task("xnli").local_file("validation", "de")
    'dev-de.tsv'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

CLASSIFICATION, REGRESSION = "classification", "regression"
# Paper 2's other families: per-token tags, one answer out of N, an answer span in a context.
TAGGING, MULTIPLE_CHOICE, QUESTION_ANSWERING = "tagging", "multiple_choice", "question_answering"
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")


@dataclass(frozen=True)
class Layout:
    """How one local TSV file is laid out.

    text / label are header names when `header` is True, else 0-based column indices.
    label_kind: "name" (strings mapped through Task.label_names), "id" (integer class ids)
    or "float" (regression targets). format: "tsv", or a structured reader of data/families.py
    ("conll": `word POS NER` lines; "choices_jsonl": jsonl + a labels file; "squad_json": SQuAD's JSON).
    """

    header: bool
    text: tuple
    label: str | int | None
    label_kind: str
    format: str = "tsv"


@dataclass(frozen=True)
class Task:
    """One task. Mappings are tuples of pairs so the dataclass stays frozen and hashable."""

    name: str
    kind: str
    num_labels: int
    label_names: tuple[str, ...]
    text_columns: tuple[str, ...]  # logical fields; also the hub's column names
    metrics: tuple[str, ...]
    main_metric: str
    hub_path: str
    hub_config: str  # "{lang}" is replaced by the language
    hub_splits: tuple[tuple[str, str], ...]  # (our split, hub split)
    local_dirs: tuple[str, ...]  # directory names the task's files are found under
    local_files: tuple[tuple[str, str], ...]  # (our split, file name; "{lang}" replaced)
    layout: Layout
    test_layout: Layout | None = None  # GLUE test files differ from train/dev for CoLA
    label_aliases: tuple[tuple[str, str], ...] = ()
    languages: tuple[str, ...] = ("en",)
    # (fraction, seed): "train" and "validation" are disjoint parts of the train file (the official
    # dev set is kept apart as test data), split by data.sources.row_split over its groups
    # (sentences, questions, or SQuAD articles, so no context is in both).
    holdout: tuple = ()

    @property
    def is_regression(self) -> bool:
        return self.kind == REGRESSION

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s, _ in self.local_files)

    def _check(self, split: str, language: str) -> None:
        if split not in self.splits:
            raise ValueError(f"{self.name}: unknown split {split!r}; valid splits: {', '.join(self.splits)}")
        if language not in self.languages:
            raise ValueError(f"{self.name}: unknown language {language!r}; valid: {', '.join(self.languages)}")

    def local_file(self, split: str, language: str = "en") -> str:
        self._check(split, language)
        return dict(self.local_files)[split].format(lang=language)

    def hub_split(self, split: str, language: str = "en") -> str:
        self._check(split, language)
        return dict(self.hub_splits)[split]

    def hub_name(self, language: str = "en") -> str:
        return self.hub_config.format(lang=language)

    def layout_for(self, split: str) -> Layout:
        return self.test_layout if split.startswith("test") and self.test_layout else self.layout

    def label_index(self) -> dict[str, int]:
        """Label string -> class id, aliases included (XNLI-MT train files say 'contradictory')."""
        index = {n: i for i, n in enumerate(self.label_names)}
        index.update({alias: index[target] for alias, target in self.label_aliases})
        return index


def _glue(name, kind, labels, text, metrics, main, dirname, layout, **kw) -> Task:
    files = kw.pop("files", (("train", "train.tsv"), ("validation", "dev.tsv"), ("test", "test.tsv")))
    hub = kw.pop("hub_splits", (("train", "train"), ("validation", "validation"), ("test", "test")))
    return Task(name=name, kind=kind, num_labels=max(len(labels), 1), label_names=labels, text_columns=text,
                metrics=metrics, main_metric=main, hub_path="nyu-mll/glue", hub_config=name, hub_splits=hub,
                local_dirs=(dirname,), local_files=files, layout=layout, **kw)


_NLI3 = ("entailment", "neutral", "contradiction")  # HF datasets' ClassLabel order for MNLI and XNLI
_NLI2 = ("entailment", "not_entailment")
_XTREME_FILES = (("train", "train-{lang}.tsv"), ("validation", "dev-{lang}.tsv"), ("test", "test-{lang}.tsv"))
_HUB3 = (("train", "train"), ("validation", "validation"), ("test", "test"))

# Main metrics follow the GLUE leaderboard: accuracy for SST-2/RTE/QNLI/MNLI (and XNLI, PAWS-X as
# in XTREME), F1 for MRPC (its classes are imbalanced), Matthews correlation for CoLA, Pearson for STS-B.
_ALL = (
    _glue("sst2", CLASSIFICATION, ("negative", "positive"), ("sentence",), ("accuracy",), "accuracy", "SST-2",
          Layout(True, ("sentence",), "label", "id")),
    # CoLA train/dev have no header: source, label, original label, sentence; test.tsv has `index sentence`.
    _glue("cola", CLASSIFICATION, ("unacceptable", "acceptable"), ("sentence",), ("matthews", "accuracy"),
          "matthews", "CoLA", Layout(False, (3,), 1, "id"), test_layout=Layout(True, ("sentence",), None, "id")),
    _glue("mrpc", CLASSIFICATION, ("not_equivalent", "equivalent"), ("sentence1", "sentence2"),
          ("accuracy", "f1"), "f1", "MRPC", Layout(True, ("#1 String", "#2 String"), "Quality", "id")),
    _glue("rte", CLASSIFICATION, _NLI2, ("sentence1", "sentence2"), ("accuracy",), "accuracy", "RTE",
          Layout(True, ("sentence1", "sentence2"), "label", "name")),
    _glue("stsb", REGRESSION, (), ("sentence1", "sentence2"), ("pearson", "spearman"), "pearson", "STS-B",
          Layout(True, ("sentence1", "sentence2"), "score", "float")),
    _glue("qnli", CLASSIFICATION, _NLI2, ("question", "sentence"), ("accuracy",), "accuracy", "QNLI",
          Layout(True, ("question", "sentence"), "label", "name")),
    # MNLI's hub columns are premise/hypothesis; the GLUE files call them sentence1/sentence2.
    _glue("mnli", CLASSIFICATION, _NLI3, ("premise", "hypothesis"), ("accuracy",), "accuracy", "MNLI",
          Layout(True, ("sentence1", "sentence2"), "gold_label", "name"),
          files=(("train", "train.tsv"), ("validation", "dev_matched.tsv"),
                 ("validation_mismatched", "dev_mismatched.tsv"), ("test", "test_matched.tsv"),
                 ("test_mismatched", "test_mismatched.tsv")),
          hub_splits=(("train", "train"), ("validation", "validation_matched"),
                      ("validation_mismatched", "validation_mismatched"), ("test", "test_matched"),
                      ("test_mismatched", "test_mismatched"))),
    Task(name="xnli", kind=CLASSIFICATION, num_labels=3, label_names=_NLI3, text_columns=("premise", "hypothesis"),
         metrics=("accuracy",), main_metric="accuracy", hub_path="facebook/xnli", hub_config="{lang}",
         hub_splits=_HUB3, local_dirs=("xnli", "XNLI"), local_files=_XTREME_FILES,
         layout=Layout(False, (0, 1), 2, "name"), label_aliases=(("contradictory", "contradiction"),),
         languages=XNLI_LANGUAGES),
    Task(name="pawsx", kind=CLASSIFICATION, num_labels=2, label_names=("different", "paraphrase"),
         text_columns=("sentence1", "sentence2"), metrics=("accuracy",), main_metric="accuracy",
         hub_path="google-research-datasets/paws-x", hub_config="{lang}", hub_splits=_HUB3,
         local_dirs=("pawsx", "paws-x", "PAWS-X"), local_files=_XTREME_FILES,
         layout=Layout(False, (0, 1), 2, "id"), languages=PAWSX_LANGUAGES),
)

_CONLL_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")  # the hub's order
_FAMILIES = (
    # CoNLL-2003 English NER: train / testa (dev) / testb, IOB2 tags, entity-level F1 (conlleval).
    Task(name="conll2003", kind=TAGGING, num_labels=len(_CONLL_TAGS), label_names=_CONLL_TAGS,
         text_columns=("tokens",), metrics=("entity_f1", "entity_precision", "entity_recall", "token_accuracy"),
         main_metric="entity_f1", hub_path="eriktks/conll2003", hub_config="", hub_splits=_HUB3,
         local_dirs=("conll2003", "CoNLL-2003", "conll"),
         local_files=(("train", "train.txt"), ("validation", "dev.txt"), ("test", "test.txt")),
         layout=Layout(False, (0,), 2, "name", format="conll")),
    # Social IQa: the official dev set is kept apart (our "test"); "validation" is 2005 questions
    # (6%) of train.jsonl, by row_split(33410, 0.06, seed=0); the rest is "train".
    Task(name="socialiqa", kind=MULTIPLE_CHOICE, num_labels=3, label_names=("A", "B", "C"),
         text_columns=("context", "question", "answerA", "answerB", "answerC"), metrics=("accuracy",),
         main_metric="accuracy", hub_path="allenai/social_i_qa", hub_config="",
         hub_splits=(("train", "train"), ("validation", "train"), ("test", "validation")),
         local_dirs=("social_iqa", "socialiqa", "siqa"),
         local_files=(("train", "train.jsonl"), ("validation", "train.jsonl"), ("test", "dev.jsonl")),
         layout=Layout(False, (), "label", "id", format="choices_jsonl"), holdout=(0.06, 0)),
    # SQuAD v1.1: only the official dev file is here, so "train" and "validation" are its articles
    # split 3:1 (12 of 48 articles, ~2.6k questions, evaluate); the hub route splits the same file.
    Task(name="squad", kind=QUESTION_ANSWERING, num_labels=2, label_names=(), text_columns=("question", "context"),
         metrics=("exact_match", "f1"), main_metric="f1", hub_path="rajpurkar/squad", hub_config="",
         hub_splits=(("train", "validation"), ("validation", "validation")), local_dirs=("squad", "SQuAD"),
         local_files=(("train", "dev-v1.1.json"), ("validation", "dev-v1.1.json")),
         layout=Layout(False, (), None, "id", format="squad_json"), holdout=(0.25, 0)),
)

TASKS: MappingProxyType[str, Task] = MappingProxyType({t.name: t for t in _ALL + _FAMILIES})


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def get_task(name: str | Task) -> Task:
    """The task for `name`, ignoring case and punctuation ("SST-2", "sts_b", "PAWS-X")."""
    if isinstance(name, Task):
        return name
    task = TASKS.get(_normalise(str(name)))
    if task is None:
        raise ValueError(f"unknown task {name!r}; valid names: {', '.join(sorted(TASKS))}")
    return task
