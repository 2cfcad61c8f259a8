"""Trains one run from a config file, or scores a saved run on a data directory.

    python experiments/train.py --config=configs/smoke.py --workdir=/tmp/smoke
    python experiments/train.py --config=configs/minilm_sst2.py:seq_bn --workdir=runs/sst2_pfeiffer
    python experiments/train.py --config=configs/paper.py:xnli,lora,robust --workdir=runs/xnli_lora_robust
    # score the best parameters of a saved run on any GLUE/XTREME-layout directory:
    python experiments/train.py --workdir=runs/sst2_pfeiffer --eval_data_dir=/data/glue --eval_split=validation
    # several processes (one per host): the same command on each, the run's devices form one mesh
    python experiments/train.py --config=configs/smoke.py --workdir=/shared/smoke --config.mesh.fsdp=2 \
        --coordinator_address=10.0.0.1:1234 --num_processes=2 --process_id=$RANK

Any config key overrides with --config.<key>=<value>, adapter options included
(--config.method.options.reduction_factor=8; README lists every method's options). A user error
(misspelt key, bad value, missing data or run) is one `error:` line and exit status 1.

Re-running the same command resumes from the latest checkpoint in --workdir. The summary
(best metric, time to best, step time, memory, checkpoint bytes) is printed as JSON and written
to <workdir>/summary.json; per-step and per-evaluation records go to <workdir>/metrics.jsonl.
"""

import json

from absl import app, flags

from flax_adapters.training import cli, distributed, loop, tracking
from flax_adapters.training.config import from_config_dict

_CONFIG = cli.define_config("config", None, "configs/<file>.py[:arg]; override keys with --config.a.b=v, adapter "
                            "options with --config.method.options.<option>=v")
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory: checkpoints, metrics.jsonl, summary.json",
                               required=True)
_EVAL_DATA_DIR = flags.DEFINE_string("eval_data_dir", None, "instead of training, score the saved run in "
                                     "--workdir on this GLUE/XTREME-layout directory")
_EVAL_SPLIT = flags.DEFINE_string("eval_split", "validation", "split scored with --eval_data_dir")
# Multi-process runs (training/distributed.py); unset: $COORDINATOR_ADDRESS, $NUM_PROCESSES, $PROCESS_ID,
# then a SLURM / Open MPI / TPU-pod launch JAX detects itself, else a single process.
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0 in a multi-process run")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "processes in a multi-process run")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "this process's rank in [0, num_processes)")
_DISTRIBUTED_AUTO = flags.DEFINE_bool("distributed_auto", False, "jax.distributed.initialize() with no "
                                      "arguments: JAX finds the cluster (e.g. a Cloud TPU pod slice)")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    tracking.quiet_orbax()
    try:
        # Before anything touches devices: joining later would leave JAX with this host's alone.
        distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                               auto=_DISTRIBUTED_AUTO.value)
        if _EVAL_DATA_DIR.value:
            result = loop.evaluate_run(_WORKDIR.value, _EVAL_DATA_DIR.value, _EVAL_SPLIT.value)
        elif _CONFIG.value is None:
            raise ValueError("--config is required for training (or pass --eval_data_dir to score a run)")
        else:
            result = loop.train(from_config_dict(_CONFIG.value), _WORKDIR.value)
    except loop.DivergedError as e:  # a run, not a user error, but its message is all there is to say
        cli.fail(f"{type(e).__name__}: {e}")
    print(json.dumps(result, default=float))


if __name__ == "__main__":
    cli.run(main)
