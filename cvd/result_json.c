/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A verification result as one JSON object (written with json.h). */
#include <string.h>

#include "ampscan/cvd.h"
#include "json.h"
#include "num.h"
#include "util.h"

static const char *
json_signer(enum cvd_signer_kind k)
{
	switch (k) {
	case CVD_SIGNER_OFFICIAL: return "official";
	case CVD_SIGNER_KEY: return "trusted-key";
	case CVD_SIGNER_CERT: return "certificate";
	case CVD_SIGNER_NONE:
	default: return "none";
	}
}

static void
json_header(struct jsonw *w, const struct cvd_header *h)
{
	static const char *const kinds[] = { "cvd", "cld", "cud" };

	jsonw_key(w, "header");
	jsonw_obj_begin(w);
	jsonw_key(w, "kind");
	jsonw_str(w, kinds[h->kind]);
	jsonw_key(w, "time");
	jsonw_str(w, h->time);
	jsonw_key(w, "version");
	jsonw_uint(w, h->version);
	jsonw_key(w, "sigs");
	jsonw_uint(w, h->sigs);
	jsonw_key(w, "flevel");
	jsonw_uint(w, h->flevel);
	jsonw_key(w, "md5");
	jsonw_str(w, h->md5);
	jsonw_key(w, "dsig");
	jsonw_str(w, h->dsig);
	jsonw_key(w, "builder");
	jsonw_str(w, h->builder);
	if (h->has_stime) {
		jsonw_key(w, "stime");
		jsonw_uint(w, h->stime);
	}
	jsonw_obj_end(w);
}

static void
json_error(struct jsonw *w, const struct cvd_result *r)
{
	jsonw_key(w, "error");
	if (r->status == 0) {
		jsonw_null(w);
		return;
	}
	jsonw_obj_begin(w);
	jsonw_key(w, "code");
	jsonw_str(w, cvd_error_id(r->status));
	jsonw_key(w, "message");
	jsonw_str(w, r->message);
	jsonw_obj_end(w);
}

static void
json_signer_obj(struct jsonw *w, const struct cvd_result *r)
{
	jsonw_key(w, "signer");
	jsonw_obj_begin(w);
	jsonw_key(w, "kind");
	jsonw_str(w, json_signer(r->signer));
	jsonw_key(w, "name");
	jsonw_str(w, r->signer_name);
	jsonw_key(w, "sign_file");
	jsonw_str_or_null(w, r->has_sign_file ? r->sign_path : NULL);
	jsonw_obj_end(w);
}

static void
json_members(struct jsonw *w, const struct cvd_result *r)
{
	char hex[65];

	jsonw_key(w, "members");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < r->nmembers; i++) {
		num_hex(r->members[i].sha256, 32, hex);
		jsonw_obj_begin(w);
		jsonw_key(w, "name");
		jsonw_str(w, r->members[i].name);
		jsonw_key(w, "size");
		jsonw_uint(w, r->members[i].size);
		jsonw_key(w, "sha256");
		jsonw_str(w, hex);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static void
json_types(struct jsonw *w, const struct cvd_result *r)
{
	jsonw_key(w, "types");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < r->ntypes; i++) {
		jsonw_obj_begin(w);
		jsonw_key(w, "ext");
		jsonw_str(w, r->types[i].ext);
		jsonw_key(w, "sigs");
		jsonw_uint(w, r->types[i].sigs);
		jsonw_key(w, "loaded");
		jsonw_bool(w, r->types[i].loaded);
		jsonw_key(w, "not_loaded");
		jsonw_uint(w, r->types[i].not_loaded);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

void
cvd_result_json_members(struct jsonw *w, const char *path,
    const struct cvd_result *r)
{
	jsonw_key(w, "file");
	jsonw_str(w, path);
	jsonw_key(w, "ok");
	jsonw_bool(w, r->status == 0);
	json_error(w, r);
	if (r->header_ok)
		json_header(w, &r->header);
	json_signer_obj(w, r);
	jsonw_key(w, "file_size");
	jsonw_uint(w, r->file_size);
	jsonw_key(w, "inflated_size");
	jsonw_uint(w, r->inflated_size);
	json_members(w, r);
	json_types(w, r);
}

void
cvd_result_print_json(FILE *f, const char *path, const struct cvd_result *r)
{
	struct jsonw w;

	jsonw_init(&w, jsonw_put_file, f);
	jsonw_obj_begin(&w);
	cvd_result_json_members(&w, path, r);
	jsonw_obj_end(&w);
}
