# CassaFS — plain make + pkg-config.  `make` builds build/cassafs,
# `make test` builds and runs every test and ends with "N passed, N failed".
PKGS     := fuse3 lmdb hiredis libcrypto zlib libsystemd
CC       ?= cc
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -pthread -MMD -MP
CPPFLAGS += -DTHREADED -I/usr/include/zookeeper -Isrc \
            $(shell pkg-config --cflags $(PKGS)) -DCASSAFS_VERSION='"$(VERSION)"'
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lzookeeper_mt -lpthread
VERSION  := 0.1.0
PREFIX   ?= /usr/local

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
	install -D -m 0755 tools/mount.cassafs $(DESTDIR)/sbin/mount.cassafs

clean:
	rm -rf $(B)

.PHONY: all tests test install clean
-include $(wildcard $(B)/obj/*.d $(B)/tests/*.d)
