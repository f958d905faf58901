# ovs-flexmap: the userspace datapath's map cache, built into
# libopenvswitch next to dpif-netdev.
AM_CPPFLAGS += -I $(top_srcdir)/flexmap/datapath-dpdk
lib_libopenvswitch_la_SOURCES += \
	flexmap/datapath-dpdk/flexmap-affinity.c \
	flexmap/datapath-dpdk/flexmap-affinity.h \
	flexmap/datapath-dpdk/flexmap-cache.c \
	flexmap/datapath-dpdk/flexmap-cache.h \
	flexmap/datapath-dpdk/flexmap-cache-exec.c \
	flexmap/datapath-dpdk/flexmap-cache-format.c \
	flexmap/datapath-dpdk/flexmap-cache-private.h \
	flexmap/datapath-dpdk/flexmap-cache-tnl.c \
	flexmap/datapath-dpdk/flexmap-chash.c \
	flexmap/datapath-dpdk/flexmap-chash.h \
	flexmap/datapath-dpdk/flexmap-dpif.c \
	flexmap/datapath-dpdk/flexmap-dpif.h
