package io.livemig.xen.internal;

/**
 * The Xen 4.17 ABI this binding uses (x86-64): constants, struct sizes and the offsets of the
 * fields it reads or writes, each with the header it comes from. {@code XenAbiTest} compiles a C
 * program against the installed headers (Debian's {@code libxen-dev}) and compares every value
 * here with the compiler's.
 *
 * <p>Structs the binding only passes through (the HVM context records) are opaque bytes and have
 * no entry here.
 */
public final class XenAbi {

    private XenAbi() {
    }

    // xenctrl.h
    /** XC_PAGE_SIZE: guest pages are 4 KiB. */
    public static final int PAGE_BYTES = 4096;
    /** sizeof(xen_pfn_t): a guest frame number is an unsigned long. */
    public static final int PFN_BYTES = 8;

    // xenctrl.h: struct xc_hypercall_buffer, which xc_logdirty_control takes for the bitmap.
    public static final int HYPERCALL_BUFFER_BYTES = 40;
    public static final int HYPERCALL_BUFFER_HBUF = 0;
    public static final int HYPERCALL_BUFFER_PARAM_SHADOW = 8;
    public static final int HYPERCALL_BUFFER_DIR = 16;
    public static final int HYPERCALL_BUFFER_UBUF = 24;
    public static final int HYPERCALL_BUFFER_SZ = 32;

    // xen/domctl.h: struct xen_domctl_getdomaininfo (xc_domaininfo_t), filled by xc_domain_getinfolist.
    public static final int DOMAININFO_BYTES = 112;
    public static final int DOMAININFO_DOMAIN = 0;
    public static final int DOMAININFO_FLAGS = 4;
    public static final int DOMAININFO_TOT_PAGES = 8;
    public static final int DOMAININFO_MAX_PAGES = 16;
    public static final int DOMAININFO_NR_ONLINE_VCPUS = 64;
    public static final int DOMAININFO_MAX_VCPU_ID = 68;
    public static final int DOMINF_DYING = 1;
    public static final int DOMINF_HVM_GUEST = 1 << 1;
    public static final int DOMINF_SHUTDOWN = 1 << 2;
    public static final int DOMINF_PAUSED = 1 << 3;

    // xen/domctl.h: struct xen_domctl_createdomain, for xc_domain_create.
    public static final int CREATEDOMAIN_BYTES = 64;
    public static final int CREATEDOMAIN_FLAGS = 20;
    public static final int CREATEDOMAIN_MAX_VCPUS = 28;
    public static final int CREATEDOMAIN_MAX_EVTCHN_PORT = 32;
    public static final int CREATEDOMAIN_MAX_GRANT_FRAMES = 36;
    public static final int CREATEDOMAIN_MAX_MAPTRACK_FRAMES = 40;
    public static final int CREATEDOMAIN_GRANT_OPTS = 44;
    public static final int CREATEDOMAIN_EMULATION_FLAGS = 56;
    public static final int CDF_HVM = 1;
    public static final int CDF_HAP = 1 << 1;
    /** xen/arch-x86/xen.h: XEN_X86_EMU_ALL, everything Xen can emulate for an HVM guest. */
    public static final int X86_EMU_ALL = 0x7ff;
    /** xen/arch-x86/xen.h: XEN_X86_EMU_VPCI, which only PVH dom0 uses. */
    public static final int X86_EMU_VPCI = 1 << 10;

    // xen/domctl.h: shadow (log-dirty) operations.
    public static final int SHADOW_OP_OFF = 0;
    public static final int SHADOW_OP_ENABLE_LOGDIRTY = 2;
    public static final int SHADOW_OP_CLEAN = 11;
    public static final int SHADOW_OP_PEEK = 12;
    public static final int SHADOW_LOGDIRTY_FINAL = 1;
    /** sizeof(struct xen_domctl_shadow_op_stats). */
    public static final int SHADOW_OP_STATS_BYTES = 8;

    // xen/hvm/params.h: the HVM parameters Xen's own save code carries (xc_sr_save_x86_hvm.c).
    public static final int HVM_PARAM_STORE_PFN = 1;
    public static final int HVM_PARAM_IOREQ_PFN = 5;
    public static final int HVM_PARAM_BUFIOREQ_PFN = 6;
    public static final int HVM_PARAM_VIRIDIAN = 9;
    public static final int HVM_PARAM_IDENT_PT = 12;
    public static final int HVM_PARAM_CONSOLE_PFN = 17;
    public static final int HVM_PARAM_ACPI_IOPORTS_LOCATION = 19;
    public static final int HVM_PARAM_PAGING_RING_PFN = 27;
    public static final int HVM_PARAM_MONITOR_RING_PFN = 28;
    public static final int HVM_PARAM_SHARING_RING_PFN = 29;
    public static final int HVM_PARAM_IOREQ_SERVER_PFN = 32;
    public static final int HVM_PARAM_NR_IOREQ_SERVER_PAGES = 33;
    public static final int HVM_PARAM_VM_GENERATION_ID_ADDR = 34;
    public static final int HVM_PARAM_X87_FIP_WIDTH = 36;
    public static final int HVM_PARAM_VM86_TSS_SIZED = 37;
    public static final int HVM_PARAM_MCA_CAP = 38;

    // sys/mman.h: the prot argument of xenforeignmemory_map.
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;

    // xenstore.h: XBT_NULL, "no transaction".
    public static final int XBT_NULL = 0;

    /** The HVM parameters a migration carries, in the order Xen's save code writes them. */
    public static int[] migratedHvmParams() {
        return new int[] {HVM_PARAM_STORE_PFN, HVM_PARAM_IOREQ_PFN, HVM_PARAM_BUFIOREQ_PFN, HVM_PARAM_PAGING_RING_PFN,
                HVM_PARAM_MONITOR_RING_PFN, HVM_PARAM_SHARING_RING_PFN, HVM_PARAM_VM86_TSS_SIZED,
                HVM_PARAM_CONSOLE_PFN, HVM_PARAM_ACPI_IOPORTS_LOCATION, HVM_PARAM_VIRIDIAN, HVM_PARAM_IDENT_PT,
                HVM_PARAM_VM_GENERATION_ID_ADDR, HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES,
                HVM_PARAM_X87_FIP_WIDTH, HVM_PARAM_MCA_CAP};
    }
}
