"""config.asgi.application (Django and the /mcp mount) served by uvicorn in a thread of the test process, on a
free port of 127.0.0.1, optionally behind TLS with a certificate made for the test.

Tests using it need ``django_db(transaction=True)``: the server's threads see committed data only. Being in
the test process, the server sees what the ``settings`` fixture changes (RUNS_EAGER, limits)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(tls_dir: Path | None = None) -> Iterator[str]:
    """Yield the server's base URL (``https://`` with ``tls_dir``; its certificate: ``tls_dir/cert.pem``)."""
    import uvicorn
    from asgiref.sync import sync_to_async
    from django.db import connections

    from config.asgi import application

    port = free_port()
    options: dict = {}
    if tls_dir is not None:
        cert, key = self_signed_certificate(tls_dir)
        options = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"{'https' if tls_dir else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=1)
        server.force_exit = True  # keep-alive connections of the clients under test: close them, don't wait
        thread.join(timeout=10)
        # ORM calls made for async code ran in asgiref's shared sync thread: close its connections there
        asyncio.run(sync_to_async(connections.close_all)())


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost (its own CA), valid for a day: ``cert.pem``, ``key.pem``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
