package io.livemig.kit;

import io.livemig.kit.internal.DiskWorkloadDevice;
import io.livemig.kit.internal.DiskWriteSequence;
import io.livemig.kit.internal.WorkloadDevice;
import io.livemig.kit.internal.WriteSequence;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.FreePageHints;
import io.livemig.spi.HotPlug;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What the two kit VMs have in common: each is a migration source
 * ({@link io.livemig.spi.MigratableVm}) and a migration target
 * ({@link io.livemig.spi.MigrationTarget}) assembled from the same kinds of parts (a dirty
 * tracker, vCPU control, the workload device, demand paging, free-page hints from the workload's
 * working set, {@link InMemoryDisk}s with the disk workload's device), and this class implements
 * those interfaces' methods for both by handing the parts out. {@link InMemoryVm} and {@link SimulatedVm} differ in their memory (which each
 * declares, as a type that is both a source and a sink) and in how their guest runs.
 *
 * <p>Their builders share {@link Builder}: the RAM, the workload, the prefill, the free-page
 * hints, the disks and the disk workload are set alike.
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
     * @param disks         its disks, in the descriptor's order
     * @param diskWorkload  the disk workload's device, null for a VM without disks
     * @param stateful      its stateful devices, in the descriptor's order (after the kit's own)
     */
    record Parts(VmDescriptor descriptor, DirtyTracker tracker, VcpuControl vcpus, WorkloadDevice workload,
                 DemandPaging paging, boolean freePageHints, List<InMemoryDisk> disks,
                 DiskWorkloadDevice diskWorkload, List<StatefulDevice> stateful) {
        Parts {
            disks = List.copyOf(disks);
            stateful = List.copyOf(stateful);
            if ((diskWorkload == null) != disks.isEmpty()) {
                throw new IllegalArgumentException("a disk workload device exactly when there are disks");
            }
        }

        /** Parts without stateful devices. */
        Parts(VmDescriptor descriptor, DirtyTracker tracker, VcpuControl vcpus, WorkloadDevice workload,
              DemandPaging paging, boolean freePageHints, List<InMemoryDisk> disks, DiskWorkloadDevice diskWorkload) {
            this(descriptor, tracker, vcpus, workload, paging, freePageHints, disks, diskWorkload, List.of());
        }
    }

    /**
     * {@return a kit VM's device ids: the workload, and the disk workload if it has disks}
     *
     * @param withDisks whether the VM has disks
     */
    static List<String> deviceIds(boolean withDisks) {
        return withDisks ? List.of(WorkloadDevice.ID, DiskWorkloadDevice.ID) : List.of(WorkloadDevice.ID);
    }

    /**
     * {@return a kit VM's device ids: the kit's own, then each stateful device's}
     *
     * @param withDisks whether the VM has disks
     * @param stateful  its stateful devices' specs, in order
     */
    static List<String> deviceIds(boolean withDisks, Collection<StatefulDeviceSpec> stateful) {
        List<String> ids = new ArrayList<>(deviceIds(withDisks));
        for (StatefulDeviceSpec spec : stateful) {
            ids.add(spec.id());
        }
        return ids;
    }

    /**
     * The stateful devices a source announced, after the kit's own devices: each id spells its
     * device's shape ({@link StatefulDeviceSpec#parseId}).
     *
     * @param descriptor a descriptor a source announced
     * @return the announced devices' shapes, in order
     * @throws IllegalArgumentException unless its devices are a kit VM's, then stateful devices
     */
    static List<StatefulDeviceSpec> statefulDeviceSpecs(VmDescriptor descriptor) {
        List<String> own = deviceIds(!descriptor.disks().isEmpty());
        List<String> ids = descriptor.deviceIds();
        if (ids.size() < own.size() || !ids.subList(0, own.size()).equals(own)) {
            throw new IllegalArgumentException("kit targets have the devices " + own
                    + " then stateful devices, the source announced " + ids);
        }
        List<StatefulDeviceSpec> specs = new ArrayList<>();
        for (String id : ids.subList(own.size(), ids.size())) {
            specs.add(StatefulDeviceSpec.parseId(id).orElseThrow(() -> new IllegalArgumentException(
                    "the source announced a device '" + id + "', which is neither the kit's nor a stateful device's "
                            + "(name@stateBytes/chunkBytes/states)")));
        }
        return specs;
    }

    /** {@return the parts, made in the subclass's constructor} */
    abstract Parts parts();

    /** Starts (resumes) the guest. Same as {@code vcpus().resume()}. */
    public void start() {
        parts().vcpus().resume();
    }

    /** {@return the VM's shape: its memory layout, one or more vCPUs, the workload device} */
    public VmDescriptor descriptor() {
        return parts().descriptor();
    }

    /** {@return the write barrier's dirty tracking} */
    public Optional<DirtyTracker> dirtyTracker() {
        return Optional.of(parts().tracker());
    }

    /** {@return the vCPUs: pause, resume, state, throttle} */
    public VcpuControl vcpus() {
        return parts().vcpus();
    }

    /**
     * {@return the workload's configuration, device {@value InMemoryVm#WORKLOAD_DEVICE_ID}; for a VM
     * with disks, then the disk workload's, device {@value InMemoryVm#DISK_WORKLOAD_DEVICE_ID}; then
     * the {@link #statefulDevices() stateful devices}}
     */
    public List<MigratableDevice> devices() {
        Parts parts = parts();
        List<MigratableDevice> devices = new ArrayList<>();
        devices.add(parts.workload());
        if (parts.diskWorkload() != null) {
            devices.add(parts.diskWorkload());
        }
        devices.addAll(parts.stateful());
        return List.copyOf(devices);
    }

    /** {@return the stateful devices ({@link Builder#statefulDevice}), in the descriptor's order} */
    public List<StatefulDevice> statefulDevices() {
        return parts().stateful();
    }

    /**
     * {@return the stateful device with that name}
     *
     * @param name a name given in its {@link StatefulDeviceSpec}
     * @throws IllegalArgumentException if the VM has no such device
     */
    public StatefulDevice statefulDevice(String name) {
        for (StatefulDevice device : parts().stateful()) {
            if (device.spec().name().equals(name)) {
                return device;
            }
        }
        throw new IllegalArgumentException("no stateful device '" + name + "'; the VM has " + parts().stateful());
    }

    /** Closes the stateful devices (stops their threads). */
    void closeStatefulDevices() {
        for (StatefulDevice device : parts().stateful()) {
            device.close();
        }
    }

    /**
     * The disks, as both {@code MigratableVm.disks()} and {@code MigrationTarget.disks()} want them:
     * each {@link InMemoryDisk} is a {@link io.livemig.spi.Disk}, both a source and a sink.
     *
     * @return the disks in the order of {@link VmDescriptor#disks()}; empty for a VM without disks
     */
    public List<InMemoryDisk> disks() {
        return parts().disks();
    }

    /** {@return the disks in the order of {@link VmDescriptor#disks()}, as {@link #disks()}} */
    public List<InMemoryDisk> inMemoryDisks() {
        return parts().disks();
    }

    /**
     * {@return the disk with that id}
     *
     * @param id a disk id
     * @throws IllegalArgumentException if the VM has no such disk
     */
    public InMemoryDisk disk(String id) {
        for (InMemoryDisk disk : parts().disks()) {
            if (disk.descriptor().id().equals(id)) {
                return disk;
            }
        }
        throw new IllegalArgumentException("no disk '" + id + "'; the VM has " + parts().descriptor().disks());
    }

    /** {@return the disk workload in force (idle for a VM without disks)} */
    public Workload diskWorkload() {
        DiskWorkloadDevice device = parts().diskWorkload();
        return device == null ? Workload.idle() : device.workload();
    }

    /**
     * Takes the disks for this VM.
     *
     * @param disks    the disks
     * @param dueFirst what to do before a disk is observed (a simulated VM applies the writes due), or null
     * @throws IllegalStateException if another VM has one of them; none is taken then
     */
    void attachDisks(List<InMemoryDisk> disks, Runnable dueFirst) {
        int attached = 0;
        try {
            for (; attached < disks.size(); attached++) {
                disks.get(attached).attach(this, dueFirst);
            }
        } catch (IllegalStateException e) {
            for (int i = 0; i < attached; i++) {
                disks.get(i).detach(this);
            }
            throw e;
        }
    }

    /** Releases the disks, which other VMs may then take. */
    void detachDisks() {
        for (InMemoryDisk disk : parts().disks()) {
            disk.detach(this);
        }
    }

    /**
     * {@return one write sequence per disk, its stream the disk's index}
     *
     * @param disks a VM's disks
     */
    static List<DiskWriteSequence> diskSequences(List<InMemoryDisk> disks, Workload workload) {
        List<DiskWriteSequence> sequences = new ArrayList<>();
        for (int i = 0; i < disks.size(); i++) {
            sequences.add(new DiskWriteSequence(disks.get(i).descriptor(), workload, i));
        }
        return sequences;
    }

    /**
     * {@return their descriptors, in order}
     *
     * @param disks a VM's disks
     */
    static List<DiskDescriptor> diskDescriptors(List<InMemoryDisk> disks) {
        List<DiskDescriptor> descriptors = new ArrayList<>();
        for (InMemoryDisk disk : disks) {
            descriptors.add(disk.descriptor());
        }
        return descriptors;
    }

    /** {@return post-copy support: a guest write to a missing page blocks the vCPU until the page is installed} */
    public Optional<DemandPaging> demandPaging() {
        return Optional.of(parts().paging());
    }

    /** The hot-plug the builder gave, or null. Set once, by the concrete VM's constructor. */
    private volatile HotPlug hotPlug;

    /** Sets the VM's hot-plug capability (the builder's), or null for none. */
    void useHotPlug(HotPlug plug) {
        this.hotPlug = plug;
    }

    /** {@return the hot-plug given to the builder ({@code hotPlug(...)}), if one was} */
    public Optional<HotPlug> hotPlug() {
        return Optional.ofNullable(hotPlug);
    }

    /**
     * {@return free-page hints, if the VM was built with {@code freePageHints(true)}: the pages
     * outside the workload's working set (at least its first page), which the guest never
     * touches}
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
        /** The disks by id, in the order added: new ones (empty) or given ones. */
        final Map<String, InMemoryDisk> disks = new LinkedHashMap<>();
        Workload diskWorkload = Workload.idle();
        /** The stateful devices by name, in the order added. */
        final Map<String, StatefulDeviceSpec> statefulDevices = new LinkedHashMap<>();
        /** The VM's hot-plug capability, or null. */
        HotPlug hotPlug;

        /**
         * Gives the VM (or the target built) a hot-plug capability, e.g. a {@link FailoverPair}'s.
         * Default: none.
         *
         * @param plug the capability, or null for none
         * @return this builder
         */
        public B hotPlug(HotPlug plug) {
            this.hotPlug = plug;
            return self();
        }

        /** {@return this builder as its concrete type} */
        abstract B self();

        /**
         * Adds a {@link StatefulDevice}: a device with a large state that migrates through VFIO
         * migration v2's states and data stream, after the kit's own devices. A target made by
         * {@code buildTarget} gets the matching device for each one the source announced (same
         * id and shape, all zero, in {@code RUNNING}); its activity arrives with the stream.
         * A {@link SimulatedVm} takes devices without DMA only.
         *
         * @param spec what the device is
         * @return this
         * @throws IllegalArgumentException if the VM already has a device with its name
         */
        public B statefulDevice(StatefulDeviceSpec spec) {
            Objects.requireNonNull(spec, "spec");
            if (statefulDevices.containsKey(spec.name())) {
                throw new IllegalArgumentException("the VM already has a stateful device '" + spec.name() + "'");
            }
            statefulDevices.put(spec.name(), spec);
            return self();
        }

        /**
         * Sets the RAM size. Default 64 MiB.
         *
         * @param bytes RAM size in bytes, a positive multiple of the page size
         * @return this builder
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
         * Sets the memory layout, which overrides the RAM size and the page size. Default: one region of the RAM size.
         *
         * @param layout a layout (with holes, say), overriding the size and the page size
         * @return this builder
         */
        public B layout(MemoryLayout layout) {
            this.layout = Objects.requireNonNull(layout, "layout");
            return self();
        }

        /**
         * Sets what the guest does. Default idle.
         *
         * @param workload what the guest does (a simulated guest writes whole pages whatever its
         *                 {@link Workload#bytesPerWrite()})
         * @return this builder
         */
        public B workload(Workload workload) {
            this.workload = Objects.requireNonNull(workload, "workload");
            return self();
        }

        /**
         * Sets the share of RAM pages that have non-zero content at creation. Default 0.
         *
         * @param fraction share of RAM pages with non-zero content at creation (the rest stay
         *                 zero), 0 to 1; which pages is a function of the workload's seed
         * @return this builder
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
         * Sets whether the guest gives free-page hints. Default false.
         *
         * @param offer whether the guest reports the pages outside its working set as free
         *              (self-ballooning); their content, prefilled or not, then never migrates
         * @return this builder
         */
        public B freePageHints(boolean offer) {
            this.freePageHints = offer;
            return self();
        }

        /**
         * Adds a new, empty disk (every block zero).
         *
         * @param id             its id, unique in the VM
         * @param sizeBytes      its size, a positive multiple of the block size
         * @param blockSizeBytes its block size, a power of two from 512 to 1 MiB
         * @return this
         * @throws IllegalArgumentException for a bad shape or an id the VM already has
         */
        public B disk(String id, long sizeBytes, int blockSizeBytes) {
            return disk(new InMemoryDisk(id, sizeBytes, blockSizeBytes));
        }

        /**
         * Adds an existing disk: a source's disk kept from an earlier VM, or for a target a stale
         * replica ({@link InMemoryDisk#copy()}) that a migration then brings up to date. The disk
         * belongs to the VM built until that VM is closed.
         *
         * @param disk the disk
         * @return this
         * @throws IllegalArgumentException if the VM already has a disk with its id, or has
         *                                  {@value VmDescriptor#MAX_DISKS} disks
         */
        public B disk(InMemoryDisk disk) {
            String id = disk.descriptor().id();
            if (disks.containsKey(id)) {
                throw new IllegalArgumentException("the VM already has a disk '" + id + "'");
            }
            if (disks.size() == VmDescriptor.MAX_DISKS) {
                throw new IllegalArgumentException("at most " + VmDescriptor.MAX_DISKS + " disks");
            }
            disks.put(id, disk);
            return self();
        }

        /**
         * What the guest does to each of its disks while it runs: whole-block writes (the
         * workload's {@link Workload#bytesPerWrite()} is ignored) to blocks its pattern chooses in
         * its working set (from the disk's first block), each disk at
         * {@link Workload#writeBytesPerSecond()} scaled down by the vCPU throttle. Every block
         * written says what it is, little-endian: the block number in bytes 0-7, the write's
         * serial on that disk (1, 2, ... across migrations) in bytes 8-15, the seed in 16-23, then
         * pseudo-random words of that block and serial. Pausing the VM stops these writes too.
         * Default idle. It migrates with the VM, as the device
         * {@value InMemoryVm#DISK_WORKLOAD_DEVICE_ID}.
         *
         * @param workload the disk workload
         * @return this
         */
        public B diskWorkload(Workload workload) {
            this.diskWorkload = Objects.requireNonNull(workload, "workload");
            return self();
        }

        /**
         * A target's disks: for each disk the source announced, the one given to
         * {@link #disk(InMemoryDisk)} with its id (a replica), else a new empty one.
         *
         * @param announced the source's disks
         * @return the disks in the announced order
         * @throws IllegalArgumentException if a given disk's shape differs from the announced one,
         *                                  or a given disk is not announced at all
         */
        List<InMemoryDisk> targetDisks(List<DiskDescriptor> announced) {
            Map<String, InMemoryDisk> given = new LinkedHashMap<>(disks);
            List<InMemoryDisk> result = new ArrayList<>();
            for (DiskDescriptor d : announced) {
                InMemoryDisk replica = given.remove(d.id());
                if (replica != null && !replica.descriptor().equals(d)) {
                    throw new IllegalArgumentException("the replica " + replica.descriptor()
                            + " does not have the announced shape " + d);
                }
                result.add(replica != null ? replica : new InMemoryDisk(d));
            }
            if (!given.isEmpty()) {
                throw new IllegalArgumentException("the source announced no disk " + given.keySet()
                        + "; it has " + announced);
            }
            return result;
        }

        /** {@return the disks set, in order} */
        List<InMemoryDisk> sourceDisks() {
            return List.copyOf(disks.values());
        }

        /** {@return the layout set, or a contiguous one of the size and page size set} */
        MemoryLayout resolvedLayout() {
            return layout != null ? layout : MemoryLayout.contiguous(pageSizeBytes, memoryBytes);
        }
    }
}
