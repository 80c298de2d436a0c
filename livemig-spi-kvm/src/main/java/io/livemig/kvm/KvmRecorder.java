package io.livemig.kvm;

import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.LogSegment;
import io.livemig.spi.VmOperationException;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Records a {@link MicroVmm}'s guest-visible exits in format {@value ExitLog#FORMAT} (see
 * {@link ExitLog}) for trace and replay. A position is the number of exits of vCPU 0 (port I/O,
 * MMIO, HLT; not kicks) handled since {@link #start()}, which returns 0.
 *
 * <p>The vCPU thread appends each record, under a lock held only for the append, after the VMM
 * handled the exit and before the guest sees its result, so a record is complete before the
 * guest can act on it. {@link #drain()} swaps the buffer under the same lock, from any thread.
 * While recording, the VMM's pause stops the guest at an input boundary (see
 * {@link MicroVmm#pause()}). Off, it costs the vCPU one volatile read per exit.
 */
final class KvmRecorder implements ExecutionRecorder, ExitObserver {

    /**
     * The most log held between two drains, 256 MiB: what a destination buffers by default
     * ({@code ReceiveLimits.maxStateBytes}). A guest whose inputs outgrow it (its log would outgrow
     * the link too) makes the next drain fail instead of the VMM's memory: the migration fails and
     * the VM runs on.
     */
    static final int MAX_UNDRAINED_BYTES = 256 << 20;

    private final MicroVmm vmm;
    private final int maxUndrainedBytes;
    private final Object lock = new Object();
    /** Guarded by {@code lock}: the log outgrew {@link #maxUndrainedBytes}; nothing more is appended. */
    private boolean overflowed;
    /** Guarded by {@code lock}. */
    private ByteArrayOutputStream log = new ByteArrayOutputStream(4096);
    /** Guarded by {@code lock}: exits recorded since start. */
    private long position;
    /** Guarded by {@code lock}: where the next segment starts. */
    private long drained;
    /** Guarded by {@code lock}. */
    private boolean on;

    KvmRecorder(MicroVmm vmm) {
        this(vmm, MAX_UNDRAINED_BYTES);
    }

    /** A recorder that holds at most {@code maxUndrainedBytes} of log between drains (tests). */
    KvmRecorder(MicroVmm vmm, int maxUndrainedBytes) {
        this.vmm = Objects.requireNonNull(vmm, "vmm");
        this.maxUndrainedBytes = maxUndrainedBytes;
    }

    @Override
    public String format() {
        return ExitLog.FORMAT;
    }

    /**
     * {@inheritDoc}
     *
     * @return 0: positions count exits from here
     */
    @Override
    public long start() {
        synchronized (lock) {
            if (on) {
                throw new IllegalStateException("recording already started");
            }
            if (vmm.state() != MicroVmm.RunState.PAUSED) {
                if (vmm.state() == MicroVmm.RunState.RUNNING) {
                    throw new IllegalStateException("recording starts on a paused VM; this one runs");
                }
                throw new VmOperationException("cannot record a VM that is " + vmm.state()
                        + (vmm.stopReason() == null ? "" : " (" + vmm.stopReason() + ")"));
            }
            log = new ByteArrayOutputStream(4096);
            position = 0;
            drained = 0;
            overflowed = false;
            on = true;
        }
        try {
            vmm.startRecording(this);
        } catch (RuntimeException e) {
            synchronized (lock) {
                on = false;
            }
            throw e;
        }
        return 0;
    }

    /** Called on the vCPU thread: appends the exit's record. */
    @Override
    public void exited(MemorySegment run, int reason) {
        ExitLog.Exit exit = ExitLog.of(run, reason);
        synchronized (lock) {
            if (on && !overflowed) {
                ExitLog.write(exit, log);
                position++;
                overflowed = log.size() > maxUndrainedBytes;
            }
        }
    }

    @Override
    public LogSegment drain() {
        synchronized (lock) {
            if (!on) {
                throw new IllegalStateException("recording is not on");
            }
            if (overflowed) {
                throw new VmOperationException("the guest's inputs outgrew the log: more than " + maxUndrainedBytes
                        + " bytes recorded since the last drain (at position " + position + "); recording "
                        + "kept nothing more");
            }
            LogSegment segment = new LogSegment(drained, position, log.toByteArray());
            log.reset();
            drained = position;
            return segment;
        }
    }

    @Override
    public long position() {
        synchronized (lock) {
            return position;
        }
    }

    @Override
    public void stop() {
        vmm.stopRecording();
        synchronized (lock) {
            on = false;
            log = new ByteArrayOutputStream(0);
        }
    }
}
