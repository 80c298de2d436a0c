/*
 * xenshim.h: what the two halves of the simulated Xen share (see xenshim.c): the Xen types (the
 * real headers' with -DLIVEMIG_XEN_HEADERS, else the same declared here), the simulated domain,
 * and the helpers both use. Internal symbols are hidden: the library exports only Xen's
 * functions and the shim_* test controls.
 */
#ifndef LIVEMIG_XENSHIM_H
#define LIVEMIG_XENSHIM_H
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
    uint64_t paging_pool_bytes;
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

#define SIM __attribute__((visibility("hidden")))

SIM extern pthread_mutex_t sim_table;
SIM extern struct domain sim_domains[MAX_DOMAINS];
SIM extern uint32_t sim_next_id;

/* Whether `fn` must fail now (errno set): the test's failure injection. */
SIM int sim_should_fail(const char *fn);
/* The domain `id`, with sim_table held by the caller; NULL if none. */
SIM struct domain *sim_find(uint32_t id);
/* The domain `id`; NULL with errno ESRCH if none. */
SIM struct domain *sim_lookup(uint32_t id);
SIM int sim_is_populated(struct domain *d, unsigned long pfn);
/* A new paused domain without memory; NULL with errno if none is free. */
SIM struct domain *sim_new_domain(uint32_t vcpus, uint32_t hvm);
/* Backs frame `pfn` with memory, within the domain's maximum. */
SIM int sim_populate(struct domain *d, unsigned long pfn);
/* Maps the domain's memory for its guest and starts the guest thread. */
SIM int sim_start_guest(struct domain *d);
SIM void sim_destroy(struct domain *d);

#endif
