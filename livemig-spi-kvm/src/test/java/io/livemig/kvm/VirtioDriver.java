package io.livemig.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A virtio driver played by a test: it programs a {@link VirtioBlk} through MMIO accesses as a
 * vCPU exit would hand them to the device, and lays out requests in guest RAM. The rings sit at
 * fixed addresses in low RAM; descriptors are written by index, so a test can build any chain,
 * malformed ones included.
 */
final class VirtioDriver {

    static final long DESC = 0x10000;
    static final long AVAIL = 0x11000;
    static final long USED = 0x12000;
    static final long HEADER = 0x13000;
    static final long STATUS = 0x13100;
    static final long DATA = 0x20000;
    static final int QUEUE = 16;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final VirtioBlk device;
    private final MemorySegment ram;
    private final MemorySegment exitData = Arena.global().allocate(8, 8);
    private int availIdx;

    VirtioDriver(MicroVmm vmm) {
        this.device = vmm.disk().orElseThrow();
        this.ram = vmm.vm().memory();
    }

    MemorySegment ram() {
        return ram;
    }

    void write(int register, long value) {
        exitData.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, value);
        device.mmio(VirtioBlk.MMIO_BASE + register, exitData, 4, true);
    }

    long read(int register, int width) {
        exitData.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 0);
        device.mmio(VirtioBlk.MMIO_BASE + register, exitData, width, false);
        return exitData.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
    }

    int status() {
        return (int) read(VirtioMmio.REG_STATUS, 4);
    }

    /** The driver side of device initialisation, as virtio 1.x orders it; features as given. */
    void init(long features) {
        ram.asSlice(DESC, HEADER - DESC).fill((byte) 0); // fresh rings, as a driver allocates them
        write(VirtioMmio.REG_STATUS, 0);
        write(VirtioMmio.REG_STATUS, 1);
        write(VirtioMmio.REG_STATUS, 3);
        write(VirtioMmio.REG_DRIVER_FEATURES_SEL, 1);
        write(VirtioMmio.REG_DRIVER_FEATURES, features >>> 32);
        write(VirtioMmio.REG_DRIVER_FEATURES_SEL, 0);
        write(VirtioMmio.REG_DRIVER_FEATURES, features & 0xFFFFFFFFL);
        write(VirtioMmio.REG_STATUS, 0xB);
        if ((status() & 8) == 0) {
            return; // FEATURES_OK refused: the caller looks at the status
        }
        write(VirtioMmio.REG_QUEUE_SEL, 0);
        write(VirtioMmio.REG_QUEUE_NUM, QUEUE);
        write(VirtioMmio.REG_QUEUE_DESC_LOW, DESC);
        write(VirtioMmio.REG_QUEUE_DESC_HIGH, 0);
        write(VirtioMmio.REG_QUEUE_DRIVER_LOW, AVAIL);
        write(VirtioMmio.REG_QUEUE_DRIVER_HIGH, 0);
        write(VirtioMmio.REG_QUEUE_DEVICE_LOW, USED);
        write(VirtioMmio.REG_QUEUE_DEVICE_HIGH, 0);
        write(VirtioMmio.REG_QUEUE_READY, 1);
        write(VirtioMmio.REG_STATUS, 0xF);
        availIdx = 0;
    }

    void init() {
        init(VirtioMmio.F_VERSION_1 | VirtioBlk.F_FLUSH);
    }

    /** Writes descriptor {@code index}. */
    void descriptor(int index, long address, long length, int flags, int next) {
        long at = DESC + 16L * index;
        ram.set(U64, at, address);
        ram.set(U32, at + 8, (int) length);
        ram.set(U16, at + 12, (short) flags);
        ram.set(U16, at + 14, (short) next);
    }

    void header(int type, long sector) {
        ram.set(U32, HEADER, type);
        ram.set(U32, HEADER + 4, 0);
        ram.set(U64, HEADER + 8, sector);
        ram.set(ValueLayout.JAVA_BYTE, STATUS, (byte) 0x7F);
    }

    /** The usual chain: header (0), data (1) of {@code bytes} at {@code data}, status (2). */
    void request(int type, long sector, long data, long bytes, boolean deviceWrites) {
        header(type, sector);
        descriptor(0, HEADER, 16, Virtqueue.DESC_F_NEXT, 1);
        descriptor(1, data, bytes, Virtqueue.DESC_F_NEXT | (deviceWrites ? Virtqueue.DESC_F_WRITE : 0), 2);
        descriptor(2, STATUS, 1, Virtqueue.DESC_F_WRITE, 0);
    }

    /** Makes the chain from {@code head} available and notifies. */
    void submit(int head) {
        ram.set(U16, AVAIL + 4 + 2L * (availIdx % QUEUE), (short) head);
        availIdx = (availIdx + 1) & 0xFFFF;
        ram.set(U16, AVAIL + 2, (short) availIdx);
        write(VirtioMmio.REG_QUEUE_NOTIFY, 0);
    }

    /** Sets the available index to {@code idx} as a (broken) driver might, and notifies. */
    void publishAvailIdx(int idx) {
        availIdx = idx & 0xFFFF;
        ram.set(U16, AVAIL + 2, (short) availIdx);
        write(VirtioMmio.REG_QUEUE_NOTIFY, 0);
    }

    int usedIdx() {
        return Short.toUnsignedInt(ram.get(U16, USED + 2));
    }

    /** @return the used length of the most recent used entry */
    int lastUsedLength() {
        return ram.get(U32, USED + 4 + 8L * ((usedIdx() - 1 + QUEUE) % QUEUE) + 4);
    }

    int statusByte() {
        return Byte.toUnsignedInt(ram.get(ValueLayout.JAVA_BYTE, STATUS));
    }

    /** Carries on from a driver state another VM held: the next available index. */
    void continueFrom(int nextAvailIdx) {
        availIdx = nextAvailIdx;
    }
}
