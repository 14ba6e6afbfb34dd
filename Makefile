# CassaFS — plain make + pkg-config.  `make` builds build/cassafs,
# `make test` builds and runs every test and ends with "N passed, N failed".
PKGS     := fuse3 lmdb hiredis libcrypto zlib libsystemd jansson libmicrohttpd libcurl libxml-2.0
CC       ?= cc
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -pthread -MMD -MP
CPPFLAGS += -DTHREADED -I/usr/include/zookeeper -Isrc \
            $(shell pkg-config --cflags $(PKGS)) -DCASSAFS_VERSION='"$(VERSION)"'
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lzookeeper_mt -lpthread
VERSION  := 0.1.0
PREFIX   ?= /usr/local
# mount(8) looks for mount.TYPE helpers in /sbin (= /usr/sbin on Debian 12)
SBINDIR  ?= /sbin
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= /etc/systemd/system

B        := build
LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(B)/obj/%.o)
# Every tests/<dir>/<name>.c is one test program: build/tests/<name>
TEST_SRC := $(wildcard tests/*/*.c)
TEST_BIN := $(foreach f,$(TEST_SRC),$(B)/tests/$(basename $(notdir $(f))))

all: $(B)/cassafs

$(B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libcassafs.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/cassafs: $(B)/obj/main.o $(B)/libcassafs.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

define test_rule
$(B)/tests/$(basename $(notdir $(1))): $(1) $(B)/libcassafs.a
	@mkdir -p $(B)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $$@ $$< $(B)/libcassafs.a $(LDFLAGS) $(LDLIBS)
endef
$(foreach f,$(TEST_SRC),$(eval $(call test_rule,$(f))))

tests: $(B)/cassafs $(TEST_BIN)

test: tests
	tests/run.sh

install: $(B)/cassafs
	install -D -m 0755 $(B)/cassafs $(DESTDIR)$(PREFIX)/bin/cassafs
	install -d $(DESTDIR)$(SBINDIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|' tools/mount.cassafs >$(DESTDIR)$(SBINDIR)/mount.cassafs
	chmod 0755 $(DESTDIR)$(SBINDIR)/mount.cassafs
	ln -sf mount.cassafs $(DESTDIR)$(SBINDIR)/mount.fuse.cassafs
	install -D -m 0644 man/cassafs.8 $(DESTDIR)$(MANDIR)/man8/cassafs.8
	install -D -m 0644 man/mount.cassafs.8 $(DESTDIR)$(MANDIR)/man8/mount.cassafs.8
	ln -sf mount.cassafs.8 $(DESTDIR)$(MANDIR)/man8/mount.fuse.cassafs.8
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/bin/cassafs|$(PREFIX)/bin/cassafs|' tools/cassafs@.service >$(DESTDIR)$(UNITDIR)/cassafs@.service
	install -d -m 0700 $(DESTDIR)/etc/cassafs

clean:
	rm -rf $(B)

.PHONY: all tests test install clean
-include $(wildcard $(B)/obj/*.d $(B)/tests/*.d)
