#!/usr/bin/env bash
# Installs (idempotently) what building and testing Portcullis needs on Debian 12:
# build libraries, PostgreSQL and MariaDB servers (started if not running), and a test login
# on each. Safe to run again: it only installs or starts what is missing.
#   scripts/deps.sh --build   only the libraries needed to build and run the service
set -euo pipefail

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

if [ "${1:-}" = "--build" ]; then
    need=()
    for pkg in pkg-config libpq-dev libmariadb-dev libtss2-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "deps: installing ${need[*]}" >&2
        $SUDO apt-get update -qq >/dev/null
        $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    exit 0
fi

need=()
# libtss2-dev: the TPM master-KEK provider (tss-esapi); swtpm, swtpm-tools: the TPM tests;
# tpm2-tools: debugging a TPM by hand. openssl, curl: the TLS tests (test CA, s_client);
# systemd: systemd-analyze verify for contrib/portcullis.service; shellcheck: the devstack
# plugin's check.
for pkg in pkg-config libpq-dev libmariadb-dev python3-venv postgresql-client mariadb-client \
           libtss2-dev swtpm swtpm-tools tpm2-tools openssl curl systemd shellcheck; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
if [ ${#need[@]} -gt 0 ]; then
    echo "deps: installing ${need[*]}" >&2
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# PostgreSQL on 127.0.0.1:5432
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    ver=$(ls /etc/postgresql | sort -n | tail -1)
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
# MariaDB on 127.0.0.1:3306
if ! mysqladmin ping -h 127.0.0.1 -P 3306 --silent >/dev/null 2>&1; then
    $SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
    $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    for _ in $(seq 1 30); do mysqladmin ping -h 127.0.0.1 -P 3306 --silent >/dev/null 2>&1 && break; sleep 1; done
fi

# A password login for the tests on both servers (created through the local admin socket).
pg_admin() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- psql -q -X "$@"; else sudo -u postgres psql -q -X "$@"; fi; }
pg_admin -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='portcullis_test') THEN CREATE ROLE portcullis_test LOGIN CREATEDB PASSWORD 'portcullis_test'; END IF; END\$\$;" >/dev/null
$SUDO mariadb -e "CREATE USER IF NOT EXISTS 'portcullis_test'@'127.0.0.1' IDENTIFIED BY 'portcullis_test'; \
    CREATE USER IF NOT EXISTS 'portcullis_test'@'localhost' IDENTIFIED BY 'portcullis_test'; \
    GRANT ALL PRIVILEGES ON \`portcullis\\_t%\`.* TO 'portcullis_test'@'127.0.0.1'; \
    GRANT ALL PRIVILEGES ON \`portcullis\\_t%\`.* TO 'portcullis_test'@'localhost';"
