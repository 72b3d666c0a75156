"""The streaming service: Kafka in, scores, alerts, metrics, feedback and retraining.

It imports :mod:`dhag`, never the other way round. Only this placeholder exists so far; the service is
built in a later issue.
"""

__all__: list[str] = []
