package io.livemig.kvm;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The virtio-mmio transport (virtio 1.x, register layout version 2) of one device with one
 * queue: the registers a driver reads and writes at the device's MMIO window, the device status
 * and feature negotiation, and the queue's configuration. The device behind it says what it is
 * and serves the queue ({@link Device}).
 *
 * <pre>
 * 0x000 MagicValue "virt"    0x004 Version 2          0x008 DeviceID        0x00c VendorID
 * 0x010 DeviceFeatures       0x014 DeviceFeaturesSel  0x020 DriverFeatures  0x024 DriverFeaturesSel
 * 0x030 QueueSel             0x034 QueueNumMax        0x038 QueueNum        0x044 QueueReady
 * 0x050 QueueNotify          0x060 InterruptStatus    0x064 InterruptACK    0x070 Status
 * 0x080/0x084 QueueDesc low/high    0x090/0x094 QueueDriver (available ring) low/high
 * 0x0a0/0x0a4 QueueDevice (used ring) low/high       0x0fc ConfigGeneration
 * 0x100... the device's configuration space
 * </pre>
 * Registers are 32-bit, little-endian, accessed 32 bits wide and aligned; another width reads
 * zero and is ignored on write. Registers a version-2 driver does not use (the legacy ones, the
 * shared-memory ones) read zero.
 *
 * <p><b>Status.</b> Writing 0 resets the device (features, status, queue, interrupt status).
 * FEATURES_OK is kept only if the driver accepted VIRTIO_F_VERSION_1 and nothing the device does
 * not offer; a driver reads Status back to learn it. A queue is served only once the status has
 * DRIVER_OK and not DEVICE_NEEDS_RESET, which the device sets when the driver broke the queue
 * (rings outside RAM, a looping chain...): from then on it ignores notifications until a reset.
 *
 * <p><b>No interrupts.</b> The micro-VMM has no interrupt controller: InterruptStatus bit 0 is set
 * when a chain is used, but nothing is injected; drivers poll the used ring. A notification is
 * served synchronously, on the vCPU thread that wrote QueueNotify, so the used ring is up to date
 * when the guest's write instruction completes.
 *
 * <p>Not thread-safe: the owning device serializes access.
 */
final class VirtioMmio {

    private static final Logger LOG = LoggerFactory.getLogger(VirtioMmio.class);

    /** "virt", little-endian. */
    static final int MAGIC = 0x74726976;
    static final int VERSION = 2;
    /** The vendor ID this transport reports: "LMIG" is not registered anywhere; virtio allows any. */
    static final int VENDOR_ID = 0x47494D4C;
    /** Where the device's configuration space starts in the window. */
    static final int CONFIG_OFFSET = 0x100;
    /** Feature bit 32: the device follows virtio 1.x (required here). */
    static final long F_VERSION_1 = 1L << 32;

    static final int STATUS_ACKNOWLEDGE = 1;
    static final int STATUS_DRIVER = 2;
    static final int STATUS_DRIVER_OK = 4;
    static final int STATUS_FEATURES_OK = 8;
    static final int STATUS_NEEDS_RESET = 64;
    static final int STATUS_FAILED = 128;
    static final int STATUS_KNOWN = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK | STATUS_FEATURES_OK
            | STATUS_NEEDS_RESET | STATUS_FAILED;
    static final int INTERRUPT_USED_BUFFER = 1;
    static final int INTERRUPT_CONFIG_CHANGE = 2;

