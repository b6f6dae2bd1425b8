# Developer entry points. `make test` is what CI runs (.ci/run).
GO        ?= go
FUZZTIME  ?= 20s
BENCHTIME ?= 1s

.PHONY: all build run test test-race vet fmt bench fuzz docker clean

all: build

## build: compile the crm binary into bin/crm
build:
	$(GO) build -o bin/crm ./cmd/crm

## run: run the service with the embedded event store under ./data (the demo data is loaded on the first start of an empty store)
run:
	$(GO) run ./cmd/crm serve --demo

## test: the full suite: vet, then every test with the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	@# acceptance runs too slow for the race detector (skipped under -race above)
	$(GO) test -count=1 -timeout 10m -run 'ChurnEvaluateFull' ./cmd/crm

## vet: go vet and a gofmt check
vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fmt: gofmt every Go file
fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: run the benchmarks and write BENCHMARKS.md (BENCHTIME, COUNT, BENCH, BENCH_PKGS)
bench:
	BENCHTIME=$(BENCHTIME) scripts/bench.sh

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## docker: build the container image crm:latest
docker:
	docker build -t crm:latest .

## clean: remove build and benchmark output (not ./data)
clean:
	rm -rf bin .bench
