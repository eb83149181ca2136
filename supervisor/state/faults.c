/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Faults: the catalogue, the raise/clear state machine, faults.state. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "faults.h"
#include "num.h"
#include "statefile.h"

#define EN FAULT_LANG_EN
#define ZH FAULT_LANG_ZH_TW
#define P FAULT_FIELD_PORTAL
#define E FAULT_FIELD_ENDPOINT
#define C FAULT_FIELD_CONDITION
#define R FAULT_FIELD_REMEDY

/*
 * The catalogue (docs/faults.md), in id order.  The English portal and endpoint
 * texts are shared with the other platforms: keep them byte for byte.
 */
static const struct fault_def fault_defs[] = {
{ 1, "kernel_module_not_authorized", false, {
	[EN] = {
	[P] = "Kernel Module Not Authorized",
	[E] = "System Extension Not Authorized",
	[C] = "macOS only: the user has not yet allowed the connector's system extension. Never raised on Linux.",
	[R] = "Nothing to do on Linux. On a Mac, allow the connector's system extension in System Settings > Privacy & Security.",
	},
	[ZH] = {
	[P] = "核心模組未獲授權",
	[E] = "系統延伸功能未獲授權",
	[C] = "僅發生於 macOS：使用者尚未允許連接器的系統延伸功能。Linux 上不會出現此故障。",
	[R] = "Linux 上不需處理。若是 Mac，請到「系統設定 > 隱私權與安全性」允許連接器的系統延伸功能。",
	} } },
{ 2, "version_mismatch", true, {
	[EN] = {
	[P] = "Version Mismatch",
	[E] = "System Extension Version Mismatch",
	[C] = "The scan worker (ampscansvc) reports a version or protocol different from ampdaemon's: the installation is damaged or only half upgraded.",
	[R] = "Reinstall the connector package so that ampdaemon and ampscansvc come from the same build, then restart ampdaemon. The fault clears when a worker starts with the matching protocol.",
	},
	[ZH] = {
	[P] = "版本不符",
	[E] = "系統延伸功能版本不符",
	[C] = "掃描工作程序（ampscansvc）回報的版本或通訊協定與 ampdaemon 不同：安裝已損壞，或升級只完成一半。",
	[R] = "請重新安裝連接器套件，讓 ampdaemon 與 ampscansvc 出自同一個版本，再重新啟動 ampdaemon。工作程序以相符的通訊協定啟動後，此故障即會清除。",
	} } },
{ 3, "full_disk_access_not_granted", true, {
	[EN] = {
	[P] = "Full Disk Access Not Granted",
	[E] = "Full Disk Access Not Granted",
	[C] = "ampdaemon lacks the privilege to open every file it must scan: it is not running as root and does not have CAP_DAC_READ_SEARCH.",
	[R] = "Run ampdaemon as root, as the packaged service does; if its systemd unit was overridden, remove the User= setting or restore CAP_DAC_READ_SEARCH in CapabilityBoundingSet=, then restart it. The fault clears once it has the privilege.",
	},
	[ZH] = {
	[P] = "未授予完整磁碟取用權限",
	[E] = "未授予完整磁碟取用權限",
	[C] = "ampdaemon 沒有開啟所有待掃描檔案的權限：它不是以 root 身分執行，也不具備 CAP_DAC_READ_SEARCH 能力。",
	[R] = "請以 root 身分執行 ampdaemon（套件內附的服務預設即是如此）；若其 systemd unit 曾被覆寫，請移除 User= 設定，或在 CapabilityBoundingSet= 中恢復 CAP_DAC_READ_SEARCH，然後重新啟動。取得權限後此故障會自動清除。",
	} } },
{ 4, "kernel_module_not_loaded", false, {
	[EN] = {
	[P] = "Kernel Module Not Loaded",
	[E] = "Failed to Load System Extension; Reinstall Connector",
	[C] = "macOS only: the system extension could not be loaded. Never raised on Linux.",
	[R] = "Nothing to do on Linux. On a Mac, reinstall the connector.",
	},
	[ZH] = {
	[P] = "核心模組未載入",
	[E] = "系統延伸功能載入失敗；請重新安裝連接器",
	[C] = "僅發生於 macOS：系統延伸功能無法載入。Linux 上不會出現此故障。",
	[R] = "Linux 上不需處理。若是 Mac，請重新安裝連接器。",
	} } },
{ 5, "scan_user_unavailable", true, {
	[EN] = {
	[P] = "Scan Service User Unavailable",
	[E] = "Scan Service User Unavailable",
	[C] = "The scan user or group (ScanUser/ScanGroup, cisco-amp-scan-svc by default) is missing and could not be created, is set up wrongly (uid 0, wrong primary group, a login shell, a privileged group), or the name service failed. Meanwhile the workers scan as root.",
	[R] = "Run `ampctl repair-account`: it recreates the user and group with the right settings and restarts the workers as that user, which clears the fault. If it fails, ampdaemon.log says why (name service unreachable, /etc read-only, useradd missing); fix that and run it again.",
	},
	[ZH] = {
	[P] = "掃描服務使用者無法使用",
	[E] = "掃描服務使用者無法使用",
	[C] = "掃描用的使用者或群組（ScanUser／ScanGroup，預設為 cisco-amp-scan-svc）不存在且無法建立、設定有誤（uid 為 0、主要群組不對、可登入的 shell、屬於具特權的群組），或名稱服務查詢失敗。在此期間，工作程序改以 root 身分掃描。",
	[R] = "請執行 `ampctl repair-account`：它會以正確的設定重建該使用者與群組，並以該使用者身分重新啟動工作程序，故障隨即清除。若執行失敗，請查看 ampdaemon.log 中記錄的原因（名稱服務無法連線、/etc 為唯讀、缺少 useradd 等），排除後再執行一次。",
	} } },
{ 6, "scan_service_restarting", true, {
	[EN] = {
	[P] = "Scan Service Restarting Frequently",
	[E] = "Scan Service Restarting Frequently",
	[C] = "Scan workers crashed CrashThreshold times within CrashWindow, usually because a file makes the scanner crash. Scanning goes on with reduced capacity. If still raised InterventionAfter (10 minutes) after ampdaemon started, it is marked as needing intervention and suspected files are skipped.",
	[R] = "Run `ampctl diag`: it shows the crash timeline, the exit signals, the suspected files and the matching lines of ampdaemon.log and ampscansvc.log. Move the suspected file out of the way or install newer definitions, and send the diag output (and the file, if you can) to support. The fault clears after StableAfter (60 s) without a crash.",
	},
	[ZH] = {
	[P] = "掃描服務頻繁重新啟動",
	[E] = "掃描服務頻繁重新啟動",
	[C] = "掃描工作程序在 CrashWindow 期間內當掉達 CrashThreshold 次，通常是某個檔案讓掃描程式當掉。掃描仍會繼續，但處理能力下降。若 ampdaemon 啟動 InterventionAfter（10 分鐘）後仍未清除，就會標示為需要人工介入，並略過可疑的檔案。",
	[R] = "請執行 `ampctl diag`：可看到當機時間軸、結束訊號、可疑檔案，以及 ampdaemon.log 與 ampscansvc.log 中的相關記錄。請將可疑檔案移開或安裝較新的病毒定義，並把 diag 的輸出（可以的話連同該檔案）提供給技術支援。連續 StableAfter（60 秒）沒有當機後，此故障會自動清除。",
	} } },
{ 7, "scan_service_start_failed", true, {
	[EN] = {
	[P] = "Failed to Start Scan Service",
	[E] = "Failed to Start Scan Service",
	[C] = "No scan worker could start (exec failed, exited before READY, or no READY within ReadyTimeout), often because newly installed definitions (.cvd) fail to load. File scanning is disabled; scan requests get an error at once.",
	[R] = "ampdaemon already deletes invalid .cvd files, rolls back to the last definitions that worked and keeps retrying. Read ampdaemon.log and ampscansvc.log for the failing step, then restart ampdaemon. If that does not clear it, install known good definitions (`ampctl update FILE.cvd`) or reinstall the connector. If it comes back after every definitions update, the .cvd checks miss something: report it as a bug.",
	},
	[ZH] = {
	[P] = "無法啟動掃描服務",
	[E] = "無法啟動掃描服務",
	[C] = "沒有任何掃描工作程序能夠啟動（無法執行、在 READY 之前就結束，或在 ReadyTimeout 內沒有回報 READY），常見原因是新安裝的病毒定義（.cvd）無法載入。此時檔案掃描停用，掃描要求會立即收到錯誤。",
	[R] = "ampdaemon 會自動刪除無效的 .cvd 檔、回復到上一組可正常運作的病毒定義，並持續重試。請查看 ampdaemon.log 與 ampscansvc.log 找出失敗的步驟，然後重新啟動 ampdaemon。若仍未清除，請安裝確定正常的病毒定義（`ampctl update FILE.cvd`）或重新安裝連接器。若每次更新病毒定義後都再次出現，表示 .cvd 檢查有疏漏：請以程式錯誤回報。",
	} } },
{ 10, "reboot_required", false, {
	[EN] = {
	[P] = "Reboot Required to Load Kernel Module or System Extension",
	[E] = "Reboot Required to Load System Extension",
	[C] = "macOS only: the system extension can be loaded only after the computer restarts. Never raised on Linux.",
	[R] = "Nothing to do on Linux. On a Mac, restart the computer.",
	},
	[ZH] = {
	[P] = "需要重新開機才能載入核心模組或系統延伸功能",
	[E] = "需要重新開機才能載入系統延伸功能",
	[C] = "僅發生於 macOS：系統延伸功能要在電腦重新開機後才能載入。Linux 上不會出現此故障。",
	[R] = "Linux 上不需處理。若是 Mac，請將電腦重新開機。",
	} } },
{ 12, "network_filter_not_allowed", false, {
	[EN] = {
	[P] = "Network Filter Not Allowed",
	[E] = "Network Filter Not Allowed",
	[C] = "macOS only: the user has not allowed the connector's network content filter. Never raised on Linux.",
	[R] = "Nothing to do on Linux. On a Mac, allow the connector's network content filter when macOS asks, or in System Settings.",
	},
	[ZH] = {
	[P] = "未允許網路過濾器",
	[E] = "未允許網路過濾器",
	[C] = "僅發生於 macOS：使用者尚未允許連接器的網路內容過濾器。Linux 上不會出現此故障。",
	[R] = "Linux 上不需處理。若是 Mac，請在 macOS 跳出的提示或「系統設定」中允許連接器的網路內容過濾器。",
	} } },
{ 13, "too_many_network_filters", false, {
	[EN] = {
	[P] = "Too Many Network Content Filter System Extensions",
	[E] = "Too Many Network Content Filter System Extensions",
	[C] = "macOS only: other network content filter extensions keep the connector's from running. Never raised on Linux.",
	[R] = "Nothing to do on Linux. On a Mac, remove the network content filters the computer does not need.",
	},
	[ZH] = {
	[P] = "網路內容過濾系統延伸功能過多",
	[E] = "網路內容過濾系統延伸功能過多",
	[C] = "僅發生於 macOS：其他網路內容過濾延伸功能使連接器的過濾器無法運作。Linux 上不會出現此故障。",
	[R] = "Linux 上不需處理。若是 Mac，請移除電腦不需要的網路內容過濾器。",
	} } },
{ 14, "too_many_endpoint_security_extensions", false, {
	[EN] = {
	[P] = "Too Many Endpoint Security System Extensions",
	[E] = "Too Many Endpoint Security System Extensions",
	[C] = "macOS only: too many Endpoint Security extensions are installed for the connector's to run. Never raised on Linux.",
	[R] = "Nothing to do on Linux. On a Mac, uninstall the other endpoint security products that are not needed.",
	},
	[ZH] = {
	[P] = "端點安全系統延伸功能過多",
	[E] = "端點安全系統延伸功能過多",
	[C] = "僅發生於 macOS：已安裝的端點安全（Endpoint Security）延伸功能過多，連接器的延伸功能無法執行。Linux 上不會出現此故障。",
	[R] = "Linux 上不需處理。若是 Mac，請解除安裝不需要的其他端點安全產品。",
	} } },
{ 15, "system_extension_needs_full_disk_access", false, {
	[EN] = {
	[P] = "System Extension Requires Full Disk Access",
	[E] = "System Extension Requires Full Disk Access",
	[C] = "macOS only: the system extension has not been given Full Disk Access. Never raised on Linux.",
	[R] = "Nothing to do on Linux. On a Mac, give the connector's system extension Full Disk Access in System Settings > Privacy & Security > Full Disk Access.",
	},
	[ZH] = {
	[P] = "系統延伸功能需要完整磁碟取用權限",
	[E] = "系統延伸功能需要完整磁碟取用權限",
	[C] = "僅發生於 macOS：系統延伸功能尚未獲得完整磁碟取用權限。Linux 上不會出現此故障。",
	[R] = "Linux 上不需處理。若是 Mac，請到「系統設定 > 隱私權與安全性 > 完整磁碟取用權限」為連接器的系統延伸功能開啟權限。",
	} } },
{ 17, "orbital_full_disk_access_not_granted", false, {
	[EN] = {
	[P] = "Orbital Full Disk Access Not Granted",
	[E] = "Orbital Full Disk Access Not Granted",
	[C] = "macOS only: the Orbital component has not been given Full Disk Access. Never raised on Linux.",
	[R] = "Nothing to do on Linux. On a Mac, give Orbital Full Disk Access in System Settings > Privacy & Security > Full Disk Access.",
	},
	[ZH] = {
	[P] = "Orbital 未獲得完整磁碟取用權限",
	[E] = "Orbital 未獲得完整磁碟取用權限",
	[C] = "僅發生於 macOS：Orbital 元件尚未獲得完整磁碟取用權限。Linux 上不會出現此故障。",
	[R] = "Linux 上不需處理。若是 Mac，請到「系統設定 > 隱私權與安全性 > 完整磁碟取用權限」為 Orbital 開啟權限。",
	} } },
};

