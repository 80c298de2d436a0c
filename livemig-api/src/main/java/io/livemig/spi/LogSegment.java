package io.livemig.spi;

import java.util.Objects;

/**
 * A piece of a VM's execution log (trace and replay): the non-deterministic inputs the VM consumed
 * from {@link #startPosition()} up to {@link #endPosition()}, in the provider's format named by
 * {@link ExecutionRecorder#format()}. The engines carry the bytes without reading them.
 *
 * <p>A position counts the inputs a VM consumed since its recording began at the checkpoint's
 * position (for the KVM provider: the vCPU's exits to the VMM). Positions only grow; a segment
 * may hold no input at all ({@code startPosition == endPosition}, empty bytes).
 *
 * @param startPosition the position the segment starts at: the previous segment's end, or the
 *                      checkpoint's position for the first
 * @param endPosition   the position replaying the segment reaches, at least {@code startPosition}
 * @param bytes         the log itself, in the recorder's format (copied in and out)
 */
public record LogSegment(long startPosition, long endPosition, byte[] bytes) {

    /**
     * Checks and copies the components.
     *
     * @throws IllegalArgumentException if a position is negative or the end lies before the start
     * @throws NullPointerException     if {@code bytes} is null
     */
    public LogSegment {
        if (startPosition < 0 || endPosition < startPosition) {
            throw new IllegalArgumentException("a log segment runs from a position >= 0 to one at or after it, was "
                    + startPosition + " to " + endPosition);
        }
        bytes = Objects.requireNonNull(bytes, "bytes").clone();
    }

    /** {@return a copy of the log bytes} */
    @Override
    public byte[] bytes() {
        return bytes.clone();
    }

    /** {@return the size of the log bytes} */
    public int sizeBytes() {
        return bytes.length;
    }

    /** {@return the number of inputs the segment covers} */
    public long inputs() {
        return endPosition - startPosition;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LogSegment s && s.startPosition == startPosition && s.endPosition == endPosition
                && java.util.Arrays.equals(s.bytes, bytes);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(startPosition) * 31 + Long.hashCode(endPosition) * 17 + java.util.Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return "LogSegment[" + startPosition + ".." + endPosition + ", " + bytes.length + " bytes]";
    }
}