    static final int REG_MAGIC = 0x000;
    static final int REG_VERSION = 0x004;
    static final int REG_DEVICE_ID = 0x008;
    static final int REG_VENDOR_ID = 0x00c;
    static final int REG_DEVICE_FEATURES = 0x010;
    static final int REG_DEVICE_FEATURES_SEL = 0x014;
    static final int REG_DRIVER_FEATURES = 0x020;
    static final int REG_DRIVER_FEATURES_SEL = 0x024;
    static final int REG_QUEUE_SEL = 0x030;
    static final int REG_QUEUE_NUM_MAX = 0x034;
    static final int REG_QUEUE_NUM = 0x038;
    static final int REG_QUEUE_READY = 0x044;
    static final int REG_QUEUE_NOTIFY = 0x050;
    static final int REG_INTERRUPT_STATUS = 0x060;
    static final int REG_INTERRUPT_ACK = 0x064;
    static final int REG_STATUS = 0x070;
    static final int REG_QUEUE_DESC_LOW = 0x080;
    static final int REG_QUEUE_DESC_HIGH = 0x084;
    static final int REG_QUEUE_DRIVER_LOW = 0x090;
    static final int REG_QUEUE_DRIVER_HIGH = 0x094;
    static final int REG_QUEUE_DEVICE_LOW = 0x0a0;
    static final int REG_QUEUE_DEVICE_HIGH = 0x0a4;
    static final int REG_CONFIG_GENERATION = 0x0fc;

    /** What sits behind the transport. */
    interface Device {
        /** @return the virtio device ID (2: block) */
        int deviceId();

        /** @return the feature bits offered, {@link #F_VERSION_1} among them */
        long features();

        /** @return {@code width} bytes (1, 2, 4 or 8) of configuration space at {@code offset}, little-endian */
        long readConfig(int offset, int width);

        /**
         * Serves one chain taken from the queue.
         *
         * @return the bytes written into the chain's device-writable buffers (the used length)
         * @throws Virtqueue.BrokenRing if the chain leaves the device no way to answer
         */
        int serve(Virtqueue.Chain chain) throws Virtqueue.BrokenRing;
    }

    private final Device device;
    private final GuestRam ram;
    private final Virtqueue queue;
    private final Virtqueue.Chain chain = new Virtqueue.Chain();
    private final Set<String> logged = ConcurrentHashMap.newKeySet();
    private int status;
    private long driverFeatures;
    private int deviceFeaturesSel;
    private int driverFeaturesSel;
    private int queueSel;
    private int interruptStatus;
    private int configGeneration;

    VirtioMmio(Device device, GuestRam ram) {
        this.device = device;
        this.ram = ram;
        this.queue = new Virtqueue(ram);
    }

    /**
     * A read of the window at {@code offset}, {@code width} bytes wide.
     *
     * @return the value, little-endian in the low bytes
     */
    long read(int offset, int width) {
        if (offset >= CONFIG_OFFSET) {
            return readConfig(offset - CONFIG_OFFSET, width);
        }
        if (width != 4 || offset % 4 != 0) {
            logOnce("width", "a " + width + "-byte read of register 0x" + Integer.toHexString(offset)
                    + " (registers are 32-bit): reads zero");
            return 0;
        }
        return Integer.toUnsignedLong(switch (offset) {
            case REG_MAGIC -> MAGIC;
            case REG_VERSION -> VERSION;
            case REG_DEVICE_ID -> device.deviceId();
            case REG_VENDOR_ID -> VENDOR_ID;
            case REG_DEVICE_FEATURES -> deviceFeaturesSel > 1 ? 0 : (int) (device.features() >>> (32 * deviceFeaturesSel));
            case REG_QUEUE_NUM_MAX -> queueSel == 0 ? Virtqueue.MAX_SIZE : 0;
            case REG_QUEUE_READY -> queueSel == 0 && queue.ready() ? 1 : 0;
            case REG_INTERRUPT_STATUS -> interruptStatus;
            case REG_STATUS -> status;
            case REG_CONFIG_GENERATION -> configGeneration;
            default -> 0;
        });
    }

    private long readConfig(int offset, int width) {
        if ((width != 1 && width != 2 && width != 4 && width != 8) || offset % width != 0) {
            logOnce("config", "a " + width + "-byte read of configuration offset " + offset + ": reads zero");
            return 0;
        }
        return device.readConfig(offset, width);
    }

