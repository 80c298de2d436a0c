package io.livemig.kvm;

import io.livemig.kvm.internal.Vfio;
import io.livemig.kvm.internal.VfioAbi;
import io.livemig.spi.DeviceMigration;
import io.livemig.spi.DeviceState;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.PageSet;
import io.livemig.spi.VmOperationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

import static io.livemig.kvm.internal.VfioAbi.DEVICE_FEATURE;
import static io.livemig.kvm.internal.VfioAbi.DEVICE_FEATURE_GET;
import static io.livemig.kvm.internal.VfioAbi.DEVICE_FEATURE_PROBE;
import static io.livemig.kvm.internal.VfioAbi.DEVICE_FEATURE_SET;

/**
 * A VFIO device (a pass-through PCI function bound to a vfio-pci variant driver that supports
 * migration, such as mlx5-vfio-pci) as a {@link MigratableDevice}: its state moves through
 * Linux's VFIO migration v2 uAPI ({@link #migration()}), and the pages it writes into guest
 * memory by DMA through the device's DMA logging ({@link #dmaTracker()}).
 *
 * <p><b>What the caller does.</b> Opens the device and makes it usable: a group
 * ({@code /dev/vfio/N} set on a container with an IOMMU type, then
 * {@code VFIO_GROUP_GET_DEVICE_FD}) or a device cdev ({@code /dev/vfio/devices/vfioX} bound to
 * an iommufd), with guest RAM mapped for DMA at I/O virtual addresses equal to its guest-physical
 * addresses. This class takes the resulting device fd and never closes it: the fd, the
 * container or iommufd and the DMA mappings stay the caller's. What this class opens, the
 * migration data fds, it closes.
 *
 * <p><b>Capabilities.</b> Probed once, at construction: {@link #migration()} is present if the
 * device answers {@code VFIO_DEVICE_FEATURE_MIGRATION} (its flags give the optional states), and
 * {@link #dmaTracker()} if it accepts a probe of {@code VFIO_DEVICE_FEATURE_DMA_LOGGING_START}.
 * A device with neither is still a valid VFIO device, which cannot migrate (the pass-through
 * policy's unplug and replug applies to it). {@link #saveState()} and {@link #loadState} always
 * throw: a VFIO device's state is a stream, moved by {@link #migration()}.
 *
 * <p><b>What was exercised.</b> On the development machine no VFIO device exists: the ABI
 * (every constant, struct size and offset against linux/vfio.h) and the refusal of a non-VFIO fd
 * are tested, nothing of a device's behaviour; see docs/vfio.md.
 *
 * <p><b>Threading.</b> Thread-safe (every operation locks the device); the engine calls one at a
 * time.
 */
