"""Joining a multi-process JAX run (one process per host): `initialize` before anything touches devices.

Where the three values come from, first hit wins:

1. arguments (experiments/train.py's --coordinator_address / --num_processes / --process_id);
2. the environment: COORDINATOR_ADDRESS, NUM_PROCESSES, PROCESS_ID (any launcher can export them);
3. a cluster JAX detects itself -- SLURM (srun, >1 task), Open MPI (mpirun, >1 rank), a TPU pod
   slice listing several workers -- or `auto=True` (--distributed_auto; e.g. a Cloud TPU VM pod,
   whose workers JAX finds through the metadata server): `jax.distributed.initialize()` with no
   arguments then reads the cluster's own variables.

With none of these it does nothing: a single process sees its own devices (one GPU node, a laptop).

    distributed.initialize("10.0.0.1:1234", num_processes=4, process_id=rank)   # on every host
"""

from __future__ import annotations

import os
from typing import Mapping

import jax
from absl import logging

ENV = ("COORDINATOR_ADDRESS", "NUM_PROCESSES", "PROCESS_ID")


def _int(value, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def detected_cluster(env: Mapping[str, str]) -> str | None:
    """The launcher JAX's own auto-detection would find with more than one process, or None."""
    # The variables JAX's SlurmCluster / OmpiCluster read (an srun step; an Open MPI 4 mpirun).
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID", "SLURM_LOCALID")
    if all(k in env for k in slurm) and (_int(env.get("SLURM_NTASKS"), "SLURM_NTASKS") or 0) > 1:
        return "SLURM"
    if "OMPI_MCA_orte_hnp_uri" in env and (_int(env.get("OMPI_COMM_WORLD_SIZE"), "OMPI_COMM_WORLD_SIZE") or 0) > 1:
        return "Open MPI"
    if "," in env.get("TPU_WORKER_HOSTNAMES", ""):
        return "TPU pod slice"
    return None


def settings(coordinator_address: str | None = None, num_processes: int | None = None,
             process_id: int | None = None, env: Mapping[str, str] | None = None) -> dict | None:
    """The explicit settings (arguments over environment), None when neither gives any.
    A partial set is refused, naming what is missing."""
    env = os.environ if env is None else env
    pick = lambda given, name: given if given is not None else _int(env.get(name), name)
    values = {"coordinator_address": coordinator_address or env.get("COORDINATOR_ADDRESS") or None,
              "num_processes": pick(num_processes, "NUM_PROCESSES"), "process_id": pick(process_id, "PROCESS_ID")}
    given = {k for k, v in values.items() if v is not None}
    if not given:
        return None
    if given != set(values):
        missing = sorted(set(values) - given)
        raise ValueError(f"multi-process run: {', '.join(missing)} missing (set --{' --'.join(missing)} or "
                         f"{', '.join(ENV)}); got {', '.join(f'{k}={values[k]}' for k in sorted(given))}")
    if values["num_processes"] < 1 or not 0 <= values["process_id"] < values["num_processes"]:
        raise ValueError(f"process_id {values['process_id']} is not in [0, num_processes = {values['num_processes']})")
    if ":" not in values["coordinator_address"]:
        raise ValueError(f"coordinator_address {values['coordinator_address']!r} must be host:port")
    return values


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto: bool = False, env: Mapping[str, str] | None = None) -> bool:
    """Joins the multi-process run described by the arguments, the environment or the cluster;
    returns whether one was joined. Must run before any JAX call that touches devices."""
    env = os.environ if env is None else env
    explicit = settings(coordinator_address, num_processes, process_id, env)
    if explicit is not None:
        if explicit["num_processes"] == 1:
            return False  # one process: nothing to coordinate
        jax.distributed.initialize(**explicit)
    elif auto or (cluster := detected_cluster(env)) is not None:
        logging.info("multi-process run (%s): JAX detects the coordinator", "auto" if auto else cluster)
        jax.distributed.initialize()
    else:
        return False
    logging.info("process %d of %d; %d local / %d global devices", jax.process_index(), jax.process_count(),
                 jax.local_device_count(), jax.device_count())
    return True
