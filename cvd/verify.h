/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Verification entry shared by cvd_verify_* and unpacking. */
#ifndef CVD_VERIFY_H
#define CVD_VERIFY_H

#include "ampscan/cvd.h"

/* path (may be NULL) is where a .sign is looked for; display names it. */
int verify_run(int fd, const char *path, const char *display,
    const struct cvd_verify_opts *opts, struct cvd_result *res);

#endif
