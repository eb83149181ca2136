/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names of the library's error codes. */
#include "ampscan/cvd.h"

struct cvd_errname {
	int code;
	const char *id;
	const char *text;
};

static const struct cvd_errname cvd_errnames[] = {
	{ CVD_OK, "ok", "success" },
	{ CVD_EIO, "io", "cannot read file" },
	{ CVD_ENOMEM, "nomem", "out of memory" },
	{ CVD_EARG, "arg", "invalid argument" },
	{ CVD_EHEADER, "header", "malformed header" },
	{ CVD_EMD5, "md5", "payload MD5 mismatch" },
	{ CVD_ESIG, "signature", "header signature invalid or untrusted" },
	{ CVD_EUNSIGNED, "unsigned", "unsigned container not allowed" },
	{ CVD_EPAYLOAD, "payload", "compressed payload corrupt or truncated" },
	{ CVD_ETAR, "tar", "tar structure invalid" },
	{ CVD_ELIMIT, "limit", "limit exceeded" },
	{ CVD_EINFO, "info", ".info invalid" },
	{ CVD_EDSIG, "dsig", ".info DSIG invalid or untrusted" },
	{ CVD_EMEMBER, "member", "member missing, unlisted or altered" },
	{ CVD_ECONTENT, "content", "signature line invalid" },
	{ CVD_ESIGNFILE, "sign", ".cvd.sign invalid or untrusted" },
	{ CVD_EKEY, "key", "key or certificate unusable" },
	{ CVD_EWRITE, "write", "cannot write output" },
	{ CVD_ECALLBACK, "callback", "stopped by the caller" },
	{ CVD_EVERSION, "version", "version not newer than the active one" },
};

static const struct cvd_errname *
cvd_errname_find(int err)
{
	for (size_t i = 0; i < sizeof(cvd_errnames) / sizeof(cvd_errnames[0]); i++)
		if (cvd_errnames[i].code == err)
			return &cvd_errnames[i];
	return NULL;
}

const char *
cvd_strerror(int err)
{
	const struct cvd_errname *e = cvd_errname_find(err);

	return e ? e->text : "unknown error";
}

const char *
cvd_error_id(int err)
{
	const struct cvd_errname *e = cvd_errname_find(err);

	return e ? e->id : "unknown";
}
