"""One sandbox's runtime state: its store, clock, faults, rate-limit counters, ids and cursors."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import math
import random
import secrets
import threading
import uuid
from typing import Any

from lmsctl.sandbox.config import FaultConfig, SandboxConfig
from lmsctl.sandbox.seed import load_seed
from lmsctl.sandbox.seeding import load_seed_into
from lmsctl.sandbox.store import Store
from lmsctl.timeutil import format_api_datetime, utcnow

CURSOR_TTL_SECONDS = 2 * 60 * 60


class Sandbox:
    """Everything one sandbox app holds: store, clock, faults, rate-limit counters."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store(config.db_path)
        secret = self.store.get_meta("cursor_secret")
        if secret is None:
            secret = secrets.token_hex(16)
            self.store.set_meta("cursor_secret", secret)
        self._cursor_secret = secret.encode()
        seed = config.random_seed if config.random_seed is not None else None
        self._ids = random.Random(seed) if seed is not None else None
        self._rate_lock = threading.Lock()
        self._rate: dict[str, tuple[int, int]] = {}
        self._faults_text: str | None = None
        self.faults = config.faults
        self.dice = random.Random(config.random_seed)
        if not self.store.is_seeded():
            self.reseed()
        elif config.faults != FaultConfig():
            self.set_faults(config.faults)  # faults given at start win over stored ones
        else:
            self.refresh_faults()

    # clock ------------------------------------------------------------------------------------

    def clock_offset(self) -> float:
        """Seconds the sandbox clock is ahead of real time (kept in the db, shared)."""
        return float(self.store.get_meta("clock_offset") or 0.0)

    def now(self) -> dt.datetime:
        """The sandbox clock: the machine's time moved by the seed's clock start and by
        PUT /_sandbox/clock."""
        return utcnow() + dt.timedelta(seconds=self.clock_offset())

    def now_text(self) -> str:
        return format_api_datetime(self.now())

    def set_clock_offset(self, seconds: float) -> None:
        self.store.set_meta("clock_offset", repr(seconds))

    # seed -------------------------------------------------------------------------------------

    def reseed(self) -> None:
        """Back to the seed: roster, no coursework, the seed's clock start, the start faults."""
        seed = load_seed(self.config.seed_file)
        start = self.config.seeded_clock
        real = utcnow()
        load_seed_into(self.store, seed, format_api_datetime(start or real))
        if start is not None:
            self.set_clock_offset((start - real).total_seconds())
        self.set_faults(self.config.faults)

    # faults and rate limit --------------------------------------------------------------------

    def set_faults(self, faults: FaultConfig) -> None:
        """Use these faults, and keep them in the db so every sandbox on it sees them."""
        text = json.dumps(faults.to_dict(), sort_keys=True)
        self.store.set_meta("faults", text)
        self._use_faults(faults, text)

    def _use_faults(self, faults: FaultConfig, text: str) -> None:
        seed = faults.random_seed if faults.random_seed is not None else self.config.random_seed
        self.faults = faults
        self.dice = random.Random(seed)
        self._faults_text = text

    def refresh_faults(self) -> FaultConfig:
        """The faults in force (another sandbox on the same db may have changed them)."""
        text = self.store.get_meta("faults")
        if text is not None and text != self._faults_text:
            with contextlib.suppress(ValueError):  # unreadable settings keep the current ones
                self._use_faults(FaultConfig.from_dict(json.loads(text)), text)
        return self.faults

    @property
    def rate_limit(self) -> int:
        if self.faults.rate_limit is not None:
            return self.faults.rate_limit
        return self.config.rate_limit

    def take_rate(self, token: str, *, count: bool) -> tuple[bool, dict[str, str]]:
        """Count one request of ``token`` in this minute's window; (allowed, headers)."""
        limit = self.rate_limit
        now = self.now().timestamp()  # the sandbox clock, so tests can move the window
        window = math.floor(now / 60)
        reset = (window + 1) * 60
        with self._rate_lock:
            seen_window, used = self._rate.get(token, (window, 0))
            if seen_window != window:
                used = 0
            if count:
                used += 1
                self._rate[token] = (window, used)
        allowed = limit <= 0 or used <= limit
        headers = {
            "X-RateLimit-Limit": str(max(limit, 0)),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(reset),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
        return allowed, headers

    def reset_rate(self) -> None:
        with self._rate_lock:
            self._rate.clear()

    # ids and cursors --------------------------------------------------------------------------

    def new_uuid(self) -> str:
        if self._ids is not None:
            return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        return str(uuid.uuid4())

    def make_cursor(self, assignment_id: str, after_user: str, started: float, limit: int) -> str:
        payload = json.dumps({"a": assignment_id, "u": after_user, "t": started, "l": limit})
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        sig = hmac.new(self._cursor_secret, body.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{body}.{sig}"

    def read_cursor(self, cursor: str, assignment_id: str) -> dict[str, Any]:
        """Decode a cursor; ValueError('invalid') or ValueError('expired')."""
        body, _, sig = cursor.partition(".")
        # bytes, not str: compare_digest refuses non-ASCII str (a hostile cursor is just invalid)
        raw_body = body.encode("utf-8", "replace")
        good = hmac.new(self._cursor_secret, raw_body, hashlib.sha256).hexdigest()[:16]
        if not sig or not hmac.compare_digest(sig.encode("utf-8", "replace"), good.encode()):
            raise ValueError("invalid")
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError):
            raise ValueError("invalid") from None
        if (
            not isinstance(data, dict)
            or data.get("a") != assignment_id
            or not isinstance(data.get("t"), int | float)
        ):
            raise ValueError("invalid")
        if self.now().timestamp() - float(data["t"]) > CURSOR_TTL_SECONDS:
            raise ValueError("expired")
        return data
