# Cross builds, the SD card image, QEMU and flashing (included by Makefile).
# See image/ and buildroot/; the README's "Firmware image" section explains both routes.
GO         ?= go
VERSION    ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
KEYS       ?= keys
UPDATE_PUB  = $(shell cat $(KEYS)/update.pub 2>/dev/null)
LDFLAGS    ?= -s -w -X main.version=$(VERSION) -X main.updateKey=$(UPDATE_PUB)
BOARD      ?= rpi3
CROSS_ENV  := CGO_ENABLED=0 GOOS=linux
CROSS_BUILD = $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: cross image image-lock qemu flash image-test keys update

## cross: static firmware binaries for the Raspberry Pi family.
cross:
	$(CROSS_ENV) GOARCH=arm64 $(CROSS_BUILD) -o out/ata-linux-arm64 ./cmd/ata
	$(CROSS_ENV) GOARCH=arm GOARM=7 $(CROSS_BUILD) -o out/ata-linux-armv7 ./cmd/ata
	$(CROSS_ENV) GOARCH=arm GOARM=6 $(CROSS_BUILD) -o out/ata-linux-armv6 ./cmd/ata
	@ls -l out/ata-linux-arm64 out/ata-linux-armv7 out/ata-linux-armv6

out/ata-sys-linux-arm64: $(wildcard image/cmd/ata-sys/*.go update/*.go config/*.go)
	$(CROSS_ENV) GOARCH=arm64 $(CROSS_BUILD) -o $@ ./image/cmd/ata-sys

## image: out/ata-$(BOARD).img (BOARD=rpi3|rpi4|rpi02w), from Debian's arm64 packages.
image: cross out/ata-sys-linux-arm64
	VERSION=$(VERSION) ./image/build.sh $(BOARD)

## keys: the update signing key pair: keys/update.key (secret, git-ignored) and
## keys/update.pub (linked into the firmware by the builds after it).
keys:
	$(GO) run ./update/cmd/ata-bundle keygen $(KEYS)

## update: out/ata-$(BOARD)-$(VERSION).update, a signed bundle of the image's slot.
update: update-key image
	KEYS=$(KEYS) ./image/bundle.sh $(BOARD)

.PHONY: update-key
update-key:
	@[ -f $(KEYS)/update.key ] || { echo "make update: no signing key $(KEYS)/update.key: run 'make keys' first (once; keep keys/ safe)" >&2; exit 1; }

## image-lock: re-pin image/debian.lock to Debian bookworm's current packages.
image-lock:
	./image/lock.sh

## qemu: boot out/ata-$(BOARD).img's kernel and initramfs under qemu-system-aarch64 -M virt.
qemu: image
	./image/qemu.sh out/ata-$(BOARD).img

## flash: write out/ata-$(BOARD).img to DEV (a removable, unmounted disk).
flash:
	./image/flash.sh out/ata-$(BOARD).img $(DEV)

## image-test: build the rpi3 image, check its layout, boot it under QEMU (and update it: A/B, rollback).
image-test:
	$(GO) test -count=1 -tags imagetest -timeout 15m -v ./image/
