/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The builtin backend: ampscan's own engine and the libarchive walk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_if.h"
#include "engine_int.h"

struct seng_builtin {
	struct engine_builder *b;   /* until compiled */
	struct engine *engine;
	struct walk *walk;
};

static int
builtin_load(struct seng *e, const char *path, char *err, size_t errlen)
{
	struct seng_builtin *s = e->impl;

	if (s->b == NULL) {
		snprintf(err, errlen, "%s: the engine is already compiled", path);
		return -1;
	}
	return defs_load(s->b, path, e->o.dopts, err, errlen) == 0 ? 0 : -1;
}

static int
builtin_add_canary(struct seng *e, struct seng_builtin *s, char *err,
    size_t errlen)
{
	char hex[2 * SENG_MARKER_MAX + 1];
	struct sig sig;

	seng_canary_hex(e, hex, sizeof(hex));
	memset(&sig, 0, sizeof(sig));
	sig.type = SIG_TYPE_NDB;
	sig.name.p = SENG_CANARY_NAME;
	sig.name.len = strlen(SENG_CANARY_NAME);
	sig.loadable = true;
	sig.u.ndb.target = 0;
	sig.u.ndb.offset_kind = SIG_OFF_ANY;
	sig.u.ndb.pattern.p = hex;
	sig.u.ndb.pattern.len = strlen(hex);
	return engine_builder_add(s->b, "ampscan-canary.ndb", &sig, err,
	    errlen) == 0 ? 0 : -1;
}

static int
builtin_compile(struct seng *e, char *err, size_t errlen)
{
	struct seng_builtin *s = e->impl;
	int rc;

	if (!e->o.no_canary && builtin_add_canary(e, s, err, errlen) != 0)
		return -1;
	rc = engine_builder_finish(s->b, &s->engine, err, errlen);
	s->b = NULL;   /* consumed */
	if (rc != 0)
		return -1;
	if (walk_new(s->engine, &e->o.lim, &s->walk) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void
builtin_scan_fd(struct seng *e, int fd, const char *display, unsigned flags,
    struct wproto_result *res)
{
	struct seng_builtin *s = e->impl;

	walk_scan_fd(s->walk, fd, display, flags, res);
}

static void
builtin_scan_mem(struct seng *e, const uint8_t *buf, size_t len,
    const char *display, unsigned flags, struct wproto_result *res)
{
	struct seng_builtin *s = e->impl;

	walk_scan_buffer(s->walk, buf, len, display, flags, res);
}

static void
builtin_info(const struct seng *e, struct wproto_ready *m)
{
	static const char *const types[] = { "hdb", "hsb", "ndb", "fp", "sfp",
	    "ign2", "other" };
	const struct seng_builtin *s = e->impl;
	struct engine_info info;

	engine_info(s->engine, &info);
	for (size_t i = 0; i < info.ndbs && m->ndbs < WPROTO_MAX_DBS; i++) {
		struct wproto_db *d = &m->dbs[m->ndbs++];

		snprintf(d->name, sizeof(d->name), "%s", info.dbs[i].name);
		d->version = info.dbs[i].version;
		snprintf(d->kind, sizeof(d->kind), "%s", info.dbs[i].kind);
	}
	for (int t = 0; t <= SIG_TYPE_OTHER && m->ntypes < WPROTO_MAX_TYPES; t++) {
		struct wproto_typecount *c = &m->types[m->ntypes++];

		snprintf(c->type, sizeof(c->type), "%s", types[t]);
		c->loaded = info.loaded[t];
		c->not_loaded = t == SIG_TYPE_OTHER ? info.other_types :
		    info.not_loaded[t];
	}
}

static void
builtin_version(const struct seng *e, char *out, size_t outlen)
{
	(void)e;
	snprintf(out, outlen, "builtin");
}

static void
builtin_free(struct seng *e)
{
	struct seng_builtin *s = e->impl;

	engine_builder_free(s->b);
	walk_free(s->walk);
	engine_free(s->engine);
	free(s);
	e->impl = NULL;
}

uint64_t
seng_builtin_gaps(const struct engine *e, char *out, size_t outlen)
{
	static const char *const types[] = { "hdb", "hsb", "ndb", "fp", "sfp",
	    "ign2", "of other types (ldb, cdb, ...)" };
	struct engine_info info;
	uint64_t total = 0;
	size_t at = 0;

	out[0] = '\0';
	engine_info(e, &info);
	for (int t = 0; t <= SIG_TYPE_OTHER; t++) {
		if (info.unsupported[t] == 0)
			continue;
		total += info.unsupported[t];
		if (at < outlen)
			at += (size_t)snprintf(out + at, outlen - at, "%s%llu %s",
			    at ? ", " : "", (unsigned long long)info.unsupported[t],
			    types[t]);
	}
	return total;
}

const struct engine *
seng_builtin_engine(const struct seng *e)
{
	const struct seng_builtin *s;

	if (e == NULL || e->backend != SENG_BUILTIN)
		return NULL;
	s = e->impl;
	return s->engine;
}

const struct seng_ops seng_builtin_ops = {
	.load = builtin_load,
	.compile = builtin_compile,
	.scan_fd = builtin_scan_fd,
	.scan_mem = builtin_scan_mem,
	.info = builtin_info,
	.version = builtin_version,
	.free = builtin_free,
	.ncanaries = 2,   /* plain and zip: the walk parses no mail */
};

int
seng_builtin_init(struct seng *e, char *err, size_t errlen)
{
	struct seng_builtin *s = calloc(1, sizeof(*s));

	if (s == NULL || engine_builder_new(&s->b) != 0) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->impl = s;
	return 0;
}
