"""A1Fleet's Python robot client: the API robot programmers asked A1 for, served by a fleet.

    from a1fleet import A1Policy
    policy = A1Policy.from_pretrained("http://silo:6789", credential=open("/etc/a1fleet/arm.key").read().strip(),
                                      latency_budget_ms=100)
    actions = policy.predict(image=[front, wrist], instruction="put the cup away", robot_state=q)
    policy.set_budget(latency_ms=80)
    policy.get_inference_stats()

Pure Python; needs numpy and requests (Debian: python3-numpy, python3-requests). Talks to the silo's A1-compatible
HTTP endpoint (docs/compatible-protocols.md).
"""

from .policy import A1Policy, A1FleetError

__all__ = ["A1Policy", "A1FleetError"]
__version__ = "0.1.0"
