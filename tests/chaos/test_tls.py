"""TLS: the real server serves HTTPS with a certificate from a private CA (as a company would). The panel
refuses it while it does not trust that CA — and says so — and accepts it once `server.ca_bundle` names the
CA's certificate; the outcomes recorded meanwhile are then delivered exactly once."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from desktop.domain.errors import UserError
from desktop.domain.states import PopState
from desktop.ui.pop_view import describe_error
from tests.chaos.harness import (
    ServerProcess,
    assert_confirmed_exactly_once,
    seed_server_database,
    server_outcomes,
)
from tests.chaos.test_server_faults import BADGE_REASON, SYNCED, pop, record
from tests.gui.conftest import make_app, wait_for_state

pytestmark = pytest.mark.slow
CJK = re.compile(r"[\u4e00-\u9fff]")


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = (builder
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                               x509.DNSName("localhost")]), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """(CA certificate, server certificate, server key) as PEM files."""
    directory = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CallCue test company CA")])
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name,
                        key.public_key(), ca_key, ca=False)
    paths = directory / "company-ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, tls_files):
    directory = tmp_path_factory.mktemp("tls-server")
    database = seed_server_database(directory, customers=10)
    ca, cert, key = tls_files
    with ServerProcess(database.url, directory / "logs", tls=(cert, key), ca=ca) as server:
        server.database = database
        yield server


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_untrusted_certificate_is_refused_said_plainly_and_trusted_with_a_ca_bundle(
        qapp, qtbot, tmp_path, tls_server, tls_files, memory_keyring, language):
    database, ca = tls_server.database, str(tls_files[0])
    customer = database.customers[0 if language == "en" else 1]
    confirmed = set()
    # 1. With the company CA configured: a normal call, its outcome delivered over HTTPS.
    app = make_app(qapp, tmp_path, tls_server.base_url, database.token, language=language,
                   **{"server.ca_bundle": ca})
    try:
        app.start(show=True)
        pop(app, "trusted", customer)
        wait_for_state(qtbot, app, "trusted", PopState.LIVE)
        confirmed.add(record(qtbot, app))
        qtbot.waitUntil(lambda: confirmed <= set(server_outcomes(database.url)), timeout=10_000)
    finally:
        app.close()
    # 2. Without it (IT forgot the bundle): nothing is sent to the untrusted server, the agent is told why.
    app = make_app(qapp, tmp_path, tls_server.base_url, database.token, language=language)
    try:
        app.start(show=True)
        pop(app, "untrusted", customer)
        wait_for_state(qtbot, app, "untrusted", PopState.STALE)  # the cached copy, marked old
        confirmed.add(record(qtbot, app, "considering"))
        reason = BADGE_REASON["tls_failed"][language]
        qtbot.waitUntil(lambda: reason in app.window.sync_badge.text(), timeout=10_000)
        assert not confirmed <= set(server_outcomes(database.url))
    finally:
        app.close()
    # 3. The bundle configured again: what waited is delivered, once.
    app = make_app(qapp, tmp_path, tls_server.base_url, database.token, language=language,
                   **{"server.ca_bundle": ca})
    try:
        app.start(show=True)
        qtbot.waitUntil(lambda: SYNCED[language] in app.window.sync_badge.text()
                        and app.sync_service.state().pending == 0, timeout=20_000)
        assert_confirmed_exactly_once(database.url, confirmed)
    finally:
        app.close()


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_the_pop_says_the_certificate_is_not_trusted(qapp, language):
    from desktop.panel_session import resources_dir
    from desktop.ui.i18n import Texts

    texts = Texts(language, resources_dir() / "translations")
    text = describe_error(UserError("tls_failed", "TLS handshake with 127.0.0.1 failed"), texts)
    assert not text.startswith("tls_failed"), text
    if language == "zh_CN":
        assert CJK.search(text), text
