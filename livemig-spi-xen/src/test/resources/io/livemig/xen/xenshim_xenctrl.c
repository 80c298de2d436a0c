/*
 * xenshim_xenctrl.c: the simulated Xen's libxenctrl and libxenforeignmemory (see xenshim.c):
 * every function the xen: provider calls, with Xen 4.17's prototypes, over the domains of
 * xenshim.c.
 */
#define _GNU_SOURCE
#include "xenshim.h"

/* ---- libxenctrl ---- */

xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger, unsigned open_flags)
{
    (void) logger;
    (void) dombuild_logger;
    (void) open_flags;
    if (sim_should_fail("xc_interface_open")) {
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
    if (sim_should_fail("xc_domain_getinfolist")) {
        return -1;
    }
    unsigned n = 0;
    pthread_mutex_lock(&sim_table);
    for (uint32_t id = first_domain; id < sim_next_id && n < max_domains; id++) {
        struct domain *d = sim_find(id);
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
    pthread_mutex_unlock(&sim_table);
    return (int) n;
}

int xc_domain_maximum_gpfn(xc_interface *xch, uint32_t domid, xen_pfn_t *gpfns)
{
    (void) xch;
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_domain_maximum_gpfn")) {
        return -1;
    }
    *gpfns = d->frames ? d->frames - 1 : 0;
    return 0;
}

int xc_domain_pause(xc_interface *xch, uint32_t domid)
{
    (void) xch;
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_domain_pause")) {
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
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_domain_unpause")) {
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
    return start ? sim_start_guest(d) : 0;
}

int xc_domain_destroy(xc_interface *xch, uint32_t domid)
{
    (void) xch;
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_domain_destroy")) {
        return -1;
    }
    sim_destroy(d);
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
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_domain_hvm_getcontext")) {
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
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_domain_hvm_setcontext")) {
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
    struct domain *d = sim_lookup(dom);
    if (!d || sim_should_fail("xc_hvm_param_get")) {
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
    struct domain *d = sim_lookup(dom);
    if (!d || sim_should_fail("xc_hvm_param_set")) {
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
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_shadow_control")) {
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
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_logdirty_control")) {
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
    if (sim_should_fail("xc__hypercall_buffer_alloc_pages")) {
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
    if (sim_should_fail("xc_domain_create")) {
        return -1;
    }
    if (config->max_vcpus < 1) {
        errno = EINVAL;
        return -1;
    }
    struct domain *d = sim_new_domain(config->max_vcpus, config->flags & XEN_DOMCTL_CDF_hvm);
    if (!d) {
        return -1;
    }
    *pdomid = d->id;
    return 0;
}

int xc_domain_setmaxmem(xc_interface *xch, uint32_t domid, uint64_t max_memkb)
{
    (void) xch;
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_domain_setmaxmem")) {
        return -1;
    }
    d->max_kib = max_memkb;
    return 0;
}

int xc_set_paging_mempool_size(xc_interface *xch, uint32_t domid, uint64_t size)
{
    (void) xch;
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_set_paging_mempool_size")) {
        return -1;
    }
    d->paging_pool_bytes = size;
    return 0;
}

int xc_domain_populate_physmap_exact(xc_interface *xch, uint32_t domid, unsigned long nr_extents,
                                     unsigned int extent_order, unsigned int mem_flags, xen_pfn_t *extent_start)
{
    (void) xch;
    (void) mem_flags;
    struct domain *d = sim_lookup(domid);
    if (!d || sim_should_fail("xc_domain_populate_physmap_exact")) {
        return -1;
    }
    if (d->hvm && d->paging_pool_bytes == 0) {
        errno = ENOMEM; /* as Xen fails when a HAP domain has no pool for its page tables */
        return -1;
    }
    if (extent_order != 0) {
        errno = EINVAL;
        return -1;
    }
    for (unsigned long i = 0; i < nr_extents; i++) {
        if (sim_populate(d, extent_start[i]) < 0) {
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
    if (sim_should_fail("xenforeignmemory_open")) {
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
    struct domain *d = sim_lookup(dom);
    if (!d || sim_should_fail("xenforeignmemory_map")) {
        return NULL;
    }
    uint8_t *base = mmap(NULL, pages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        return NULL;
    }
    /* Runs of consecutive populated frames become one mapping of the memfd each. */
    for (size_t i = 0; i < pages;) {
        if (!sim_is_populated(d, arr[i]) || arr[i] >= d->frames) {
            err[i++] = -EINVAL;
            continue;
        }
        size_t j = i + 1;
        while (j < pages && arr[j] == arr[j - 1] + 1 && sim_is_populated(d, arr[j]) && arr[j] < d->frames) {
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

