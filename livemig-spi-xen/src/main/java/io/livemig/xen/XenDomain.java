package io.livemig.xen;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.Disk;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;
import io.livemig.xen.internal.HvmState;
import io.livemig.xen.internal.XenAbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One Xen HVM domain as livemig migrates it: the source side ({@link MigratableVm}: foreign
 * mappings of its memory, log-dirty tracking, pause and HVM context) or the destination side
 * ({@link MigrationTarget}: a domain this handle created and populated, written through foreign
 * mappings, its HVM context loaded, then unpaused). Made by {@link XenProvider}.
 *
 * <p><b>What closing does.</b> A Xen domain lives in the hypervisor, not in this process.
 * Closing a source handle releases livemig's hold (log-dirty mode, mappings, library handles)
 * and leaves the domain as the migration left it: running after a failed migration, paused after
 * a handover, for the control plane to destroy ({@code xl destroy}), as {@code xl migrate}
 * does once the destination runs. Closing a target that never resumed destroys the domain
 * ({@code xc_domain_destroy}), so that no half-migrated domain runs; closing one that resumed
 * releases livemig's handles and leaves the domain running under Xen, where the toolstack
 * manages it from then on. This differs from the in-process providers, whose VM ends with their
 * handle, because a Xen domain does not.
 *
 * <p><b>No post-copy.</b> A target offers no {@link #demandPaging() demand paging}: Xen 4.17
 * migrates by pre-copy only, and fetching frames on demand would take the hypervisor's memory
 * paging ring (vm_event), a design of its own. Post-copy and hybrid are refused in the handshake.
 *
 * <p><b>No disks.</b> This provider does not expose a domain's storage: {@link #disks()} is empty,
 * and a migration of a VM with disks into a Xen target is refused in the handshake.
 *
 * <p>Thread-safe: accessors return the same objects every time; {@link #close()} is idempotent.
 */
public final class XenDomain implements MigratableVm, MigrationTarget {

    private static final Logger LOG = LoggerFactory.getLogger(XenDomain.class);

    private final XenHost host;
    private final int domid;
    private final boolean target;
    private final VmDescriptor descriptor;
    private final XenMemory memory;
    private final XenDirtyTracker tracker;
    private final XenVcpus vcpus;
    private boolean closed;

    private XenDomain(XenHost host, int domid, boolean target, XenMemory memory, int vcpuCount) {
        this.host = host;
        this.domid = domid;
        this.target = target;
        this.memory = memory;
        this.vcpus = new XenVcpus(host, domid, vcpuCount, target);
        this.tracker = target ? null : new XenDirtyTracker(host, domid, memory.layout(), vcpus::isPaused);
        this.descriptor = new VmDescriptor(memory.layout(), vcpuCount, List.of(), HvmState.FORMAT);
    }

    /**
     * Opens a running HVM domain as a migration source.
     *
     * @throws IllegalArgumentException if the domain does not exist, is dom0, is dying or shut
     *                                  down, or is not an HVM guest
     * @throws XenException             if a library call fails
     */
    static XenDomain openSource(XenLibraries libraries, int domid) {
        if (domid == 0) {
            throw new IllegalArgumentException("domain 0 (dom0) cannot be migrated");
        }
        XenHost host = new XenHost(libraries);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(XenAbi.DOMAININFO_BYTES, 8);
            if (!host.ctrl().domainGetinfo(host.xch(), domid, info)) {
                throw new IllegalArgumentException("there is no Xen domain " + domid);
            }
            int flags = info.get(JAVA_INT, XenAbi.DOMAININFO_FLAGS);
            if ((flags & (XenAbi.DOMINF_DYING | XenAbi.DOMINF_SHUTDOWN)) != 0) {
                throw new IllegalArgumentException("Xen domain " + domid + " is dying or shut down");
            }
            if ((flags & XenAbi.DOMINF_HVM_GUEST) == 0) {
                throw new IllegalArgumentException("Xen domain " + domid
                        + " is a PV guest; the xen: provider migrates HVM and PVH domains");
            }
            if ((flags & XenAbi.DOMINF_PAUSED) != 0) {
                LOG.warn("Xen domain {} is paused by someone else; it stays paused after the migration resumes it", domid);
            }
            int vcpuCount = info.get(JAVA_INT, XenAbi.DOMAININFO_MAX_VCPU_ID) + 1;
            if (vcpuCount < 1) {
                throw new IllegalArgumentException("Xen domain " + domid + " has no vCPUs");
            }
            long maxGpfn = host.ctrl().domainMaximumGpfn(host.xch(), domid, arena.allocate(JAVA_LONG));
            XenMemory memory = XenMemory.probe(host, domid, maxGpfn);
            LOG.debug("opened Xen domain {}: {} vCPUs, {} MiB of RAM in {} regions", domid, vcpuCount,
                    memory.layout().memoryBytes() >> 20, memory.layout().regions().size());
            return new XenDomain(host, domid, false, memory, vcpuCount);
        } catch (RuntimeException e) {
            host.close();
            throw e;
        }
    }

    /**
     * Creates a paused HVM domain with the descriptor's vCPUs and memory layout, as Xen's
     * toolstack does below libxl: {@code xc_domain_create}, {@code xc_domain_setmaxmem},
     * {@code xc_set_paging_mempool_size} (sized as libxl sizes it), then
     * {@code xc_domain_populate_physmap_exact} for every frame of every region, in batches.
     *
     * @throws XenException if a library call fails (the half-made domain is destroyed)
     */
    static XenDomain createTarget(XenLibraries libraries, VmDescriptor descriptor) {
        MemoryLayout layout = descriptor.memoryLayout();
        XenHost host = new XenHost(libraries);
        int domid = -1;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment config = arena.allocate(XenAbi.CREATEDOMAIN_BYTES, 8);
            config.set(JAVA_INT, XenAbi.CREATEDOMAIN_FLAGS, XenAbi.CDF_HVM | XenAbi.CDF_HAP);
            config.set(JAVA_INT, XenAbi.CREATEDOMAIN_MAX_VCPUS, descriptor.vcpuCount());
            // libxl's defaults: 1023 event channels, the hypervisor's grant and maptrack limits
            // (-1), grant table version 2, and every emulated platform device but vPCI.
            config.set(JAVA_INT, XenAbi.CREATEDOMAIN_MAX_EVTCHN_PORT, 1023);
            config.set(JAVA_INT, XenAbi.CREATEDOMAIN_MAX_GRANT_FRAMES, -1);
            config.set(JAVA_INT, XenAbi.CREATEDOMAIN_MAX_MAPTRACK_FRAMES, -1);
            config.set(JAVA_INT, XenAbi.CREATEDOMAIN_GRANT_OPTS, 2);
            config.set(JAVA_INT, XenAbi.CREATEDOMAIN_EMULATION_FLAGS, XenAbi.X86_EMU_ALL & ~XenAbi.X86_EMU_VPCI);
            MemorySegment domidCell = arena.allocate(JAVA_INT);
            domid = host.ctrl().domainCreate(host.xch(), domidCell, config);
            host.ctrl().domainSetmaxmem(host.xch(), domid, layout.memoryBytes() / 1024);
            host.ctrl().setPagingMempoolSize(host.xch(), domid, pagingMempoolBytes(layout.memoryBytes(),
                    descriptor.vcpuCount()));
            MemorySegment pfns = arena.allocate(JAVA_LONG, XenMemory.CHUNK_PAGES);
            for (MemoryRegion r : layout.regions()) {
                for (long first = r.firstPage(); first < r.endPage(); first += XenMemory.CHUNK_PAGES) {
                    int n = (int) Math.min(XenMemory.CHUNK_PAGES, r.endPage() - first);
                    for (int i = 0; i < n; i++) {
                        pfns.setAtIndex(JAVA_LONG, i, first + i);
                    }
                    host.ctrl().domainPopulatePhysmapExact(host.xch(), domid, n, pfns);
                }
            }
            XenMemory memory = XenMemory.mapPopulated(host, domid, layout);
            LOG.debug("created Xen domain {} to receive a migration: {} vCPUs, {} MiB", domid,
                    descriptor.vcpuCount(), layout.memoryBytes() >> 20);
            return new XenDomain(host, domid, true, memory, descriptor.vcpuCount());
        } catch (RuntimeException e) {
            if (domid >= 0) {
                try {
                    host.ctrl().domainDestroy(host.xch(), domid);
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            host.close();
            throw e;
        }
    }

    /**
     * libxl's rule for the paging pool (libxl_get_required_shadow_memory): 4 KiB times 256 per
     * vCPU plus 2 per MiB of guest memory.
     */
    static long pagingMempoolBytes(long memoryBytes, int vcpuCount) {
        return 4096L * (256L * vcpuCount + 2 * (memoryBytes >> 20));
    }

    /** {@return the domain's id} */
    public int domid() {
        return domid;
    }

    @Override
    public VmDescriptor descriptor() {
        return descriptor;
    }

    @Override
    public XenMemory memory() {
        return memory;
    }

    /** {@return no disk: this provider does not expose the domain's storage} */
    @Override
    public List<Disk> disks() {
        return List.of();
    }

    /** {@return Xen's log-dirty mode on a source; empty on a target} */
    @Override
    public Optional<DirtyTracker> dirtyTracker() {
        return Optional.ofNullable(tracker);
    }

    @Override
    public VcpuControl vcpus() {
        return vcpus;
    }

    /** {@return none: device state (QEMU's, the PV backends') is the toolstack's to move} */
    @Override
    public List<MigratableDevice> devices() {
        return List.of();
    }

    @Override
    public synchronized boolean isOpen() {
        return !closed;
    }

    /** Releases livemig's hold on the domain; see the class comment for what happens to the domain. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        RuntimeException failure = null;
        if (tracker != null) {
            try {
                tracker.close();
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        try {
            memory.close();
        } catch (RuntimeException e) {
            failure = add(failure, e);
        }
        if (target && !vcpus.everResumed()) {
            try {
                host.ctrl().domainDestroy(host.xch(), domid);
            } catch (RuntimeException e) {
                failure = add(failure, e);
            }
        }
        host.close();
        if (failure != null) {
            LOG.warn("releasing Xen domain {} was not clean: {}", domid, failure.getMessage());
        }
    }

    private static RuntimeException add(RuntimeException first, RuntimeException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }
}
