package io.livemig.kit;

import java.util.Objects;

/**
 * What the in-memory kit's guest does to its memory while it runs: each vCPU thread writes
 * {@code bytesPerWrite} pseudo-random bytes into a page chosen by {@code pattern}, at a total
 * rate of {@code writeBytesPerSecond} (split evenly between vCPUs and scaled down by the
 * throttle). With {@code bytesPerWrite} equal to the page size, the write rate is also the rate
 * at which page bytes are dirtied.
 *
 * @param pattern             which pages are written
 * @param workingSetBytes     bytes of RAM the writes touch, from the first RAM page; 0 means all of it
 * @param writeBytesPerSecond bytes written per second by all vCPUs together; 0 for none
 * @param bytesPerWrite       bytes changed by one write, 1 to the page size; 0 means a whole page
 * @param seed                seed of the pseudo-random choices and contents; equal seeds, equal runs
 */
public record Workload(WorkloadPattern pattern, long workingSetBytes, long writeBytesPerSecond, int bytesPerWrite,
                       long seed) {

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for negative sizes or rates
     */
    public Workload {
        Objects.requireNonNull(pattern, "pattern");
        if (workingSetBytes < 0) {
            throw new IllegalArgumentException("workingSetBytes must be >= 0, was " + workingSetBytes);
        }
        if (writeBytesPerSecond < 0) {
            throw new IllegalArgumentException("writeBytesPerSecond must be >= 0, was " + writeBytesPerSecond);
        }
        if (bytesPerWrite < 0) {
            throw new IllegalArgumentException("bytesPerWrite must be >= 0, was " + bytesPerWrite);
        }
    }

    /** {@return a guest that never writes} */
    public static Workload idle() {
        return new Workload(WorkloadPattern.IDLE, 0, 0, 0, 1);
    }

    /**
     * {@return a workload over all of RAM, whole-page writes, seed 1}
     *
     * @param pattern             the pattern
     * @param writeBytesPerSecond the write rate in bytes per second
     */
    public static Workload of(WorkloadPattern pattern, long writeBytesPerSecond) {
        return new Workload(pattern, 0, writeBytesPerSecond, 0, 1);
    }

    /** {@return whether this workload ever writes} */
    public boolean writes() {
        return pattern != WorkloadPattern.IDLE && writeBytesPerSecond > 0;
    }
}
