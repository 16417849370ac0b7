"""A1Fleet training: a small multi-exit VLA with the model package's parts, A1's multi-exit recipe,
and an exporter to the A1Fleet model package (docs/training.md)."""
import os

# OpenBLAS (libopenblas0-pthread) starts its own thread pool when loaded, whatever
# torch.set_num_threads says later; on a shared 2-core machine those threads spin and cost more
# than they give (measured: 0.53 s CPU a step with them, 0.22 s without). Set before torch loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, os.environ.get("A1FLEET_TRAIN_THREADS", "1"))
