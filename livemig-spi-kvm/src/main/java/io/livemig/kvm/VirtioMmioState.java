package io.livemig.kvm;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The migratable state of a virtio-mmio device with one split virtqueue, and its byte format.
 *
 * <pre>
 * state = magic:u32 ('LMVQ') version:u16 (1) deviceId:u16 capacityBytes:u64
 *         driverFeatures:u64 deviceFeaturesSel:u32 driverFeaturesSel:u32
 *         status:u32 interruptStatus:u32 configGeneration:u32 queueSel:u32
 *         queueSize:u16 queueReady:u16 (0 or 1) descAddress:u64 availAddress:u64 usedAddress:u64
 *         lastAvailIdx:u16 usedIdx:u16
 * </pre>
 * little-endian, {@value #BYTES} bytes. {@link #decode} refuses anything else: a short or long
 * buffer, another magic or version. {@link #check} then refuses a state the device could not
 * have been in: another device ID or disk size, features not offered, unknown status or
 * interrupt bits, FEATURES_OK without VIRTIO_F_VERSION_1, a queue size that is not a power of two
 * up to {@value Virtqueue#MAX_SIZE}, an enabled queue whose rings are misaligned or not in guest
 * RAM. The device's request-level state needs no saving: requests are served synchronously on
 * the vCPU thread, so none is in flight while the VM is paused.
 *
 * @param deviceId          the virtio device ID (2: block)
 * @param capacityBytes     the disk's size in bytes, which the loading device must match
 * @param driverFeatures    the feature bits the driver accepted
 * @param deviceFeaturesSel the DeviceFeaturesSel register
 * @param driverFeaturesSel the DriverFeaturesSel register
 * @param status            the device status
 * @param interruptStatus   the InterruptStatus register
 * @param configGeneration  the ConfigGeneration register
 * @param queueSel          the QueueSel register
 * @param queueSize         QueueNum of queue 0
 * @param queueReady        QueueReady of queue 0
 * @param descAddress       the descriptor table's guest-physical address
 * @param availAddress      the available ring's guest-physical address
 * @param usedAddress       the used ring's guest-physical address
 * @param lastAvailIdx      the next available entry the device takes, 0 to 65535
 * @param usedIdx           the next used entry the device fills, 0 to 65535
 */
record VirtioMmioState(int deviceId, long capacityBytes, long driverFeatures, int deviceFeaturesSel,
                       int driverFeaturesSel, int status, int interruptStatus, int configGeneration, int queueSel,
                       int queueSize, boolean queueReady, long descAddress, long availAddress, long usedAddress,
                       int lastAvailIdx, int usedIdx) {

    /** The encoded size. */
    static final int BYTES = 80;
    private static final int MAGIC = 0x51564d4c; // "LMVQ"
    private static final int VERSION = 1;

    /** @return the {@value #BYTES}-byte encoding */
    byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putShort((short) VERSION).putShort((short) deviceId).putLong(capacityBytes)
                .putLong(driverFeatures).putInt(deviceFeaturesSel).putInt(driverFeaturesSel)
                .putInt(status).putInt(interruptStatus).putInt(configGeneration).putInt(queueSel)
                .putShort((short) queueSize).putShort((short) (queueReady ? 1 : 0))
                .putLong(descAddress).putLong(availAddress).putLong(usedAddress)
                .putShort((short) lastAvailIdx).putShort((short) usedIdx);
        return b.array();
    }

    /**
     * @throws IllegalArgumentException if {@code bytes} is not {@value #BYTES} bytes of this
     *                                  format and version, or a flag field is not 0 or 1
     */
    static VirtioMmioState decode(byte[] bytes) {
        if (bytes == null || bytes.length != BYTES) {
            throw new IllegalArgumentException("virtio-mmio state must be " + BYTES + " bytes, was "
                    + (bytes == null ? "null" : bytes.length));
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        try {
            int magic = b.getInt();
            if (magic != MAGIC) {
                throw new IllegalArgumentException("not virtio-mmio state: magic 0x" + Integer.toHexString(magic));
            }
            int version = Short.toUnsignedInt(b.getShort());
            if (version != VERSION) {
                throw new IllegalArgumentException("virtio-mmio state version " + version + ", this reads " + VERSION);
            }
            int deviceId = Short.toUnsignedInt(b.getShort());
            long capacity = b.getLong();
            long features = b.getLong();
            int deviceSel = b.getInt();
            int driverSel = b.getInt();
            int status = b.getInt();
            int interrupts = b.getInt();
            int generation = b.getInt();
            int queueSel = b.getInt();
            int size = Short.toUnsignedInt(b.getShort());
            int ready = Short.toUnsignedInt(b.getShort());
            if (ready > 1) {
                throw new IllegalArgumentException("virtio-mmio state: queueReady " + ready + ", must be 0 or 1");
            }
            long desc = b.getLong();
            long avail = b.getLong();
            long used = b.getLong();
            int lastAvail = Short.toUnsignedInt(b.getShort());
            int usedIdx = Short.toUnsignedInt(b.getShort());
            return new VirtioMmioState(deviceId, capacity, features, deviceSel, driverSel, status, interrupts,
                    generation, queueSel, size, ready == 1, desc, avail, used, lastAvail, usedIdx);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("virtio-mmio state is truncated", e);
        }
    }

    /**
     * Checks that a device of {@code expectedDeviceId} offering {@code offeredFeatures}, backed by
     * a disk of {@code expectedCapacityBytes}, in a VM of {@code ram}, could have been in this state.
     *
     * @throws IllegalArgumentException naming the first field that is not
     */
    void check(int expectedDeviceId, long offeredFeatures, long expectedCapacityBytes, GuestRam ram) {
        if (deviceId != expectedDeviceId) {
            throw new IllegalArgumentException("virtio-mmio state of device ID " + deviceId + " for a device of ID "
                    + expectedDeviceId);
        }
        if (capacityBytes != expectedCapacityBytes) {
            throw new IllegalArgumentException("virtio-mmio state of a " + capacityBytes + "-byte disk for a "
                    + expectedCapacityBytes + "-byte disk");
        }
        if ((driverFeatures & ~offeredFeatures) != 0) {
            throw new IllegalArgumentException("virtio-mmio state: driver features 0x" + Long.toHexString(driverFeatures)
                    + " include some not offered (0x" + Long.toHexString(offeredFeatures) + ")");
        }
        if ((status & ~VirtioMmio.STATUS_KNOWN) != 0) {
            throw new IllegalArgumentException("virtio-mmio state: unknown status bits 0x" + Integer.toHexString(status));
        }
        if ((status & VirtioMmio.STATUS_FEATURES_OK) != 0 && (driverFeatures & VirtioMmio.F_VERSION_1) == 0) {
            throw new IllegalArgumentException("virtio-mmio state: FEATURES_OK without VIRTIO_F_VERSION_1");
        }
        if ((interruptStatus & ~(VirtioMmio.INTERRUPT_USED_BUFFER | VirtioMmio.INTERRUPT_CONFIG_CHANGE)) != 0) {
            throw new IllegalArgumentException("virtio-mmio state: unknown interrupt bits 0x"
                    + Integer.toHexString(interruptStatus));
        }
        if (queueSize != 0 && (queueSize > Virtqueue.MAX_SIZE || Integer.bitCount(queueSize) != 1)) {
            throw new IllegalArgumentException("virtio-mmio state: queue size " + queueSize
                    + " is not a power of two up to " + Virtqueue.MAX_SIZE);
        }
        if (queueReady) {
            String problem = Virtqueue.checkRings(queueSize, descAddress, availAddress, usedAddress, ram);
            if (problem != null) {
                throw new IllegalArgumentException("virtio-mmio state: the enabled queue cannot be used: " + problem);
            }
        }
        if (lastAvailIdx < 0 || lastAvailIdx > 0xFFFF || usedIdx < 0 || usedIdx > 0xFFFF) {
            throw new IllegalArgumentException("virtio-mmio state: ring indexes " + lastAvailIdx + ", " + usedIdx
                    + " are not 16-bit");
        }
    }
}
