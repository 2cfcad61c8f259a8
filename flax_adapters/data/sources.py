"""Loading a task's examples from local TSV files (GLUE / XTREME layouts) or the HF hub.

`load_examples` returns plain lists of text plus a numpy label array; nothing is tokenised
here. With `data_dir` it reads the original files; without, it asks `datasets.load_dataset`.

Cross-lingual protocol: offline, XNLI and PAWS-X only have dev files, and the languages are
row-by-row translations of the same items. Split the *row indices* once with `row_split`,
train on the English rows A and evaluate every language on rows B, so no evaluated item was
seen in training in any language:

    >>> from flax_adapters.data import load_examples, row_split
    >>> train_rows, eval_rows = row_split(2490, holdout_fraction=0.5, seed=0)
    >>> train = load_examples("xnli", "validation", "../shared/data", "en", rows=train_rows)
    >>> evals = {lang: load_examples("xnli", "validation", "../shared/data", lang, rows=eval_rows)
    ...          for lang in ("de", "fr", "zh")}

GLUE tasks accept the GLUE root (`glue_data/`), its parent (`<dir>/glue/SST-2`) or the task
directory itself: `load_examples("sst2", "validation", "../shared/data/glue")`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .tasks import Layout, Task, get_task


class DataError(ValueError):
    """Data that cannot be read as the task expects (missing file, column, bad label, no hub)."""


@dataclass(frozen=True)
class Examples:
    """Raw examples of one split: text_b is None for single-sentence tasks."""

    text_a: list[str]
    text_b: list[str] | None
    labels: np.ndarray  # int64 class ids (-1 when unlabelled), or float32 for regression
    source: str  # file path or hub id, for messages

    def __len__(self) -> int:
        return len(self.text_a)

    def select(self, rows) -> Examples:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise ValueError(f"rows: index out of range for {len(self)} examples from {self.source}")
        pick = lambda xs: [xs[i] for i in rows.tolist()]  # noqa: E731
        return Examples(pick(self.text_a), None if self.text_b is None else pick(self.text_b),
                        self.labels[rows], self.source)


def row_split(n_rows: int, holdout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split of range(n_rows) into sorted (train_rows, eval_rows)."""
    if n_rows < 2:
        raise ValueError(f"n_rows must be >= 2, got {n_rows}")
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    n_eval = min(max(int(round(n_rows * holdout_fraction)), 1), n_rows - 1)
    perm = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(perm[n_eval:]), np.sort(perm[:n_eval])


def load_examples(task: str | Task, split: str, data_dir: str | os.PathLike | None = None,
                  language: str = "en", rows=None) -> Examples:
    """Examples of `task`'s `split` ("train" | "validation" | "test"; MNLI adds "*_mismatched").

    rows: optional row indices (e.g. from `row_split`) selecting a subset, in the given order.
    Unlabelled test files (GLUE test.tsv) give labels -1, or NaN for regression, as on the hub.
    """
    task = get_task(task)
    if task.layout.format != "tsv":
        raise DataError(f"{task.name}: {task.layout.format} files are read by flax_adapters.data.load_examples "
                        "(data/families.py), not data.sources.load_examples")
    if data_dir is None:
        examples = _from_hub(task, split, language)
    else:
        examples = _from_file(task, split, find_file(task, split, os.fspath(data_dir), language))
    return examples if rows is None else examples.select(rows)


def find_file(task: Task, split: str, data_dir: str, language: str) -> str:
    """The local file of `task`'s `split` under `data_dir`; a DataError lists what is there instead."""
    name = task.local_file(split, language)
    # Most specific first: <root>/<TASK>/f, <root>/glue/<TASK>/f (../shared/data), then the dir itself.
    dirs = [os.path.join(data_dir, d) for d in task.local_dirs]
    if task.hub_path == "nyu-mll/glue":
        dirs += [os.path.join(data_dir, g, d) for g in ("glue", "glue_data") for d in task.local_dirs]
    tried = [os.path.join(d, name) for d in dirs] + [os.path.join(data_dir, name)]
    for path in tried:
        if os.path.isfile(path):
            return path
    if not os.path.isdir(data_dir):
        raise DataError(f"{task.name}: data_dir {data_dir} is not a directory")
    # Report the files of the closest existing directory, so a misnamed split is obvious.
    near = next((d for d in dirs if os.path.isdir(d)), data_dir)
    files = ", ".join(sorted(os.listdir(near))) or "none"
    hint = "; with dev files only, split rows with row_split" if task.languages != ("en",) else ""
    raise DataError(f"{task.name}: no {split!r} file {os.path.join(near, name)} (also looked in {data_dir} and "
                    f"its {'/'.join(task.local_dirs)} subdirectories); files in {near}: {files}{hint}")


