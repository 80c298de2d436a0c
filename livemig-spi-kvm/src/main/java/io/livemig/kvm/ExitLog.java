package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HexFormat;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The execution log of the KVM provider, format {@value #FORMAT}: one record per exit of vCPU 0
 * to the VMM that the guest can see (port I/O, MMIO, HLT; not a kick), in the order they
 * happened. A record holds what the guest asked and the value that crossed: for an input what
 * the VMM answered (replay answers the same), for an output what the guest wrote (replay checks
 * that the replayed guest writes the same).
 *
 * <pre>
 * record = head:u8 body
 * head   = kind (bits 0-2) | size (bits 3-6, 1..8 bytes; 0 for hlt) | rep (bit 7, port I/O only)
 * kind   = 1 io-in | 2 io-out | 3 mmio-read | 4 mmio-write | 5 hlt
 * io     : port:u16 [count:varint, present when rep is set; else 1] data:(size * count) bytes
 * mmio   : address:varint data:size bytes
 * hlt    : nothing
 * </pre>
 * Little-endian; a varint is unsigned LEB128 (7 bits a byte, least significant first, at most
 * 10 bytes). A 32-bit {@code in} or {@code out} on a port is 7 bytes. A string instruction
 * ({@code rep insb}) that KVM hands over in batches is one record per batch, {@code count}
 * elements each, at most {@value #MAX_DATA_BYTES} bytes of data (KVM's batch fits in a page).
 *
 * <p>Stateless; {@link Reader} is for one thread.
 */
final class ExitLog {

    /** The format name. */
    static final String FORMAT = "kvm-exit-log/1";
    static final int IO_IN = 1;
    static final int IO_OUT = 2;
    static final int MMIO_READ = 3;
    static final int MMIO_WRITE = 4;
    static final int HLT = 5;
    /** The most data one record may hold: one page, as KVM's port I/O data area. */
    static final int MAX_DATA_BYTES = 4096;
    private static final String[] KIND_NAMES = {"?", "in", "out", "mmio-read", "mmio-write", "hlt"};

    private ExitLog() {
    }

    /**
     * One guest-visible exit.
     *
     * @param kind    {@link #IO_IN} .. {@link #HLT}
     * @param address the port (I/O) or guest-physical address (MMIO); 0 for hlt
     * @param size    bytes per element: 1..8; 0 for hlt
     * @param count   elements (port I/O string instructions hand several; else 1); 0 for hlt
     * @param data    {@code size * count} bytes: the input's answer or the output's value (owned)
     */
    record Exit(int kind, long address, int size, int count, byte[] data) {

        /** {@return whether the guest reads this exit's value (the VMM answers it)} */
        boolean isInput() {
            return kind == IO_IN || kind == MMIO_READ;
        }

        /** {@return the exit as the guest asked it, without the value: "in 0xec, 4 bytes"} */
        String request() {
            if (kind == HLT) {
                return "hlt";
            }
            String name = kind >= 1 && kind < KIND_NAMES.length ? KIND_NAMES[kind] : "kind " + kind;
            return name + " 0x" + Long.toHexString(address) + ", " + size + " bytes" + (count == 1 ? "" : " x " + count);
        }

        /** {@return the request and its value} */
        String describe() {
            return kind == HLT ? "hlt" : request() + ", value " + HexFormat.of().formatHex(data);
        }

        /** {@return whether {@code other} is the same request: kind, port or address, size, count} */
        boolean sameRequest(Exit other) {
            return kind == other.kind && address == other.address && size == other.size && count == other.count;
        }
    }

    /**
     * Reads the exit KVM reported from a vCPU's {@code kvm_run} area, after the VMM handled it
     * (an input's answer is in the area then).
     *
     * @param run    the vCPU's kvm_run area
     * @param reason the exit reason: {@link KvmAbi#EXIT_IO}, {@link KvmAbi#EXIT_MMIO} or {@link KvmAbi#EXIT_HLT}
     * @return the exit
     * @throws IllegalStateException if KVM reported an access outside what this format holds
     */
    static Exit of(MemorySegment run, int reason) {
        switch (reason) {
            case KvmAbi.EXIT_IO -> {
                int size = run.get(JAVA_BYTE, KvmAbi.RUN_IO_SIZE);
                int count = run.get(JAVA_INT, KvmAbi.RUN_IO_COUNT);
                long offset = run.get(JAVA_LONG, KvmAbi.RUN_IO_DATA_OFFSET);
                long bytes = (long) size * count;
                if (size < 1 || size > 8 || count < 1 || bytes > MAX_DATA_BYTES || offset < 0
                        || offset + bytes > run.byteSize()) {
                    throw new IllegalStateException("KVM reported port I/O of " + count + " x " + size
                            + " bytes at offset " + offset + " of kvm_run");
                }
                boolean in = run.get(JAVA_BYTE, KvmAbi.RUN_IO_DIRECTION) == KvmAbi.IO_IN;
                int port = Short.toUnsignedInt(run.get(JAVA_SHORT, KvmAbi.RUN_IO_PORT));
                return new Exit(in ? IO_IN : IO_OUT, port, size, count, run.asSlice(offset, bytes).toArray(JAVA_BYTE));
            }
            case KvmAbi.EXIT_MMIO -> {
                int len = run.get(JAVA_INT, KvmAbi.RUN_MMIO_LEN);
                if (len < 1 || len > 8) {
                    throw new IllegalStateException("KVM reported an MMIO access of " + len + " bytes");
                }
                boolean write = run.get(JAVA_BYTE, KvmAbi.RUN_MMIO_IS_WRITE) != 0;
                return new Exit(write ? MMIO_WRITE : MMIO_READ, run.get(JAVA_LONG, KvmAbi.RUN_MMIO_PHYS_ADDR), len, 1,
                        run.asSlice(KvmAbi.RUN_MMIO_DATA, len).toArray(JAVA_BYTE));
            }
            case KvmAbi.EXIT_HLT -> {
                return new Exit(HLT, 0, 0, 0, new byte[0]);
            }
            default -> throw new IllegalArgumentException("exit reason " + reason + " is not a logged exit");
        }
    }

    /**
     * Answers an input exit in the {@code kvm_run} area with a logged value, as the VMM's device
     * would have: KVM hands it to the guest when the vCPU next enters KVM_RUN.
     *
     * @param run    the vCPU's kvm_run area, holding the exit {@code logged} matched
     * @param logged the logged input
     */
    static void answer(MemorySegment run, Exit logged) {
        long at = logged.kind() == IO_IN ? run.get(JAVA_LONG, KvmAbi.RUN_IO_DATA_OFFSET) : KvmAbi.RUN_MMIO_DATA;
        MemorySegment.copy(logged.data(), 0, run, JAVA_BYTE, at, logged.data().length);
    }

    /**
     * Appends one record.
     *
     * @param e   the exit
     * @param out the log
     */
    static void write(Exit e, ByteArrayOutputStream out) {
        boolean io = e.kind() == IO_IN || e.kind() == IO_OUT;
        boolean rep = io && e.count() != 1;
        out.write(e.kind() | e.size() << 3 | (rep ? 0x80 : 0));
        if (io) {
            out.write((int) e.address());
            out.write((int) (e.address() >>> 8));
            if (rep) {
                writeVarint(e.count(), out);
            }
        } else if (e.kind() != HLT) {
            writeVarint(e.address(), out);
        }
        out.write(e.data(), 0, e.data().length);
    }

    /**
     * Encodes a list of exits, one record each.
     *
     * @param exits the exits, in order
     * @return the log bytes
     */
    static byte[] encode(Iterable<Exit> exits) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        exits.forEach(e -> write(e, out));
        return out.toByteArray();
    }

    private static void writeVarint(long value, ByteArrayOutputStream out) {
        long v = value;
        while ((v & ~0x7FL) != 0) {
            out.write((int) (v & 0x7F) | 0x80);
            v >>>= 7;
        }
        out.write((int) v);
    }

    /** Reads the records of a log, one after the other, checking each as it goes. */
    static final class Reader {
        private final byte[] log;
        private int at;

        /** @param log the log bytes; not copied, not changed */
        Reader(byte[] log) {
            this.log = log;
        }

        /** {@return whether another record follows} */
        boolean hasNext() {
            return at < log.length;
        }

        /** {@return the byte offset of the next record} */
        int offset() {
            return at;
        }

        /**
         * Reads the next record.
         *
         * @return the exit it holds
         * @throws IllegalArgumentException if the record is malformed or cut short (the message
         *                                  says how, and at which byte)
         */
        Exit next() {
            int start = at;
            int head = u8(start);
            int kind = head & 0x7;
            int size = (head >>> 3) & 0xF;
            boolean rep = (head & 0x80) != 0;
            if (kind < IO_IN || kind > HLT) {
                throw malformed(start, "kind " + kind);
            }
            if (kind == HLT) {
                if (head != HLT) {
                    throw malformed(start, "hlt with size or count");
                }
                return new Exit(HLT, 0, 0, 0, new byte[0]);
            }
            if (size < 1 || size > 8) {
                throw malformed(start, "size " + size);
            }
            long address;
            long count = 1;
            if (kind == IO_IN || kind == IO_OUT) {
                address = u8(start) | u8(start) << 8;
                if (rep) {
                    count = varint(start);
                    if (count < 1) {
                        throw malformed(start, "count " + count);
                    }
                }
            } else {
                if (rep) {
                    throw malformed(start, "MMIO with a count");
                }
                address = varint(start);
            }
            long bytes = size * count;
            if (bytes > MAX_DATA_BYTES) {
                throw malformed(start, count + " x " + size + " bytes of data, more than " + MAX_DATA_BYTES);
            }
            if (at + bytes > log.length) {
                throw malformed(start, "cut short: " + bytes + " bytes of data, " + (log.length - at) + " left");
            }
            byte[] data = Arrays.copyOfRange(log, at, at + (int) bytes);
            at += (int) bytes;
            return new Exit(kind, address, size, (int) count, data);
        }

        private int u8(int start) {
            if (at >= log.length) {
                throw malformed(start, "cut short");
            }
            return log[at++] & 0xFF;
        }

        private long varint(int start) {
            long value = 0;
            for (int shift = 0; shift < 70; shift += 7) {
                int b = u8(start);
                value |= (long) (b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    return value;
                }
            }
            throw malformed(start, "varint longer than 10 bytes");
        }

        private IllegalArgumentException malformed(int start, String why) {
            return new IllegalArgumentException("malformed " + FORMAT + " record at byte " + start + ": " + why);
        }
    }
}
