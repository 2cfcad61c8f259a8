"""Loading examples: the real shared files, synthetic GLUE/XTREME layouts, errors, the hub path."""

import numpy as np
import pytest

from flax_adapters.data import DataError, Examples, get_task, load_examples, row_split

REAL = [  # task, split, language, rows, label dtype, label values (None: regression)
    ("sst2", "validation", "en", 6735, np.int64, {0, 1}),
    ("sst2", "train", "en", 60614, np.int64, {0, 1}),
    ("cola", "validation", "en", 1301, np.int64, {0, 1}),
    ("rte", "validation", "en", 363, np.int64, {0, 1}),
    ("mrpc", "validation", "en", 408, np.int64, {0, 1}),
    ("stsb", "validation", "en", 1500, np.float32, None),
    ("xnli", "validation", "en", 2490, np.int64, {0, 1, 2}),
    ("pawsx", "validation", "de", 2000, np.int64, {0, 1}),
    ("pawsx", "validation", "ko", 2000, np.int64, {0, 1}),  # a sentence holds \x1c: no extra rows
]


@pytest.mark.real
@pytest.mark.parametrize("name,split,lang,n,dtype,values", REAL)
def test_real_files_load(shared_data, name, split, lang, n, dtype, values):
    ex = load_examples(name, split, shared_data, lang)
    assert len(ex) == len(ex.labels) == n and ex.labels.dtype == dtype
    assert (ex.text_b is None) == (len(get_task(name).text_columns) == 1)
    assert all(isinstance(t, str) and t and "\r" not in t for t in ex.text_a + (ex.text_b or []))
    if values is None:
        assert 0.0 <= ex.labels.min() and ex.labels.max() <= 5.0
    else:
        assert set(np.unique(ex.labels).tolist()) == values


@pytest.mark.real
def test_real_file_quirks(shared_data):
    glue = shared_data / "glue"
    rte = load_examples("rte", "validation", glue / "RTE")  # the task directory itself
    raw = (glue / "RTE" / "dev.tsv").read_text().splitlines()[1:]
    assert rte.labels.tolist() == [0 if line.endswith("\tentailment") else 1 for line in raw]
    cola = load_examples("CoLA", "validation", glue)  # no header: the first line is an example
    assert cola.text_a[0] == "Bill broke the bathtub." and cola.labels[0] == 1
    mrpc = load_examples("mrpc", "validation", shared_data)  # BOM before "Quality"
    assert mrpc.text_a[0].startswith("He said the foodservice") and mrpc.labels[0] == 1
    assert mrpc.text_b[0].startswith('"The foodservice')  # stray quote kept verbatim (QUOTE_NONE)
    stsb = load_examples("sts-b", "validation", shared_data)
    assert stsb.labels[:2].tolist() == [5.0, 4.75] and stsb.text_b[0] == "A man wearing a hard hat is dancing."
    xnli = load_examples("xnli", "validation", shared_data / "xnli", "en")
    assert xnli.labels[:3].tolist() == [1, 2, 0] and xnli.source.endswith("dev-en.tsv")


@pytest.mark.real
def test_cross_lingual_rows(shared_data):
    train_rows, eval_rows = row_split(2490, 0.3, seed=0)
    en = load_examples("xnli", "validation", shared_data, "en", rows=train_rows)
    de = load_examples("xnli", "validation", shared_data, "de", rows=eval_rows)
    en_eval = load_examples("xnli", "validation", shared_data, "en", rows=eval_rows)
    assert len(en) + len(de) == 2490 and len(de) == 747
    np.testing.assert_array_equal(de.labels, en_eval.labels)  # row-by-row translations
    assert de.text_a[0] != en_eval.text_a[0]


def test_row_split():
    a, b = row_split(100, 0.25, seed=3)
    assert len(b) == 25 and len(a) == 75 and not set(a) & set(b)
    np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.arange(100))
    assert np.all(np.diff(a) > 0) and np.all(np.diff(b) > 0)
    a2, b2 = row_split(100, 0.25, seed=3)
    np.testing.assert_array_equal(b, b2)
    assert not np.array_equal(b, row_split(100, 0.25, seed=4)[1])
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="holdout_fraction"):
            row_split(100, bad, 0)


