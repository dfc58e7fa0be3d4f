"""Encryption at rest for state, plan and recovery files (AES-256-GCM).

The key comes from the environment: ``LMSCTL_STATE_KEY`` holds 32 random bytes, written as
base64 (44 characters) or hex (64 characters); ``lmsctl state keygen`` prints a new one (or
``openssl rand -base64 32``). With the key set, everything lmsctl writes to state, plan files
and recovery files is encrypted; without it, they are written in clear as before.

Every ciphertext is one JSON object, the *envelope*::

    {"alg": "AES-256-GCM", "kid": "<key id>", "data": "<base64 of nonce || ciphertext+tag>"}

``kid`` is a short hash of the key (never the key), so a wrong key is named as such instead of
failing as corruption. Each ciphertext is bound to its place by GCM's associated data (the
state's lineage and serial, the workspace and record address, the kind of file), so records
cannot be swapped or replayed elsewhere without failing authentication.

Payloads are opaque bytes here: callers serialise their own records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsctl.errors import StateKeyError

#: The environment variable that holds the key state is encrypted with.
KEY_ENV = "LMSCTL_STATE_KEY"
#: The key ``lmsctl state rekey`` re-encrypts to.
NEW_KEY_ENV = "LMSCTL_STATE_NEW_KEY"
ALG = "AES-256-GCM"
KEY_BYTES = 32
NONCE_BYTES = 12
#: AES-GCM's tag, at the end of an envelope's data
TAG_BYTES = 16
#: The field of a JSON document that holds its envelope.
FIELD = "encrypted"


@dataclass(frozen=True)
class StateKey:
    """One AES-256 key and its id."""

    secret: bytes = field(repr=False)
    kid: str

    @classmethod
    def from_bytes(cls, secret: bytes) -> StateKey:
        digest = hashlib.sha256(b"lmsctl state key id\0" + secret).hexdigest()
        return cls(secret=secret, kid=digest[:16])

    @classmethod
    def generate(cls) -> StateKey:
        return cls.from_bytes(secrets.token_bytes(KEY_BYTES))

    def export(self) -> str:
        """The key as LMSCTL_STATE_KEY holds it (base64)."""
        return base64.b64encode(self.secret).decode()


def parse_key(text: str, *, name: str = KEY_ENV) -> StateKey:
    """The key from its text form (base64 or hex of 32 bytes); StateKeyError if it is not one."""
    value = text.strip()
    raw: bytes | None = None
    if len(value) == 2 * KEY_BYTES:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
    if raw is None:
        b64 = value.replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != KEY_BYTES:
        raise StateKeyError(
            f"{name} is not a valid state key: it must be {KEY_BYTES} random bytes as base64 "
            f"(44 characters) or hex (64 characters)",
            hint=f"make one with: lmsctl state keygen (or: openssl rand -base64 {KEY_BYTES})",
        )
    return StateKey.from_bytes(raw)


def key_from_environment(
    name: str = KEY_ENV, env: Mapping[str, str] | None = None
) -> StateKey | None:
    """The key in the environment variable ``name``, None when it is unset or empty."""
    value = (os.environ if env is None else env).get(name, "").strip()
    return parse_key(value, name=name) if value else None


@dataclass(frozen=True)
class StateKeys:
    """The key new data is written with (None: in clear) and the keys that may read it."""

    write: StateKey | None = None
    extra_read: tuple[StateKey, ...] = ()
    #: the variable the write key comes from, named in errors
    source: str = KEY_ENV

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> StateKeys:
        return cls(write=key_from_environment(KEY_ENV, env))

    @property
    def encrypting(self) -> bool:
        return self.write is not None

    def readers(self) -> dict[str, StateKey]:
        found = {k.kid: k for k in self.extra_read}
        if self.write is not None:
            found[self.write.kid] = self.write
        return found

    # -- envelopes -----------------------------------------------------------------------------

    def seal(self, plain: bytes, aad: bytes) -> dict[str, str]:
        """Encrypt with the write key; an envelope (the caller checked ``encrypting``)."""
        key = self.write
        if key is None:  # pragma: no cover - callers check
            raise StateKeyError("no state key to encrypt with")
        sealer = Sealer(key, aad)  # (one part: the same envelope as a plan file sealed in parts)
        return sealer.envelope(sealer.update(plain) + sealer.finish())

    def open(self, envelope: Any, aad: bytes, where: str) -> bytes:
        """Decrypt an envelope; StateKeyError naming ``where`` and what to set when it cannot."""
        if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), str):
            raise _unknown_form(where)
        key = self._reading_key(envelope, where)
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            raw = base64.b64decode(envelope["data"], validate=True)
            return AESGCM(key.secret).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except (binascii.Error, ValueError, InvalidTag):
            raise _broken(where, key.kid) from None

    def opener(self, head: Mapping[str, Any], aad: bytes, where: str) -> Opener:
        """:meth:`open` a part at a time, for data too large to hold twice (a plan file of 100k
        changes): ``head`` is the envelope without its data (its ``alg`` and ``kid``), the data
        is given in parts to :meth:`Opener.update`. The same errors as :meth:`open`."""
        return Opener(self._reading_key(head, where), aad, where)

    def _reading_key(self, envelope: Mapping[str, Any], where: str) -> StateKey:
        """The key that opens an envelope (its data is not looked at)."""
        if envelope.get("alg") != ALG or not isinstance(envelope.get("kid"), str):
            raise _unknown_form(where)
        kid = envelope["kid"]
        key = self.readers().get(kid)
        if key is not None:
            return key
        if self.write is None:
            raise StateKeyError(
                f"{where} is encrypted (key id {kid}) and {self.source} is not set",
                hint=f"set {self.source} to the key it was encrypted with",
            )
        raise StateKeyError(
            f"{where} is encrypted with another key (key id {kid}) than {self.source} "
            f"(key id {self.write.kid})",
            hint=f"set {self.source} to the key it was encrypted with; after a rekey that "
            "is the new key, and an interrupted rekey finishes when run again",
        )

    def sealer(self, aad: bytes) -> Sealer:
        """:meth:`seal` a part at a time, for a plaintext too large to hold twice (a plan file of
        100k changes); the caller checked ``encrypting``."""
        if self.write is None:  # pragma: no cover - callers check
            raise StateKeyError("no state key to encrypt with")
        return Sealer(self.write, aad)

    def is_current(self, envelope: Any) -> bool:
        """True when ``envelope`` is sealed with the write key (or both are in clear)."""
        if not is_envelope(envelope):
            return self.write is None
        return self.write is not None and envelope.get("kid") == self.write.kid


class Sealer:
    """An envelope (what :meth:`StateKeys.seal` returns), from a plaintext given in parts.

    ``update(part)`` and then ``finish()`` give the envelope's ``data`` in pieces (base64 of
    nonce || ciphertext || tag: AES-GCM run incrementally gives the same ciphertext and tag as
    in one call), and ``envelope(data)`` the envelope around it.
    """

    def __init__(self, key: StateKey, aad: bytes) -> None:
        # OpenSSL is loaded only when something is encrypted
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self.kid = key.kid
        nonce = os.urandom(NONCE_BYTES)
        self._cipher = Cipher(algorithms.AES(key.secret), modes.GCM(nonce)).encryptor()
        self._cipher.authenticate_additional_data(aad)
        self._carry = nonce  # bytes not yet in base64 (it is written 3 bytes at a time)

    def _base64(self, data: bytes) -> str:
        data = self._carry + data
        cut = len(data) - len(data) % 3
        self._carry = data[cut:]
        return base64.b64encode(data[:cut]).decode()

    def update(self, plain: bytes) -> str:
        return self._base64(self._cipher.update(plain))

    def finish(self) -> str:
        tail = self._cipher.finalize() + self._cipher.tag
        data, self._carry = self._carry + tail, b""
        return base64.b64encode(data).decode()

    def envelope(self, data: str) -> dict[str, str]:
        return {"alg": ALG, "kid": self.kid, "data": data}


class Opener:
    """An envelope's data opened as it is given in parts (:meth:`StateKeys.opener`).

    ``update(text)`` takes the next part of the data's base64 and gives the plaintext decrypted
    so far; ``finish()`` checks the tag once the data has ended. The plaintext is not known to
    be genuine until ``finish`` returns: a caller may read it, but must not act on it before,
    and must drop what it read when ``finish`` fails (StateKeyError, the same as
    :meth:`StateKeys.open`'s). The last bytes given are held back: the tag is the data's end.
    """

    def __init__(self, key: StateKey, aad: bytes, where: str) -> None:
        self._key, self._aad, self._where = key, aad, where
        self._text = ""  # base64 not yet decoded (it is decoded 4 characters at a time)
        self._held = b""  # the nonce until it is whole, then the last TAG_BYTES bytes given
        self._cipher: Any = None

    def update(self, text: str) -> bytes:
        text = self._text + text
        cut = len(text) - len(text) % 4
        self._text = text[cut:]
        try:
            raw = self._held + base64.b64decode(text[:cut], validate=True)
        except (binascii.Error, ValueError):
            raise _broken(self._where, self._key.kid) from None
        if self._cipher is None:
            if len(raw) < NONCE_BYTES + TAG_BYTES:
                self._held = raw
                return b""
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

            nonce, raw = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
            self._cipher = Cipher(algorithms.AES(self._key.secret), modes.GCM(nonce)).decryptor()
            self._cipher.authenticate_additional_data(self._aad)
        self._held = raw[-TAG_BYTES:]
        plain: bytes = self._cipher.update(raw[:-TAG_BYTES])
        return plain

    def finish(self) -> None:
        """The data has ended: StateKeyError unless it is whole and unchanged."""
        from cryptography.exceptions import InvalidTag

        if self._text or self._cipher is None:  # base64 cut short, or not even a nonce and tag
            raise _broken(self._where, self._key.kid)
        try:
            self._cipher.finalize_with_tag(self._held)  # (GCM gives no bytes at the end)
        except (InvalidTag, ValueError):
            raise _broken(self._where, self._key.kid) from None


def _unknown_form(where: str) -> StateKeyError:
    return StateKeyError(
        f"{where} is encrypted in a form this lmsctl does not know",
        hint="upgrade lmsctl, or restore the file from a backup",
    )


def _broken(where: str, kid: str) -> StateKeyError:
    return StateKeyError(
        f"{where} fails its integrity check under key id {kid}: it was changed, "
        "truncated or copied from another place",
        hint="restore it from a backup; nothing was read from it",
    )


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and value.get("alg") == ALG and "data" in value


def aad(*parts: object) -> bytes:
    """Associated data from the parts that place a ciphertext (NUL-separated)."""
    return b"\0".join(str(p).encode() for p in ("lmsctl", *parts))


__all__ = [
    "ALG",
    "FIELD",
    "KEY_ENV",
    "NEW_KEY_ENV",
    "Opener",
    "Sealer",
    "StateKey",
    "StateKeys",
    "aad",
    "is_envelope",
    "key_from_environment",
    "parse_key",
]
