/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the .cvd.sign parser (lines, flevel ranges, base-64, PKCS#7 DER)
 * against a fixed small "container" and an empty certificate store.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "signfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cvd_trust *t;
	char path[64], signer[256], err[CVD_ERRMSG_MAX];
	int sfd, cfd;

	if (t == NULL) {
		if (cvd_trust_new(CVD_TRUST_NO_OFFICIAL, &t) != 0)
			abort();
		t->store = X509_STORE_new();
	}
	sfd = memfd_create("sign", 0);
	cfd = memfd_create("cvd", 0);
	if (sfd >= 0 && cfd >= 0 && write(sfd, data, size) == (ssize_t)size &&
	    write(cfd, "container", 9) == 9) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", sfd);
		signfile_verify(t, path, cfd, signer, sizeof(signer), err,
		    sizeof(err));
	}
	if (sfd >= 0)
		close(sfd);
	if (cfd >= 0)
		close(cfd);
	return 0;
}
