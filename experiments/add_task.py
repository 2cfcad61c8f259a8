"""Adding a task: multi-task FT + replay vs one new adapter vs AdapterFusion (paper 2, docs/papers.md §2).

Writes <workdir>/add_task.json and add_task.md (time to add the task and every task's dev score);
each underlying run is a normal train-loop workdir, so an interrupted experiment resumes.

    python experiments/add_task.py --config=configs/glue_minilm.py --old=sst2,mrpc,stsb --new=rte \
        --workdir=runs/add_rte --config.max_steps=600 --config.data.max_train_examples=8000
"""

from absl import app, flags

from flax_adapters.training import cli, tracking
from flax_adapters_lab import add_task

_CONFIG = cli.define_config("config", None, "base config (its task/method are overridden)")
_WORKDIR = flags.DEFINE_string("workdir", None, "root of the experiment's runs", required=True)
_OLD = flags.DEFINE_list("old", ["sst2", "mrpc", "stsb"], "tasks that exist before")
_NEW = flags.DEFINE_string("new", "rte", "the task added")
_METHOD = flags.DEFINE_string("adapter_method", "seq_bn", "adapter method of the per-task adapters")
_REPLAYS = flags.DEFINE_list("replays", ["0.2", "0.05"], "replay fractions of the old tasks")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _CONFIG.value is None:
        cli.fail("--config is required (e.g. configs/glue_minilm.py)")
    tracking.quiet_orbax()
    try:
        replays = [float(r) for r in _REPLAYS.value]
    except ValueError:
        cli.fail(f"--replays wants fractions such as 0.2,0.05; got {','.join(_REPLAYS.value)}")
    # User errors (a bad key, a missing data dir, …) become one `error:` line in cli.run.
    table = add_task.run(_CONFIG.value, _WORKDIR.value, old=_OLD.value, new=_NEW.value,
                         adapter_method=_METHOD.value, replays=replays)
    print(add_task.markdown(table))


if __name__ == "__main__":
    cli.run(main)
