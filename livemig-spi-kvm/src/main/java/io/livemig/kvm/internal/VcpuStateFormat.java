package io.livemig.kvm.internal;

import io.livemig.kvm.KvmException;
import io.livemig.kvm.KvmVcpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The serialized state of one KVM x86 vCPU, format {@value #FORMAT}: every block KVM's state
 * ioctls expose, kept as the kernel's own bytes.
 *
 * <pre>
 * state   = magic:u32 ('LMVS') version:u16 (1) sections:u16 section*
 * section = tag:u16 reserved:u16 (0) length:u32 bytes[length]
 * </pre>
 * little-endian. Tags: 1 regs (144), 2 sregs (312), 3 fpu (416), 4 xsave (4096 to 1 MiB),
 * 5 xcrs (392), 6 msrs (kvm_msrs: nmsrs:u32 pad:u32, then nmsrs 16-byte entries, at most 4096),
 * 7 mp_state (4), 8 vcpu events (64), 9 debug registers (128). Each tag at most once; regs,
 * sregs, msrs, mp_state and events are required. {@link #load} checks all of it before it
 * loads anything, and loads in the order KVM wants: regs, xsave or fpu, xcrs, sregs, msrs,
 * mp_state, events, debug registers.
 */
public final class VcpuStateFormat {

    /** The {@code vcpuStateFormat} of KVM VMs. */
    public static final String FORMAT = "kvm-x86-v1";

    private static final int MAGIC = 0x53564d4c;
    private static final int VERSION = 1;
    private static final int REGS = 1;
    private static final int SREGS = 2;
    private static final int FPU = 3;
    private static final int XSAVE = 4;
    private static final int XCRS = 5;
    private static final int MSRS = 6;
    private static final int MP_STATE = 7;
    private static final int EVENTS = 8;
    private static final int DEBUGREGS = 9;
    private static final int MAX_MSRS = 4096;
    private static final int MAX_XSAVE = 1 << 20;

    /** The MSRs this host lets us read, found once per process (same host, same list). */
    private static volatile int[] readableMsrs;

    private VcpuStateFormat() {
    }

    /** @return the state of {@code vcpu}, which must not be running */
    public static byte[] save(KvmVcpu vcpu) {
        List<byte[]> sections = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            sections.add(section(REGS, block(vcpu, a, KvmAbi.GET_REGS, KvmAbi.REGS_BYTES, "KVM_GET_REGS")));
            int xsave2 = vcpu.vm().kvm().checkExtension(KvmAbi.CAP_XSAVE2);
            if (xsave2 > 0) {
                sections.add(section(XSAVE, block(vcpu, a, KvmAbi.GET_XSAVE2, Math.max(xsave2, KvmAbi.XSAVE_BYTES),
                        "KVM_GET_XSAVE2")));
            } else if (vcpu.vm().kvm().checkExtension(KvmAbi.CAP_XSAVE) > 0) {
                sections.add(section(XSAVE, block(vcpu, a, KvmAbi.GET_XSAVE, KvmAbi.XSAVE_BYTES, "KVM_GET_XSAVE")));
            } else {
                sections.add(section(FPU, block(vcpu, a, KvmAbi.GET_FPU, KvmAbi.FPU_BYTES, "KVM_GET_FPU")));
            }
            if (vcpu.vm().kvm().checkExtension(KvmAbi.CAP_XCRS) > 0) {
                sections.add(section(XCRS, block(vcpu, a, KvmAbi.GET_XCRS, KvmAbi.XCRS_BYTES, "KVM_GET_XCRS")));
            }
            sections.add(section(SREGS, block(vcpu, a, KvmAbi.GET_SREGS, KvmAbi.SREGS_BYTES, "KVM_GET_SREGS")));
            sections.add(section(MSRS, msrs(vcpu, a)));
            sections.add(section(MP_STATE, block(vcpu, a, KvmAbi.GET_MP_STATE, KvmAbi.MP_STATE_BYTES,
                    "KVM_GET_MP_STATE")));
            sections.add(section(EVENTS, block(vcpu, a, KvmAbi.GET_VCPU_EVENTS, KvmAbi.VCPU_EVENTS_BYTES,
                    "KVM_GET_VCPU_EVENTS")));
            sections.add(section(DEBUGREGS, block(vcpu, a, KvmAbi.GET_DEBUGREGS, KvmAbi.DEBUGREGS_BYTES,
                    "KVM_GET_DEBUGREGS")));
        }
        int size = 8 + sections.stream().mapToInt(b -> b.length).sum();
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(MAGIC).putShort((short) VERSION).putShort((short) sections.size());
        sections.forEach(out::put);
        return out.array();
    }

    /**
     * Loads {@code state} into {@code vcpu}, which must not be running.
     *
     * @throws IllegalArgumentException if the state is malformed (checked before anything is loaded)
     */
    public static void load(KvmVcpu vcpu, byte[] state) {
        byte[][] blocks = parse(state);
        try (Arena a = Arena.ofConfined()) {
            set(vcpu, a, KvmAbi.SET_REGS, blocks[REGS], "KVM_SET_REGS");
            if (blocks[XSAVE] != null) {
                set(vcpu, a, KvmAbi.SET_XSAVE, blocks[XSAVE], "KVM_SET_XSAVE");
            }
            if (blocks[FPU] != null) {
                set(vcpu, a, KvmAbi.SET_FPU, blocks[FPU], "KVM_SET_FPU");
            }
            if (blocks[XCRS] != null) {
                set(vcpu, a, KvmAbi.SET_XCRS, blocks[XCRS], "KVM_SET_XCRS");
            }
            set(vcpu, a, KvmAbi.SET_SREGS, blocks[SREGS], "KVM_SET_SREGS");
            loadMsrs(vcpu, a, blocks[MSRS]);
            set(vcpu, a, KvmAbi.SET_MP_STATE, blocks[MP_STATE], "KVM_SET_MP_STATE");
            set(vcpu, a, KvmAbi.SET_VCPU_EVENTS, blocks[EVENTS], "KVM_SET_VCPU_EVENTS");
            if (blocks[DEBUGREGS] != null) {
                set(vcpu, a, KvmAbi.SET_DEBUGREGS, blocks[DEBUGREGS], "KVM_SET_DEBUGREGS");
            }
        }
    }

    /** Checks every field; returns the blocks by tag. */
    static byte[][] parse(byte[] state) {
        ByteBuffer in = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
        if (state.length < 8 || in.getInt() != MAGIC) {
            throw new IllegalArgumentException("not a " + FORMAT + " vCPU state (bad magic)");
        }
        int version = Short.toUnsignedInt(in.getShort());
        if (version != VERSION) {
            throw new IllegalArgumentException(FORMAT + " state version " + version + ", this build reads " + VERSION);
        }
        int count = Short.toUnsignedInt(in.getShort());
        byte[][] blocks = new byte[DEBUGREGS + 1][];
        for (int i = 0; i < count; i++) {
            if (in.remaining() < 8) {
                throw new IllegalArgumentException("section " + i + " header is cut short");
            }
            int tag = Short.toUnsignedInt(in.getShort());
            int reserved = Short.toUnsignedInt(in.getShort());
            long length = Integer.toUnsignedLong(in.getInt());
            if (tag < REGS || tag > DEBUGREGS || reserved != 0) {
                throw new IllegalArgumentException("section " + i + " has unknown tag " + tag);
            }
            if (blocks[tag] != null) {
                throw new IllegalArgumentException("section tag " + tag + " appears twice");
            }
            if (length > in.remaining()) {
                throw new IllegalArgumentException("section tag " + tag + " claims " + length + " bytes, "
                        + in.remaining() + " remain");
            }
            checkLength(tag, (int) length, in);
            blocks[tag] = new byte[(int) length];
            in.get(blocks[tag]);
        }
        if (in.hasRemaining()) {
            throw new IllegalArgumentException(in.remaining() + " bytes after the last section");
        }
        for (int required : new int[] {REGS, SREGS, MSRS, MP_STATE, EVENTS}) {
            if (blocks[required] == null) {
                throw new IllegalArgumentException("section tag " + required + " is missing");
            }
        }
        if ((blocks[XSAVE] == null) == (blocks[FPU] == null)) {
            throw new IllegalArgumentException("exactly one of xsave and fpu is required");
        }
        return blocks;
    }

    private static void checkLength(int tag, int length, ByteBuffer in) {
        boolean ok = switch (tag) {
            case REGS -> length == KvmAbi.REGS_BYTES;
            case SREGS -> length == KvmAbi.SREGS_BYTES;
            case FPU -> length == KvmAbi.FPU_BYTES;
            case XSAVE -> length >= KvmAbi.XSAVE_BYTES && length <= MAX_XSAVE;
            case XCRS -> length == KvmAbi.XCRS_BYTES;
            case MSRS -> {
                if (length < KvmAbi.MSRS_HEADER_BYTES) {
                    yield false;
                }
                long n = Integer.toUnsignedLong(in.getInt(in.position()));
                yield n <= MAX_MSRS && length == KvmAbi.MSRS_HEADER_BYTES + n * KvmAbi.MSR_ENTRY_BYTES;
            }
            case MP_STATE -> length == KvmAbi.MP_STATE_BYTES;
            case EVENTS -> length == KvmAbi.VCPU_EVENTS_BYTES;
            case DEBUGREGS -> length == KvmAbi.DEBUGREGS_BYTES;
            default -> false;
        };
        if (!ok) {
            throw new IllegalArgumentException("section tag " + tag + " has an impossible length " + length);
        }
    }

    private static byte[] section(int tag, byte[] bytes) {
        ByteBuffer b = ByteBuffer.allocate(8 + bytes.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) tag).putShort((short) 0).putInt(bytes.length).put(bytes);
        return b.array();
    }

    private static byte[] block(KvmVcpu vcpu, Arena a, long request, int bytes, String name) {
        MemorySegment s = a.allocate(bytes, 8);
        vcpu.get(request, s, name);
        return s.toArray(JAVA_BYTE);
    }

    private static void set(KvmVcpu vcpu, Arena a, long request, byte[] bytes, String name) {
        MemorySegment s = a.allocate(bytes.length, 8);
        MemorySegment.copy(bytes, 0, s, JAVA_BYTE, 0, bytes.length);
        vcpu.set(request, s, name);
    }

    /**
     * Sets the MSRs. KVM stops at the first one it refuses; one it refuses while this vCPU
     * already holds the same value (a paravirtual MSR at its reset value, say, that needs a
     * device this VMM does not create) is skipped, any other refusal is an error.
     */
    private static void loadMsrs(KvmVcpu vcpu, Arena a, byte[] block) {
        MemorySegment all = a.allocate(block.length, 8);
        MemorySegment.copy(block, 0, all, JAVA_BYTE, 0, block.length);
        int n = all.get(JAVA_INT, 0);
        int from = 0;
        while (from < n) {
            MemorySegment rest = a.allocate(KvmAbi.MSRS_HEADER_BYTES + (long) (n - from) * KvmAbi.MSR_ENTRY_BYTES, 8);
            rest.set(JAVA_INT, 0, n - from);
            MemorySegment.copy(all, KvmAbi.MSRS_HEADER_BYTES + (long) from * KvmAbi.MSR_ENTRY_BYTES, rest,
                    KvmAbi.MSRS_HEADER_BYTES, (long) (n - from) * KvmAbi.MSR_ENTRY_BYTES);
            int done = Sys.ioctl(vcpu.stateFd(), KvmAbi.SET_MSRS, rest, "KVM_SET_MSRS");
            from += done;
            if (from == n) {
                return;
            }
            long entry = KvmAbi.MSRS_HEADER_BYTES + (long) from * KvmAbi.MSR_ENTRY_BYTES;
            int index = all.get(JAVA_INT, entry);
            long wanted = all.get(java.lang.foreign.ValueLayout.JAVA_LONG, entry + 8);
            MemorySegment one = a.allocate(KvmAbi.MSRS_HEADER_BYTES + KvmAbi.MSR_ENTRY_BYTES, 8);
            one.set(JAVA_INT, 0, 1);
            one.set(JAVA_INT, KvmAbi.MSRS_HEADER_BYTES, index);
            boolean same = Sys.ioctl(vcpu.stateFd(), KvmAbi.GET_MSRS, one, "KVM_GET_MSRS") == 1
                    && one.get(java.lang.foreign.ValueLayout.JAVA_LONG, KvmAbi.MSRS_HEADER_BYTES + 8) == wanted;
            if (!same) {
                throw new KvmException("KVM_SET_MSRS", 0, "KVM refused MSR 0x" + Integer.toHexString(index)
                        + " = 0x" + Long.toHexString(wanted) + " (" + from + " of " + n + " MSRs set)");
            }
            from++;
        }
    }

    /** Reads every MSR KVM lets us read; learns which those are on the first call. */
    private static byte[] msrs(KvmVcpu vcpu, Arena a) {
        int[] indices = readableMsrs;
        if (indices == null) {
            indices = vcpu.vm().kvm().msrIndexList();
        }
        while (true) {
            MemorySegment msrs = a.allocate(KvmAbi.MSRS_HEADER_BYTES + (long) indices.length * KvmAbi.MSR_ENTRY_BYTES, 8);
            msrs.set(JAVA_INT, 0, indices.length);
            for (int i = 0; i < indices.length; i++) {
                msrs.set(JAVA_INT, KvmAbi.MSRS_HEADER_BYTES + (long) i * KvmAbi.MSR_ENTRY_BYTES, indices[i]);
            }
            int read = vcpu.get(KvmAbi.GET_MSRS, msrs, "KVM_GET_MSRS");
            if (read == indices.length) {
                readableMsrs = indices;
                return msrs.toArray(JAVA_BYTE);
            }
            // KVM stops at the first MSR it cannot read: leave that one out and ask again.
            int[] fewer = new int[indices.length - 1];
            System.arraycopy(indices, 0, fewer, 0, read);
            System.arraycopy(indices, read + 1, fewer, read, indices.length - read - 1);
            indices = fewer;
        }
    }

    /** @return a copy of the MSR indices saved (for tests and diagnostics), null before the first save */
    public static int[] savedMsrIndices() {
        int[] m = readableMsrs;
        return m == null ? null : Arrays.copyOf(m, m.length);
    }
}
