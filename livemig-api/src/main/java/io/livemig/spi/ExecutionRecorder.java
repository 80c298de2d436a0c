package io.livemig.spi;

/**
 * Optional capability of a source VM (trace and replay, Liu et al., HPDC'09): records every
 * non-deterministic input the VM consumes, so that a copy of its state taken at one position and
 * replayed with the log reaches exactly the state the VM has at a later position. Offered by
 * {@link MigratableVm#executionRecorder()} only for a VM whose execution is a deterministic
 * function of its state, its memory and the inputs recorded (for the KVM provider: one vCPU, no
 * interrupts, no device that writes guest memory behind the log, time read through an exit).
 *
 * <p><b>Input boundaries.</b> While recording, {@link VcpuControl#pause()} returns with every vCPU
 * stopped at an input boundary: the vCPU and device state saved then, and the memory, are exactly
 * what replaying the log from the checkpoint up to {@link #position()} reproduces. A provider
 * that cannot stop there must not offer the capability.
 *
 * <p><b>Use.</b> The engine pauses the VM, saves its state and memory (the checkpoint), calls
 * {@link #start()}, resumes it, {@link #drain() drains} the log while the VM runs, pauses it again,
 * drains the rest and calls {@link #stop()}. A failed migration calls {@link #stop()} and resumes
 * the VM; recording then ends and nothing of the log is kept.
 *
 * <p><b>Threading.</b> {@link #drain()} and {@link #position()} may be called from any thread
 * while the vCPUs run; the provider synchronises with its vCPU threads. The others are called by
 * one thread, the migration's.
 */
public interface ExecutionRecorder {

    /**
     * The log format this recorder writes.
     *
     * @return the name and version of the log format (for the KVM provider {@code "kvm-exit-log/1"});
     *         the destination refuses a log in a format its {@link ExecutionReplayer} does not read
     */
    String format();

    /**
     * Starts recording from where the VM stands. The VM must be paused (at an input boundary, see
     * above); the inputs it consumes once resumed are recorded.
     *
     * @return the position the VM stands at: the checkpoint's position, where the first segment starts
     * @throws IllegalStateException  if the VM runs, or recording already started
     * @throws VmOperationException   if the VM cannot be recorded now (why is in the message)
     */
    long start();

    /**
     * Takes the log recorded since the previous call (or since {@link #start()}), up to the last
     * input boundary the VM passed: segments taken one after the other join without a gap.
     * Called while the VM runs, and once more after it was paused, for the rest.
     *
     * @return the segment, empty when the VM consumed no input meanwhile
     * @throws IllegalStateException if recording is not on
     */
    LogSegment drain();

    /** {@return the position of the last input boundary the VM passed since recording began} */
    long position();

    /**
     * Stops recording; what was not drained is dropped. Idempotent, and harmless when recording
     * never started.
     */
    void stop();
}
