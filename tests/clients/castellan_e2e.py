#!/usr/bin/env python3
"""End-to-end test: OpenStack Castellan (the key-manager library Nova, Cinder, Glance,
Octavia... use) with its Barbican backend against Portcullis behind a real Keystone.

    .venv-openstack/bin/python tests/clients/castellan_e2e.py WORKDIR/users.env

users.env is written by `scripts/keystone.sh setup WORKDIR PORT BARBICAN_URL` (KS_AUTH_URL,
KS_BARBICAN_URL, KS_USER_PASSWORD, user and project ids); the key-manager endpoint in Keystone's
catalog must be where Portcullis listens. Run from tempest-compat/run.sh with RUN_CASTELLAN=1.

Castellan is configured the way the services do it: an oslo.config file with
    [key_manager] backend = barbican (+ auth_type = keystone_password and the user's credentials,
                  read back through castellan.common.utils.credential_factory)
    [barbican]    auth_endpoint, barbican_api_version = v1, barbican_endpoint_type = public,
                  barbican_region_name, number_of_retries, retry_delay
                  (+ barbican_endpoint in the second config: explicit endpoint, no catalog)
loaded into a cfg.ConfigOpts, castellan.options.set_defaults(conf) and
castellan.key_manager.API(conf). The same suite then runs, as proj-a's a-member, with
  * password: KeystonePassword (project-scoped) from credential_factory; endpoint from the catalog
  * token:    KeystoneToken with a project-scoped token fetched from Keystone; explicit endpoint
  * context:  an oslo.context RequestContext carrying that token (what Nova/Cinder hand to
              Castellan: it authenticates at [barbican] auth_endpoint); endpoint from the catalog
Suite: create_key (key order + polling), create_key_pair (asymmetric order -> container -> two
secrets; PEM from the server, DER out of Castellan), store/get of SymmetricKey, PublicKey,
PrivateKey, X509, Passphrase, OpaqueData, get(metadata_only), list (all / per type / metadata
only), add_consumer/remove_consumer (and delete refused while consumed, force delete), delete,
get/delete after delete -> ManagedObjectNotFoundError; plus a proj-b user neither gets nor lists
proj-a's secrets.

Prints each failure (with the last HTTP exchanges keystoneauth logged), then "N passed, M failed";
exits 1 when anything failed (the two oslo.config files are then kept in the printed directory). CASTELLAN_E2E_VERBOSE=1 prints every step.
"""
import collections
import datetime
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from oslo_config import cfg
from oslo_context import context as oslo_context

from castellan import key_manager
from castellan import options as castellan_options
from castellan.common import exception as cexc
from castellan.common import utils as castellan_utils
from castellan.common.credentials import keystone_password
from castellan.common.credentials import keystone_token
from castellan.common.objects import opaque_data
from castellan.common.objects import passphrase
from castellan.common.objects import private_key
from castellan.common.objects import public_key
from castellan.common.objects import symmetric_key
from castellan.common.objects import x_509

VERBOSE = os.environ.get("CASTELLAN_E2E_VERBOSE") == "1"
RUN = f"castellan-e2e-{uuid.uuid4().hex[:8]}"
UUID_LEN = 36


# ------------------------------------------------------------------ logging ----
# keystoneauth logs every request/response at DEBUG (tokens are hashed); keep the last ones to
# show with a failure. Castellan and barbicanclient log expected 4xx at ERROR: capture, not print.
HTTP_LOG = collections.deque(maxlen=40)
CASTELLAN_WARNINGS = []


class _Ring(logging.Handler):
    def emit(self, record):
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001
            msg = str(record.msg)
        HTTP_LOG.append(f"{record.name}: {msg}")
        if record.name.startswith("castellan") and record.levelno == logging.WARNING:
            CASTELLAN_WARNINGS.append(msg)


