"""AnalyticsClient against the real server on loopback, and against a fault injector for what a healthy
server never does (500s, broken JSON, hangs, a TLS certificate from an unknown CA)."""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import logging
import ssl
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from desktop.domain.states import PopKey
from desktop.remote.api_client import (
    MAX_ANSWER_BYTES,
    AnalyticsClient,
    AnswerTooLarge,
    AuthFailed,
    BadResponse,
    InvalidRequest,
    RateLimited,
    ServerFailed,
    TimedOut,
    TlsFailed,
    UnknownCaller,
    Unreachable,
)
from server_stub.live import free_port
from tests.desktop_core.fault_server import Drip, Flood, Hang, Reply, fault_server

FAST = {"timeout": (0.5, 0.5)}


def test_pop_by_number_and_by_customer_id(live):
    client = live.client()
    doc = client.pop(PopKey(ani="+86 138 0013 8000"))
    assert doc.customer.customer_id == "C-PLAIN" and doc.customer.masked_msisdn == "138****8000"
    assert client.pop(PopKey(customer_id="C-COMPLAINT")).customer.display_name == "王芳"
    client.close()


def test_unknown_caller(live):
    with pytest.raises(UnknownCaller) as caught:
        live.client().pop(PopKey(ani="19999999999"))
    assert caught.value.user_error.code == "unknown_caller"


def test_short_number_is_an_invalid_request(live):
    with pytest.raises(InvalidRequest, match="at least 5 digits"):
        live.client().pop(PopKey(ani="123"))


def test_wrong_or_missing_token_is_auth_failed(live):
    with pytest.raises(AuthFailed, match="Not signed in"):
        live.client(token="cc_0000000000000000_wrong").pop(PopKey(customer_id="C-PLAIN"))
    with pytest.raises(AuthFailed, match="not signed in"):
        AnalyticsClient(live.base_url, lambda: None).pop(PopKey(customer_id="C-PLAIN"))


def test_search_health_offers(live):
    client = live.client()
    assert [c.customer_id for c in client.search("王", 5)] == ["C-COMPLAINT"]
    assert client.health()["status"] == "ok"
    assert {o["offer_id"] for o in client.offers()} >= {"CARE-CHECKUP", "PLAN-5G-199"}


def test_post_outcomes_reports_each_item(live):
    client = live.client()
    doc = client.pop(PopKey(customer_id="C-PLAIN"))
    item = {"outcome_id": str(uuid.uuid4()), "decision_id": doc.decision_id, "customer_id": "C-PLAIN",
            "offer_id": doc.offers[0].offer_id, "result": "considering",
            "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
    bad = {**item, "outcome_id": str(uuid.uuid4()), "offer_id": "NO-SUCH-OFFER"}
    results = client.post_outcomes([item, bad, item])
    assert [r.status for r in results] == ["accepted", "rejected", "duplicate"]
    assert "NO-SUCH-OFFER" in results[1].reason


def test_server_down_is_unreachable():
    client = AnalyticsClient(f"http://127.0.0.1:{free_port()}", lambda: "cc_x_y", **FAST)
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        client.pop(PopKey(ani="13800138000"))
    assert time.monotonic() - started < 2
    assert caught.value.user_error.code == "server_unreachable"
    assert "13800138000" not in str(caught.value)  # the query string never reaches messages


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(status):
    reply = Reply(status, {"error": {"code": "boom", "message": "internal error"}}, {"Retry-After": "7"})
    with fault_server(reply) as fault, pytest.raises(ServerFailed) as caught:
        AnalyticsClient(fault.base_url, lambda: "t", **FAST).pop(PopKey(ani="13800138000"))
    assert caught.value.status == status and caught.value.retry_after == 7
    assert caught.value.user_error.code == "server_error"
    assert len(fault.requests_seen) == 1  # a 5xx is not retried (the server got the request)


def test_malformed_json():
    with fault_server(Reply(200, '{"api_version": "1", "decision_id": ')) as fault, \
            pytest.raises(BadResponse, match="not JSON"):
        AnalyticsClient(fault.base_url, lambda: "t", **FAST).pop(PopKey(ani="13800138000"))


def test_schema_violating_json_names_the_field(server_docs):
    body = copy.deepcopy(server_docs["plain"])
    body["offers"][0]["script"] = None
    expected = r"/v1/pop: offers\[0\]\.script should be an object, got null"
    with fault_server(Reply(200, body)) as fault, pytest.raises(BadResponse, match=expected):
        AnalyticsClient(fault.base_url, lambda: "t", **FAST).pop(PopKey(ani="13800138000"))


def test_html_from_a_proxy_and_wrong_path():
    portal = Reply(200, "<html>captive portal</html>", {"Content-Type": "text/html"})
    with fault_server(portal) as fault, pytest.raises(BadResponse):
        AnalyticsClient(fault.base_url, lambda: "t", **FAST).health()
    missing = Reply(404, {"error": {"code": "not_found", "message": "No such endpoint."}})
    with fault_server(missing) as fault, pytest.raises(BadResponse, match="is the server URL right"):
        AnalyticsClient(fault.base_url, lambda: "t", **FAST).pop(PopKey(ani="13800138000"))


def test_hanging_server_times_out_within_the_timeout():
    with fault_server(Hang()) as fault:
        client = AnalyticsClient(fault.base_url, lambda: "t", timeout=(0.5, 0.4))
        started = time.monotonic()
        with pytest.raises(TimedOut) as caught:
            client.pop(PopKey(ani="13800138000"))
        elapsed = time.monotonic() - started
        client.close()
    assert elapsed < 1.5, elapsed
    assert caught.value.user_error.code == "timeout"
    assert len(fault.requests_seen) == 1  # a read timeout is not retried


def test_sync_requests_get_the_longer_timeout():
    with fault_server(Hang()) as fault:
        client = AnalyticsClient(fault.base_url, lambda: "t", timeout=(0.5, 0.2), sync_timeout=(0.5, 0.6))
        started = time.monotonic()
        with pytest.raises(TimedOut):
            client.post_outcomes([{"outcome_id": "x"}])
        assert 0.55 <= time.monotonic() - started < 2
        client.close()


# --- answers that trickle in, and answers too large to read --------------------------------------------


@pytest.mark.parametrize("interval_s", [0.05, 0.5], ids=["fast_drip", "slow_drip"])
@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "status_and_headers"])
def test_an_answer_dripping_byte_by_byte_ends_at_the_deadline(headers_too, interval_s):
    """Each byte comes well within the read timeout, so only a deadline for the whole answer ends the wait
    (it used to last as long as the drip: 120 s for a pop). With a byte every 0.5 s, a read that starts
    shortly before the deadline must not wait past it for the next byte."""
    drip = Drip(body=b'{"status": "ok", "padding": "' + b"x" * 60 + b'"}', interval_s=interval_s,
                headers_too=headers_too)
    with fault_server(drip) as fault:
        client = AnalyticsClient(fault.base_url, lambda: "t", timeout=(0.5, 0.6))
        started = time.monotonic()
        with pytest.raises(TimedOut) as caught:
            client.health()
        elapsed = time.monotonic() - started
        client.close()
        assert not fault.dripped.is_set()  # the client hung up before the answer was complete
    assert 0.55 <= elapsed < 0.6 + 0.3, elapsed
    assert caught.value.user_error.code == "timeout"
    assert len(fault.requests_seen) == 1  # not retried