    /** A write of {@code value} ({@code width} bytes, little-endian in the low bytes) at {@code offset}. */
    void write(int offset, int width, long value) {
        if (offset >= CONFIG_OFFSET) {
            logOnce("config-write", "a write to configuration offset " + (offset - CONFIG_OFFSET)
                    + " ignored (read-only configuration)");
            return;
        }
        if (width != 4 || offset % 4 != 0) {
            logOnce("width", "a " + width + "-byte write to register 0x" + Integer.toHexString(offset)
                    + " (registers are 32-bit): ignored");
            return;
        }
        int v = (int) value;
        switch (offset) {
            case REG_DEVICE_FEATURES_SEL -> deviceFeaturesSel = v;
            case REG_DRIVER_FEATURES_SEL -> driverFeaturesSel = v;
            case REG_DRIVER_FEATURES -> writeDriverFeatures(v);
            case REG_QUEUE_SEL -> queueSel = v;
            case REG_QUEUE_NUM -> {
                if (queueConfigurable()) {
                    queue.setSize(v);
                }
            }
            case REG_QUEUE_DESC_LOW -> {
                if (queueConfigurable()) {
                    queue.setDescAddress(low(queue.descAddress(), v));
                }
            }
            case REG_QUEUE_DESC_HIGH -> {
                if (queueConfigurable()) {
                    queue.setDescAddress(high(queue.descAddress(), v));
                }
            }
            case REG_QUEUE_DRIVER_LOW -> {
                if (queueConfigurable()) {
                    queue.setAvailAddress(low(queue.availAddress(), v));
                }
            }
            case REG_QUEUE_DRIVER_HIGH -> {
                if (queueConfigurable()) {
                    queue.setAvailAddress(high(queue.availAddress(), v));
                }
            }
            case REG_QUEUE_DEVICE_LOW -> {
                if (queueConfigurable()) {
                    queue.setUsedAddress(low(queue.usedAddress(), v));
                }
            }
            case REG_QUEUE_DEVICE_HIGH -> {
                if (queueConfigurable()) {
                    queue.setUsedAddress(high(queue.usedAddress(), v));
                }
            }
            case REG_QUEUE_READY -> writeQueueReady(v);
            case REG_QUEUE_NOTIFY -> notifyQueue(v);
            case REG_INTERRUPT_ACK -> interruptStatus &= ~v;
            case REG_STATUS -> writeStatus(v);
            default -> logOnce("reg-" + offset, "a write to read-only or unknown register 0x"
                    + Integer.toHexString(offset) + " ignored");
        }
    }

    private static long low(long was, int v) {
        return (was & 0xFFFFFFFF00000000L) | Integer.toUnsignedLong(v);
    }

    private static long high(long was, int v) {
        return (was & 0xFFFFFFFFL) | ((long) v << 32);
    }

    /** Queue 0 is selected and not enabled: its configuration may change. */
    private boolean queueConfigurable() {
        if (queueSel != 0) {
            logOnce("queue-sel", "configuring queue " + queueSel + ", which does not exist: ignored");
            return false;
        }
        if (queue.ready()) {
            logOnce("queue-ready", "configuring queue 0 while it is enabled: ignored");
            return false;
        }
        return true;
    }

    private void writeDriverFeatures(int v) {
        if ((status & STATUS_FEATURES_OK) != 0) {
            logOnce("features-late", "driver features written after FEATURES_OK: ignored");
            return;
        }
        if (driverFeaturesSel == 0) {
            driverFeatures = low(driverFeatures, v);
        } else if (driverFeaturesSel == 1) {
            driverFeatures = high(driverFeatures, v);
        } else if (v != 0) {
            logOnce("features-sel", "driver features " + Integer.toHexString(v) + " in word " + driverFeaturesSel
                    + ", where none is offered: ignored");
        }
    }

    private void writeQueueReady(int v) {
        if (queueSel != 0) {
            logOnce("queue-sel", "enabling queue " + queueSel + ", which does not exist: ignored");
            return;
        }
        String problem = queue.setReady(v != 0);
        if (problem != null) {
            needsReset("the driver enabled a queue that cannot be used: " + problem);
        }
    }

