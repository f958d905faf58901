# ovs-flexmap: map entry model and OpenFlow codecs, built into
# libopenvswitch.  Included from the patched OVS Makefile.am; paths are
# relative to the OVS tree, where the build copies our sources to flexmap/.
AM_CPPFLAGS += -I $(top_srcdir)/flexmap/lib
lib_libopenvswitch_la_SOURCES += \
	flexmap/lib/flexmap.c \
	flexmap/lib/flexmap.h \
	flexmap/lib/ofp-flexmap.c \
	flexmap/lib/ofp-flexmap.h
