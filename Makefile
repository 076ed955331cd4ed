# tids — trusted industrial data space broker.
#
# `make check` and `make demo` first install what the build needs (see
# packaging/deps.sh); every other target expects it to be there.
# Quiet unless V=1; SANITIZE=address,undefined; WERROR=1 (set by CI).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
SYSUSERSDIR ?= $(shell pkg-config --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)
TMPFILESDIR ?= $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
DESTDIR ?=

O ?= build
CC ?= cc
CLANG ?= clang
PYTHON ?= python3
PKGS := rdkafka libsodium libprotobuf-c sqlite3
# tidsd alone serves HTTP (/metrics, /health).
DAEMON_PKGS := libmicrohttpd
FUZZ_SECONDS ?= 20

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC
CFLAGS += -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wconversion
CFLAGS += -Wformat=2 -Wundef -fno-common -fstack-protector-strong
CFLAGS += -MMD -MP
ifeq ($(WERROR),1)
CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif
CPPFLAGS += -Ilib/include -Ipolicy -I$(O)/proto -DTIDS_SYSCONFDIR='"$(SYSCONFDIR)"'
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)
LDLIBS += -lm -lpthread

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-8s %s\n' '$(1)' '$(2)';
endif

PROTOS := $(wildcard proto/tids/v1/*.proto)
PB_C := $(patsubst proto/%.proto,$(O)/proto/%.pb-c.c,$(PROTOS))
PB_H := $(PB_C:.c=.h)
PB_O := $(PB_C:.c=.o)

LIB_SRC := $(wildcard lib/*.c)
LIB_O := $(patsubst %.c,$(O)/%.o,$(LIB_SRC))
POLICY_SRC := $(wildcard policy/*.c)
POLICY_O := $(patsubst %.c,$(O)/%.o,$(POLICY_SRC))
DAEMON_SRC := $(wildcard daemon/*.c)
DAEMON_O := $(patsubst %.c,$(O)/%.o,$(DAEMON_SRC))
CLI_SRC := $(wildcard cli/*.c)
CLI_O := $(patsubst %.c,$(O)/%.o,$(CLI_SRC))
UNIT_SRC := $(wildcard tests/unit/check_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_O := $(patsubst %.c,$(O)/%.o,$(TESTLIB_SRC))
INTEG_SRC := $(wildcard tests/integration/itest_*.c)
INTEG_BIN := $(patsubst tests/integration/%.c,$(O)/tests/%,$(INTEG_SRC))
# Tests of one hub on several tidsd instances: a three-broker cluster each.
CLUSTER_SRC := $(wildcard tests/integration/cluster_*.c)
CLUSTER_BIN := $(patsubst tests/integration/%.c,$(O)/tests/%,$(CLUSTER_SRC))
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(patsubst tests/bench/%.c,$(O)/tests/%,$(BENCH_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))

LIBTIDS := $(O)/libtids.a
# The shared library: its SONAME changes only when its ABI breaks
# (debian/libtids1.symbols lists what it exports).
LIBTIDS_SOVERSION := 1
LIBTIDS_SO := $(O)/libtids.so.$(LIBTIDS_SOVERSION)
LIB_PKGS := libsodium libprotobuf-c sqlite3
LIBPOLICY := $(O)/libtidspolicy.a
TIDSD := $(O)/tidsd
TIDSCTL := $(O)/tidsctl
PROGRAMS := $(if $(DAEMON_SRC),$(TIDSD)) $(if $(CLI_SRC),$(TIDSCTL))

.PHONY: all deps check test-unit test-integration test-cluster bench fuzz fuzz-run analyze install clean demo kafka-fetch deb
.DEFAULT_GOAL := all
.SECONDARY:

all: $(LIBTIDS) $(LIBTIDS_SO) $(LIBPOLICY) $(PROGRAMS)

# Generated protobuf-c code lives in the build directory only.
$(O)/proto/%.pb-c.c $(O)/proto/%.pb-c.h: proto/%.proto $(PROTOS)
	$(call say,PROTOC,$<)
	$(Q)mkdir -p $(O)/proto
	$(Q)protoc-c -Iproto --c_out=$(O)/proto $<

# Generated code is not ours to make -Wconversion clean, nor part of the
# shared library's interface (hidden).
$(O)/proto/%.pb-c.o: $(O)/proto/%.pb-c.c $(PB_H)
	$(call say,CC,$<)
	$(Q)$(CC) $(filter-out -W% -MMD -MP,$(CFLAGS)) -w -fvisibility=hidden $(CPPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(O)/%.o: %.c | $(PB_H)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) $(if $(filter tests/%,$<),$(CHECK_CFLAGS) -Itests/lib) -c -o $@ $<

# The static library is one relocatable object whose hidden symbols (the
# helpers lib/ files share, the generated protobuf-c code) are made local:
# a program linking libtids.a sees the same tids_* names as one linking
# libtids.so, and cannot collide with our internal names. Nothing outside
# lib/ includes lib/'s internal headers, so our own programs lose nothing.
$(LIBTIDS): $(LIB_O) $(PB_O)
	$(call say,AR,$@)
	$(Q)rm -f $@ $(O)/libtids.o
	$(Q)$(LD) -r -o $(O)/libtids.o $^
	$(Q)objcopy --localize-hidden $(O)/libtids.o
	$(Q)ar rcs $@ $(O)/libtids.o && rm -f $(O)/libtids.o

$(LIBTIDS_SO): $(LIB_O) $(PB_O) lib/libtids.map
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libtids.so.$(LIBTIDS_SOVERSION) -Wl,--version-script=lib/libtids.map \
		-Wl,--no-undefined -Wl,-z,relro -Wl,-z,now -o $@ $(LIB_O) $(PB_O) $$(pkg-config --libs $(LIB_PKGS)) $(LDLIBS)
	$(Q)ln -sf libtids.so.$(LIBTIDS_SOVERSION) $(O)/libtids.so

$(LIBPOLICY): $(POLICY_O)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(TIDSD): $(DAEMON_O) $(LIBPOLICY) $(LIBTIDS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $$(pkg-config --libs $(DAEMON_PKGS)) $(LDLIBS)

$(TIDSCTL): $(CLI_O) $(LIBPOLICY) $(LIBTIDS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# check_metrics compiles daemon/metrics.c into itself (daemon/ is no library).
$(O)/tests/unit/check_metrics.o: daemon/metrics.c daemon/metrics.h
$(O)/tests/unit/check_delivery_hash.o: daemon/delivery_hash.c daemon/delivery_hash.h
$(O)/tests/unit/check_committed.o: daemon/committed.c daemon/committed.h
$(O)/tests/check_%: $(O)/tests/unit/check_%.o $(TESTLIB_O) $(LIBPOLICY) $(LIBTIDS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) $(LDLIBS)

# check_wire_write holds the one-pass writers to protobuf-c's packing, so
# it needs lib/'s internals (which libtids.a makes local): the objects.
$(O)/tests/check_wire_write: $(O)/tests/unit/check_wire_write.o $(TESTLIB_O) $(LIBPOLICY) $(LIB_O) $(PB_O)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) $(LDLIBS)

# check_buf sees every block given back to the allocator.
$(O)/tests/check_buf: LDFLAGS += -Wl,--wrap=free -Wl,--wrap=realloc

$(O)/tests/itest_%: $(O)/tests/integration/itest_%.o $(TESTLIB_O) $(LIBPOLICY) $(LIBTIDS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) $(LDLIBS)

# Known-answer vectors of the wire protocol, made by libtids (tests/vectors/).
$(O)/tests/gen_%: $(O)/tests/vectors/gen_%.o $(LIBTIDS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(O)/tests/cluster_%: $(O)/tests/integration/cluster_%.o $(TESTLIB_O) $(LIBPOLICY) $(LIBTIDS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) $(LDLIBS)

$(O)/tests/bench_%: $(O)/tests/bench/bench_%.o $(TESTLIB_O) $(LIBPOLICY) $(LIBTIDS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

deps:
	$(Q)packaging/deps.sh

# Unit tests: one Check binary per module, known-answer data under tests/.
test-unit: $(UNIT_BIN) $(PROGRAMS) $(O)/tests/gen_protocol $(LIBTIDS_SO)
	$(Q)set -e; for t in $(UNIT_BIN); do echo "  UNIT     $$t"; \
		TIDS_SOURCE_DIR=$(CURDIR) TIDS_BUILD_DIR=$(CURDIR)/$(O) CK_VERBOSITY=$${CK_VERBOSITY:-normal} $$t; done
	$(Q)set -e; for t in tests/packaging/*.sh; do O=$(O) CC="$(CC)" $$t; done
	$(Q)O=$(O) tests/cli/check_args.sh

# Integration tests run the real binaries against a real Apache Kafka broker.
test-integration: $(INTEG_BIN) $(PROGRAMS)
	$(Q)O=$(O) SANITIZE=$(SANITIZE) tests/kafka/with-broker.sh tests/integration/run.sh $(INTEG_BIN)

# ...and against a three-broker cluster, after them (never at once).
test-cluster: $(CLUSTER_BIN) $(PROGRAMS)
	$(Q)O=$(O) SANITIZE=$(SANITIZE) tests/kafka/with-cluster.sh tests/integration/run.sh $(CLUSTER_BIN)

check:
	$(Q)packaging/deps.sh --test
	$(Q)O=$(O) tests/interop/setup.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory test-unit
	$(Q)O=$(O) clients/python/tests/run.sh
	$(Q)$(MAKE) --no-print-directory test-integration
	$(Q)$(MAKE) --no-print-directory test-cluster
	@echo "  CHECK    all tests passed"

demo:
	$(Q)packaging/deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)KEEP=$(KEEP) O=$(O) packaging/demo/demo.sh

bench: $(BENCH_BIN) $(PROGRAMS)
	$(Q)O=$(O) tests/kafka/with-broker.sh tests/bench/run.sh $(BENCH_BIN)

# libFuzzer targets drive the same decode gates the daemon uses.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) $(PKG_CFLAGS)
# fuzz_config compiles daemon/config.c into itself (with a stub fatalx).
$(O)/fuzz/fuzz_config: daemon/config.c daemon/tidsd.h
# So does fuzz_metrics with daemon/metrics.c.
$(O)/fuzz/fuzz_metrics: daemon/metrics.c daemon/metrics.h
$(O)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC) $(POLICY_SRC) $(PB_C) $(PB_H)
	$(call say,FUZZ,$@)
	$(Q)mkdir -p $(O)/fuzz
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -w -o $@ $< $(LIB_SRC) $(POLICY_SRC) $(PB_C) $(PKG_LIBS) $(LDLIBS)

# Like check, installs what it needs first (clang's libFuzzer runtime).
fuzz:
	$(Q)packaging/deps.sh --fuzz
	$(Q)$(MAKE) --no-print-directory fuzz-run

fuzz-run: $(FUZZ_BIN)
	$(Q)set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); \
		mkdir -p $(O)/fuzz/corpus/$$n; \
		echo "  FUZZ     $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 -artifact_prefix=$(O)/fuzz/ $(O)/fuzz/corpus/$$n \
			$$( [ -d tests/fuzz/seeds/$$n ] && echo tests/fuzz/seeds/$$n ) 2>$(O)/fuzz/$$n.log \
			|| { tail -40 $(O)/fuzz/$$n.log; exit 1; }; done

# scan-build over a build of its own; any report fails the target.
analyze: $(PB_H)
	$(Q)packaging/deps.sh --analyze
	$(Q)rm -rf $(O)/scan
	$(Q)scan-build --status-bugs -o $(O)/analyze $(MAKE) --no-print-directory O=$(O)/scan all

kafka-fetch:
	$(Q)O=$(O) tests/kafka/fetch.sh

# The Debian packages (debian/), built from a copy of this tree, because
# dpkg-buildpackage writes its results next to the source: they land in
# $(O)/deb/, then lintian must find no error in them.
deb:
	$(Q)packaging/deps.sh --deb
	$(Q)packaging/deb.sh $(O)/deb

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR)/tids $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/tids $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DATADIR)/tids/policy \
		$(DESTDIR)$(BASHCOMPDIR)
	$(if $(wildcard $(TIDSD)),install -m 0755 $(TIDSD) $(DESTDIR)$(SBINDIR)/tidsd)
	$(if $(wildcard $(TIDSCTL)),install -m 0755 $(TIDSCTL) $(DESTDIR)$(BINDIR)/tidsctl)
	install -m 0644 $(LIBTIDS) $(DESTDIR)$(LIBDIR)/libtids.a
	install -m 0644 $(LIBTIDS_SO) $(DESTDIR)$(LIBDIR)/libtids.so.$(LIBTIDS_SOVERSION)
	ln -sf libtids.so.$(LIBTIDS_SOVERSION) $(DESTDIR)$(LIBDIR)/libtids.so
	install -m 0644 lib/include/tids/*.h $(DESTDIR)$(INCLUDEDIR)/tids/
	install -m 0644 policy/obligations.def $(DESTDIR)$(INCLUDEDIR)/tids/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		packaging/libtids.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libtids.pc
	$(foreach m,$(wildcard packaging/man/*.[158]),install -m 0644 $(m) $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/;)
	$(if $(wildcard packaging/tidsd.service),sed -e 's|@SBINDIR@|$(SBINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		packaging/tidsd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/tidsd.service)
	$(if $(wildcard packaging/tidsd@.service),sed -e 's|@SBINDIR@|$(SBINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		packaging/tidsd@.service > '$(DESTDIR)$(SYSTEMDUNITDIR)/tidsd@.service')
	$(if $(wildcard packaging/tidsd.sysusers),install -m 0644 packaging/tidsd.sysusers $(DESTDIR)$(SYSUSERSDIR)/tidsd.conf)
	$(if $(wildcard packaging/tidsd.tmpfiles),install -m 0644 packaging/tidsd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/tidsd.conf)
	$(if $(wildcard packaging/tidsd.conf.example),test -e $(DESTDIR)$(SYSCONFDIR)/tids/tidsd.conf || \
		install -m 0640 packaging/tidsd.conf.example $(DESTDIR)$(SYSCONFDIR)/tids/tidsd.conf)
	@# tidsd runs as tids and must read its configuration: root:tids 0750 and
	@# 0640, set here when the group exists already, else by the tmpfiles
	@# entry (systemd-tmpfiles --create, after systemd-sysusers).
	chmod 0750 $(DESTDIR)$(SYSCONFDIR)/tids
	if getent group tids >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		chgrp tids $(DESTDIR)$(SYSCONFDIR)/tids $(DESTDIR)$(SYSCONFDIR)/tids/tidsd.conf; fi
	$(if $(wildcard policy/default/*.tidspol),install -m 0644 policy/default/*.tidspol $(DESTDIR)$(DATADIR)/tids/policy/)
	install -m 0644 packaging/bash-completion/tidsctl packaging/bash-completion/tidsd $(DESTDIR)$(BASHCOMPDIR)/
	install -m 0644 packaging/grafana-dashboard.json $(DESTDIR)$(DATADIR)/tids/

clean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
