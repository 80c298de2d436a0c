package io.livemig.engine.internal.source;

import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationPhase;
import io.livemig.api.PassThroughPolicy;
import io.livemig.api.PassThroughStats;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.DiskSource;
import io.livemig.spi.FreePageHints;
import io.livemig.spi.HotPlug;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeoutException;

/**
 * The source's part of the pass-through policy ({@link PassThroughPolicy}): refuses a VM with a
 * device the policy refuses, unplugs each failover device with the guest's acknowledgement before
 * anything is sent (the guest runs on its virtual twin meanwhile), plugs it back if the migration
 * then fails with the VM still here, and reports each device's outcome and how long it was absent
 * up to the resume at the destination. {@link #view} is the VM as the migration sees it: without
 * its failover devices, whose state does not travel (the destination plugs its own).
 *
 * <p>The migration's thread only.
 */
final class FailoverDevices {

    private static final Logger LOG = LoggerFactory.getLogger(FailoverDevices.class);

    private final MigratableVm vm;
    private final PassThroughPolicy policy;
    private final TimeSource time;
    private final List<String> failover = new ArrayList<>();
    private final List<String> unplugged = new ArrayList<>();
    private final List<PassThroughStats> outcomes = new ArrayList<>();
    private long unpluggedNanos = -1;

    FailoverDevices(MigratableVm vm, PassThroughPolicy policy, TimeSource time) {
        this.vm = vm;
        this.policy = policy;
        this.time = time;
        for (MigratableDevice d : vm.devices()) {
            if (policy.actionFor(d.id()) == PassThroughPolicy.Action.FAILOVER) {
                failover.add(d.id());
            }
        }
    }

    /** {@return the VM as the migration sees it: its failover devices left out} */
    MigratableVm view() {
        return failover.isEmpty() ? vm : new WithoutDevices(vm, failover);
    }

    /**
     * Before anything is sent: refuses a VM with a device the policy refuses, and unplugs each
     * failover device.
     *
     * @throws MigrationAbortedException if a device is refused, the VM cannot hot-plug, or the guest
     *                                   did not release a device in time (the VM runs on here, the
     *                                   devices released so far plugged back)
     */
    void unplug() throws MigrationAbortedException {
        for (MigratableDevice d : vm.devices()) {
            if (policy.actionFor(d.id()) == PassThroughPolicy.Action.REFUSE) {
                throw new MigrationAbortedException("device " + d.id() + " is a pass-through device the policy "
                        + "refuses to migrate; the VM runs on here", MigrationPhase.HANDSHAKE, SourceVmState.RUNNING);
            }
        }
        if (failover.isEmpty()) {
            return;
        }
        HotPlug plug = vm.hotPlug().orElseThrow(() -> new MigrationAbortedException("the policy fails over "
                + failover + ", but this VM cannot hot-plug devices", MigrationPhase.HANDSHAKE, SourceVmState.RUNNING));
        for (String id : failover) {
            long start = time.nanoTime();
            try {
                plug.unplug(id, policy.unplugTimeout());
            } catch (TimeoutException | RuntimeException e) {
                String why = e instanceof TimeoutException ? "the guest did not release it within "
                        + policy.unplugTimeout().toMillis() + " ms" : e.getMessage();
                outcomes.add(new PassThroughStats(id, PassThroughStats.Outcome.UNPLUG_TIMED_OUT,
                        Duration.ZERO, Optional.of(why)));
                plugBack();
                throw new MigrationAbortedException("could not unplug pass-through device " + id + ": " + why
                        + "; the VM runs on here", MigrationPhase.HANDSHAKE, SourceVmState.RUNNING);
            }
            unplugged.add(id);
            LOG.info("pass-through device {} unplugged in {} ms; the guest fails over to its virtual twin", id,
                    (time.nanoTime() - start) / 1_000_000);
        }
        unpluggedNanos = time.nanoTime();
    }

    /**
     * The migration failed with the VM still here: plugs back every device unplugged. Best effort;
     * a device that cannot be plugged back is reported and logged.
     */
    void plugBack() {
        Optional<HotPlug> plug = vm.hotPlug();
        for (String id : unplugged) {
            Duration absent = Duration.ofNanos(Math.max(0, time.nanoTime() - unpluggedNanos));
            try {
                plug.orElseThrow().plug(id, policy.replugTimeout());
                outcomes.add(new PassThroughStats(id, PassThroughStats.Outcome.PLUGGED_BACK, absent, Optional.empty()));
            } catch (TimeoutException | RuntimeException e) {
                LOG.warn("could not plug pass-through device {} back into the VM that stays here: {}", id,
                        e.getMessage());
                outcomes.add(new PassThroughStats(id, PassThroughStats.Outcome.REPLUG_FAILED, absent,
                        Optional.of(String.valueOf(e.getMessage()))));
            }
        }
        unplugged.clear();
    }

    /**
     * @param resumedNanos when the destination resumed the VM, on this side's clock, or -1
     * @return each failover device's outcome on this side
     */
    List<PassThroughStats> stats(long resumedNanos) {
        List<PassThroughStats> all = new ArrayList<>(outcomes);
        for (String id : unplugged) {
            long end = resumedNanos >= 0 ? resumedNanos : time.nanoTime();
            all.add(new PassThroughStats(id, PassThroughStats.Outcome.UNPLUGGED,
                    Duration.ofNanos(Math.max(0, end - unpluggedNanos)), Optional.empty()));
        }
        return all;
    }

    /** A VM seen without some of its devices: their ids are left out of its descriptor too. */
    private static final class WithoutDevices implements MigratableVm {
        private final MigratableVm inner;
        private final List<String> left;

        WithoutDevices(MigratableVm inner, List<String> left) {
            this.inner = inner;
            this.left = List.copyOf(left);
        }

        @Override
        public VmDescriptor descriptor() {
            VmDescriptor d = inner.descriptor();
            return new VmDescriptor(d.memoryLayout(), d.vcpuCount(),
                    d.deviceIds().stream().filter(id -> !left.contains(id)).toList(), d.vcpuStateFormat(), d.disks());
        }

        @Override
        public MemorySource memory() {
            return inner.memory();
        }

        @Override
        public Optional<DirtyTracker> dirtyTracker() {
            return inner.dirtyTracker();
        }

        @Override
        public VcpuControl vcpus() {
            return inner.vcpus();
        }

        @Override
        public List<MigratableDevice> devices() {
            return inner.devices().stream().filter(d -> !left.contains(d.id())).toList();
        }

        @Override
        public List<? extends DiskSource> disks() {
            return inner.disks();
        }

        @Override
        public Optional<FreePageHints> freePageHints() {
            return inner.freePageHints();
        }

        @Override
        public Optional<HotPlug> hotPlug() {
            return inner.hotPlug();
        }

        @Override
        public boolean isOpen() {
            return inner.isOpen();
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
