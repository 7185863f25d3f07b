/* SPDX-License-Identifier: MIT */
#pragma once

#include "module.h"

/* NULL-terminated */
extern const ModuleOps *const module_table[];
