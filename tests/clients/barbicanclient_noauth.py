#!/usr/bin/env python3
"""End-to-end test: the real python-barbicanclient (library and `barbican` CLI)
against a Portcullis/Barbican server running in noauth mode (contract §3.2).

    scripts/pyvenv.sh
    PORTCULLIS_URL=http://127.0.0.1:9311 .venv/bin/python tests/clients/barbicanclient_noauth.py

Noauth usage is the library's own: a keystoneauth1 Session without auth plus
`endpoint=` and `project_id=`; the client then sends `X-Project-Id` on every
/v1 request (barbicanclient/client.py, _HTTPClient). The CLI equivalent is
`barbican --no-auth --endpoint URL --os-project-id P ...`.
PORTCULLIS_URL is the unversioned root (the client appends /v1/ itself).
Each run uses fresh uuid4 project ids, so runs are isolated from each other.
"""
import datetime
import json
import logging
import os
import re
import subprocess
import sys
import traceback
import uuid

from barbicanclient import client as bc
from barbicanclient import exceptions as bexc
from keystoneauth1 import session as ks_session

URL = os.environ.get("PORTCULLIS_URL", "http://127.0.0.1:9311").rstrip("/")
PROJECT = str(uuid.uuid4())
CLI_PROJECT = str(uuid.uuid4())
TAG = uuid.uuid4().hex[:8]
UTC = datetime.timezone.utc
EXP = (datetime.datetime.now(UTC) + datetime.timedelta(days=2)).replace(microsecond=0)
TEXT = "s3cr3t text \u00e9\u2713"           # non-ASCII: exercises UTF-8 handling
BLOB = bytes(range(256))                      # not valid UTF-8: exercises base64
REF_RE = re.compile(r"^https?://.+/v1/secrets/[0-9a-f-]{36}$")

# The library logs every 4xx at ERROR; the expected 404/405s would be noise.
logging.getLogger("barbicanclient").addHandler(logging.NullHandler())
logging.getLogger("barbicanclient").propagate = False


class Missing(Exception):
    pass


class State(dict):       # state shared between the ordered steps
    def __missing__(self, key):
        raise Missing(f"skipped: needs {key!r} from an earlier failed step")


S = State()
STEPS = []


def step(fn):
    STEPS.append(fn)
    return fn


def expect_http(status, fn, *args, **kwargs):
    """Call fn and assert it raises the client's HTTP error with `status`."""
    try:
        fn(*args, **kwargs)
    except bexc.HTTPError as e:
        assert e.status_code == status, f"expected {status}, got {e.status_code}: {e}"
        return e
    raise AssertionError(f"expected HTTP {status}, call succeeded")


# --------------------------------------------------------------- library ----
@step
def client_construction_negotiates_microversion():
    # Construction does version discovery (GET <endpoint> with
    # OpenStack-API-Version: key-manager 1.1) and picks the highest
    # microversion in [min_version, max_version] it knows (1.0..1.2).
    c = bc.Client(session=ks_session.Session(), endpoint=URL, project_id=PROJECT)
    assert c.client.microversion == "1.2", c.client.microversion
    assert c.client._default_headers == {"X-Project-Id": PROJECT}
    S["c"] = c


@step
def store_text_secret():
    s = S["c"].secrets.create(
        name=f"pc-{TAG}-text", payload=TEXT, algorithm="aes", bit_length=256,
        mode="cbc", secret_type="passphrase",
        expiration=EXP.strftime("%Y-%m-%dT%H:%M:%SZ"))
    ref = s.store()
    assert REF_RE.match(ref), ref
    assert s.secret_ref == ref
    S["text"] = ref


@step
def store_binary_secret():
    s = S["c"].secrets.create(
        name=f"pc-{TAG}-bin", payload=BLOB, algorithm="AES", bit_length=2048,
        mode="ctr", secret_type="symmetric",
        expiration=EXP.strftime("%Y-%m-%dT%H:%M:%S"))       # no zone = UTC
    S["bin"] = s.store()
    assert REF_RE.match(S["bin"]), S["bin"]
    assert S["bin"] != S["text"]


