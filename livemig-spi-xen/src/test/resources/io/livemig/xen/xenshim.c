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
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifdef LIVEMIG_XEN_HEADERS
#include <xenctrl.h>
#include <xenforeignmemory.h>
#include <xenstore.h>
#include <xentoollog.h>
#else
typedef struct xc_interface_core xc_interface;
typedef struct xentoollog_logger xentoollog_logger;
typedef struct xentoollog_logger_stdiostream xentoollog_logger_stdiostream;
typedef enum { XTL_NONE, XTL_DEBUG, XTL_VERBOSE, XTL_DETAIL, XTL_PROGRESS, XTL_INFO, XTL_NOTICE, XTL_WARN,
               XTL_ERROR, XTL_CRITICAL, XTL_NUM_LEVELS } xentoollog_level;
typedef struct xenforeignmemory_handle xenforeignmemory_handle;
struct xs_handle;
typedef uint32_t xs_transaction_t;
typedef unsigned long xen_pfn_t;
typedef uint16_t domid_t;
typedef uint8_t xen_domain_handle_t[16];
struct xc_hypercall_buffer {
    void *hbuf;
    struct xc_hypercall_buffer *param_shadow;
    int dir;
    void *ubuf;
    size_t sz;
};
typedef struct xc_hypercall_buffer xc_hypercall_buffer_t;
struct xen_domctl_shadow_op_stats {
    uint32_t fault_count;
    uint32_t dirty_count;
};
typedef struct xen_domctl_shadow_op_stats xc_shadow_op_stats_t;
struct xen_arch_domainconfig {
    uint32_t emulation_flags;
    uint32_t misc_flags;
};
struct xen_domctl_createdomain {
    uint32_t ssidref;
    xen_domain_handle_t handle;
    uint32_t flags;
    uint32_t iommu_opts;
    uint32_t max_vcpus;
    uint32_t max_evtchn_port;
    int32_t max_grant_frames;
    int32_t max_maptrack_frames;
    uint32_t grant_opts;
    uint32_t vmtrace_size;
    uint32_t cpupool_id;
    struct xen_arch_domainconfig arch;
};
typedef struct xen_domctl_getdomaininfo {
    domid_t domain;
    uint16_t pad1;
    uint32_t flags;
    uint64_t tot_pages;
    uint64_t max_pages;
    uint64_t outstanding_pages;
    uint64_t shr_pages;
    uint64_t paged_pages;
    uint64_t shared_info_frame;
    uint64_t cpu_time;
    uint32_t nr_online_vcpus;
    uint32_t max_vcpu_id;
    uint32_t ssidref;
    xen_domain_handle_t handle;
    uint32_t cpupool;
    uint8_t gpaddr_bits;
    uint8_t pad2[7];
    struct xen_arch_domainconfig arch_config;
} xc_domaininfo_t;
#define XEN_DOMINF_hvm_guest (1U << 1)
#define XEN_DOMINF_paused (1U << 3)
#define XEN_DOMINF_running (1U << 5)
#define XEN_DOMCTL_CDF_hvm 1U
#define XEN_DOMCTL_SHADOW_OP_OFF 0
#define XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY 2
#define XEN_DOMCTL_SHADOW_OP_CLEAN 11
#define XEN_DOMCTL_SHADOW_OP_PEEK 12
#define HVM_FILE_MAGIC 0x54381286
#define HVM_FILE_VERSION 1
#endif

/* Guard against the two declarations drifting apart where both exist. */
_Static_assert(sizeof(xc_domaininfo_t) == 112, "xc_domaininfo_t");
_Static_assert(sizeof(struct xen_domctl_createdomain) == 64, "xen_domctl_createdomain");
_Static_assert(sizeof(xc_hypercall_buffer_t) == 40, "xc_hypercall_buffer_t");

#define PAGE 4096UL
#define MAX_DOMAINS 16
#define MAX_FRAMES (1UL << 22) /* 16 GiB of guest-physical space per domain */
#define MAX_PARAMS 64
#define WORDS(frames) (((frames) + 63) / 64)

