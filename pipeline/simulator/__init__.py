"""The simulated plant: physics of a fleet of pumps, fans and compressors, faults with ground truth,
plant-wide events (one cause on many assets at once), scheduled stops and starts, a training history
writer and a Kafka streamer (``python -m pipeline simulate``)."""

from pipeline.simulator.faults import (
    FAULT_KINDS,
    IN_RANGE_FAULTS,
    PLANT_EVENT_KINDS,
    SENSOR_FAULTS,
    Fault,
)
from pipeline.simulator.fleet import DEFAULT_TYPES, Fleet
from pipeline.simulator.physics import CORE_SENSORS, MACHINE_TYPES

__all__ = [
    "CORE_SENSORS",
    "DEFAULT_TYPES",
    "FAULT_KINDS",
    "IN_RANGE_FAULTS",
    "MACHINE_TYPES",
    "PLANT_EVENT_KINDS",
    "SENSOR_FAULTS",
    "Fault",
    "Fleet",
]
