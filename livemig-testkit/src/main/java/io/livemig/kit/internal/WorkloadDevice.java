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
        return prefillFraction.isPresent() ? 40 : 32;
    }

    @Override
    public byte[] saveState() {
        Workload w = workload;
        ByteBuffer b = ByteBuffer.allocate(stateBytes()).putInt(w.pattern().ordinal()).putInt(w.bytesPerWrite())
                .putLong(w.workingSetBytes()).putLong(w.writeBytesPerSecond()).putLong(w.seed());
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
        ByteBuffer b = ByteBuffer.wrap(state);
        int pattern = b.getInt();
        int bytesPerWrite = b.getInt();
        if (pattern < 0 || pattern >= WorkloadPattern.values().length) {
            throw new IllegalArgumentException("unknown workload pattern " + pattern);
        }
        Workload w = new Workload(WorkloadPattern.values()[pattern], b.getLong(), b.getLong(), bytesPerWrite,
                b.getLong());
        workload = w;
        onLoad.accept(w);
    }
}
