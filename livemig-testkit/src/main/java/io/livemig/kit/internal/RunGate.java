package io.livemig.kit.internal;

/**
 * The pause switch shared by a kit VM's vCPU threads. A vCPU does its guest work in short
 * slices between {@link #enterSlice()} and {@link #exitSlice()}; {@link #pause()} waits until
 * no slice is in progress, so after it returns no guest write is in flight.
 *
 * <p>Thread-safe; guarded by {@code this}.
 */
public final class RunGate {

    private boolean paused = true;
    private boolean closed;
    private int slicesInProgress;
    private long resumeCount;

    /**
     * Blocks while paused.
     *
     * @return the number of resumes so far (a vCPU that sees it change knows it was paused), or
     *         -1 if the gate is closed and the thread should end
     * @throws InterruptedException if interrupted while waiting
     */
    public synchronized long enterSlice() throws InterruptedException {
        while (paused && !closed) {
            wait();
        }
        if (closed) {
            return -1;
        }
        slicesInProgress++;
        return resumeCount;
    }

    /** Ends a slice started by {@link #enterSlice()}. */
    public synchronized void exitSlice() {
        if (--slicesInProgress == 0) {
            notifyAll();
        }
    }

    /**
     * Leaves the current slice without ending it, while the vCPU waits for something outside the
     * guest (a missing page): a paused VM must not wait for such a vCPU.
     */
    public synchronized void suspendSlice() {
        exitSlice();
    }

    /**
     * Re-enters the slice left by {@link #suspendSlice()}, waiting while the VM is paused.
     *
     * Always re-enters (so that the caller's {@link #exitSlice()} stays balanced), even when
     * the gate closes or the thread is interrupted meanwhile.
     *
     * @return false if the gate closed or the thread was interrupted: the vCPU should stop
     */
    public synchronized boolean resumeSlice() {
        boolean interrupted = false;
        while (paused && !closed && !interrupted) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        slicesInProgress++;
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return !closed && !interrupted;
    }

    /** Stops new slices and waits for running ones to end. Idempotent. */
    public synchronized void pause() {
        paused = true;
        boolean interrupted = false;
        while (slicesInProgress > 0) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Lets slices run again. Idempotent. */
    public synchronized void resume() {
        if (paused) {
            paused = false;
            resumeCount++;
            notifyAll();
        }
    }

    /** @return whether the gate is paused */
    public synchronized boolean isPaused() {
        return paused;
    }

    /** Pauses and releases every waiting thread for good. */
    public synchronized void close() {
        closed = true;
        notifyAll();
        pause();
    }
}