@step
def get_text_secret():
    s = S["c"].secrets.get(S["text"])          # lazy: GET happens on access
    assert s.name == f"pc-{TAG}-text"
    assert (s.algorithm, s.bit_length, s.mode, s.secret_type) == ("aes", 256, "cbc", "passphrase")
    assert s.expiration == EXP, s.expiration
    assert s.status == "ACTIVE"
    assert s.content_types == {"default": "text/plain"}, s.content_types
    assert isinstance(s.created, datetime.datetime) and isinstance(s.updated, datetime.datetime)
    assert s.consumers == []
    assert s.payload == TEXT and isinstance(s.payload, str), repr(s.payload)


@step
def get_binary_secret():
    s = S["c"].secrets.get(S["bin"])
    assert s.name == f"pc-{TAG}-bin"
    assert (s.algorithm, s.bit_length, s.mode, s.secret_type) == ("AES", 2048, "ctr", "symmetric")
    assert s.expiration == EXP, s.expiration
    assert s.content_types == {"default": "application/octet-stream"}, s.content_types
    assert s.payload == BLOB and isinstance(s.payload, bytes), repr(s.payload)[:80]


@step
def get_payload_with_explicit_content_type():
    # Passing payload_content_type skips the metadata GET: straight to /payload.
    secrets = S["c"].secrets
    assert secrets.get(S["bin"], "application/octet-stream").payload == BLOB
    assert secrets.get(S["text"], "text/plain").payload == TEXT
    assert secrets.get(S["text"], "application/octet-stream").payload == TEXT.encode()


@step
def list_secrets():
    secrets = S["c"].secrets
    by_name = secrets.list(name=f"pc-{TAG}-text")
    assert [x.secret_ref for x in by_name] == [S["text"]], by_name
    item = by_name[0]                    # built from the list item, no extra GET
    assert (item.name, item.algorithm, item.bit_length) == (f"pc-{TAG}-text", "aes", 256)
    assert item.content_types == {"default": "text/plain"}
    assert secrets.total() == 2
    assert {x.secret_ref for x in secrets.list()} == {S["text"], S["bin"]}
    page1, page2 = secrets.list(limit=1), secrets.list(limit=1, offset=1)
    assert len(page1) == 1 and len(page2) == 1
    assert {page1[0].secret_ref, page2[0].secret_ref} == {S["text"], S["bin"]}
    assert secrets.list(limit=1, offset=2) == []
    assert [x.secret_ref for x in secrets.list(secret_type="symmetric")] == [S["bin"]]
    assert [x.secret_ref for x in secrets.list(bits=2048)] == [S["bin"]]
    assert secrets.list(name=f"pc-{TAG}-nope") == []


@step
def list_is_project_scoped():
    other = bc.Client(session=ks_session.Session(), endpoint=URL, project_id=str(uuid.uuid4()))
    assert other.secrets.list(name=f"pc-{TAG}-text") == []
    assert other.secrets.total() == 0


@step
def secret_metadata():
    secrets, ref = S["c"].secrets, S["text"]
    uid = ref.rsplit("/", 1)[1]
    assert secrets.get_secret_metadata(ref) == {"metadata": {}}
    r = secrets.set_secret_metadata(ref, {"Color": "blue", "size": "L"})
    assert r["metadata_ref"].endswith(f"/v1/secrets/{uid}/metadata"), r
    # keys are lowercased by the server, values are not
    assert secrets.get_secret_metadata(ref) == {"metadata": {"color": "blue", "size": "L"}}
    assert secrets.get_secret_metadata(ref, "size") == {"key": "size", "value": "L"}
    secrets.delete_secret_metadata(ref, "size")
    assert secrets.get_secret_metadata(ref) == {"metadata": {"color": "blue"}}
    expect_http(404, secrets.get_secret_metadata, ref, "size")
    # replace-all semantics
    secrets.set_secret_metadata(ref, {"k1": "v1"})
    assert secrets.get_secret_metadata(ref) == {"metadata": {"k1": "v1"}}
    # add_secret_metadata() POSTs to .../metadata/{key}: the reference answers
    # 405 (contract §5.3); a drop-in must do the same.
    expect_http(405, secrets.add_secret_metadata, ref, "k2", "v2")
    assert secrets.get_secret_metadata(ref) == {"metadata": {"k1": "v1"}}


@step
def two_step_store_then_update():
    secrets = S["c"].secrets
    ref = secrets.create(name=f"pc-{TAG}-empty").store()    # metadata only
    s = secrets.get(ref)
    assert s.content_types is None and s.payload is None
    secrets.update(ref, "later payload")                   # PUT text/plain
    s = secrets.get(ref)
    assert s.content_types == {"default": "text/plain"}
    assert s.payload == "later payload"
    secrets.delete(ref)