def write(path, lines, newline="\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    return path


def test_qnli_and_mnli_glue_layout(tmp_path):
    write(tmp_path / "QNLI" / "dev.tsv", ["index\tquestion\tsentence\tlabel", "0\tWho?\tHim.\tentailment",
                                          "1\tWhen?\tNever \"really.\tnot_entailment"])
    q = load_examples("qnli", "validation", tmp_path)
    assert q.text_a == ["Who?", "When?"] and q.text_b == ["Him.", 'Never "really.'] and q.labels.tolist() == [0, 1]
    head = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
            "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
    row = lambda s1, s2, gold: "\t".join(["0", "1", "2", "fiction", "( a )", "( b )", "(S a)", "(S b)", s1, s2,
                                          gold, gold])  # noqa: E731
    mnli = tmp_path / "glue_data" / "MNLI"
    write(mnli / "train.tsv", ["\t".join(head), row("P1", "H1", "neutral"), row("P2", "H2", "contradiction")])
    write(mnli / "dev_matched.tsv", ["\t".join(head), row("P3", "H3", "entailment")])
    write(mnli / "dev_mismatched.tsv", ["\t".join(head), row("P4", "H4", "contradiction")])
    write(mnli / "test_matched.tsv", ["\t".join(head[:10]), "\t".join(["0"] * 8 + ["P5", "H5"])])
    assert load_examples("mnli", "train", tmp_path).labels.tolist() == [1, 2]
    dev = load_examples("MNLI", "validation", tmp_path / "glue_data")
    assert dev.text_a == ["P3"] and dev.text_b == ["H3"] and dev.labels.tolist() == [0]
    assert load_examples("mnli", "validation_mismatched", mnli).text_a == ["P4"]
    test = load_examples("mnli", "test", tmp_path)  # GLUE test files are unlabelled
    assert test.text_a == ["P5"] and test.labels.tolist() == [-1]


def test_xtreme_layout_crlf_and_alias(tmp_path):
    write(tmp_path / "xnli" / "train-en.tsv", ["p1\th1\tcontradictory", "p2\th2\tneutral"], newline="\r\n")
    ex = load_examples("xnli", "train", tmp_path)
    assert ex.text_a == ["p1", "p2"] and ex.text_b == ["h1", "h2"] and ex.labels.tolist() == [2, 1]
    write(tmp_path / "px" / "dev-fr.tsv", ["s1\ts2\t1", "s3\ts4\t0"])
    px = load_examples("paws-x", "validation", tmp_path / "px", language="fr", rows=[1])
    assert px.text_a == ["s3"] and px.labels.tolist() == [0] and px.labels.dtype == np.int64


def test_missing_column_names_file_and_column(tmp_path):
    path = write(tmp_path / "STS-B" / "dev.tsv", ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\t1.0"])
    with pytest.raises(DataError, match="missing column 'score'") as err:
        load_examples("stsb", "validation", tmp_path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    write(tmp_path / "CoLA" / "dev.tsv", ["src\t1\t\tGood.", "src\t0"])
    with pytest.raises(DataError, match=r"dev.tsv line 2: missing column"):
        load_examples("cola", "validation", tmp_path)


def test_missing_split_file_lists_existing_files(tmp_path):
    write(tmp_path / "RTE" / "train.tsv", ["index\tsentence1\tsentence2\tlabel"])
    with pytest.raises(DataError) as err:
        load_examples("rte", "validation", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "RTE" / "dev.tsv") in message and "train.tsv" in message and "\n" not in message
    with pytest.raises(DataError, match="not a directory"):
        load_examples("rte", "validation", tmp_path / "nope")
    assert isinstance(err.value, ValueError)


def test_unknown_label_names_file_line_and_valid_labels(tmp_path):
    lines = ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\tentailment", "1\tc\td\tcontradiction"]
    path = write(tmp_path / "RTE" / "dev.tsv", lines)
    before = path.read_bytes()
    with pytest.raises(DataError) as err:
        load_examples("rte", "validation", tmp_path)
    message = str(err.value)
    assert f"{path} line 3" in message and "'contradiction'" in message
    assert "entailment, not_entailment" in message
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["dev.tsv"]
    write(tmp_path / "SST-2" / "dev.tsv", ["sentence\tlabel", "fine\t2"])
    with pytest.raises(DataError, match="line 2: unknown label '2'; valid labels: 0, 1"):
        load_examples("sst2", "validation", tmp_path)


def test_rows_out_of_range(tmp_path):
    write(tmp_path / "SST-2" / "dev.tsv", ["sentence\tlabel", "fine\t1"])
    with pytest.raises(ValueError, match="rows"):
        load_examples("sst2", "validation", tmp_path, rows=[1])


HUB = {  # task, split, language -> expected (path, config, split), columns of the fake dataset
    ("mnli", "validation", "en"): (("nyu-mll/glue", "mnli", "validation_matched"),
                                   {"premise": ["p"], "hypothesis": ["h"], "label": [2], "idx": [0]}),
    ("qnli", "train", "en"): (("nyu-mll/glue", "qnli", "train"),
                              {"question": ["q"], "sentence": ["s"], "label": [1], "idx": [0]}),
    ("sst2", "test", "en"): (("nyu-mll/glue", "sst2", "test"), {"sentence": ["s"], "label": [-1], "idx": [0]}),
    ("stsb", "validation", "en"): (("nyu-mll/glue", "stsb", "validation"),
                                   {"sentence1": ["a"], "sentence2": ["b"], "label": [3.2], "idx": [0]}),
    ("xnli", "validation", "de"): (("facebook/xnli", "de", "validation"),
                                   {"premise": ["p"], "hypothesis": ["h"], "label": [0]}),
    ("pawsx", "train", "ja"): (("google-research-datasets/paws-x", "ja", "train"),
                               {"id": [7], "sentence1": ["a"], "sentence2": ["b"], "label": [1]}),
}


@pytest.mark.parametrize("key", list(HUB))
def test_hub_mapping(monkeypatch, key):
    import datasets

    expected_call, columns = HUB[key]
    calls = []

    def fake_load_dataset(path, name=None, split=None, **kw):
        calls.append((path, name, split))
        return datasets.Dataset.from_dict(columns)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    task, split, lang = key
    ex = load_examples(task, split, language=lang)
    assert calls == [expected_call] and isinstance(ex, Examples)
    text = [v for k, v in columns.items() if k not in ("label", "idx", "id")]
    assert ex.text_a == text[0] and ex.text_b == (text[1] if len(text) > 1 else None)
    assert ex.labels.tolist() == pytest.approx(columns["label"])
    assert ex.labels.dtype == (np.float32 if task == "stsb" else np.int64)
    assert expected_call[0] in ex.source


def test_hub_missing_column_and_label_mismatch(monkeypatch):
    import datasets

    ds = datasets.Dataset.from_dict({"sentence1": ["a"], "label": [0]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: ds)
    with pytest.raises(DataError, match="missing column 'sentence2'"):
        load_examples("rte", "train")
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["a", "b", "c"])})
    ds3 = datasets.Dataset.from_dict({"sentence": ["x"], "label": [2]}, features=features)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: ds3)
    with pytest.raises(DataError, match="do not match"):
        load_examples("sst2", "train")


def test_offline_hub_is_a_data_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        load_examples("sst2", "validation")
    message = str(err.value)
    assert "--data_dir" in message and "hub" in message and "\n" not in message


def test_glue_test_files_are_unlabelled(tmp_path):
    write(tmp_path / "CoLA" / "test.tsv", ["index\tsentence", "0\tGood.", "1\tBad bad."])  # has a header
    cola = load_examples("cola", "test", tmp_path)
    assert cola.text_a == ["Good.", "Bad bad."] and cola.labels.tolist() == [-1, -1]
    write(tmp_path / "STS-B" / "test.tsv", ["index\tgenre\tsentence1\tsentence2", "0\tnews\ta\tb"])
    stsb = load_examples("stsb", "test", tmp_path)
    assert stsb.labels.dtype == np.float32 and np.isnan(stsb.labels).all()