#undef EN
#undef ZH
#undef P
#undef E
#undef C
#undef R

_Static_assert(sizeof(fault_defs) / sizeof(fault_defs[0]) == FAULTS_NDEFS,
    "FAULTS_NDEFS must match the catalogue");

/* ---- the catalogue ---- */

static int
fault_index(int id)
{
	size_t i;

	for (i = 0; i < FAULTS_NDEFS; i++)
		if (fault_defs[i].id == id)
			return (int)i;
	return -1;
}

const struct fault_def *
fault_def_find(int id)
{
	int i = fault_index(id);

	return i < 0 ? NULL : &fault_defs[i];
}

const struct fault_def *
fault_def_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < FAULTS_NDEFS; i++)
		if (strcmp(fault_defs[i].name, name) == 0)
			return &fault_defs[i];
	return NULL;
}

size_t
fault_def_count(void)
{
	return FAULTS_NDEFS;
}

const struct fault_def *
fault_def_at(size_t i)
{
	return i < FAULTS_NDEFS ? &fault_defs[i] : NULL;
}

const char *
fault_text(const struct fault_def *def, enum fault_lang lang,
    enum fault_field field)
{
	const char *t;

	if (def == NULL || (unsigned)lang >= FAULT_LANG_COUNT ||
	    (unsigned)field >= FAULT_FIELD_COUNT)
		return "";
	t = def->text[lang][field];
	return t != NULL ? t : "";
}

