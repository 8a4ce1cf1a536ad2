# hookstream — see README.md.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

KAFKA_PORT ?= 29092
KAFKA_CACHE ?= $(or $(HOOKSTREAM_KAFKA_CACHE),$(CURDIR)/.cache/kafka)
# The local broker's listeners (deploy/local/kafka.sh), as the tests find them.
KAFKA_TEST_ENV = HOOKSTREAM_TEST_KAFKA=127.0.0.1:$(KAFKA_PORT) \
	HOOKSTREAM_TEST_KAFKA_SASL_PLAIN=127.0.0.1:$(shell echo $$(($(KAFKA_PORT)+2))) \
	HOOKSTREAM_TEST_KAFKA_SASL_SSL=127.0.0.1:$(shell echo $$(($(KAFKA_PORT)+3))) \
	HOOKSTREAM_TEST_KAFKA_CA=$(KAFKA_CACHE)/broker-$(KAFKA_PORT)/tls/ca.pem

RUN ?= .

FUZZTIME ?= 30s

STATICCHECK ?= v0.8.2

.PHONY: run build test test-alerts test-observability test-ui test-kafka test-faults test-faults-kafka kafka-start kafka-stop fuzz bench lint clean

## run: start hookstream with an embedded Kafka broker and Redis (no installs needed)
run:
	go run -ldflags "$(LDFLAGS)" ./cmd/hookstream dev

## build: build bin/hookstream as the container image does: static, no cgo
build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/hookstream ./cmd/hookstream

## test: run every test with the race detector
test:
	go test -race -count=1 ./...

## test-kafka: run every test against a real Apache Kafka broker (started if needed)
test-kafka: kafka-start
	$(KAFKA_TEST_ENV) go test -race -count=1 ./...

## test-faults: fault tests (real hookstream processes, SIGKILL, broker restarts …) against kfake
##   RUN=TestCrashLoop picks tests; HOOKSTREAM_FAULT_SCALE=5 runs the long form
test-faults:
	go test -tags faults -count=1 -timeout 30m -v -run '$(RUN)' ./reliability/

## test-faults-kafka: the fault tests against the local Apache Kafka broker
test-faults-kafka: kafka-start
	$(KAFKA_TEST_ENV) $(MAKE) test-faults

## kafka-start, kafka-stop: the local Apache Kafka broker of deploy/local/kafka.sh
kafka-start:
	KAFKA_PORT=$(KAFKA_PORT) deploy/local/kafka.sh start

kafka-stop:
	KAFKA_PORT=$(KAFKA_PORT) deploy/local/kafka.sh stop

## test-observability: a real Prometheus scrapes a live hookstream; every dashboard query must return series and every rule evaluate
test-observability:
	go test -tags observability -run TestObservability -count=1 -v ./deploy

## test-ui: drive the operator console in headless Chromium (apt-get install chromium) against a live hookstream dev; UI_SCREENSHOTS=DIR keeps the screenshots
test-ui:
	HOOKSTREAM_UI_SCREENSHOTS=$(UI_SCREENSHOTS) go test -tags ui -run TestConsole -count=1 -v ./console

## fuzz: run each fuzz target for FUZZTIME (their seeds run in every make test)
fuzz:
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./event
	go test -run '^$$' -fuzz '^FuzzPath$$' -fuzztime $(FUZZTIME) ./event
	go test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME) ./subscription
	go test -run '^$$' -fuzz '^FuzzFromRecord$$' -fuzztime $(FUZZTIME) ./tracing
	for f in FuzzOTLP FuzzOTLPAsTheCollector FuzzECS FuzzCloudEvents FuzzSyslogJSON FuzzAuto; do \
		go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./ingest || exit 1; done

## bench: the end-to-end harness (hookstream as a process vs the raw HTTP ceiling), then the hot-path benchmarks
bench: build
	go run ./cmd/hookstream-bench --bin bin/hookstream --out bench.json $(BENCHFLAGS)
	go test -run '^$$' -bench . -benchmem ./...

## test-alerts: check the alert rules and run their unit tests (needs promtool: apt-get install prometheus)
test-alerts:
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml

## lint: formatting, vet and staticcheck
lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	go vet ./...
	go vet -tags faults ./reliability
	go vet -tags observability ./deploy
	go vet -tags ui ./console
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) -tags faults ./reliability
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) -tags observability ./deploy
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) -tags ui ./console

clean:
	rm -rf bin .hookstream .cache
