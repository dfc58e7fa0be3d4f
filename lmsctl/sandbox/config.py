"""How a sandbox is set up: where it keeps data, what it is seeded with, which faults it injects."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEMO_TOKEN = "DEMO_TOKEN"
DEMO_SEED_PATH = Path(__file__).resolve().parent / "demo-seed.yaml"
DEMO_DISTRICT_ID = "5f1a0c0b8e1d2a0001000001"
#: where the demo sandbox's clock starts when its database is seeded (or reset): a few weeks
#: before the first due date in examples/coursework (2027-01-22), so the examples are in the
#: future for the demo whatever the machine's date; from there the clock runs at real speed
DEMO_CLOCK_START = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

#: HTTP methods a latency entry may name; "*" applies to every method without its own entry.
LATENCY_KEYS = ("*", "GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS")
_RATES = (
    "fail_rate",
    "fail_after_rate",
    "garble_after_rate",
    "drop_before_rate",
    "drop_after_rate",
)


@dataclass(frozen=True)
class FaultConfig:
    """Faults injected into answers under /v3.x (never under /_sandbox/).

    latency: method (or "*") -> (min, max) seconds, slept without blocking the event loop.
    fail_rate: share of requests answered ``fail_status`` without being processed.
    fail_after_rate: share of requests processed, then answered ``fail_status`` instead of their
        answer (a gateway in front of a slow backend that gave up after forwarding).
    garble_after_rate: share of requests processed, then answered 200 with an HTML page instead
        of their JSON answer (a proxy's error page).
    drop_before_rate: share of connections dropped before the request is processed.
    drop_after_rate: share of requests processed, then the connection dropped (the answer is lost).
    limit_status: what the rate limiter answers over the limit: 429 (Clever's), or 503 (a limiter
        that says 503; it sends Retry-After and X-RateLimit-Remaining: 0 like the 429).
    methods: only requests with these methods get faults (empty = every method).
    rate_limit: overrides SandboxConfig.rate_limit when set (0 or less disables the limit).
    random_seed: seeds the fault dice, so a failing run can be replayed.
    """

    latency: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    fail_rate: float = 0.0
    fail_status: int = 503
    fail_after_rate: float = 0.0
    garble_after_rate: float = 0.0
    drop_before_rate: float = 0.0
    drop_after_rate: float = 0.0
    limit_status: int = 429
    methods: tuple[str, ...] = ()
    rate_limit: int | None = None
    random_seed: int | None = None

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
        if not (isinstance(self.fail_status, int) and 500 <= self.fail_status <= 599):
            raise ValueError(f"fail_status must be a 5xx status, got {self.fail_status!r}")
        if self.limit_status not in (429, 503):
            raise ValueError(f"limit_status must be 429 or 503, got {self.limit_status!r}")
        for key, (low, high) in self.latency.items():
            if key not in LATENCY_KEYS:
                raise ValueError(
                    f"latency key must be one of {', '.join(LATENCY_KEYS)}, got {key!r}"
                )
            if not (0.0 <= low <= high) or math.isinf(high):
                raise ValueError(f"latency for {key} must be 0 <= min <= max, got [{low}, {high}]")

    @property
    def active(self) -> bool:
        return bool(self.latency or any(getattr(self, name) for name in _RATES))

    def latency_for(self, method: str) -> tuple[float, float] | None:
        return self.latency.get(method.upper()) or self.latency.get("*")

    def applies_to(self, method: str) -> bool:
        return not self.methods or method.upper() in self.methods

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from JSON (PUT /_sandbox/faults). ValueError names the first bad setting.

        ``latency`` takes a number (every method), ``{"PATCH": 0.3}`` or ``{"PATCH": [0.1, 0.5]}``.
        """
        if not isinstance(data, Mapping):
            raise ValueError("faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for name in _RATES:
            if name in data:
                kwargs[name] = _number(name, data[name])
        for name in ("fail_status", "limit_status"):
            if name in data:
                kwargs[name] = _integer(name, data[name])
        for name in ("rate_limit", "random_seed"):
            if data.get(name) is not None:
                kwargs[name] = _integer(name, data[name])
        if "methods" in data:
            methods = data["methods"]
            if isinstance(methods, str):
                methods = [methods]
            if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
                raise ValueError("methods must be a list of HTTP methods")
            kwargs["methods"] = tuple(m.upper() for m in methods)
        if data.get("latency") is not None:
            kwargs["latency"] = parse_latency(data["latency"])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency": {k: [lo, hi] for k, (lo, hi) in self.latency.items()},
            "fail_rate": self.fail_rate,
            "fail_status": self.fail_status,
            "fail_after_rate": self.fail_after_rate,
            "garble_after_rate": self.garble_after_rate,
            "drop_before_rate": self.drop_before_rate,
            "drop_after_rate": self.drop_after_rate,
            "limit_status": self.limit_status,
            "methods": list(self.methods),
            "rate_limit": self.rate_limit,
            "random_seed": self.random_seed,
        }


def parse_latency(value: Any) -> dict[str, tuple[float, float]]:
    """Latency settings from JSON or the command line.

    Accepts a number, ``[min, max]``, a mapping ``{"PATCH": 0.3, "*": [0, 0.1]}``, or the CLI form
    ``"0.2"``, ``"0.1-0.5"``, ``"PATCH=0.3"``, ``"PATCH=0.1-0.5,GET=0.05"``.
    """
    if isinstance(value, str):
        result: dict[str, tuple[float, float]] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            key, _, spec = part.rpartition("=")
            low, _, high = spec.partition("-")
            try:
                pair = (float(low), float(high or low))
            except ValueError:
                raise ValueError(
                    f"bad latency {part!r}: use SECONDS, MIN-MAX or METHOD=MIN-MAX"
                ) from None
            result[(key or "*").upper()] = pair
        return result
    if isinstance(value, Mapping):
        return {str(k).upper(): _pair(str(k), v) for k, v in value.items()}
    return {"*": _pair("latency", value)}


def _pair(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return (_number(name, value[0]), _number(name, value[1]))
    number = _number(name, value)
    return (number, number)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class SandboxConfig:
    """One sandbox: db_path None = in memory; seed_path None = the built-in demo district.

    clock_start: where the sandbox clock starts when the database is seeded (or reset); it runs
    at real speed from there. None = DEMO_CLOCK_START for the demo district, the machine's time
    for any other seed.

    sleep: how the gateway waits out an injected latency (``asyncio.sleep``); a test injects its
    own to hold requests in their latency and release them, without waiting real time.

    access_log: a file to append one JSON line per request to (see :mod:`.accesslog`).
    """

    db_path: Path | None = None
    seed_path: Path | None = None
    rate_limit: int = 1200
    faults: FaultConfig = field(default_factory=FaultConfig)
    random_seed: int | None = None
    clock_start: dt.datetime | None = None
    access_log: Path | None = None
    sleep: Callable[[float], Awaitable[None]] = field(
        default=asyncio.sleep, compare=False, repr=False
    )

    @property
    def seeded_clock(self) -> dt.datetime | None:
        """The time the clock starts at on seeding, or None for the machine's time."""
        if self.clock_start is not None:
            return self.clock_start
        return DEMO_CLOCK_START if self.seed_path is None else None

    @property
    def seed_file(self) -> Path:
        return self.seed_path if self.seed_path is not None else DEMO_SEED_PATH
