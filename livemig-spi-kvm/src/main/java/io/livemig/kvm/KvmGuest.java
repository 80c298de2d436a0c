package io.livemig.kvm;

import io.livemig.disk.RawImage;
import io.livemig.kvm.internal.VcpuStateFormat;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.DiskSink;
import io.livemig.spi.DiskSource;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.ExecutionReplayer;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A {@link MicroVmm} as livemig migrates it: the source side ({@link MigratableVm}: guest RAM,
 * KVM's dirty log, vCPU state and throttle) and the destination side ({@link MigrationTarget}:
 * the same, written instead of read, started on resume, and post-copy through userfaultfd).
 * The console has no state to move. Guest time moves as the device {@link KvmClock} (KVM's
 * clock and each vCPU's TSC: the guest's time stands still while it is paused, and neither jumps
 * back nor forward by more than the downtime). A VMM built with a disk adds its
 * {@link VirtioBlk}: the device's state as a {@link MigratableDevice}, and its image as the VM's
 * one disk, a
 * {@link DiskSource} on the source and a {@link DiskSink} on the target, which the target's
 * device then serves the guest from.
 *
 * <p><b>Trace and replay.</b> A VMM built {@linkplain MicroVmmBuilder#replayable replayable},
 * with one vCPU and no disk (no device writes guest memory behind the log) offers an
 * {@link ExecutionRecorder} ({@link KvmRecorder}); a target with one vCPU and no disk offers an
 * {@link ExecutionReplayer} ({@link KvmReplayer}) until its guest first runs.
 *
 * <p>Owns the VMM: {@link #close()} stops and releases it (userfaultfd before guest RAM).
 */
public final class KvmGuest implements MigratableVm, MigrationTarget {

    private final MicroVmm vmm;
    private final KvmDirtyTracker tracker;
    private final KvmMemory memory;
    private final KvmVcpus vcpus;
    private final VmDescriptor descriptor;
    private final List<MigratableDevice> devices;
    /** The disk image (source and sink at once), or null. */
    private final RawImage image;
    private KvmDemandPaging demandPaging;
    /** The recorder, or null when the guest does not qualify. */
    private final KvmRecorder recorder;
    /** The replayer, made on first request. */
    private KvmReplayer replayer;

    /**
     * Creates a {@code KvmGuest}.
     *
     * @param vmm the VMM to migrate from or into; owned from now on
     */
    public KvmGuest(MicroVmm vmm) {
        this.vmm = Objects.requireNonNull(vmm, "vmm");
        this.tracker = new KvmDirtyTracker(vmm.vm());
        this.memory = new KvmMemory(vmm.vm(), tracker::vmmWrote);
        this.vcpus = new KvmVcpus(vmm);
        // The disk (if any), then the clock: the engines load devices in this order, after the vCPUs.
        KvmClock clock = new KvmClock(vmm);
        this.devices = vmm.disk().<List<MigratableDevice>>map(d -> List.of(d, clock)).orElse(List.of(clock));
        this.image = vmm.disk().map(VirtioBlk::image).orElse(null);
        this.descriptor = new VmDescriptor(memory.layout(), vmm.vcpus().size(),
                devices.stream().map(MigratableDevice::id).toList(), VcpuStateFormat.FORMAT,
                image == null ? List.of() : List.of(image.descriptor()));
        boolean deterministic = vmm.vcpus().size() == 1 && vmm.disk().isEmpty();
        this.recorder = deterministic && vmm.replayable() ? new KvmRecorder(vmm) : null;
        if (vmm.state() == MicroVmm.RunState.CREATED) {
            // A target: start its vCPU threads now, paused, so that resuming it at the
            // switchover only wakes them.
            vmm.start();
        }
    }

    /** {@return the VMM} */
    public MicroVmm vmm() {
        return vmm;
    }

    @Override
    public VmDescriptor descriptor() {
        return descriptor;
    }

    @Override
    public KvmMemory memory() {
        return memory;
    }

    @Override
    public Optional<DirtyTracker> dirtyTracker() {
        return Optional.of(tracker);
    }

    @Override
    public VcpuControl vcpus() {
        return vcpus;
    }

    /** {@return the virtio block device if the VM has a disk, then the {@link KvmClock}} */
    @Override
    public List<MigratableDevice> devices() {
        return devices;
    }

    /**
     * The disk, as both sides see it: on a source, the image the guest writes (tracked block by
     * block, a {@link DiskSource}); on a target, the image the migration fills and the guest then
     * uses (a {@link DiskSink}). Owned by the VMM.
     *
     * @return the VM's one disk image, or none
     */
    @Override
    public List<RawImage> disks() {
        return image == null ? List.of() : List.of(image);
    }

    /**
     * {@return post-copy through userfaultfd (see {@link KvmDemandPaging}), for a target whose
     * guest has not run yet and that is not closed}
     */
    @Override
    public synchronized Optional<DemandPaging> demandPaging() {
        if (demandPaging == null) {
            if (vmm.everResumed() || vmm.state() == MicroVmm.RunState.CLOSED) {
                return Optional.empty();
            }
            demandPaging = new KvmDemandPaging(vmm);
        }
        return Optional.of(demandPaging);
    }

    /**
     * {@return the recorder, for a VMM built replayable with one vCPU and no disk; else empty}
     */
    @Override
    public Optional<ExecutionRecorder> executionRecorder() {
        return Optional.ofNullable(recorder);
    }

    /**
     * {@return the replayer, for a target with one vCPU and no disk whose guest has not run
     * (once handed out, the same object every time); else empty}
     */
    @Override
    public synchronized Optional<ExecutionReplayer> executionReplayer() {
        if (replayer == null) {
            if (vmm.vcpus().size() != 1 || vmm.disk().isPresent() || vmm.everResumed()
                    || vmm.state() == MicroVmm.RunState.CLOSED) {
                return Optional.empty();
            }
            replayer = new KvmReplayer(vmm, vcpus);
        }
        return Optional.of(replayer);
    }

    /** {@return false once {@link #close()} began (or the VMM was closed directly)} */
    @Override
    public boolean isOpen() {
        return vmm.state() != MicroVmm.RunState.CLOSED;
    }

    /**
     * Stops the guest and releases it, in the one order that is safe whatever the engine did
     * before (paused the vCPUs or not, disarmed demand paging or not): (1) no vCPU enters the
     * guest again and every vCPU is kicked out of KVM_RUN ({@link MicroVmm#beginClose()});
     * (2) userfaultfd is closed, which wakes a vCPU still blocked on a page that never came (the
     * kick alone ends that wait where the kernel lets a signal interrupt it, as Linux 6.18 does;
     * closing the fd ends it on any kernel), within one 50 ms poll of the fault thread; (3) the
     * VMM joins its vCPU threads and only then unmaps guest RAM. Idempotent; does not throw for
     * any state a failed migration leaves.
     */
    @Override
    public void close() {
        KvmDemandPaging paging;
        synchronized (this) {
            paging = demandPaging;
        }
        vmm.beginClose();
        if (paging != null) {
            paging.close();
        }
        vmm.close();
    }
}