def test_outcome_batches_get_their_own_longer_deadline():
    with fault_server(Drip(body=b"x" * 100, interval_s=0.05)) as fault:
        client = AnalyticsClient(fault.base_url, lambda: "t", timeout=(0.5, 0.2), sync_timeout=(0.5, 0.7))
        started = time.monotonic()
        with pytest.raises(TimedOut):
            client.post_outcomes([{"outcome_id": "x"}])
        elapsed = time.monotonic() - started
        client.close()
    assert 0.65 <= elapsed < 0.7 + 0.4, elapsed


def test_a_slow_but_steady_answer_within_the_deadline_is_read(server_docs):
    """The deadline bounds the whole answer; it does not cut one that is slow but arrives in time."""
    import json

    body = json.dumps({"status": "ok", "api_version": "1", "server_version": "x", "rules_version": "x",
                       "database": "ok"}).encode()
    with fault_server(Drip(body=body, interval_s=0.002)) as fault:
        client = AnalyticsClient(fault.base_url, lambda: "t", timeout=(0.5, 3.0))
        assert client.health()["status"] == "ok"
        client.close()
        assert fault.dripped.wait(timeout=5)


def test_the_deadline_leaves_kept_alive_connections_usable(live):
    """Pooled connections carry no leftover of an earlier deadline: many quick requests in a row."""
    client = live.client(timeout=(0.5, 1.0))
    for _ in range(20):
        assert client.pop(PopKey(customer_id="C-PLAIN")).customer.customer_id == "C-PLAIN"
    client.close()


FLOODS = {
    "declared": Flood(50_000_000),  # Content-Length says 50 MB: refused before reading any of it
    "undeclared": Flood(50_000_000, declare=False),  # no length: refused once the cap is passed
    "gzip": Flood(50_000_000, gzip=True),  # 48 KB on the wire, 50 MB unpacked
}


