"""Multi-process settings (training/distributed.py): flags over environment variables, errors named,
SLURM srun steps detected, a single process joins nothing. (Two real processes: test_sharding.py.)"""

import pytest


def test_distributed_settings():
    from flax_adapters.training.distributed import detected_cluster, initialize, settings

    assert settings(env={}) is None and detected_cluster({}) is None
    want = dict(coordinator_address="h:1", num_processes=2, process_id=1)
    assert settings(env=dict(COORDINATOR_ADDRESS="h:1", NUM_PROCESSES="2", PROCESS_ID="1")) == want
    assert settings("h:1", 2, 1, env=dict(COORDINATOR_ADDRESS="other:2")) == want  # flags win
    with pytest.raises(ValueError, match="num_processes, process_id missing"):
        settings("h:1", env={})
    with pytest.raises(ValueError, match="process_id 2 is not in"):
        settings("h:1", 2, 2, env={})
    with pytest.raises(ValueError, match="NUM_PROCESSES must be an integer"):
        settings(env=dict(COORDINATOR_ADDRESS="h:1", NUM_PROCESSES="two", PROCESS_ID="0"))
    srun = dict(SLURM_JOB_ID="7", SLURM_STEP_NODELIST="n[1-2]", SLURM_PROCID="1", SLURM_LOCALID="0")
    assert detected_cluster(dict(srun, SLURM_NTASKS="4")) == "SLURM"
    assert detected_cluster(dict(srun, SLURM_NTASKS="1")) is None
    assert detected_cluster(dict(SLURM_JOB_ID="7", SLURM_NTASKS="4")) is None  # a batch script, not an srun step
    assert not initialize(env={}) and not initialize("h:1", 1, 0, env={})  # single process: nothing to join
