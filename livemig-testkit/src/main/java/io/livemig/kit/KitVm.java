package io.livemig.kit;

import io.livemig.kit.internal.WorkloadDevice;
import io.livemig.kit.internal.WriteSequence;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.FreePageHints;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What the two kit VMs have in common: each is a migration source
 * ({@link io.livemig.spi.MigratableVm}) and a migration target
 * ({@link io.livemig.spi.MigrationTarget}) assembled from the same kinds of parts (a dirty
 * tracker, vCPU control, the workload device, demand paging, free-page hints from the workload's
 * working set), and this class implements those interfaces' methods for both by handing the
 * parts out. {@link InMemoryVm} and {@link SimulatedVm} differ in their memory (which each
 * declares, as a type that is both a source and a sink) and in how their guest runs.
 *
 * <p>Their builders share {@link Builder}: the RAM, the workload, the prefill and the free-page
 * hints are set alike.
 *
 * <p>Thread-safe if the parts are.
 */
abstract sealed class KitVm permits InMemoryVm, SimulatedVm {

    /**
     * A kit VM's parts.
     *
     * @param descriptor    the VM's shape
     * @param tracker       its dirty tracker
     * @param vcpus         its vCPU control
     * @param workload      its one device
     * @param paging        its demand paging
     * @param freePageHints whether the guest reports the pages outside its working set as free
     */
    record Parts(VmDescriptor descriptor, DirtyTracker tracker, VcpuControl vcpus, WorkloadDevice workload,
                 DemandPaging paging, boolean freePageHints) {
    }

    /** @return the parts, made in the subclass's constructor */
    abstract Parts parts();

    /** Starts (resumes) the guest. Same as {@code vcpus().resume()}. */
    public void start() {
        parts().vcpus().resume();
    }

    /** @return the VM's shape: its memory layout, one or more vCPUs, the workload device */
    public VmDescriptor descriptor() {
        return parts().descriptor();
    }

    /** @return the write barrier's dirty tracking */
    public Optional<DirtyTracker> dirtyTracker() {
        return Optional.of(parts().tracker());
    }

    /** @return the vCPUs: pause, resume, state, throttle */
    public VcpuControl vcpus() {
        return parts().vcpus();
    }

    /** @return the one device, {@value InMemoryVm#WORKLOAD_DEVICE_ID}: the workload's configuration */
    public List<MigratableDevice> devices() {
        return List.of(parts().workload());
    }

    /** @return post-copy support: a guest write to a missing page blocks the vCPU until the page is installed */
    public Optional<DemandPaging> demandPaging() {
        return Optional.of(parts().paging());
    }

    /**
     * @return free-page hints, if the VM was built with {@code freePageHints(true)}: the pages
     *         outside the workload's working set (at least its first page), which the guest never
     *         touches
     */
    public Optional<FreePageHints> freePageHints() {
        Parts parts = parts();
        return parts.freePageHints()
                ? Optional.of(() -> WriteSequence.pagesOutsideWorkingSet(parts.descriptor().memoryLayout(),
                        parts.workload().workload()))
                : Optional.empty();
    }

    /**
     * What the builders of both kit VMs set alike: the RAM (a size, or a layout), the workload,
     * the prefill share and whether the guest gives free-page hints. Setters validate at once.
     * Defaults: 64 MiB of 4 KiB pages, idle, no prefill, no hints. Not thread-safe.
     *
     * @param <B> the concrete builder, which every setter returns
     */
    abstract static sealed class Builder<B extends Builder<B>> permits InMemoryVm.Builder, SimulatedVm.Builder {
        long memoryBytes = 64L << 20;
        int pageSizeBytes = 4096;
        MemoryLayout layout;
        Workload workload = Workload.idle();
        double prefillFraction;
        boolean freePageHints;

        /** @return this builder as its concrete type */
        abstract B self();

        /**
         * @param bytes RAM size in bytes, a positive multiple of the page size
         * @return this
         * @throws IllegalArgumentException if not positive
         */
        public B memoryBytes(long bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("memoryBytes must be positive, was " + bytes);
            }
            this.memoryBytes = bytes;
            return self();
        }

        /**
         * @param layout a layout (with holes, say), overriding the size and the page size
         * @return this
         */
        public B layout(MemoryLayout layout) {
            this.layout = Objects.requireNonNull(layout, "layout");
            return self();
        }

        /**
         * @param workload what the guest does (a simulated guest writes whole pages whatever its
         *                 {@link Workload#bytesPerWrite()})
         * @return this
         */
        public B workload(Workload workload) {
            this.workload = Objects.requireNonNull(workload, "workload");
            return self();
        }

        /**
         * @param fraction share of RAM pages with non-zero content at creation (the rest stay
         *                 zero), 0 to 1; which pages is a function of the workload's seed
         * @return this
         * @throws IllegalArgumentException if not in [0, 1]
         */
        public B prefill(double fraction) {
            if (!(fraction >= 0 && fraction <= 1)) {
                throw new IllegalArgumentException("prefill must be in [0, 1], was " + fraction);
            }
            this.prefillFraction = fraction;
            return self();
        }

        /**
         * @param offer whether the guest reports the pages outside its working set as free
         *              (self-ballooning); their content, prefilled or not, then never migrates
         * @return this
         */
        public B freePageHints(boolean offer) {
            this.freePageHints = offer;
            return self();
        }

        /** @return the layout set, or a contiguous one of the size and page size set */
        MemoryLayout resolvedLayout() {
            return layout != null ? layout : MemoryLayout.contiguous(pageSizeBytes, memoryBytes);
        }
    }
}