@pytest.mark.parametrize("flood", list(FLOODS))
def test_an_answer_over_the_cap_is_refused_and_memory_stays_bounded(flood):
    import tracemalloc

    with fault_server(FLOODS[flood]) as fault:
        client = AnalyticsClient(fault.base_url, lambda: "t", timeout=(1.0, 10.0))
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(AnswerTooLarge) as caught:
                client.pop(PopKey(ani="13800138000"))
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            client.close()
    assert caught.value.user_error.code == "answer_too_large"
    assert isinstance(caught.value, BadResponse)  # a pop falls back to saved data, as for any bad answer
    assert f"{MAX_ANSWER_BYTES:,}" in str(caught.value)
    assert peak < 2 * MAX_ANSWER_BYTES + 4 * 1024 * 1024, f"peak {peak:,} bytes"  # was 150 MB for 50 MB
    assert elapsed < 5, elapsed
    if flood != "gzip":
        assert fault.flooded < 50_000_000  # the rest was never read
    if flood == "declared":
        assert "would be 50,000,000 bytes" in str(caught.value)  # refused by its length, before reading


def test_an_answer_under_the_cap_is_read_whole(live):
    client = live.client()
    client.max_answer_bytes = 1_000
    with pytest.raises(AnswerTooLarge):
        client.pop(PopKey(customer_id="C-PLAIN"))  # ~10 KiB
    client.max_answer_bytes = MAX_ANSWER_BYTES
    assert client.pop(PopKey(customer_id="C-PLAIN")).customer.customer_id == "C-PLAIN"
    client.close()


def test_a_compressed_answer_under_the_cap_is_read():
    import gzip
    import json

    health = {"status": "ok", "api_version": "1", "server_version": "x", "rules_version": "x", "database": "ok"}
    packed = Reply(200, gzip.compress(json.dumps(health).encode()), {"Content-Encoding": "gzip"})
    with fault_server(packed) as fault:
        client = AnalyticsClient(fault.base_url, lambda: "t", **FAST)
        assert client.health() == health
        client.close()


def test_tokens_and_numbers_never_logged(live, caplog):
    caplog.set_level(logging.DEBUG, logger="callcue")
    client = live.client()
    client.pop(PopKey(ani="13800138000"))
    text = caplog.text
    assert "/v1/pop" in text
    assert live.token not in text and "13800138000" not in text and "8000" not in text


# --- TLS with a company CA ------------------------------------------------------------------------------


def _certificates(directory):
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CallCue Test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


def test_custom_ca_bundle(tmp_path):
    ca_file, cert_file, key_file = _certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    health = {"status": "ok", "api_version": "1", "server_version": "x", "rules_version": "x", "database": "ok"}
    with fault_server(Reply(200, health), tls_context=context) as fault:
        trusted = AnalyticsClient(fault.base_url, lambda: "t", verify=str(ca_file), **FAST)
        assert trusted.health()["status"] == "ok"
        trusted.close()
        untrusted = AnalyticsClient(fault.base_url, lambda: "t", **FAST)
        with pytest.raises(TlsFailed) as caught:
            untrusted.health()
        untrusted.close()
    assert caught.value.user_error.code == "tls_failed"
    assert isinstance(caught.value, Unreachable)  # a pop falls back to cached data like any outage


def test_proxy_and_ca_settings_come_from_the_environment_once(monkeypatch, tmp_path):
    """Read at construction (requests would re-read the environment on every request): a proxy applies
    unless NO_PROXY names the server; REQUESTS_CA_BUNDLE stands in for the default trust store."""
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("not read here")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "analytics.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    proxied = AnalyticsClient("https://analytics.example.com", lambda: "t")
    direct = AnalyticsClient("https://analytics.internal", lambda: "t")
    pinned = AnalyticsClient("https://analytics.example.com", lambda: "t", verify="/etc/callcue/ca.pem")
    try:
        assert proxied._session.proxies.get("https") == "http://proxy.example:3128"
        assert "https" not in direct._session.proxies
        assert not proxied._session.trust_env
        assert proxied.verify == str(bundle)
        assert pinned.verify == "/etc/callcue/ca.pem"  # a configured bundle wins over the environment
    finally:
        for client in (proxied, direct, pinned):
            client.close()


def test_a_sign_in_over_its_pop_limit_is_told_to_wait(tmp_path):
    """The server's per-token limit (429 rate_limited) reaches the panel as its own error with the wait,
    not as a server fault."""
    from server_stub.live import live_server
    from server_stub.services.limits import Limit, RateLimits
    from tests.desktop_core.conftest import prepare_server_database

    url, engine, token = prepare_server_database(tmp_path / "server.sqlite3")
    limits = RateLimits(pop=Limit(1, 2), search=Limit(0, 0))
    try:
        with live_server(url, tmp_path / "logs", rate_limits=limits) as server:
            client = AnalyticsClient(server.base_url, lambda: token)
            try:
                for _ in range(2):
                    client.pop(PopKey(customer_id="C-PLAIN"))
                with pytest.raises(ServerFailed) as caught:
                    client.pop(PopKey(customer_id="C-PLAIN"))
            finally:
                client.close()
    finally:
        engine.dispose()
    assert isinstance(caught.value, RateLimited) and caught.value.user_error.code == "rate_limited"
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60
    assert "1 a minute" in str(caught.value)  # the server's explanation, for the log and IT
    assert caught.value.user_error.detail == ""  # the agent reads the message of their language only
