// Package reliability holds hookstream's fault tests: they run the real
// hookstream binary as subprocesses against a broker, a real Redis and a
// receiver that verifies every signature, inject faults (SIGKILL,
// broker restarts, Redis outages, rebalances, failing endpoints, hostile
// input) and count what was lost. They are built with the "faults" tag:
//
//	make test-faults                 # against kfake
//	make test-faults-kafka           # against deploy/local/kafka.sh's Apache Kafka
//
// HOOKSTREAM_FAULT_SCALE multiplies the event counts (default 1: the
// short form CI runs). Each test logs one result line, the source of the
// table in RELIABILITY.md.
package reliability
