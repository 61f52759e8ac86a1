################################################################################
#
# ata: the firmware, built from this repository (BR2_EXTERNAL_ATA_PATH/..)
#
################################################################################

ATA_SITE = $(BR2_EXTERNAL_ATA_PATH)/..
ATA_SITE_METHOD = local
ATA_VERSION = $(shell git -C $(ATA_SITE) describe --always --dirty 2>/dev/null || echo dev)
ATA_LICENSE = see repository
ATA_GOMOD = github.com/openata/ata
ATA_BUILD_TARGETS = cmd/ata image/cmd/ata-sys
ATA_INSTALL_BINS = ata ata-sys
# The same flags as `make cross`: static, stripped, version stamped.
ATA_LDFLAGS = -s -w -X main.version=$(ATA_VERSION)
ATA_GO_ENV = CGO_ENABLED=0

# ata-sys goes where the offline image puts it.
define ATA_MOVE_ATA_SYS
	mkdir -p $(TARGET_DIR)/usr/sbin
	mv $(TARGET_DIR)/usr/bin/ata-sys $(TARGET_DIR)/usr/sbin/ata-sys
endef
ATA_POST_INSTALL_TARGET_HOOKS += ATA_MOVE_ATA_SYS

$(eval $(golang-package))
