package io.livemig.kit.internal;

/**
 * A replayable simulated VM's input device, on the host's side: bytes arrive at a fixed rate in
 * the host's time, from the VM's creation, whether the guest runs or not, and wait until the
 * guest reads them. Byte {@code i} of the stream is a function of {@code (seed, i)}, so the same
 * clock gives the same bytes; what the guest reads, and when, is an input the recorder logs.
 *
 * <p>Not thread-safe: the simulated VM's lock guards it.
 */
public final class InputDevice {

    private final long bytesPerSecond;
    private final long seed;
    private final long startNanos;
    private long consumed;
    private byte[] scratch = new byte[0];

    /**
     * @param bytesPerSecond the arrival rate, 0 for a device that never has anything
     * @param seed           the seed of the bytes
     * @param startNanos     the host time bytes start arriving
     */
    public InputDevice(long bytesPerSecond, long seed, long startNanos) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("input bytes per second must be >= 0, was " + bytesPerSecond);
        }
        this.bytesPerSecond = bytesPerSecond;
        this.seed = seed;
        this.startNanos = startNanos;
    }

    /** @return the arrival rate in bytes per second */
    public long bytesPerSecond() {
        return bytesPerSecond;
    }

    /**
     * Reads what arrived by {@code nowNanos} and was not read yet, at most
     * {@value InputLog#MAX_DEVICE_READ} bytes.
     *
     * @param nowNanos the host's time of the read
     * @return how many bytes {@link #buffer()} now holds from index 0
     */
    public int read(long nowNanos) {
        if (bytesPerSecond == 0 || nowNanos <= startNanos) {
            return 0;
        }
        long arrived = (long) ((double) (nowNanos - startNanos) * bytesPerSecond / 1e9);
        int n = (int) Math.min(InputLog.MAX_DEVICE_READ, Math.max(0, arrived - consumed));
        if (scratch.length < n) {
            scratch = new byte[Math.max(n, Math.min(InputLog.MAX_DEVICE_READ, scratch.length * 2))];
        }
        long word = 0;
        for (int i = 0; i < n; i++) {
            long at = consumed + i;
            if (i == 0 || (at & 7) == 0) {
                word = Prefill.mix(seed ^ ((at >>> 3) * Prefill.GOLDEN_GAMMA));
            }
            scratch[i] = (byte) (word >>> ((at & 7) * 8));
        }
        consumed += n;
        return n;
    }

    /** @return the bytes of the last {@link #read}, from index 0 (the device's own array: read only) */
    public byte[] buffer() {
        return scratch;
    }
}
