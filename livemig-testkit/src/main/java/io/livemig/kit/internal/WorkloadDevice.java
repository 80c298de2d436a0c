package io.livemig.kit.internal;

import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MigratableDevice;

import java.nio.ByteBuffer;
import java.util.OptionalDouble;
import java.util.function.Consumer;

/**
 * A kit guest's workload as a device, so that a migration target runs the same guest: its state
 * is the {@link Workload} (pattern, bytes per write, working set, rate, seed: 32 bytes), followed
 * on simulated VMs by their prefill fraction (8 more bytes, carried but not applied: a target's
 * content arrives with the migration).
 *
 * <p>Thread-safe: the workload is a volatile field; {@code onLoad} runs on the loading thread.
 */
public final class WorkloadDevice implements MigratableDevice {

    /** The device id, the same for every kit VM. */
    public static final String ID = "workload";

    /** Bytes of a workload in the state: {@link #putWorkload}. */
    static final int WORKLOAD_BYTES = 32;

    private final OptionalDouble prefillFraction;
    private final Consumer<Workload> onLoad;
    private volatile Workload workload;

    /**
     * @param workload        the initial workload
     * @param prefillFraction carried in the state if present (simulated VMs), absent otherwise
     * @param onLoad          applies a workload received with a migration
     */
    public WorkloadDevice(Workload workload, OptionalDouble prefillFraction, Consumer<Workload> onLoad) {
        this.workload = workload;
        this.prefillFraction = prefillFraction;
        this.onLoad = onLoad;
    }

    /** @return the workload in force */
    public Workload workload() {
        return workload;
    }

    @Override
    public String id() {
        return ID;
    }

    private int stateBytes() {
        return prefillFraction.isPresent() ? WORKLOAD_BYTES + 8 : WORKLOAD_BYTES;
    }

    @Override
    public byte[] saveState() {
        ByteBuffer b = ByteBuffer.allocate(stateBytes());
        putWorkload(b, workload);
        // No lambda here: this runs inside the downtime, where spinning a lambda's class costs ms.
        if (prefillFraction.isPresent()) {
            b.putDouble(prefillFraction.getAsDouble());
        }
        return b.array();
    }

    @Override
    public void loadState(byte[] state) {
        if (state.length != stateBytes()) {
            throw new IllegalArgumentException("workload state must be " + stateBytes() + " bytes, was " + state.length);
        }
        Workload w = getWorkload(ByteBuffer.wrap(state));
        workload = w;
        onLoad.accept(w);
    }

    /**
     * Writes a workload as this device's state begins: pattern, bytes per write, working set,
     * rate, seed ({@value #WORKLOAD_BYTES} bytes, big-endian).
     *
     * @param out      room for {@value #WORKLOAD_BYTES} bytes at its position, which advances
     * @param workload the workload
     */
    static void putWorkload(ByteBuffer out, Workload workload) {
        out.putInt(workload.pattern().ordinal()).putInt(workload.bytesPerWrite()).putLong(workload.workingSetBytes())
                .putLong(workload.writeBytesPerSecond()).putLong(workload.seed());
    }

    /**
     * Reads what {@link #putWorkload} wrote.
     *
     * @param in the bytes, from its position, which advances
     * @return the workload
     * @throws IllegalArgumentException for an unknown pattern or a negative size or rate
     */
    static Workload getWorkload(ByteBuffer in) {
        int pattern = in.getInt();
        int bytesPerWrite = in.getInt();
        if (pattern < 0 || pattern >= WorkloadPattern.values().length) {
            throw new IllegalArgumentException("unknown workload pattern " + pattern);
        }
        return new Workload(WorkloadPattern.values()[pattern], in.getLong(), in.getLong(), bytesPerWrite, in.getLong());
    }
}
