"""The client's HTTP/1.1 connections over real sockets: what arrives at a server, and what
each way a connection can fail means (a request that never left is retried, even a create; a
create whose answer was lost has an unknown outcome; a read that got no answer is retried)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lmsctl.client.lms import LmsClient
from lmsctl.errors import OutcomeUnknownError, TransportError

SECTION = "6a5e00000101000000000101"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return head, body


def _answer(status: int, body: bytes, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _client(url: str, **kw: object) -> LmsClient:
    async def no_sleep(_: float) -> None:
        return None

    options: dict[str, object] = {"max_retries": 2, "sleep": no_sleep, "timeout": 5.0}
    options.update(kw)
    return LmsClient(url, "tok-SECRET-1", **options)  # type: ignore[arg-type]


async def _serve(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


def test_a_request_arrives_as_httpx_would_send_it_and_a_gzipped_answer_is_read() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # one connection, kept alive for both requests
            try:
                head, body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            seen.append((head, body))
            answer = json.dumps({"data": {"id": "a1", "title": "Essay"}}).encode()
            writer.write(
                _answer(
                    201 if head.startswith(b"POST") else 200,
                    gzip.compress(answer),
                    "Content-Type: application/json",
                    "Content-Encoding: gzip",
                )
            )
            await writer.drain()
        writer.close()

    async def main() -> tuple[dict[str, object], dict[str, object]]:
        server = await _serve(handler)
        async with server, _client(f"http://127.0.0.1:{_port(server)}/v3.1") as client:
            made = await client.create_assignment(SECTION, {"title": "Essay ü"})
            got = await client.get_assignment(SECTION, "a1")
            return made, got

    made, got = asyncio.run(main())
    assert made["title"] == "Essay" and got["id"] == "a1"
    assert len(seen) == 2
    (post_head, post_body), (get_head, get_body) = seen
    assert post_head.startswith(f"POST /v3.1/sections/{SECTION}/assignments HTTP/1.1".encode())
    assert json.loads(post_body) == {"title": "Essay ü"}
    lines = [line.lower() for line in post_head.split(b"\r\n")]
    for name in (b"host:", b"content-length:", b"authorization:", b"content-type:"):
        assert sum(line.startswith(name) for line in lines) == 1, name
    assert b"authorization: bearer tok-secret-1" in lines
    assert get_head.startswith(f"GET /v3.1/sections/{SECTION}/assignments/a1 HTTP/1.1".encode())
    assert get_body == b""


def test_a_closed_port_is_a_request_that_never_left_so_even_a_create_is_retried() -> None:
    async def main() -> None:
        server = await _serve(lambda r, w: asyncio.sleep(0))
        port = _port(server)
        server.close()
        await server.wait_closed()  # nothing listens on the port now
        async with _client(f"http://127.0.0.1:{port}/v3.1") as client:
            with pytest.raises(TransportError, match="cannot connect") as err:
                await client.create_assignment(SECTION, {"title": "Essay"})
            assert not isinstance(err.value, OutcomeUnknownError)
            assert client.stats.retries == 2  # sent again: it never arrived

    asyncio.run(main())


@pytest.mark.parametrize("fault", ["never answers", "hangs up after reading"])
def test_a_create_whose_answer_never_comes_has_an_unknown_outcome_and_is_sent_once(
    fault: str,
) -> None:
    received = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        try:
            await _read_request(reader)
            received += 1
            if fault == "never answers":
                await asyncio.sleep(30)
        finally:
            writer.close()

    async def main() -> None:
        server = await _serve(handler)
        async with server, _client(f"http://127.0.0.1:{_port(server)}/v3.1", timeout=0.5) as c:
            with pytest.raises(OutcomeUnknownError, match="may or may not"):
                await c.create_assignment(SECTION, {"title": "Essay"})
            server.close()

    asyncio.run(main())
    assert received == 1


@pytest.mark.parametrize("sent", [b"", b"SSH-2.0-OpenSSH_9.6\r\n\r\n"], ids=["nothing", "not http"])
def test_a_read_that_gets_no_answer_is_sent_again_and_then_reported(sent: bytes) -> None:
    received = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        await _read_request(reader)
        received += 1
        writer.write(sent)  # (nothing, or an answer that is not HTTP)
        await writer.drain()
        writer.close()  # the connection breaks before an answer

    async def main() -> None:
        server = await _serve(handler)
        async with server, _client(f"http://127.0.0.1:{_port(server)}/v3.1") as client:
            with pytest.raises(TransportError, match="connection broke") as err:
                await client.get_assignment(SECTION, "a1")
            assert not isinstance(err.value, OutcomeUnknownError)

    asyncio.run(main())
    assert received == 3  # the first try and two retries


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_trusts_what_ssl_cert_file_names_and_refuses_an_unknown_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_request(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()
            return
        writer.write(_answer(200, b'{"data": {"id": "a1"}}', "Content-Type: application/json"))
        await writer.drain()
        writer.close()

    async def get(port: int) -> dict[str, object]:
        async with _client(f"https://localhost:{port}/v3.1") as client:
            return await client.get_assignment(SECTION, "a1")

    async def main() -> None:
        server = await _serve(handler, server_tls)
        async with server:
            port = _port(server)
            monkeypatch.delenv("SSL_CERT_FILE", raising=False)
            monkeypatch.delenv("SSL_CERT_DIR", raising=False)
            with pytest.raises(TransportError, match="cannot connect"):
                await get(port)
            monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
            assert (await get(port))["id"] == "a1"

    asyncio.run(main())
