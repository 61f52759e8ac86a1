# The firmware's one-command entry points. See README.md.
GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# KEYS: the update signing key pair (make keys); its public half is linked
# into the firmware, which then accepts only bundles signed with it.
KEYS      ?= keys
UPDATE_PUB = $(shell cat $(KEYS)/update.pub 2>/dev/null)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.updateKey=$(UPDATE_PUB)
PKGS      := ./...
FUZZTIME  ?= 10000x

# cross, image, qemu, flash, image-test: the SD card image (see README).
include image.mk

.PHONY: all build run test unit fuzz vet fmt-check deps bench clean webui-e2e

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o out/ata ./cmd/ata

## run: the firmware on the embedded default config (sim board), or on
## CONFIG=FILE (read only: the web UI's saves go to its data directory).
run: build
	./out/ata $(if $(CONFIG),-config $(CONFIG))

deps:
	./scripts/install-test-deps.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 $(PKGS)

## fuzz: every fuzz target for FUZZTIME each (seed corpora always run in unit).
fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)

## webui-e2e: the web UI in headless Chromium; screenshots in out/screenshots.
webui-e2e:
	SCREENSHOT_DIR=$(CURDIR)/out/screenshots ./webui/e2e/run.sh

## test: what CI runs.
test: deps vet fmt-check unit fuzz webui-e2e image-test

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf out