_ring = _Ring(level=logging.DEBUG)
for _name, _lvl in [("keystoneauth", logging.DEBUG), ("castellan", logging.INFO),
                    ("barbicanclient", logging.INFO), ("stevedore", logging.WARNING)]:
    _lg = logging.getLogger(_name)
    _lg.setLevel(_lvl)
    _lg.addHandler(_ring)
    _lg.propagate = False


def http_tail(n=8):
    lines = [l for l in HTTP_LOG if "REQ:" in l or "RESP" in l or "castellan" in l[:12]
             or "barbicanclient" in l[:16]]
    out = []
    for l in lines[-n:]:
        out.append("    " + (l if len(l) <= 700 else l[:700] + "..."))
    return "\n".join(out)


# -------------------------------------------------------------- test frame ----
PASSED = 0
FAILED = 0


class Missing(Exception):
    pass


class State(dict):
    def __missing__(self, key):
        raise Missing(f"needs {key!r} from an earlier step that failed")


def check(name, fn, *args, **kwargs):
    """Run one check; count it; print a failure with the recent HTTP exchanges."""
    global PASSED, FAILED
    HTTP_LOG.clear()
    t = time.monotonic()
    try:
        r = fn(*args, **kwargs)
    except Missing as e:
        FAILED += 1
        print(f"FAIL: {name}: skipped, {e}", file=sys.stderr)
        return None
    except Exception as e:  # noqa: BLE001
        FAILED += 1
        tb = traceback.format_exc(limit=6)
        print(f"FAIL: {name}: {type(e).__name__}: {e}\n{tb}  last HTTP/log lines:\n{http_tail()}",
              file=sys.stderr)
        return None
    PASSED += 1
    if VERBOSE:
        print(f"ok   {name} ({time.monotonic() - t:.2f} s)")
    return r


def raises(exc_types, fn, *args, **kwargs):
    try:
        r = fn(*args, **kwargs)
    except exc_types as e:
        return e
    raise AssertionError(f"expected {exc_types}, call returned {r!r}")


def near_now(created):
    assert isinstance(created, int), f"created={created!r} is not POSIX seconds"
    assert abs(created - time.time()) < 900, \
        f"created={created} is {created - time.time():+.0f} s from now (time zone?)"


# ------------------------------------------------------------ environment ----
def read_users_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            parts = shlex.split(v)
            env[k] = parts[0] if parts else ""
    return env


def write_conf(path, env, explicit_endpoint):
    with open(path, "w") as f:
        f.write(f"""[key_manager]
backend = barbican
auth_type = keystone_password
auth_url = {env['KS_AUTH_URL']}
username = a-member
password = {env['KS_USER_PASSWORD']}
user_domain_name = Default
project_name = proj-a
project_domain_name = Default

[barbican]
auth_endpoint = {env['KS_AUTH_URL']}
barbican_api_version = v1
barbican_endpoint_type = public
barbican_region_name = {env.get('KS_REGION', 'RegionOne')}
number_of_retries = 30
retry_delay = 1
""")
        if explicit_endpoint:
            f.write(f"barbican_endpoint = {env['KS_BARBICAN_URL']}\n")


def load_conf(path):
    conf = cfg.ConfigOpts()
    castellan_options.set_defaults(conf)
    conf(args=[], project="castellan-e2e", default_config_files=[path])
    return conf


def project_token(env, user, project):
    auth = v3.Password(auth_url=env["KS_AUTH_URL"], username=user,
                       password=env["KS_USER_PASSWORD"], user_domain_name="Default",
                       project_name=project, project_domain_name="Default")
    return ks_session.Session(auth=auth).get_token()