    private void writeStatus(int v) {
        if (v == 0) {
            reset();
            return;
        }
        int next = (v & ~STATUS_NEEDS_RESET) | (status & STATUS_NEEDS_RESET);
        if ((next & STATUS_FEATURES_OK) != 0 && (status & STATUS_FEATURES_OK) == 0 && !featuresAcceptable()) {
            next &= ~STATUS_FEATURES_OK;
            logOnce("features", "the driver accepted features 0x" + Long.toHexString(driverFeatures) + " of 0x"
                    + Long.toHexString(device.features()) + " offered (VIRTIO_F_VERSION_1 is required): FEATURES_OK refused");
        }
        status = next;
    }

    private boolean featuresAcceptable() {
        return (driverFeatures & ~device.features()) == 0
                && (driverFeatures & F_VERSION_1) != 0;
    }

    private void reset() {
        status = 0;
        driverFeatures = 0;
        deviceFeaturesSel = 0;
        driverFeaturesSel = 0;
        queueSel = 0;
        interruptStatus = 0;
        queue.reset();
    }

    /** Serves every chain the driver made available on queue {@code index}. */
    private void notifyQueue(int index) {
        if (index != 0) {
            logOnce("notify-" + index, "notification of queue " + index + ", which does not exist: ignored");
            return;
        }
        if ((status & STATUS_DRIVER_OK) == 0 || (status & STATUS_NEEDS_RESET) != 0 || !queue.ready()) {
            logOnce("notify-early", "notification before the device is live (status 0x" + Integer.toHexString(status)
                    + ", queue ready " + queue.ready() + "): ignored");
            return;
        }
        try {
            for (int head = queue.takeAvailable(); head >= 0; head = queue.takeAvailable()) {
                queue.readChain(head, chain);
                int written = device.serve(chain);
                queue.putUsed(head, written);
                interruptStatus |= INTERRUPT_USED_BUFFER;
            }
        } catch (Virtqueue.BrokenRing e) {
            needsReset(e.getMessage());
        }
    }

    private void needsReset(String why) {
        status |= STATUS_NEEDS_RESET;
        interruptStatus |= INTERRUPT_CONFIG_CHANGE;
        // WARN once: a guest that breaks its queue, resets and breaks it again must not flood the log.
        if (logged.add("needs-reset")) {
            LOG.warn("virtio device {}: {}; DEVICE_NEEDS_RESET until the driver resets it (further ones at DEBUG)",
                    device.deviceId(), why);
        } else {
            LOG.debug("virtio device {}: {}; DEVICE_NEEDS_RESET", device.deviceId(), why);
        }
    }

    private void logOnce(String key, String message) {
        if (logged.add(key)) {
            LOG.info("virtio device {}: {} (logged once)", device.deviceId(), message);
        }
    }

    /** @return the transport's state, for {@link VirtioMmioState} */
    VirtioMmioState save(long capacityBytes) {
        return new VirtioMmioState(device.deviceId(), capacityBytes, driverFeatures, deviceFeaturesSel,
                driverFeaturesSel, status, interruptStatus, configGeneration, queueSel, queue.size(), queue.ready(),
                queue.descAddress(), queue.availAddress(), queue.usedAddress(), queue.lastAvailIdx(), queue.usedIdx());
    }

    /**
     * Checks {@code s} against this device and guest RAM, then loads it; nothing changes if it is refused.
     *
     * @throws IllegalArgumentException if the state is not one this device could have been in
     */
    void load(VirtioMmioState s, long capacityBytes) {
        s.check(device.deviceId(), device.features(), capacityBytes, ram);
        reset();
        driverFeatures = s.driverFeatures();
        deviceFeaturesSel = s.deviceFeaturesSel();
        driverFeaturesSel = s.driverFeaturesSel();
        status = s.status();
        interruptStatus = s.interruptStatus();
        configGeneration = s.configGeneration();
        queueSel = s.queueSel();
        queue.setSize(s.queueSize());
        queue.setDescAddress(s.descAddress());
        queue.setAvailAddress(s.availAddress());
        queue.setUsedAddress(s.usedAddress());
        queue.restore(s.queueReady(), s.lastAvailIdx(), s.usedIdx());
    }

    /** @return the device status register */
    int status() {
        return status;
    }
}
