/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz whole-container verification (header, gzip, tar, .info, content
 * check) from a memfd, with unsigned containers allowed so inputs get past
 * the signature checks, and small limits so bombs end quickly.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ampscan/cvd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cvd_limits lim = {
		.max_members = 64, .max_member_size = 1 << 20,
		.max_total_size = 4 << 20, .max_ratio = 100,
	};
	struct cvd_verify_opts o = { .allow_unsigned = true, .serial = true,
	    .no_sign = true, .limits = &lim };
	struct cvd_result r;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size)
		cvd_verify_fd(fd, "fuzz", &o, &r);
	else
		r = (struct cvd_result){ 0 };
	cvd_result_free(&r);
	close(fd);
	return 0;
}
