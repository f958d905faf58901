# ovs-flexmap: the control plane's database schema and flexmap-ctl, built
# in the OVS tree next to vtep-ctl.
OVSIDL_BUILT += \
	flexmap/controller/flexmap-idl.c \
	flexmap/controller/flexmap-idl.h \
	flexmap/controller/flexmap-idl.ovsidl
FLEXMAP_IDL_FILES = \
	$(srcdir)/flexmap/controller/flexmap.ovsschema \
	$(srcdir)/flexmap/controller/flexmap-idl.ann
flexmap/controller/flexmap-idl.ovsidl: $(FLEXMAP_IDL_FILES)
	$(AM_V_GEN)$(OVSDB_IDLC) annotate $(FLEXMAP_IDL_FILES) > $@.tmp && \
	mv $@.tmp $@

bin_PROGRAMS += flexmap/controller/flexmap-ctl
flexmap_controller_flexmap_ctl_SOURCES = flexmap/controller/flexmap-ctl.c
nodist_flexmap_controller_flexmap_ctl_SOURCES = \
	flexmap/controller/flexmap-idl.c \
	flexmap/controller/flexmap-idl.h
flexmap_controller_flexmap_ctl_LDADD = lib/libopenvswitch.la

pkgdata_DATA += flexmap/controller/flexmap.ovsschema

# The schema's checksum must match its text, as for OVS's own schemas.
ALL_LOCAL += flexmap/controller/flexmap.ovsschema.stamp
flexmap/controller/flexmap.ovsschema.stamp: \
	flexmap/controller/flexmap.ovsschema
	$(srcdir)/build-aux/cksum-schema-check $? $@
CLEANFILES += flexmap/controller/flexmap.ovsschema.stamp

bin_PROGRAMS += flexmap/controller/flexmap-controller
flexmap_controller_flexmap_controller_SOURCES = \
	flexmap/controller/flexmap-controller.c \
	flexmap/controller/fc-claims.c \
	flexmap/controller/fc-claims.h \
	flexmap/controller/fc-ctx.h \
	flexmap/controller/fc-desired.c \
	flexmap/controller/fc-desired.h \
	flexmap/controller/fc-flows.c \
	flexmap/controller/fc-flows.h \
	flexmap/controller/fc-inputs.c \
	flexmap/controller/fc-inputs.h \
	flexmap/controller/fc-reactive.c \
	flexmap/controller/fc-reactive.h \
	flexmap/controller/fc-repair.c \
	flexmap/controller/fc-repair.h \
	flexmap/controller/fc-scope.c \
	flexmap/controller/fc-scope.h \
	flexmap/controller/fc-status.c \
	flexmap/controller/fc-status.h \
	flexmap/controller/fc-switch.c \
	flexmap/controller/fc-switch.h
nodist_flexmap_controller_flexmap_controller_SOURCES = \
	flexmap/controller/flexmap-idl.c \
	flexmap/controller/flexmap-idl.h
flexmap_controller_flexmap_controller_LDADD = lib/libopenvswitch.la

# Manual pages, in OVS's man page style (lib/ovs.tmac), installed with
# the programs.
MAN_ROOTS += \
	flexmap/controller/flexmap-ctl.8.in \
	flexmap/controller/flexmap-controller.8.in
man_MANS += \
	flexmap/controller/flexmap-ctl.8 \
	flexmap/controller/flexmap-controller.8
CLEANFILES += \
	flexmap/controller/flexmap-ctl.8 \
	flexmap/controller/flexmap-controller.8

# Bash completion, installed next to ovs-vsctl's.
completion_SCRIPTS += flexmap/controller/flexmap-ctl-bashcomp.bash
