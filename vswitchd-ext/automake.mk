# ovs-flexmap: per-bridge map tables in ofproto, built into libofproto.
AM_CPPFLAGS += -I $(top_srcdir)/flexmap/vswitchd-ext
ofproto_libofproto_la_SOURCES += \
	flexmap/vswitchd-ext/ofproto-flexmap.c \
	flexmap/vswitchd-ext/ofproto-flexmap.h
