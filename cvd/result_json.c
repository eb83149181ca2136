/* A verification result as one JSON object. */
#include <string.h>

#include "ampscan/cvd.h"
#include "util.h"

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

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
json_header(FILE *f, const struct cvd_header *h)
{
	static const char *const kinds[] = { "cvd", "cld", "cud" };

	fprintf(f, ",\"header\":{\"kind\":\"%s\",\"time\":", kinds[h->kind]);
	json_str(f, h->time);
	fprintf(f, ",\"version\":%u,\"sigs\":%u,\"flevel\":%u,\"md5\":",
	    h->version, h->sigs, h->flevel);
	json_str(f, h->md5);
	fputs(",\"dsig\":", f);
	json_str(f, h->dsig);
	fputs(",\"builder\":", f);
	json_str(f, h->builder);
	if (h->has_stime)
		fprintf(f, ",\"stime\":%llu", (unsigned long long)h->stime);
	fputc('}', f);
}

void
cvd_result_print_json(FILE *f, const char *path, const struct cvd_result *r)
{
	char hex[65];

	fputs("{\"file\":", f);
	json_str(f, path);
	fprintf(f, ",\"ok\":%s,\"error\":", r->status == 0 ? "true" : "false");
	if (r->status == 0)
		fputs("null", f);
	else {
		fprintf(f, "{\"code\":\"%s\",\"message\":", cvd_error_id(r->status));
		json_str(f, r->message);
		fputc('}', f);
	}
	if (r->header_ok)
		json_header(f, &r->header);
	fprintf(f, ",\"signer\":{\"kind\":\"%s\",\"name\":", json_signer(r->signer));
	json_str(f, r->signer_name);
	fputs(",\"sign_file\":", f);
	if (r->has_sign_file)
		json_str(f, r->sign_path);
	else
		fputs("null", f);
	fprintf(f, "},\"file_size\":%llu,\"inflated_size\":%llu,\"members\":[",
	    (unsigned long long)r->file_size, (unsigned long long)r->inflated_size);
	for (size_t i = 0; i < r->nmembers; i++) {
		num_hex(r->members[i].sha256, 32, hex);
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		json_str(f, r->members[i].name);
		fprintf(f, ",\"size\":%llu,\"sha256\":\"%s\"}",
		    (unsigned long long)r->members[i].size, hex);
	}
	fputs("],\"types\":[", f);
	for (size_t i = 0; i < r->ntypes; i++) {
		fputs(i ? ",{\"ext\":" : "{\"ext\":", f);
		json_str(f, r->types[i].ext);
		fprintf(f, ",\"sigs\":%llu,\"loaded\":%s,\"not_loaded\":%llu}",
		    (unsigned long long)r->types[i].sigs,
		    r->types[i].loaded ? "true" : "false",
		    (unsigned long long)r->types[i].not_loaded);
	}
	fputs("]}", f);
}