@step
def delete_secrets():
    secrets = S["c"].secrets
    for ref in (S["text"], S["bin"]):
        secrets.delete(ref)
        e = expect_http(404, lambda: secrets.get(ref).name)
        assert "Not Found" in str(e), str(e)
        expect_http(404, lambda: secrets.get(ref, "text/plain").payload)
        expect_http(404, secrets.delete, ref)
    assert secrets.list() == [] and secrets.total() == 0


# ------------------------------------------------------------------- CLI ----
def cli(*args, ok=True):
    exe = os.path.join(os.path.dirname(sys.executable), "barbican")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BARBICAN_"))}
    p = subprocess.run(
        [exe, "--no-auth", "--endpoint", URL, "--os-project-id", CLI_PROJECT, *args],
        capture_output=True, text=True, env=env, timeout=60)
    if ok:
        assert p.returncode == 0, f"barbican {' '.join(args)} -> rc {p.returncode}\n{p.stderr}"
    return p


def cli_json(*args):
    return json.loads(cli(*args, "-f", "json").stdout)


@step
def cli_secret_store():
    name = f"pc-{TAG}-cli"
    out = cli_json("secret", "store", "--name", name, "--payload", "cli payload",
                   "--payload-content-type", "text/plain", "--secret-type", "passphrase",
                   "--algorithm", "aes", "--bit-length", "256", "--mode", "cbc",
                   "--expiration", EXP.strftime("%Y-%m-%dT%H:%M:%S"))
    assert REF_RE.match(out["Secret href"]), out
    assert (out["Name"], out["Algorithm"], out["Bit length"], out["Secret type"]) == \
        (name, "aes", 256, "passphrase"), out
    S["cli_text"] = out["Secret href"]
    # Without -t the CLI sends the payload as bytes: base64 application/octet-stream.
    out = cli_json("secret", "store", "--name", f"pc-{TAG}-cli-bin", "--payload", "raw payload")
    assert REF_RE.match(out["Secret href"]), out
    S["cli_bin"] = out["Secret href"]


@step
def cli_secret_get():
    out = cli_json("secret", "get", S["cli_text"])
    assert out["Secret href"] == S["cli_text"]
    assert (out["Name"], out["Status"], out["Algorithm"], out["Bit length"], out["Mode"]) == \
        (f"pc-{TAG}-cli", "ACTIVE", "aes", 256, "cbc"), out
    assert out["Content types"] == {"default": "text/plain"}, out
    assert out["Expiration"] == EXP.isoformat(), out
    out = cli_json("secret", "get", S["cli_bin"])
    assert out["Content types"] == {"default": "application/octet-stream"}, out
    assert (out["Secret type"], out["Algorithm"], out["Bit length"], out["Mode"]) == \
        ("opaque", "aes", 256, "cbc"), out             # CLI defaults


@step
def cli_secret_get_payload():
    assert cli_json("secret", "get", "--payload", S["cli_text"]) == {"Payload": "cli payload"}
    assert cli("secret", "get", "--payload", S["cli_text"], "-f", "value").stdout == "cli payload\n"
    # default -t text/plain: an octet-stream secret that is valid UTF-8 comes back as text
    assert cli_json("secret", "get", "--payload", S["cli_bin"]) == {"Payload": "raw payload"}


@step
def cli_secret_list():
    rows = cli_json("secret", "list", "--name", f"pc-{TAG}-cli")
    assert [r["Secret href"] for r in rows] == [S["cli_text"]], rows
    assert rows[0]["Name"] == f"pc-{TAG}-cli"
    rows = cli_json("secret", "list")
    assert {r["Secret href"] for r in rows} == {S["cli_text"], S["cli_bin"]}, rows
    assert len(cli_json("secret", "list", "--limit", "1")) == 1


@step
def cli_secret_delete():
    for ref in (S["cli_text"], S["cli_bin"]):
        p = cli("secret", "delete", ref)
        assert p.stdout == "", p.stdout
        p = cli("secret", "get", ref, ok=False)
        assert p.returncode != 0 and "Secret not found" in p.stderr, (p.returncode, p.stderr)
    assert cli_json("secret", "list") == []


def main():
    passed = failed = 0
    for fn in STEPS:
        try:
            fn()
        except Missing as e:
            failed += 1
            print(f"FAIL {fn.__name__}: {e}", file=sys.stderr)
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", file=sys.stderr)
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
