/*
 * xenshim: a stand-in for Xen 4.17's libxenctrl, libxenforeignmemory, libxenstore and
 * libxentoollog over simulated domains in this process's memory, for livemig's contract test.
 * It exports the functions the xen: provider calls, with the prototypes of the Xen 4.17 headers:
 * built with -DLIVEMIG_XEN_HEADERS it includes those headers, so the compiler checks every
 * definition here against the real declaration; without, it declares the same types itself.
 *
 * A domain is a memfd (its guest-physical frames), a bitmap of populated frames, a pause count,
 * log-dirty state, HVM parameters and a "vCPU": a thread that, while the domain runs, writes an
 * 8-byte sequence number into random pages of a working set and, after each write, sets the
 * page's bit in the log-dirty bitmap (as Xen's paging code does on a write fault). Its registers
 * (sequence number, PRNG state, pacing) are its HVM context, so a domain restored elsewhere
 * carries on where it stopped. Foreign mappings are real mappings of the memfd.
 *
 * Test control (shim_*): create a running source domain, read a domain's counters, make a named
 * function fail with an errno, and destroy everything.
 */
#define _GNU_SOURCE
#include "xenshim.h"

SIM pthread_mutex_t sim_table = PTHREAD_MUTEX_INITIALIZER;
SIM struct domain sim_domains[MAX_DOMAINS];
SIM uint32_t sim_next_id = 1;

/* failure injection: fn fails with err once after `after` more successful calls */
static char fail_fn[64];
static int fail_errno;
static int fail_after;

SIM int sim_should_fail(const char *fn)
{
    int fail = 0;
    pthread_mutex_lock(&sim_table);
    if (fail_fn[0] && strcmp(fn, fail_fn) == 0) {
        if (fail_after-- <= 0) {
            fail = fail_errno;
            fail_fn[0] = 0;
        }
    }
    pthread_mutex_unlock(&sim_table);
    if (fail) {
        errno = fail;
    }
    return fail != 0;
}

SIM struct domain *sim_find(uint32_t id)
{
    for (int i = 0; i < MAX_DOMAINS; i++) {
        if (sim_domains[i].used && sim_domains[i].id == id) {
            return &sim_domains[i];
        }
    }
    return NULL;
}

SIM struct domain *sim_lookup(uint32_t id)
{
    pthread_mutex_lock(&sim_table);
    struct domain *d = sim_find(id);
    pthread_mutex_unlock(&sim_table);
    if (!d) {
        errno = ESRCH;
    }
    return d;
}

SIM int sim_is_populated(struct domain *d, unsigned long pfn)
{
    return pfn < MAX_FRAMES && (d->populated[pfn / 64] >> (pfn % 64) & 1);
}

SIM struct domain *sim_new_domain(uint32_t vcpus, uint32_t hvm)
{
    pthread_mutex_lock(&sim_table);
    struct domain *d = NULL;
    for (int i = 0; i < MAX_DOMAINS && !d; i++) {
        if (!sim_domains[i].used) {
            d = &sim_domains[i];
        }
    }
    if (!d) {
        pthread_mutex_unlock(&sim_table);
        errno = ENOSPC;
        return NULL;
    }
    memset(d, 0, sizeof(*d));
    d->memfd = memfd_create("xenshim-domain", MFD_CLOEXEC);
    d->populated = calloc(WORDS(MAX_FRAMES), 8);
    d->dirty = calloc(WORDS(MAX_FRAMES), 8);
    if (d->memfd < 0 || !d->populated || !d->dirty) {
        pthread_mutex_unlock(&sim_table);
        errno = ENOMEM;
        return NULL;
    }
    d->used = 1;
    d->id = sim_next_id++;
    d->vcpus = vcpus;
    d->hvm = hvm;
    d->pause_count = 1; /* Xen creates domains paused */
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_mutex_unlock(&sim_table);
    return d;
}

SIM int sim_populate(struct domain *d, unsigned long pfn)
{
    if (pfn >= MAX_FRAMES) {
        errno = EINVAL;
        return -1;
    }
    if (sim_is_populated(d, pfn)) {
        return 0;
    }
    if ((d->populated_count + 1) * 4 > d->max_kib) {
        errno = ENOMEM;
        return -1;
    }
    if (pfn >= d->frames) {
        if (ftruncate(d->memfd, (off_t) ((pfn + 1) * PAGE)) < 0) {
            return -1;
        }
        d->frames = pfn + 1;
    }
    d->populated[pfn / 64] |= 1ULL << (pfn % 64);
    d->populated_count++;
    return 0;
}

