/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers for the module-local bindgen run (see Kbuild). Only items defined
 * in the allowlisted files are generated; everything they refer to (struct
 * bio, struct block_device, ...) comes from the kernel crate's own bindings,
 * so the types stay the kernel crate's.
 */
#include <linux/device-mapper.h>
#include <linux/dm-ioctl.h>
#include "helpers.h"
