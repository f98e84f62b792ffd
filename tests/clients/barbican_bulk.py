"""Adds N simple_crypto secrets to a Barbican SQLite database, as Barbican writes them.

    python barbican_bulk.py BARBICAN_CONF N

Copies a live secret made through the API (its secrets, encrypted_data and
secret_store_metadata rows) N times with new ids, names, times and random 32-byte payloads,
each encrypted with Fernet under that secret's project KEK (itself opened with the
[simple_crypto_plugin] kek of BARBICAN_CONF). For the import timing and kill/resume test.
"""
import base64
import configparser
import datetime
import os
import sqlite3
import sys
import uuid

from cryptography.fernet import Fernet, MultiFernet

conf_path, n = sys.argv[1], int(sys.argv[2])
keks, url = [], None
section = None
for line in open(conf_path):
    s = line.strip()
    if s.startswith("["):
        section = s.strip("[]")
    elif "=" in s:
        k, v = (x.strip() for x in s.split("=", 1))
        if section == "simple_crypto_plugin" and k == "kek":
            keks.append(v)
        if section == "database" and k == "connection":
            url = v
db = sqlite3.connect(url[len("sqlite:///"):])
master = MultiFernet([Fernet(k) for k in keks])
cols = lambda t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
sc, ec, mc = cols("secrets"), cols("encrypted_data"), cols("secret_store_metadata")
tmpl_id = db.execute(
    "SELECT s.id FROM secrets s JOIN encrypted_data e ON e.secret_id = s.id "
    "WHERE s.deleted = 0 AND e.content_type = 'application/octet-stream' LIMIT 1").fetchone()[0]
srow = dict(zip(sc, db.execute("SELECT * FROM secrets WHERE id = ?", (tmpl_id,)).fetchone()))
erow = dict(zip(ec, db.execute("SELECT * FROM encrypted_data WHERE secret_id = ?", (tmpl_id,)).fetchone()))
mrows = [dict(zip(mc, r)) for r in db.execute("SELECT * FROM secret_store_metadata WHERE secret_id = ?", (tmpl_id,))]
meta = db.execute("SELECT plugin_meta FROM kek_data WHERE id = ?", (erow["kek_id"],)).fetchone()[0]
pkey = master.decrypt(meta if isinstance(meta, bytes) else meta.encode())
f = Fernet(pkey)
t0 = datetime.datetime(2030, 1, 1)
ins = lambda t, row: db.execute(
    f"INSERT INTO {t} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
for i in range(n):
    when = (t0 + datetime.timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f")
    sid = str(uuid.uuid4())
    ins("secrets", dict(srow, id=sid, name=f"bulk-{i}", created_at=when, updated_at=when))
    # Barbican (SQLAlchemy over sqlite3) stores the base64 as bytes, like the template row.
    ct = base64.b64encode(f.encrypt(os.urandom(32)))
    if not isinstance(erow["cypher_text"], bytes):
        ct = ct.decode()
    ins("encrypted_data", dict(erow, id=str(uuid.uuid4()), secret_id=sid, cypher_text=ct, created_at=when, updated_at=when))
    for m in mrows:
        ins("secret_store_metadata", dict(m, id=str(uuid.uuid4()), secret_id=sid, created_at=when, updated_at=when))
# Two secrets of other plugins, which the importer must list as skipped: one PKCS#11 (its
# encrypted_data under a p11_crypto KEK row), one KMIP (only secret_store_metadata).
kc = cols("kek_data")
krow = dict(zip(kc, db.execute("SELECT * FROM kek_data WHERE id = ?", (erow["kek_id"],)).fetchone()))
p11 = str(uuid.uuid4())
ins("kek_data", dict(krow, id=p11, plugin_name="barbican.plugin.crypto.p11_crypto.P11CryptoPlugin",
                     plugin_meta='{"iv": "x", "hmac": "y"}'))
for plugin, kek in [("barbican.plugin.store_crypto.StoreCryptoAdapterPlugin", p11),
                    ("barbican.plugin.kmip_secret_store.KMIPSecretStore", None)]:
    sid = str(uuid.uuid4())
    ins("secrets", dict(srow, id=sid, name="foreign " + plugin.split(".")[2]))
    if kek:
        ins("encrypted_data", dict(erow, id=str(uuid.uuid4()), secret_id=sid, kek_id=kek, cypher_text="AAAA"))
    for m in mrows:
        ins("secret_store_metadata", dict(m, id=str(uuid.uuid4()), secret_id=sid, value=plugin))
db.commit()
print(f"added {n} secrets to {url}")
