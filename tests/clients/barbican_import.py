"""Objects made through a real Barbican, read back after `portcullis import barbican`.

    python barbican_import.py create USERS_ENV RECORD.json   # against Barbican
    python barbican_import.py check  USERS_ENV RECORD.json   # against Portcullis, same URL

`create` makes, through Barbican's API: secrets of every type and content type (text, binary,
base64), a two-step upload, one without payload, metadata, expirations, a private ACL with a
user, generic/rsa/certificate containers, secret and container consumers, key and asymmetric
orders, project quotas and a deleted secret; then records what Barbican answers for every
object (by href), the lists and the ACL decisions. `check` asks the same of whatever serves
the catalog's key-manager endpoint now and compares. Castellan and the openstack CLI read one
payload each. Prints each difference, then "N passed, M failed"; exit 1 on any failure.
"""
import base64
import json
import os
import shlex
import subprocess
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3


def env(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k] = shlex.split(v)[0] if v else ""
    return out


E = env(sys.argv[2])
BASE = E["KS_BARBICAN_URL"].rstrip("/")
MV = {"OpenStack-API-Version": "key-manager 1.1"}


def sess(user, project="proj-a", system=False):
    if system:
        a = v3.Password(auth_url=E["KS_AUTH_URL"], username=user, password=E["KS_ADMIN_PASSWORD"],
                        user_domain_id="default", system_scope="all")
    else:
        a = v3.Password(auth_url=E["KS_AUTH_URL"], username=user, password=E["KS_USER_PASSWORD"],
                        user_domain_id="default", project_name=project, project_domain_id="default")
    return session.Session(auth=a)


S = {"a": sess("a-member"), "b": sess("b-member", "proj-b"), "acl": sess("a-norole", "proj-b"),
     "reader": sess("a-reader"), "admin": sess("a-admin")}


def call(who, method, url, body=None, headers=None, raw=False):
    url = url if url.startswith("http") else BASE + url
    h = dict(headers or {})
    r = S[who].request(url, method, json=body, headers=h, raise_exc=False,
                       endpoint_filter=None)
    if raw:
        return r
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, None


def ok(resp, what):
    code, body = resp
    if code >= 300:
        sys.exit(f"create: {what} answered {code}: {body}")
    return body


