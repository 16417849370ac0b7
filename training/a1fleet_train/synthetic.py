"""Writes a small synthetic dataset in the a1fleet-training-v1 format (for CI and development).

    /usr/bin/python3 -m a1fleet_train.synthetic --out DIR [--episodes 12 --frames 10 --size 32 --seed 0]
"""
import argparse

from .data import write_synthetic


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--episodes", type=int, default=12)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    write_synthetic(a.out, episodes=a.episodes, frames_per_episode=a.frames, seed=a.seed, size=a.size)


if __name__ == "__main__":
    main()