bool
fault_lang_parse(const char *s, enum fault_lang *lang)
{
	if (strcasecmp(s, "en") == 0 || strcasecmp(s, "en-US") == 0 ||
	    strcasecmp(s, "en_US") == 0 || strcasecmp(s, "C") == 0) {
		*lang = FAULT_LANG_EN;
		return true;
	}
	if (strcasecmp(s, "zh-TW") == 0 || strcasecmp(s, "zh_TW") == 0 ||
	    strcasecmp(s, "zh-Hant") == 0 || strcasecmp(s, "zh_Hant") == 0) {
		*lang = FAULT_LANG_ZH_TW;
		return true;
	}
	return false;
}

/* ---- state ---- */

void
faults_init(struct faults *f, void (*emit)(void *arg, const struct event *ev),
    void *arg)
{
	memset(f, 0, sizeof(*f));
	f->emit = emit;
	f->emit_arg = arg;
}

/* Copy detail, cut at a UTF-8 character boundary with "..." if too long. */
static void
fault_set_detail(struct fault_state *st, const char *detail)
{
	size_t n = detail != NULL ? strlen(detail) : 0, cut;

	if (n < sizeof(st->detail)) {
		memcpy(st->detail, detail != NULL ? detail : "", n);
		st->detail[n] = '\0';
		return;
	}
	cut = sizeof(st->detail) - 4;
	while (cut > 0 && ((unsigned char)detail[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(st->detail, detail, cut);
	memcpy(st->detail + cut, "...", 4);
}

static void
fault_emit(const struct faults *f, enum event_type type,
    const struct fault_def *def, const char *detail, pid_t pid,
    int64_t since_ms, int64_t now_ms)
{
	struct event ev;

	if (f->emit == NULL)
		return;
	events_begin_type(&ev, type, now_ms);
	events_add_int(&ev, "fault", def->id);
	events_add_str(&ev, "name", def->text[FAULT_LANG_EN][FAULT_FIELD_PORTAL]);
	events_add_str(&ev, "detail", detail);
	if (pid > 0)
		events_add_int(&ev, "pid", pid);
	if (since_ms != 0)
		events_add_time(&ev, "since", since_ms);
	f->emit(f->emit_arg, &ev);
}

bool
fault_raise(struct faults *f, int id, const char *detail, pid_t pid,
    int64_t now_ms)
{
	int i = fault_index(id);
	struct fault_state *st;

	if (i < 0 || !fault_defs[i].linux_raised)
		return false;
	st = &f->state[i];
	fault_set_detail(st, detail);
	if (st->raised)
		return false;
	st->raised = true;
	st->intervention = false;
	st->since_ms = now_ms;
	st->intervention_ms = 0;
	fault_emit(f, EVENT_T_FAULT_RAISED, &fault_defs[i], st->detail, pid, 0,
	    now_ms);
	return true;
}

bool
fault_clear(struct faults *f, int id, const char *detail, int64_t now_ms)
{
	int i = fault_index(id);
	struct fault_state *st;

	if (i < 0 || !f->state[i].raised)
		return false;
	st = &f->state[i];
	memset(st, 0, sizeof(*st));
	/* the event carries why it cleared; the state keeps nothing */
	fault_set_detail(st, detail);
	fault_emit(f, EVENT_T_FAULT_CLEARED, &fault_defs[i], st->detail, 0, 0,
	    now_ms);
	st->detail[0] = '\0';
	return true;
}

bool
fault_mark_intervention(struct faults *f, int id, int64_t now_ms)
{
	int i = fault_index(id);
	struct fault_state *st;

	if (i < 0 || !f->state[i].raised || f->state[i].intervention)
		return false;
	st = &f->state[i];
	st->intervention = true;
	st->intervention_ms = now_ms;
	fault_emit(f, EVENT_T_INTERVENTION_REQUIRED, &fault_defs[i], st->detail,
	    0, st->since_ms, now_ms);
	return true;
}

const struct fault_state *
fault_state_of(const struct faults *f, int id)
{
	int i = fault_index(id);

	return i < 0 ? NULL : &f->state[i];
}

bool
fault_is_raised(const struct faults *f, int id)
{
	const struct fault_state *st = fault_state_of(f, id);

	return st != NULL && st->raised;
}

bool
fault_needs_intervention(const struct faults *f, int id)
{
	const struct fault_state *st = fault_state_of(f, id);

	return st != NULL && st->raised && st->intervention;
}

size_t
faults_raised_count(const struct faults *f)
{
	size_t i, n = 0;

	for (i = 0; i < FAULTS_NDEFS; i++)
		n += f->state[i].raised;
	return n;
}

/* ---- faults.state ---- */

struct faults_buf {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void
faults_buf_add(struct faults_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
faults_buf_add(struct faults_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		b->overflow = true;
	else
		b->len += (size_t)n;
}

static bool
faults_needs_escape(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '%';
}

static void
faults_buf_add_detail(struct faults_buf *b, const char *d)
{
	const unsigned char *s = (const unsigned char *)d;

	for (; *s != '\0'; s++) {
		if (faults_needs_escape(*s))
			faults_buf_add(b, "%%%02X", *s);
		else
			faults_buf_add(b, "%c", *s);
	}
}

int
faults_save(const struct faults *f, const char *state_dir, char *err,
    size_t errlen)
{
	struct faults_buf b = { NULL, 0, FAULTS_STATE_MAX, false };
	const struct fault_state *st;
	size_t i, n = 0;
	int rc;

	if ((b.p = malloc(b.cap)) == NULL) {
		snprintf(err, errlen, "%s/%s: %s", state_dir, FAULTS_STATE_FILE,
		    strerror(ENOMEM));
		return STATEFILE_ERR_NOMEM;
	}
	faults_buf_add(&b, "ampscan-faults 1\n");
	for (i = 0; i < FAULTS_NDEFS; i++) {
		st = &f->state[i];
		if (!st->raised)
			continue;
		faults_buf_add(&b, "fault %d %" PRId64 " %d %" PRId64 " ",
		    fault_defs[i].id, st->since_ms, st->intervention ? 1 : 0,
		    st->intervention_ms);
		faults_buf_add_detail(&b, st->detail);
		faults_buf_add(&b, "\n");
		n++;
	}
	faults_buf_add(&b, "end %zu\n", n);
	if (b.overflow) {
		/* cannot happen: 13 details of 3 x 512 bytes at most */
		snprintf(err, errlen, "%s/%s: state larger than %d bytes",
		    state_dir, FAULTS_STATE_FILE, FAULTS_STATE_MAX);
		free(b.p);
		return STATEFILE_ERR_TOOBIG;
	}
	rc = statefile_write(state_dir, FAULTS_STATE_FILE, b.p, b.len,
	    FAULTS_STATE_MODE, err, errlen);
	free(b.p);
	return rc;
}

/* Next space-separated field of [*p, end); false if none. */
static bool
faults_field(const char **p, const char *end, const char **fs, size_t *fl)
{
	const char *sp;

	if (*p >= end)
		return false;
	sp = memchr(*p, ' ', (size_t)(end - *p));
	*fs = *p;
	*fl = (size_t)((sp != NULL ? sp : end) - *p);
	*p = sp != NULL ? sp + 1 : end;
	return *fl > 0 && sp != NULL;
}

struct faults_parse {
	struct fault_state st[FAULTS_NDEFS];
	size_t nlines;               /* fault lines, ignored ones included */
	char note[256];
};

static void
faults_note(struct faults_parse *ps, size_t lineno, int64_t id, bool known)
{
	size_t m = strlen(ps->note);

	snprintf(ps->note + m, sizeof(ps->note) - m,
	    "%sline %zu: fault %" PRId64 " %s, ignored", m > 0 ? "; " : "",
	    lineno, id, known ? "is never raised on Linux" : "is unknown");
}

/*
 * "fault <id> <since_ms> <0|1> <intervention_ms> <detail>" into ps.
 * Returns NULL, or why the line is bad.
 */
static const char *
faults_parse_fault(struct faults_parse *ps, const char *s, size_t len,
    size_t lineno)
{
	const char *p = s, *end = s + len, *fs;
	size_t fl;
	int64_t id, since, flag, ims;
	struct fault_state *st;
	int i;

	if (!faults_field(&p, end, &fs, &fl) || fl != 5 ||
	    memcmp(fs, "fault", 5) != 0)
		return "not a fault line";
	if (!faults_field(&p, end, &fs, &fl) ||
	    num_i64(fs, fl, NUM_CANONICAL, &id) != NUM_OK)
		return "bad fault id";
	if (!faults_field(&p, end, &fs, &fl) ||
	    num_i64(fs, fl, NUM_CANONICAL, &since) != NUM_OK)
		return "bad raise time";
	if (!faults_field(&p, end, &fs, &fl) ||
	    num_i64(fs, fl, NUM_CANONICAL, &flag) != NUM_OK ||
	    (flag != 0 && flag != 1))
		return "intervention flag not 0 or 1";
	if (!faults_field(&p, end, &fs, &fl) ||
	    num_i64(fs, fl, NUM_CANONICAL, &ims) != NUM_OK)
		return "bad intervention time";
	ps->nlines++;
	if (id < 0 || id > INT32_MAX || (i = fault_index((int)id)) < 0) {
		faults_note(ps, lineno, id, false);
		return NULL;
	}
	if (!fault_defs[i].linux_raised) {
		faults_note(ps, lineno, id, true);
		return NULL;
	}
	st = &ps->st[i];
	if (st->raised)
		return "fault listed twice";
	if (statefile_unescape(p, (size_t)(end - p), faults_needs_escape, st->detail,
	    sizeof(st->detail)) != STATEFILE_UNESCAPE_OK)
		return "bad detail (control byte, bad %XX escape or too long)";
	st->raised = true;
	st->since_ms = since;
	st->intervention = flag == 1;
	st->intervention_ms = ims;
	return NULL;
}

/* The whole file, or false with why and where in err. */
static bool
faults_parse_file(struct faults_parse *ps, const char *buf, size_t len,
    const char *where, char *err, size_t errlen)
{
	static const char head[] = "ampscan-faults 1";
	const char *p = buf, *end = buf + len, *nl, *why;
	size_t lineno = 0, l;
	int64_t count;

	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: NUL byte", where);
		return false;
	}
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			snprintf(err, errlen, "%s: line %zu: no newline: truncated",
			    where, lineno);
			return false;
		}
		l = (size_t)(nl - p);
		if (lineno == 1) {
			if (l != sizeof(head) - 1 || memcmp(p, head, l) != 0) {
				snprintf(err, errlen, "%s: line 1: not \"%s\"",
				    where, head);
				return false;
			}
		} else if (l > 4 && memcmp(p, "end ", 4) == 0) {
			if (num_i64(p + 4, l - 4, NUM_CANONICAL, &count) != NUM_OK ||
			    count < 0 || (uint64_t)count != ps->nlines) {
				snprintf(err, errlen, "%s: line %zu: bad end count (%zu fault lines)",
				    where, lineno, ps->nlines);
				return false;
			}
			if (nl + 1 != end) {
				snprintf(err, errlen, "%s: line %zu: data after the end line",
				    where, lineno + 1);
				return false;
			}
			return true;
		} else if ((why = faults_parse_fault(ps, p, l, lineno)) !=
		    NULL) {
			snprintf(err, errlen, "%s: line %zu: %s", where, lineno,
			    why);
			return false;
		}
		p = nl + 1;
	}
	snprintf(err, errlen, "%s: no end line: truncated", where);
	return false;
}

int
faults_load(struct faults *f, const char *state_dir, char *err, size_t errlen)
{
	struct faults_parse *ps = NULL;
	char where[512], *buf = NULL;
	size_t len;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(f->state, 0, sizeof(f->state));
	rc = statefile_read(state_dir, FAULTS_STATE_FILE, FAULTS_STATE_MAX,
	    &buf, &len, err, errlen);
	if (rc == STATEFILE_ERR_NOENT) {
		if (err != NULL && errlen > 0)
			err[0] = '\0';
		return 0;
	}
	if (rc != STATEFILE_OK)
		return rc;
	snprintf(where, sizeof(where), "%s/%s", state_dir, FAULTS_STATE_FILE);
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		snprintf(err, errlen, "%s: %s", where, strerror(ENOMEM));
		rc = STATEFILE_ERR_NOMEM;
		goto out;
	}
	if (!faults_parse_file(ps, buf, len, where, err, errlen)) {
		size_t m = err != NULL && errlen > 0 ? strlen(err) : 0;

		if (m + 1 < errlen)
			snprintf(err + m, errlen - m, "; damaged, no fault loaded");
		rc = FAULTS_ERR_DAMAGED;
		goto out;
	}
	memcpy(f->state, ps->st, sizeof(f->state));
	if (ps->note[0] != '\0')
		snprintf(err, errlen, "%s: %s", where, ps->note);
	rc = 0;
out:
	free(ps);
	free(buf);
	return rc;
}
