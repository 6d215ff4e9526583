#!/bin/sh
# run.sh - runs the amcsim tests end to end on a throw-away PostgreSQL cluster in /tmp:
# initdb + pg_ctl (unix socket only), two amcsims (normal and strict) on free loopback
# ports, tests/sim/test_sim, test_sim_faults and test_sim_ledger against them, then stops
# everything it started.
# Usage: tests/sim/run.sh [build-dir]   (default: current directory; needs amcsim and
# tests/sim/test_sim{,_faults,_ledger} built there). Run as root (PostgreSQL runs as user
# postgres) or as an ordinary user (PostgreSQL runs as that user).
set -eu
B=$(cd "${1:-.}" && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
T=$(mktemp -d /tmp/amcsim-test.XXXXXX)
chmod 755 "$T"
AS=""
if [ "$(id -u)" = 0 ]; then chown postgres "$T"; AS="runuser -u postgres --"; fi
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	$AS "$PGBIN/pg_ctl" -D "$T/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PGPORT=$(free_port)
$AS "$PGBIN/initdb" -D "$T/data" -A trust -U postgres >/dev/null
$AS "$PGBIN/pg_ctl" -D "$T/data" -l "$T/pg.log" -w \
	-o "-c listen_addresses='' -c unix_socket_directories=$T -p $PGPORT" start >/dev/null
"$PGBIN/psql" -h "$T" -p "$PGPORT" -U postgres -qc 'CREATE DATABASE amcsim' postgres

export AMCBATCH_SIM_DATABASE_URL="host=$T port=$PGPORT user=postgres dbname=amcsim"
export AMCBATCH_SIM_LATENCY_MS=300 AMCBATCH_SIM_STATEMENT_TIMEOUT_MS=10000 AMCSIM_URL_TTL_S=3
P1=$(free_port)
AMCBATCH_SIM_PORT=$P1 "$B/amcsim" 2>"$T/sim.log" &
PIDS="$PIDS $!"
P2=$(free_port)
AMCBATCH_SIM_PORT=$P2 AMCBATCH_SIM_STRICT=true "$B/amcsim" 2>"$T/sim-strict.log" &
PIDS="$PIDS $!"
for i in $(seq 50); do
	grep -q "listening" "$T/sim.log" && grep -q "listening" "$T/sim-strict.log" && break
	sleep 0.1
done
rc=0
AMCSIM_URL=http://127.0.0.1:$P1 AMCSIM_STRICT_URL=http://127.0.0.1:$P2 AMCSIM_TEST_URL_TTL_S=3 \
	"$B/tests/sim/test_sim" || rc=$?
AMCSIM_URL=http://127.0.0.1:$P1 "$B/tests/sim/test_sim_faults" || rc=$?
AMCSIM_URL=http://127.0.0.1:$P1 "$B/tests/sim/test_sim_ledger" || rc=$?
if [ $rc -ne 0 ]; then echo "# amcsim log:"; tail -30 "$T/sim.log"; fi
exit $rc
