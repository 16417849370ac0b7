"""The arm a test client stands for: its data-sheet joint limits (handed over by the test as cfg["arm"]: lower, upper,
max_velocity, max_acceleration, home, hz), a pose within them, and the check the arm's own controller would make on a
chunk before executing it: every step inside the range, at most the velocity limit from the observed pose on, and at
most the acceleration limit between steps."""
import numpy as np


def _limits(cfg, n):
    arm = cfg["arm"]
    return tuple(np.asarray(arm[k][:n], dtype=np.float64) for k in ("lower", "upper", "max_velocity", "max_acceleration", "home"))


def pose(cfg, rng, n):
    """n joint positions near the arm's home pose; random values without an arm (a test that sends no limits)."""
    if "arm" not in cfg:
        return rng.standard_normal(n).astype(np.float32)
    lower, upper, _, _, home = _limits(cfg, n)
    return np.clip(home + rng.uniform(-0.05, 0.05, n) * (upper - lower), lower, upper).astype(np.float32)


def violation(actions, state, cfg):
    """None when the arm may execute the chunk (actions (H, n) from the observed state); else what breaks a limit."""
    if "arm" not in cfg:
        return None
    actions = np.asarray(actions, dtype=np.float64)
    n = actions.shape[1]
    lower, upper, vmax, amax, _ = _limits(cfg, n)
    dt = 1.0 / cfg["arm"]["hz"]
    slack = 1e-4
    previous = np.clip(np.asarray(state[:n], dtype=np.float64), lower, upper)
    velocity = None
    for step, row in enumerate(actions):
        outside = np.nonzero((row < lower - slack) | (row > upper + slack))[0]
        if outside.size:
            j = outside[0]
            return f"step {step}: joint {j} at {row[j]} is outside [{lower[j]}, {upper[j]}]"
        v = (row - previous) / dt
        fast = np.nonzero(np.abs(v) > vmax * (1 + slack) + slack)[0]
        if fast.size:
            j = fast[0]
            return f"step {step}: joint {j} moves at {v[j]} over its limit {vmax[j]}"
        if velocity is not None:
            jerk = np.nonzero(np.abs(v - velocity) > amax * dt * (1 + slack) + slack)[0]
            if jerk.size:
                j = jerk[0]
                return f"step {step}: joint {j} changes speed by {v[j] - velocity[j]} in one period, over {amax[j] * dt}"
        previous, velocity = row, v
    return None