/* ---- the guest ---- */

static uint64_t sim_xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void *sim_guest(void *arg)
{
    struct domain *d = arg;
    struct timespec ms = {0, 1000000};
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (d->pause_count > 0 && !d->stop) {
            pthread_cond_wait(&d->cond, &d->lock);
        }
        if (d->stop) {
            break;
        }
        /* One millisecond's writes, as one vCPU time slice: pause waits for it to end. */
        for (uint64_t i = 0; i < d->writes_per_ms; i++) {
            uint64_t pfn = d->ws_first + sim_xorshift(&d->prng) % d->ws_frames;
            if (!sim_is_populated(d, pfn)) {
                continue;
            }
            uint64_t slot = sim_xorshift(&d->prng) % (PAGE / 8);
            __atomic_store_n((uint64_t *) (d->ram + pfn * PAGE) + slot, ++d->seq, __ATOMIC_RELEASE);
            if (d->logdirty) {
                atomic_fetch_or(&d->dirty[pfn / 64], 1ULL << (pfn % 64));
            }
        }
        pthread_mutex_unlock(&d->lock);
        nanosleep(&ms, NULL);
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

SIM int sim_start_guest(struct domain *d)
{
    d->ram = mmap(NULL, d->frames * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
    if (d->ram == MAP_FAILED) {
        d->ram = NULL;
        return -1;
    }
    d->has_guest = 1;
    return pthread_create(&d->thread, NULL, sim_guest, d) == 0 ? 0 : -1;
}

SIM void sim_destroy(struct domain *d)
{
    if (d->has_guest) {
        pthread_mutex_lock(&d->lock);
        d->stop = 1;
        pthread_cond_broadcast(&d->cond);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
        munmap(d->ram, d->frames * PAGE);
    }
    close(d->memfd);
    free(d->populated);
    free((void *) d->dirty);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    d->used = 0;
}

/* ---- test control ---- */

/*
 * A running HVM domain of ram_bytes, with the PC's VGA hole (frames 0xa0-0xbf) left unpopulated
 * and RAM moved above it, like hvmloader's layout; its guest writes writes_per_ms 8-byte values a
 * millisecond into frames [ws_first, ws_first + ws_frames). Every page starts with its frame
 * number, so that no page is zero. Returns the domain id, or -1.
 */
int shim_create_domain(const char *name, uint64_t ram_bytes, uint32_t vcpus, uint64_t writes_per_ms,
                       uint64_t ws_first, uint64_t ws_frames)
{
    struct domain *d = sim_new_domain(vcpus, 1);
    if (!d) {
        return -1;
    }
    snprintf(d->name, sizeof(d->name), "%s", name);
    unsigned long pages = ram_bytes / PAGE;
    d->max_kib = ram_bytes / 1024;
    for (unsigned long pfn = 0, n = 0; n < pages; pfn++) {
        if (pfn >= 0xa0 && pfn < 0xc0) {
            continue;
        }
        if (sim_populate(d, pfn) < 0) {
            return -1;
        }
        n++;
    }
    d->ram = NULL;
    uint8_t *ram = mmap(NULL, d->frames * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
    if (ram == MAP_FAILED) {
        return -1;
    }
    for (unsigned long pfn = 0; pfn < d->frames; pfn++) {
        if (sim_is_populated(d, pfn)) {
            *(uint64_t *) (ram + pfn * PAGE) = pfn | 0x5eed000000000000ULL;
        }
    }
    munmap(ram, d->frames * PAGE);
    d->seq = 0;
    d->prng = 0x9e3779b97f4a7c15ULL ^ d->id;
    d->writes_per_ms = writes_per_ms;
    d->ws_first = ws_first;
    d->ws_frames = ws_frames ? ws_frames : 1;
    d->params[1] = 0xfeffc; /* HVM_PARAM_STORE_PFN, as hvmloader places it */
    d->params[17] = 0xfeffb; /* HVM_PARAM_CONSOLE_PFN */
    if (sim_start_guest(d) < 0) {
        return -1;
    }
    pthread_mutex_lock(&d->lock);
    d->pause_count = 0;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return (int) d->id;
}

/* The number of writes the domain's guest made so far (-1: no such domain). */
int64_t shim_guest_writes(uint32_t id)
{
    struct domain *d = sim_lookup(id);
    if (!d) {
        return -1;
    }
    pthread_mutex_lock(&d->lock);
    int64_t seq = (int64_t) d->seq;
    pthread_mutex_unlock(&d->lock);
    return seq;
}

/* The domain's pause count (-1: no such domain). */
int shim_pause_count(uint32_t id)
{
    struct domain *d = sim_lookup(id);
    if (!d) {
        return -1;
    }
    pthread_mutex_lock(&d->lock);
    int n = d->pause_count;
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* An HVM parameter's value, as the domain holds it. */
uint64_t shim_param(uint32_t id, uint32_t param)
{
    struct domain *d = sim_lookup(id);
    return d && param < MAX_PARAMS ? d->params[param] : 0;
}

/* Copies the domain's frames [first, first + count) into out; -1 if any is not populated. */
int shim_read_frames(uint32_t id, uint64_t first, uint64_t count, void *out)
{
    struct domain *d = sim_lookup(id);
    if (!d) {
        return -1;
    }
    for (uint64_t pfn = first; pfn < first + count; pfn++) {
        if (!sim_is_populated(d, pfn)) {
            errno = EINVAL;
            return -1;
        }
    }
    ssize_t n = pread(d->memfd, out, count * PAGE, (off_t) (first * PAGE));
    return n == (ssize_t) (count * PAGE) ? 0 : -1;
}

/* Makes `fn` fail with `err` once, after `after` more successful calls; fn "" clears it. */
void shim_fail(const char *fn, int err, int after)
{
    pthread_mutex_lock(&sim_table);
    snprintf(fail_fn, sizeof(fail_fn), "%s", fn);
    fail_errno = err;
    fail_after = after;
    pthread_mutex_unlock(&sim_table);
}

/* The number of domains that exist. */
int shim_domain_count(void)
{
    int n = 0;
    pthread_mutex_lock(&sim_table);
    for (int i = 0; i < MAX_DOMAINS; i++) {
        n += sim_domains[i].used;
    }
    pthread_mutex_unlock(&sim_table);
    return n;
}

/* Destroys every domain. */
void shim_reset(void)
{
    for (int i = 0; i < MAX_DOMAINS; i++) {
        if (sim_domains[i].used) {
            sim_destroy(&sim_domains[i]);
        }
    }
    shim_fail("", 0, 0);
}

/* ---- libxentoollog ---- */

xentoollog_logger_stdiostream *xtl_createlogger_stdiostream(FILE *f, xentoollog_level min_level, unsigned flags)
{
    (void) f;
    (void) min_level;
    (void) flags;
    struct xentoollog_logger_stdiostream *l = calloc(1, sizeof(*l));
    return l;
}

void xtl_logger_destroy(struct xentoollog_logger *logger)
{
    free(logger);
}

/* ---- libxenstore ---- */

struct xs_handle *xs_open(unsigned long flags)
{
    (void) flags;
    if (sim_should_fail("xs_open")) {
        return NULL;
    }
    return calloc(1, sizeof(struct xs_handle));
}

void xs_close(struct xs_handle *xsh)
{
    free(xsh);
}

char **xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *num)
{
    (void) h;
    (void) t;
    if (strcmp(path, "/local/domain") != 0) {
        errno = ENOENT;
        return NULL;
    }
    /* One malloc'd block, pointers then strings, as libxenstore returns it. */
    char ids[MAX_DOMAINS][12];
    unsigned n = 0;
    pthread_mutex_lock(&sim_table);
    for (int i = 0; i < MAX_DOMAINS; i++) {
        if (sim_domains[i].used) {
            snprintf(ids[n++], sizeof(ids[0]), "%u", sim_domains[i].id);
        }
    }
    pthread_mutex_unlock(&sim_table);
    char **out = malloc(n * sizeof(char *) + n * sizeof(ids[0]));
    if (!out) {
        return NULL;
    }
    char *strings = (char *) (out + n);
    for (unsigned i = 0; i < n; i++) {
        out[i] = strings + i * sizeof(ids[0]);
        memcpy(out[i], ids[i], sizeof(ids[0]));
    }
    *num = n;
    return out;
}

void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *len)
{
    (void) h;
    (void) t;
    unsigned id;
    char leaf[16];
    if (sscanf(path, "/local/domain/%u/%15s", &id, leaf) != 2 || strcmp(leaf, "name") != 0) {
        errno = ENOENT;
        return NULL;
    }
    struct domain *d = sim_lookup(id);
    if (!d || !d->name[0]) {
        errno = ENOENT;
        return NULL;
    }
    char *value = strdup(d->name);
    if (value) {
        *len = (unsigned) strlen(value);
    }
    return value;
}

