"""One train.py on many hosts: JAX's multi-controller runtime, started from the config or the environment.

Every process runs the same program on its own devices; `jax.distributed.initialize` connects them through a
coordinator (process 0) before JAX touches any device, after which `jax.devices()` lists the devices of all
processes and one jitted step runs on all of them. `initialize(config.distributed)` decides whether to connect:

- "auto" (the default): when a coordinator address is given (`coordinator_address`, or $JAX_COORDINATOR_ADDRESS), or
  when a launcher that JAX recognises started more than one process: a Cloud TPU pod slice, SLURM (`srun`), Open MPI
  (`mpirun`), Kubernetes. Otherwise this is one process on its own, as on a laptop or a multi-GPU host.
- "true": always; fields left unset come from the environment.
- "false": never.

Where the coordinator cannot be reached, the process stops within `initialization_timeout` seconds with an error that
names the address, before anything is read or written. Processes agree on when to stop through `StopAgreement`.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax._src import clusters  # JAX's launcher detection; public only inside jax.distributed.initialize
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ganjax import parallel
from ganjax.errors import ConfigError, DistributedError

log = logging.getLogger(__name__)

MODES = ("auto", "true", "false")
ADDRESS_ENV = "JAX_COORDINATOR_ADDRESS"


def _wait_for_coordinator(address: str, deadline: float) -> None:
    """Returns once a TCP connection to `address` ("host:port") succeeds; raises DistributedError at `deadline`.

    JAX itself aborts the whole process (no Python exception) when the coordinator does not answer in time, so
    processes other than the coordinator check that it is there first.
    """
    host, _, port = address.rpartition(":")
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise DistributedError(
                    f"cannot reach the coordinator at {address} ({error}). Start process 0 with the same "
                    "--config.distributed.coordinator_address (it serves that address), check that this host can "
                    "reach it (host name, port, firewall), or raise --config.distributed.initialization_timeout "
                    "if process 0 starts late."
                ) from None
            time.sleep(0.2)


def initialize(config: ml_collections.ConfigDict) -> None:
    """Connects this process to the others when `config` (the config's `distributed` section) or the environment
    asks for it. Must run before anything touches a device; a no-op when already connected.

    Fields of `config`: enabled ("auto", "true", "false"); coordinator_address ("host:port" of process 0),
    num_processes, process_id (unset: from the environment); initialization_timeout (seconds to wait for the
    coordinator and for every process to join); local_device_count (CPU only: devices this process simulates, for
    trying multi-process runs on one machine; unset: JAX's default, or $JAX_NUM_CPU_DEVICES).

    On processes other than 0, ganjax's log messages are reduced to warnings.

    Raises:
      ConfigError: distributed mode was asked for, but the coordinator, process count or id is unknown.
      DistributedError: the coordinator could not be reached in time.
    """
    if config.local_device_count is not None:
        jax.config.update("jax_num_cpu_devices", config.local_device_count)
    mode = config.enabled.lower()
    if mode == "false" or jax.distributed.is_initialized():
        return
    given = config.coordinator_address or os.environ.get(ADDRESS_ENV)
    timeout = config.initialization_timeout
    address, num_processes, process_id, local_device_ids = clusters.ClusterEnv.auto_detect_unset_distributed_params(
        given, config.num_processes, config.process_id, None, None, timeout
    )
    if mode == "auto" and not given and (num_processes or 1) == 1:
        return
    missing = [
        f"--config.distributed.{name}"
        for name, value in (
            ("coordinator_address", address),
            ("num_processes", num_processes),
            ("process_id", process_id),
        )
        if value is None
    ]
    if missing:
        raise ConfigError(
            f"a multi-process run needs {', '.join(missing)}: no launcher that sets them (Cloud TPU, SLURM, Open MPI) "
            "was detected. Set them on every process, or --config.distributed.enabled=false for one process."
        )
    if not 0 <= process_id < num_processes:
        raise ConfigError(
            f"--config.distributed.process_id={process_id} must be in [0, {num_processes}) "
            f"(--config.distributed.num_processes={num_processes})"
        )
    deadline = time.monotonic() + timeout
    log.info(
        "process %d of %d: connecting to the coordinator at %s (waiting at most %d s for all processes)",
        process_id,
        num_processes,
        address,
        timeout,
    )
    if process_id != 0:
        _wait_for_coordinator(address, deadline)
    # ganjax agrees on stopping itself (StopAgreement); JAX's own SIGTERM notifier would compete for the signal.
    jax.config.update("jax_enable_preemption_service", False)
    jax.distributed.initialize(
        coordinator_address=address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        initialization_timeout=max(1, round(deadline - time.monotonic())),
    )
    if process_id != 0:
        logging.getLogger("ganjax").setLevel(logging.WARNING)


class StopAgreement:
    """Whether any process was asked to stop, answered alike on every process so that all stop after the same step.

    With one process the answer is the local request, at once and at no cost. With several, each call contributes
    this process's request to a tiny all-reduce (the max of one int32 per device), dispatched without waiting, and
    returns the agreement from the previous call: the trainer reads it right after the previous step's metrics, which
    it waits for anyway, so no process waits longer than before. All processes stop one step after the request.
    """

    def __init__(self, mesh: Mesh):
        self._multi_process = jax.process_count() > 1
        self._local_devices = len(mesh.local_devices)
        self._sharding = NamedSharding(mesh, PartitionSpec(mesh.axis_names))
        self._any = jax.jit(jnp.max, out_shardings=parallel.replicated(mesh))
        self._pending: jax.Array | None = None

    def __call__(self, requested: bool) -> bool:
        """Adds this process's request (for the step just dispatched); returns whether all processes stop now."""
        if not self._multi_process:
            return requested
        flags = np.full(self._local_devices, requested, np.int32)
        previous, self._pending = (
            self._pending,
            self._any(jax.make_array_from_process_local_data(self._sharding, flags)),
        )
        return previous is not None and bool(np.asarray(previous.addressable_data(0)))
