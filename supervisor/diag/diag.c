/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The crash-loop diagnosis (diag.h): read, analyse, report. */
#include <stdlib.h>

#include "diag_int.h"

/* ---- the whole -------------------------------------------------------------- */

static void
diag_free(struct diag *g)
{
	size_t i;

	for (i = 0; g->ex != NULL && i < DIAG_EXITS_MAX; i++)
		diag_exit_clear(&g->ex[i]);
	free(g->ex);
	poison_free(&g->poison);
	free(g->svclog);
	free(g->dlog);
	diag_groups_free(&g->by_sig);
	diag_groups_free(&g->by_defs);
	diag_groups_free(&g->by_file);
	config_free(&g->defcfg);
	free(g);
}


int
diag_run(const struct diag_opts *o, struct strbuf *out, char *err,
    size_t errlen)
{
	struct diag *g;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (o->state_dir == NULL) {
		str_fmt(err, errlen, "no state directory");
		return -1;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->ex = calloc(DIAG_EXITS_MAX, sizeof(*g->ex))) == NULL) {
		free(g);
		str_fmt(err, errlen, "out of memory");
		return -1;
	}
	g->o = o;
	config_defaults(&g->defcfg);
	g->cfg = o->cfg != NULL ? o->cfg : &g->defcfg;
	diag_read(g);
	diag_analyse(g);
	g->verdict = diag_verdict_of(g);
	if (o->json)
		diag_report_json(g, out);
	else
		diag_report_text(g, out);
	if (out->failed)
		str_fmt(err, errlen, "the diagnosis was cut at %zu bytes", out->max);
	rc = g->verdict;
	diag_free(g);
	return rc;
}
