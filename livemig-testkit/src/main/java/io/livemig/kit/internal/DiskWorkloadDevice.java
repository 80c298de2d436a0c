package io.livemig.kit.internal;

import io.livemig.kit.Workload;
import io.livemig.spi.MigratableDevice;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * A kit guest's disk workload as a device, so that a migration target writes its disks as the
 * source did and goes on with the same sequence. A kit VM with disks has it, after the
 * {@link WorkloadDevice}; a VM without disks does not.
 *
 * <p>State, big-endian: the {@link Workload} as the workload device writes it (32 bytes), the
 * number of disks (4 bytes), then per disk, in the VM's order, its {@link DiskWriteSequence}'s
 * generator, cursor, writes done (8 bytes each) and credit (a double): 36 + 32 per disk bytes.
 *
 * <p>Thread-safe: every method holds the lock the VM gives, under which it also runs its disk
 * writes (a simulated VM's own lock), or the VM is paused, which orders the calls with its disk
 * writer's slices.
 */
public final class DiskWorkloadDevice implements MigratableDevice {

    /** The device id, the same for every kit VM with disks. */
    public static final String ID = "disk-workload";

    private static final int PER_DISK_BYTES = 32;

    private final List<DiskWriteSequence> sequences;
    private final Object lock;
    private Workload workload;

    /**
     * @param workload  the initial workload
     * @param sequences one per disk, in the VM's order; configured by {@link #loadState}
     * @param lock      the lock guarding the sequences
     */
    public DiskWorkloadDevice(Workload workload, List<DiskWriteSequence> sequences, Object lock) {
        this.workload = workload;
        this.sequences = List.copyOf(sequences);
        this.lock = lock;
    }

    /** @return the disk workload in force */
    public Workload workload() {
        synchronized (lock) {
            return workload;
        }
    }

    @Override
    public String id() {
        return ID;
    }

    private int stateBytes() {
        return WorkloadDevice.WORKLOAD_BYTES + 4 + PER_DISK_BYTES * sequences.size();
    }

    @Override
    public byte[] saveState() {
        synchronized (lock) {
            ByteBuffer b = ByteBuffer.allocate(stateBytes());
            WorkloadDevice.putWorkload(b, workload);
            b.putInt(sequences.size());
            for (DiskWriteSequence s : sequences) {
                b.putLong(s.generatorState()).putLong(s.cursor()).putLong(s.writesDone()).putDouble(s.credit());
            }
            return b.array();
        }
    }

    /** {@inheritDoc} Checks every field before it applies any. */
    @Override
    public void loadState(byte[] state) {
        if (state.length != stateBytes()) {
            throw new IllegalArgumentException("disk workload state must be " + stateBytes() + " bytes for "
                    + sequences.size() + " disks, was " + state.length);
        }
        ByteBuffer b = ByteBuffer.wrap(state);
        Workload w = WorkloadDevice.getWorkload(b);
        int disks = b.getInt();
        if (disks != sequences.size()) {
            throw new IllegalArgumentException("disk workload state for " + disks + " disks, this VM has "
                    + sequences.size());
        }
        long[] generator = new long[disks];
        long[] cursor = new long[disks];
        long[] writes = new long[disks];
        double[] credit = new double[disks];
        for (int i = 0; i < disks; i++) {
            generator[i] = b.getLong();
            cursor[i] = b.getLong();
            writes[i] = b.getLong();
            credit[i] = b.getDouble();
            if (generator[i] == 0 || cursor[i] < 0 || writes[i] < 0 || !(credit[i] >= 0 && credit[i] < 2)) {
                throw new IllegalArgumentException("malformed disk write sequence state for disk " + i);
            }
        }
        synchronized (lock) {
            workload = w;
            for (int i = 0; i < disks; i++) {
                DiskWriteSequence s = sequences.get(i);
                s.configure(w);
                s.restore(generator[i], cursor[i], writes[i], credit[i]);
            }
        }
    }
}
