"""The report's plots (reproduce/plots.py): each writes its PNG from a section's results and returns
the file name, or None when the section has nothing to draw."""

from flax_adapters_lab.reproduce import plots


def _png(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_each_plot_writes_its_file(tmp_path):
    methods = {"trainable_params": {"full": 100, "seq_bn": 10},
               "train": {"jax/full": {"speedup_vs_full": 1.0, "median_s": 2.0},
                         "jax/seq_bn": {"speedup_vs_full": 1.4, "flops_ratio_full_over_this": 1.6, "median_s": 1.0},
                         "torch/seq_bn": {"speedup_vs_full": 1.2, "median_s": 3.0}},
               "infer": {"jax/bare": {"median_s": 0.1}, "torch/bare": {"median_s": 0.3}}}
    assert plots.methods(methods, tmp_path) == "methods_train_speedup.png"
    drop = {"train": {f"jax/{n}": {"n": n, "speedup_vs_n0": 1 + 0.1 * n, "cost_model": 1 + 0.12 * n} for n in (0, 2, 1)}
            | {"torch/0": {"n": 0, "speedup_vs_n0": 1.0}}}
    assert plots.adapterdrop(drop, tmp_path) == "adapterdrop_train.png"
    par = {"tasks": {"2": {f"jax/{n}": {"n": n, "speedup_vs_n0": 1 + n, "cost_model_vs_n0": 1 + n} for n in (0, 1)}}}
    assert plots.parallel(par, tmp_path) == "parallel_inference.png"
    assert plots.jax_vs_torch(methods, tmp_path) == "jax_vs_torch.png"
    for name in ("methods_train_speedup.png", "adapterdrop_train.png", "parallel_inference.png", "jax_vs_torch.png"):
        assert _png(tmp_path / name), name


def test_nothing_to_draw_writes_nothing(tmp_path):
    assert plots.methods({}, tmp_path) is None
    assert plots.adapterdrop({"train": {"torch/0": {"n": 0, "speedup_vs_n0": 1.0}}}, tmp_path) is None
    assert plots.parallel({"tasks": {}}, tmp_path) is None
    assert plots.jax_vs_torch({"train": {"jax/full": {"median_s": 1.0}}, "infer": {}}, tmp_path) is None
    assert not list(tmp_path.iterdir())
