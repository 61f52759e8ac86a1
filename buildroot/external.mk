include $(sort $(wildcard $(BR2_EXTERNAL_ATA_PATH)/package/*/*.mk))
