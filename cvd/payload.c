/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Read, MD5 and inflate a payload, optionally on a helper thread. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>

#include "ampscan/cvd.h"
#include "payload.h"
#include "util.h"

struct payload_block {
	uint8_t *data;
	size_t len;
};

struct payload {
	struct payload_opts o;
	/* producer state */
	EVP_MD_CTX *md5;
	struct inflate_state *inf;
	uint8_t *in;
	size_t in_len, in_pos;
	uint64_t read_total;       /* payload bytes read */
	uint64_t out_total;        /* bytes inflated */
	bool inflate_done;
	/* ring of blocks, producer -> consumer */
	struct payload_block blocks[PAYLOAD_NBLOCKS];
	unsigned head, count;      /* consumer takes blocks[head] */
	bool consumer_holds;       /* blocks[head] lent out, not yet returned */
	int status;                /* 0 running, 1 done, <0 error */
	char err[CVD_ERRMSG_MAX];
	uint8_t digest[16];
	/* threading */
	bool threaded, cancel;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static int payload_fail(struct payload *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
payload_fail(struct payload *p, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return code;
}

/* Refill the input buffer: read and hash the next chunk of the payload. */
static int
payload_read(struct payload *p)
{
	uint64_t left = p->o.length - p->read_total;
	size_t want = left < PAYLOAD_IN_CHUNK ? (size_t)left : PAYLOAD_IN_CHUNK;
	ssize_t n;

	do {
		n = pread(p->o.fd, p->in, want,
		    p->o.offset + (off_t)p->read_total);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return payload_fail(p, CVD_EIO, "read: %s", strerror(errno));
	if (n == 0 && want > 0)
		return payload_fail(p, CVD_EIO,
		    "read: file shrank while being verified (at payload byte %llu)",
		    (unsigned long long)p->read_total);
	if (!EVP_DigestUpdate(p->md5, p->in, (size_t)n))
		return payload_fail(p, CVD_ENOMEM, "md5 failed");
	p->read_total += (uint64_t)n;
	p->in_len = (size_t)n;
	p->in_pos = 0;
	return 0;
}

static int
payload_check_limits(struct payload *p)
{
	if (p->out_total > p->o.max_total)
		return payload_fail(p, CVD_ELIMIT,
		    "payload inflates past the limit of %llu bytes",
		    (unsigned long long)p->o.max_total);
	if (p->o.gzip && p->out_total > p->o.ratio_slack &&
	    p->out_total / (p->read_total ? p->read_total : 1) > p->o.max_ratio)
		return payload_fail(p, CVD_ELIMIT,
		    "payload compression ratio exceeds %llu:1 (a decompression bomb?)",
		    (unsigned long long)p->o.max_ratio);
	return 0;
}

static int
payload_inflate_into(struct payload *p, struct payload_block *b)
{
	uint32_t before_in, before_out;
	int rc;

	p->inf->next_out = b->data;
	p->inf->avail_out = PAYLOAD_BLOCK;
	while (p->inf->avail_out > 0 && !p->inflate_done) {
		if (p->in_pos == p->in_len && p->read_total < p->o.length &&
		    (rc = payload_read(p)) != 0)
			return rc;
		p->inf->next_in = p->in + p->in_pos;
		p->inf->avail_in = (uint32_t)(p->in_len - p->in_pos);
		before_in = p->inf->avail_in;
		before_out = p->inf->avail_out;
		rc = isal_inflate(p->inf);
		p->in_pos = p->in_len - p->inf->avail_in;
		if (rc < 0)
			return payload_fail(p, CVD_EPAYLOAD,
			    "gzip stream corrupt near payload byte %llu (igzip error %d)",
			    (unsigned long long)(p->read_total - (p->in_len - p->in_pos)),
			    rc);
		if (p->inf->block_state == ISAL_BLOCK_FINISH)
			p->inflate_done = true;
		else if (p->inf->avail_in == before_in &&
		    p->inf->avail_out == before_out)
			return payload_fail(p, CVD_EPAYLOAD,
			    "gzip stream truncated after %llu payload bytes",
			    (unsigned long long)p->read_total);
	}
	b->len = PAYLOAD_BLOCK - p->inf->avail_out;
	if (p->inflate_done && (p->in_pos < p->in_len ||
	    p->read_total < p->o.length))
		return payload_fail(p, CVD_EPAYLOAD,
		    "%llu bytes of trailing data after the gzip stream",
		    (unsigned long long)(p->o.length - p->read_total +
		    (p->in_len - p->in_pos)));
	return 0;
}

/* Produce one block into b; 1 if produced, 0 at the end, <0 on error. */
static int
payload_produce(struct payload *p, struct payload_block *b)
{
	int rc;

	if (!p->o.gzip) {
		if (p->read_total == p->o.length)
			return 0;
		/* plain tar: read straight into the block */
		uint8_t *saved = p->in;

		p->in = b->data;
		rc = payload_read(p);
		p->in = saved;
		if (rc != 0)
			return rc;
		b->len = p->in_len;
		p->in_len = p->in_pos = 0;
	} else {
		if (p->inflate_done)
			return 0;
		if ((rc = payload_inflate_into(p, b)) != 0)
			return rc;
	}
	p->out_total += b->len;
	if ((rc = payload_check_limits(p)) != 0)
		return rc;
	return 1;
}

static void
payload_finish(struct payload *p)
{
	unsigned int n = 16;

	EVP_DigestFinal_ex(p->md5, p->digest, &n);
}

static void *
payload_thread(void *arg)
{
	struct payload *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		unsigned slot;
		int rc;

		while (!p->cancel && p->count == PAYLOAD_NBLOCKS)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->cancel)
			break;
		slot = (p->head + p->count) % PAYLOAD_NBLOCKS;
		pthread_mutex_unlock(&p->mu);
		rc = payload_produce(p, &p->blocks[slot]);
		if (rc == 0)
			payload_finish(p);
		pthread_mutex_lock(&p->mu);
		if (rc == 1) {
			p->count++;
		} else {
			p->status = rc == 0 ? 1 : rc;
			pthread_cond_broadcast(&p->cv);
			break;
		}
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int
payload_open(const struct payload_opts *o, struct payload **out)
{
	struct payload *p;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return CVD_ENOMEM;
	p->o = *o;
	p->threaded = o->threaded;
	if ((p->md5 = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(p->md5, EVP_md5(), NULL) ||
	    (p->in = malloc(PAYLOAD_IN_CHUNK)) == NULL ||
	    (o->gzip && (p->inf = malloc(sizeof(*p->inf))) == NULL))
		goto nomem;
	for (int i = 0; i < PAYLOAD_NBLOCKS; i++)
		if ((p->blocks[i].data = malloc(PAYLOAD_BLOCK)) == NULL)
			goto nomem;
	if (p->inf != NULL) {
		isal_inflate_init(p->inf);
		p->inf->crc_flag = ISAL_GZIP;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (p->threaded && pthread_create(&p->thread, NULL, payload_thread, p) != 0)
		p->threaded = false;   /* fall back to inline production */
	*out = p;
	return 0;
nomem:
	p->threaded = false;
	payload_close(p);
	return CVD_ENOMEM;
}

static int
payload_next_serial(struct payload *p, const uint8_t **data, size_t *len)
{
	int rc;

	if (p->status != 0)
		return p->status == 1 ? 0 : p->status;
	rc = payload_produce(p, &p->blocks[0]);
	if (rc == 1) {
		*data = p->blocks[0].data;
		*len = p->blocks[0].len;
		return 1;
	}
	if (rc == 0)
		payload_finish(p);
	p->status = rc == 0 ? 1 : rc;
	return rc;
}

int
payload_next(struct payload *p, const uint8_t **data, size_t *len, char *err,
    size_t errlen)
{
	int rc;

	*data = NULL;
	*len = 0;
	if (!p->threaded) {
		rc = payload_next_serial(p, data, len);
	} else {
		pthread_mutex_lock(&p->mu);
		if (p->consumer_holds) {
			p->head = (p->head + 1) % PAYLOAD_NBLOCKS;
			p->count--;
			p->consumer_holds = false;
			pthread_cond_broadcast(&p->cv);
		}
		while (p->count == 0 && p->status == 0)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->count > 0) {
			*data = p->blocks[p->head].data;
			*len = p->blocks[p->head].len;
			p->consumer_holds = true;
			rc = 1;
		} else {
			rc = p->status == 1 ? 0 : p->status;
		}
		pthread_mutex_unlock(&p->mu);
	}
	if (rc < 0)
		cvd_strlcpy(err, p->err, errlen);
	return rc == 1 ? 1 : rc < 0 ? rc : 0;
}

void
payload_md5(const struct payload *p, uint8_t md5[16])
{
	memcpy(md5, p->digest, 16);
}

uint64_t
payload_total_out(const struct payload *p)
{
	return p->out_total;
}

void
payload_close(struct payload *p)
{
	if (p == NULL)
		return;
	if (p->threaded) {
		pthread_mutex_lock(&p->mu);
		p->cancel = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
	}
	for (int i = 0; i < PAYLOAD_NBLOCKS; i++)
		free(p->blocks[i].data);
	EVP_MD_CTX_free(p->md5);
	free(p->inf);
	free(p->in);
	free(p);
}
