# SPDX-License-Identifier: GPL-2.0
# Pinned tool and source versions. Read by scripts/lib.sh (as shell) and by
# the top-level Makefile (as make): keep to plain NAME=value lines.

# The kernel series built and tested by default. KERNEL_SERIES=7.2 in the
# environment selects the other supported series (README, "Supported
# kernels"); CI runs the default only.
KERNEL_SERIES_DEFAULT=7.3
# Preferred Debian package version of linux-source-<series>, per series.
# trixie-backports keeps old point releases longer than sid does; another
# <series>.y found in the archive is accepted as a fallback, and the version
# used is recorded in the cache.
KERNEL_DEB_VERSION_7_3=7.3.4-1~bpo13+1
KERNEL_DEB_VERSION_7_2=7.2.12-1~bpo13+1
BINDGEN_VERSION=0.72.1
LIBCLANG_PKG=libclang-19-dev
LIBCLANG_PATH_DEFAULT=/usr/lib/llvm-19/lib
