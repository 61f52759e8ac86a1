# Cross builds, the SD card image, QEMU and flashing (included by Makefile).
# See image/ and buildroot/; the README's "Firmware image" section explains both routes.
GO         ?= go
VERSION    ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS    ?= -s -w -X main.version=$(VERSION)
BOARD      ?= rpi3
CROSS_ENV  := CGO_ENABLED=0 GOOS=linux
CROSS_BUILD = $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: cross image image-lock qemu flash image-test

## cross: static firmware binaries for the Raspberry Pi family.
cross:
	$(CROSS_ENV) GOARCH=arm64 $(CROSS_BUILD) -o out/ata-linux-arm64 ./cmd/ata
	$(CROSS_ENV) GOARCH=arm GOARM=7 $(CROSS_BUILD) -o out/ata-linux-armv7 ./cmd/ata
	$(CROSS_ENV) GOARCH=arm GOARM=6 $(CROSS_BUILD) -o out/ata-linux-armv6 ./cmd/ata
	@ls -l out/ata-linux-arm64 out/ata-linux-armv7 out/ata-linux-armv6

out/ata-sys-linux-arm64: $(wildcard image/cmd/ata-sys/*.go)
	$(CROSS_ENV) GOARCH=arm64 $(CROSS_BUILD) -o $@ ./image/cmd/ata-sys

## image: out/ata-$(BOARD).img (BOARD=rpi3|rpi4|rpi02w), from Debian's arm64 packages.
image: cross out/ata-sys-linux-arm64
	./image/build.sh $(BOARD)

## image-lock: re-pin image/debian.lock to Debian bookworm's current packages.
image-lock:
	./image/lock.sh

## qemu: boot out/ata-$(BOARD).img's kernel and initramfs under qemu-system-aarch64 -M virt.
qemu: image
	./image/qemu.sh out/ata-$(BOARD).img

## flash: write out/ata-$(BOARD).img to DEV (a removable, unmounted disk).
flash:
	./image/flash.sh out/ata-$(BOARD).img $(DEV)

## image-test: build the rpi3 image, check its layout, boot it under QEMU.
image-test:
	$(GO) test -count=1 -tags imagetest -timeout 10m -v ./image/
