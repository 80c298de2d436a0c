package io.livemig.kit.internal;

/**
 * The pace of a kit guest running on threads in real time: how many writes are due at each of
 * its slices, from the time elapsed since the previous one and a rate. Both the vCPU threads
 * ({@link GuestCpu}) and the disk writer ({@link GuestDiskWriter}) pace themselves with it.
 *
 * <p>A guest that cannot keep up does not bank the writes it missed (the credit is capped at
 * {@link #MAX_CREDIT_NANOS} of writes): a backlog would keep it writing at full speed long after a
 * throttle is applied. A resume (seen as a new resume count) starts afresh: paused time earns
 * nothing.
 *
 * <p>Not thread-safe: one per guest thread.
 */
public final class Pacer {

    /** Most credit a guest accumulates, in nanoseconds of writes, so that a late thread does not burst. */
    public static final long MAX_CREDIT_NANOS = 20_000_000L;
    /** What a guest thread with nothing due sleeps, if it writes at all. */
    public static final long BUSY_SLEEP_NANOS = 500_000L;
    /** What a guest thread that never writes sleeps between looks at the pause gate. */
    public static final long IDLE_SLEEP_NANOS = 5_000_000L;

    private long seenResumes = -2;
    private long last;
    private double credit;

    /**
     * @param resumes   the pause gate's resume count at this slice ({@link RunGate#enterSlice()})
     * @param nowNanos  the clock's time
     * @param perNano   writes per nanosecond, throttle applied
     * @param maxWrites the most writes this slice may make, at least 1
     * @return the writes due now, at most {@code maxWrites}; they are taken from the credit
     */
    public int due(long resumes, long nowNanos, double perNano, int maxWrites) {
        if (resumes != seenResumes) {
            seenResumes = resumes;
            last = nowNanos;
            credit = 0;
        }
        long elapsed = Math.min(nowNanos - last, MAX_CREDIT_NANOS);
        last = nowNanos;
        credit = Math.min(credit + elapsed * perNano, Math.max(1, MAX_CREDIT_NANOS * perNano));
        int writes = (int) Math.min(credit, maxWrites);
        credit -= writes;
        return writes;
    }
}
