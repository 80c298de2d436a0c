package io.livemig.kvm;

import io.livemig.disk.RawImage;
import io.livemig.spi.MigratableDevice;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The micro-VMM's disk: a virtio block device (virtio 1.x, device ID 2) on the virtio-mmio
 * transport ({@link VirtioMmio}) at {@link #MMIO_BASE}, with one split virtqueue
 * ({@link Virtqueue}), backed by a {@link RawImage}. It offers VIRTIO_F_VERSION_1 (required) and
 * VIRTIO_BLK_F_FLUSH; its configuration space holds the capacity in 512-byte sectors.
 *
 * <pre>
 * request  = header:{type:u32 reserved:u32 sector:u64}  data[]  status:u8
 *            header device-readable; data readable for OUT, writable for IN and GET_ID; status
 *            writable, the chain's last byte
 * type     = 0 IN (read)  1 OUT (write)  4 FLUSH  8 GET_ID (20 bytes, the disk id, NUL-padded)
 * status   = 0 OK  1 IOERR  2 UNSUPP
 * </pre>
 * The descriptors may split the request anywhere: the device reads the readable buffers as one
 * byte stream and the writable ones as another.
 *
 * <p><b>Serving.</b> Requests are served when the guest writes QueueNotify, synchronously, on the
 * vCPU thread, in order: a read lands in guest RAM and a write in the image before the guest's
 * write instruction completes, and nothing is in flight once the vCPUs are paused (the source's
 * {@code drain} has nothing to wait for). What the device writes into guest RAM (read data, the
 * used ring, the status byte) is reported to the dirty log with {@link KvmVm#vmmWrote}, which
 * KVM's own log would miss. Writes go through {@link RawImage#write}, which tracks the blocks.
 *
 * <p><b>A hostile guest</b> gets an error, never a crash. A request whose buffers are not guest
 * RAM, whose header is short, whose data is not whole sectors, or that reaches past the disk's
 * end completes with IOERR; an unknown type with UNSUPP; an image that fails to read or write
 * gives IOERR (logged). A chain the device cannot answer at all (no writable status byte in RAM)
 * or a broken ring sets DEVICE_NEEDS_RESET.
 *
 * <p><b>Migration.</b> As a {@link MigratableDevice} it saves the transport and queue state
 * ({@link VirtioMmioState}); the target's device, backed by the image the migration wrote,
 * continues from it. No request is lost or served twice across it, because none is in flight in
 * the VMM at the pause: every request the guest notified was completed (data, used ring, status
 * byte) before its QueueNotify write completed, and a pause completes a vCPU's MMIO exit before
 * it returns ({@link MicroVmm#pause()}). A request the guest put in the available ring but has
 * not notified yet travels in guest RAM (its descriptors and the ring), with the device's next
 * available index and used index in the saved state, so the target serves it, once, at the
 * guest's notify there. The dirtier guest checks this with its counts of requests notified and
 * completed against the used index ({@code KvmDeviceStateMigrationTest}).
 * Thread-safe: MMIO, state and counters are serialized by this object.
 * Does not own the image: the {@link MicroVmm} that made it closes it.
 */
public final class VirtioBlk implements MigratableDevice {

    private static final Logger LOG = LoggerFactory.getLogger(VirtioBlk.class);

    /** The guest-physical address of the device's registers: in the 32-bit MMIO hole, clear of RAM. */
    public static final long MMIO_BASE = 0xD000_0000L;
    /** The size of the device's MMIO window. */
    public static final int MMIO_BYTES = 0x1000;
    /** The virtio device ID of a block device. */
    public static final int DEVICE_ID = 2;
    /** The sector size of virtio-blk requests and capacity. */
    public static final int SECTOR_BYTES = 512;

    static final int T_IN = 0;
    static final int T_OUT = 1;
    static final int T_FLUSH = 4;
    static final int T_GET_ID = 8;
    static final int S_OK = 0;
    static final int S_IOERR = 1;
    static final int S_UNSUPP = 2;
    static final int ID_BYTES = 20;
    static final int HEADER_BYTES = 16;
    static final long F_FLUSH = 1L << 9;
    /** The most bytes handed to the image at once: a ByteBuffer holds at most 2 GiB, a descriptor 4 GiB. */
    private static final long MAX_TRANSFER_BYTES = 1L << 30;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * What the device has done since it was made.
     *
     * @param requests      requests completed, whatever their status
     * @param failed        requests completed with IOERR or UNSUPP
     * @param bytesRead     bytes read from the image into guest RAM (IN)
     * @param bytesWritten  bytes written from guest RAM to the image (OUT)
     * @param notifications QueueNotify writes served
     */
    public record Counters(long requests, long failed, long bytesRead, long bytesWritten, long notifications) {
    }

    private final RawImage image;
    private final GuestRam ram;
    private final long capacityBytes;
    private final VirtioMmio transport;
    private final byte[] idBytes = new byte[ID_BYTES];
    private final byte[] header = new byte[HEADER_BYTES];
    private final MemorySegment headerSegment = MemorySegment.ofArray(header);
    private long requests;
    private long failed;
    private long bytesRead;
    private long bytesWritten;
    private long notifications;
    private boolean ioErrorLogged;

    /** @param image the backing image, not owned; its size must be whole sectors */
    VirtioBlk(KvmVm vm, RawImage image) {
        this.image = Objects.requireNonNull(image, "image");
        this.ram = new GuestRam(vm);
        this.capacityBytes = image.descriptor().sizeBytes();
        if (capacityBytes % SECTOR_BYTES != 0) {
            throw new IllegalArgumentException("a virtio disk is whole 512-byte sectors, not " + capacityBytes + " bytes");
        }
        byte[] id = image.descriptor().id().getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(id, 0, idBytes, 0, Math.min(id.length, ID_BYTES));
        this.transport = new VirtioMmio(new Blk(), ram);
    }

    /** {@return the image the device serves, not owned by the device} */
    public RawImage image() {
        return image;
    }

    /** {@return {@code "virtio-blk:"} and the disk's id} */
    @Override
    public String id() {
        return "virtio-blk:" + image.descriptor().id();
    }

    /** {@return what the device has done so far} */
    public synchronized Counters counters() {
        return new Counters(requests, failed, bytesRead, bytesWritten, notifications);
    }

    /** {@return the device status register (virtio's ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, NEEDS_RESET bits)} */
    public synchronized int deviceStatus() {
        return transport.status();
    }

    /** {@return whether {@code guestPhysicalAddress} is in the device's MMIO window} */
    boolean claims(long guestPhysicalAddress) {
        return guestPhysicalAddress >= MMIO_BASE && guestPhysicalAddress < MMIO_BASE + MMIO_BYTES;
    }

    /**
     * One MMIO access of the window, as a {@code KVM_EXIT_MMIO} reports it.
     *
     * @param guestPhysicalAddress the address, {@linkplain #claims claimed} by this device
     * @param data                 the exit's 8 data bytes: read from for a write, filled for a read
     * @param width                the access width, 1 to 8 bytes
     * @param isWrite              whether the guest writes
     */
    synchronized void mmio(long guestPhysicalAddress, MemorySegment data, int width, boolean isWrite) {
        int offset = (int) (guestPhysicalAddress - MMIO_BASE);
        if (isWrite) {
            long value = 0;
            for (int i = width - 1; i >= 0; i--) {
                value = (value << 8) | Byte.toUnsignedLong(data.get(ValueLayout.JAVA_BYTE, i));
            }
            if (offset == VirtioMmio.REG_QUEUE_NOTIFY) {
                notifications++;
            }
            transport.write(offset, width, value);
        } else {
            long value = transport.read(offset, width);
            for (int i = 0; i < width; i++) {
                data.set(ValueLayout.JAVA_BYTE, i, (byte) (value >>> (8 * i)));
            }
        }
    }

    /** {@return the transport and queue state; the VM is paused, so no request is in flight} */
    @Override
    public synchronized byte[] saveState() {
        return transport.save(capacityBytes).encode();
    }

    /**
     * Loads a state {@link #saveState()} made, after checking it against this device, its disk's
     * size and guest RAM.
     *
     * @throws IllegalArgumentException if the state is malformed or not one this device could
     *                                  have been in; nothing changes then
     */
    @Override
    public synchronized void loadState(byte[] state) {
        transport.load(VirtioMmioState.decode(state), capacityBytes);
    }

    /** The block device behind the transport; runs under the {@link VirtioBlk}'s lock. */
    private final class Blk implements VirtioMmio.Device {

        @Override
        public int deviceId() {
            return DEVICE_ID;
        }

        @Override
        public long features() {
            return VirtioMmio.F_VERSION_1 | F_FLUSH;
        }

        /** capacity:u64 in sectors at 0; the rest of the configuration (size_max, seg_max...) reads zero. */
        @Override
        public long readConfig(int offset, int width) {
            long capacity = capacityBytes / SECTOR_BYTES;
            long value = 0;
            for (int i = 0; i < width; i++) {
                int at = offset + i;
                long b = at < 8 ? (capacity >>> (8 * at)) & 0xFF : 0;
                value |= b << (8 * i);
            }
            return value;
        }

        @Override
        public int serve(Virtqueue.Chain c) throws Virtqueue.BrokenRing {
            int last = c.count - 1;
            long statusLength = Integer.toUnsignedLong(c.length[last]);
            long statusAddress = c.address[last] + statusLength - 1;
            if (!c.writable[last] || statusLength < 1 || c.address[last] < 0 || statusAddress < c.address[last]
                    || !ram.contains(statusAddress, 1)) {
                throw new Virtqueue.BrokenRing("a request whose last descriptor (0x" + Long.toHexString(c.address[last])
                        + ", " + statusLength + " bytes) has no device-writable status byte in RAM");
            }
            int status;
            int written = 1;
            if (!buffersInRam(c) || c.misordered) {
                status = S_IOERR;
            } else {
                long readable = streamBytes(c, 0, c.firstWritable);
                long writable = streamBytes(c, c.firstWritable, c.count);
                if (readable < HEADER_BYTES) {
                    status = S_IOERR;
                } else {
                    gatherHeader(c);
                    int type = headerSegment.get(U32, 0);
                    long sector = headerSegment.get(U64, 8);
                    long out = readable - HEADER_BYTES;
                    long in = writable - 1;
                    status = switch (type) {
                        case T_IN -> out == 0 && fits(sector, in) ? read(c, sector * SECTOR_BYTES, in) : S_IOERR;
                        case T_OUT -> in == 0 && fits(sector, out) ? write(c, sector * SECTOR_BYTES, out) : S_IOERR;
                        case T_FLUSH -> flush();
                        case T_GET_ID -> in >= ID_BYTES ? getId(c) : S_IOERR;
                        default -> S_UNSUPP;
                    };
                    if (status == S_OK && type == T_IN) {
                        written = (int) (in + 1);
                    } else if (status == S_OK && type == T_GET_ID) {
                        written = ID_BYTES + 1;
                    }
                }
            }
            MemorySegment statusByte = ram.slice(statusAddress, 1);
            statusByte.set(ValueLayout.JAVA_BYTE, 0, (byte) status);
            ram.wrote(statusAddress, 1);
            requests++;
            if (status != S_OK) {
                failed++;
            }
            return written;
        }

        /** Every buffer of the chain is RAM (zero-length ones are ignored). */
        private boolean buffersInRam(Virtqueue.Chain c) {
            for (int i = 0; i < c.count; i++) {
                long length = Integer.toUnsignedLong(c.length[i]);
                if (length != 0 && !ram.contains(c.address[i], length)) {
                    return false;
                }
            }
            return true;
        }

        private static long streamBytes(Virtqueue.Chain c, int from, int to) {
            long total = 0;
            for (int i = from; i < to; i++) {
                total += Integer.toUnsignedLong(c.length[i]);
            }
            return total;
        }

        /** Whether {@code bytes} at {@code sector} are whole sectors on the disk. */
        private boolean fits(long sector, long bytes) {
            long sectors = capacityBytes / SECTOR_BYTES;
            return bytes % SECTOR_BYTES == 0 && sector >= 0 && sector <= sectors && bytes / SECTOR_BYTES <= sectors - sector;
        }

        /** Copies the first {@value #HEADER_BYTES} bytes of the readable stream into {@link #headerSegment}. */
        private void gatherHeader(Virtqueue.Chain c) {
            long done = 0;
            for (int i = 0; i < c.firstWritable && done < HEADER_BYTES; i++) {
                long n = Math.min(Integer.toUnsignedLong(c.length[i]), HEADER_BYTES - done);
                if (n > 0) {
                    MemorySegment.copy(ram.slice(c.address[i], n), 0, headerSegment, done, n);
                    done += n;
                }
            }
        }

        /** IN: {@code bytes} from the disk at {@code offset} into the writable stream, before its status byte. */
        private int read(Virtqueue.Chain c, long offset, long bytes) {
            long done = 0;
            try {
                for (int i = c.firstWritable; i < c.count && done < bytes; i++) {
                    long n = Math.min(Integer.toUnsignedLong(c.length[i]), bytes - done);
                    if (n == 0) {
                        continue;
                    }
                    try {
                        for (long at = 0; at < n; at += MAX_TRANSFER_BYTES) {
                            long piece = Math.min(MAX_TRANSFER_BYTES, n - at);
                            image.read(offset + done + at, ram.slice(c.address[i] + at, piece).asByteBuffer());
                        }
                    } finally {
                        ram.wrote(c.address[i], n); // even a failed read may have written part of it
                    }
                    done += n;
                }
            } catch (RuntimeException e) {
                return ioError("read " + bytes + " bytes at " + offset, e);
            }
            bytesRead += bytes;
            return S_OK;
        }

        /** OUT: the readable stream after the header, {@code bytes} of it, to the disk at {@code offset}. */
        private int write(Virtqueue.Chain c, long offset, long bytes) {
            long done = 0;
            long position = 0;
            try {
                for (int i = 0; i < c.firstWritable && done < bytes; i++) {
                    long length = Integer.toUnsignedLong(c.length[i]);
                    long from = Math.max(HEADER_BYTES - position, 0);
                    position += length;
                    if (from >= length) {
                        continue;
                    }
                    long n = Math.min(length - from, bytes - done);
                    for (long at = 0; at < n; at += MAX_TRANSFER_BYTES) {
                        long piece = Math.min(MAX_TRANSFER_BYTES, n - at);
                        image.write(offset + done + at, ram.slice(c.address[i] + from + at, piece).asByteBuffer());
                    }
                    done += n;
                }
            } catch (RuntimeException e) {
                return ioError("write " + bytes + " bytes at " + offset, e);
            }
            bytesWritten += bytes;
            return S_OK;
        }

        private int flush() {
            try {
                image.flush();
                return S_OK;
            } catch (RuntimeException e) {
                return ioError("flush", e);
            }
        }

        /** GET_ID: the 20 id bytes into the start of the writable stream. */
        private int getId(Virtqueue.Chain c) {
            int done = 0;
            for (int i = c.firstWritable; i < c.count && done < ID_BYTES; i++) {
                int n = (int) Math.min(Integer.toUnsignedLong(c.length[i]), ID_BYTES - done);
                if (n == 0) {
                    continue;
                }
                MemorySegment.copy(MemorySegment.ofArray(idBytes), done, ram.slice(c.address[i], n), 0, n);
                ram.wrote(c.address[i], n);
                done += n;
            }
            return S_OK;
        }

        private int ioError(String what, RuntimeException e) {
            if (!ioErrorLogged) {
                ioErrorLogged = true;
                LOG.warn("disk {} ({}): {} failed; the guest gets IOERR (further failures at DEBUG)",
                        image.descriptor().id(), image.path(), what, e);
            } else {
                LOG.debug("disk {}: {} failed", image.descriptor().id(), what, e);
            }
            return S_IOERR;
        }
    }
}
