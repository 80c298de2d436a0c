package io.livemig.kvm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * One split virtqueue (virtio 1.x, "split virtqueues"), the device's side: the driver's
 * descriptor table and available ring are read, the used ring written, all in guest RAM.
 *
 * <pre>
 * descriptor table, 16-byte aligned, size entries:  addr:u64 len:u32 flags:u16 next:u16
 *     flags: 1 NEXT (the chain goes on at next), 2 WRITE (device-writable), 4 INDIRECT
 * available ring, 2-byte aligned:  flags:u16 idx:u16 ring[size]:u16 (used_event:u16)
 * used ring, 4-byte aligned:       flags:u16 idx:u16 ring[size]:{id:u32 len:u32} (avail_event:u16)
 * </pre>
 * little-endian. {@code idx} counts forever modulo 2^16; entry {@code i} of a ring is at
 * {@code i % size}. The device keeps {@code lastAvailIdx}, the next available entry it will
 * take, and {@code usedIdx}, the next used entry it will fill.
 *
 * <p><b>A hostile driver.</b> Everything read from guest RAM is checked before it is used: the
 * rings lie in RAM ({@link #checkRings}, when the driver enables the queue), the available
 * index never runs more than {@code size} ahead, a head and every {@code next} is below
 * {@code size}, a chain has at most {@code size} descriptors (a longer one loops), INDIRECT is
 * refused (not offered). A violation is a {@link BrokenRing}: the device cannot trust the queue
 * any more and asks for a reset. Buffer addresses are the request's business: a chain whose
 * structure is sound but whose buffers are not RAM fails that request only.
 *
 * <p>Not thread-safe: guarded by the device that owns it.
 */
final class Virtqueue {

    /** The largest queue this device offers (QueueNumMax). */
    static final int MAX_SIZE = 256;
    static final int DESC_F_NEXT = 1;
    static final int DESC_F_WRITE = 2;
    static final int DESC_F_INDIRECT = 4;
    private static final int DESC_BYTES = 16;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The queue cannot be trusted: the device must stop using it until the driver resets it. */
    static final class BrokenRing extends Exception {
        BrokenRing(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * A descriptor chain as read from the table: device-readable buffers first, then
     * device-writable ones. Reused from request to request (no allocation per request).
     */
    static final class Chain {
        final long[] address = new long[MAX_SIZE];
        final int[] length = new int[MAX_SIZE];
        final boolean[] writable = new boolean[MAX_SIZE];
        /** Descriptors in the chain. */
        int count;
        /** The index of the first device-writable descriptor ({@link #count} if none). */
        int firstWritable;
        /** Whether a readable descriptor followed a writable one (the chain is malformed). */
        boolean misordered;
    }

    private final GuestRam ram;
    private int size;
    private boolean ready;
    private long descAddress;
    private long availAddress;
    private long usedAddress;
    private int lastAvailIdx;
    private int usedIdx;

    Virtqueue(GuestRam ram) {
        this.ram = ram;
    }

    /** Back to the state after a device reset: not ready, size 0, addresses 0, indexes 0. */
    void reset() {
        size = 0;
        ready = false;
        descAddress = 0;
        availAddress = 0;
        usedAddress = 0;
        lastAvailIdx = 0;
        usedIdx = 0;
    }

    int size() {
        return size;
    }

    void setSize(int entries) {
        this.size = entries;
    }

    boolean ready() {
        return ready;
    }

    long descAddress() {
        return descAddress;
    }

    long availAddress() {
        return availAddress;
    }

    long usedAddress() {
        return usedAddress;
    }

    int lastAvailIdx() {
        return lastAvailIdx;
    }

    int usedIdx() {
        return usedIdx;
    }

    void setDescAddress(long address) {
        descAddress = address;
    }

    void setAvailAddress(long address) {
        availAddress = address;
    }

    void setUsedAddress(long address) {
        usedAddress = address;
    }

    /**
     * Enables or disables the queue. Enabling checks the rings first ({@link #checkRings}).
     *
     * @return null, or why the queue cannot be enabled (it stays disabled then)
     */
    String setReady(boolean on) {
        if (on) {
            String problem = checkRings(size, descAddress, availAddress, usedAddress, ram);
            if (problem != null) {
                return problem;
            }
        }
        ready = on;
        return null;
    }

    /** Restores the indexes and the ready flag of a saved queue whose rings {@link #checkRings} accepted. */
    void restore(boolean isReady, int lastAvail, int used) {
        this.ready = isReady;
        this.lastAvailIdx = lastAvail & 0xFFFF;
        this.usedIdx = used & 0xFFFF;
    }

    /**
     * @return null if a queue of {@code entries} with these ring addresses is usable: a power of
     *         two from 1 to {@value #MAX_SIZE}, each ring aligned as virtio 1.x wants and wholly in
     *         guest RAM; else what is wrong
     */
    static String checkRings(int entries, long desc, long avail, long used, GuestRam ram) {
        if (entries < 1 || entries > MAX_SIZE || Integer.bitCount(entries) != 1) {
            return "queue size " + entries + " is not a power of two from 1 to " + MAX_SIZE;
        }
        if (desc % 16 != 0 || avail % 2 != 0 || used % 4 != 0) {
            return "misaligned rings: descriptors 0x" + Long.toHexString(desc) + " (16), available 0x"
                    + Long.toHexString(avail) + " (2), used 0x" + Long.toHexString(used) + " (4)";
        }
        if (!ram.contains(desc, (long) DESC_BYTES * entries) || !ram.contains(avail, 6L + 2L * entries)
                || !ram.contains(used, 6L + 8L * entries)) {
            return "a ring is not in guest RAM: descriptors 0x" + Long.toHexString(desc) + ", available 0x"
                    + Long.toHexString(avail) + ", used 0x" + Long.toHexString(used) + " for " + entries + " entries";
        }
        return null;
    }

    /**
     * The head of the next available chain, taking it ({@code lastAvailIdx} advances).
     *
     * @return the head's descriptor index, or -1 if the driver made nothing new available
     * @throws BrokenRing if the available index ran more than the queue size ahead, or the head
     *                    is not a descriptor of the table
     */
    int takeAvailable() throws BrokenRing {
        MemorySegment avail = ram.slice(availAddress, 4L + 2L * size);
        int availIdx = Short.toUnsignedInt(avail.get(U16, 2));
        VarHandle.acquireFence(); // the ring entries and descriptors after the index the driver published
        int pending = (availIdx - lastAvailIdx) & 0xFFFF;
        if (pending == 0) {
            return -1;
        }
        if (pending > size) {
            throw new BrokenRing("the available index " + availIdx + " is " + pending + " entries ahead of "
                    + lastAvailIdx + ", more than the queue's " + size);
        }
        int head = Short.toUnsignedInt(avail.get(U16, 4L + 2L * (lastAvailIdx % size)));
        if (head >= size) {
            throw new BrokenRing("available entry " + lastAvailIdx + " names descriptor " + head + " of " + size);
        }
        lastAvailIdx = (lastAvailIdx + 1) & 0xFFFF;
        return head;
    }

    /**
     * Reads the chain that starts at {@code head} into {@code chain}. Buffer addresses and lengths
     * are copied as the driver wrote them, not checked: the request checks them.
     *
     * @throws BrokenRing if a {@code next} leaves the table, the chain is longer than the queue
     *                    (it loops) or a descriptor is INDIRECT
     */
    void readChain(int head, Chain chain) throws BrokenRing {
        MemorySegment table = ram.slice(descAddress, (long) DESC_BYTES * size);
        chain.count = 0;
        chain.firstWritable = -1;
        chain.misordered = false;
        int index = head;
        while (true) {
            if (chain.count == size) {
                throw new BrokenRing("the chain from descriptor " + head + " is longer than the queue's " + size
                        + " entries: it loops");
            }
            long at = (long) index * DESC_BYTES;
            int flags = Short.toUnsignedInt(table.get(U16, at + 12));
            if ((flags & DESC_F_INDIRECT) != 0) {
                throw new BrokenRing("descriptor " + index + " is INDIRECT, which this device does not offer");
            }
            int n = chain.count++;
            chain.address[n] = table.get(U64, at);
            chain.length[n] = table.get(U32, at + 8);
            chain.writable[n] = (flags & DESC_F_WRITE) != 0;
            if (chain.writable[n]) {
                if (chain.firstWritable < 0) {
                    chain.firstWritable = n;
                }
            } else if (chain.firstWritable >= 0) {
                chain.misordered = true;
            }
            if ((flags & DESC_F_NEXT) == 0) {
                break;
            }
            index = Short.toUnsignedInt(table.get(U16, at + 14));
            if (index >= size) {
                throw new BrokenRing("descriptor " + (at / DESC_BYTES) + " chains to " + index + ", past the queue's "
                        + size + " entries");
            }
        }
        if (chain.firstWritable < 0) {
            chain.firstWritable = chain.count;
        }
    }

    /**
     * Returns a chain to the driver: the used entry {@code {head, bytesWritten}}, then the used
     * index (after it, so that a driver that sees the index sees the entry), both reported to the
     * dirty log once written.
     */
    void putUsed(int head, int bytesWritten) {
        long entryAt = usedAddress + 4L + 8L * (usedIdx % size);
        MemorySegment entry = ram.slice(entryAt, 8);
        entry.set(U32, 0, head);
        entry.set(U32, 4, bytesWritten);
        usedIdx = (usedIdx + 1) & 0xFFFF;
        VarHandle.releaseFence();
        ram.slice(usedAddress + 2, 2).set(U16, 0, (short) usedIdx);
        ram.wrote(entryAt, 8);
        ram.wrote(usedAddress + 2, 2);
    }
}