def create():
    rec = {"objects": {}, "payloads": {}, "decisions": {}, "lists": {}, "deleted": []}
    secrets = {}
    p = lambda b: base64.b64encode(b).decode()
    specs = {
        "text": {"name": "text", "payload": "h\u00e9llo from barbican", "payload_content_type": "text/plain",
                 "secret_type": "opaque", "expiration": "2099-01-01T00:00:00Z"},
        "base64": {"name": "b64", "payload": p(os.urandom(32)), "payload_content_type": "application/octet-stream",
                   "payload_content_encoding": "base64", "secret_type": "symmetric", "algorithm": "aes",
                   "bit_length": 256, "mode": "cbc"},
        "passphrase": {"name": "pass", "payload": "correct horse", "payload_content_type": "text/plain",
                       "secret_type": "passphrase"},
        "private": {"name": "priv", "payload": p(b"-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n"),
                    "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64",
                    "secret_type": "private", "algorithm": "rsa", "bit_length": 2048},
        "public": {"name": "pub", "payload": p(b"-----BEGIN PUBLIC KEY-----\nMII\n-----END PUBLIC KEY-----\n"),
                   "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64",
                   "secret_type": "public", "algorithm": "rsa", "bit_length": 2048},
        "cert": {"name": "cert", "payload": p(b"-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n"),
                 "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64",
                 "secret_type": "certificate"},
        "empty": {"name": "no payload yet", "secret_type": "opaque"},
        "twostep": {"name": "two step", "secret_type": "opaque"},
        "expiring": {"name": "soon", "payload": "x", "payload_content_type": "text/plain",
                     "expiration": "2098-06-01T12:30:00Z"},
    }
    for k, body in specs.items():
        secrets[k] = ok(call("a", "POST", "/v1/secrets", body), "secret " + k)["secret_ref"]
    r = S["a"].request(secrets["twostep"], "PUT", data=b"\x00\x01binary\xff", raise_exc=False,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    secrets["b"] = ok(call("b", "POST", "/v1/secrets", {"name": "in b", "payload": "bee",
                                                        "payload_content_type": "text/plain"}), "b secret")["secret_ref"]
    gone = ok(call("a", "POST", "/v1/secrets", {"name": "deleted", "payload": "gone",
                                                "payload_content_type": "text/plain"}), "deleted")["secret_ref"]
    assert call("a", "DELETE", gone, raw=True).status_code == 204
    rec["deleted"].append(gone)
    ok(call("a", "PUT", secrets["text"] + "/metadata", {"metadata": {"color": "blue", "Env": "prod"}}), "metadata")
    ok(call("a", "POST", secrets["base64"] + "/metadata", {"key": "owner", "value": "cinder"}), "metadatum")
    ok(call("a", "PUT", secrets["base64"] + "/acl",
            {"read": {"users": [E["KS_USER_A_NOROLE"]], "project-access": False}}), "acl")
    ok(call("a", "POST", secrets["text"] + "/consumers",
            {"service": "image", "resource_type": "image", "resource_id": "11111111-2222-3333-4444-555555555555"},
            headers=MV), "secret consumer")
    ok(call("a", "POST", secrets["base64"] + "/consumers",
            {"service": "volume", "resource_type": "volume", "resource_id": "66666666-2222-3333-4444-555555555555"},
            headers=MV), "secret consumer 2")
    cont = {}
    cont["generic"] = ok(call("a", "POST", "/v1/containers", {"name": "gen", "type": "generic", "secret_refs": [
        {"name": "a", "secret_ref": secrets["text"]}, {"name": "b", "secret_ref": secrets["base64"]}]}), "generic")["container_ref"]
    cont["rsa"] = ok(call("a", "POST", "/v1/containers", {"name": "rsa", "type": "rsa", "secret_refs": [
        {"name": "private_key", "secret_ref": secrets["private"]}, {"name": "public_key", "secret_ref": secrets["public"]},
        {"name": "private_key_passphrase", "secret_ref": secrets["passphrase"]}]}), "rsa")["container_ref"]
    cont["cert"] = ok(call("a", "POST", "/v1/containers", {"name": "tls", "type": "certificate", "secret_refs": [
        {"name": "certificate", "secret_ref": secrets["cert"]}, {"name": "private_key", "secret_ref": secrets["private"]}]}),
        "certificate")["container_ref"]
    ok(call("a", "POST", cont["cert"] + "/consumers", {"name": "octavia", "URL": "http://lb.example/listener/1"}), "c consumer")
    ok(call("a", "PUT", cont["generic"] + "/acl", {"read": {"users": [E["KS_USER_A_NOROLE"]], "project-access": True}}), "c acl")
    orders = {}
    orders["key"] = ok(call("a", "POST", "/v1/orders", {"type": "key", "meta": {
        "name": "ordered key", "algorithm": "aes", "bit_length": 256, "mode": "cbc",
        "payload_content_type": "application/octet-stream"}}), "key order")["order_ref"]
    orders["asym"] = ok(call("a", "POST", "/v1/orders", {"type": "asymmetric", "meta": {
        "name": "ordered rsa", "algorithm": "rsa", "bit_length": 2048}}), "asymmetric order")["order_ref"]
    for k, o in orders.items():
        body = ok(call("a", "GET", o), "order")
        if body.get("secret_ref"):
            secrets["order-" + k] = body["secret_ref"]
        if body.get("container_ref"):
            cont["order-" + k] = body["container_ref"]
            for sref in ok(call("a", "GET", body["container_ref"]), "order container")["secret_refs"]:
                secrets["order-" + k + "-" + sref["name"]] = sref["secret_ref"]
    ok(call("admin", "PUT", "/v1/project-quotas/" + E["KS_PROJECT_PROJ_B"],
            {"project_quotas": {"secrets": 50, "orders": 10, "containers": 20, "consumers": 30, "cas": 5}}), "quotas")
    rec["secrets"], rec["containers"], rec["orders"] = secrets, cont, orders
    snapshot(rec)
    json.dump(rec, open(sys.argv[3], "w"), indent=1, sort_keys=True)
    print(f"created {len(secrets)} secrets, {len(cont)} containers, {len(orders)} orders")


def payload(who, ref):
    r = S[who].request(ref + "/payload", "GET", raise_exc=False, headers={"Accept": "*/*"})
    return r.status_code, base64.b64encode(r.content).decode() if r.status_code == 200 else None


def snapshot(rec):
    """What the server answers now, for everything in rec."""
    snap = {}
    owner = lambda ref: "b" if ref == rec["secrets"].get("b") else "a"
    for k, ref in rec["secrets"].items():
        snap["secret " + k] = call(owner(ref), "GET", ref)
        snap["payload " + k] = payload(owner(ref), ref)
        snap["metadata " + k] = call(owner(ref), "GET", ref + "/metadata")
        snap["acl " + k] = call(owner(ref), "GET", ref + "/acl")
        snap["consumers " + k] = call(owner(ref), "GET", ref + "/consumers", headers=MV)
    for k, ref in rec["containers"].items():
        snap["container " + k] = call("a", "GET", ref)
        snap["container acl " + k] = call("a", "GET", ref + "/acl")
        snap["container consumers " + k] = call("a", "GET", ref + "/consumers")
    for k, ref in rec["orders"].items():
        snap["order " + k] = call("a", "GET", ref)
    for ref in rec["deleted"]:
        snap["deleted " + ref] = call("a", "GET", ref)[0]
    # ACL decisions: a user of another project listed on the ACL, a project reader excluded
    # by project-access false.
    for who in ["acl", "reader", "b"]:
        for k in ["base64", "text"]:
            snap[f"decision {who} payload {k}"] = payload(who, rec["secrets"][k])[0]
        snap[f"decision {who} container generic"] = call(who, "GET", rec["containers"]["generic"])[0]
    for coll in ["secrets", "containers", "orders"]:
        code, body = call("a", "GET", f"/v1/{coll}?limit=100")
        snap["list " + coll] = [code, body.get("total"), [x.get(coll[:-1] + "_ref") for x in body.get(coll, [])]]
    snap["list secrets by name"] = call("a", "GET", "/v1/secrets?name=pass")
    snap["quotas b"] = call("admin", "GET", "/v1/project-quotas/" + E["KS_PROJECT_PROJ_B"])
    rec["answers"] = snap


def normal(key, answer):
    """Orders Barbican leaves undefined: a container's secret_refs (an eager-loaded relationship
    without ORDER BY: heap or join order on PostgreSQL), and on MySQL (DATETIME in whole seconds,
    so created_at ties; the secrets list has no ORDER BY at all) the order of list entries."""
    a = json.loads(json.dumps(answer))
    if key.startswith("container ") and isinstance(a, list) and isinstance(a[1], dict) and "secret_refs" in a[1]:
        a[1]["secret_refs"].sort(key=lambda r: (r.get("name") or "", r["secret_ref"]))
    if os.environ.get("BARBICAN_DB", "").startswith("mysql") and key.startswith("list ") and len(a) == 3 and isinstance(a[2], list):
        a[2].sort()
    return json.dumps(a, sort_keys=True)


def check():
    rec = json.load(open(sys.argv[3]))
    want = rec["answers"]
    snapshot(rec)
    got = rec["answers"]
    passed = failed = 0
    for k in sorted(want):
        if normal(k, want[k]) == normal(k, got[k]):
            passed += 1
        else:
            failed += 1
            print(f"FAIL {k}:\n  barbican:   {json.dumps(want[k], sort_keys=True)[:600]}\n"
                  f"  portcullis: {json.dumps(got[k], sort_keys=True)[:600]}")
    # Castellan and the openstack CLI read a payload each through the catalog.
    from castellan.common.credentials import keystone_password
    from castellan import key_manager
    from oslo_config import cfg
    conf = cfg.ConfigOpts()
    km = key_manager.API(configuration=conf)
    conf.set_override("auth_endpoint", E["KS_AUTH_URL"], group="barbican")
    ctx = keystone_password.KeystonePassword(
        password=E["KS_USER_PASSWORD"], auth_url=E["KS_AUTH_URL"], username="a-member",
        user_domain_name="Default", project_name="proj-a", project_domain_name="Default")
    sid = rec["secrets"]["base64"].rsplit("/", 1)[1]
    managed = km.get(ctx, sid)
    if base64.b64encode(managed.get_encoded()).decode() == want["payload base64"][1]:
        passed += 1
    else:
        failed += 1
        print("FAIL castellan payload of the base64 secret")
    venv_bin = os.path.dirname(sys.executable)
    cli_env = dict(os.environ, OS_AUTH_TYPE="password", OS_AUTH_URL=E["KS_AUTH_URL"], OS_IDENTITY_API_VERSION="3",
                   OS_USERNAME="a-member", OS_PASSWORD=E["KS_USER_PASSWORD"], OS_PROJECT_NAME="proj-a",
                   OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default", OS_REGION_NAME=E["KS_REGION"])
    out = subprocess.run([os.path.join(venv_bin, "openstack"), "secret", "get", "--payload", "-f", "value",
                          rec["secrets"]["text"]], env=cli_env, capture_output=True, text=True)
    if out.returncode == 0 and out.stdout.strip() == "h\u00e9llo from barbican":
        passed += 1
    else:
        failed += 1
        print(f"FAIL openstack secret get --payload: {out.returncode} {out.stdout!r} {out.stderr[-300:]!r}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    {"create": create, "check": check}[sys.argv[1]]()
