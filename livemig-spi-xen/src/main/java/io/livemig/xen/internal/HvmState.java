package io.livemig.xen.internal;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The saved state of an HVM domain as it travels in vCPU 0's {@code VcpuState}, format
 * {@value #FORMAT}:
 *
 * <pre>
 * state   = magic:u32 ("LMXH", 0x484d584c) version:u32 (1) paramCount:u32 param* contextBytes:u32 context
 * param   = index:u32 value:u64                ; an HVM parameter, as xc_hvm_param_get read it
 * context = contextBytes bytes                 ; xc_domain_hvm_getcontext's records, opaque here
 * </pre>
 *
 * All integers little-endian. Xen saves and restores a domain's HVM context as one stream of
 * records (every vCPU's registers, the local APICs, and the platform's PIC, IOAPIC, PIT, RTC,
 * HPET...), so it cannot be cut into independent per-vCPU parts; it travels whole with vCPU 0,
 * and the other vCPUs' states are empty. Parameters that read 0 are left out, as Xen's save code
 * does. Pure: no native calls.
 *
 * @param params  HVM parameter indices and values, {@code params[2i]} the index, {@code params[2i+1]} the value
 * @param context the HVM context records
 */
public record HvmState(long[] params, byte[] context) {

    /** The vCPU state format name. */
    public static final String FORMAT = "xen-hvm-v1";

    private static final int MAGIC = 0x484d584c;
    private static final int VERSION = 1;

    /** Copies both arrays; a parameter list must hold index/value pairs. */
    public HvmState {
        if (params.length % 2 != 0) {
            throw new IllegalArgumentException("params must be index/value pairs");
        }
        params = params.clone();
        context = context.clone();
    }

    @Override
    public long[] params() {
        return params.clone();
    }

    @Override
    public byte[] context() {
        return context.clone();
    }

    /** @return the encoded state */
    public byte[] encode() {
        int pairs = params.length / 2;
        ByteBuffer b = ByteBuffer.allocate(16 + pairs * 12 + context.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putInt(VERSION).putInt(pairs);
        for (int i = 0; i < pairs; i++) {
            b.putInt((int) params[2 * i]).putLong(params[2 * i + 1]);
        }
        b.putInt(context.length).put(context);
        return b.array();
    }

    /**
     * @param data bytes {@link #encode()} wrote
     * @return the state
     * @throws IllegalArgumentException if {@code data} is not a state of this format (a bad magic,
     *                                  version or length, trailing bytes)
     */
    public static HvmState decode(byte[] data) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        try {
            if (b.getInt() != MAGIC) {
                throw new IllegalArgumentException("not a " + FORMAT + " state (bad magic)");
            }
            int version = b.getInt();
            if (version != VERSION) {
                throw new IllegalArgumentException(FORMAT + " state of version " + version + ", this reads " + VERSION);
            }
            int pairs = b.getInt();
            if (pairs < 0 || pairs > b.remaining() / 12) {
                throw new IllegalArgumentException(FORMAT + " state announces " + pairs + " parameters in "
                        + b.remaining() + " bytes");
            }
            long[] params = new long[2 * pairs];
            for (int i = 0; i < pairs; i++) {
                params[2 * i] = Integer.toUnsignedLong(b.getInt());
                params[2 * i + 1] = b.getLong();
            }
            int length = b.getInt();
            if (length < 0 || length != b.remaining()) {
                throw new IllegalArgumentException(FORMAT + " state announces " + length + " context bytes, holds "
                        + b.remaining());
            }
            byte[] context = new byte[length];
            b.get(context);
            return new HvmState(params, context);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException(FORMAT + " state truncated at " + data.length + " bytes", e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HvmState s && Arrays.equals(s.params, params) && Arrays.equals(s.context, context);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(params) * 31 + Arrays.hashCode(context);
    }

    @Override
    public String toString() {
        return "HvmState[params=" + params.length / 2 + ", contextBytes=" + context.length + "]";
    }
}