# ------------------------------------------------------------ test data ----
def make_material():
    """DER bytes, as Castellan's objects hold them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    pub_der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "castellan-e2e.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return {"priv": priv_der, "pub": pub_der,
            "cert": cert.public_bytes(serialization.Encoding.DER)}


# ---------------------------------------------------------------- the suite ----
def suite(label, km, ctx, material, other_ctx=None):
    """All checks with one credential; `other_ctx` (proj-b) must see nothing of proj-a's."""
    S = State()
    prefix = f"{RUN}-{label}-"
    p = lambda n: f"[{label}] {n}"  # noqa: E731

    # --- create_key: POST orders (type key), poll GET orders/{id}, DELETE order
    def create_key():
        CASTELLAN_WARNINGS.clear()
        kid = km.create_key(ctx, "AES", 256, name=prefix + "order-key")
        assert isinstance(kid, str) and len(kid) == UUID_LEN, kid
        assert not CASTELLAN_WARNINGS, f"castellan warned: {CASTELLAN_WARNINGS}"
        S["order_key"] = kid
    check(p("create_key AES-256 (key order)"), create_key)

    def get_order_key():
        k = km.get(ctx, S["order_key"])
        assert isinstance(k, symmetric_key.SymmetricKey), type(k)
        assert k.id == S["order_key"], k.id
        assert k.algorithm.upper() == "AES", k.algorithm
        assert k.bit_length == 256, k.bit_length
        raw = k.get_encoded()
        assert isinstance(raw, bytes) and len(raw) == 32, raw
        assert k.name == prefix + "order-key", k.name
        near_now(k.created)
    check(p("get the ordered key: SymmetricKey AES 256, 32 bytes"), get_order_key)

    # --- create_key_pair: POST orders (asymmetric), poll, GET container, DELETE container+order
    def create_key_pair():
        CASTELLAN_WARNINGS.clear()
        priv_id, pub_id = km.create_key_pair(ctx, "RSA", 2048, name=prefix + "order-pair")
        assert len(priv_id) == UUID_LEN and len(pub_id) == UUID_LEN, (priv_id, pub_id)
        assert priv_id != pub_id
        assert not CASTELLAN_WARNINGS, f"castellan warned: {CASTELLAN_WARNINGS}"
        S["pair_priv"], S["pair_pub"] = priv_id, pub_id
    check(p("create_key_pair RSA-2048 (asymmetric order + container)"), create_key_pair)

    def get_pair_public():
        k = km.get(ctx, S["pair_pub"])
        assert isinstance(k, public_key.PublicKey), type(k)
        assert k.algorithm.upper() == "RSA", k.algorithm
        assert k.bit_length == 2048, k.bit_length
        der = k.get_encoded()
        pub = serialization.load_der_public_key(der)
        assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 2048
        assert pub.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.SubjectPublicKeyInfo) == der, \
            "not DER SubjectPublicKeyInfo"
        S["pair_pub_numbers"] = pub.public_numbers()
    check(p("get the ordered public key: DER SubjectPublicKeyInfo, RSA 2048"), get_pair_public)

    def get_pair_private():
        k = km.get(ctx, S["pair_priv"])
        assert isinstance(k, private_key.PrivateKey), type(k)
        assert k.algorithm.upper() == "RSA", k.algorithm
        assert k.bit_length == 2048, k.bit_length
        der = k.get_encoded()
        priv = serialization.load_der_private_key(der, password=None)
        assert isinstance(priv, rsa.RSAPrivateKey) and priv.key_size == 2048
        assert priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()) == der, "not DER PKCS#8"
        assert priv.public_key().public_numbers() == S["pair_pub_numbers"], \
            "the private key does not belong to the public key"
    check(p("get the ordered private key: DER PKCS#8, matches the public key"), get_pair_private)

    # --- store / get of every Castellan object type
    objs = {
        "symmetric": symmetric_key.SymmetricKey("AES", 256, os.urandom(32),
                                                name=prefix + "symmetric"),
        "public": public_key.PublicKey("RSA", 2048, material["pub"], name=prefix + "public"),
        "private": private_key.PrivateKey("RSA", 2048, material["priv"],
                                          name=prefix + "private"),
        "certificate": x_509.X509(material["cert"], name=prefix + "certificate"),
        "passphrase": passphrase.Passphrase(b"correct horse battery staple \xc3\xa9",
                                            name=prefix + "passphrase"),
        "opaque": opaque_data.OpaqueData(bytes(range(256)) + os.urandom(64),
                                         name=prefix + "opaque"),
    }
    stored = {}
    expiration = (datetime.datetime.now(datetime.timezone.utc)
                  + datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S")
    for kind, obj in objs.items():
        def store(kind=kind, obj=obj):
            # the symmetric key also carries an expiration (ISO 8601 string, as Castellan takes it)
            kw = {"expiration": expiration} if kind == "symmetric" else {}
            oid = km.store(ctx, obj, **kw)
            assert isinstance(oid, str) and len(oid) == UUID_LEN, oid
            stored[kind] = oid
        check(p(f"store {type(obj).__name__}"), store)

        def get(kind=kind, obj=obj):
            if kind not in stored:
                raise Missing(f"the {kind} object was not stored")
            got = km.get(ctx, stored[kind])
            assert type(got) is type(obj), f"{type(got).__name__} != {type(obj).__name__}"
            assert got.id == stored[kind], got.id
            assert got.name == obj.name, got.name
            assert got.get_encoded() == obj.get_encoded(), \
                f"bytes differ ({len(got.get_encoded() or b'')} vs {len(obj.get_encoded())})"
            if hasattr(obj, "algorithm"):
                assert got.algorithm == obj.algorithm, got.algorithm
                assert got.bit_length == obj.bit_length, got.bit_length
            assert got.consumers == [], got.consumers
            near_now(got.created)
        check(p(f"get {type(obj).__name__}: same bytes/algorithm/bit_length/name"), get)

    def get_metadata_only():
        got = km.get(ctx, stored.get("symmetric") or S["stored_symmetric"], metadata_only=True)
        assert isinstance(got, symmetric_key.SymmetricKey), type(got)
        assert got.is_metadata_only() and got.get_encoded() is None
        assert got.algorithm == "AES" and got.bit_length == 256, (got.algorithm, got.bit_length)
    check(p("get metadata_only"), get_metadata_only)

    # --- list
    mine = set(stored.values()) | {S.get(k) for k in ("order_key", "pair_priv", "pair_pub")
                                   if k in S}

    def project_total():
        return km._get_barbican_client(ctx).client.get("secrets", params={"limit": 1})["total"]

    def list_all():
        lst = km.list(ctx)
        ids = {o.id for o in lst}
        if not mine <= ids:
            # barbicanclient lists with limit=10 (Castellan passes no limit): fine only if full
            total = project_total()
            assert total > 10 and len(lst) == 10, \
                f"missing {sorted(mine - ids)}; got {len(lst)} of total {total}"
        by_id = {o.id: o for o in lst}
        for kind, oid in stored.items():
            if oid in by_id:
                o = by_id[oid]
                assert type(o) is type(objs[kind]), (kind, type(o))
                assert o.get_encoded() == objs[kind].get_encoded(), f"{kind}: bytes differ"
    check(p("list: all of this run's objects, with payloads"), list_all)

    def list_metadata_only():
        lst = km.list(ctx, metadata_only=True)
        assert lst, "empty list"
        for o in lst:
            assert o.is_metadata_only(), o
    check(p("list metadata_only"), list_metadata_only)

    by_type = {
        symmetric_key.SymmetricKey: ["symmetric", "order_key"],
        public_key.PublicKey: ["public", "pair_pub"],
        private_key.PrivateKey: ["private", "pair_priv"],
        x_509.X509: ["certificate"],
        passphrase.Passphrase: ["passphrase"],
        opaque_data.OpaqueData: ["opaque"],
    }
    for otype, keys in by_type.items():
        def list_type(otype=otype, keys=keys):
            want = {stored[k] if k in stored else S[k] for k in keys
                    if k in stored or k in S}
            lst = km.list(ctx, object_type=otype)
            for o in lst:
                assert type(o) is otype, f"{type(o).__name__} in a {otype.__name__} list"
            ids = {o.id for o in lst}
            assert want <= ids or len(lst) == 10, f"missing {sorted(want - ids)}"
            if len(keys) != len(want):
                raise Missing(f"some of {keys} were not created")
        check(p(f"list object_type={otype.__name__}"), list_type)

    # --- another project sees nothing
    if other_ctx is not None:
        def other_get():
            raises((cexc.KeyManagerError, cexc.ManagedObjectNotFoundError),
                   km.get, other_ctx, stored["opaque"])
        check(p("proj-b's b-member cannot get proj-a's secret"), other_get)

        def other_list():
            ids = {o.id for o in km.list(other_ctx, metadata_only=True)}
            assert not (ids & mine), f"proj-b lists {sorted(ids & mine)}"
        check(p("proj-b's b-member does not list proj-a's secrets"), other_list)

    # --- consumers (Castellan 5.8: add_consumer(ctx, id, consumer_data dict))
    consumer = {"service": "image", "resource_type": "image", "resource_id": str(uuid.uuid4())}

    def sym_id():
        if "symmetric" not in stored:
            raise Missing("the symmetric key was not stored")
        return stored["symmetric"]

    def add_consumer():
        km.add_consumer(ctx, sym_id(), consumer)
        got = km.get(ctx, sym_id(), metadata_only=True)
        assert got.consumers == [consumer], got.consumers
    check(p("add_consumer, then get shows it"), add_consumer)

    def add_consumer_again():
        km.add_consumer(ctx, sym_id(), consumer)
        got = km.get(ctx, sym_id(), metadata_only=True)
        assert got.consumers == [consumer], got.consumers
    check(p("add_consumer again is idempotent"), add_consumer_again)

    def delete_consumed():
        e = raises(cexc.KeyManagerError, km.delete, ctx, sym_id())
        assert "consumers" in str(e), str(e)
        km.get(ctx, sym_id(), metadata_only=True)
    check(p("delete refused while the secret has consumers (microversion 1.2)"), delete_consumed)

    def remove_consumer():
        km.remove_consumer(ctx, sym_id(), consumer)
        got = km.get(ctx, sym_id(), metadata_only=True)
        assert got.consumers == [], got.consumers
    check(p("remove_consumer, then get shows none"), remove_consumer)

    def remove_consumer_again():
        raises(cexc.ManagedObjectNotFoundError, km.remove_consumer, ctx, sym_id(), consumer)
    check(p("remove_consumer of a removed consumer -> ManagedObjectNotFoundError (404)"),
          remove_consumer_again)

    def add_consumer_missing():
        raises(cexc.ManagedObjectNotFoundError, km.add_consumer, ctx, str(uuid.uuid4()),
               consumer)
    check(p("add_consumer on an unknown id -> ManagedObjectNotFoundError"), add_consumer_missing)

    def force_delete():
        c2 = dict(consumer, resource_id=str(uuid.uuid4()))
        km.add_consumer(ctx, sym_id(), c2)
        km.delete(ctx, sym_id(), force=True)
        raises(cexc.ManagedObjectNotFoundError, km.get, ctx, sym_id())
        del stored["symmetric"]
    check(p("delete(force=True) of a consumed secret"), force_delete)

    # --- delete everything else; get/delete afterwards -> not found
    to_delete = dict(stored)
    to_delete.update({k: S[k] for k in ("order_key", "pair_priv", "pair_pub") if k in S})
    for kind, oid in to_delete.items():
        def delete(oid=oid):
            km.delete(ctx, oid)
        check(p(f"delete {kind}"), delete)

        def after(oid=oid):
            raises(cexc.ManagedObjectNotFoundError, km.get, ctx, oid)
            raises(cexc.ManagedObjectNotFoundError, km.get, ctx, oid, metadata_only=True)
            raises(cexc.ManagedObjectNotFoundError, km.delete, ctx, oid)
        check(p(f"get/delete {kind} after delete -> ManagedObjectNotFoundError"), after)

    def get_unknown():
        raises(cexc.ManagedObjectNotFoundError, km.get, ctx, str(uuid.uuid4()))
    check(p("get of an unknown uuid -> ManagedObjectNotFoundError"), get_unknown)

    def list_after():
        ids = {o.id for o in km.list(ctx, metadata_only=True)}
        assert not (ids & mine), f"deleted objects still listed: {sorted(ids & mine)}"
    check(p("list no longer shows the deleted objects"), list_after)


def main():
    if len(sys.argv) != 2 or not os.path.isfile(sys.argv[1]):
        print(f"usage: {sys.argv[0]} WORKDIR/users.env", file=sys.stderr)
        return 2
    env = read_users_env(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="castellan-e2e-")
    catalog_conf = os.path.join(tmp, "castellan-catalog.conf")
    explicit_conf = os.path.join(tmp, "castellan-explicit.conf")
    write_conf(catalog_conf, env, explicit_endpoint=False)
    write_conf(explicit_conf, env, explicit_endpoint=True)
    print(f"castellan_e2e: run {RUN}, Keystone {env['KS_AUTH_URL']}, "
          f"Barbican {env['KS_BARBICAN_URL']} (configs in {tmp})")

    S = State()
    material = make_material()

    def setup():
        S["conf_catalog"] = load_conf(catalog_conf)
        S["conf_explicit"] = load_conf(explicit_conf)
        S["km_catalog"] = key_manager.API(S["conf_catalog"])
        S["km_explicit"] = key_manager.API(S["conf_explicit"])
        name = type(S["km_catalog"]).__name__
        assert name == "BarbicanKeyManager", name
    check("oslo.config + castellan.key_manager.API -> BarbicanKeyManager", setup)

    def password_cred():
        c = castellan_utils.credential_factory(conf=S["conf_catalog"])
        assert isinstance(c, keystone_password.KeystonePassword), type(c)
        assert c.project_name == "proj-a" and c.username == "a-member"
        S["ctx_password"] = c
    check("credential_factory([key_manager] auth_type=keystone_password)", password_cred)

    def token_cred():
        tok = project_token(env, "a-member", "proj-a")
        S["token"] = tok
        S["ctx_token"] = keystone_token.KeystoneToken(
            tok, auth_url=env["KS_AUTH_URL"], project_id=env["KS_PROJECT_PROJ_A"])
    check("KeystoneToken with a project-scoped token from Keystone", token_cred)

    def other_cred():
        S["ctx_other"] = keystone_password.KeystonePassword(
            env["KS_USER_PASSWORD"], auth_url=env["KS_AUTH_URL"], username="b-member",
            user_domain_name="Default", project_name="proj-b", project_domain_name="Default")
    check("KeystonePassword for proj-b's b-member", other_cred)

    def endpoint_found():
        # catalog look-up (password) and explicit (token) endpoints both resolve to Portcullis
        c1 = S["km_catalog"]._get_barbican_client(S["ctx_password"])
        c2 = S["km_explicit"]._get_barbican_client(S["ctx_token"])
        want = env["KS_BARBICAN_URL"].rstrip("/") + "/v1/"
        for c in (c1, c2):
            assert c.client.get_endpoint() == want, c.client.get_endpoint()
            assert c.client.microversion == "1.2", c.client.microversion
    check("Barbican client: endpoint from catalog / explicit, microversion 1.2", endpoint_found)

    runs = [("password", "km_catalog", "ctx_password", "ctx_other"),
            ("token", "km_explicit", "ctx_token", None),
            ("context", "km_catalog", "ctx_request", None)]
    for label, km_key, ctx_key, other_key in runs:
        if label == "context":
            try:
                S["ctx_request"] = oslo_context.RequestContext(
                    auth_token=S["token"], project_id=env["KS_PROJECT_PROJ_A"],
                    user_id=env.get("KS_USER_A_MEMBER"))
            except Missing:
                pass
        if km_key not in S or ctx_key not in S:
            check(f"[{label}] suite", lambda: S[km_key] and S[ctx_key])
            continue
        suite(label, S[km_key], S[ctx_key], material,
              other_ctx=S[other_key] if other_key and other_key in S else None)

    if FAILED == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{PASSED} passed, {FAILED} failed")
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
