#!/usr/bin/env bash
# A TPM 2.0 simulator (swtpm) on loopback for tests and benchmarks, started and stopped by pid.
#   scripts/swtpm.sh start STATE_DIR PORT [CTRLPORT]  # prints the TCTI to use
# CTRLPORT defaults to PORT+1, which is where the tpm2-tss swtpm TCTI looks for it.
#   scripts/swtpm.sh stop  STATE_DIR [PORT CTRLPORT]
# Stop is graceful (swtpm_ioctl -s over the control port): every kill counts as a non-orderly
# shutdown and climbs the TPM's dictionary-attack lockout counter.
#   scripts/swtpm.sh setup STATE_DIR CA_DIR           # before the first start
# Manufactures the TPM state with an RSA-2048 EK certificate at NV index 0x01c00002 (and the ECC
# EK's and a platform certificate), issued by a local CA kept in CA_DIR (swtpm_localca makes it
# on first use: CA_DIR/swtpm-localca-rootca-cert.pem, the root, and CA_DIR/issuercert.pem, the
# intermediate that signs EK certificates; together they are the [kek] ek_ca_file of a test).
# Idempotent: a state already set up is left as it is.
set -euo pipefail
cmd="${1:?usage: swtpm.sh start|stop|setup STATE_DIR ...}"
STATE="${2:?state dir}"
PORT="${3:-2321}"
[ "$cmd" = setup ] || CTRL="${4:-$((PORT + 1))}"
PIDFILE="$STATE/swtpm.pid"

alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "$cmd" in
setup)
    CA="${3:?usage: swtpm.sh setup STATE_DIR CA_DIR}"
    command -v swtpm_setup >/dev/null || { echo "swtpm.sh: swtpm_setup is not installed (apt-get install swtpm-tools)" >&2; exit 1; }
    [ -f "$STATE/.ek-provisioned" ] && exit 0
    if alive; then echo "swtpm.sh: stop swtpm before setting up its state" >&2; exit 1; fi
    mkdir -p "$STATE" "$CA"
    CA="$(cd "$CA" && pwd)"
    STATE="$(cd "$STATE" && pwd)"
    cat > "$STATE/swtpm-localca.conf" <<EOF
statedir = $CA
signingkey = $CA/signkey.pem
issuercert = $CA/issuercert.pem
certserial = $CA/certserial
EOF
    cat > "$STATE/swtpm_setup.conf" <<EOF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $STATE/swtpm-localca.conf
create_certs_tool_options = /etc/swtpm-localca.options
active_pcr_banks = sha256
EOF
    if ! swtpm_setup --tpm2 --tpmstate "$STATE" --create-ek-cert --create-platform-cert --lock-nvram \
            --config "$STATE/swtpm_setup.conf" --logfile "$STATE/swtpm_setup.log" >/dev/null 2>&1; then
        echo "swtpm.sh: swtpm_setup failed; log:" >&2
        cat "$STATE/swtpm_setup.log" >&2 2>/dev/null || true
        exit 1
    fi
    touch "$STATE/.ek-provisioned"
    ;;
start)
    command -v swtpm >/dev/null || { echo "swtpm.sh: swtpm is not installed (apt-get install swtpm swtpm-tools)" >&2; exit 1; }
    mkdir -p "$STATE"
    if alive; then echo "swtpm.sh: already running (pid $(cat "$PIDFILE"))" >&2; exit 1; fi
    swtpm socket --tpm2 --tpmstate dir="$STATE" \
        --server type=tcp,port="$PORT",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port="$CTRL",bindaddr=127.0.0.1 \
        --flags not-need-init,startup-clear \
        --log file="$STATE/swtpm.log" >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 100); do
        if swtpm_ioctl --tcp "127.0.0.1:$CTRL" -g >/dev/null 2>&1; then
            echo "swtpm:host=127.0.0.1,port=$PORT"
            exit 0
        fi
        alive || break
        sleep 0.05
    done
    echo "swtpm.sh: swtpm did not come up on ports $PORT/$CTRL; log:" >&2
    cat "$STATE/swtpm.log" >&2 2>/dev/null || true
    alive && kill -TERM "$(cat "$PIDFILE")" 2>/dev/null || true
    rm -f "$PIDFILE"
    exit 1
    ;;
stop)
    alive || { rm -f "$PIDFILE"; exit 0; }
    pid="$(cat "$PIDFILE")"
    swtpm_ioctl --tcp "127.0.0.1:$CTRL" -s >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "swtpm.sh: swtpm (pid $pid) ignored the graceful shutdown; sending SIGTERM" >&2
        kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    ;;
*)
    echo "usage: swtpm.sh start|stop STATE_DIR PORT CTRLPORT, or setup STATE_DIR CA_DIR" >&2; exit 2 ;;
esac
