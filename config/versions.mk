# SPDX-License-Identifier: GPL-2.0
# Pinned tool and source versions. Read by scripts/lib.sh (as shell) and by
# the top-level Makefile (as make): keep to plain NAME=value lines.

KERNEL_SERIES=7.2
# Preferred Debian package version of linux-source-7.2. trixie-backports keeps
# old point releases longer than sid does; another 7.2.y found in the archive
# is accepted as a fallback and recorded in the cache.
KERNEL_DEB_VERSION_PREFERRED=7.2.12-1~bpo13+1
BINDGEN_VERSION=0.72.1
LIBCLANG_PKG=libclang-19-dev
LIBCLANG_PATH_DEFAULT=/usr/lib/llvm-19/lib