struct xc_interface_core { int magic; };
struct xenforeignmemory_handle { int magic; };
struct xs_handle { int magic; };
struct xentoollog_logger_stdiostream { int magic; };

struct domain {
    int used;
    uint32_t id;
    char name[64];
    uint32_t hvm;
    int memfd;
    unsigned long frames;          /* memfd size in frames */
    uint64_t *populated;           /* WORDS(MAX_FRAMES) */
    unsigned long populated_count;
    uint64_t max_kib;
    uint32_t vcpus;
    _Atomic uint64_t *dirty;       /* WORDS(MAX_FRAMES), meaningful while logdirty */
    int logdirty;
    uint64_t params[MAX_PARAMS];
    /* the guest, guarded by lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pause_count;
    int stop;
    int has_guest;
    pthread_t thread;
    uint8_t *ram;                  /* the guest's own mapping of the memfd */
    uint64_t seq, prng, writes_per_ms, ws_first, ws_frames;
};

static pthread_mutex_t table = PTHREAD_MUTEX_INITIALIZER;
static struct domain domains[MAX_DOMAINS];
static uint32_t next_id = 1;

/* failure injection: fn fails with err once after `after` more successful calls */
static char fail_fn[64];
static int fail_errno;
static int fail_after;

static int should_fail(const char *fn)
{
    int fail = 0;
    pthread_mutex_lock(&table);
    if (fail_fn[0] && strcmp(fn, fail_fn) == 0) {
        if (fail_after-- <= 0) {
            fail = fail_errno;
            fail_fn[0] = 0;
        }
    }
    pthread_mutex_unlock(&table);
    if (fail) {
        errno = fail;
    }
    return fail != 0;
}

static struct domain *find(uint32_t id)
{
    for (int i = 0; i < MAX_DOMAINS; i++) {
        if (domains[i].used && domains[i].id == id) {
            return &domains[i];
        }
    }
    return NULL;
}

static struct domain *lookup(uint32_t id)
{
    pthread_mutex_lock(&table);
    struct domain *d = find(id);
    pthread_mutex_unlock(&table);
    if (!d) {
        errno = ESRCH;
    }
    return d;
}

static int is_populated(struct domain *d, unsigned long pfn)
{
    return pfn < MAX_FRAMES && (d->populated[pfn / 64] >> (pfn % 64) & 1);
}

static struct domain *new_domain(uint32_t vcpus, uint32_t hvm)
{
    pthread_mutex_lock(&table);
    struct domain *d = NULL;
    for (int i = 0; i < MAX_DOMAINS && !d; i++) {
        if (!domains[i].used) {
            d = &domains[i];
        }
    }
    if (!d) {
        pthread_mutex_unlock(&table);
        errno = ENOSPC;
        return NULL;
    }
    memset(d, 0, sizeof(*d));
    d->memfd = memfd_create("xenshim-domain", MFD_CLOEXEC);
    d->populated = calloc(WORDS(MAX_FRAMES), 8);
    d->dirty = calloc(WORDS(MAX_FRAMES), 8);
    if (d->memfd < 0 || !d->populated || !d->dirty) {
        pthread_mutex_unlock(&table);
        errno = ENOMEM;
        return NULL;
    }
    d->used = 1;
    d->id = next_id++;
    d->vcpus = vcpus;
    d->hvm = hvm;
    d->pause_count = 1; /* Xen creates domains paused */
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_mutex_unlock(&table);
    return d;
}

