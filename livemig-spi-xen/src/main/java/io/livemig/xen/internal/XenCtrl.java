package io.livemig.xen.internal;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * libxenctrl (Xen 4.17, soname {@value #SONAME}): every function the provider calls, with the
 * prototype from xenctrl.h above each handle. Each method calls one function and, where it
 * fails, throws a {@link io.livemig.xen.XenException} naming the function, the domain and
 * errno; none of them logs.
 *
 * <p>An instance holds the handles of one loaded library (the system's, or a file named by
 * {@code livemig.xen.libxenctrl}, as the contract test's shim is): the library is chosen at run
 * time, so the handles are instance fields rather than static constants.
 *
 * <p>Buffers: every pointer argument is a segment the caller owns for the duration of the call;
 * libxenctrl keeps none of them after it returns, except the hypercall buffer, which lives until
 * {@link #hypercallBufferFreePages}. Thread-safe: libxenctrl handles opened without
 * {@code XC_OPENFLAG_NON_REENTRANT} may be used from several threads.
 */
public final class XenCtrl {

    /** The soname of Xen 4.17's libxenctrl. */
    public static final String SONAME = "libxenctrl.so.4.17";

    private final String library;
    // xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger, unsigned open_flags)
    private final MethodHandle interfaceOpen;
    // int xc_interface_close(xc_interface *xch)
    private final MethodHandle interfaceClose;
    // int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain, unsigned int max_domains, xc_domaininfo_t *info)
    private final MethodHandle domainGetinfolist;
    // int xc_domain_maximum_gpfn(xc_interface *xch, uint32_t domid, xen_pfn_t *gpfns)
    private final MethodHandle domainMaximumGpfn;
    // int xc_domain_pause(xc_interface *xch, uint32_t domid); the same for unpause and destroy
    private final MethodHandle domainPause;
    private final MethodHandle domainUnpause;
    private final MethodHandle domainDestroy;
    // int xc_domain_hvm_getcontext(xc_interface *xch, uint32_t domid, uint8_t *ctxt_buf, uint32_t size)
    private final MethodHandle domainHvmGetcontext;
    // int xc_domain_hvm_setcontext(xc_interface *xch, uint32_t domid, uint8_t *hvm_ctxt, uint32_t size)
    private final MethodHandle domainHvmSetcontext;
    // int xc_hvm_param_get(xc_interface *handle, uint32_t dom, uint32_t param, uint64_t *value)
    private final MethodHandle hvmParamGet;
    // int xc_hvm_param_set(xc_interface *handle, uint32_t dom, uint32_t param, uint64_t value)
    private final MethodHandle hvmParamSet;
    // int xc_shadow_control(xc_interface *xch, uint32_t domid, unsigned int sop, unsigned int *mb, unsigned int mode)
    private final MethodHandle shadowControl;
    // long long xc_logdirty_control(xc_interface *xch, uint32_t domid, unsigned int sop,
    //     xc_hypercall_buffer_t *dirty_bitmap, unsigned long pages, unsigned int mode, xc_shadow_op_stats_t *stats)
    private final MethodHandle logdirtyControl;
    // void *xc__hypercall_buffer_alloc_pages(xc_interface *xch, xc_hypercall_buffer_t *b, int nr_pages)
    private final MethodHandle hypercallBufferAllocPages;
    // void xc__hypercall_buffer_free_pages(xc_interface *xch, xc_hypercall_buffer_t *b, int nr_pages)
    private final MethodHandle hypercallBufferFreePages;
    // int xc_domain_create(xc_interface *xch, uint32_t *pdomid, struct xen_domctl_createdomain *config)
    private final MethodHandle domainCreate;
    // int xc_domain_setmaxmem(xc_interface *xch, uint32_t domid, uint64_t max_memkb)
    private final MethodHandle domainSetmaxmem;
    // int xc_set_paging_mempool_size(xc_interface *xch, uint32_t domid, uint64_t size)
    private final MethodHandle setPagingMempoolSize;
    // int xc_domain_populate_physmap_exact(xc_interface *xch, uint32_t domid, unsigned long nr_extents,
    //     unsigned int extent_order, unsigned int mem_flags, xen_pfn_t *extent_start)
    private final MethodHandle domainPopulatePhysmapExact;

    private XenCtrl(String library) {
        SymbolLookup lib = Native.load(library);
        this.library = library;
        FunctionDescriptor domOnly = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT);
        FunctionDescriptor context = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT);
        interfaceOpen = bind(lib, "xc_interface_open", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_INT));
        interfaceClose = bind(lib, "xc_interface_close", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        domainGetinfolist = bind(lib, "xc_domain_getinfolist",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
        domainMaximumGpfn = bind(lib, "xc_domain_maximum_gpfn", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        domainPause = bind(lib, "xc_domain_pause", domOnly);
        domainUnpause = bind(lib, "xc_domain_unpause", domOnly);
        domainDestroy = bind(lib, "xc_domain_destroy", domOnly);
        domainHvmGetcontext = bind(lib, "xc_domain_hvm_getcontext", context);
        domainHvmSetcontext = bind(lib, "xc_domain_hvm_setcontext", context);
        hvmParamGet = bind(lib, "xc_hvm_param_get", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
        hvmParamSet = bind(lib, "xc_hvm_param_set",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG));
        shadowControl = bind(lib, "xc_shadow_control",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        logdirtyControl = bind(lib, "xc_logdirty_control",
                FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS));
        hypercallBufferAllocPages = bind(lib, "xc__hypercall_buffer_alloc_pages",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_INT));
        hypercallBufferFreePages = bind(lib, "xc__hypercall_buffer_free_pages",
                FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_INT));
        domainCreate = bind(lib, "xc_domain_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        domainSetmaxmem = bind(lib, "xc_domain_setmaxmem", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
        setPagingMempoolSize = bind(lib, "xc_set_paging_mempool_size",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
        domainPopulatePhysmapExact = bind(lib, "xc_domain_populate_physmap_exact",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS));
    }

    private MethodHandle bind(SymbolLookup lib, String function, FunctionDescriptor descriptor) {
        return Native.bind(lib, library, function, descriptor);
    }

    /**
     * Loads libxenctrl and binds every function above.
     *
     * @param library a soname or a file path
     * @throws IllegalArgumentException with one line if the library cannot be loaded or lacks a function
     */
    public static XenCtrl load(String library) {
        return new XenCtrl(library);
    }

    private static String dom(int domid) {
        return "domain " + Integer.toUnsignedString(domid);
    }

    /**
     * xc_interface_open.
     *
     * @param logger the xentoollog_logger for libxenctrl's own messages and for domain building's
     * @return the handle, owned by the caller until {@link #interfaceClose}
     */
    public MemorySegment interfaceOpen(MemorySegment logger) {
        try {
            MemorySegment c = Native.captured();
            MemorySegment xch = (MemorySegment) interfaceOpen.invokeExact(c, logger, logger, 0);
            if (xch.equals(MemorySegment.NULL)) {
                throw Native.fail("xc_interface_open", null, c);
            }
            return xch;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** xc_interface_close; the handle is closed even when it reports an error, so errors are ignored. */
    public void interfaceClose(MemorySegment xch) {
        try {
            int ignored = (int) interfaceClose.invokeExact(Native.captured(), xch);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_domain_getinfolist for one domain.
     *
     * @param info receives one xc_domaininfo_t ({@link XenAbi#DOMAININFO_BYTES})
     * @return whether {@code info} now describes {@code domid} (false: no such domain)
     */
    public boolean domainGetinfo(MemorySegment xch, int domid, MemorySegment info) {
        try {
            MemorySegment c = Native.captured();
            int n = (int) domainGetinfolist.invokeExact(c, xch, domid, 1, info);
            if (n < 0) {
                throw Native.fail("xc_domain_getinfolist", dom(domid), c);
            }
            return n == 1 && Short.toUnsignedInt(info.get(java.lang.foreign.ValueLayout.JAVA_SHORT,
                    XenAbi.DOMAININFO_DOMAIN)) == domid;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_domain_getinfolist from {@code firstDomid} on.
     *
     * @param infos receives up to {@code max} consecutive xc_domaininfo_t
     * @return how many domains were written
     */
    public int domainGetinfolist(MemorySegment xch, int firstDomid, int max, MemorySegment infos) {
        try {
            MemorySegment c = Native.captured();
            int n = (int) domainGetinfolist.invokeExact(c, xch, firstDomid, max, infos);
            if (n < 0) {
                throw Native.fail("xc_domain_getinfolist", null, c);
            }
            return n;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_domain_maximum_gpfn.
     *
     * @param scratch 8 bytes for the result
     * @return the highest guest frame number the domain's physical map holds
     */
    public long domainMaximumGpfn(MemorySegment xch, int domid, MemorySegment scratch) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) domainMaximumGpfn.invokeExact(c, xch, domid, scratch);
            if (r < 0) {
                throw Native.fail("xc_domain_maximum_gpfn", dom(domid), c);
            }
            return scratch.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    private void domCall(MethodHandle h, String function, MemorySegment xch, int domid) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) h.invokeExact(c, xch, domid);
            if (r < 0) {
                throw Native.fail(function, dom(domid), c);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** xc_domain_pause: returns once none of the domain's vCPUs runs. */
    public void domainPause(MemorySegment xch, int domid) {
        domCall(domainPause, "xc_domain_pause", xch, domid);
    }

    /** xc_domain_unpause: drops one pause reference. */
    public void domainUnpause(MemorySegment xch, int domid) {
        domCall(domainUnpause, "xc_domain_unpause", xch, domid);
    }

    /** xc_domain_destroy. */
    public void domainDestroy(MemorySegment xch, int domid) {
        domCall(domainDestroy, "xc_domain_destroy", xch, domid);
    }

    /**
     * xc_domain_hvm_getcontext.
     *
     * @param buffer the buffer, or {@link MemorySegment#NULL} to ask for the size needed
     * @return the context's size in bytes
     */
    public int domainHvmGetcontext(MemorySegment xch, int domid, MemorySegment buffer) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) domainHvmGetcontext.invokeExact(c, xch, domid, buffer, (int) buffer.byteSize());
            if (r < 0) {
                throw Native.fail("xc_domain_hvm_getcontext", dom(domid), c);
            }
            return r;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** xc_domain_hvm_setcontext with the whole of {@code context}. */
    public void domainHvmSetcontext(MemorySegment xch, int domid, MemorySegment context) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) domainHvmSetcontext.invokeExact(c, xch, domid, context, (int) context.byteSize());
            if (r < 0) {
                throw Native.fail("xc_domain_hvm_setcontext", dom(domid), c);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_hvm_param_get.
     *
     * @param scratch 8 bytes for the value
     */
    public long hvmParamGet(MemorySegment xch, int domid, int param, MemorySegment scratch) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) hvmParamGet.invokeExact(c, xch, domid, param, scratch);
            if (r < 0) {
                throw Native.fail("xc_hvm_param_get", dom(domid) + ", param " + param, c);
            }
            return scratch.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** xc_hvm_param_set. */
    public void hvmParamSet(MemorySegment xch, int domid, int param, long value) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) hvmParamSet.invokeExact(c, xch, domid, param, value);
            if (r < 0) {
                throw Native.fail("xc_hvm_param_set", dom(domid) + ", param " + param, c);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_shadow_control without the allocation argument: {@link XenAbi#SHADOW_OP_ENABLE_LOGDIRTY}
     * and {@link XenAbi#SHADOW_OP_OFF}.
     *
     * @return 0, or {@code -errno} when {@code quiet} and the call failed
     */
    public int shadowControl(MemorySegment xch, int domid, int op, boolean quiet) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) shadowControl.invokeExact(c, xch, domid, op, MemorySegment.NULL, 0);
            if (r < 0) {
                if (quiet) {
                    return -Native.errno(c);
                }
                throw Native.fail("xc_shadow_control", dom(domid) + ", op " + op, c);
            }
            return 0;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_logdirty_control with a bitmap: {@link XenAbi#SHADOW_OP_CLEAN} copies the log-dirty
     * bitmap into the hypercall buffer and clears Xen's copy in one operation.
     *
     * @param hypercallBuffer an xc_hypercall_buffer_t whose pages {@link #hypercallBufferAllocPages} allocated
     * @param pages           the number of frames the bitmap covers
     * @param stats           8 bytes for the fault and dirty counts
     * @return the number of frames Xen reported on
     */
    public long logdirtyControl(MemorySegment xch, int domid, int op, MemorySegment hypercallBuffer, long pages,
                                int mode, MemorySegment stats) {
        try {
            MemorySegment c = Native.captured();
            long r = (long) logdirtyControl.invokeExact(c, xch, domid, op, hypercallBuffer, pages, mode, stats);
            if (r < 0) {
                throw Native.fail("xc_logdirty_control", dom(domid) + ", op " + op, c);
            }
            return r;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc__hypercall_buffer_alloc_pages (the function behind the xc_hypercall_buffer_alloc_pages
     * macro): memory Xen may write into during a hypercall.
     *
     * @param hypercallBuffer an xc_hypercall_buffer_t set up as DECLARE_HYPERCALL_BUFFER does
     * @return the buffer's pages, {@code pageCount * 4096} bytes, valid until freed
     */
    public MemorySegment hypercallBufferAllocPages(MemorySegment xch, MemorySegment hypercallBuffer, int pageCount) {
        try {
            MemorySegment c = Native.captured();
            MemorySegment p = (MemorySegment) hypercallBufferAllocPages.invokeExact(c, xch, hypercallBuffer, pageCount);
            if (p.equals(MemorySegment.NULL)) {
                throw Native.fail("xc__hypercall_buffer_alloc_pages", pageCount + " pages", c);
            }
            return p.reinterpret((long) pageCount * XenAbi.PAGE_BYTES);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** xc__hypercall_buffer_free_pages. */
    public void hypercallBufferFreePages(MemorySegment xch, MemorySegment hypercallBuffer, int pageCount) {
        try {
            hypercallBufferFreePages.invokeExact(Native.captured(), xch, hypercallBuffer, pageCount);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_domain_create.
     *
     * @param domid  4 bytes, in: 0 to let Xen choose; out: the new domain's id
     * @param config a xen_domctl_createdomain ({@link XenAbi#CREATEDOMAIN_BYTES})
     * @return the new domain's id; the domain exists paused, with no memory
     */
    public int domainCreate(MemorySegment xch, MemorySegment domid, MemorySegment config) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) domainCreate.invokeExact(c, xch, domid, config);
            if (r < 0) {
                throw Native.fail("xc_domain_create", null, c);
            }
            return domid.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** xc_domain_setmaxmem. */
    public void domainSetmaxmem(MemorySegment xch, int domid, long maxKib) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) domainSetmaxmem.invokeExact(c, xch, domid, maxKib);
            if (r < 0) {
                throw Native.fail("xc_domain_setmaxmem", dom(domid), c);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_set_paging_mempool_size: the memory Xen sets aside for the domain's second-level page
     * tables (HAP) or shadow tables, which must be in place before its memory is populated.
     */
    public void setPagingMempoolSize(MemorySegment xch, int domid, long bytes) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) setPagingMempoolSize.invokeExact(c, xch, domid, bytes);
            if (r < 0) {
                throw Native.fail("xc_set_paging_mempool_size", dom(domid), c);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xc_domain_populate_physmap_exact with 4 KiB extents: backs each listed frame with memory.
     *
     * @param pfns {@code count} xen_pfn_t
     */
    public void domainPopulatePhysmapExact(MemorySegment xch, int domid, long count, MemorySegment pfns) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) domainPopulatePhysmapExact.invokeExact(c, xch, domid, count, 0, 0, pfns);
            if (r < 0) {
                throw Native.fail("xc_domain_populate_physmap_exact", dom(domid), c);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }
}
