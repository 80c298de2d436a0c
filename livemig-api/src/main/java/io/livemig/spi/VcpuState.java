package io.livemig.spi;

import java.util.Arrays;
import java.util.Objects;

/**
 * The saved state of one vCPU, opaque to the engines: they carry it from
 * {@link VcpuControl#saveState()} on the source to {@link VcpuControl#loadState} on the target.
 *
 * @param index  the vCPU index, from 0
 * @param format the provider's name for the encoding of {@code data} (for example
 *               {@code "kvm-x86-v1"}); a target refuses a format it does not know
 * @param data   the state bytes; copied on construction and on access
 */
public record VcpuState(int index, String format, byte[] data) {

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a negative index or a blank format
     */
    public VcpuState {
        if (index < 0) {
            throw new IllegalArgumentException("index must be >= 0, was " + index);
        }
        Objects.requireNonNull(format, "format");
        if (format.isBlank()) {
            throw new IllegalArgumentException("format must not be blank");
        }
        data = data.clone();
    }

    /** {@return a copy of the state bytes} */
    @Override
    public byte[] data() {
        return data.clone();
    }

    /** {@return the size of the state in bytes} */
    public int sizeBytes() {
        return data.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VcpuState other && other.index == index && other.format.equals(format)
                && Arrays.equals(other.data, data);
    }

    @Override
    public int hashCode() {
        return Objects.hash(index, format) * 31 + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "VcpuState[index=" + index + ", format=" + format + ", sizeBytes=" + data.length + "]";
    }
}
