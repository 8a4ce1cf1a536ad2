#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, combined broker and controller)
# on 127.0.0.1 for tests and local runs. The broker comes from Maven Central
# (deploy/local/pom.xml), copied once into a cache directory.
#
#   deploy/local/kafka.sh start|stop|status|restart
#
# KAFKA_PORT (default 29092) is the PLAINTEXT client port; the controller
# listens on KAFKA_PORT+1, a SASL_PLAINTEXT listener (PLAIN, user hookstream,
# password hookstream-secret) on KAFKA_PORT+2 and a SASL_SSL listener
# (SCRAM-SHA-512, the same user) on KAFKA_PORT+3, with a certificate made for
# 127.0.0.1 by a CA made for the broker: $HOOKSTREAM_KAFKA_CACHE/broker-<port>/tls/ca.pem. Pick ports below the kernel's ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range) so that no outgoing connection
# can hold them while the broker is down. HOOKSTREAM_KAFKA_CACHE (default .cache/kafka) holds the jars,
# the data and the log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${KAFKA_PORT:-29092}
cport=$((port + 1))
cache=${HOOKSTREAM_KAFKA_CACHE:-$root/.cache/kafka}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
lib=$cache/lib-$version
run=$cache/broker-$port
pidfile=$run/kafka.pid
logfile=$run/kafka.log
props=$run/server.properties
tlsdir=$run/tls
sasl_port=$((port + 2))
ssl_port=$((port + 3))
# The data format this script writes (SCRAM users are added when formatting).
format_version=2

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

ping() { (cd "$root" && go run ./internal/tools/kafkaping -brokers "127.0.0.1:$port" -timeout "$1"); }

fetch() {
  [ -f "$lib/.complete" ] && return
  command -v mvn >/dev/null || { echo "kafka.sh: Maven (mvn) is required to fetch the broker" >&2; exit 1; }
  echo "fetching Apache Kafka $version from Maven Central into $lib"
  rm -rf "$lib"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$lib" -DincludeScope=runtime
  touch "$lib/.complete"
}

java_run() {
  java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$lib/*" "$@"
}

start() {
  if running; then
    echo "kafka already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
    return
  fi
  command -v java >/dev/null || { echo "kafka.sh: Java 17+ is required" >&2; exit 1; }
  fetch
  for p in "$port" "$cport" "$sasl_port" "$ssl_port"; do
    if listening "$p"; then
      echo "kafka.sh: 127.0.0.1:$p is already in use; set KAFKA_PORT to a port p with p to p+3 free" >&2
      exit 1
    fi
  done
  mkdir -p "$run"
  certs
  cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport,SASL_PLAINTEXT://127.0.0.1:$sasl_port,SASL_SSL://127.0.0.1:$ssl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_port,SASL_SSL://127.0.0.1:$ssl_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_hookstream="hookstream-secret";
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$tlsdir/server.pem
log.dirs=$run/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=500
message.max.bytes=10485760
PROPS
  if [ "$(cat "$run/data/.format" 2>/dev/null)" != "$format_version" ]; then
    rm -rf "$run/data"
    cluster=$(java_run kafka.tools.StorageTool random-uuid)
    java_run kafka.tools.StorageTool format -t "$cluster" -c "$props" \
      --add-scram 'SCRAM-SHA-512=[name=hookstream,password=hookstream-secret]' >/dev/null
    echo "$format_version" > "$run/data/.format"
  fi
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$lib/*" \
    kafka.Kafka "$props" >>"$logfile" 2>&1 &
  echo $! > "$pidfile"
  if ! ping 90s; then
    echo "kafka did not answer; last log lines:" >&2
    tail -n 40 "$logfile" >&2
    stop
    exit 1
  fi
}

# certs makes, once, a CA and a certificate for 127.0.0.1 it signs, for
# the SASL_SSL listener.
certs() {
  [ -f "$tlsdir/server.pem" ] && return
  command -v openssl >/dev/null || { echo "kafka.sh: openssl is required to make the broker's certificate" >&2; exit 1; }
  mkdir -p "$tlsdir"
  (
    cd "$tlsdir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=hookstream test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile san.ext -out server.crt 2>/dev/null
    cat server.key server.crt > server.pem
  )
}

stop() {
  running || { rm -f "$pidfile"; echo "kafka not running on 127.0.0.1:$port"; return; }
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"
  echo "kafka on 127.0.0.1:$port stopped"
}

status() {
  if running && ping 5s; then
    echo "pid $(cat "$pidfile"), Apache Kafka $version"
  else
    echo "kafka not running on 127.0.0.1:$port"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