public final class VfioDevice implements MigratableDevice, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(VfioDevice.class);
    /** The most a read or write of a heap buffer moves per system call, through a native buffer. */
    private static final int BOUNCE_BYTES = 1 << 20;

    private final String id;
    private final int deviceFd;
    private final MemoryLayout guestLayout;
    private final Migration migration;
    private final DmaTracker dmaTracker;
    private boolean closed;

    /**
     * Takes a VFIO device fd the caller opened and probes its migration and DMA logging support.
     *
     * @param id          the device's id, matched between source and target
     * @param deviceFd    a VFIO device fd, ready for use (see the class comment); the caller
     *                    keeps it and closes it after {@link #close()}
     * @param guestLayout the guest's RAM, which the device's DMA logging covers (I/O virtual
     *                    address = guest-physical address = page number times page size)
     * @throws IllegalArgumentException if {@code deviceFd} is not a usable VFIO device fd
     *                                  ({@code VFIO_DEVICE_GET_INFO} fails); its cause, a
     *                                  {@link KvmException}, names the ioctl and the errno
     * @throws VmOperationException     if the device fails a probe otherwise than by not
     *                                  supporting the feature
     */
    public VfioDevice(String id, int deviceFd, MemoryLayout guestLayout) {
        this.id = Objects.requireNonNull(id, "id");
        this.deviceFd = deviceFd;
        this.guestLayout = Objects.requireNonNull(guestLayout, "guestLayout");
        try (Arena a = Arena.ofConfined()) {
            int r = Vfio.ioctl(deviceFd, VfioAbi.DEVICE_GET_INFO, VfioAbi.deviceInfo(a));
            if (r < 0) {
                throw new IllegalArgumentException(notADevice(deviceFd, -r), Vfio.fail("VFIO_DEVICE_GET_INFO", -r));
            }
            MemorySegment f = VfioAbi.feature(a, DEVICE_FEATURE_GET, VfioAbi.DEVICE_FEATURE_MIGRATION,
                    VfioAbi.MIGRATION_BYTES);
            r = Vfio.ioctl(deviceFd, DEVICE_FEATURE, f);
            if (r == -Vfio.ENOTTY) {
                migration = null;
            } else if (r < 0) {
                throw failed("VFIO_DEVICE_FEATURE(GET MIGRATION)", -r, null);
            } else {
                migration = new Migration(VfioAbi.supportedStates(VfioAbi.migrationFlags(VfioAbi.data(f))));
            }
            f = VfioAbi.feature(a, DEVICE_FEATURE_PROBE | DEVICE_FEATURE_SET,
                    VfioAbi.DEVICE_FEATURE_DMA_LOGGING_START, 0);
            r = Vfio.ioctl(deviceFd, DEVICE_FEATURE, f);
            if (r == -Vfio.ENOTTY) {
                dmaTracker = null;
            } else if (r < 0) {
                throw failed("VFIO_DEVICE_FEATURE(PROBE SET DMA_LOGGING_START)", -r, null);
            } else {
                dmaTracker = new DmaTracker();
            }
        }
        LOG.debug("VFIO device {} (fd {}): migration {}, DMA logging {}", id, deviceFd,
                migration == null ? "unsupported" : migration.supported, dmaTracker != null);
    }

    private static String notADevice(int fd, int errno) {
        return switch (errno) {
            case Vfio.ENOTTY -> "fd " + fd + " is not a VFIO device fd";
            case Vfio.EINVAL -> "fd " + fd + " is not a usable VFIO device fd (a device cdev must be bound to an"
                    + " iommufd first, with VFIO_DEVICE_BIND_IOMMUFD)";
            default -> "fd " + fd + " is not a usable VFIO device fd";
        };
    }

    @Override
    public String id() {
        return id;
    }

    /**
     * Always throws: a VFIO device's state is a data stream read through {@link #migration()}.
     *
     * @return never
     * @throws VmOperationException always, saying so (or that the device cannot migrate at all)
     */
    @Override
    public byte[] saveState() {
        throw new VmOperationException(wholeStateRefusal("saved"));
    }

    /**
     * Always throws: a VFIO device's state is a data stream written through {@link #migration()}.
     *
     * @param state ignored
     * @throws VmOperationException always, saying so (or that the device cannot migrate at all)
     */
    @Override
    public void loadState(byte[] state) {
        throw new VmOperationException(wholeStateRefusal("loaded"));
    }

    private String wholeStateRefusal(String verb) {
        return migration != null
                ? "VFIO device " + id + " migrates through migration() (VFIO migration v2's states and data stream);"
                        + " its state is never " + verb + " whole"
                : "VFIO device " + id + " does not support VFIO migration (no VFIO_DEVICE_FEATURE_MIGRATION);"
                        + " its state cannot be " + verb + ": unplug it before migrating";
    }

    /** {@return the device's VFIO migration, or empty if it supports none} */
    @Override
    public Optional<DeviceMigration> migration() {
        return Optional.ofNullable(migration);
    }

    /** {@return the device's DMA logging over the guest's RAM, or empty if it has none} */
    @Override
    public Optional<DirtyTracker> dmaTracker() {
        return Optional.ofNullable(dmaTracker);
    }

    /**
     * Closes the migration data fd if one is open and stops DMA logging if it runs; the device
     * fd stays open (it is the caller's). Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (migration != null) {
            migration.closeDataFd();
            migration.bounce.close();
        }
        if (dmaTracker != null) {
            try {
                dmaTracker.stop();
            } catch (DirtyTracker.TrackingException e) {
                LOG.warn("VFIO device {}: stopping DMA logging on close failed", id, e);
            }
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("VFIO device " + id + " is closed");
        }
    }

    private VmOperationException failed(String call, int errno, String context) {
        KvmException cause = Vfio.fail(call, errno);
        return new VmOperationException("VFIO device " + id + ": " + cause.getMessage()
                + (context == null ? "" : "; " + context), cause);
    }

    /** VFIO migration v2 over the device fd: SET/GET of MIG_DEVICE_STATE, and the data fd. */
    private final class Migration implements DeviceMigration {

        private final Set<DeviceState> supported;
        private final Arena bounce = Arena.ofShared();
        private MemorySegment bounceBuffer;
        /** The state after the last transition, or as last read. */
        private DeviceState current;
        private int dataFd = -1;

        Migration(Set<DeviceState> supported) {
            this.supported = supported;
            this.current = readState();
        }

        @Override
        public Set<DeviceState> supportedStates() {
            return Set.copyOf(supported);
        }

        @Override
        public DeviceState state() {
            synchronized (VfioDevice.this) {
                requireOpen();
                current = readState();
                return current;
            }
        }

        private DeviceState readState() {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment f = VfioAbi.feature(a, DEVICE_FEATURE_GET, VfioAbi.DEVICE_FEATURE_MIG_DEVICE_STATE,
                        VfioAbi.MIG_STATE_BYTES);
                int r = Vfio.ioctl(deviceFd, DEVICE_FEATURE, f);
                if (r < 0) {
                    throw failed("VFIO_DEVICE_FEATURE(GET MIG_DEVICE_STATE)", -r, null);
                }
                return VfioAbi.migState(VfioAbi.data(f));
            }
        }

        /**
         * One SET of MIG_DEVICE_STATE to {@code next}: the kernel runs the arcs of the path
         * itself. The path is validated here first ({@link DeviceState#path}), and the one
         * combination the kernel refuses although arcs lead there (STOP_COPY back into pre-copy).
         */
        @Override
        public void transition(DeviceState next) {
            synchronized (VfioDevice.this) {
                requireOpen();
                DeviceState from = readState();
                current = from;
                DeviceState.path(from, next, supported);
                if (from == DeviceState.STOP_COPY
                        && (next == DeviceState.PRE_COPY || next == DeviceState.PRE_COPY_P2P)) {
                    throw new IllegalStateException("no transition STOP_COPY -> " + next
                            + ": VFIO does not permit returning to pre-copy once the stop-copy began");
                }
                if (from == next) {
                    return;
                }
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment f = VfioAbi.feature(a, DEVICE_FEATURE_SET, VfioAbi.DEVICE_FEATURE_MIG_DEVICE_STATE,
                            VfioAbi.MIG_STATE_BYTES);
                    VfioAbi.encodeMigState(VfioAbi.data(f), next);
                    int r = Vfio.ioctl(deviceFd, DEVICE_FEATURE, f);
                    if (r < 0) {
                        String where;
                        try {
                            current = readState();
                            where = "the device is now in " + current;
                        } catch (VmOperationException e) {
                            where = "its state could not be read back (" + e.getMessage() + ")";
                        }
                        if (!streams(current)) {
                            closeDataFd();
                        }
                        throw failed("VFIO_DEVICE_FEATURE(SET MIG_DEVICE_STATE " + from + " -> " + next + ")", -r,
                                where);
                    }
                    int fd = VfioAbi.migStateDataFd(VfioAbi.data(f));
                    if (fd >= 0) {
                        closeDataFd();
                        dataFd = fd;
                    }
                    current = next;
                    if (!streams(next)) {
                        closeDataFd();
                    }
                }
            }
        }

        private static boolean streams(DeviceState s) {
            return s != null && (s.saving() || s == DeviceState.RESUMING);
        }

        @Override
        public int read(ByteBuffer destination) {
            synchronized (VfioDevice.this) {
                requireOpen();
                if (current == null || !current.saving() || dataFd < 0) {
                    throw new IllegalStateException("VFIO device " + id + " is not saving (state " + current + ")");
                }
                if (!destination.hasRemaining()) {
                    return 0;
                }
                boolean direct = destination.isDirect();
                MemorySegment into = direct ? MemorySegment.ofBuffer(destination)
                        : bounce().asSlice(0, Math.min(destination.remaining(), BOUNCE_BYTES));
                long n = Vfio.read(dataFd, into);
                if (n > 0) {
                    if (direct) {
                        destination.position(destination.position() + (int) n);
                    } else {
                        destination.put(into.asSlice(0, n).asByteBuffer());
                    }
                    return (int) n;
                }
                boolean preCopy = current != DeviceState.STOP_COPY;
                if (n == 0) {
                    return preCopy ? 0 : -1;
                }
                if (preCopy && (n == -Vfio.ENOMSG || n == -Vfio.EAGAIN)) {
                    return 0;
                }
                throw failed("read(migration data fd) in " + current, (int) -n, null);
            }
        }

        @Override
        public void write(ByteBuffer source) {
            synchronized (VfioDevice.this) {
                requireOpen();
                if (current != DeviceState.RESUMING || dataFd < 0) {
                    throw new IllegalStateException("VFIO device " + id + " is not resuming (state " + current + ")");
                }
                while (source.hasRemaining()) {
                    MemorySegment from;
                    if (source.isDirect()) {
                        from = MemorySegment.ofBuffer(source);
                    } else {
                        int len = Math.min(source.remaining(), BOUNCE_BYTES);
                        from = bounce().asSlice(0, len);
                        from.copyFrom(MemorySegment.ofBuffer(source.slice(source.position(), len)));
                    }
                    long n = Vfio.write(dataFd, from);
                    if (n < 0) {
                        throw failed("write(migration data fd) in RESUMING", (int) -n, null);
                    }
                    if (n == 0) {
                        throw new VmOperationException("VFIO device " + id
                                + ": write(migration data fd) in RESUMING accepted no byte of " + from.byteSize());
                    }
                    source.position(source.position() + (int) n);
                }
            }
        }

        /**
         * {@inheritDoc}
         *
         * <p>In a pre-copy state, {@code VFIO_MIG_GET_PRECOPY_INFO}'s
         * {@code initial_bytes + dirty_bytes}; elsewhere {@code VFIO_DEVICE_FEATURE_MIG_DATA_SIZE}'s
         * {@code stop_copy_length}, or 0 if the kernel or driver lacks that feature (ENOTTY).
         *
         * @throws VmOperationException if the device fails the request otherwise
         */
        @Override
        public long pendingBytes() {
            synchronized (VfioDevice.this) {
                requireOpen();
                try (Arena a = Arena.ofConfined()) {
                    if ((current == DeviceState.PRE_COPY || current == DeviceState.PRE_COPY_P2P) && dataFd >= 0) {
                        MemorySegment info = VfioAbi.precopyInfo(a);
                        int r = Vfio.ioctl(dataFd, VfioAbi.MIG_GET_PRECOPY_INFO, info);
                        if (r < 0) {
                            throw failed("VFIO_MIG_GET_PRECOPY_INFO", -r, null);
                        }
                        return VfioAbi.precopyPendingBytes(info);
                    }
                    MemorySegment f = VfioAbi.feature(a, DEVICE_FEATURE_GET, VfioAbi.DEVICE_FEATURE_MIG_DATA_SIZE,
                            VfioAbi.MIG_DATA_SIZE_BYTES);
                    int r = Vfio.ioctl(deviceFd, DEVICE_FEATURE, f);
                    if (r == -Vfio.ENOTTY) {
                        return 0;
                    }
                    if (r < 0) {
                        throw failed("VFIO_DEVICE_FEATURE(GET MIG_DATA_SIZE)", -r, null);
                    }
                    return VfioAbi.stopCopyLength(VfioAbi.data(f));
                }
            }
        }

        private MemorySegment bounce() {
            if (bounceBuffer == null) {
                bounceBuffer = bounce.allocate(BOUNCE_BYTES, 8);
            }
            return bounceBuffer;
        }

        void closeDataFd() {
            if (dataFd >= 0) {
                int fd = dataFd;
                dataFd = -1;
                Vfio.close(fd);
            }
        }
    }

    /** The device's DMA logging over every RAM region of the guest, one report per region. */
    private final class DmaTracker implements DirtyTracker {

        private Arena bitmaps;
        private List<MemorySegment> regionBitmaps;
        private PageSet pending;
        private boolean tracking;

        @Override
        public void start() {
            synchronized (VfioDevice.this) {
                requireOpen();
                stop();
                List<MemoryRegion> regions = guestLayout.regions();
                long page = guestLayout.pageSizeBytes();
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment ranges = a.allocate((long) VfioAbi.DMA_LOGGING_RANGE_BYTES * regions.size(), 8);
                    for (int i = 0; i < regions.size(); i++) {
                        MemoryRegion r = regions.get(i);
                        VfioAbi.encodeRange(ranges, i, r.firstPage() * page, r.pageCount() * page);
                    }
                    MemorySegment f = VfioAbi.feature(a, DEVICE_FEATURE_SET, VfioAbi.DEVICE_FEATURE_DMA_LOGGING_START,
                            VfioAbi.DMA_LOGGING_CONTROL_BYTES);
                    VfioAbi.encodeDmaLoggingControl(VfioAbi.data(f), page, ranges, regions.size());
                    int r = Vfio.ioctl(deviceFd, DEVICE_FEATURE, f);
                    if (r < 0) {
                        throw new TrackingException("VFIO device " + id + ": DMA logging of " + regions.size()
                                + " ranges did not start", Vfio.fail("VFIO_DEVICE_FEATURE(SET DMA_LOGGING_START)", -r));
                    }
                    LOG.debug("VFIO device {}: DMA logging started, device page size {} bytes", id,
                            VfioAbi.dmaLoggingPageSize(VfioAbi.data(f)));
                }
                bitmaps = Arena.ofShared();
                regionBitmaps = regions.stream()
                        .map(r -> bitmaps.allocate(VfioAbi.bitmapWords(r.pageCount()) * 8, 8))
                        .toList();
                pending = new PageSet(guestLayout.pageSpan());
                tracking = true;
            }
        }

        @Override
        public PageSet collect() {
            synchronized (VfioDevice.this) {
                requireTracking();
                List<MemoryRegion> regions = guestLayout.regions();
                long page = guestLayout.pageSizeBytes();
                try (Arena a = Arena.ofConfined()) {
                    for (int i = 0; i < regions.size(); i++) {
                        MemoryRegion region = regions.get(i);
                        MemorySegment bitmap = regionBitmaps.get(i);
                        bitmap.fill((byte) 0);
                        MemorySegment f = VfioAbi.feature(a, DEVICE_FEATURE_GET,
                                VfioAbi.DEVICE_FEATURE_DMA_LOGGING_REPORT, VfioAbi.DMA_LOGGING_REPORT_BYTES);
                        VfioAbi.encodeDmaLoggingReport(VfioAbi.data(f), region.firstPage() * page,
                                region.pageCount() * page, page, bitmap);
                        int r = Vfio.ioctl(deviceFd, DEVICE_FEATURE, f);
                        if (r < 0) {
                            // The kernel says the log is corrupt after any error: what was merged
                            // stays pending, and the caller must treat the memory as dirty.
                            throw new TrackingException("VFIO device " + id + ": DMA log of pages "
                                    + region.firstPage() + ".." + (region.endPage() - 1)
                                    + " unreadable; consider all guest memory dirty",
                                    Vfio.fail("VFIO_DEVICE_FEATURE(GET DMA_LOGGING_REPORT)", -r));
                        }
                        VfioAbi.orBitmap(pending, region.firstPage(), region.pageCount(), bitmap);
                    }
                }
                PageSet dirty = pending;
                pending = new PageSet(guestLayout.pageSpan());
                return dirty;
            }
        }

        @Override
        public void redirty(PageSet pages) {
            synchronized (VfioDevice.this) {
                requireTracking();
                pending.addAll(pages);
            }
        }

        @Override
        public void stop() {
            synchronized (VfioDevice.this) {
                if (!tracking) {
                    return;
                }
                tracking = false;
                bitmaps.close();
                bitmaps = null;
                regionBitmaps = null;
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment f = VfioAbi.feature(a, DEVICE_FEATURE_SET, VfioAbi.DEVICE_FEATURE_DMA_LOGGING_STOP, 0);
                    int r = Vfio.ioctl(deviceFd, DEVICE_FEATURE, f);
                    if (r < 0) {
                        throw new TrackingException("VFIO device " + id + ": DMA logging did not stop",
                                Vfio.fail("VFIO_DEVICE_FEATURE(SET DMA_LOGGING_STOP)", -r));
                    }
                }
            }
        }

        private void requireTracking() {
            requireOpen();
            if (!tracking) {
                throw new IllegalStateException("DMA logging of VFIO device " + id + " is not started");
            }
        }
    }
}