def _read_rows(path: str) -> list[tuple[int, list[str]]]:
    # utf-8-sig drops MRPC's BOM. Split on "\n" only: str.splitlines() would also break on \x1c,
    # which occurs inside PAWS-X ko sentences; the stripped "\r" handles the XTREME CRLF files.
    # No quote handling at all, the equivalent of csv.QUOTE_NONE: sentences hold stray quotes.
    with open(path, encoding="utf-8-sig", newline="") as f:
        text = f.read()
    return [(i + 1, line.rstrip("\r").split("\t")) for i, line in enumerate(text.split("\n"))
            if line.strip()]


def _column_index(path: str, header: list[str] | None, column, required: bool) -> int | None:
    if header is None:
        return column
    if column in header:
        return header.index(column)
    if required:
        raise DataError(f"{path}: missing column {column!r} (header has: {', '.join(header)})")
    return None


def _from_file(task: Task, split: str, path: str) -> Examples:
    layout: Layout = task.layout_for(split)
    lines = _read_rows(path)
    header = None
    if layout.header:
        if not lines:
            raise DataError(f"{path}: empty file, expected a header")
        header = [h.strip() for h in lines.pop(0)[1]]
    labelled = not split.startswith("test")  # GLUE test files carry no label column
    text_idx = [_column_index(path, header, c, True) for c in layout.text]
    label_idx = None if layout.label is None else _column_index(path, header, layout.label, labelled)
    needed = max(text_idx + ([label_idx] if labelled and label_idx is not None else []))
    names = task.label_index()
    columns: list[list[str]] = [[] for _ in text_idx]
    labels = []
    for lineno, cells in lines:
        if len(cells) <= needed:
            missing = header[needed] if header else f"#{needed} (0-based)"
            raise DataError(f"{path} line {lineno}: missing column {missing}: "
                            f"found {len(cells)} tab-separated fields")
        for out, i in zip(columns, text_idx):
            out.append(cells[i])
        has_label = label_idx is not None and label_idx < len(cells)
        labels.append(_parse_label(task, layout, names, cells[label_idx].strip(), path, lineno)
                      if has_label else None)
    if not lines:
        raise DataError(f"{path}: no examples")
    return Examples(columns[0], columns[1] if len(columns) > 1 else None, _label_array(task, labels), path)


def _parse_label(task: Task, layout: Layout, names: dict[str, int], value: str, path: str, lineno: int):
    if layout.label_kind == "float":
        try:
            return float(value)
        except ValueError:
            raise DataError(f"{path} line {lineno}: label {value!r} is not a number") from None
    if layout.label_kind == "name":
        if value in names:
            return names[value]
        valid = ", ".join(task.label_names)
    else:
        if value.lstrip("-").isdigit() and 0 <= int(value) < task.num_labels:
            return int(value)
        valid = ", ".join(str(i) for i in range(task.num_labels))
    raise DataError(f"{path} line {lineno}: unknown label {value!r}; valid labels: {valid}")


def _label_array(task: Task, labels: list) -> np.ndarray:
    missing = -1.0 if not task.is_regression else np.nan
    values = [missing if x is None else x for x in labels]
    return np.asarray(values, dtype=np.float32 if task.is_regression else np.int64)


def hub_dataset(task: Task, split: str, language: str = "en", columns=()):
    """(datasets.Dataset, source id) of `task`'s `split` on the HF hub, its `columns` checked."""
    import datasets  # heavy, and only needed on this path

    hub_split, config = task.hub_split(split, language), task.hub_name(language)
    source = f"{task.hub_path}/{config}:{hub_split}" if config else f"{task.hub_path}:{hub_split}"
    try:
        ds = datasets.load_dataset(task.hub_path, config or None, split=hub_split)
    except Exception as e:  # offline, DNS, auth, missing config: all mean "no hub data here"
        reason = (str(e).splitlines() or [""])[0]
        raise DataError(f"cannot load {source} from the Hugging Face hub, unreachable or refused "
                        f"({type(e).__name__}: {reason}); pass --data_dir with a local data directory "
                        f"(e.g. ../shared/data) to read local files") from e
    for column in columns:
        if column not in ds.column_names:
            raise DataError(f"{source}: missing column {column!r} (has: {', '.join(ds.column_names)})")
    return ds, source


def _from_hub(task: Task, split: str, language: str) -> Examples:
    ds, source = hub_dataset(task, split, language, (*task.text_columns, "label"))
    feature = ds.features.get("label")
    names = getattr(feature, "names", None)
    # A class count that differs from ours would silently scramble label ids.
    if names is not None and len(names) != task.num_labels:
        raise DataError(f"{source}: hub labels {names} do not match {task.name}'s {task.label_names}")
    texts = [list(ds[c]) for c in task.text_columns]
    labels = np.asarray(ds["label"], dtype=np.float32 if task.is_regression else np.int64)
    return Examples(texts[0], texts[1] if len(texts) > 1 else None, labels, source)
