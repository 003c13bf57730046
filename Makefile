# pg_trickle — the entry point users know.
#
#   make              build the extension (the C++ core is built once, by CMake, into build/)
#   make install      install into the PostgreSQL found by pg_config (needs root)
#   make installcheck pg_regress against a running server that preloads pg_trickle
#   make test         everything: dependencies, build, install, unit + regression + integration
#                     tests against a throwaway cluster (CTest prints the summary)
#   make demo         build, install and start a demo cluster with sample stream tables
#   make demo-stop    stop the demo cluster
#   make deps         install the Debian packages the build and tests need (as root)

EXTENSION = pg_trickle
MODULE_big = pg_trickle
PG_SOURCES := $(sort $(wildcard src/pg/*.cpp src/pg/*/*.cpp))
OBJS = $(PG_SOURCES:.cpp=.o)
DATA = $(wildcard sql/pg_trickle--*.sql)
REGRESS = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/pg_trickle--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=pg_trickle
EXTRA_CLEAN = build

BUILD_DIR ?= build
CORE_LIB = $(BUILD_DIR)/libpgtrickle_core.a

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -Iinclude -Isrc/pg
PG_CXXFLAGS = -std=c++20 -fPIC -Wall -Wextra -Wno-register -Wno-missing-field-initializers \
              -Wno-unused-parameter -Wno-sign-compare -fexceptions
SHLIB_LINK = $(CORE_LIB) -lfmt -lstdc++

# Debian's PostgreSQL is built --with-llvm; without this PGXS would also compile every source to
# LLVM bitcode with clang.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The core library and every test binary come from CMake: one build of the core, not two.
.PHONY: core
core:
	@cmake -S . -B $(BUILD_DIR) -DPGTRICKLE_PG_TESTS=ON >/dev/null
	@cmake --build $(BUILD_DIR) -j2

$(CORE_LIB): core
$(shlib): $(CORE_LIB)
$(OBJS): $(wildcard include/pg_trickle/*/*.hpp src/pg/*/*.hpp)

.PHONY: deps test property demo demo-stop unit
deps:
	scripts/install-deps.sh

unit: core
	cd $(BUILD_DIR) && ctest --output-on-failure -R '^unit\.'

test:
	scripts/install-deps.sh
	$(MAKE) all
	$(MAKE) install
	cd $(BUILD_DIR) && ctest --output-on-failure

# The randomized differential-vs-full property tester alone, with many cases (make test runs 200),
# on a throwaway cluster of its own: make property CASES=10000 SEED=1
PROPERTY_CLUSTER ?= /tmp/pg_trickle_property_cluster
PROPERTY_PORT ?= 54339
property:
	scripts/install-deps.sh
	$(MAKE) all
	$(MAKE) install
	scripts/cluster.sh start $(PROPERTY_CLUSTER) $(PROPERTY_PORT)
	PGTRICKLE_TEST_HOST=$(PROPERTY_CLUSTER)/socket PGTRICKLE_TEST_PORT=$(PROPERTY_PORT) \
	  PGTRICKLE_PROPERTY_CASES=$(or $(CASES),3000) $(if $(SEED),PGTRICKLE_PROPERTY_SEED=$(SEED)) \
	  $(BUILD_DIR)/integration_tests --gtest_filter=Property.DifferentialMatchesFull; \
	  rc=$$?; scripts/cluster.sh stop $(PROPERTY_CLUSTER) $(PROPERTY_PORT); exit $$rc

demo:
	scripts/install-deps.sh
	$(MAKE) all
	$(MAKE) install
	scripts/demo.sh start

demo-stop:
	scripts/demo.sh stop