static int populate(struct domain *d, unsigned long pfn)
{
    if (pfn >= MAX_FRAMES) {
        errno = EINVAL;
        return -1;
    }
    if (is_populated(d, pfn)) {
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

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void *guest(void *arg)
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
            uint64_t pfn = d->ws_first + xorshift(&d->prng) % d->ws_frames;
            if (!is_populated(d, pfn)) {
                continue;
            }
            uint64_t slot = xorshift(&d->prng) % (PAGE / 8);
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

static int start_guest(struct domain *d)
{
    d->ram = mmap(NULL, d->frames * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
    if (d->ram == MAP_FAILED) {
        d->ram = NULL;
        return -1;
    }
    d->has_guest = 1;
    return pthread_create(&d->thread, NULL, guest, d) == 0 ? 0 : -1;
}

static void destroy(struct domain *d)
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
    struct domain *d = new_domain(vcpus, 1);
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
        if (populate(d, pfn) < 0) {
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
        if (is_populated(d, pfn)) {
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
    if (start_guest(d) < 0) {
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
    struct domain *d = lookup(id);
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
    struct domain *d = lookup(id);
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
    struct domain *d = lookup(id);
    return d && param < MAX_PARAMS ? d->params[param] : 0;
}

/* Copies the domain's frames [first, first + count) into out; -1 if any is not populated. */
int shim_read_frames(uint32_t id, uint64_t first, uint64_t count, void *out)
{
    struct domain *d = lookup(id);
    if (!d) {
        return -1;
    }
    for (uint64_t pfn = first; pfn < first + count; pfn++) {
        if (!is_populated(d, pfn)) {
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
    pthread_mutex_lock(&table);
    snprintf(fail_fn, sizeof(fail_fn), "%s", fn);
    fail_errno = err;
    fail_after = after;
    pthread_mutex_unlock(&table);
}

/* The number of domains that exist. */
int shim_domain_count(void)
{
    int n = 0;
    pthread_mutex_lock(&table);
    for (int i = 0; i < MAX_DOMAINS; i++) {
        n += domains[i].used;
    }
    pthread_mutex_unlock(&table);
    return n;
}

/* Destroys every domain. */
void shim_reset(void)
{
    for (int i = 0; i < MAX_DOMAINS; i++) {
        if (domains[i].used) {
            destroy(&domains[i]);
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

/* ---- libxenctrl ---- */

xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger, unsigned open_flags)
{
    (void) logger;
    (void) dombuild_logger;
    (void) open_flags;
    if (should_fail("xc_interface_open")) {
        return NULL;
    }
    return calloc(1, sizeof(struct xc_interface_core));
}

int xc_interface_close(xc_interface *xch)
{
    free(xch);
    return 0;
}

int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain, unsigned int max_domains, xc_domaininfo_t *info)
{
    (void) xch;
    if (should_fail("xc_domain_getinfolist")) {
        return -1;
    }
    unsigned n = 0;
    pthread_mutex_lock(&table);
    for (uint32_t id = first_domain; id < next_id && n < max_domains; id++) {
        struct domain *d = find(id);
        if (!d) {
            continue;
        }
        memset(&info[n], 0, sizeof(info[n]));
        info[n].domain = (domid_t) d->id;
        pthread_mutex_lock(&d->lock);
        info[n].flags = (d->hvm ? XEN_DOMINF_hvm_guest : 0)
                | (d->pause_count > 0 ? XEN_DOMINF_paused : XEN_DOMINF_running);
        pthread_mutex_unlock(&d->lock);
        info[n].tot_pages = d->populated_count;
        info[n].max_pages = d->max_kib / 4;
        info[n].nr_online_vcpus = d->vcpus;
        info[n].max_vcpu_id = d->vcpus - 1;
        n++;
    }
    pthread_mutex_unlock(&table);
    return (int) n;
}

int xc_domain_maximum_gpfn(xc_interface *xch, uint32_t domid, xen_pfn_t *gpfns)
{
    (void) xch;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_domain_maximum_gpfn")) {
        return -1;
    }
    *gpfns = d->frames ? d->frames - 1 : 0;
    return 0;
}

int xc_domain_pause(xc_interface *xch, uint32_t domid)
{
    (void) xch;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_domain_pause")) {
        return -1;
    }
    /* Taking the lock waits for the guest's time slice to end: no vCPU runs once this returns. */
    pthread_mutex_lock(&d->lock);
    d->pause_count++;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int xc_domain_unpause(xc_interface *xch, uint32_t domid)
{
    (void) xch;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_domain_unpause")) {
        return -1;
    }
    pthread_mutex_lock(&d->lock);
    if (d->pause_count == 0) {
        pthread_mutex_unlock(&d->lock);
        errno = EINVAL;
        return -1;
    }
    d->pause_count--;
    int start = d->pause_count == 0 && !d->has_guest && d->writes_per_ms > 0;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return start ? start_guest(d) : 0;
}

int xc_domain_destroy(xc_interface *xch, uint32_t domid)
{
    (void) xch;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_domain_destroy")) {
        return -1;
    }
    destroy(d);
    return 0;
}

/*
 * The context: HEADER, one CPU record per vCPU, END, framed as Xen frames its records
 * (struct hvm_save_descriptor: typecode, instance, length). The CPU records hold the guest's
 * registers: sequence number, PRNG state, pace and working set (vCPU 0; the others are idle).
 */
#define REC_END 0
#define REC_HEADER 1
#define REC_CPU 2
struct shim_rec { uint16_t typecode, instance; uint32_t length; };
struct shim_cpu { uint64_t seq, prng, writes_per_ms, ws_first, ws_frames; };
struct shim_header { uint32_t magic, version; uint64_t changeset; uint32_t cpuid, gtsc_khz; };

static uint32_t context_size(struct domain *d)
{
    return (uint32_t) (2 * sizeof(struct shim_rec) + sizeof(struct shim_header)
            + d->vcpus * (sizeof(struct shim_rec) + sizeof(struct shim_cpu)));
}

int xc_domain_hvm_getcontext(xc_interface *xch, uint32_t domid, uint8_t *ctxt_buf, uint32_t size)
{
    (void) xch;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_domain_hvm_getcontext")) {
        return -1;
    }
    uint32_t need = context_size(d);
    if (!ctxt_buf) {
        return (int) need;
    }
    if (size < need) {
        errno = ENOSPC;
        return -1;
    }
    uint8_t *p = ctxt_buf;
    struct shim_rec r = {REC_HEADER, 0, sizeof(struct shim_header)};
    struct shim_header h = {HVM_FILE_MAGIC, HVM_FILE_VERSION, 0, 0, 0};
    memcpy(p, &r, sizeof(r)); p += sizeof(r);
    memcpy(p, &h, sizeof(h)); p += sizeof(h);
    pthread_mutex_lock(&d->lock);
    for (uint32_t v = 0; v < d->vcpus; v++) {
        struct shim_rec c = {REC_CPU, (uint16_t) v, sizeof(struct shim_cpu)};
        struct shim_cpu regs = {0, 0, 0, 0, 0};
        if (v == 0) {
            regs = (struct shim_cpu) {d->seq, d->prng, d->writes_per_ms, d->ws_first, d->ws_frames};
        }
        memcpy(p, &c, sizeof(c)); p += sizeof(c);
        memcpy(p, &regs, sizeof(regs)); p += sizeof(regs);
    }
    pthread_mutex_unlock(&d->lock);
    struct shim_rec end = {REC_END, 0, 0};
    memcpy(p, &end, sizeof(end)); p += sizeof(end);
    return (int) (p - ctxt_buf);
}

int xc_domain_hvm_setcontext(xc_interface *xch, uint32_t domid, uint8_t *hvm_ctxt, uint32_t size)
{
    (void) xch;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_domain_hvm_setcontext")) {
        return -1;
    }
    uint8_t *p = hvm_ctxt, *end = hvm_ctxt + size;
    int header = 0;
    while (p + sizeof(struct shim_rec) <= end) {
        struct shim_rec r;
        memcpy(&r, p, sizeof(r));
        p += sizeof(r);
        if (r.typecode == REC_END) {
            return header ? 0 : (errno = EINVAL, -1);
        }
        if (p + r.length > end) {
            break;
        }
        if (r.typecode == REC_HEADER) {
            struct shim_header h;
            memcpy(&h, p, sizeof(h));
            if (h.magic != HVM_FILE_MAGIC) {
                break;
            }
            header = 1;
        } else if (r.typecode == REC_CPU && r.instance == 0 && r.length == sizeof(struct shim_cpu)) {
            struct shim_cpu regs;
            memcpy(&regs, p, sizeof(regs));
            pthread_mutex_lock(&d->lock);
            d->seq = regs.seq;
            d->prng = regs.prng;
            d->writes_per_ms = regs.writes_per_ms;
            d->ws_first = regs.ws_first;
            d->ws_frames = regs.ws_frames ? regs.ws_frames : 1;
            pthread_mutex_unlock(&d->lock);
        }
        p += r.length;
    }
    errno = EINVAL;
    return -1;
}

int xc_hvm_param_get(xc_interface *handle, uint32_t dom, uint32_t param, uint64_t *value)
{
    (void) handle;
    struct domain *d = lookup(dom);
    if (!d || should_fail("xc_hvm_param_get")) {
        return -1;
    }
    if (param >= MAX_PARAMS) {
        errno = EINVAL;
        return -1;
    }
    *value = d->params[param];
    return 0;
}

int xc_hvm_param_set(xc_interface *handle, uint32_t dom, uint32_t param, uint64_t value)
{
    (void) handle;
    struct domain *d = lookup(dom);
    if (!d || should_fail("xc_hvm_param_set")) {
        return -1;
    }
    if (param >= MAX_PARAMS) {
        errno = EINVAL;
        return -1;
    }
    d->params[param] = value;
    return 0;
}

int xc_shadow_control(xc_interface *xch, uint32_t domid, unsigned int sop, unsigned int *mb, unsigned int mode)
{
    (void) xch;
    (void) mb;
    (void) mode;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_shadow_control")) {
        return -1;
    }
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    if (sop == XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY) {
        if (d->logdirty) {
            errno = EINVAL;
            rc = -1;
        } else {
            for (unsigned long i = 0; i < WORDS(d->frames); i++) {
                atomic_store(&d->dirty[i], 0);
            }
            d->logdirty = 1;
        }
    } else if (sop == XEN_DOMCTL_SHADOW_OP_OFF) {
        d->logdirty = 0;
    } else {
        errno = EINVAL;
        rc = -1;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

long long xc_logdirty_control(xc_interface *xch, uint32_t domid, unsigned int sop, xc_hypercall_buffer_t *dirty_bitmap,
                              unsigned long pages, unsigned int mode, xc_shadow_op_stats_t *stats)
{
    (void) xch;
    (void) mode;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_logdirty_control")) {
        return -1;
    }
    if (!d->logdirty || (sop != XEN_DOMCTL_SHADOW_OP_CLEAN && sop != XEN_DOMCTL_SHADOW_OP_PEEK)) {
        errno = EINVAL;
        return -1;
    }
    uint64_t *out = dirty_bitmap ? dirty_bitmap->hbuf : NULL;
    unsigned long n = pages < d->frames ? pages : d->frames;
    uint32_t dirty = 0;
    for (unsigned long i = 0; i < WORDS(n); i++) {
        uint64_t w = sop == XEN_DOMCTL_SHADOW_OP_CLEAN ? atomic_exchange(&d->dirty[i], 0) : atomic_load(&d->dirty[i]);
        if (i == WORDS(n) - 1 && n % 64) {
            w &= (1ULL << (n % 64)) - 1;
        }
        dirty += (uint32_t) __builtin_popcountll(w);
        if (out) {
            out[i] = w;
        }
    }
    if (stats) {
        stats->fault_count = 0;
        stats->dirty_count = dirty;
    }
    return (long long) n;
}

void *xc__hypercall_buffer_alloc_pages(xc_interface *xch, xc_hypercall_buffer_t *b, int nr_pages)
{
    (void) xch;
    if (should_fail("xc__hypercall_buffer_alloc_pages")) {
        return NULL;
    }
    void *p = mmap(NULL, (size_t) nr_pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    b->hbuf = p;
    return p;
}

void xc__hypercall_buffer_free_pages(xc_interface *xch, xc_hypercall_buffer_t *b, int nr_pages)
{
    (void) xch;
    if (b->hbuf) {
        munmap(b->hbuf, (size_t) nr_pages * PAGE);
        b->hbuf = NULL;
    }
}

int xc_domain_create(xc_interface *xch, uint32_t *pdomid, struct xen_domctl_createdomain *config)
{
    (void) xch;
    if (should_fail("xc_domain_create")) {
        return -1;
    }
    if (config->max_vcpus < 1) {
        errno = EINVAL;
        return -1;
    }
    struct domain *d = new_domain(config->max_vcpus, config->flags & XEN_DOMCTL_CDF_hvm);
    if (!d) {
        return -1;
    }
    *pdomid = d->id;
    return 0;
}

int xc_domain_setmaxmem(xc_interface *xch, uint32_t domid, uint64_t max_memkb)
{
    (void) xch;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_domain_setmaxmem")) {
        return -1;
    }
    d->max_kib = max_memkb;
    return 0;
}

int xc_domain_populate_physmap_exact(xc_interface *xch, uint32_t domid, unsigned long nr_extents,
                                     unsigned int extent_order, unsigned int mem_flags, xen_pfn_t *extent_start)
{
    (void) xch;
    (void) mem_flags;
    struct domain *d = lookup(domid);
    if (!d || should_fail("xc_domain_populate_physmap_exact")) {
        return -1;
    }
    if (extent_order != 0) {
        errno = EINVAL;
        return -1;
    }
    for (unsigned long i = 0; i < nr_extents; i++) {
        if (populate(d, extent_start[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- libxenforeignmemory ---- */

xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger, unsigned open_flags)
{
    (void) logger;
    (void) open_flags;
    if (should_fail("xenforeignmemory_open")) {
        return NULL;
    }
    return calloc(1, sizeof(struct xenforeignmemory_handle));
}

int xenforeignmemory_close(xenforeignmemory_handle *fmem)
{
    free(fmem);
    return 0;
}

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot, size_t pages,
                           const xen_pfn_t arr[], int err[])
{
    (void) fmem;
    struct domain *d = lookup(dom);
    if (!d || should_fail("xenforeignmemory_map")) {
        return NULL;
    }
    uint8_t *base = mmap(NULL, pages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        return NULL;
    }
    /* Runs of consecutive populated frames become one mapping of the memfd each. */
    for (size_t i = 0; i < pages;) {
        if (!is_populated(d, arr[i]) || arr[i] >= d->frames) {
            err[i++] = -EINVAL;
            continue;
        }
        size_t j = i + 1;
        while (j < pages && arr[j] == arr[j - 1] + 1 && is_populated(d, arr[j]) && arr[j] < d->frames) {
            j++;
        }
        if (mmap(base + i * PAGE, (j - i) * PAGE, prot, MAP_SHARED | MAP_FIXED, d->memfd, (off_t) (arr[i] * PAGE))
                == MAP_FAILED) {
            int e = errno;
            munmap(base, pages * PAGE);
            errno = e;
            return NULL;
        }
        for (size_t k = i; k < j; k++) {
            err[k] = 0;
        }
        i = j;
    }
    return base;
}

int xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages)
{
    (void) fmem;
    return munmap(addr, pages * PAGE);
}

/* ---- libxenstore ---- */

struct xs_handle *xs_open(unsigned long flags)
{
    (void) flags;
    if (should_fail("xs_open")) {
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
    pthread_mutex_lock(&table);
    for (int i = 0; i < MAX_DOMAINS; i++) {
        if (domains[i].used) {
            snprintf(ids[n++], sizeof(ids[0]), "%u", domains[i].id);
        }
    }
    pthread_mutex_unlock(&table);
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
    struct domain *d = lookup(id);
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
