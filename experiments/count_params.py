"""Trainable parameters of every registered adapter method at BERT-base shape, ours vs AdapterHub.

Ours come from `nnx.eval_shape` (no weights allocated). AdapterHub's are counted live: a
randomly initialised BERT-base-shaped `adapters.BertAdapterModel` (no download) gets each
method's config — our config's `to_hub()` dict, so both sides count the same settings — and the
count is the parameters that `add_adapter` added. Without torch/adapters only ours are printed.

    python experiments/count_params.py --out=results/count_params.json
"""

from __future__ import annotations

import json
import logging
import os

from absl import app, flags

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the hub side builds from a config: nothing to fetch

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "write the table as JSON here")
flags.DEFINE_list("methods", None, "method names (default: every registered one)")
flags.DEFINE_bool("hub", True, "also count with AdapterHub (needs torch + adapters)")


def ours(name: str, enc) -> int:
    import jax
    from flax import nnx

    from flax_adapters.adapters import registry

    config = registry.make_config(name)
    abstract = nnx.state(nnx.eval_shape(lambda: registry.adapter_class(config)(config, enc, rngs=nnx.Rngs(0))),
                         nnx.Param)
    return sum(int(x.size) for x in jax.tree.leaves(abstract))


class Hub:
    """One BERT-base-shaped AdapterHub model; adapters are added, counted and deleted in turn."""

    def __init__(self):
        import adapters
        import torch
        import transformers

        # absl runs Python logging at INFO: mute AdapterHub's one "Adding adapter" line per method.
        logging.getLogger("adapters").setLevel(logging.WARNING)
        transformers.logging.set_verbosity_error()
        torch.manual_seed(0)
        self.adapters = adapters
        self.model = adapters.BertAdapterModel(transformers.BertConfig())  # BERT-base defaults

    def _total(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def count(self, name: str) -> tuple[int, str]:
        """(parameters added, which config was used: 'to_hub' or AdapterHub's preset 'name')."""
        from flax_adapters.adapters import registry

        try:  # our settings, in AdapterHub's vocabulary
            config, source = self.adapters.AdapterConfig.load(registry.make_config(name).to_hub()), "to_hub"
        except Exception:  # a method whose to_hub AdapterHub cannot parse: fall back to its name
            config, source = name, "name"
        before = self._total()
        self.model.add_adapter("count", config=config)
        try:
            return self._total() - before, source
        finally:
            self.model.delete_adapter("count")


def main(argv):
    del argv
    from flax_adapters.adapters import registry
    from flax_adapters.models import EncoderConfig

    enc = EncoderConfig()
    hub, why = None, None
    if FLAGS.hub:
        try:
            hub = Hub()
        except ImportError as e:  # torch or adapters missing: ours only
            why = f"AdapterHub unavailable ({e})"
    rows = []
    for name in FLAGS.methods or list(registry.METHODS):
        row = {"method": name, "ours": ours(name, enc)}
        if hub is not None:
            try:
                row["adapterhub"], row["adapterhub_config"] = hub.count(name)
            except Exception as e:  # one method AdapterHub rejects must not hide the rest
                row["adapterhub_error"] = f"{type(e).__name__}: {e}"[:200]
        rows.append(row)

    print(f"trainable adapter parameters, BERT-base shape (hidden {enc.hidden_size}, {enc.num_hidden_layers} layers)")
    if why:
        print(why)
    print(f"{'method':<16}{'ours':>12}{'AdapterHub':>12}  match")
    for r in rows:
        theirs = r.get("adapterhub")
        match = "" if theirs is None else ("yes" if theirs == r["ours"] else "NO")
        print(f"{r['method']:<16}{r['ours']:>12,}{'' if theirs is None else f'{theirs:,}':>12}  {match}"
              + (f"  ({r['adapterhub_error']})" if "adapterhub_error" in r else ""))
    if FLAGS.out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        with open(FLAGS.out, "w") as f:
            json.dump({"encoder": "bert-base (EncoderConfig defaults)", "rows": rows}, f, indent=2)
        print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
